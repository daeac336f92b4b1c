//! Client locks (SPEC §3): granting and renewing them, who is blocked behind one, releasing
//! them (and at once retrying the client's other waiting conversations), their expiry
//! (renewed in place when nobody else waits), and passing them with a handed-over profile.
//! Rule kept here: all unexpired locks on a client belong to one moderator (invariant 3).

use std::collections::BTreeMap;

use crate::event::ReleaseReason;
use crate::ids::{ClientId, ConversationKey, ModeratorId, ProfileId};
use crate::index::Deadline;
use crate::model::{Client, ClientLock, ClientLockSet, LockReason};
use crate::{Engine, Event};

impl Engine {
    /// Grants (or renews) `moderator_id`'s lock on a client for one of its conversations. The
    /// caller has checked that no other moderator holds the client.
    pub(crate) fn lock_client(&mut self, key: ConversationKey, moderator_id: ModeratorId, reason: LockReason) {
        let now = self.now;
        let until = now.plus(self.config.client_lock_ttl);
        let token = self.next_token();
        let client = self.clients.get_mut(&key.client_id).expect("locking a known client");
        let newly_locked = client.lock.is_none();
        let lock_set = client.lock.get_or_insert_with(|| ClientLockSet { moderator_id, locks: BTreeMap::new() });
        debug_assert_eq!(lock_set.moderator_id, moderator_id, "locking a client held by another moderator");
        match lock_set.locks.get_mut(&key.profile_id) {
            Some(lock) => {
                if reason == LockReason::Conversation {
                    lock.reason = LockReason::Conversation;
                }
                if until > lock.expires_at {
                    lock.expires_at = until;
                    self.deadlines.renewed(Deadline::ClientLock(key.client_id, key.profile_id), until);
                }
            }
            None => {
                lock_set.locks.insert(key.profile_id, ClientLock { locked_at: now, expires_at: until, reason, token });
                self.deadlines.file(Deadline::ClientLock(key.client_id, key.profile_id), until);
                if let Some(assignment) = self
                    .moderators
                    .get_mut(&moderator_id)
                    .and_then(|moderator| moderator.assignments.get_mut(&key.profile_id))
                {
                    assignment.locked_clients.insert(key.client_id);
                }
            }
        }
        if newly_locked {
            self.announce_client_lock(key.client_id);
        }
    }

    /// Moderators whose waiting conversation with this client is pending behind another
    /// moderator's lock, with the profile of that conversation.
    pub(crate) fn blocked_on_client(&self, client_id: ClientId) -> impl Iterator<Item = (ModeratorId, ProfileId)> + '_ {
        let client = self.clients.get(&client_id);
        let lock_holder = client.and_then(Client::lock_holder);
        client.into_iter().flat_map(|client| &client.waiting).filter_map(move |&(_, profile_id)| {
            // The conversation first: most waiting conversations are assigned, and that
            // lookup is the cheaper one.
            let conversation = self.conversations.get(&ConversationKey { client_id, profile_id })?;
            if conversation.assigned_to.is_some() {
                return None;
            }
            let holder = self.profiles.get(&profile_id)?.holder()?;
            (Some(holder) != lock_holder).then_some((holder, profile_id))
        })
    }

    pub(crate) fn announce_client_lock(&mut self, client_id: ClientId) {
        let client = self.clients.get(&client_id).expect("announcing the lock of a known client");
        let (locked_by, expires_at) = match &client.lock {
            Some(set) => (Some(set.moderator_id), Some(set.latest_expiry())),
            None => (None, None),
        };
        // Collected (without allocating when nobody is blocked, the usual case) so that the
        // events can be queued.
        let blocked: Vec<(ModeratorId, ProfileId)> = self.blocked_on_client(client_id).collect();
        for (recipient_id, profile_id) in blocked {
            self.emit(Event::ClientLockStatusChanged {
                recipient_id,
                client_id,
                profile_id,
                locked: locked_by.is_some(),
                moderator_id: locked_by,
                expires_at,
            });
        }
    }

    /// Releases one client lock. A conversation held under it leaves the assignment (an
    /// assigned conversation always has its holder's lock). When the client's last lock
    /// goes, its other waiting conversations are processed at once (SPEC §3).
    pub(crate) fn release_client_lock(&mut self, key: ConversationKey, reason: ReleaseReason) {
        let client = self.clients.get_mut(&key.client_id).expect("releasing a lock on a known client");
        // Callers release whatever lock may be held (an answer releases the lock if any).
        let Some(lock_set) = client.lock.as_mut() else { return };
        let moderator_id = lock_set.moderator_id;
        if lock_set.locks.remove(&key.profile_id).is_none() {
            return;
        }
        let now_unlocked = lock_set.locks.is_empty();
        self.deadlines.unfile(Deadline::ClientLock(key.client_id, key.profile_id));
        if let Some(assignment) =
            self.moderators.get_mut(&moderator_id).and_then(|moderator| moderator.assignments.get_mut(&key.profile_id))
        {
            assignment.locked_clients.remove(&key.client_id);
        }
        if self.conversations.get(&key).and_then(|conversation| conversation.assigned_to) == Some(moderator_id) {
            self.detach_conversation(key, reason);
        }
        if now_unlocked {
            self.clients.get_mut(&key.client_id).expect("looked up above").lock = None;
            self.client_unlocked(key.client_id);
        }
    }

    pub(crate) fn client_unlocked(&mut self, client_id: ClientId) {
        self.announce_client_lock(client_id);
        let client = self.clients.get(&client_id).expect("announced above");
        let mut waiting = std::mem::take(&mut self.spare_profile_ids);
        waiting.extend(client.waiting.iter().map(|&(_, profile_id)| profile_id));
        for &profile_id in &waiting {
            let key = ConversationKey { client_id, profile_id };
            if self.conversations.get(&key).is_some_and(|conversation| conversation.assigned_to.is_none()) {
                self.try_assign_conversation(key);
            }
        }
        waiting.clear();
        self.spare_profile_ids = waiting;
    }

    /// A client lock reached its expiry. A conversation lock that nobody else is waiting for
    /// is renewed in place (releasing and re-granting it to the same holder would only churn
    /// events); otherwise the lock goes and the client's waiting conversations are retried.
    ///
    /// Its deadline is the first filed: it is either postponed in place or taken out here.
    pub(crate) fn expire_client_lock(&mut self, client_id: ClientId, profile_id: ProfileId) {
        let key = ConversationKey { client_id, profile_id };
        // `advance` found the lock behind this deadline a moment ago.
        let client = self.clients.get(&client_id).expect("an expiring lock's client exists");
        let set = client.lock.as_ref().expect("an expiring lock exists");
        let (holder, lock) = (set.moderator_id, set.locks.get(&profile_id).expect("an expiring lock exists"));
        let still_serving = lock.reason == LockReason::Conversation
            && self.conversations.get(&key).and_then(|conversation| conversation.assigned_to) == Some(holder);
        // Nobody can be blocked when the conversation served is the client's only waiting
        // one (the usual case): that is known without looking any conversation up.
        let nobody_blocked = || {
            client.waiting.iter().all(|&(_, waiting_on)| waiting_on == profile_id)
                || self.blocked_on_client(client_id).next().is_none()
        };
        if still_serving && nobody_blocked() {
            let until = self.now.plus(self.config.client_lock_ttl);
            let client = self.clients.get_mut(&client_id).expect("looked up above");
            let lock = client.lock.as_mut().and_then(|set| set.locks.get_mut(&profile_id)).expect("looked up above");
            lock.expires_at = until;
            self.deadlines.postpone_first(until);
            return;
        }
        self.deadlines.pop_first();
        self.release_client_lock(key, ReleaseReason::LockExpired);
    }

    /// A lock held by `from` under a profile that now belongs to `to`. It passes to `to` when
    /// it is `from`'s only lock on the client; otherwise `from` still handles the client under
    /// another profile, so this lock is dropped and the conversation waits for the client.
    pub(crate) fn pass_client_lock(&mut self, key: ConversationKey, from: ModeratorId, to: ModeratorId) {
        // The token is drawn even when the lock is dropped, so that token numbers stay as
        // they have always been allotted (stored tokens keep their meaning).
        let token = self.next_token();
        let client = self.clients.get_mut(&key.client_id).expect("a mirrored lock's client exists");
        let Some(lock_set) = client.lock.as_mut() else { return };
        if lock_set.moderator_id != from || !lock_set.locks.contains_key(&key.profile_id) {
            return;
        }
        if lock_set.locks.len() == 1 {
            lock_set.moderator_id = to;
            if let Some(lock) = lock_set.locks.get_mut(&key.profile_id) {
                lock.token = token;
                lock.locked_at = self.now;
            }
            if let Some(assignment) =
                self.moderators.get_mut(&to).and_then(|moderator| moderator.assignments.get_mut(&key.profile_id))
            {
                assignment.locked_clients.insert(key.client_id);
            }
            self.announce_client_lock(key.client_id);
        } else {
            let lock = lock_set.locks.remove(&key.profile_id);
            if lock.is_some() {
                self.deadlines.unfile(Deadline::ClientLock(key.client_id, key.profile_id));
            }
        }
    }
}
