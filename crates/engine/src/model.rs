//! The entities the rules act on: moderators, profiles, clients, conversations, and the
//! leases and locks that bind them.
//!
//! These are plain records. Which fields may change together, and the ordered indexes built
//! over them, are the engine's business (`lib.rs` and the rule modules); nothing here decides.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use std::sync::Arc;

use crate::ids::{ClientId, FencingToken, MessageId, ModeratorId, ProfileId, Timestamp};
use crate::index::{ModeratorKeys, ProfileKeys};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModeratorState {
    Offline,
    Queued,
    Working,
    Paused,
    Away,
}

impl ModeratorState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModeratorState::Offline => "offline",
            ModeratorState::Queued => "queued",
            ModeratorState::Working => "working",
            ModeratorState::Paused => "paused",
            ModeratorState::Away => "away",
        }
    }

    /// Connected in the sense of SPEC §2: everything but offline.
    pub fn is_connected(self) -> bool {
        self != ModeratorState::Offline
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockType {
    /// Taken when the profile is assigned; expires without activity.
    Assignment,
    /// Pinned by a supervisor: never moved by balancing, never expires.
    Manual,
}

impl LockType {
    pub fn as_str(self) -> &'static str {
        match self {
            LockType::Assignment => "assignment",
            LockType::Manual => "manual",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockReason {
    /// The moderator was given the client's waiting conversation.
    Conversation,
    /// The moderator is writing a first-contact message.
    Initiation,
    Typing,
}

impl LockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LockReason::Conversation => "conversation",
            LockReason::Initiation => "initiation",
            LockReason::Typing => "typing",
        }
    }
}

/// How many recent replies feed a moderator's response-time figures (SPEC §7).
pub const RESPONSE_TIME_WINDOW: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseTimes {
    /// The last `RESPONSE_TIME_WINDOW` response times, oldest first, in milliseconds.
    pub recent_millis: VecDeque<u64>,
    pub replies: u64,
}

impl ResponseTimes {
    pub fn record(&mut self, millis: u64) {
        if self.recent_millis.len() == RESPONSE_TIME_WINDOW {
            self.recent_millis.pop_front();
        }
        self.recent_millis.push_back(millis);
        self.replies += 1;
    }

    /// Nearest-rank percentile (`percent` in 1..=100) of the recent window.
    pub fn percentile_millis(&self, percent: u32) -> Option<u64> {
        if self.recent_millis.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.recent_millis.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (percent as usize * sorted.len()).div_ceil(100).max(1);
        Some(sorted[rank - 1])
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub queued_at: Timestamp,
    /// 1-based, gap-free (SPEC §5).
    pub position: u32,
    pub estimated_wait_seconds: u64,
    /// What the moderator was last told, so that only real changes are announced.
    pub announced: Option<(u32, u64)>,
}

/// One profile held by one moderator (the seed's `moderator_profile_assignments` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub assigned_at: Timestamp,
    /// Clients whose waiting conversation with this profile was given to the moderator.
    pub conversations: BTreeSet<ClientId>,
    /// Mirror of the client locks held under this assignment (the seed's `locked_clients`).
    pub locked_clients: BTreeSet<ClientId>,
    /// Last activity of the holder on this profile (the seed's `last_activity_check`).
    pub last_activity_check: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moderator {
    pub id: ModeratorId,
    pub name: String,
    pub state: ModeratorState,
    pub assignments: BTreeMap<ProfileId, Assignment>,
    /// Conversations in its assignments awaiting its reply (SPEC §4 "load").
    pub load: u32,
    pub priority: i32,
    pub queue: Option<QueueEntry>,
    pub connected_at: Option<Timestamp>,
    pub last_activity_at: Option<Timestamp>,
    /// When its load last went from zero to one: inactivity is counted from the later of this
    /// and its last activity, so a moderator is not declared away for silence while it had no work.
    pub loaded_since: Option<Timestamp>,
    /// Last API call or heartbeat (presence, SPEC §2).
    pub last_seen_at: Timestamp,
    pub realtime_connected: bool,
    pub last_assigned_at: Option<Timestamp>,
    /// Profiles it gave back or lost to inactivity, each with the instant until which it is
    /// not offered that profile again (anti-ping-pong, SPEC §4). Pruned as they pass.
    pub given_back: Vec<(ProfileId, Timestamp)>,
    pub response_times: ResponseTimes,
    /// Where it is filed in the engine's indexes.
    pub(crate) keys: ModeratorKeys,
}

impl Moderator {
    pub fn new(id: ModeratorId, name: String, now: Timestamp) -> Self {
        Moderator {
            id,
            name,
            state: ModeratorState::Offline,
            assignments: BTreeMap::new(),
            load: 0,
            priority: 0,
            queue: None,
            connected_at: None,
            last_activity_at: None,
            loaded_since: None,
            last_seen_at: now,
            realtime_connected: false,
            last_assigned_at: None,
            given_back: Vec::new(),
            response_times: ResponseTimes::default(),
            keys: ModeratorKeys::default(),
        }
    }

    pub fn profile_count(&self) -> u32 {
        self.assignments.len() as u32
    }

    pub fn refuses(&self, profile_id: ProfileId, now: Timestamp) -> bool {
        self.given_back.iter().any(|&(given, until)| given == profile_id && until > now)
    }

    /// The instant from which inactivity is measured.
    pub fn idle_since(&self) -> Option<Timestamp> {
        let since = self.loaded_since?;
        Some(self.last_activity_at.map_or(since, |activity| activity.max(since)))
    }
}

/// A profile lease (the `profile_locks` row of its holder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileLease {
    pub moderator_id: ModeratorId,
    pub locked_at: Timestamp,
    /// `None` for pinned (manual) leases, which do not expire.
    pub expires_at: Option<Timestamp>,
    pub lock_type: LockType,
    pub token: FencingToken,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub id: ProfileId,
    pub name: String,
    pub active: bool,
    pub lease: Option<ProfileLease>,
    /// Its waiting conversations, oldest first, by the time they started waiting.
    pub waiting: BTreeSet<(Timestamp, ClientId)>,
    /// Last time balancing moved it (anti-ping-pong is kept per profile).
    pub last_balanced_at: Option<Timestamp>,
    /// Last time its holder typed in one of its conversations (balancing's typing guard).
    pub last_typing_at: Option<Timestamp>,
    /// Since when it has been free with waiting conversations.
    pub orphan_since: Option<Timestamp>,
    pub orphan_alerted: bool,
    /// Where it is filed in the engine's indexes.
    pub(crate) keys: ProfileKeys,
}

impl Profile {
    pub fn new(id: ProfileId, name: String, active: bool) -> Self {
        Profile {
            id,
            name,
            active,
            lease: None,
            waiting: BTreeSet::new(),
            last_balanced_at: None,
            last_typing_at: None,
            orphan_since: None,
            orphan_alerted: false,
            keys: ProfileKeys::default(),
        }
    }

    pub fn holder(&self) -> Option<ModeratorId> {
        self.lease.as_ref().map(|lease| lease.moderator_id)
    }

    pub fn is_free(&self) -> bool {
        self.active && self.lease.is_none()
    }

    pub fn oldest_waiting(&self) -> Option<Timestamp> {
        self.waiting.first().map(|&(since, _)| since)
    }
}

/// One `client_locks` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLock {
    pub locked_at: Timestamp,
    pub expires_at: Timestamp,
    pub reason: LockReason,
    pub token: FencingToken,
}

/// All locks on one client. One holder by construction: this is SPEC invariant 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLockSet {
    pub moderator_id: ModeratorId,
    pub locks: BTreeMap<ProfileId, ClientLock>,
}

impl ClientLockSet {
    pub fn latest_expiry(&self) -> Timestamp {
        self.locks.values().map(|lock| lock.expires_at).max().unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub lock: Option<ClientLockSet>,
    /// Its waiting conversations, oldest first.
    pub waiting: BTreeSet<(Timestamp, ProfileId)>,
}

impl Client {
    pub fn new(id: ClientId, name: String) -> Self {
        Client { id, name, lock: None, waiting: BTreeSet::new() }
    }

    pub fn lock_holder(&self) -> Option<ModeratorId> {
        self.lock.as_ref().map(|set| set.moderator_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conversation {
    /// When its oldest unanswered inbound message arrived; `None` when answered.
    pub waiting_since: Option<Timestamp>,
    /// The newest inbound message while waiting (dropped once answered, to keep memory small).
    pub last_inbound: Option<MessageSummary>,
    pub assigned_to: Option<ModeratorId>,
    pub inbound_messages: u32,
    pub last_reply_at: Option<Timestamp>,
    /// A `client_waiting_too_long` alert was raised for the current wait.
    pub wait_alerted: bool,
}

/// The inbound message a conversation is waiting on, carried by `ConversationAssigned`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    pub message_id: MessageId,
    pub body: Arc<str>,
    pub sent_at: Timestamp,
    pub received_at: Timestamp,
}
