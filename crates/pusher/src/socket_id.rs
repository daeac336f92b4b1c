//! Socket ids: their syntax (`^\d+\.\d+$`, which server SDKs, Laravel's included, insist
//! on) and their generation, unique per process and not guessable from another socket's id.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Longest run of digits accepted on either side of the dot: `u64::MAX` has 20 digits.
const MAX_SOCKET_ID_PART_DIGITS: usize = 20;

/// A connection's id as Pusher spells it, `"<digits>.<digits>"`.
///
/// Private channel signatures cover it, so a signature obtained for one connection cannot
/// be replayed on another. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(Arc<str>);

impl SocketId {
    /// Accepts `text` if it is a well-formed socket id.
    ///
    /// # Errors
    /// [`InvalidSocketId`] for anything but `<digits>.<digits>`.
    pub fn parse(text: &str) -> Result<Self, InvalidSocketId> {
        if is_valid_socket_id(text) {
            Ok(Self(Arc::from(text)))
        } else {
            Err(InvalidSocketId)
        }
    }

    /// The id as sent to the client.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SocketId({})", self.0)
    }
}

impl AsRef<str> for SocketId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The text is not of the form `<digits>.<digits>` (each part 1 to 20 ASCII digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a socket id is two runs of 1 to {MAX_SOCKET_ID_PART_DIGITS} digits joined by a dot")]
pub struct InvalidSocketId;

/// Whether `text` matches `^\d+\.\d+$` with each part at most 20 digits long; the
/// `/broadcasting/auth` endpoint uses it before signing anything.
#[must_use]
pub fn is_valid_socket_id(text: &str) -> bool {
    let Some((left, right)) = text.split_once('.') else {
        return false;
    };
    let is_digits = |part: &str| {
        !part.is_empty() && part.len() <= MAX_SOCKET_ID_PART_DIGITS && part.bytes().all(|byte| byte.is_ascii_digit())
    };
    is_digits(left) && is_digits(right)
}

/// Hands out socket ids: `<counter>.<random>`. The counter, started at a random point,
/// makes ids unique within the process; the random part makes them unguessable.
pub(crate) struct SocketIdGenerator {
    next: AtomicU64,
}

impl SocketIdGenerator {
    pub(crate) fn new() -> Self {
        Self { next: AtomicU64::new(u64::from(rand::random::<u32>())) }
    }

    pub(crate) fn generate(&self) -> SocketId {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        let random_part: u32 = rand::random();
        SocketId(Arc::from(format!("{sequence}.{random_part}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn accepts_pusher_shaped_ids() {
        for text in ["1234.1234", "0.0", "18446744073709551615.4294967295"] {
            assert!(is_valid_socket_id(text), "{text}");
            assert_eq!(SocketId::parse(text).map(|id| id.to_string()), Ok(text.to_owned()));
        }
    }

    #[test]
    fn refuses_anything_else() {
        for text in [
            "",
            ".",
            "1.",
            ".1",
            "1.2.3",
            "a.1",
            "1.1 ",
            " 1.1",
            "-1.1",
            "1,1",
            "１.１",
            "123456789012345678901.1",
            "1.123456789012345678901",
            "1234.1234:private-foobar",
        ] {
            assert!(!is_valid_socket_id(text), "{text:?}");
            assert_eq!(SocketId::parse(text), Err(InvalidSocketId));
        }
    }

    #[test]
    fn generated_ids_are_valid_and_unique() {
        let generator = SocketIdGenerator::new();
        let ids: HashSet<SocketId> = (0..10_000).map(|_| generator.generate()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| is_valid_socket_id(id.as_str())));
    }
}
