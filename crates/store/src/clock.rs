//! Where the writer gets `now` from. The engine never reads a clock; the writer asks a
//! `Clock` once per command, so tests can drive time by hand (`testing::ManualClock`).

use std::time::{SystemTime, UNIX_EPOCH};

use switchboard_engine::Timestamp;

/// The source of the present for the writer.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis());
        Timestamp(u64::try_from(millis).unwrap_or(u64::MAX))
    }
}
