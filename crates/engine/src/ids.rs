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

/// Durations in configuration are `std::time::Duration`; the engine counts in milliseconds.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
