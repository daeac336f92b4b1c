//! Loading, the read direction: `Loader` takes the rows of every table, table by table as
//! `sql.rs` streams them, and assembles the engine's `RestoredState` (`Loaded`), with the
//! outbox rows not yet delivered and the next row ids. A stored value it cannot read is a
//! `StoreError::Corrupt`; a row naming a missing entity is dropped and reported, never
//! guessed at. The engine's restore then repairs what the rows contradict.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value as Json;
use switchboard_engine::{
    Assignment, Client, ClientId, ClientLock, ClientLockSet, Conflict, ConflictId, ConflictStrategy, Conversation,
    ConversationKey, EngineMeta, FencingToken, LockReason, LockType, MessageId, MessageSummary, Moderator, ModeratorId,
    ModeratorState, Profile, ProfileId, ProfileLease, QueueEntry, ResponseTimes, RestoredState, Timestamp,
};

use super::columns::{opt_timestamp, read_message_id, timestamp, unsigned, RowExt};
use super::rows::RowIds;
use crate::error::StoreError;
use crate::outbox::OutboxEvent;

/// The whole stored state, as it is read at start and after a failure.
pub(crate) struct Loaded {
    pub state: RestoredState,
    pub ids: RowIds,
    /// Outbox rows never marked delivered, oldest first.
    pub undelivered: Vec<OutboxEvent>,
    /// Rows dropped because they name an entity that does not exist.
    pub dropped: Vec<String>,
}

/// Accumulates rows table by table, then assembles the engine's records.
#[derive(Default)]
pub(crate) struct Loader {
    moderators: BTreeMap<ModeratorId, Moderator>,
    profiles: BTreeMap<ProfileId, Profile>,
    clients: BTreeMap<ClientId, Client>,
    conversations: Vec<(ConversationKey, Conversation)>,
    messages: Vec<(MessageId, ConversationKey)>,
    conflicts: Vec<Conflict>,
    meta: EngineMeta,
    undelivered: Vec<OutboxEvent>,
    max_outbox_id: i64,
    max_message_id: i64,
    /// Rows that name an entity that does not exist; the database's keys prevent them, so
    /// any found are reported and dropped.
    dropped: Vec<String>,
}

impl Loader {
    pub fn moderator(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        const T: &str = "moderators";
        let moderator_id = ModeratorId(unsigned(row.int("id")?));
        let mut moderator = Moderator::new(moderator_id, row.text("name")?, timestamp(row.int("last_seen_at")?));
        moderator.state = moderator_state(&row.text("state")?)?;
        moderator.priority =
            i32::try_from(row.int("priority")?).map_err(|error| StoreError::corrupt(T, "priority", error))?;
        moderator.connected_at = opt_timestamp(row.opt_int("connected_at")?);
        moderator.last_activity_at = opt_timestamp(row.opt_int("last_activity_at")?);
        moderator.loaded_since = opt_timestamp(row.opt_int("loaded_since")?);
        moderator.realtime_connected = row.boolean("realtime_connected")?;
        moderator.last_assigned_at = opt_timestamp(row.opt_int("last_assigned_at")?);
        let given_back: Vec<(u64, u64)> = serde_json::from_str(&row.text("given_back")?)
            .map_err(|error| StoreError::corrupt(T, "given_back", error))?;
        moderator.given_back =
            given_back.into_iter().map(|(profile_id, until)| (ProfileId(profile_id), Timestamp(until))).collect();
        let response_times: Json = serde_json::from_str(&row.text("response_times")?)
            .map_err(|error| StoreError::corrupt(T, "response_times", error))?;
        let recent: Vec<u64> = serde_json::from_value(response_times["recent_millis"].clone())
            .map_err(|error| StoreError::corrupt(T, "response_times", error))?;
        moderator.response_times = ResponseTimes {
            recent_millis: VecDeque::from(recent),
            replies: response_times["replies"].as_u64().unwrap_or(0),
        };
        self.moderators.insert(moderator_id, moderator);
        Ok(())
    }

    pub fn assignment(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let profile_id = ProfileId(unsigned(row.int("profile_id")?));
        let moderator_id = ModeratorId(unsigned(row.int("moderator_id")?));
        let assignment = Assignment {
            assigned_at: timestamp(row.int("assigned_at")?),
            conversations: BTreeSet::new(),
            // Filled from `client_locks` in `finish`.
            locked_clients: BTreeSet::new(),
            last_activity_check: opt_timestamp(row.opt_int("last_activity_check")?),
        };
        match self.moderators.get_mut(&moderator_id) {
            Some(moderator) => {
                moderator.assignments.insert(profile_id, assignment);
            }
            None => {
                self.dropped.push(format!("assignment of profile {profile_id} to unknown moderator {moderator_id}"))
            }
        }
        Ok(())
    }

    pub fn queue_entry(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        const T: &str = "moderator_queue";
        let moderator_id = ModeratorId(unsigned(row.int("moderator_id")?));
        let announced = match (row.opt_int("announced_position")?, row.opt_int("announced_wait_seconds")?) {
            (Some(position), Some(wait)) => Some((small(T, "announced_position", position)?, unsigned(wait))),
            _ => None,
        };
        let entry = QueueEntry {
            queued_at: timestamp(row.int("queued_at")?),
            position: small(T, "position", row.int("position")?)?,
            estimated_wait_seconds: unsigned(row.int("estimated_wait_time")?),
            announced,
        };
        match self.moderators.get_mut(&moderator_id) {
            Some(moderator) => moderator.queue = Some(entry),
            None => self.dropped.push(format!("queue entry of unknown moderator {moderator_id}")),
        }
        Ok(())
    }

    pub fn profile(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let profile_id = ProfileId(unsigned(row.int("id")?));
        let mut profile = Profile::new(profile_id, row.text("name")?, row.boolean("active")?);
        profile.last_balanced_at = opt_timestamp(row.opt_int("last_balanced_at")?);
        profile.last_typing_at = opt_timestamp(row.opt_int("last_typing_at")?);
        profile.orphan_since = opt_timestamp(row.opt_int("orphan_since")?);
        profile.orphan_alerted = row.boolean("orphan_alerted")?;
        self.profiles.insert(profile_id, profile);
        Ok(())
    }

    pub fn profile_lock(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let profile_id = ProfileId(unsigned(row.int("profile_id")?));
        let lock_type = match row.text("lock_type")?.as_str() {
            "assignment" => LockType::Assignment,
            "manual" => LockType::Manual,
            other => return Err(StoreError::corrupt("profile_locks", "lock_type", other)),
        };
        let lease = ProfileLease {
            moderator_id: ModeratorId(unsigned(row.int("moderator_id")?)),
            locked_at: timestamp(row.int("locked_at")?),
            expires_at: opt_timestamp(row.opt_int("expires_at")?),
            lock_type,
            token: FencingToken(unsigned(row.int("token")?)),
        };
        match self.profiles.get_mut(&profile_id) {
            Some(profile) => profile.lease = Some(lease),
            None => self.dropped.push(format!("lease of unknown profile {profile_id}")),
        }
        Ok(())
    }

    pub fn client(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let client_id = ClientId(unsigned(row.int("id")?));
        self.clients.insert(client_id, Client::new(client_id, row.text("name")?));
        Ok(())
    }

    pub fn client_lock_holder(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let client_id = ClientId(unsigned(row.int("client_id")?));
        let moderator_id = ModeratorId(unsigned(row.int("moderator_id")?));
        match self.clients.get_mut(&client_id) {
            Some(client) => client.lock = Some(ClientLockSet { moderator_id, locks: BTreeMap::new() }),
            None => self.dropped.push(format!("lock holder of unknown client {client_id}")),
        }
        Ok(())
    }

    pub fn client_lock(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let client_id = ClientId(unsigned(row.int("client_id")?));
        let profile_id = ProfileId(unsigned(row.int("profile_id")?));
        let moderator_id = ModeratorId(unsigned(row.int("moderator_id")?));
        let reason = match row.text("lock_reason")?.as_str() {
            "conversation" => LockReason::Conversation,
            "initiation" => LockReason::Initiation,
            "typing" => LockReason::Typing,
            other => return Err(StoreError::corrupt("client_locks", "lock_reason", other)),
        };
        let lock = ClientLock {
            locked_at: timestamp(row.int("locked_at")?),
            expires_at: timestamp(row.int("expires_at")?),
            reason,
            token: FencingToken(unsigned(row.int("token")?)),
        };
        match self.clients.get_mut(&client_id).and_then(|client| client.lock.as_mut()) {
            Some(set) if set.moderator_id == moderator_id => {
                set.locks.insert(profile_id, lock);
            }
            _ => self
                .dropped
                .push(format!("lock of moderator {moderator_id} on client {client_id} without a matching holder row")),
        }
        Ok(())
    }

    pub fn conversation(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let key = ConversationKey {
            client_id: ClientId(unsigned(row.int("client_id")?)),
            profile_id: ProfileId(unsigned(row.int("profile_id")?)),
        };
        let last_inbound =
            match read_message_id(row, "conversations", "last_inbound_message_id", "last_inbound_message_key")? {
                Some(message_id) => Some(MessageSummary {
                    message_id,
                    body: row.opt_text("last_inbound_body")?.unwrap_or_default().into(),
                    sent_at: timestamp(row.opt_int("last_inbound_sent_at")?.unwrap_or(0)),
                    received_at: timestamp(row.opt_int("last_inbound_received_at")?.unwrap_or(0)),
                }),
                None => None,
            };
        let conversation = Conversation {
            waiting_since: opt_timestamp(row.opt_int("waiting_since")?),
            last_inbound,
            assigned_to: row.opt_int("assigned_to")?.map(|m| ModeratorId(unsigned(m))),
            inbound_messages: small("conversations", "inbound_messages", row.int("inbound_messages")?)?,
            last_reply_at: opt_timestamp(row.opt_int("last_reply_at")?),
            wait_alerted: row.boolean("wait_alerted")?,
        };
        self.conversations.push((key, conversation));
        Ok(())
    }

    pub fn inbound_message(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        let key = ConversationKey {
            client_id: ClientId(unsigned(row.int("client_id")?)),
            profile_id: ProfileId(unsigned(row.int("profile_id")?)),
        };
        if let Some(message_id) = read_message_id(row, "messages", "message_id", "message_key")? {
            self.messages.push((message_id, key));
        }
        Ok(())
    }

    pub fn conflict(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        const T: &str = "assignment_conflicts";
        let moderators = |column: &'static str, text: String| -> Result<Vec<ModeratorId>, StoreError> {
            Ok(json_ids(T, column, &text)?.into_iter().map(ModeratorId).collect())
        };
        let strategy = match row.text("strategy")?.as_str() {
            "timestamp" => ConflictStrategy::Timestamp,
            "id" => ConflictStrategy::Id,
            other => return Err(StoreError::corrupt(T, "strategy", other)),
        };
        self.conflicts.push(Conflict {
            conflict_id: ConflictId(unsigned(row.int("id")?)),
            participants: moderators("participants", row.text("participants")?)?,
            strategy,
            winners: moderators("winners", row.text("winners")?)?,
            queued: moderators("queued", row.text("queued")?)?,
            created_at: timestamp(row.int("created_at")?),
            resolved_at: opt_timestamp(row.opt_int("resolved_at")?),
            resolved_by: row.opt_int("resolved_by")?.map(|m| ModeratorId(unsigned(m))),
        });
        Ok(())
    }

    pub fn meta(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        self.meta = EngineMeta {
            next_token: unsigned(row.int("next_token")?),
            next_conflict_id: unsigned(row.int("next_conflict_id")?),
            next_alert_id: unsigned(row.int("next_alert_id")?),
            releases: json_ids("engine_meta", "releases", &row.text("releases")?)?.into_iter().map(Timestamp).collect(),
        };
        Ok(())
    }

    pub fn undelivered(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        self.undelivered.push(OutboxEvent {
            id: row.int("id")?,
            channel: row.text("channel")?,
            name: row.text("name")?,
            data: row.text("data")?,
        });
        Ok(())
    }

    /// `SELECT max(id) AS outbox, max(messages.id) AS messages` (either may be NULL).
    pub fn max_ids(&mut self, row: &impl RowExt) -> Result<(), StoreError> {
        self.max_outbox_id = row.opt_int("outbox")?.unwrap_or(0);
        self.max_message_id = row.opt_int("messages")?.unwrap_or(0);
        Ok(())
    }

    pub fn finish(mut self) -> Loaded {
        // The seed's `locked_clients` of an assignment are the client locks its holder has
        // under that profile: derived from `client_locks` rather than stored twice, so a
        // batch never rewrites a list that grows with the backlog. A lock under a profile
        // its moderator does not hold stays on the client, for the integrity check to release.
        for client in self.clients.values() {
            let Some(set) = &client.lock else { continue };
            let Some(moderator) = self.moderators.get_mut(&set.moderator_id) else { continue };
            for profile_id in set.locks.keys() {
                if let Some(assignment) = moderator.assignments.get_mut(profile_id) {
                    assignment.locked_clients.insert(client.id);
                }
            }
        }
        Loaded {
            state: RestoredState {
                moderators: self.moderators.into_values().collect(),
                profiles: self.profiles.into_values().collect(),
                clients: self.clients.into_values().collect(),
                conversations: self.conversations,
                messages: self.messages,
                conflicts: self.conflicts,
                meta: self.meta,
            },
            ids: RowIds { next_outbox_id: self.max_outbox_id + 1, next_message_id: self.max_message_id + 1 },
            undelivered: self.undelivered,
            dropped: self.dropped,
        }
    }
}

fn small(table: &'static str, column: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::corrupt(table, column, format!("{value} is out of range")))
}

fn json_ids(table: &'static str, column: &'static str, text: &str) -> Result<Vec<u64>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::corrupt(table, column, error))
}

fn moderator_state(text: &str) -> Result<ModeratorState, StoreError> {
    Ok(match text {
        "offline" => ModeratorState::Offline,
        "queued" => ModeratorState::Queued,
        "working" => ModeratorState::Working,
        "paused" => ModeratorState::Paused,
        "away" => ModeratorState::Away,
        other => return Err(StoreError::corrupt("moderators", "state", format!("unknown state {other:?}"))),
    })
}
