//! The integrity check (SPEC §7 `cleanInconsistentAssignments`, `validateAssignmentRules`):
//! finds holdings that contradict each other, repairs them and records each repair.
//!
//! The engine keeps these facts consistent by construction, so in a healthy run this finds
//! nothing. It exists for state that came from elsewhere (a database edited by hand, a bug),
//! which is why it trusts no derived field. The monitor audits a slice of moderators and
//! profiles per run, resuming where the last run stopped, so a run stays short at any scale;
//! `integrity_check_full` audits everything (start-up, tests).

use std::cmp::Ordering;
use std::ops::Bound;

use crate::event::{AlertKind, AlertSubject, ReleaseReason};
use crate::ids::{ClientId, ConversationKey, ModeratorId, ProfileId};
use crate::model::ModeratorState;
use crate::Engine;

/// Bound on the repairs announced as alerts by one check (all are still made and reported).
const REPAIR_ALERTS_MAX: usize = 100;

impl Engine {
    /// One monitor run's share of the audit.
    pub(crate) fn integrity_sweep(&mut self) -> Vec<String> {
        let slice = self.config.integrity_slice.max(1);
        let mut repairs = Vec::new();

        let start = self.integrity_moderator_cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let moderators: Vec<ModeratorId> =
            self.moderators.range((start, Bound::Unbounded)).map(|(&id, _)| id).take(slice).collect();
        self.integrity_moderator_cursor = if moderators.len() < slice { None } else { moderators.last().copied() };
        for moderator_id in moderators {
            self.repair_moderator(moderator_id, &mut repairs);
        }

        let start = self.integrity_profile_cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let profiles: Vec<ProfileId> =
            self.profiles.range((start, Bound::Unbounded)).map(|(&id, _)| id).take(slice).collect();
        self.integrity_profile_cursor = if profiles.len() < slice { None } else { profiles.last().copied() };
        for profile_id in profiles {
            self.repair_profile(profile_id, &mut repairs);
        }

        self.repair_queue_positions(&mut repairs);
        self.announce_repairs(&repairs);
        repairs
    }

    /// Audits the whole state, client locks included.
    pub fn integrity_check_full(&mut self) -> Vec<String> {
        let mut repairs = Vec::new();
        let moderators: Vec<ModeratorId> = self.moderators.keys().copied().collect();
        for moderator_id in moderators {
            self.repair_moderator(moderator_id, &mut repairs);
        }
        let profiles: Vec<ProfileId> = self.profiles.keys().copied().collect();
        for profile_id in profiles {
            self.repair_profile(profile_id, &mut repairs);
        }
        self.repair_client_locks(&mut repairs);
        self.repair_queue_positions(&mut repairs);
        self.settle();
        self.finish_command();
        self.announce_repairs(&repairs);
        repairs
    }

    fn announce_repairs(&mut self, repairs: &[String]) {
        for description in repairs.iter().take(REPAIR_ALERTS_MAX) {
            self.raise_alert(
                AlertKind::InconsistencyRepaired,
                AlertSubject::Repair { description: description.clone() },
            );
        }
    }

    fn repair_moderator(&mut self, moderator_id: ModeratorId, repairs: &mut Vec<String>) {
        let Some(moderator) = self.moderators.get(&moderator_id) else { return };
        let state = moderator.state;
        // Profiles recorded in its assignments that it does not lease: held twice, or stale.
        // Collected (without allocating in the healthy case) before any is dropped.
        let unbacked: Vec<(ProfileId, Option<ModeratorId>)> = moderator
            .assignments
            .keys()
            .map(|&profile_id| (profile_id, self.profiles.get(&profile_id).and_then(|profile| profile.holder())))
            .filter(|&(_, holder)| holder != Some(moderator_id))
            .collect();
        for (profile_id, holder) in unbacked {
            let conversations = self.drop_assignment(moderator_id, profile_id);
            repairs.push(format!(
                "moderator {moderator_id} listed profile {profile_id} held by {}; dropped it with {conversations} conversations",
                holder.map_or("nobody".to_owned(), |id| format!("moderator {id}"))
            ));
        }
        let holds_any = self.moderators.get(&moderator_id).is_some_and(|m| !m.assignments.is_empty());
        match state {
            ModeratorState::Offline | ModeratorState::Paused | ModeratorState::Away if holds_any => {
                let held: Vec<ProfileId> = self
                    .moderators
                    .get(&moderator_id)
                    .map(|m| m.assignments.keys().copied().collect())
                    .unwrap_or_default();
                for &profile_id in &held {
                    self.release_profile(profile_id, ReleaseReason::Repaired);
                }
                repairs.push(format!(
                    "moderator {moderator_id} was {} but held profiles {held:?}; released them",
                    state.as_str()
                ));
            }
            ModeratorState::Queued if holds_any => {
                let held: Vec<ProfileId> = self
                    .moderators
                    .get(&moderator_id)
                    .map(|m| m.assignments.keys().copied().collect())
                    .unwrap_or_default();
                self.set_state(moderator_id, ModeratorState::Working);
                repairs.push(format!("moderator {moderator_id} was queued while holding {held:?}; now working"));
            }
            ModeratorState::Working if !holds_any => {
                let now = self.now;
                self.enqueue(moderator_id, now);
                repairs.push(format!("moderator {moderator_id} was working without a profile; queued"));
            }
            _ => {}
        }
        let Some(moderator) = self.moderators.get(&moderator_id) else { return };
        if moderator.queue.is_some() != (moderator.state == ModeratorState::Queued) {
            let state = moderator.state;
            if let Some(moderator) = self.moderators.get_mut(&moderator_id) {
                if state == ModeratorState::Queued {
                    self.enqueue(moderator_id, self.now);
                } else {
                    moderator.queue = None;
                }
            }
            self.refile_moderator(moderator_id);
            repairs.push(format!("moderator {moderator_id} ({}) had a queue entry out of step; fixed", state.as_str()));
        }

        self.repair_assignments(moderator_id, repairs);
    }

    /// Conversations, client-lock mirror and load of each of the moderator's assignments.
    fn repair_assignments(&mut self, moderator_id: ModeratorId, repairs: &mut Vec<String>) {
        let Some(moderator) = self.moderators.get(&moderator_id) else { return };
        let mut stray_conversations = Vec::new();
        let mut stale_mirror = Vec::new();
        let mut missing_mirror = Vec::new();
        for (&profile_id, assignment) in &moderator.assignments {
            // Both sets are in client order: one walk over their union looks each client's
            // lock up once (a healthy assignment lists most clients in both), and membership
            // in the other set comes from the walk instead of a search.
            let mut conversations = assignment.conversations.iter().copied().peekable();
            let mut mirror = assignment.locked_clients.iter().copied().peekable();
            loop {
                let order = match (conversations.peek(), mirror.peek()) {
                    (None, None) => break,
                    (Some(conversation), Some(mirrored)) => conversation.cmp(mirrored),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                };
                let (in_conversations, in_mirror) = (order.is_le(), order.is_ge());
                let from_conversations = if in_conversations { conversations.next() } else { None };
                let from_mirror = if in_mirror { mirror.next() } else { None };
                let Some(client_id) = from_conversations.or(from_mirror) else { break };
                let key = ConversationKey { client_id, profile_id };
                let locked = self.lock_of(key) == Some(moderator_id);
                if in_conversations {
                    let conversation = self.conversations.get(&key);
                    let waiting = conversation.is_some_and(|c| c.waiting_since.is_some());
                    let ours = conversation.and_then(|c| c.assigned_to) == Some(moderator_id);
                    if !(waiting && ours && locked) {
                        stray_conversations.push(key);
                    }
                    if locked && !in_mirror {
                        missing_mirror.push(key);
                    }
                }
                if in_mirror && !locked {
                    stale_mirror.push(key);
                }
            }
        }
        let computed_load: u32 = moderator.assignments.values().map(|a| a.conversations.len() as u32).sum();
        let recorded_load = moderator.load;

        for key in stale_mirror {
            if let Some(assignment) = self.assignment_mut(moderator_id, key.profile_id) {
                assignment.locked_clients.remove(&key.client_id);
            }
            repairs.push(format!(
                "locked_clients of moderator {moderator_id} on profile {} listed client {} without a lock; removed",
                key.profile_id, key.client_id
            ));
        }
        for key in missing_mirror {
            if let Some(assignment) = self.assignment_mut(moderator_id, key.profile_id) {
                assignment.locked_clients.insert(key.client_id);
            }
            repairs.push(format!(
                "locked_clients of moderator {moderator_id} on profile {} missed client {}; added",
                key.profile_id, key.client_id
            ));
        }
        if computed_load != recorded_load {
            if let Some(moderator) = self.moderators.get_mut(&moderator_id) {
                moderator.load = computed_load;
            }
            self.refile_moderator(moderator_id);
            repairs.push(format!("load of moderator {moderator_id} was {recorded_load}, is {computed_load}; fixed"));
        }
        for key in stray_conversations {
            if let Some(assignment) = self.assignment_mut(moderator_id, key.profile_id) {
                assignment.conversations.remove(&key.client_id);
            }
            if let Some(conversation) = self.conversations.get_mut(&key) {
                if conversation.assigned_to == Some(moderator_id) {
                    conversation.assigned_to = None;
                }
            }
            self.change_load(moderator_id, -1);
            repairs.push(format!(
                "conversation ({}, {}) was in moderator {moderator_id}'s assignment without being its waiting, locked conversation; taken out",
                key.client_id, key.profile_id
            ));
            if self.conversations.get(&key).is_some_and(|c| c.waiting_since.is_some() && c.assigned_to.is_none()) {
                self.try_assign_conversation(key);
            }
        }
    }

    fn repair_profile(&mut self, profile_id: ProfileId, repairs: &mut Vec<String>) {
        let Some(profile) = self.profiles.get(&profile_id) else { return };
        let Some(lease) = &profile.lease else { return };
        let holder = lease.moderator_id;
        let valid = self.moderators.get(&holder).is_some_and(|moderator| {
            moderator.state == ModeratorState::Working && moderator.assignments.contains_key(&profile_id)
        });
        if !profile.active || !valid {
            self.release_profile(profile_id, ReleaseReason::Repaired);
            repairs.push(format!(
                "profile {profile_id} was leased to moderator {holder}, who did not hold it as a working moderator; freed"
            ));
        }
        // Conversations that claim a holder other than the profile's.
        let Some(profile) = self.profiles.get(&profile_id) else { return };
        let holder = profile.holder();
        // Collected (without allocating in the healthy case) before any is reassigned.
        let misassigned: Vec<(ClientId, Option<ModeratorId>)> = profile
            .waiting
            .iter()
            .map(|&(_, client_id)| {
                let assigned_to =
                    self.conversations.get(&ConversationKey { client_id, profile_id }).and_then(|c| c.assigned_to);
                (client_id, assigned_to)
            })
            .filter(|&(_, assigned_to)| assigned_to.is_some() && assigned_to != holder)
            .collect();
        for (client_id, assigned_to) in misassigned {
            let key = ConversationKey { client_id, profile_id };
            if let Some(conversation) = self.conversations.get_mut(&key) {
                conversation.assigned_to = None;
            }
            repairs.push(format!(
                "conversation ({client_id}, {profile_id}) was held by moderator {} instead of the profile's holder; reassigned",
                assigned_to.map_or(0, |id| id.0)
            ));
            self.try_assign_conversation(key);
        }
    }

    fn repair_client_locks(&mut self, repairs: &mut Vec<String>) {
        let mut stale = Vec::new();
        for (&client_id, client) in self.clients.iter() {
            let Some(set) = &client.lock else { continue };
            for &profile_id in set.locks.keys() {
                let holds = self
                    .profiles
                    .get(&profile_id)
                    .and_then(|profile| profile.holder())
                    .is_some_and(|holder| holder == set.moderator_id);
                if !holds {
                    stale.push((ConversationKey { client_id, profile_id }, set.moderator_id));
                }
            }
        }
        stale.sort_unstable();
        for (key, moderator_id) in stale {
            self.release_client_lock(key, ReleaseReason::Repaired);
            repairs.push(format!(
                "client {} was locked by moderator {moderator_id} under profile {}, which it does not hold; released",
                key.client_id, key.profile_id
            ));
        }
    }

    fn repair_queue_positions(&mut self, repairs: &mut Vec<String>) {
        let gap = self.indexes.queue.iter().enumerate().any(|(index, key)| {
            self.moderators.get(&key.moderator_id).and_then(|m| m.queue.as_ref()).map(|e| e.position)
                != Some(index as u32 + 1)
        });
        if gap {
            self.estimates_stale = true;
            self.renumber_queue();
            repairs.push("queue positions had gaps or were out of order; renumbered".to_owned());
        }
    }

    fn lock_of(&self, key: ConversationKey) -> Option<ModeratorId> {
        let set = self.clients.get(&key.client_id)?.lock.as_ref()?;
        set.locks.contains_key(&key.profile_id).then_some(set.moderator_id)
    }

    fn assignment_mut(&mut self, moderator_id: ModeratorId, profile_id: ProfileId) -> Option<&mut crate::Assignment> {
        self.moderators.get_mut(&moderator_id)?.assignments.get_mut(&profile_id)
    }

    /// Removes an assignment record the lease does not back, detaching its conversations.
    fn drop_assignment(&mut self, moderator_id: ModeratorId, profile_id: ProfileId) -> usize {
        let Some(assignment) = self.moderators.get_mut(&moderator_id).and_then(|m| m.assignments.remove(&profile_id))
        else {
            return 0;
        };
        let count = assignment.conversations.len();
        for client_id in assignment.conversations {
            let key = ConversationKey { client_id, profile_id };
            if let Some(conversation) = self.conversations.get_mut(&key) {
                if conversation.assigned_to == Some(moderator_id) {
                    conversation.assigned_to = None;
                }
            }
        }
        let load: u32 = self
            .moderators
            .get(&moderator_id)
            .map(|m| m.assignments.values().map(|a| a.conversations.len() as u32).sum())
            .unwrap_or(0);
        if let Some(moderator) = self.moderators.get_mut(&moderator_id) {
            moderator.load = load;
        }
        self.refile_moderator(moderator_id);
        self.offer_waiting_conversations(profile_id);
        count
    }
}
