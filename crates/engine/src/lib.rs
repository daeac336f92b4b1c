//! Switchboard's rules engine: which moderator operates which profile, and which moderator
//! may answer which client (SPEC §2 to §8).
//!
//! The engine is a deterministic state machine in the sans-I/O style: the caller passes `now`
//! with every command (`Engine::handle`), the engine decides, changes its state and queues
//! the events that describe the change (`Engine::drain_events`). It never reads a clock,
//! never does I/O, never spawns, never draws an unseeded random number. The server owns it
//! from a single writer task and persists what it decides.
//!
//! This file holds the engine's state (records in slabs, `Indexes`, `Deadlines`, per-command
//! scratch), `handle` and `advance`, the accessors, and the few helpers every rule uses
//! (tokens, events, filing in the indexes). The rules live in the module of their SPEC
//! section: states and activity (`states.rs`, §2), leases (`leases.rs`) and client locks
//! (`client_locks.rs`, §3), assignment (`assignments.rs`, §4), the queue (`queue.rs`, §5),
//! conflicts (`conflicts.rs`, §6), balancing and the monitor (`balance.rs`, `monitor.rs`,
//! §7), the integrity check (`integrity.rs`), invariants (`invariants.rs`, §8); one handler
//! per command in `commands.rs`.

mod assignments;
mod balance;
mod client_locks;
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
mod leases;
mod model;
mod monitor;
mod persistence;
mod queue;
mod rejection;
pub mod rng;
pub mod simulation;
mod slab;
mod states;
mod stored;
mod tracked;
mod view;
mod views;
mod violation;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

pub use crate::command::{Command, PriorityActor, Reply};
pub use crate::config::{Config, ConflictStrategy};
pub use crate::conflict::Conflict;
pub use crate::event::{Alert, AlertKind, AlertSubject, AssignReason, Channel, Event, ReleaseReason, Severity};
pub use crate::ids::{
    AlertId, ClientId, ConflictId, ConversationKey, FencingToken, InvalidMessageKey, MessageId, MessageKey,
    ModeratorId, ProfileId, Timestamp,
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
    /// Invariant 8 (idempotency): a string id of digits is taken for the integer it spells.
    MessageKeysAsNumbers,
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
    pub(crate) fn expiry_of(&self, deadline: Deadline) -> Option<Timestamp> {
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

    pub fn is_message_known(&self, message_id: &MessageId) -> bool {
        self.messages.contains_key(message_id)
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

    pub(crate) fn next_token(&mut self) -> FencingToken {
        self.next_token += 1;
        FencingToken(self.next_token)
    }

    #[cfg(test)]
    pub(crate) fn faulty(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn faulty(&self, _fault: Fault) -> bool {
        false
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Files a moderator under the keys its current fields call for (unless a rule holds it
    /// back to file it once at the end, see `refile_held`).
    pub(crate) fn refile_moderator(&mut self, moderator_id: ModeratorId) {
        if self.refile_held == Some(moderator_id) {
            return;
        }
        let moderator = self.moderators.get_mut(&moderator_id).expect("refiling a known moderator");
        self.indexes.file_moderator(moderator, self.config.max_profiles_per_moderator);
    }

    /// Runs `change` with `moderator_id`'s index keys held back (`refile_held`), then files
    /// it once: for a command that moves the same moderator's keys several times. `change`
    /// must not read the moderator indexes (only `settle`, balancing and the monitor do).
    pub(crate) fn holding_refile<R>(&mut self, moderator_id: ModeratorId, change: impl FnOnce(&mut Self) -> R) -> R {
        let outer = self.refile_held.replace(moderator_id);
        let result = change(self);
        self.refile_held = outer;
        self.refile_moderator(moderator_id);
        result
    }

    /// Files a profile under the keys its current fields call for.
    pub(crate) fn refile_profile(&mut self, profile_id: ProfileId) {
        let profile = self.profiles.get_mut(&profile_id).expect("refiling a known profile");
        self.indexes.file_profile(profile, self.now);
    }

    /// End of a command: announce forced reassignments with their new holders, renumber the
    /// queue and announce changed positions.
    pub(crate) fn finish_command(&mut self) {
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
