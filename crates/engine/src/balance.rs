//! Balancing (SPEC §7 `detectImbalance`, `redistributeClients`): whole profiles move from the
//! most loaded moderator to the least loaded one while the difference reaches
//! `imbalance_threshold`, never undoing a move within `anti_ping_pong`, never taking a pinned
//! profile or one whose holder is typing.

use std::collections::BTreeSet;

use crate::event::{AssignReason, ReleaseReason};
use crate::ids::{ModeratorId, ProfileId};
use crate::model::LockType;
use crate::view::BalanceMove;
use crate::{Engine, Fault};

/// How many over-loaded moderators one balancing run may look at without finding a movable
/// profile before it stops (keeps a run short when most profiles are pinned or busy).
const SOURCES_EXAMINED_MAX: usize = 64;

impl Engine {
    pub(crate) fn balance(&mut self) -> Vec<BalanceMove> {
        let mut moves = Vec::new();
        let mut unmovable: BTreeSet<ModeratorId> = BTreeSet::new();
        while moves.len() < self.config.max_moves_per_tick as usize && unmovable.len() < SOURCES_EXAMINED_MAX {
            let Some(&(source_load, source)) =
                self.indexes.working_by_load().iter().rev().find(|(_, id)| !unmovable.contains(id))
            else {
                break;
            };
            let lowest_load = if self.indexes.queue.is_empty() {
                self.indexes.working_by_load().first().map_or(0, |&(load, _)| load)
            } else {
                0
            };
            if source_load.saturating_sub(lowest_load) < self.config.imbalance_threshold {
                break;
            }
            let Some((target, target_load)) = self.balance_target(source) else { break };
            let Some((profile_id, conversations)) = self.movable_profile(source, source_load, target, target_load)
            else {
                unmovable.insert(source);
                continue;
            };
            let now = self.now;
            self.hand_over_profile(profile_id, target, ReleaseReason::Rebalance, AssignReason::Rebalance, now);
            let profile = self.profiles.get_mut(&profile_id).expect("a known profile");
            profile.last_balanced_at = Some(now);
            moves.push(BalanceMove { profile_id, from_moderator_id: source, to_moderator_id: target, conversations });
        }
        moves
    }

    /// The queue head if anyone is queued, else the least busy working moderator with room.
    fn balance_target(&self, source: ModeratorId) -> Option<(ModeratorId, u32)> {
        if let Some(head) = self.indexes.queue.first() {
            return Some((head.moderator_id, 0));
        }
        self.indexes.capacity.iter().find(|key| key.moderator_id != source).map(|key| (key.moderator_id, key.load))
    }

    /// The source's profile whose move brings the two loads closest, among those whose move
    /// strictly reduces the difference and that balancing may touch.
    fn movable_profile(
        &self,
        source: ModeratorId,
        source_load: u32,
        target: ModeratorId,
        target_load: u32,
    ) -> Option<(ProfileId, u32)> {
        let now = self.now;
        let difference = source_load.saturating_sub(target_load);
        let target_moderator = self.moderators.get(&target)?;
        let moderator = self.moderators.get(&source)?;
        moderator
            .assignments
            .iter()
            .filter_map(|(&profile_id, assignment)| {
                let moved = assignment.conversations.len() as u32;
                let profile = self.profiles.get(&profile_id)?;
                let lease = profile.lease.as_ref()?;
                let recently_moved =
                    profile.last_balanced_at.is_some_and(|at| !at.is_older_than(self.config.anti_ping_pong, now))
                        && !self.faulty(Fault::IgnoreAntiPingPong);
                let typing =
                    profile.last_typing_at.is_some_and(|at| !at.is_older_than(self.config.client_lock_ttl, now));
                let allowed = lease.lock_type != LockType::Manual
                    && !recently_moved
                    && !typing
                    && !target_moderator.refuses(profile_id, now)
                    && moved > 0
                    && moved < difference;
                allowed.then_some((profile_id, moved))
            })
            .min_by_key(|&(profile_id, moved)| {
                ((i64::from(difference) - 2 * i64::from(moved)).unsigned_abs(), profile_id)
            })
    }
}
