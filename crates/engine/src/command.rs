//! What can be asked of the engine (`Command`) and what it answers (`Reply`).
//!
//! A command is one intention of one actor, already authenticated and validated for shape by
//! the server; the engine decides whether it is allowed and what it changes.

use std::sync::Arc;

use crate::ids::{ClientId, ConflictId, FencingToken, MessageId, ModeratorId, ProfileId, Timestamp};
use crate::view::{ClientLockView, ConflictView, ModeratorStatus, MonitorReport, ProfileLeaseView, QueueStatus};

/// Who is asking for a queue priority change: the limit `max_self_priority` binds moderators only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityActor {
    Moderator,
    Supervisor,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    // Directory, from the host platform.
    UpsertModerator {
        moderator_id: ModeratorId,
        name: String,
    },
    UpsertProfile {
        profile_id: ProfileId,
        name: String,
        active: bool,
    },
    UpsertClient {
        client_id: ClientId,
        name: String,
    },
    /// An inbound client message. `body` travels with the conversation until it is answered
    /// so that `ConversationAssigned` can carry it.
    InboundMessage {
        message_id: MessageId,
        client_id: ClientId,
        profile_id: ProfileId,
        body: Arc<str>,
        sent_at: Timestamp,
    },

    // A moderator's own actions.
    /// `connected_at` is when the connection reached the service, which may be a little
    /// before the writer processes it; collisions are judged on it (SPEC §6).
    Connect {
        moderator_id: ModeratorId,
        connected_at: Timestamp,
    },
    Disconnect {
        moderator_id: ModeratorId,
    },
    /// Presence only (an API call or a heartbeat), never activity.
    Heartbeat {
        moderator_id: ModeratorId,
    },
    /// The moderator's realtime connection subscribed to its own channel (true) or went (false).
    RealtimePresence {
        moderator_id: ModeratorId,
        connected: bool,
    },
    Typing {
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        lease_token: Option<FencingToken>,
    },
    SendMessage {
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
        lease_token: Option<FencingToken>,
    },
    Initiate {
        moderator_id: ModeratorId,
        client_id: ClientId,
        profile_id: ProfileId,
    },
    LeaveQueue {
        moderator_id: ModeratorId,
    },
    SetPriority {
        moderator_id: ModeratorId,
        priority: i32,
        actor: PriorityActor,
    },
    ReleaseProfile {
        moderator_id: ModeratorId,
        profile_id: ProfileId,
    },
    ReleaseClient {
        moderator_id: ModeratorId,
        client_id: ClientId,
    },
    ExtendProfileLease {
        moderator_id: ModeratorId,
        profile_id: ProfileId,
        seconds: u32,
    },
    ExtendClientLock {
        moderator_id: ModeratorId,
        client_id: ClientId,
        seconds: u32,
    },
    ResolveConflict {
        moderator_id: ModeratorId,
        conflict_id: ConflictId,
    },

    // Supervisors and the timer.
    SupervisorUnlockProfile {
        profile_id: ProfileId,
    },
    SupervisorPinProfile {
        profile_id: ProfileId,
        moderator_id: ModeratorId,
    },
    RunMonitor,
    Rebalance,
}

/// What a successful command answers; events describing the change are drained separately.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Done,
    Moderator(ModeratorStatus),
    Profile {
        profile_id: ProfileId,
        active: bool,
    },
    Client {
        client_id: ClientId,
    },
    MessageAccepted {
        message_id: MessageId,
        client_id: ClientId,
        profile_id: ProfileId,
        duplicate: bool,
    },
    /// A moderator's message was accepted; the conversation it answered, if one was waiting,
    /// waited this long.
    MessageSent {
        client_id: ClientId,
        profile_id: ProfileId,
        response_millis: Option<u64>,
    },
    ClientLock(ClientLockView),
    ClientLocks(Vec<ClientLockView>),
    ProfileLease(ProfileLeaseView),
    Queue(QueueStatus),
    Conflict(ConflictView),
    Monitor(MonitorReport),
    Moves(Vec<crate::view::BalanceMove>),
}
