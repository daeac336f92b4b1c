//! Why a command was refused. A refused command changes nothing.

use crate::ids::{ClientId, ConflictId, ModeratorId, ProfileId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("moderator {0} is not known")]
    UnknownModerator(ModeratorId),
    #[error("profile {0} is not known")]
    UnknownProfile(ProfileId),
    #[error("client {0} is not known")]
    UnknownClient(ClientId),
    #[error("conflict {0} is not known")]
    UnknownConflict(ConflictId),
    #[error("profile {0} is not active")]
    ProfileInactive(ProfileId),
    #[error("moderator {0} is not connected")]
    NotConnected(ModeratorId),
    #[error("moderator {moderator_id} does not hold profile {profile_id}")]
    NotProfileHolder { moderator_id: ModeratorId, profile_id: ProfileId },
    #[error("moderator {moderator_id} holds no lock on client {client_id}")]
    NotClientLockHolder { moderator_id: ModeratorId, client_id: ClientId },
    #[error("client {client_id} is being handled by moderator {holder} until {expires_at}")]
    ClientLocked { client_id: ClientId, holder: ModeratorId, expires_at: Timestamp },
    #[error("client {client_id} is already being approached by moderator {holder} until {expires_at}")]
    DoubleInitiation { client_id: ClientId, holder: ModeratorId, expires_at: Timestamp },
    #[error("moderator {0} is not in the queue")]
    NotInQueue(ModeratorId),
    #[error("a moderator may set its own priority up to {max}, not {requested}")]
    PriorityAboveSelfLimit { requested: i32, max: i32 },
    #[error("moderator {moderator_id} already holds {held} profiles, the maximum")]
    ModeratorAtCapacity { moderator_id: ModeratorId, held: u32 },
    #[error("moderator {moderator_id} did not take part in conflict {conflict_id}")]
    NotConflictParticipant { moderator_id: ModeratorId, conflict_id: ConflictId },
    #[error("the lease named by the request has been lost")]
    StaleLease { profile_id: ProfileId },
    #[error("{0}")]
    InvalidValue(&'static str),
}
