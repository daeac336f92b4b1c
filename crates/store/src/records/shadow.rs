//! The row-hash shadow: what the last successful COMMIT left in the database, as one hash per
//! row, so that a batch writes only the rows that differ (`plan.rs` compares against it).
//!
//! An entity missing here (after a start or a recovery) counts as unknown: it is written in
//! full, its child rows deleted by owner and inserted again. Entries are recorded only after
//! a successful COMMIT, and the whole shadow is dropped with the engine on a failure, so it
//! never claims a row the database does not hold.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use switchboard_engine::{ClientId, ConflictId, ConversationKey, ModeratorId, ProfileId};

use super::columns::Value;

/// What was last committed for each entity, as a hash of each row.
#[derive(Default)]
pub(crate) struct Shadow {
    pub(super) moderators: HashMap<ModeratorId, ModeratorShadow>,
    pub(super) profiles: HashMap<ProfileId, ProfileShadow>,
    pub(super) clients: HashMap<ClientId, ClientShadow>,
    pub(super) conversations: HashMap<ConversationKey, u64>,
    pub(super) conflicts: HashMap<ConflictId, u64>,
}

/// A moderator's row, its assignments (by profile) and its queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModeratorShadow {
    pub(super) row: u64,
    pub(super) assignments: BTreeMap<ProfileId, u64>,
    pub(super) queue: Option<u64>,
}

/// A profile's row and its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileShadow {
    pub(super) row: u64,
    pub(super) lease: Option<u64>,
}

/// A client's row, its lock holder and its locks (by profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientShadow {
    pub(super) row: u64,
    pub(super) holder: Option<u64>,
    pub(super) locks: BTreeMap<ProfileId, u64>,
}

/// A shadow entry to record once the batch has committed.
pub(crate) enum ShadowEntry {
    Moderator(ModeratorId, ModeratorShadow),
    Profile(ProfileId, ProfileShadow),
    Client(ClientId, ClientShadow),
    Conversation(ConversationKey, u64),
    Conflict(ConflictId, u64),
}

impl Shadow {
    /// Records what a batch wrote; call only once its COMMIT has succeeded.
    pub fn record(&mut self, entries: Vec<ShadowEntry>) {
        for entry in entries {
            match entry {
                ShadowEntry::Moderator(key, value) => {
                    self.moderators.insert(key, value);
                }
                ShadowEntry::Profile(key, value) => {
                    self.profiles.insert(key, value);
                }
                ShadowEntry::Client(key, value) => {
                    self.clients.insert(key, value);
                }
                ShadowEntry::Conversation(key, value) => {
                    self.conversations.insert(key, value);
                }
                ShadowEntry::Conflict(key, value) => {
                    self.conflicts.insert(key, value);
                }
            }
        }
    }
}

/// The hash a row is remembered by; equal rows hash equal within one process, which is all
/// the shadow needs (it never outlives the process).
pub(super) fn row_hash(row: &[Value]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    row.hash(&mut hasher);
    hasher.finish()
}
