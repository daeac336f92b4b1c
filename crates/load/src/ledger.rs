//! The ledger of sent messages and the matching of `ConversationAssigned` events to them.
//!
//! A message is recorded just before its `POST /api/messages` leaves (the event can arrive
//! before the HTTP answer). An event is matched to the message named in its `message`
//! object (by message id, checked against the event's client and profile), or, when the
//! event carries no message, to the newest unmatched message of that (client, profile).
//! Latency = event received − message sent, kept in an HDR histogram in microseconds.
//! This module does no I/O and reads no clock: callers pass the instants.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency the histograms record (longer ones are clamped).
pub const MAX_RECORDED_MICROSECONDS: u64 = 600_000_000;

/// A histogram of durations in microseconds, 3 significant digits.
#[must_use]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_RECORDED_MICROSECONDS, 3).unwrap_or_else(|_| Histogram::new(3).expect("3 digits"))
}

/// Records `duration` into `histogram` (clamped to its range).
pub fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_RECORDED_MICROSECONDS);
    histogram.saturating_record(micros);
}

/// What became of one `ConversationAssigned` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first assignment of a message sent by this run, after this latency.
    Matched(Duration),
    /// The message was already matched: the conversation was assigned again (moved to
    /// another moderator after a release, an inactivity or a rebalance).
    Reassigned,
    /// The event names a message this run did not send (an earlier run, another sender).
    Unknown,
    /// The message id is known but the event's client or profile differ from it.
    Mismatch,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    client_id: u64,
    profile_id: u64,
    at: Instant,
    matched: bool,
}

/// Every message sent, and the latencies matched so far.
#[derive(Debug)]
pub struct Ledger {
    sent: HashMap<u64, Sent>,
    newest_by_conversation: HashMap<(u64, u64), u64>,
    latency: Histogram<u64>,
    matched: u64,
    reassigned: u64,
    unknown: u64,
    mismatched: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            sent: HashMap::new(),
            newest_by_conversation: HashMap::new(),
            latency: new_histogram(),
            matched: 0,
            reassigned: 0,
            unknown: 0,
            mismatched: 0,
        }
    }
}

/// Counts of the ledger, for progress and the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    pub sent: u64,
    pub matched: u64,
    pub reassigned: u64,
    pub unknown: u64,
    pub mismatched: u64,
}

impl Ledger {
    /// A message is about to be sent.
    pub fn sent(&mut self, message_id: u64, client_id: u64, profile_id: u64, at: Instant) {
        self.sent.insert(message_id, Sent { client_id, profile_id, at, matched: false });
        self.newest_by_conversation.insert((client_id, profile_id), message_id);
    }

    /// The service refused the message: forget it (no event will come).
    pub fn refused(&mut self, message_id: u64) {
        if let Some(sent) = self.sent.remove(&message_id) {
            let key = (sent.client_id, sent.profile_id);
            if self.newest_by_conversation.get(&key) == Some(&message_id) {
                self.newest_by_conversation.remove(&key);
            }
        }
    }

    /// A `ConversationAssigned` for (`client_id`, `profile_id`) naming `message_id` (if any)
    /// arrived at `at`.
    pub fn assigned(&mut self, client_id: u64, profile_id: u64, message_id: Option<u64>, at: Instant) -> Outcome {
        let message_id = match message_id.or_else(|| self.newest_by_conversation.get(&(client_id, profile_id)).copied())
        {
            Some(id) => id,
            None => {
                self.unknown += 1;
                return Outcome::Unknown;
            }
        };
        let Some(sent) = self.sent.get_mut(&message_id) else {
            self.unknown += 1;
            return Outcome::Unknown;
        };
        if (sent.client_id, sent.profile_id) != (client_id, profile_id) {
            self.mismatched += 1;
            return Outcome::Mismatch;
        }
        if sent.matched {
            self.reassigned += 1;
            return Outcome::Reassigned;
        }
        sent.matched = true;
        self.matched += 1;
        let latency = at.saturating_duration_since(sent.at);
        record(&mut self.latency, latency);
        Outcome::Matched(latency)
    }

    /// The latencies of matched messages, in microseconds.
    #[must_use]
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// Messages sent and never matched.
    #[must_use]
    pub fn unmatched(&self) -> u64 {
        self.sent.values().filter(|sent| !sent.matched).count() as u64
    }

    #[must_use]
    pub fn counts(&self) -> LedgerCounts {
        LedgerCounts {
            sent: self.sent.len() as u64,
            matched: self.matched,
            reassigned: self.reassigned,
            unknown: self.unknown,
            mismatched: self.mismatched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, millis: u64) -> Instant {
        base + Duration::from_millis(millis)
    }

    #[test]
    fn an_event_is_matched_to_the_message_it_names() {
        let base = Instant::now();
        let mut ledger = Ledger::default();
        ledger.sent(100, 1, 10, at(base, 0));
        ledger.sent(101, 2, 10, at(base, 1));
        assert_eq!(ledger.assigned(2, 10, Some(101), at(base, 6)), Outcome::Matched(Duration::from_millis(5)));
        assert_eq!(ledger.assigned(1, 10, Some(100), at(base, 3)), Outcome::Matched(Duration::from_millis(3)));
        assert_eq!(ledger.counts().matched, 2);
        assert_eq!(ledger.unmatched(), 0);
        let histogram = ledger.latency();
        assert_eq!(histogram.len(), 2);
        assert!((4_990..=5_010).contains(&histogram.max()), "{}", histogram.max());
    }

    #[test]
    fn a_second_assignment_of_the_same_message_is_a_reassignment_not_a_latency() {
        let base = Instant::now();
        let mut ledger = Ledger::default();
        ledger.sent(7, 1, 1, base);
        assert!(matches!(ledger.assigned(1, 1, Some(7), at(base, 2)), Outcome::Matched(_)));
        assert_eq!(ledger.assigned(1, 1, Some(7), at(base, 900)), Outcome::Reassigned);
        assert_eq!(ledger.latency().len(), 1);
        assert_eq!(ledger.counts().reassigned, 1);
    }

    #[test]
    fn events_of_other_senders_and_wrong_conversations_are_not_counted_as_latency() {
        let base = Instant::now();
        let mut ledger = Ledger::default();
        ledger.sent(7, 1, 1, base);
        assert_eq!(ledger.assigned(1, 1, Some(8), base), Outcome::Unknown);
        assert_eq!(ledger.assigned(2, 1, Some(7), base), Outcome::Mismatch);
        assert_eq!(ledger.assigned(5, 5, None, base), Outcome::Unknown);
        assert_eq!(ledger.latency().len(), 0);
        assert_eq!(ledger.unmatched(), 1);
        let counts = ledger.counts();
        assert_eq!((counts.unknown, counts.mismatched), (2, 1));
    }

    #[test]
    fn an_event_without_a_message_is_matched_by_conversation() {
        let base = Instant::now();
        let mut ledger = Ledger::default();
        ledger.sent(7, 1, 1, base);
        ledger.sent(9, 1, 1, at(base, 10));
        assert_eq!(ledger.assigned(1, 1, None, at(base, 15)), Outcome::Matched(Duration::from_millis(5)));
    }

    #[test]
    fn a_refused_message_is_forgotten() {
        let base = Instant::now();
        let mut ledger = Ledger::default();
        ledger.sent(7, 1, 1, base);
        ledger.refused(7);
        assert_eq!(ledger.assigned(1, 1, None, base), Outcome::Unknown);
        assert_eq!(ledger.unmatched(), 0);
    }

    #[test]
    fn latencies_beyond_the_range_are_clamped() {
        let mut histogram = new_histogram();
        record(&mut histogram, Duration::from_secs(10_000));
        record(&mut histogram, Duration::ZERO);
        assert_eq!(histogram.len(), 2);
        assert!(histogram.max() >= MAX_RECORDED_MICROSECONDS - MAX_RECORDED_MICROSECONDS / 1000);
        assert_eq!(histogram.min(), 1);
    }
}
