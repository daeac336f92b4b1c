//! Times on the wire: RFC 3339 UTC, as the engine's `Timestamp` displays itself.

use switchboard_engine::Timestamp;

/// `2024-05-01T12:34:56.789Z` (see `Timestamp`'s `Display`).
pub fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}
