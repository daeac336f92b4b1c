//! Switchboard's rules engine: which moderator operates which profile, and which moderator
//! may answer which client (SPEC §2 to §8).
//!
//! The engine is a deterministic state machine in the sans-I/O style: the caller passes `now`
//! with every command (`Engine::handle`), the engine decides, changes its state and queues
//! the events that describe the change (`Engine::drain_events`). It never reads a clock,
//! never does I/O, never spawns, never draws an unseeded random number. The server owns it
//! from a single writer task and persists what it decides.
//!
//! This file holds the engine's state and the primitives every rule is built from (leases,
//! client locks, assigning and releasing profiles and conversations, filing entities in the
//! ordered indexes). The rules themselves live in the modules named after them.

mod balance;
mod command;
mod commands;
mod config;
mod conflict;
mod conflicts;
mod event;
mod ids;
mod index;
mod indexes;
mod integrity;
mod invariants;
mod model;
mod monitor;
mod persistence;
mod queue;
mod rejection;
pub mod rng;
pub mod simulation;
mod slab;
mod stored;
mod tracked;
mod view;
mod views;
mod violation;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

pub use crate::command::{Command, PriorityActor, Reply};
pub use crate::config::{Config, ConflictStrategy};
pub use crate::conflict::Conflict;
pub use crate::event::{Alert, AlertKind, AlertSubject, AssignReason, Channel, Event, ReleaseReason, Severity};
pub use crate::ids::{
    AlertId, ClientId, ConflictId, ConversationKey, FencingToken, MessageId, ModeratorId, ProfileId, Timestamp,
};
pub use crate::model::{
    Assignment, Client, ClientLock, ClientLockSet, Conversation, LockReason, LockType, MessageSummary, Moderator,
    ModeratorState, Profile, ProfileLease, QueueEntry, ResponseTimes,
};
pub use crate::rejection::Rejection;
pub use crate::stored::{Changes, EngineMeta, RestoredState};
pub use crate::view::{
    BalanceMove, BlockedClient, ClientLockView, ConflictView, LoadReport, LockStatus, ModeratorLoad, ModeratorStatus,
    MonitorReport, ProfileLeaseView, QueuePlace, QueueStatus,
};
pub use crate::violation::Violation;

use crate::conflict::ConnectWin;
use crate::index::{Deadline, Deadlines};
use crate::indexes::Indexes;
use crate::slab::Slab;
use crate::tracked::Tracked;

/// How many recent alerts the engine keeps for views (storage keeps all of them).
pub const RECENT_ALERTS_KEPT: usize = 1000;
/// How many recent profile releases feed the wait estimate (SPEC §5).
pub const RELEASE_INTERVAL_WINDOW: usize = 20;

/// A rule deliberately broken, so that tests can prove the invariant checks notice. Only
/// test builds can set one; elsewhere `faulty` is a constant `false` the compiler removes.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Invariant 1: an away moderator keeps its profiles.
    KeepProfilesWhenAway,
    /// Invariant 2: a handed-over profile leaves its conversations with the old holder.
    LeaveConversationsOnHandover,
    /// Invariant 3: a conversation is assigned even though another moderator holds the client.
    IgnoreClientLock,
    /// Invariant 4: positions are not renumbered when someone leaves the queue.
    SkipQueueRenumbering,
    /// Invariant 5: a disconnecting moderator keeps its queue entry.
    KeepQueueEntryOnDisconnect,
    /// Invariant 6: a freed profile is not offered to the queue.
    SkipQueueProcessing,
    /// Invariant 7: balancing ignores the anti-ping-pong delay.
    IgnoreAntiPingPong,
    /// Invariant 8: a conversation whose holder loses the profile stops waiting.
    ForgetWaitingOnRelease,
    /// Invariant 8 (durability): changes to moderators are not reported for storage.
    DropModeratorChanges,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Engine {
    config: Config,
    now: Timestamp,

    /// The entities, in dense slots with changed flags (`slab.rs`).
    moderators: Slab<ModeratorId, Moderator>,
    profiles: Slab<ProfileId, Profile>,
    clients: Slab<ClientId, Client>,
    conversations: Slab<ConversationKey, Conversation>,
    /// Every accepted inbound message id, for idempotent ingestion (invariant 8).
    messages: Tracked<FxHashMap<MessageId, ConversationKey>, MessageId>,

    /// Every ordered index over the records but the deadlines (`indexes.rs`).
    indexes: Indexes,
    /// Expiry instants of leases and client locks (`index.rs`).
    deadlines: Deadlines,

    /// A moderator whose index keys are being changed many times in a row (conversations
    /// given to it one by one): `refile_moderator` leaves it alone until the caller refiles it
    /// once, at the end. Nothing reads the indexes meanwhile.
    refile_held: Option<ModeratorId>,
    /// Empty buffers lent to the rules that must list ids before acting on them (acting
    /// borrows the engine), so that the hot ones do not allocate on every command. A rule
    /// takes one, and gives it back empty; one nested inside gets a new one, as it would
    /// without the buffer.
    spare_profile_ids: Vec<ProfileId>,
    spare_client_ids: Vec<ClientId>,
    /// The release interval changed: every estimate is recomputed when the command ends.
    estimates_stale: bool,
    /// Profiles freed against their holder's will during this command, announced with
    /// `ForcedReassignment` once the command has found them a new holder.
    forced_releases: Vec<(ModeratorId, ProfileId, ReleaseReason)>,
    releases: VecDeque<Timestamp>,
    queue_nonempty_since: Option<Timestamp>,
    last_assignment_at: Timestamp,
    queue_stall_alerted: bool,
    assignments_made: u64,
    expired_leases: u32,
    expired_client_locks: u32,

    recent_connect_wins: Vec<ConnectWin>,
    conflicts: Tracked<BTreeMap<ConflictId, Conflict>, ConflictId>,
    overload_alerted_at: BTreeMap<ModeratorId, Timestamp>,
    recent_alerts: VecDeque<Alert>,
    integrity_moderator_cursor: Option<ModeratorId>,
    integrity_profile_cursor: Option<ProfileId>,

    next_token: u64,
    next_conflict_id: u64,
    next_alert_id: u64,
    /// `meta()` as of the last `take_changes`, to tell whether it changed.
    stored_meta: EngineMeta,

    events: Vec<Event>,

    #[cfg(test)]
    fault: Option<Fault>,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        Engine {
            config,
            now: Timestamp(0),
            moderators: Slab::walked_in_id_order(),
            profiles: Slab::walked_in_id_order(),
            clients: Slab::unordered(),
            conversations: Slab::unordered(),
            messages: Tracked::default(),
            indexes: Indexes::default(),
            deadlines: Deadlines::default(),
            refile_held: None,
            spare_profile_ids: Vec::new(),
            spare_client_ids: Vec::new(),
            estimates_stale: false,
            forced_releases: Vec::new(),
            releases: VecDeque::with_capacity(RELEASE_INTERVAL_WINDOW),
            queue_nonempty_since: None,
            last_assignment_at: Timestamp(0),
            queue_stall_alerted: false,
            assignments_made: 0,
            expired_leases: 0,
            expired_client_locks: 0,
            recent_connect_wins: Vec::new(),
            conflicts: Tracked::default(),
            overload_alerted_at: BTreeMap::new(),
            recent_alerts: VecDeque::new(),
            integrity_moderator_cursor: None,
            integrity_profile_cursor: None,
            next_token: 0,
            next_conflict_id: 0,
            next_alert_id: 0,
            stored_meta: EngineMeta::default(),
            events: Vec::new(),
            #[cfg(test)]
            fault: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine's notion of the present: the latest `now` it was given.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Applies one command at `now`. Time first moves forward to `now` (expiring what is due);
    /// then the command is checked and, if allowed, applied; then free profiles are given out
    /// and queue positions renumbered. A rejected command changes nothing.
    pub fn handle(&mut self, now: Timestamp, command: Command) -> Result<Reply, Rejection> {
        self.advance(now);
        let result = self.apply(command);
        self.settle();
        self.finish_command();
        result
    }

    /// Moves time forward to `now` and processes every lease and lock that expired meanwhile,
    /// in order of expiry. Time never goes back: an earlier `now` is treated as the present.
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        while let Some((at, deadline)) = self.deadlines.first() {
            if at > self.now {
                break;
            }
            // A deadline that stays (renewed since it was filed, or a lock renewed in place)
            // is moved down the heap where it stands rather than taken out and filed again.
            match (deadline, self.expiry_of(deadline)) {
                (_, None) => {
                    self.deadlines.pop_first();
                }
                (_, Some(later)) if later > self.now => self.deadlines.postpone_first(later),
                (Deadline::ProfileLease(profile_id), Some(_)) => {
                    self.deadlines.pop_first();
                    self.expired_leases += 1;
                    self.release_profile(profile_id, ReleaseReason::LeaseExpired);
                }
                (Deadline::ClientLock(client_id, profile_id), Some(_)) => {
                    self.expired_client_locks += 1;
                    self.expire_client_lock(client_id, profile_id);
                }
            }
        }
        self.settle();
        self.finish_command();
    }

    /// The true expiry of what a deadline stands for (renewals may have moved it later).
    fn expiry_of(&self, deadline: Deadline) -> Option<Timestamp> {
        match deadline {
            Deadline::ProfileLease(profile_id) => self.profiles.get(&profile_id)?.lease.as_ref()?.expires_at,
            Deadline::ClientLock(client_id, profile_id) => {
                Some(self.clients.get(&client_id)?.lock.as_ref()?.locks.get(&profile_id)?.expires_at)
            }
        }
    }

    /// The next instant at which something may expire, for the server's timer (it can be
    /// earlier than a renewed expiry: waking then is harmless).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(at, _)| at)
    }

    /// Takes the events produced since the last call, in the order they happened.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    // ----- Reading the state -----

    pub fn moderator(&self, moderator_id: ModeratorId) -> Option<&Moderator> {
        self.moderators.get(&moderator_id)
    }

    pub fn moderators(&self) -> impl Iterator<Item = &Moderator> {
        self.moderators.values()
    }

    pub fn profile(&self, profile_id: ProfileId) -> Option<&Profile> {
        self.profiles.get(&profile_id)
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    pub fn client(&self, client_id: ClientId) -> Option<&Client> {
        self.clients.get(&client_id)
    }

    /// Every client, in no particular order.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    pub fn conversation(&self, key: ConversationKey) -> Option<&Conversation> {
        self.conversations.get(&key)
    }

    pub fn conversations(&self) -> impl Iterator<Item = (&ConversationKey, &Conversation)> {
        self.conversations.iter()
    }

    pub fn is_message_known(&self, message_id: MessageId) -> bool {
        self.messages.contains_key(&message_id)
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &Conflict> {
        self.conflicts.values()
    }

    pub fn conflict(&self, conflict_id: ConflictId) -> Option<&Conflict> {
        self.conflicts.get(&conflict_id)
    }

    pub fn recent_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.recent_alerts.iter()
    }

    pub fn queue_length(&self) -> u32 {
        self.indexes.queue.len() as u32
    }

    pub fn free_profile_count(&self) -> u32 {
        self.indexes.free_profiles.len() as u32
    }

    /// Queued moderators, head first.
    pub fn queue_order(&self) -> impl Iterator<Item = ModeratorId> + '_ {
        self.indexes.queue.iter().map(|key| key.moderator_id)
    }

    // ----- Primitives shared by the rules -----

    fn next_token(&mut self) -> FencingToken {
        self.next_token += 1;
        FencingToken(self.next_token)
    }

    #[cfg(test)]
    fn faulty(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn faulty(&self, _fault: Fault) -> bool {
        false
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Files a moderator under the keys its current fields call for (unless a rule holds it
    /// back to file it once at the end, see `refile_held`).
    fn refile_moderator(&mut self, moderator_id: ModeratorId) {
        if self.refile_held == Some(moderator_id) {
            return;
        }
        let moderator = self.moderators.get_mut(&moderator_id).expect("refiling a known moderator");
        self.indexes.file_moderator(moderator, self.config.max_profiles_per_moderator);
    }

    /// Files a profile under the keys its current fields call for.
    fn refile_profile(&mut self, profile_id: ProfileId) {
        let profile = self.profiles.get_mut(&profile_id).expect("refiling a known profile");
        self.indexes.file_profile(profile, self.now);
    }

    fn set_state(&mut self, moderator_id: ModeratorId, state: ModeratorState) {
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

    /// Puts a moderator in the queue, in the place its priority and `queued_at` give it.
    fn enqueue(&mut self, moderator_id: ModeratorId, queued_at: Timestamp) {
        let moderator = self.moderators.get_mut(&moderator_id).expect("queueing a known moderator");
        if self.indexes.queue.is_empty() {
            self.queue_nonempty_since = Some(self.now);
        }
        moderator.queue = Some(QueueEntry { queued_at, position: 0, estimated_wait_seconds: 0, announced: None });
        self.set_state(moderator_id, ModeratorState::Queued);
    }

    /// Activity (SPEC §7): typing, sending, initiating, extending, connecting. Renews the
    /// holder's leases and restarts its inactivity clock.
    fn record_activity(&mut self, moderator_id: ModeratorId, on_profile: Option<ProfileId>) {
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
    fn record_presence(&mut self, moderator_id: ModeratorId) {
        let now = self.now;
        self.moderators.get_mut(&moderator_id).expect("presence of a known moderator").last_seen_at = now;
        self.refile_moderator(moderator_id);
    }

    /// Pushes a lease's expiry to at least `until` (pinned leases do not expire). Returns
    /// whether the change was announced.
    fn renew_lease(&mut self, profile_id: ProfileId, until: Timestamp) -> bool {
        let profile = self.profiles.get_mut(&profile_id).expect("renewing the lease of a known profile");
        let lease = profile.lease.as_mut().expect("only a held profile's lease is renewed");
        // A pinned lease has no expiry to push.
        let Some(expires_at) = lease.expires_at else { return false };
        if until <= expires_at {
            return false;
        }
        lease.expires_at = Some(until);
        self.deadlines.renewed(Deadline::ProfileLease(profile_id), until);
        // Renewal by activity is announced when the expiry moves by a tenth of the lease's
        // length, not on every keystroke: consoles show an expiry at most that early.
        let step = crate::ids::millis(self.config.profile_lock_ttl / 10).max(1);
        let announce = expires_at.0 / step != until.0 / step;
        if announce {
            self.announce_lease(profile_id);
        }
        announce
    }

    fn announce_lease(&mut self, profile_id: ProfileId) {
        let now = self.now;
        let profile = self.profiles.get(&profile_id).expect("announcing the lease of a known profile");
        let event = match &profile.lease {
            Some(lease) => Event::ProfileLockStatusChanged {
                profile_id,
                locked: true,
                lock_type: Some(lease.lock_type),
                moderator_id: Some(lease.moderator_id),
                duration_seconds: lease.expires_at.map(|at| at.since(now).as_secs()),
                expires_at: lease.expires_at,
            },
            None => Event::ProfileLockStatusChanged {
                profile_id,
                locked: false,
                lock_type: None,
                moderator_id: None,
                duration_seconds: None,
                expires_at: None,
            },
        };
        self.emit(event);
    }

    /// Gives a free profile to a moderator: lease, assignment, queue exit, then the profile's
    /// waiting conversations (SPEC §4).
    fn assign_profile(&mut self, profile_id: ProfileId, moderator_id: ModeratorId, reason: AssignReason) {
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

        let moderator = self.moderators.get_mut(&moderator_id).expect("checked above");
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
        self.refile_moderator(moderator_id);
        self.note_assignment();

        self.emit(Event::ProfileAssigned { moderator_id, profile_id, reason });
        self.announce_lease(profile_id);
        self.offer_waiting_conversations(profile_id);
    }

    fn note_assignment(&mut self) {
        self.last_assignment_at = self.now;
        self.queue_stall_alerted = false;
        self.assignments_made += 1;
    }

    /// Tries to give each unassigned waiting conversation of a profile to its holder.
    fn offer_waiting_conversations(&mut self, profile_id: ProfileId) {
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
    fn try_assign_conversation(&mut self, key: ConversationKey) -> bool {
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

    fn attach_conversation(&mut self, key: ConversationKey, moderator_id: ModeratorId) {
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
    fn detach_conversation(&mut self, key: ConversationKey, reason: ReleaseReason) {
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

    fn change_load(&mut self, moderator_id: ModeratorId, delta: i32) {
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

    /// Grants (or renews) `moderator_id`'s lock on a client for one of its conversations. The
    /// caller has checked that no other moderator holds the client.
    fn lock_client(&mut self, key: ConversationKey, moderator_id: ModeratorId, reason: LockReason) {
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
    fn blocked_on_client(&self, client_id: ClientId) -> impl Iterator<Item = (ModeratorId, ProfileId)> + '_ {
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

    fn announce_client_lock(&mut self, client_id: ClientId) {
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
    fn release_client_lock(&mut self, key: ConversationKey, reason: ReleaseReason) {
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

    fn client_unlocked(&mut self, client_id: ClientId) {
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
    fn expire_client_lock(&mut self, client_id: ClientId, profile_id: ProfileId) {
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

    /// Frees a profile: its conversations and client locks go, the lease goes, the profile
    /// returns to the free pool. The moderator, if still working with no profile left, joins
    /// the queue. Giving the profile out again is `settle`'s job at the end of the command.
    fn release_profile(&mut self, profile_id: ProfileId, reason: ReleaseReason) {
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
    fn hand_over_profile(
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
        let moderator = self.moderators.get_mut(&to).expect("checked above");
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
        self.set_state(to, ModeratorState::Working);
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

    /// A lock held by `from` under a profile that now belongs to `to`. It passes to `to` when
    /// it is `from`'s only lock on the client; otherwise `from` still handles the client under
    /// another profile, so this lock is dropped and the conversation waits for the client.
    fn pass_client_lock(&mut self, key: ConversationKey, from: ModeratorId, to: ModeratorId) {
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

    /// The conversation is no longer waiting: out of every waiting index.
    fn stop_waiting(&mut self, key: ConversationKey) -> Option<Timestamp> {
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
    fn settle(&mut self) {
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
    fn choose_queue_assignment(&self) -> (ProfileId, ModeratorId) {
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
    fn choose_least_busy(&self, profile_id: ProfileId) -> ModeratorId {
        let now = self.now;
        let first = self.indexes.capacity.first().map(|key| key.moderator_id).expect("a moderator has room");
        self.indexes
            .capacity
            .iter()
            .map(|key| key.moderator_id)
            .find(|id| self.moderators.get(id).is_some_and(|moderator| !moderator.refuses(profile_id, now)))
            .unwrap_or(first)
    }

    /// End of a command: announce forced reassignments with their new holders, renumber the
    /// queue and announce changed positions.
    fn finish_command(&mut self) {
        for (moderator_id, profile_id, reason) in std::mem::take(&mut self.forced_releases) {
            let new_moderator_id = self.profiles.get(&profile_id).and_then(Profile::holder);
            self.emit(Event::ForcedReassignment { moderator_id, profile_id, reason, new_moderator_id });
        }
        self.renumber_queue();
        if self.indexes.queue.is_empty() {
            self.queue_nonempty_since = None;
        }
    }
}
