//! The records of SPEC §6: a collision between simultaneous connections (`Conflict`, the
//! `assignment_conflicts` row) and the profiles won while connecting that a later collision
//! may take back (`ConnectWin`). Plain data; who wins is decided in `conflicts.rs`.

use crate::config::ConflictStrategy;
use crate::ids::{ConflictId, ModeratorId, ProfileId, Timestamp};
use crate::view::ConflictView;

/// A profile a moderator won while connecting, remembered for two conflict windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectWin {
    pub moderator_id: ModeratorId,
    pub connected_at: Timestamp,
    pub profile_id: ProfileId,
}

/// An `assignment_conflicts` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub conflict_id: ConflictId,
    pub participants: Vec<ModeratorId>,
    pub strategy: ConflictStrategy,
    pub winners: Vec<ModeratorId>,
    pub queued: Vec<ModeratorId>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<ModeratorId>,
}

impl Conflict {
    pub fn view(&self) -> ConflictView {
        ConflictView {
            conflict_id: self.conflict_id,
            participants: self.participants.clone(),
            strategy: self.strategy.as_str(),
            winners: self.winners.clone(),
            queued: self.queued.clone(),
            created_at: self.created_at,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
        }
    }
}
