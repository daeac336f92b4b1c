//! Sending at a fixed rate: which sequence numbers are due by now, so a sender that fell
//! behind catches up instead of drifting, and none is sent twice.

use std::ops::Range;
use std::time::{Duration, Instant};

/// How often a paced sender looks whether more sends are due.
pub const PACE_TICK: Duration = Duration::from_millis(1);

/// Releases sequence numbers `0, 1, 2, …` at `rate_per_second` from its start.
#[derive(Clone, Debug)]
pub struct Pacer {
    started: Instant,
    rate_per_second: f64,
    released: u64,
}

impl Pacer {
    #[must_use]
    pub fn start(rate_per_second: f64, at: Instant) -> Pacer {
        Pacer { started: at, rate_per_second, released: 0 }
    }

    /// The sequence numbers due at `now` that were not released before.
    pub fn due(&mut self, now: Instant) -> Range<u64> {
        let due = (now.saturating_duration_since(self.started).as_secs_f64() * self.rate_per_second) as u64;
        let from = self.released;
        self.released = due.max(from);
        from..self.released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_follow_the_rate_without_gaps_or_repeats() {
        let start = Instant::now();
        let mut pacer = Pacer::start(100.0, start);
        assert_eq!(pacer.due(start), 0..0);
        assert_eq!(pacer.due(start + Duration::from_millis(25)), 0..2);
        assert_eq!(pacer.due(start + Duration::from_millis(25)), 2..2, "nothing twice");
        assert_eq!(pacer.due(start + Duration::from_secs(1)), 2..100, "a late look catches up");
    }
}
