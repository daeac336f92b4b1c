//! The moderator queue (SPEC §5): gap-free positions in priority order, wait estimates from
//! measured release intervals, and the announcements of every change.
//!
//! The queue itself is the `Engine::queue` index; this module renumbers the part of it a
//! command touched and announces only the moderators whose position or estimate changed.

use crate::ids::{ModeratorId, Timestamp};
use crate::index::QueueKey;
use crate::model::{ModeratorState, QueueEntry};
use crate::view::QueueStatus;
use crate::{Engine, Event, Fault, RELEASE_INTERVAL_WINDOW};

impl Engine {
    /// Puts a moderator in the queue, in the place its priority and `queued_at` give it.
    pub(crate) fn enqueue(&mut self, moderator_id: ModeratorId, queued_at: Timestamp) {
        let moderator = self.moderators.get_mut(&moderator_id).expect("queueing a known moderator");
        if self.indexes.queue.is_empty() {
            self.queue_nonempty_since = Some(self.now);
        }
        moderator.queue = Some(QueueEntry { queued_at, position: 0, estimated_wait_seconds: 0, announced: None });
        self.set_state(moderator_id, ModeratorState::Queued);
    }

    /// A profile was freed: its instant feeds the release-interval estimate.
    pub(crate) fn record_release(&mut self) {
        let before = self.release_interval_millis();
        if self.releases.len() == RELEASE_INTERVAL_WINDOW {
            self.releases.pop_front();
        }
        self.releases.push_back(self.now);
        if self.release_interval_millis() != before {
            self.estimates_stale = true;
        }
    }

    /// Mean interval between the last releases, or the configured default while fewer than
    /// two have been seen.
    pub fn release_interval_millis(&self) -> u64 {
        match (self.releases.front(), self.releases.back()) {
            (Some(first), Some(last)) if self.releases.len() >= 2 => {
                last.0.saturating_sub(first.0) / (self.releases.len() as u64 - 1)
            }
            _ => crate::ids::millis(self.config.default_release_interval),
        }
    }

    fn estimated_wait_seconds(&self, position: u32) -> u64 {
        (u64::from(position) * self.release_interval_millis()).div_ceil(1000)
    }

    /// Renumbers the queue from the first place the current command touched (or from the head
    /// when estimates went stale) and announces each moderator whose position or estimate
    /// changed. Work is proportional to the moderators announced.
    pub(crate) fn renumber_queue(&mut self) {
        let touched_from = self.indexes.take_queue_touched_from();
        let start =
            if std::mem::take(&mut self.estimates_stale) { self.indexes.queue.first().copied() } else { touched_from };
        let Some(start) = start else { return };
        if self.faulty(Fault::SkipQueueRenumbering) {
            return;
        }
        let mut position = self
            .indexes
            .queue
            .range(..start)
            .next_back()
            .and_then(|key| self.moderators.get(&key.moderator_id))
            .and_then(|moderator| moderator.queue.as_ref())
            .map_or(0, |entry| entry.position);
        let available_profiles = self.free_profile_count();
        let touched: Vec<QueueKey> = self.indexes.queue.range(start..).copied().collect();
        for key in touched {
            position += 1;
            let estimate = self.estimated_wait_seconds(position);
            let moderator = self.moderators.get_mut(&key.moderator_id).expect("a queued moderator exists");
            let entry = moderator.queue.as_mut().expect("a queued moderator has its entry");
            entry.position = position;
            entry.estimated_wait_seconds = estimate;
            if entry.announced != Some((position, estimate)) {
                entry.announced = Some((position, estimate));
                self.emit(Event::ModeratorQueuePositionChanged {
                    moderator_id: key.moderator_id,
                    position: Some(position),
                    estimated_wait_seconds: Some(estimate),
                    available_profiles,
                });
            }
        }
    }

    pub fn queue_status(&self, moderator_id: ModeratorId) -> QueueStatus {
        let moderator = self.moderators.get(&moderator_id);
        let entry = moderator.and_then(|moderator| moderator.queue.as_ref());
        QueueStatus {
            in_queue: entry.is_some(),
            position: entry.map(|entry| entry.position),
            estimated_wait_seconds: entry.map(|entry| entry.estimated_wait_seconds),
            queued_at: entry.map(|entry| entry.queued_at),
            priority: moderator.map_or(0, |moderator| moderator.priority),
            queue_length: self.queue_length(),
            available_profiles: self.free_profile_count(),
        }
    }

    /// Since when the queue has waited without any assignment, if it is non-empty.
    pub(crate) fn queue_stalled_since(&self) -> Option<Timestamp> {
        self.queue_nonempty_since.map(|since| since.max(self.last_assignment_at))
    }
}
