//! When to ping a silent client and when to give up on it. A pure state machine: the
//! caller passes `now` in and sleeps until [`Liveness::deadline`]; nothing here reads a
//! clock, so the rules are tested without waiting.

use std::time::Duration;

use tokio::time::Instant;

/// What the connection should do when the liveness deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LivenessAction {
    /// The deadline moved (activity arrived): nothing to do yet.
    Wait,
    /// The client has been silent for `activity_timeout`: send `pusher:ping`.
    SendPing,
    /// No frame came within `pong_timeout` of the ping: close with 4201.
    Close,
}

/// One socket's liveness: silence is measured from the last frame the client sent.
#[derive(Debug, Clone)]
pub(crate) struct Liveness {
    activity_timeout: Duration,
    pong_timeout: Duration,
    last_activity_at: Instant,
    ping_sent_at: Option<Instant>,
}

impl Liveness {
    pub(crate) fn new(now: Instant, activity_timeout: Duration, pong_timeout: Duration) -> Self {
        Self { activity_timeout, pong_timeout, last_activity_at: now, ping_sent_at: None }
    }

    /// Any frame from the client, of any kind, proves it alive.
    pub(crate) fn on_activity(&mut self, now: Instant) {
        self.last_activity_at = now;
        self.ping_sent_at = None;
    }

    /// The next instant at which [`Liveness::on_deadline`] has something to decide.
    pub(crate) fn deadline(&self) -> Instant {
        match self.ping_sent_at {
            None => self.last_activity_at + self.activity_timeout,
            Some(ping_sent_at) => ping_sent_at + self.pong_timeout,
        }
    }

    /// Decides what to do at `now`; records the ping when it asks for one.
    pub(crate) fn on_deadline(&mut self, now: Instant) -> LivenessAction {
        if now < self.deadline() {
            return LivenessAction::Wait;
        }
        if self.ping_sent_at.is_some() {
            LivenessAction::Close
        } else {
            self.ping_sent_at = Some(now);
            LivenessAction::SendPing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIVITY: Duration = Duration::from_secs(30);
    const PONG: Duration = Duration::from_secs(10);

    fn start() -> (Instant, Liveness) {
        let now = Instant::now();
        (now, Liveness::new(now, ACTIVITY, PONG))
    }

    #[test]
    fn silent_client_is_pinged_after_the_activity_timeout() {
        let (start, mut liveness) = start();
        assert_eq!(liveness.deadline(), start + ACTIVITY);
        assert_eq!(liveness.on_deadline(start + ACTIVITY - Duration::from_millis(1)), LivenessAction::Wait);
        assert_eq!(liveness.on_deadline(start + ACTIVITY), LivenessAction::SendPing);
        assert_eq!(liveness.deadline(), start + ACTIVITY + PONG);
    }

    #[test]
    fn client_that_never_answers_is_closed_after_the_pong_timeout() {
        let (start, mut liveness) = start();
        assert_eq!(liveness.on_deadline(start + ACTIVITY), LivenessAction::SendPing);
        assert_eq!(liveness.on_deadline(start + ACTIVITY + PONG - Duration::from_millis(1)), LivenessAction::Wait);
        assert_eq!(liveness.on_deadline(start + ACTIVITY + PONG), LivenessAction::Close);
    }

    #[test]
    fn any_frame_after_the_ping_resets_the_clock() {
        let (start, mut liveness) = start();
        assert_eq!(liveness.on_deadline(start + ACTIVITY), LivenessAction::SendPing);
        let answered_at = start + ACTIVITY + Duration::from_secs(2);
        liveness.on_activity(answered_at);
        assert_eq!(liveness.deadline(), answered_at + ACTIVITY);
        assert_eq!(liveness.on_deadline(start + ACTIVITY + PONG), LivenessAction::Wait);
    }

    #[test]
    fn activity_before_the_deadline_postpones_the_ping() {
        let (start, mut liveness) = start();
        liveness.on_activity(start + Duration::from_secs(20));
        assert_eq!(liveness.on_deadline(start + ACTIVITY), LivenessAction::Wait);
        assert_eq!(liveness.deadline(), start + Duration::from_secs(50));
    }
}
