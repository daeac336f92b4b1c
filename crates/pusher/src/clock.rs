//! The wall clock the server reads for the HTTP API's `auth_timestamp` window, the
//! webhooks' `time_ms` and their retry backoff, and the client-event rate limit. Injected
//! so that tests move time by hand instead of sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch. Implementations must be cheap and never block.
pub trait Clock: Send + Sync + 'static {
    /// The current time in milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}
