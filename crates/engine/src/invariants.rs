//! SPEC §8's invariants as a checker that reads only the primary records (never the indexes
//! it is checking), for the simulation and the tests. Invariant 0 is the engine's own
//! bookkeeping: indexes and mirrors agree with the records they are built from.
//!
//! Invariant 7 needs history (balancing moves over time) and invariant 8 needs the caller's
//! record of acknowledged messages; both are checked by the simulation from the events.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{ClientId, ConversationKey, ModeratorId, ProfileId};
use crate::index::{Deadline, FreeProfileKey, QueueKey};
use crate::model::ModeratorState;
use crate::violation::Violation;
use crate::Engine;

struct Findings(Vec<Violation>);

impl Findings {
    fn check(&mut self, invariant: u8, holds: bool, description: impl FnOnce() -> String) {
        if !holds {
            self.0.push(Violation { invariant, description: description() });
        }
    }
}

impl Engine {
    /// Every invariant that can be judged from the present state alone.
    pub fn check_invariants(&self) -> Vec<Violation> {
        let mut findings = Findings(Vec::new());
        self.check_holders(&mut findings);
        self.check_conversations(&mut findings);
        self.check_client_locks(&mut findings);
        self.check_queue(&mut findings);
        self.check_disconnected(&mut findings);
        self.check_settled(&mut findings);
        self.check_bookkeeping(&mut findings);
        findings.0
    }

    /// Invariant 1: A profile has at most one holder; every holder is working.
    fn check_holders(&self, findings: &mut Findings) {
        let mut listed_by: BTreeMap<ProfileId, Vec<ModeratorId>> = BTreeMap::new();
        for moderator in self.moderators.values() {
            for &profile_id in moderator.assignments.keys() {
                listed_by.entry(profile_id).or_default().push(moderator.id);
            }
        }
        for (profile_id, holders) in &listed_by {
            findings.check(1, holders.len() == 1, || format!("profile {profile_id} is held by {holders:?}"));
            let leased_to = self.profiles.get(profile_id).and_then(|profile| profile.holder());
            findings.check(1, leased_to == Some(holders[0]), || {
                format!("profile {profile_id} is in moderator {}'s assignments but leased to {leased_to:?}", holders[0])
            });
        }
        for profile in self.profiles.values() {
            let Some(lease) = &profile.lease else { continue };
            let holder = self.moderators.get(&lease.moderator_id);
            findings.check(1, holder.is_some_and(|m| m.state == ModeratorState::Working), || {
                format!(
                    "profile {} is leased to moderator {} in state {:?}",
                    profile.id,
                    lease.moderator_id,
                    holder.map(|m| m.state)
                )
            });
            findings.check(1, holder.is_some_and(|m| m.assignments.contains_key(&profile.id)), || {
                format!("profile {} is leased to moderator {} without an assignment", profile.id, lease.moderator_id)
            });
            findings.check(1, profile.active, || format!("inactive profile {} is held", profile.id));
            findings.check(1, lease.expires_at.is_none_or(|at| at > self.now), || {
                format!("the lease of profile {} expired but is still held", profile.id)
            });
        }
    }

    /// Invariant 2: A (client, profile) conversation is in at most one assignment, the profile holder's.
    fn check_conversations(&self, findings: &mut Findings) {
        let mut listed: BTreeMap<ConversationKey, Vec<ModeratorId>> = BTreeMap::new();
        for moderator in self.moderators.values() {
            for (&profile_id, assignment) in &moderator.assignments {
                for &client_id in &assignment.conversations {
                    listed.entry(ConversationKey { client_id, profile_id }).or_default().push(moderator.id);
                }
            }
        }
        for (key, moderators) in &listed {
            findings.check(2, moderators.len() == 1, || {
                format!("conversation {key:?} is in assignments of {moderators:?}")
            });
            let holder = self.profiles.get(&key.profile_id).and_then(|profile| profile.holder());
            findings.check(2, holder == Some(moderators[0]), || {
                format!(
                    "conversation {key:?} is with moderator {} but the profile's holder is {holder:?}",
                    moderators[0]
                )
            });
            let conversation = self.conversations.get(key);
            findings.check(2, conversation.and_then(|c| c.assigned_to) == Some(moderators[0]), || {
                format!(
                    "conversation {key:?} is listed by moderator {} but records {:?}",
                    moderators[0],
                    conversation.map(|c| c.assigned_to)
                )
            });
        }
        for (key, conversation) in self.conversations.iter() {
            if let Some(moderator_id) = conversation.assigned_to {
                findings.check(2, listed.get(key).is_some_and(|m| m.contains(&moderator_id)), || {
                    format!("conversation {key:?} records moderator {moderator_id} whose assignment does not list it")
                });
                findings.check(2, conversation.waiting_since.is_some(), || {
                    format!("conversation {key:?} is assigned but not waiting")
                });
            }
        }
    }

    /// Invariant 3: all unexpired locks on a client belong to one moderator; a client is
    /// handled by one moderator at a time (its lock holder handles all its conversations).
    fn check_client_locks(&self, findings: &mut Findings) {
        let mut handlers: BTreeMap<ClientId, BTreeSet<ModeratorId>> = BTreeMap::new();
        for (key, conversation) in self.conversations.iter() {
            if let Some(moderator_id) = conversation.assigned_to {
                handlers.entry(key.client_id).or_default().insert(moderator_id);
                let lock = self.clients.get(&key.client_id).and_then(|client| client.lock.as_ref());
                let locked_for_it =
                    lock.is_some_and(|set| set.moderator_id == moderator_id && set.locks.contains_key(&key.profile_id));
                findings.check(3, locked_for_it, || {
                    format!("conversation {key:?} is with moderator {moderator_id} without its lock on the client")
                });
            }
        }
        for client in self.clients.values() {
            if let Some(set) = &client.lock {
                handlers.entry(client.id).or_default().insert(set.moderator_id);
                findings.check(3, !set.locks.is_empty(), || format!("client {} has an empty lock set", client.id));
                for (profile_id, lock) in &set.locks {
                    findings.check(3, lock.expires_at > self.now, || {
                        format!("the lock on client {} for profile {profile_id} expired but is still held", client.id)
                    });
                }
            }
        }
        for (client_id, moderators) in handlers {
            findings.check(3, moderators.len() <= 1, || format!("client {client_id} is handled by {moderators:?}"));
        }
    }

    /// Invariant 4: Queued moderators hold no profile; positions are 1..n in the order of SPEC §5.
    fn check_queue(&self, findings: &mut Findings) {
        let mut expected: Vec<QueueKey> = Vec::new();
        for moderator in self.moderators.values().filter(|m| m.state == ModeratorState::Queued) {
            findings.check(4, moderator.assignments.is_empty(), || {
                format!("queued moderator {} holds profiles", moderator.id)
            });
            match &moderator.queue {
                Some(entry) => expected.push(QueueKey {
                    priority: std::cmp::Reverse(moderator.priority),
                    queued_at: entry.queued_at,
                    moderator_id: moderator.id,
                }),
                None => findings.check(4, false, || format!("queued moderator {} has no queue entry", moderator.id)),
            }
        }
        expected.sort_unstable();
        for (index, key) in expected.iter().enumerate() {
            let position = self.moderators[&key.moderator_id].queue.as_ref().map(|entry| entry.position);
            findings.check(4, position == Some(index as u32 + 1), || {
                format!("moderator {} should be at position {} but is at {position:?}", key.moderator_id, index + 1)
            });
        }
    }

    /// Invariant 5: Offline, paused and away moderators hold no profile, no lock, no queue entry.
    fn check_disconnected(&self, findings: &mut Findings) {
        let idle_states = [ModeratorState::Offline, ModeratorState::Paused, ModeratorState::Away];
        for moderator in self.moderators.values().filter(|m| idle_states.contains(&m.state)) {
            let state = moderator.state.as_str();
            findings.check(5, moderator.assignments.is_empty(), || {
                format!("{state} moderator {} holds profiles", moderator.id)
            });
            findings.check(5, moderator.queue.is_none(), || {
                format!("{state} moderator {} has a queue entry", moderator.id)
            });
            findings.check(5, !self.indexes.queue.iter().any(|key| key.moderator_id == moderator.id), || {
                format!("{state} moderator {} is in the queue", moderator.id)
            });
        }
        for client in self.clients.values() {
            if let Some(holder) = client.lock_holder() {
                let state = self.moderators.get(&holder).map(|m| m.state);
                findings.check(5, state.is_some_and(|s| !idle_states.contains(&s)), || {
                    format!("client {} is locked by moderator {holder} in state {state:?}", client.id)
                });
            }
        }
    }

    /// Invariant 6: no free profile while the queue is non-empty; no waiting conversation on
    /// a free profile while a moderator could take it. The engine settles after every
    /// command, so this holds after every command, not only after the monitor.
    fn check_settled(&self, findings: &mut Findings) {
        let queued = self.moderators.values().any(|m| m.state == ModeratorState::Queued);
        let room = self
            .moderators
            .values()
            .any(|m| m.state == ModeratorState::Working && m.profile_count() < self.config.max_profiles_per_moderator);
        for profile in self.profiles.values().filter(|p| p.active && p.lease.is_none()) {
            findings.check(6, !queued, || format!("profile {} is free while moderators are queued", profile.id));
            findings.check(6, profile.waiting.is_empty() || !room, || {
                format!(
                    "profile {} is free with {} waiting conversations while a working moderator has room",
                    profile.id,
                    profile.waiting.len()
                )
            });
        }
    }

    /// Invariant 0: Indexes, mirrors and derived counts agree with the records.
    fn check_bookkeeping(&self, findings: &mut Findings) {
        for moderator in self.moderators.values() {
            let load: u32 = moderator.assignments.values().map(|a| a.conversations.len() as u32).sum();
            findings.check(0, moderator.load == load, || {
                format!("moderator {} load {} != {load}", moderator.id, moderator.load)
            });
            for (&profile_id, assignment) in &moderator.assignments {
                let locked: BTreeSet<ClientId> =
                    self.clients
                        .values()
                        .filter(|client| {
                            client.lock.as_ref().is_some_and(|set| {
                                set.moderator_id == moderator.id && set.locks.contains_key(&profile_id)
                            })
                        })
                        .map(|client| client.id)
                        .collect();
                findings.check(0, assignment.locked_clients == locked, || {
                    format!(
                        "locked_clients of moderator {} on profile {profile_id} are {:?}, locks say {locked:?}",
                        moderator.id, assignment.locked_clients
                    )
                });
            }
        }
        let queued: BTreeSet<ModeratorId> =
            self.moderators.values().filter(|m| m.state == ModeratorState::Queued).map(|m| m.id).collect();
        let indexed: BTreeSet<ModeratorId> = self.indexes.queue.iter().map(|key| key.moderator_id).collect();
        findings.check(0, queued == indexed, || format!("queue index {indexed:?} != queued moderators {queued:?}"));
        let free: BTreeSet<FreeProfileKey> = self
            .profiles
            .values()
            .filter(|p| p.is_free())
            .map(|p| FreeProfileKey {
                waiting: std::cmp::Reverse(p.waiting.len() as u32),
                oldest_waiting: p.oldest_waiting().unwrap_or(crate::Timestamp::MAX),
                profile_id: p.id,
            })
            .collect();
        findings.check(0, free == self.indexes.free_profiles, || "free-profile index out of step".to_owned());
        for profile in self.profiles.values() {
            if let Some(at) = profile.lease.as_ref().and_then(|lease| lease.expires_at) {
                let filed = self.deadlines.filed_at(Deadline::ProfileLease(profile.id));
                findings.check(0, filed.is_some_and(|filed| filed <= at), || {
                    format!("lease of profile {} expiring at {at:?} has its deadline at {filed:?}", profile.id)
                });
            }
        }
        for client in self.clients.values() {
            for (&profile_id, lock) in client.lock.iter().flat_map(|set| set.locks.iter()) {
                let filed = self.deadlines.filed_at(Deadline::ClientLock(client.id, profile_id));
                findings.check(0, filed.is_some_and(|filed| filed <= lock.expires_at), || {
                    format!("lock on client {} for profile {profile_id} has its deadline at {filed:?}", client.id)
                });
            }
        }
        let lock_count: usize = self.clients.values().filter_map(|c| c.lock.as_ref()).map(|set| set.locks.len()).sum();
        let lease_count =
            self.profiles.values().filter(|p| p.lease.as_ref().is_some_and(|l| l.expires_at.is_some())).count();
        findings.check(0, self.deadlines.len() == lock_count + lease_count, || {
            format!("{} deadlines for {lease_count} leases and {lock_count} client locks", self.deadlines.len())
        });
        for (key, conversation) in self.conversations.iter() {
            let Some(since) = conversation.waiting_since else { continue };
            let filed = self.profiles.get(&key.profile_id).is_some_and(|p| p.waiting.contains(&(since, key.client_id)))
                && self.clients.get(&key.client_id).is_some_and(|c| c.waiting.contains(&(since, key.profile_id)));
            findings.check(0, filed, || format!("waiting conversation {key:?} is not filed as waiting"));
        }
    }
}
