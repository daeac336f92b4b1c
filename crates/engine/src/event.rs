//! Events: the engine's announcements of what changed, as data.
//!
//! Every event of the table in API.md, with its fields. The engine only produces them; the
//! server stores them in the outbox with the change and delivers them after commit. Each
//! event knows its wire name and the channels it goes to.

use crate::ids::{AlertId, ClientId, ConflictId, ModeratorId, ProfileId, Timestamp};
use crate::model::{LockType, MessageSummary, ModeratorState};

/// Why a moderator gained a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssignReason {
    /// The moderator was at the head of the queue (or the only one who could take it).
    Queue,
    /// No one was queued; the least busy working moderator took a profile with waiting work.
    LeastBusy,
    Rebalance,
    Conflict,
    /// A supervisor pinned it (manual lock).
    Pinned,
}

/// Why a moderator lost a profile or a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// The holder gave it back (`request-unlock`).
    Released,
    LeaseExpired,
    Inactivity,
    Supervisor,
    Disconnected,
    /// No realtime connection and no API call for `presence_timeout`.
    PresenceLost,
    Rebalance,
    Conflict,
    /// The platform deactivated the profile.
    Deactivated,
    /// The integrity check found the holding inconsistent and undid it.
    Repaired,
    /// The conversation was answered (conversations only).
    Answered,
    /// The client lock under which the conversation was held expired (conversations only).
    LockExpired,
}

impl AssignReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignReason::Queue => "queue",
            AssignReason::LeastBusy => "least_busy",
            AssignReason::Rebalance => "rebalance",
            AssignReason::Conflict => "conflict",
            AssignReason::Pinned => "pinned",
        }
    }
}

impl ReleaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::Released => "released",
            ReleaseReason::LeaseExpired => "lease_expired",
            ReleaseReason::Inactivity => "inactivity",
            ReleaseReason::Supervisor => "supervisor",
            ReleaseReason::Disconnected => "disconnected",
            ReleaseReason::PresenceLost => "presence_lost",
            ReleaseReason::Rebalance => "rebalance",
            ReleaseReason::Conflict => "conflict",
            ReleaseReason::Deactivated => "deactivated",
            ReleaseReason::Repaired => "repaired",
            ReleaseReason::Answered => "answered",
            ReleaseReason::LockExpired => "lock_expired",
        }
    }

    /// Reasons that take a profile from a moderator against its will and are announced with
    /// `ForcedReassignment` (API.md lists these five).
    pub fn is_forced(self) -> bool {
        matches!(
            self,
            ReleaseReason::Inactivity
                | ReleaseReason::Rebalance
                | ReleaseReason::Supervisor
                | ReleaseReason::LeaseExpired
                | ReleaseReason::Conflict
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    ClientWaitingTooLong,
    OrphanProfile,
    ModeratorOverloaded,
    QueueStalled,
    InconsistencyRepaired,
    Conflict,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ClientWaitingTooLong => "client_waiting_too_long",
            AlertKind::OrphanProfile => "orphan_profile",
            AlertKind::ModeratorOverloaded => "moderator_overloaded",
            AlertKind::QueueStalled => "queue_stalled",
            AlertKind::InconsistencyRepaired => "inconsistency_repaired",
            AlertKind::Conflict => "conflict",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            AlertKind::Conflict => Severity::Info,
            AlertKind::ClientWaitingTooLong
            | AlertKind::OrphanProfile
            | AlertKind::ModeratorOverloaded
            | AlertKind::InconsistencyRepaired => Severity::Warning,
            AlertKind::QueueStalled => Severity::Critical,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What an alert is about; the server renders it as the alert's `data` object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertSubject {
    Conversation { client_id: ClientId, profile_id: ProfileId, moderator_id: Option<ModeratorId>, waiting_seconds: u64 },
    Profile { profile_id: ProfileId, waiting_conversations: u32, orphan_seconds: u64 },
    Moderator { moderator_id: ModeratorId, load: u32, mean_load_milli: u64, oldest_waiting_seconds: u64 },
    Queue { queue_length: u32, stalled_seconds: u64 },
    Repair { description: String },
    Conflict { conflict_id: ConflictId, participants: Vec<ModeratorId> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub alert_id: AlertId,
    pub kind: AlertKind,
    pub severity: Severity,
    pub subject: AlertSubject,
    pub raised_at: Timestamp,
}

/// Where an event is delivered (API.md channel names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `private-moderator.{id}`
    Moderator(ModeratorId),
    /// `private-profile.{id}`
    Profile(ProfileId),
    /// `private-supervisors`
    Supervisors,
}

impl Channel {
    pub fn name(self) -> String {
        match self {
            Channel::Moderator(id) => format!("private-moderator.{id}"),
            Channel::Profile(id) => format!("private-profile.{id}"),
            Channel::Supervisors => "private-supervisors".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    ModeratorQueuePositionChanged {
        moderator_id: ModeratorId,
        /// `None` once the moderator has left the queue.
        position: Option<u32>,
        estimated_wait_seconds: Option<u64>,
        available_profiles: u32,
    },
    ProfileLockStatusChanged {
        profile_id: ProfileId,
        locked: bool,
        lock_type: Option<LockType>,
        moderator_id: Option<ModeratorId>,
        /// Remaining length of the lease when announced; `None` for unlocked or pinned profiles.
        duration_seconds: Option<u64>,
        expires_at: Option<Timestamp>,
    },
    ProfileAssigned {
        moderator_id: ModeratorId,
        profile_id: ProfileId,
        reason: AssignReason,
    },
    ProfileUnassigned {
        moderator_id: ModeratorId,
        profile_id: ProfileId,
        reason: ReleaseReason,
    },
    ForcedReassignment {
        moderator_id: ModeratorId,
        profile_id: ProfileId,
        reason: ReleaseReason,
        new_moderator_id: Option<ModeratorId>,
    },
    ConversationAssigned {
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        message: Option<MessageSummary>,
    },
    ConversationReleased {
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        reason: ReleaseReason,
    },
    /// Sent to each moderator whose waiting conversation with this client is blocked (or
    /// unblocked) by another moderator's lock.
    ClientLockStatusChanged {
        recipient_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        locked: bool,
        moderator_id: Option<ModeratorId>,
        expires_at: Option<Timestamp>,
    },
    ConflictResolved {
        recipient_id: ModeratorId,
        conflict_id: ConflictId,
        participants: Vec<ModeratorId>,
        strategy: &'static str,
        winners: Vec<ModeratorId>,
        queued: Vec<ModeratorId>,
    },
    AlertRaised(Alert),
    /// Not in API.md's table: tells supervisors' dashboards that a moderator changed state.
    ModeratorStateChanged {
        moderator_id: ModeratorId,
        state: ModeratorState,
    },
}

impl Event {
    /// The event's class name; the server prefixes the configured namespace.
    pub fn name(&self) -> &'static str {
        match self {
            Event::ModeratorQueuePositionChanged { .. } => "ModeratorQueuePositionChanged",
            Event::ProfileLockStatusChanged { .. } => "ProfileLockStatusChanged",
            Event::ProfileAssigned { .. } => "ProfileAssigned",
            Event::ProfileUnassigned { .. } => "ProfileUnassigned",
            Event::ForcedReassignment { .. } => "ForcedReassignment",
            Event::ConversationAssigned { .. } => "ConversationAssigned",
            Event::ConversationReleased { .. } => "ConversationReleased",
            Event::ClientLockStatusChanged { .. } => "ClientLockStatusChanged",
            Event::ConflictResolved { .. } => "ConflictResolved",
            Event::AlertRaised(_) => "AlertRaised",
            Event::ModeratorStateChanged { .. } => "ModeratorStateChanged",
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Event::ModeratorQueuePositionChanged { moderator_id, .. }
            | Event::ProfileAssigned { moderator_id, .. }
            | Event::ProfileUnassigned { moderator_id, .. }
            | Event::ForcedReassignment { moderator_id, .. }
            | Event::ConversationAssigned { moderator_id, .. }
            | Event::ConversationReleased { moderator_id, .. } => Channel::Moderator(*moderator_id),
            Event::ClientLockStatusChanged { recipient_id, .. } | Event::ConflictResolved { recipient_id, .. } => {
                Channel::Moderator(*recipient_id)
            }
            Event::ProfileLockStatusChanged { profile_id, .. } => Channel::Profile(*profile_id),
            Event::AlertRaised(_) | Event::ModeratorStateChanged { .. } => Channel::Supervisors,
        }
    }
}
