//! Identifiers and time: the newtypes every other module speaks in.
//!
//! Ids come from the host platform (positive integers); fencing tokens, conflict ids and
//! alert ids are minted by the engine. Time is milliseconds since the Unix epoch and only
//! ever enters the engine as an argument: nothing here reads a clock.

use std::fmt;
use std::time::Duration;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A human moderator, as numbered by the host platform.
    ModeratorId
);
id_type!(
    /// A persona shown on the site, operated by at most one moderator at a time.
    ProfileId
);
id_type!(
    /// A real user of the platform who writes to profiles.
    ClientId
);
id_type!(
    /// The platform's id of an inbound message; ingestion is idempotent on it.
    MessageId
);
id_type!(
    /// Grows with every grant of a profile lease or a client lock, so that an action taken
    /// under a lock that has since been lost can be recognised and refused.
    FencingToken
);
id_type!(
    /// One recorded collision of simultaneous connections.
    ConflictId
);
id_type!(
    /// One alert raised for supervisors.
    AlertId
);

/// A conversation is one (client, profile) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationKey {
    pub client_id: ClientId,
    pub profile_id: ProfileId,
}

/// An instant, in milliseconds since the Unix epoch. The engine never reads a clock: every
/// call is given `now`, so a recorded history replays exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    pub fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(millis(duration)))
    }

    pub fn minus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(millis(duration)))
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// True once at least `duration` has passed since `self`.
    pub fn is_older_than(self, duration: Duration, now: Timestamp) -> bool {
        now.since(self) >= duration
    }
}

/// RFC 3339 UTC with millisecond precision (`2024-05-01T12:34:56.789Z`, like JavaScript's
/// `toISOString`), the format API.md uses for every time. Pure arithmetic: no clock, no
/// time-zone database.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0;
        let seconds = millis / 1000;
        let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60,
            millis % 1000
        )
    }
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

/// Durations in configuration are `std::time::Duration`; the engine counts in milliseconds.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn timestamps_display_as_rfc3339_utc() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(951_868_799_999).to_string(), "2000-02-29T23:59:59.999Z", "a leap day");
        assert_eq!(Timestamp(1_735_603_200_000).to_string(), "2024-12-31T00:00:00.000Z");
    }
}
