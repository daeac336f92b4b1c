//! Moderator states (SPEC §2) and activity (§7): the one place a state changes, with its
//! announcements; activity renews the holder's leases and restarts its inactivity clock;
//! presence only keeps it connected.

use crate::ids::{ModeratorId, ProfileId};
use crate::model::ModeratorState;
use crate::{Engine, Event};

impl Engine {
    pub(crate) fn set_state(&mut self, moderator_id: ModeratorId, state: ModeratorState) {
        let moderator = self.moderators.get_mut(&moderator_id).expect("changing the state of a known moderator");
        let previous = moderator.state;
        if previous == state {
            return;
        }
        moderator.state = state;
        if previous == ModeratorState::Queued {
            moderator.queue = None;
            let available_profiles = self.free_profile_count();
            self.emit(Event::ModeratorQueuePositionChanged {
                moderator_id,
                position: None,
                estimated_wait_seconds: None,
                available_profiles,
            });
        }
        self.emit(Event::ModeratorStateChanged { moderator_id, state });
        self.refile_moderator(moderator_id);
    }

    /// Activity (SPEC §7): typing, sending, initiating, extending, connecting. Renews the
    /// holder's leases and restarts its inactivity clock.
    pub(crate) fn record_activity(&mut self, moderator_id: ModeratorId, on_profile: Option<ProfileId>) {
        let now = self.now;
        let ttl = self.config.profile_lock_ttl;
        let moderator = self.moderators.get_mut(&moderator_id).expect("activity of a known moderator");
        moderator.last_activity_at = Some(now);
        moderator.last_seen_at = now;
        if let Some(assignment) = on_profile.and_then(|profile_id| moderator.assignments.get_mut(&profile_id)) {
            assignment.last_activity_check = Some(now);
        }
        let mut held = std::mem::take(&mut self.spare_profile_ids);
        held.extend(moderator.assignments.keys().copied());
        for &profile_id in &held {
            self.renew_lease(profile_id, now.plus(ttl));
        }
        held.clear();
        self.spare_profile_ids = held;
        self.refile_moderator(moderator_id);
    }

    /// Presence without activity: an API call or a heartbeat.
    pub(crate) fn record_presence(&mut self, moderator_id: ModeratorId) {
        let now = self.now;
        self.moderators.get_mut(&moderator_id).expect("presence of a known moderator").last_seen_at = now;
        self.refile_moderator(moderator_id);
    }
}
