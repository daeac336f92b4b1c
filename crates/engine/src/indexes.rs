//! Every ordered index derived from the records (except the deadlines, `index::Deadlines`),
//! and the one place that files an entity in them. Each "first of" decision of the SPEC is
//! the first key of one of these sets: queue head (§5), best free profile and least busy
//! moderator (§4), most and least loaded (§7), oldest idle and oldest silent moderator (§7,
//! §2), oldest unalerted wait and orphan (§7).
//!
//! The indexes' own invariants are kept here and nowhere else: an entity is filed under
//! exactly the keys its fields call for (its `keys` remember where), `working_load_total` is
//! the sum of the loads in `working_by_load`, and `queue_touched_from` is at or before every
//! queue key filed or unfiled since it was last taken. The engine's rules read the sets and
//! call `file_moderator` / `file_profile` after changing an entity; they never insert keys.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::ids::{ModeratorId, ProfileId, Timestamp};
use crate::index::{CapacityKey, FreeProfileKey, QueueKey, WaitingKey};
use crate::model::{Moderator, ModeratorState, Profile};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// Queued moderators in queue order (SPEC §5).
    pub queue: BTreeSet<QueueKey>,
    /// Free active profiles, best first (SPEC §4).
    pub free_profiles: BTreeSet<FreeProfileKey>,
    /// Working moderators with room for another profile, least busy first (SPEC §4 rule 2).
    pub capacity: BTreeSet<CapacityKey>,
    /// Working moderators by load, for balancing and overload (SPEC §7).
    working_by_load: BTreeSet<(u32, ModeratorId)>,
    /// Sum of the loads in `working_by_load`, for the mean load without a walk.
    working_load_total: u64,
    /// Working moderators with work waiting, by the instant inactivity is counted from.
    pub idle: BTreeSet<(Timestamp, ModeratorId)>,
    /// Connected moderators without a realtime connection, by last sign of life.
    pub presence: BTreeSet<(Timestamp, ModeratorId)>,
    /// Waiting conversations not yet alerted on, oldest wait first. Filed and unfiled by the
    /// rules that start and stop a wait (a conversation has no `keys` of its own).
    pub waiting_unalerted: BTreeSet<WaitingKey>,
    /// Orphan profiles not yet alerted on, oldest first.
    pub orphans_unalerted: BTreeSet<(Timestamp, ProfileId)>,
    /// Smallest queue key filed or unfiled since `take_queue_touched_from`: positions from
    /// there on must be renumbered and announced.
    queue_touched_from: Option<QueueKey>,
}

impl Indexes {
    pub fn working_by_load(&self) -> &BTreeSet<(u32, ModeratorId)> {
        &self.working_by_load
    }

    pub fn working_load_total(&self) -> u64 {
        self.working_load_total
    }

    pub fn take_queue_touched_from(&mut self) -> Option<QueueKey> {
        self.queue_touched_from.take()
    }

    /// Files a moderator under the keys its current fields call for, moving only the keys
    /// that changed.
    pub fn file_moderator(&mut self, moderator: &mut Moderator, max_profiles_per_moderator: u32) {
        let moderator_id = moderator.id;
        let working = moderator.state == ModeratorState::Working;
        let queue_key = match (&moderator.queue, moderator.state) {
            (Some(entry), ModeratorState::Queued) => {
                Some(QueueKey { priority: Reverse(moderator.priority), queued_at: entry.queued_at, moderator_id })
            }
            _ => None,
        };
        let capacity_key = (working && moderator.profile_count() < max_profiles_per_moderator).then(|| CapacityKey {
            load: moderator.load,
            profiles: moderator.profile_count(),
            last_assigned_at: moderator.last_assigned_at.unwrap_or_default(),
            moderator_id,
        });
        let load_key = working.then_some((moderator.load, moderator_id));
        let idle_key = if working { moderator.idle_since().map(|since| (since, moderator_id)) } else { None };
        let presence_key = (moderator.state.is_connected() && !moderator.realtime_connected)
            .then_some((moderator.last_seen_at, moderator_id));

        let keys = &mut moderator.keys;
        let old_queue_key = keys.queue;
        if refile(&mut self.queue, &mut keys.queue, queue_key) {
            let touched = [old_queue_key, queue_key].into_iter().flatten().min();
            self.queue_touched_from = self.queue_touched_from.into_iter().chain(touched).min();
        }
        refile(&mut self.capacity, &mut keys.capacity, capacity_key);
        let old_load = keys.load.map_or(0, |(load, _)| u64::from(load));
        if refile(&mut self.working_by_load, &mut keys.load, load_key) {
            let new_load = load_key.map_or(0, |(load, _)| u64::from(load));
            self.working_load_total = self.working_load_total - old_load + new_load;
        }
        refile(&mut self.idle, &mut keys.idle, idle_key);
        refile(&mut self.presence, &mut keys.presence, presence_key);
    }

    /// Files a profile under the keys its current fields call for, and keeps its orphan clock
    /// (`orphan_since` starts when it is first seen free with waiting conversations).
    pub fn file_profile(&mut self, profile: &mut Profile, now: Timestamp) {
        let profile_id = profile.id;
        let free_key = profile.is_free().then(|| FreeProfileKey {
            waiting: Reverse(profile.waiting.len() as u32),
            oldest_waiting: profile.oldest_waiting().unwrap_or(Timestamp::MAX),
            profile_id,
        });
        let orphan = profile.is_free() && !profile.waiting.is_empty();
        if orphan {
            profile.orphan_since.get_or_insert(now);
        } else {
            profile.orphan_since = None;
            profile.orphan_alerted = false;
        }
        let orphan_key = match profile.orphan_since {
            Some(since) if !profile.orphan_alerted => Some((since, profile_id)),
            _ => None,
        };
        refile(&mut self.free_profiles, &mut profile.keys.free, free_key);
        refile(&mut self.orphans_unalerted, &mut profile.keys.orphan, orphan_key);
    }
}

/// Moves an entity's key in `set` from `old` to `new` when they differ; returns whether it moved.
fn refile<K: Ord + Copy>(set: &mut BTreeSet<K>, old: &mut Option<K>, new: Option<K>) -> bool {
    if *old == new {
        return false;
    }
    if let Some(stale) = old.take() {
        set.remove(&stale);
    }
    if let Some(fresh) = new {
        set.insert(fresh);
    }
    *old = new;
    true
}
