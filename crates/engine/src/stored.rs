//! What crosses between the engine and storage, as data: the entities a batch changed
//! (`Changes`), the engine's own counters (`EngineMeta`) and the records an engine is rebuilt
//! from (`RestoredState`). Producing and consuming them is `persistence.rs`'s business.

use crate::conflict::Conflict;
use crate::ids::{ClientId, ConflictId, ConversationKey, MessageId, ModeratorId, ProfileId, Timestamp};
use crate::model::{Client, Conversation, Moderator, Profile};

/// The entities changed since the last `take_changes`, by id, sorted and without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The moderator's row, its assignments and its queue entry.
    pub moderators: Vec<ModeratorId>,
    /// The profile's row and its lease.
    pub profiles: Vec<ProfileId>,
    /// The client's row and its locks.
    pub clients: Vec<ClientId>,
    pub conversations: Vec<ConversationKey>,
    pub conflicts: Vec<ConflictId>,
    /// Inbound messages accepted since the last call.
    pub messages: Vec<(MessageId, ConversationKey)>,
    pub meta_changed: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.moderators.is_empty()
            && self.profiles.is_empty()
            && self.clients.is_empty()
            && self.conversations.is_empty()
            && self.conflicts.is_empty()
            && self.messages.is_empty()
            && !self.meta_changed
    }
}

/// The engine's own counters, stored so that ids and fencing tokens keep growing across
/// restarts, and the recent release instants behind the queue's wait estimate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineMeta {
    pub next_token: u64,
    pub next_conflict_id: u64,
    pub next_alert_id: u64,
    pub releases: Vec<Timestamp>,
}

/// Stored records to rebuild an engine from. Derived fields in them are ignored and
/// recomputed: `Moderator::load`, `Assignment::conversations` (from each conversation's
/// `assigned_to`), `Profile::waiting`, `Client::waiting`, queue positions and estimates.
/// `Assignment::locked_clients` is kept as stored: the integrity check compares it with the
/// locks, as the seed's column is meant to be checked.
#[derive(Clone, Debug, Default)]
pub struct RestoredState {
    pub moderators: Vec<Moderator>,
    pub profiles: Vec<Profile>,
    pub clients: Vec<Client>,
    pub conversations: Vec<(ConversationKey, Conversation)>,
    pub messages: Vec<(MessageId, ConversationKey)>,
    pub conflicts: Vec<Conflict>,
    pub meta: EngineMeta,
}
