//! Read-only answers about the state, shaped as API.md's objects (but not as JSON: the server
//! owns the wire format).

use crate::ids::{ClientId, ConflictId, FencingToken, ModeratorId, ProfileId, Timestamp};
use crate::model::{LockReason, LockType, ModeratorState};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuePlace {
    pub position: u32,
    pub estimated_wait_seconds: u64,
}

/// API.md's moderator status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeratorStatus {
    pub moderator_id: ModeratorId,
    pub state: ModeratorState,
    pub profiles: Vec<ProfileId>,
    pub load: u32,
    pub queue: Option<QueuePlace>,
}

/// API.md's queue status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    pub in_queue: bool,
    pub position: Option<u32>,
    pub estimated_wait_seconds: Option<u64>,
    pub queued_at: Option<Timestamp>,
    pub priority: i32,
    pub queue_length: u32,
    pub available_profiles: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileLeaseView {
    pub profile_id: ProfileId,
    pub moderator_id: ModeratorId,
    pub lock_type: LockType,
    pub locked_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub token: FencingToken,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLockView {
    pub client_id: ClientId,
    pub profile_id: ProfileId,
    pub moderator_id: ModeratorId,
    pub lock_reason: LockReason,
    pub locked_at: Timestamp,
    pub expires_at: Timestamp,
    pub token: FencingToken,
}

/// A waiting conversation of this moderator's profiles whose client another moderator holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedClient {
    pub client_id: ClientId,
    pub profile_id: ProfileId,
    pub holder_id: ModeratorId,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockStatus {
    pub profile_locks: Vec<ProfileLeaseView>,
    pub client_locks: Vec<ClientLockView>,
    pub blocked_clients: Vec<BlockedClient>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictView {
    pub conflict_id: ConflictId,
    pub participants: Vec<ModeratorId>,
    pub strategy: &'static str,
    pub winners: Vec<ModeratorId>,
    pub queued: Vec<ModeratorId>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<ModeratorId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceMove {
    pub profile_id: ProfileId,
    pub from_moderator_id: ModeratorId,
    pub to_moderator_id: ModeratorId,
    pub conversations: u32,
}

/// What one monitor run did, step by step (SPEC §7 order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorReport {
    pub expired_leases: u32,
    pub expired_client_locks: u32,
    pub disconnected: Vec<ModeratorId>,
    pub set_away: Vec<ModeratorId>,
    pub orphan_profiles: Vec<ProfileId>,
    pub assignments: u32,
    pub moves: Vec<BalanceMove>,
    pub repairs: Vec<String>,
    pub alerts: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModeratorLoad {
    pub moderator_id: ModeratorId,
    pub state: ModeratorState,
    pub profiles: Vec<ProfileId>,
    pub load: u32,
    pub replies: u64,
    pub median_response_seconds: Option<f64>,
    pub p95_response_seconds: Option<f64>,
}

/// SPEC §7 `generateLoadReport`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReport {
    pub moderators: Vec<ModeratorLoad>,
    pub total_load: u64,
    pub working: u32,
    pub queued: u32,
    pub mean_load: f64,
    pub free_profiles: u32,
    pub orphan_profiles: u32,
    pub waiting_conversations: u64,
}
