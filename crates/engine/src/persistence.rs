//! What the writer needs to make the engine durable: the entities a batch changed
//! (`take_changes`), the engine's own counters (`meta`), and rebuilding an engine from
//! stored records (`restore`), repairing whatever the records got wrong.
//!
//! Only records are stored; everything derived (indexes, waiting sets, loads, deadlines,
//! queue positions) is recomputed on restore, so a stored copy can never disagree with them.

use crate::ids::{ConversationKey, ModeratorId, ProfileId, Timestamp};
use crate::index::Deadline;
use crate::model::{Client, Conversation};
use crate::stored::{Changes, EngineMeta, RestoredState};
use crate::{Config, Engine, RELEASE_INTERVAL_WINDOW};

impl Engine {
    /// The entities changed since the last call. The writer persists the current state of
    /// each (an id whose entity no longer exists can be skipped).
    pub fn take_changes(&mut self) -> Changes {
        let messages = self
            .messages
            .take_written()
            .into_iter()
            .filter_map(|message_id| self.messages.get(&message_id).map(|&key| (message_id, key)))
            .collect();
        let meta = self.meta();
        let meta_changed = meta != self.stored_meta;
        self.stored_meta = meta;
        let mut moderators = self.moderators.take_changed();
        if self.faulty(crate::Fault::DropModeratorChanges) {
            moderators.clear();
        }
        Changes {
            moderators,
            profiles: self.profiles.take_changed(),
            clients: self.clients.take_changed(),
            conversations: self.conversations.take_changed(),
            conflicts: self.conflicts.take_written(),
            messages,
            meta_changed,
        }
    }

    pub fn meta(&self) -> EngineMeta {
        EngineMeta {
            next_token: self.next_token,
            next_conflict_id: self.next_conflict_id,
            next_alert_id: self.next_alert_id,
            releases: self.releases.iter().copied().collect(),
        }
    }

    /// Rebuilds an engine from stored records at `now`: derived state is recomputed, the
    /// whole state is audited and repaired (each repair returned and raised as an alert), and
    /// leases and locks that expired while the service was down expire now. The repairs'
    /// changes and events are pending in `take_changes` and `drain_events`.
    pub fn restore(config: Config, now: Timestamp, state: RestoredState) -> (Engine, Vec<String>) {
        let mut engine = Engine::new(config);
        engine.now = now;
        engine.last_assignment_at = now;
        engine.next_token = state.meta.next_token;
        engine.next_conflict_id = state.meta.next_conflict_id;
        engine.next_alert_id = state.meta.next_alert_id;
        let skip = state.meta.releases.len().saturating_sub(RELEASE_INTERVAL_WINDOW);
        engine.releases = state.meta.releases.iter().skip(skip).copied().collect();

        let mut repairs = Vec::new();
        let mut repaired_conversations = Vec::new();
        for mut moderator in state.moderators {
            moderator.load = 0;
            moderator.keys = Default::default();
            for assignment in moderator.assignments.values_mut() {
                assignment.conversations.clear();
            }
            engine.moderators.insert(moderator.id, moderator);
        }
        for mut profile in state.profiles {
            profile.waiting.clear();
            profile.keys = Default::default();
            engine.profiles.insert(profile.id, profile);
        }
        for mut client in state.clients {
            client.waiting.clear();
            if client.lock.as_ref().is_some_and(|set| set.locks.is_empty()) {
                client.lock = None;
            }
            engine.clients.insert(client.id, client);
        }
        let mut conversations: Vec<(ConversationKey, Conversation)> = state.conversations;
        conversations.sort_by_key(|(key, _)| *key);
        for (key, mut conversation) in conversations {
            if !engine.profiles.contains_key(&key.profile_id) {
                repairs.push(format!("conversation {key:?} names unknown profile {}; dropped", key.profile_id));
                continue;
            }
            if !engine.clients.contains_key(&key.client_id) {
                engine.clients.insert(key.client_id, Client::new(key.client_id, String::new()));
            }
            if conversation.waiting_since.is_none() && conversation.assigned_to.take().is_some() {
                repaired_conversations.push(key);
                repairs.push(format!("conversation {key:?} was assigned but not waiting; unassigned"));
            }
            if let Some(since) = conversation.waiting_since {
                if !conversation.wait_alerted {
                    engine.indexes.waiting_unalerted.insert((since, key));
                }
                if let Some(profile) = engine.profiles.get_mut(&key.profile_id) {
                    profile.waiting.insert((since, key.client_id));
                }
                if let Some(client) = engine.clients.get_mut(&key.client_id) {
                    client.waiting.insert((since, key.profile_id));
                }
            }
            if let Some(moderator_id) = conversation.assigned_to {
                let assignment = engine
                    .moderators
                    .get_mut(&moderator_id)
                    .and_then(|moderator| moderator.assignments.get_mut(&key.profile_id));
                match assignment {
                    Some(assignment) => {
                        assignment.conversations.insert(key.client_id);
                        if let Some(moderator) = engine.moderators.get_mut(&moderator_id) {
                            moderator.load += 1;
                        }
                    }
                    None => {
                        conversation.assigned_to = None;
                        repaired_conversations.push(key);
                        repairs.push(format!(
                            "conversation {key:?} was with moderator {moderator_id}, who has no assignment for the profile; unassigned"
                        ));
                    }
                }
            }
            engine.conversations.insert(key, conversation);
        }
        let mut messages = state.messages;
        messages.sort_unstable();
        for (message_id, key) in messages {
            engine.messages.insert(message_id, key);
        }
        for conflict in state.conflicts {
            engine.conflicts.insert(conflict.conflict_id, conflict);
        }

        engine.rebuild_deadlines();
        let moderator_ids: Vec<ModeratorId> = engine.moderators.keys().copied().collect();
        for moderator_id in moderator_ids {
            if let Some(moderator) = engine.moderators.get_mut(&moderator_id) {
                if moderator.load > 0 && moderator.loaded_since.is_none() {
                    moderator.loaded_since = Some(now);
                }
            }
            engine.refile_moderator(moderator_id);
        }
        let profile_ids: Vec<ProfileId> = engine.profiles.keys().copied().collect();
        for profile_id in profile_ids {
            engine.refile_profile(profile_id);
        }
        if !engine.indexes.queue.is_empty() {
            engine.queue_nonempty_since = Some(now);
        }
        engine.estimates_stale = true;

        // Loading wrote every record; only what the repairs below change needs storing again.
        engine.take_changes();
        for key in repaired_conversations {
            engine.conversations.get_mut(&key);
        }
        for description in &repairs {
            engine.raise_alert(
                crate::AlertKind::InconsistencyRepaired,
                crate::AlertSubject::Repair { description: description.clone() },
            );
        }
        repairs.extend(engine.integrity_check_full());
        engine.advance(now);
        (engine, repairs)
    }

    /// Files every lease and client lock expiry; a lock set may name profiles in any order,
    /// so this walks the records rather than trusting any stored index.
    fn rebuild_deadlines(&mut self) {
        let leases = self
            .profiles
            .values()
            .filter_map(|profile| Some((profile.lease.as_ref()?.expires_at?, Deadline::ProfileLease(profile.id))));
        let locks = self.clients.values().filter_map(|client| Some((client.id, client.lock.as_ref()?))).flat_map(
            |(client_id, set)| {
                set.locks
                    .iter()
                    .map(move |(&profile_id, lock)| (lock.expires_at, Deadline::ClientLock(client_id, profile_id)))
            },
        );
        let entries = leases.chain(locks).collect();
        self.deadlines.refill(entries);
    }
}
