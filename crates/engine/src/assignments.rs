//! Assignment (SPEC §4): which moderator gets a free profile (`settle`, the queue head, then
//! the least busy working moderator for an orphan), giving a profile with its lease and its
//! waiting conversations, attaching and detaching conversations (the load), releasing a
//! profile and handing it over with its conversations and locks (§6, §7).

use std::collections::BTreeSet;

use crate::event::{AssignReason, ReleaseReason};
use crate::ids::{ConversationKey, ModeratorId, ProfileId, Timestamp};
use crate::index::Deadline;
use crate::model::{Assignment, LockReason, LockType, ModeratorState, ProfileLease};
use crate::{Engine, Event, Fault};

impl Engine {
    /// Gives `moderator_id` an empty assignment of `profile_id` and makes it `Working`: the
    /// part every grant of a profile shares (a fresh assignment and a hand-over alike).
    fn open_assignment(&mut self, moderator_id: ModeratorId, profile_id: ProfileId, now: Timestamp) {
        let moderator = self.moderators.get_mut(&moderator_id).expect("the caller checked the moderator exists");
        moderator.assignments.insert(
            profile_id,
            Assignment {
                assigned_at: now,
                conversations: BTreeSet::new(),
                locked_clients: BTreeSet::new(),
                last_activity_check: None,
            },
        );
        moderator.last_assigned_at = Some(now);
        self.set_state(moderator_id, ModeratorState::Working);
    }

    /// Gives a free profile to a moderator: lease, assignment, queue exit, then the profile's
    /// waiting conversations (SPEC §4).
    pub(crate) fn assign_profile(&mut self, profile_id: ProfileId, moderator_id: ModeratorId, reason: AssignReason) {
        let now = self.now;
        let token = self.next_token();
        let lock_type = if reason == AssignReason::Pinned { LockType::Manual } else { LockType::Assignment };
        let expires_at = (lock_type == LockType::Assignment).then(|| now.plus(self.config.profile_lock_ttl));
        assert!(self.moderators.contains_key(&moderator_id), "assigning a profile to a known moderator");
        let profile = self.profiles.get_mut(&profile_id).expect("assigning a known profile");
        debug_assert!(profile.lease.is_none(), "assigning a held profile");
        profile.lease = Some(ProfileLease { moderator_id, locked_at: now, expires_at, lock_type, token });
        if let Some(at) = expires_at {
            self.deadlines.file(Deadline::ProfileLease(profile_id), at);
        }
        self.refile_profile(profile_id);

        self.open_assignment(moderator_id, profile_id, now);
        self.refile_moderator(moderator_id);
        self.note_assignment();

        self.emit(Event::ProfileAssigned { moderator_id, profile_id, reason });
        self.announce_lease(profile_id);
        self.offer_waiting_conversations(profile_id);
    }

    pub(crate) fn note_assignment(&mut self) {
        self.last_assignment_at = self.now;
        self.queue_stall_alerted = false;
        self.assignments_made += 1;
    }

    /// Tries to give each unassigned waiting conversation of a profile to its holder.
    pub(crate) fn offer_waiting_conversations(&mut self, profile_id: ProfileId) {
        let profile = self.profiles.get(&profile_id).expect("offering the conversations of a known profile");
        let holder = profile.holder();
        debug_assert!(holder.is_some(), "only a held profile's conversations are offered");
        let mut waiting = std::mem::take(&mut self.spare_client_ids);
        waiting.extend(profile.waiting.iter().map(|&(_, client_id)| client_id));
        // Each conversation given raises the holder's load: its index keys are settled once,
        // after the last, rather than moved through every intermediate load.
        let outer = std::mem::replace(&mut self.refile_held, holder);
        for &client_id in &waiting {
            let key = ConversationKey { client_id, profile_id };
            if self.conversations.get(&key).is_some_and(|conversation| conversation.assigned_to.is_none()) {
                self.try_assign_conversation(key);
            }
        }
        waiting.clear();
        self.spare_client_ids = waiting;
        self.refile_held = outer;
        if let Some(holder) = holder {
            self.refile_moderator(holder);
        }
    }

    /// SPEC §4 `assignClientToModerator`: a waiting conversation goes to its profile's holder
    /// unless another moderator holds the client; then it stays pending until that lock goes.
    pub(crate) fn try_assign_conversation(&mut self, key: ConversationKey) -> bool {
        let profile = self.profiles.get(&key.profile_id).expect("a waiting conversation's profile exists");
        // A free profile's conversation waits for the profile to be given out.
        let Some(holder) = profile.holder() else { return false };
        let client = self.clients.get(&key.client_id).expect("a waiting conversation's client exists");
        if let Some(lock_set) = &client.lock {
            if lock_set.moderator_id != holder {
                if self.faulty(Fault::IgnoreClientLock) {
                    // Steal the client without the lock: two moderators now handle it.
                    self.attach_conversation(key, holder);
                    return true;
                }
                let (locked_by, expires_at) = (lock_set.moderator_id, lock_set.latest_expiry());
                self.emit(Event::ClientLockStatusChanged {
                    recipient_id: holder,
                    client_id: key.client_id,
                    profile_id: key.profile_id,
                    locked: true,
                    moderator_id: Some(locked_by),
                    expires_at: Some(expires_at),
                });
                return false;
            }
        }
        self.lock_client(key, holder, LockReason::Conversation);
        self.attach_conversation(key, holder);
        true
    }

    pub(crate) fn attach_conversation(&mut self, key: ConversationKey, moderator_id: ModeratorId) {
        let conversation = self.conversations.get_mut(&key).expect("attaching a known conversation");
        conversation.assigned_to = Some(moderator_id);
        let message = conversation.last_inbound.clone();
        if let Some(assignment) =
            self.moderators.get_mut(&moderator_id).and_then(|moderator| moderator.assignments.get_mut(&key.profile_id))
        {
            assignment.conversations.insert(key.client_id);
        }
        self.change_load(moderator_id, 1);
        self.emit(Event::ConversationAssigned {
            moderator_id,
            client_id: key.client_id,
            profile_id: key.profile_id,
            message,
        });
    }

    /// Takes a conversation out of its moderator's assignment (its lock is the caller's business).
    pub(crate) fn detach_conversation(&mut self, key: ConversationKey, reason: ReleaseReason) {
        let conversation = self.conversations.get_mut(&key).expect("detaching a known conversation");
        // Callers detach whatever may be attached; an unattached conversation has nothing to undo.
        let Some(moderator_id) = conversation.assigned_to.take() else { return };
        if let Some(assignment) =
            self.moderators.get_mut(&moderator_id).and_then(|moderator| moderator.assignments.get_mut(&key.profile_id))
        {
            assignment.conversations.remove(&key.client_id);
        }
        self.change_load(moderator_id, -1);
        self.emit(Event::ConversationReleased {
            moderator_id,
            client_id: key.client_id,
            profile_id: key.profile_id,
            reason,
        });
    }

    pub(crate) fn change_load(&mut self, moderator_id: ModeratorId, delta: i32) {
        let now = self.now;
        let moderator = self.moderators.get_mut(&moderator_id).expect("changing the load of a known moderator");
        let before = moderator.load;
        moderator.load = before.saturating_add_signed(delta);
        match (before, moderator.load) {
            (0, after) if after > 0 => moderator.loaded_since = Some(now),
            (_, 0) => moderator.loaded_since = None,
            _ => {}
        }
        self.refile_moderator(moderator_id);
    }

    /// Frees a profile: its conversations and client locks go, the lease goes, the profile
    /// returns to the free pool. The moderator, if still working with no profile left, joins
    /// the queue. Giving the profile out again is `settle`'s job at the end of the command.
    pub(crate) fn release_profile(&mut self, profile_id: ProfileId, reason: ReleaseReason) {
        let now = self.now;
        let profile = self.profiles.get_mut(&profile_id).expect("releasing a known profile");
        // Freeing a free profile (a supervisor's unlock, a deactivation) changes nothing.
        let Some(lease) = profile.lease.take() else { return };
        self.deadlines.unfile(Deadline::ProfileLease(profile_id));
        let moderator_id = lease.moderator_id;
        let (locked_clients, conversations) =
            match self.moderators.get(&moderator_id).and_then(|moderator| moderator.assignments.get(&profile_id)) {
                Some(assignment) => (
                    assignment.locked_clients.iter().copied().collect::<Vec<_>>(),
                    assignment.conversations.iter().copied().collect::<Vec<_>>(),
                ),
                None => (Vec::new(), Vec::new()),
            };
        // Each conversation detached lowers the holder's load: its index keys are settled once,
        // below, rather than moved through every intermediate load.
        let outer = self.refile_held.replace(moderator_id);
        for client_id in conversations {
            let key = ConversationKey { client_id, profile_id };
            if self.faulty(Fault::ForgetWaitingOnRelease) {
                self.stop_waiting(key);
            }
            self.detach_conversation(key, reason);
        }
        for client_id in locked_clients {
            self.release_client_lock(ConversationKey { client_id, profile_id }, reason);
        }
        self.refile_held = outer;
        let moderator = self.moderators.get_mut(&moderator_id).expect("a lease's holder exists");
        moderator.assignments.remove(&profile_id);
        if matches!(reason, ReleaseReason::Released | ReleaseReason::Inactivity) {
            let until = now.plus(self.config.anti_ping_pong);
            moderator.given_back.retain(|&(given, until)| given != profile_id && until > now);
            moderator.given_back.push((profile_id, until));
        }
        let lost_last = moderator.state == ModeratorState::Working && moderator.assignments.is_empty();
        if lost_last {
            self.enqueue(moderator_id, now);
        }
        self.refile_moderator(moderator_id);
        self.refile_profile(profile_id);
        self.record_release();
        self.emit(Event::ProfileUnassigned { moderator_id, profile_id, reason });
        self.announce_lease(profile_id);
        if reason.is_forced() {
            self.forced_releases.push((moderator_id, profile_id, reason));
        }
    }

    /// Moves a held profile straight to another moderator (balancing, conflicts, pinning),
    /// with its conversations and the client locks held under it (SPEC §6, §7).
    pub(crate) fn hand_over_profile(
        &mut self,
        profile_id: ProfileId,
        to: ModeratorId,
        release_reason: ReleaseReason,
        assign_reason: AssignReason,
        displaced_queued_at: Timestamp,
    ) {
        let now = self.now;
        assert!(self.moderators.contains_key(&to), "handing a profile over to a known moderator");
        let token = self.next_token();
        let profile = self.profiles.get_mut(&profile_id).expect("handing over a known profile");
        let lease = profile.lease.as_mut().expect("only a held profile is handed over");
        let from = lease.moderator_id;
        debug_assert_ne!(from, to, "handing a profile over to its own holder");
        let lock_type = if assign_reason == AssignReason::Pinned { LockType::Manual } else { LockType::Assignment };
        let expires_at = (lock_type == LockType::Assignment).then(|| now.plus(self.config.profile_lock_ttl));
        *lease = ProfileLease { moderator_id: to, locked_at: now, expires_at, lock_type, token };
        match expires_at {
            Some(at) => self.deadlines.file(Deadline::ProfileLease(profile_id), at),
            None => self.deadlines.unfile(Deadline::ProfileLease(profile_id)),
        }

        let old_assignment =
            self.moderators.get_mut(&from).and_then(|moderator| moderator.assignments.remove(&profile_id));
        self.open_assignment(to, profile_id, now);
        self.note_assignment();

        if let Some(old_assignment) = old_assignment {
            let moved_load = old_assignment.conversations.len() as i32;
            if self.faulty(Fault::LeaveConversationsOnHandover) {
                // The conversations still name the old holder, whose assignment is gone.
            } else {
                self.change_load(from, -moved_load);
                for client_id in &old_assignment.conversations {
                    if let Some(conversation) =
                        self.conversations.get_mut(&ConversationKey { client_id: *client_id, profile_id })
                    {
                        conversation.assigned_to = None;
                    }
                    self.emit(Event::ConversationReleased {
                        moderator_id: from,
                        client_id: *client_id,
                        profile_id,
                        reason: release_reason,
                    });
                }
                for client_id in old_assignment.locked_clients {
                    self.pass_client_lock(ConversationKey { client_id, profile_id }, from, to);
                }
            }
        }
        if self.moderators.get(&from).is_some_and(|m| m.state == ModeratorState::Working && m.assignments.is_empty()) {
            self.enqueue(from, displaced_queued_at);
        }
        self.refile_moderator(from);
        self.refile_moderator(to);
        self.emit(Event::ProfileUnassigned { moderator_id: from, profile_id, reason: release_reason });
        self.emit(Event::ForcedReassignment {
            moderator_id: from,
            profile_id,
            reason: release_reason,
            new_moderator_id: Some(to),
        });
        self.emit(Event::ProfileAssigned { moderator_id: to, profile_id, reason: assign_reason });
        self.announce_lease(profile_id);
        self.offer_waiting_conversations(profile_id);
    }

    /// The conversation is no longer waiting: out of every waiting index.
    pub(crate) fn stop_waiting(&mut self, key: ConversationKey) -> Option<Timestamp> {
        let conversation = self.conversations.get_mut(&key)?;
        let since = conversation.waiting_since.take()?;
        conversation.last_inbound = None;
        conversation.wait_alerted = false;
        self.indexes.waiting_unalerted.remove(&(since, key));
        self.profiles
            .get_mut(&key.profile_id)
            .expect("a conversation's profile exists")
            .waiting
            .remove(&(since, key.client_id));
        self.clients
            .get_mut(&key.client_id)
            .expect("a conversation's client exists")
            .waiting
            .remove(&(since, key.profile_id));
        self.refile_profile(key.profile_id);
        Some(since)
    }

    /// SPEC §4 `processQueue` and rule 2, applied until nothing more can be given out: free
    /// profiles to the queue, then orphan profiles to working moderators with room. Each
    /// round assigns one profile, so this ends.
    pub(crate) fn settle(&mut self) {
        loop {
            if !self.indexes.queue.is_empty()
                && !self.indexes.free_profiles.is_empty()
                && !self.faulty(Fault::SkipQueueProcessing)
            {
                let (profile_id, moderator_id) = self.choose_queue_assignment();
                self.assign_profile(profile_id, moderator_id, AssignReason::Queue);
                continue;
            }
            let orphan = self.indexes.free_profiles.first().filter(|key| key.waiting.0 > 0).map(|key| key.profile_id);
            if let (Some(profile_id), false) = (orphan, self.indexes.capacity.is_empty()) {
                let moderator_id = self.choose_least_busy(profile_id);
                self.assign_profile(profile_id, moderator_id, AssignReason::LeastBusy);
                continue;
            }
            break;
        }
    }

    /// The queue head gets the best free profile it has not recently given back; if it gave
    /// back every free one, the best free profile goes to the first queued moderator who did
    /// not, or to the head when nobody else can take it (anti-ping-pong, SPEC §4).
    pub(crate) fn choose_queue_assignment(&self) -> (ProfileId, ModeratorId) {
        let now = self.now;
        let head = self.indexes.queue.first().map(|key| key.moderator_id).expect("queue is not empty");
        let best = self.indexes.free_profiles.first().map(|key| key.profile_id).expect("a profile is free");
        let head_moderator = self.moderators.get(&head).expect("a queued moderator exists");
        if head_moderator.given_back.is_empty() {
            return (best, head);
        }
        if let Some(key) = self.indexes.free_profiles.iter().find(|key| !head_moderator.refuses(key.profile_id, now)) {
            return (key.profile_id, head);
        }
        let taker = self
            .indexes
            .queue
            .iter()
            .map(|key| key.moderator_id)
            .find(|id| self.moderators.get(id).is_some_and(|moderator| !moderator.refuses(best, now)))
            .unwrap_or(head);
        (best, taker)
    }

    /// SPEC §4 rule 2: the least busy working moderator with room, skipping those who gave
    /// this profile back recently unless nobody else has room.
    pub(crate) fn choose_least_busy(&self, profile_id: ProfileId) -> ModeratorId {
        let now = self.now;
        let first = self.indexes.capacity.first().map(|key| key.moderator_id).expect("a moderator has room");
        self.indexes
            .capacity
            .iter()
            .map(|key| key.moderator_id)
            .find(|id| self.moderators.get(id).is_some_and(|moderator| !moderator.refuses(profile_id, now)))
            .unwrap_or(first)
    }
}
