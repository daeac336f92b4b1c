//! Identifiers and time: the newtypes every other module speaks in.
//!
//! Ids come from the host platform (positive integers, and for messages also strings);
//! fencing tokens, conflict ids and alert ids are minted by the engine. Time is milliseconds since the Unix epoch and only
//! ever enters the engine as an argument: nothing here reads a clock.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
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

/// The platform's id of an inbound message; ingestion is idempotent on it. API.md allows
/// a positive integer or a string (UUIDs, ULIDs, the host's own keys), echoed in the form it
/// was given and compared exactly: `Number(5)` and the key `"5"` are different messages.
///
/// Every accepted id stays in memory for idempotency, so the common integer form is kept
/// free of allocation; a key is shared (`Arc`) because the id is copied into the reply, the
/// conversation's last message and the change list of each batch.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageId {
    Number(u64),
    Key(MessageKey),
}

impl From<u64> for MessageId {
    fn from(number: u64) -> Self {
        MessageId::Number(number)
    }
}

impl From<MessageKey> for MessageId {
    fn from(key: MessageKey) -> Self {
        MessageId::Key(key)
    }
}

/// Hashes an integer id exactly as the `u64` it used to be (one word into the hasher, no
/// discriminant), so the idempotency map of an integer-only history costs what it did. A key
/// and a number may hash alike; equality still tells them apart.
impl Hash for MessageId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            MessageId::Number(number) => number.hash(state),
            MessageId::Key(key) => key.hash(state),
        }
    }
}

/// `MessageId(5)` and `MessageId("01J…")`: the integer form prints as the old newtype did,
/// so decision digests (`bench_mix --digest`) taken before string ids existed still compare.
impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageId::Number(number) => f.debug_tuple("MessageId").field(number).finish(),
            MessageId::Key(key) => f.debug_tuple("MessageId").field(&key.as_str()).finish(),
        }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageId::Number(number) => number.fmt(f),
            MessageId::Key(key) => key.as_str().fmt(f),
        }
    }
}

/// A message id in its string form: 1 to [`MessageKey::MAX_CHARS`] characters from
/// `[A-Za-z0-9._:-]`. Only [`MessageKey::parse`] makes one, so every key the engine holds
/// is one the API would accept and the store can write back unchanged.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageKey(Arc<str>);

impl MessageKey {
    /// Longest key, in characters (all ASCII, so also in bytes).
    pub const MAX_CHARS: usize = 128;

    /// # Errors
    /// The text is empty, longer than [`MessageKey::MAX_CHARS`], or has a character outside
    /// `[A-Za-z0-9._:-]`.
    pub fn parse(text: &str) -> Result<MessageKey, InvalidMessageKey> {
        if text.is_empty() {
            return Err(InvalidMessageKey::Empty);
        }
        if let Some(character) =
            text.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(InvalidMessageKey::Character(character));
        }
        // Every character is ASCII now, so bytes count characters.
        if text.len() > Self::MAX_CHARS {
            return Err(InvalidMessageKey::TooLong(text.len()));
        }
        Ok(MessageKey(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Why a string is not a message key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessageKey {
    #[error("must not be an empty string")]
    Empty,
    #[error("is {0} characters long, more than {max}", max = MessageKey::MAX_CHARS)]
    TooLong(usize),
    #[error("contains {0:?}; only A-Z, a-z, 0-9 and . _ : - are allowed")]
    Character(char),
}

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
    use super::{InvalidMessageKey, MessageId, MessageKey, Timestamp};
    use std::hash::BuildHasher;

    #[test]
    fn message_keys_accept_exactly_the_api_alphabet_and_length() {
        for good in ["a", "01J9ZQ3W5X6Y7Z8A9B0C1D2E3F", "550e8400-e29b-41d4-a716-446655440000", "a.b_c:d-e", "5"] {
            assert_eq!(MessageKey::parse(good).map(|key| key.as_str().to_owned()), Ok(good.to_owned()));
        }
        assert!(MessageKey::parse(&"x".repeat(128)).is_ok());
        assert_eq!(MessageKey::parse(""), Err(InvalidMessageKey::Empty));
        assert_eq!(MessageKey::parse(&"x".repeat(129)), Err(InvalidMessageKey::TooLong(129)));
        for (bad, character) in [("a b", ' '), ("a/b", '/'), ("é", 'é'), ("50%", '%'), ("a\0", '\0')] {
            assert_eq!(MessageKey::parse(bad), Err(InvalidMessageKey::Character(character)), "{bad:?}");
        }
    }

    #[test]
    fn integer_and_string_ids_differ_and_integers_hash_as_before() {
        let number = MessageId::Number(5);
        let key = MessageId::Key(MessageKey::parse("5").expect("a key"));
        assert_ne!(number, key);
        assert_eq!(format!("{number:?} {key:?}"), r#"MessageId(5) MessageId("5")"#);
        assert_eq!(format!("{number} {key}"), "5 5");
        let hasher = rustc_hash::FxBuildHasher;
        assert_eq!(hasher.hash_one(&number), hasher.hash_one(5_u64));
    }

    #[test]
    fn timestamps_display_as_rfc3339_utc() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(951_868_799_999).to_string(), "2000-02-29T23:59:59.999Z", "a leap day");
        assert_eq!(Timestamp(1_735_603_200_000).to_string(), "2024-12-31T00:00:00.000Z");
    }
}
