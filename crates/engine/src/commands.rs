//! One handler per command: check everything first, then change. Every refusal happens
//! before the first change, which is what makes "a rejected command changes nothing" true.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::command::{Command, PriorityActor, Reply};
use crate::event::ReleaseReason;
use crate::ids::{ClientId, ConflictId, ConversationKey, FencingToken, MessageId, ModeratorId, ProfileId, Timestamp};
use crate::index::Deadline;
use crate::model::{Client, Conversation, LockReason, LockType, MessageSummary, Moderator, ModeratorState, Profile};
use crate::rejection::Rejection;
use crate::{AssignReason, Engine, Event, Fault};

/// The longest extension one request may ask for; the configured cap usually binds first.
const MAX_EXTENSION_SECONDS: u32 = 24 * 60 * 60;

impl Engine {
    pub(crate) fn apply(&mut self, command: Command) -> Result<Reply, Rejection> {
        match command {
            Command::UpsertModerator { moderator_id, name } => Ok(self.upsert_moderator(moderator_id, name)),
            Command::UpsertProfile { profile_id, name, active } => Ok(self.upsert_profile(profile_id, name, active)),
            Command::UpsertClient { client_id, name } => {
                match self.clients.get_mut(&client_id) {
                    Some(client) => client.name = name,
                    None => {
                        self.clients.insert(client_id, Client::new(client_id, name));
                    }
                }
                Ok(Reply::Client { client_id })
            }
            Command::InboundMessage { message_id, client_id, profile_id, body, sent_at } => {
                self.inbound_message(message_id, client_id, profile_id, body, sent_at)
            }
            Command::Connect { moderator_id, connected_at } => self.connect(moderator_id, connected_at),
            Command::Disconnect { moderator_id } => {
                self.known_moderator(moderator_id)?;
                self.disconnect(moderator_id, ReleaseReason::Disconnected);
                Ok(Reply::Moderator(self.status(moderator_id)))
            }
            Command::Heartbeat { moderator_id } => {
                self.known_moderator(moderator_id)?;
                self.record_presence(moderator_id);
                Ok(Reply::Done)
            }
            Command::RealtimePresence { moderator_id, connected } => {
                self.known_moderator(moderator_id)?;
                let moderator = self.moderators.get_mut(&moderator_id).expect("a known moderator");
                moderator.realtime_connected = connected;
                self.record_presence(moderator_id);
                Ok(Reply::Done)
            }
            Command::Typing { moderator_id, client_id, profile_id, lease_token } => {
                self.typing(moderator_id, client_id, profile_id, lease_token)
            }
            Command::SendMessage { moderator_id, client_id, profile_id, lease_token } => {
                self.send_message(moderator_id, client_id, profile_id, lease_token)
            }
            Command::Initiate { moderator_id, client_id, profile_id } => {
                self.initiate(moderator_id, client_id, profile_id)
            }
            Command::LeaveQueue { moderator_id } => {
                let moderator = self.known_moderator(moderator_id)?;
                if moderator.state != ModeratorState::Queued {
                    return Err(Rejection::NotInQueue(moderator_id));
                }
                self.record_presence(moderator_id);
                self.set_state(moderator_id, ModeratorState::Paused);
                Ok(Reply::Moderator(self.status(moderator_id)))
            }
            Command::SetPriority { moderator_id, priority, actor } => {
                self.known_moderator(moderator_id)?;
                if actor == PriorityActor::Moderator && priority > self.config.max_self_priority {
                    return Err(Rejection::PriorityAboveSelfLimit {
                        requested: priority,
                        max: self.config.max_self_priority,
                    });
                }
                let moderator = self.moderators.get_mut(&moderator_id).expect("a known moderator");
                moderator.priority = priority;
                if actor == PriorityActor::Moderator {
                    self.record_presence(moderator_id);
                } else {
                    self.refile_moderator(moderator_id);
                }
                Ok(Reply::Queue(self.queue_status(moderator_id)))
            }
            Command::ReleaseProfile { moderator_id, profile_id } => {
                self.holder_check(moderator_id, profile_id, None)?;
                self.record_presence(moderator_id);
                self.release_profile(profile_id, ReleaseReason::Released);
                Ok(Reply::Moderator(self.status(moderator_id)))
            }
            Command::ReleaseClient { moderator_id, client_id } => {
                let profiles = self.client_locks_of(moderator_id, client_id)?;
                self.record_presence(moderator_id);
                for profile_id in profiles {
                    self.release_client_lock(ConversationKey { client_id, profile_id }, ReleaseReason::Released);
                }
                Ok(Reply::Moderator(self.status(moderator_id)))
            }
            Command::ExtendProfileLease { moderator_id, profile_id, seconds } => {
                self.holder_check(moderator_id, profile_id, None)?;
                let seconds = extension_seconds(seconds)?;
                self.record_activity(moderator_id, Some(profile_id));
                let cap = self.now.plus(self.config.profile_lock_ttl + self.config.max_lock_extension);
                let current = self.profiles.get(&profile_id).and_then(|p| p.lease.as_ref()).and_then(|l| l.expires_at);
                if let Some(expires_at) = current {
                    // An explicit extension is always announced, unlike renewal by activity.
                    if !self.renew_lease(profile_id, expires_at.plus(seconds).min(cap)) {
                        self.announce_lease(profile_id);
                    }
                }
                Ok(Reply::ProfileLease(self.lease_view(profile_id).expect("the holder's lease exists")))
            }
            Command::ExtendClientLock { moderator_id, client_id, seconds } => {
                let profiles = self.client_locks_of(moderator_id, client_id)?;
                let seconds = extension_seconds(seconds)?;
                self.record_activity(moderator_id, None);
                let cap = self.now.plus(self.config.client_lock_ttl + self.config.max_lock_extension);
                for profile_id in profiles {
                    self.extend_client_lock(ConversationKey { client_id, profile_id }, seconds, cap);
                }
                Ok(Reply::ClientLocks(self.client_lock_views(client_id)))
            }
            Command::ResolveConflict { moderator_id, conflict_id } => self.resolve_conflict(moderator_id, conflict_id),
            Command::SupervisorUnlockProfile { profile_id } => {
                self.known_profile(profile_id)?;
                self.release_profile(profile_id, ReleaseReason::Supervisor);
                Ok(Reply::Done)
            }
            Command::SupervisorPinProfile { profile_id, moderator_id } => self.pin(profile_id, moderator_id),
            Command::RunMonitor => Ok(Reply::Monitor(self.run_monitor())),
            Command::Rebalance => Ok(Reply::Moves(self.balance())),
        }
    }

    pub(crate) fn known_moderator(&self, moderator_id: ModeratorId) -> Result<&Moderator, Rejection> {
        self.moderators.get(&moderator_id).ok_or(Rejection::UnknownModerator(moderator_id))
    }

    pub(crate) fn known_profile(&self, profile_id: ProfileId) -> Result<&Profile, Rejection> {
        self.profiles.get(&profile_id).ok_or(Rejection::UnknownProfile(profile_id))
    }

    fn known_client(&self, client_id: ClientId) -> Result<&Client, Rejection> {
        self.clients.get(&client_id).ok_or(Rejection::UnknownClient(client_id))
    }

    /// The moderator holds the profile's lease (and, when the request names one, still under
    /// that fencing token).
    fn holder_check(
        &self,
        moderator_id: ModeratorId,
        profile_id: ProfileId,
        lease_token: Option<FencingToken>,
    ) -> Result<(), Rejection> {
        self.known_moderator(moderator_id)?;
        let profile = self.known_profile(profile_id)?;
        let lease = profile
            .lease
            .as_ref()
            .filter(|lease| lease.moderator_id == moderator_id)
            .ok_or(Rejection::NotProfileHolder { moderator_id, profile_id })?;
        match lease_token {
            Some(token) if token != lease.token => Err(Rejection::StaleLease { profile_id }),
            _ => Ok(()),
        }
    }

    /// No other moderator holds the client.
    fn client_available(&self, moderator_id: ModeratorId, client_id: ClientId) -> Result<(), Rejection> {
        let client = self.known_client(client_id)?;
        match &client.lock {
            Some(set) if set.moderator_id != moderator_id => {
                Err(Rejection::ClientLocked { client_id, holder: set.moderator_id, expires_at: set.latest_expiry() })
            }
            _ => Ok(()),
        }
    }

    /// The profiles under which this moderator holds locks on this client.
    fn client_locks_of(&self, moderator_id: ModeratorId, client_id: ClientId) -> Result<Vec<ProfileId>, Rejection> {
        self.known_moderator(moderator_id)?;
        let client = self.known_client(client_id)?;
        match &client.lock {
            Some(set) if set.moderator_id == moderator_id => Ok(set.locks.keys().copied().collect()),
            _ => Err(Rejection::NotClientLockHolder { moderator_id, client_id }),
        }
    }

    fn upsert_moderator(&mut self, moderator_id: ModeratorId, name: String) -> Reply {
        let now = self.now;
        match self.moderators.get_mut(&moderator_id) {
            Some(moderator) => moderator.name = name,
            None => {
                self.moderators.insert(moderator_id, Moderator::new(moderator_id, name, now));
            }
        }
        Reply::Moderator(self.status(moderator_id))
    }

    /// Creating or renaming a profile; `active: false` frees it and keeps it out of the pool,
    /// `active: true` puts it back (SPEC §4 lists re-activation among the freeing events).
    fn upsert_profile(&mut self, profile_id: ProfileId, name: String, active: bool) -> Reply {
        match self.profiles.get_mut(&profile_id) {
            Some(profile) => profile.name = name,
            None => {
                self.profiles.insert(profile_id, Profile::new(profile_id, name, active));
            }
        }
        let profile = self.profiles.get_mut(&profile_id).expect("the profile was just upserted");
        let was_active = profile.active;
        profile.active = active;
        if was_active && !active {
            self.release_profile(profile_id, ReleaseReason::Deactivated);
        }
        self.refile_profile(profile_id);
        Reply::Profile { profile_id, active }
    }

    fn inbound_message(
        &mut self,
        message_id: MessageId,
        client_id: ClientId,
        profile_id: ProfileId,
        body: Arc<str>,
        sent_at: Timestamp,
    ) -> Result<Reply, Rejection> {
        let mut known = self.messages.get(&message_id).copied();
        if known.is_none() && self.faulty(crate::Fault::MessageKeysAsNumbers) {
            if let MessageId::Key(digits) = &message_id {
                known = digits.as_str().parse().ok().and_then(|n| self.messages.get(&MessageId::Number(n)).copied());
            }
        }
        if let Some(key) = known {
            return Ok(Reply::MessageAccepted {
                message_id,
                client_id: key.client_id,
                profile_id: key.profile_id,
                duplicate: true,
            });
        }
        let profile = self.known_profile(profile_id)?;
        if !profile.active {
            return Err(Rejection::ProfileInactive(profile_id));
        }
        let now = self.now;
        let key = ConversationKey { client_id, profile_id };
        self.clients.get_or_insert_with(client_id, || Client::new(client_id, String::new()));
        self.messages.insert(message_id.clone(), key);
        let conversation = self.conversations.get_or_insert_with(key, Conversation::default);
        conversation.inbound_messages += 1;
        conversation.last_inbound =
            Some(MessageSummary { message_id: message_id.clone(), body, sent_at, received_at: now });
        let started_waiting = conversation.waiting_since.is_none();
        let assigned_to = conversation.assigned_to;
        if started_waiting {
            conversation.waiting_since = Some(now);
            self.indexes.waiting_unalerted.insert((now, key));
            let profile = self.profiles.get_mut(&profile_id).expect("a known profile");
            profile.waiting.insert((now, client_id));
            let client = self.clients.get_mut(&client_id).expect("a known client");
            client.waiting.insert((now, profile_id));
            self.refile_profile(profile_id);
            self.try_assign_conversation(key);
        } else if let Some(moderator_id) = assigned_to {
            // Already with its moderator: tell the console about the newer message.
            let message = self.conversations.get(&key).and_then(|c| c.last_inbound.clone());
            self.emit(Event::ConversationAssigned { moderator_id, client_id, profile_id, message });
        }
        Ok(Reply::MessageAccepted { message_id, client_id, profile_id, duplicate: false })
    }

    fn connect(&mut self, moderator_id: ModeratorId, connected_at: Timestamp) -> Result<Reply, Rejection> {
        let moderator = self.known_moderator(moderator_id)?;
        let state = moderator.state;
        // A connection cannot be from the future, nor older than the window that could make
        // it collide with anything still remembered.
        let connected_at = connected_at.min(self.now).max(self.now.minus(self.config.conflict_window));
        self.record_activity(moderator_id, None);
        if matches!(state, ModeratorState::Offline | ModeratorState::Paused | ModeratorState::Away) {
            let moderator = self.moderators.get_mut(&moderator_id).expect("a known moderator");
            moderator.connected_at = Some(connected_at);
            moderator.last_activity_at = Some(self.now);
            self.enqueue(moderator_id, connected_at);
            self.settle();
            self.judge_collision(moderator_id, connected_at);
        }
        Ok(Reply::Moderator(self.status(moderator_id)))
    }

    /// Offline: out of the queue, every profile and lock released (SPEC §2).
    pub(crate) fn disconnect(&mut self, moderator_id: ModeratorId, reason: ReleaseReason) {
        if self.faulty(Fault::KeepQueueEntryOnDisconnect) {
            let moderator = self.moderators.get_mut(&moderator_id).expect("a known moderator");
            if moderator.state == ModeratorState::Queued {
                moderator.state = ModeratorState::Offline;
                return;
            }
        }
        self.set_state(moderator_id, ModeratorState::Offline);
        self.release_everything(moderator_id, reason);
        let moderator = self.moderators.get_mut(&moderator_id).expect("a known moderator");
        moderator.connected_at = None;
        self.refile_moderator(moderator_id);
    }

    /// Inactivity (SPEC §7): away, every profile freed and reassigned, locks released.
    pub(crate) fn set_away(&mut self, moderator_id: ModeratorId) {
        self.set_state(moderator_id, ModeratorState::Away);
        if self.faulty(Fault::KeepProfilesWhenAway) {
            return;
        }
        self.release_everything(moderator_id, ReleaseReason::Inactivity);
    }

    fn release_everything(&mut self, moderator_id: ModeratorId, reason: ReleaseReason) {
        let held: Vec<ProfileId> =
            self.moderators.get(&moderator_id).map(|m| m.assignments.keys().copied().collect()).unwrap_or_default();
        for profile_id in held {
            self.release_profile(profile_id, reason);
        }
    }

    fn typing(
        &mut self,
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        lease_token: Option<FencingToken>,
    ) -> Result<Reply, Rejection> {
        self.holder_check(moderator_id, profile_id, lease_token)?;
        self.client_available(moderator_id, client_id)?;
        self.holding_refile(moderator_id, |engine| {
            engine.record_activity(moderator_id, Some(profile_id));
            let profile = engine.profiles.get_mut(&profile_id).expect("a known profile");
            profile.last_typing_at = Some(engine.now);
            engine.lock_client(ConversationKey { client_id, profile_id }, moderator_id, LockReason::Typing);
        });
        Ok(Reply::Done)
    }

    fn send_message(
        &mut self,
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        lease_token: Option<FencingToken>,
    ) -> Result<Reply, Rejection> {
        self.holder_check(moderator_id, profile_id, lease_token)?;
        self.client_available(moderator_id, client_id)?;
        let now = self.now;
        // Activity and the answered conversation's detachment both move the sender's index
        // keys: they are settled once, at the end.
        let response_millis = self.holding_refile(moderator_id, |engine| {
            engine.record_activity(moderator_id, Some(profile_id));
            let key = ConversationKey { client_id, profile_id };
            engine.conversations.get_or_insert_with(key, Conversation::default).last_reply_at = Some(now);
            // Answered first, so that releasing the lock below does not offer it again.
            let response_millis = engine.stop_waiting(key).map(|since| now.since(since).as_millis() as u64);
            if let Some(millis) = response_millis {
                let moderator = engine.moderators.get_mut(&moderator_id).expect("a known moderator");
                moderator.response_times.record(millis);
            }
            if engine.conversations.get(&key).and_then(|c| c.assigned_to).is_some() {
                engine.detach_conversation(key, ReleaseReason::Answered);
            }
            engine.release_client_lock(key, ReleaseReason::Answered);
            response_millis
        });
        Ok(Reply::MessageSent { client_id, profile_id, response_millis })
    }

    /// SPEC §3/§4 `preventDoubleInitiation`: a first-contact message needs the client to
    /// itself; a second moderator approaching the same client is refused.
    fn initiate(
        &mut self,
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
    ) -> Result<Reply, Rejection> {
        self.holder_check(moderator_id, profile_id, None)?;
        let client = self.known_client(client_id)?;
        if let Some(set) = client.lock.as_ref().filter(|set| set.moderator_id != moderator_id) {
            return Err(Rejection::DoubleInitiation {
                client_id,
                holder: set.moderator_id,
                expires_at: set.latest_expiry(),
            });
        }
        self.record_activity(moderator_id, Some(profile_id));
        let key = ConversationKey { client_id, profile_id };
        self.lock_client(key, moderator_id, LockReason::Initiation);
        let view = self
            .client_lock_views(client_id)
            .into_iter()
            .find(|view| view.profile_id == profile_id)
            .expect("the lock was just granted");
        Ok(Reply::ClientLock(view))
    }

    fn extend_client_lock(&mut self, key: ConversationKey, seconds: Duration, cap: Timestamp) {
        let client = self.clients.get_mut(&key.client_id).expect("the holder's client exists");
        let lock = client
            .lock
            .as_mut()
            .and_then(|set| set.locks.get_mut(&key.profile_id))
            .expect("only a held lock is extended");
        let until = lock.expires_at.plus(seconds).min(cap);
        if until <= lock.expires_at {
            return;
        }
        lock.expires_at = until;
        self.deadlines.renewed(Deadline::ClientLock(key.client_id, key.profile_id), until);
        self.announce_client_lock(key.client_id);
    }

    fn resolve_conflict(&mut self, moderator_id: ModeratorId, conflict_id: ConflictId) -> Result<Reply, Rejection> {
        self.known_moderator(moderator_id)?;
        let conflict = self.conflicts.get(&conflict_id).ok_or(Rejection::UnknownConflict(conflict_id))?;
        if !conflict.participants.contains(&moderator_id) {
            return Err(Rejection::NotConflictParticipant { moderator_id, conflict_id });
        }
        let now = self.now;
        self.record_presence(moderator_id);
        if let Some(conflict) = self.conflicts.get_mut(&conflict_id) {
            if conflict.resolved_at.is_none() {
                conflict.resolved_at = Some(now);
                conflict.resolved_by = Some(moderator_id);
            }
        }
        self.integrity_sweep();
        Ok(Reply::Conflict(self.conflicts[&conflict_id].view()))
    }

    /// A supervisor assigns a profile with a manual lock, taking it from its holder if needed.
    fn pin(&mut self, profile_id: ProfileId, moderator_id: ModeratorId) -> Result<Reply, Rejection> {
        let profile = self.known_profile(profile_id)?;
        if !profile.active {
            return Err(Rejection::ProfileInactive(profile_id));
        }
        let holder = profile.holder();
        let moderator = self.known_moderator(moderator_id)?;
        if !matches!(moderator.state, ModeratorState::Queued | ModeratorState::Working) {
            return Err(Rejection::NotConnected(moderator_id));
        }
        let held = moderator.profile_count();
        if holder != Some(moderator_id) && held >= self.config.max_profiles_per_moderator {
            return Err(Rejection::ModeratorAtCapacity { moderator_id, held });
        }
        match holder {
            Some(current) if current == moderator_id => self.make_manual(profile_id),
            Some(_) => {
                let now = self.now;
                self.hand_over_profile(profile_id, moderator_id, ReleaseReason::Supervisor, AssignReason::Pinned, now)
            }
            None => self.assign_profile(profile_id, moderator_id, AssignReason::Pinned),
        }
        Ok(Reply::ProfileLease(self.lease_view(profile_id).expect("the profile was just pinned")))
    }

    fn make_manual(&mut self, profile_id: ProfileId) {
        let profile = self.profiles.get_mut(&profile_id).expect("pinning a known profile");
        let lease = profile.lease.as_mut().expect("only the holder's own lease is made manual");
        lease.expires_at = None;
        self.deadlines.unfile(Deadline::ProfileLease(profile_id));
        lease.lock_type = LockType::Manual;
        self.announce_lease(profile_id);
    }

    /// Clients for whom this moderator holds a lock, for its console (helper for views).
    pub(crate) fn clients_locked_by(&self, moderator_id: ModeratorId) -> BTreeSet<ClientId> {
        self.moderators
            .get(&moderator_id)
            .map(|moderator| {
                moderator
                    .assignments
                    .values()
                    .flat_map(|assignment| assignment.locked_clients.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn conversation_mut(&mut self, key: ConversationKey) -> &mut Conversation {
        self.conversations.get_or_insert_with(key, Conversation::default)
    }
}

fn extension_seconds(seconds: u32) -> Result<Duration, Rejection> {
    if seconds == 0 || seconds > MAX_EXTENSION_SECONDS {
        return Err(Rejection::InvalidValue("an extension is between 1 second and 24 hours"));
    }
    Ok(Duration::from_secs(u64::from(seconds)))
}
