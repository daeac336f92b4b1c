//! Rendering engine timestamps (milliseconds since the Unix epoch) as RFC 3339 UTC strings,
//! the format API.md uses for every time. Pure arithmetic: no clock, no time-zone database.

use switchboard_engine::Timestamp;

/// `2024-05-01T12:34:56.789Z`: always UTC, always millisecond precision (like JavaScript's
/// `Date.prototype.toISOString`).
pub fn rfc3339(at: Timestamp) -> String {
    let millis = at.as_millis();
    let seconds = millis / 1000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        millis % 1000
    )
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (non-negative here).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        // 2000-02-29T23:59:59.999Z, a leap day.
        assert_eq!(rfc3339(Timestamp(951_868_799_999)), "2000-02-29T23:59:59.999Z");
        // 2024-12-31T00:00:00.000Z.
        assert_eq!(rfc3339(Timestamp(1_735_603_200_000)), "2024-12-31T00:00:00.000Z");
    }
}
