//! The mapping between the engine's entities and the database's rows, both ways.
//!
//! Writing: `plan_batch` turns a batch's `Changes` into a `WritePlan`: the rows to delete and
//! the current rows to insert or upsert for every changed entity, plus the batch's messages,
//! alerts and outbox rows. Reading: `Loader` turns the rows of every table back into the
//! engine's `RestoredState`. Nothing here runs SQL (that is `sql.rs`) or decides a rule.
//!
//! Conventions: ids and counters are `u64` stored bit-for-bit in signed 64-bit columns;
//! times are milliseconds since the Unix epoch; sets and lists are JSON arrays in TEXT.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use serde_json::{json, Value as Json};
use switchboard_engine::{
    Alert, Assignment, Changes, Client, ClientId, ClientLock, ClientLockSet, Conflict, ConflictId, ConflictStrategy,
    Conversation, ConversationKey, Engine, EngineMeta, LockReason, LockType, MessageId, MessageSummary, Moderator,
    ModeratorId, ModeratorState, Profile, ProfileId, ProfileLease, QueueEntry, ResponseTimes, RestoredState, Timestamp,
};

use crate::error::StoreError;
use crate::outbox::{alert_data, OutboxEvent};
use crate::store::Direction;

/// One bound value of a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
}

/// A table the writer writes: its columns in insert order, the key an upsert conflicts on.
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// Conflict target of an upsert; the other columns are overwritten. Empty: insert only.
    pub upsert_key: &'static [&'static str],
}

pub(crate) const MODERATORS: Table = Table {
    name: "moderators",
    columns: &[
        "id",
        "name",
        "state",
        "priority",
        "load",
        "connected_at",
        "last_activity_at",
        "loaded_since",
        "last_seen_at",
        "realtime_connected",
        "last_assigned_at",
        "given_back",
        "response_times",
    ],
    upsert_key: &["id"],
};
pub(crate) const ASSIGNMENTS: Table = Table {
    name: "moderator_profile_assignments",
    columns: &["profile_id", "moderator_id", "queue_position", "assigned_at", "last_activity_check"],
    upsert_key: &["profile_id"],
};
pub(crate) const QUEUE: Table = Table {
    name: "moderator_queue",
    columns: &[
        "moderator_id",
        "queued_at",
        "priority",
        "position",
        "estimated_wait_time",
        "announced_position",
        "announced_wait_seconds",
    ],
    upsert_key: &["moderator_id"],
};
pub(crate) const PROFILES: Table = Table {
    name: "profiles",
    columns: &["id", "name", "active", "last_balanced_at", "last_typing_at", "orphan_since", "orphan_alerted"],
    upsert_key: &["id"],
};
pub(crate) const PROFILE_LOCKS: Table = Table {
    name: "profile_locks",
    columns: &["profile_id", "moderator_id", "locked_at", "expires_at", "lock_type", "token"],
    upsert_key: &["profile_id"],
};
pub(crate) const CLIENTS: Table = Table { name: "clients", columns: &["id", "name"], upsert_key: &["id"] };
pub(crate) const CLIENT_LOCK_HOLDERS: Table =
    Table { name: "client_lock_holders", columns: &["client_id", "moderator_id"], upsert_key: &["client_id"] };
pub(crate) const CLIENT_LOCKS: Table = Table {
    name: "client_locks",
    columns: &["client_id", "profile_id", "moderator_id", "locked_at", "expires_at", "lock_reason", "token"],
    upsert_key: &["client_id", "profile_id"],
};
pub(crate) const CONVERSATIONS: Table = Table {
    name: "conversations",
    columns: &[
        "client_id",
        "profile_id",
        "waiting_since",
        "last_inbound_message_id",
        "last_inbound_body",
        "last_inbound_sent_at",
        "last_inbound_received_at",
        "assigned_to",
        "inbound_messages",
        "last_reply_at",
        "wait_alerted",
    ],
    upsert_key: &["client_id", "profile_id"],
};
pub(crate) const CONFLICTS: Table = Table {
    name: "assignment_conflicts",
    columns: &["id", "participants", "strategy", "winners", "queued", "created_at", "resolved_at", "resolved_by"],
    upsert_key: &["id"],
};
pub(crate) const MESSAGES: Table = Table {
    name: "messages",
    columns: &[
        "id",
        "message_id",
        "client_id",
        "profile_id",
        "direction",
        "moderator_id",
        "body",
        "sent_at",
        "recorded_at",
    ],
    upsert_key: &[],
};
pub(crate) const ALERTS: Table =
    Table { name: "alerts", columns: &["alert_id", "kind", "severity", "data", "raised_at"], upsert_key: &[] };
pub(crate) const OUTBOX: Table =
    Table { name: "outbox", columns: &["id", "channel", "name", "data", "created_at"], upsert_key: &[] };
pub(crate) const ENGINE_META: Table = Table {
    name: "engine_meta",
    columns: &["id", "next_token", "next_conflict_id", "next_alert_id", "releases"],
    upsert_key: &["id"],
};

/// Rows of one table to write: inserted, or upserted on the table's key.
pub(crate) struct Rows {
    pub table: &'static Table,
    pub upsert: bool,
    pub rows: Vec<Vec<Value>>,
}

/// `DELETE FROM table WHERE (columns) IN (keys)`; `keys` holds `columns.len()` values per row.
pub(crate) struct Delete {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub keys: Vec<i64>,
}

/// Outbox rows up to `up_to_id` were handed to the sink at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarkDelivered {
    pub up_to_id: i64,
    pub at: i64,
}

/// Everything one transaction writes, in order: deletes, then inserts and upserts, then the
/// delivery mark. The database checks its constraints once, at COMMIT (deferred keys).
#[derive(Default)]
pub(crate) struct WritePlan {
    pub deletes: Vec<Delete>,
    pub inserts: Vec<Rows>,
    pub mark_delivered: Option<MarkDelivered>,
}

impl WritePlan {
    pub fn is_empty(&self) -> bool {
        self.deletes.iter().all(|delete| delete.keys.is_empty())
            && self.inserts.iter().all(|rows| rows.rows.is_empty())
            && self.mark_delivered.is_none()
    }
}

/// A message to store with its batch.
#[derive(Clone, Debug)]
pub(crate) struct MessageRow {
    pub platform_message_id: Option<MessageId>,
    pub client_id: ClientId,
    pub profile_id: ProfileId,
    pub direction: Direction,
    pub moderator_id: Option<ModeratorId>,
    pub body: String,
    pub sent_at: Timestamp,
}

/// Ids the writer hands out itself (it is the only writer), so that it knows an outbox
/// event's id before COMMIT and ids follow commit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowIds {
    pub next_outbox_id: i64,
    pub next_message_id: i64,
}

pub(crate) fn id(value: u64) -> i64 {
    value as i64
}

fn unsigned(value: i64) -> u64 {
    value as u64
}

pub(crate) fn ts(at: Timestamp) -> i64 {
    id(at.0)
}

fn opt_ts(at: Option<Timestamp>) -> Value {
    Value::OptInt(at.map(ts))
}

fn opt_id(value: Option<u64>) -> Value {
    Value::OptInt(value.map(id))
}

fn ids_json(ids: impl IntoIterator<Item = u64>) -> String {
    Json::from(ids.into_iter().collect::<Vec<u64>>()).to_string()
}

/// The outbox rows and events of a batch, with their ids from `first_id` on.
pub(crate) fn outbox_events(events: &[switchboard_engine::Event], first_id: i64) -> Vec<OutboxEvent> {
    events
        .iter()
        .zip(first_id..)
        .map(|(event, row_id)| {
            let (channel, name, data) = crate::outbox::encode_event(event);
            OutboxEvent { id: row_id, channel, name: name.to_owned(), data: data.to_string() }
        })
        .collect()
}

/// What was last committed for each entity, as a hash of each row, so that a batch writes
/// only rows that differ. An entity missing here (after a start or a recovery) is written in
/// full: its child rows are deleted by owner and inserted again. Entries are added only
/// after a successful COMMIT, and the whole shadow is dropped with the engine on a failure.
#[derive(Default)]
pub(crate) struct Shadow {
    moderators: HashMap<ModeratorId, ModeratorShadow>,
    profiles: HashMap<ProfileId, ProfileShadow>,
    clients: HashMap<ClientId, ClientShadow>,
    conversations: HashMap<ConversationKey, u64>,
    conflicts: HashMap<ConflictId, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModeratorShadow {
    row: u64,
    assignments: BTreeMap<ProfileId, u64>,
    queue: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProfileShadow {
    row: u64,
    lease: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientShadow {
    row: u64,
    holder: Option<u64>,
    locks: BTreeMap<ProfileId, u64>,
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

fn row_hash(row: &[Value]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    row.hash(&mut hasher);
    hasher.finish()
}

/// A table of rows owned by an entity (a moderator's assignments, a client's locks).
#[derive(Clone, Copy)]
struct ChildTable {
    table: &'static Table,
    /// Columns naming the owner, to delete all its rows when what is stored is unknown.
    owner_columns: &'static [&'static str],
    /// Columns naming one row (and its owner), to delete a row that is gone.
    key_columns: &'static [&'static str],
}

/// Accumulates a plan's statements, grouped by table and kind.
#[derive(Default)]
struct PlanBuilder {
    plan: WritePlan,
    entries: Vec<ShadowEntry>,
}

impl PlanBuilder {
    fn delete(&mut self, table: &'static str, columns: &'static [&'static str], key: &[i64]) {
        debug_assert_eq!(columns.len(), key.len());
        match self.plan.deletes.iter_mut().find(|delete| delete.table == table && delete.columns == columns) {
            Some(delete) => delete.keys.extend_from_slice(key),
            None => self.plan.deletes.push(Delete { table, columns, keys: key.to_vec() }),
        }
    }

    fn write(&mut self, table: &'static Table, upsert: bool, row: Vec<Value>) {
        let upsert = upsert && !table.upsert_key.is_empty();
        match self.plan.inserts.iter_mut().find(|rows| std::ptr::eq(rows.table, table) && rows.upsert == upsert) {
            Some(rows) => rows.rows.push(row),
            None => self.plan.inserts.push(Rows { table, upsert, rows: vec![row] }),
        }
    }

    /// Writes an entity's own row if it differs from the stored one; returns its hash.
    fn entity(&mut self, table: &'static Table, row: Vec<Value>, stored: Option<u64>) -> u64 {
        let hash = row_hash(&row);
        if stored != Some(hash) {
            self.write(table, true, row);
        }
        hash
    }

    /// Writes the child rows of one owner: `current` are (child key, row); `stored` what the
    /// shadow says is in the database, or `None` when unknown (then the owner's children are
    /// deleted by owner and all inserted again). Vanished children are deleted by their full
    /// key `delete_key(child)`, which names the owner too.
    fn children<K: Ord + Copy>(
        &mut self,
        kind: &ChildTable,
        owner: i64,
        delete_key: impl Fn(K) -> Vec<i64>,
        current: Vec<(K, Vec<Value>)>,
        stored: Option<&BTreeMap<K, u64>>,
    ) -> BTreeMap<K, u64> {
        let ChildTable { table, owner_columns, key_columns } = *kind;
        let mut written = BTreeMap::new();
        match stored {
            None => {
                self.delete(table.name, owner_columns, &[owner]);
                for (key, row) in current {
                    written.insert(key, row_hash(&row));
                    self.write(table, false, row);
                }
            }
            Some(stored) => {
                for (&key, _) in stored.iter().filter(|(key, _)| !current.iter().any(|(current, _)| current == *key)) {
                    self.delete(table.name, key_columns, &delete_key(key));
                }
                for (key, row) in current {
                    let hash = row_hash(&row);
                    written.insert(key, hash);
                    match stored.get(&key) {
                        Some(&stored_hash) if stored_hash == hash => {}
                        Some(_) => self.write(table, true, row),
                        None => self.write(table, false, row),
                    }
                }
            }
        }
        written
    }
}

/// Builds the transaction for a batch: the rows of every changed entity that differ from what
/// is stored, the batch's messages, alerts and outbox rows. Returns the shadow entries to
/// record once it has committed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_batch(
    engine: &Engine,
    changes: &Changes,
    alerts: &[&Alert],
    outbox: &[OutboxEvent],
    messages: &[MessageRow],
    ids: RowIds,
    now: Timestamp,
    shadow: &Shadow,
) -> (WritePlan, Vec<ShadowEntry>) {
    let mut builder = PlanBuilder::default();

    for moderator in changes.moderators.iter().filter_map(|&m| engine.moderator(m)) {
        let stored = shadow.moderators.get(&moderator.id);
        let row = builder.entity(&MODERATORS, moderator_row(moderator), stored.map(|s| s.row));
        let moderator_key = id(moderator.id.0);
        let assignments = builder.children(
            &ChildTable {
                table: &ASSIGNMENTS,
                owner_columns: &["moderator_id"],
                key_columns: &["profile_id", "moderator_id"],
            },
            moderator_key,
            |profile_id: ProfileId| vec![id(profile_id.0), moderator_key],
            assignment_rows(moderator).collect(),
            stored.map(|s| &s.assignments),
        );
        let stored_queue = stored.map(|s| s.queue.iter().map(|&hash| ((), hash)).collect::<BTreeMap<(), u64>>());
        let queue = builder.children(
            &ChildTable { table: &QUEUE, owner_columns: &["moderator_id"], key_columns: &["moderator_id"] },
            moderator_key,
            |()| vec![moderator_key],
            queue_row(moderator).map(|row| ((), row)).into_iter().collect(),
            stored_queue.as_ref(),
        );
        builder.entries.push(ShadowEntry::Moderator(
            moderator.id,
            ModeratorShadow { row, assignments, queue: queue.get(&()).copied() },
        ));
    }

    for profile in changes.profiles.iter().filter_map(|&p| engine.profile(p)) {
        let stored = shadow.profiles.get(&profile.id);
        let row = builder.entity(&PROFILES, profile_row(profile), stored.map(|s| s.row));
        let profile_key = id(profile.id.0);
        let stored_lease = stored.map(|s| s.lease.iter().map(|&hash| ((), hash)).collect::<BTreeMap<(), u64>>());
        let lease = builder.children(
            &ChildTable { table: &PROFILE_LOCKS, owner_columns: &["profile_id"], key_columns: &["profile_id"] },
            profile_key,
            |()| vec![profile_key],
            profile_lock_row(profile).map(|row| ((), row)).into_iter().collect(),
            stored_lease.as_ref(),
        );
        builder.entries.push(ShadowEntry::Profile(profile.id, ProfileShadow { row, lease: lease.get(&()).copied() }));
    }

    for client in changes.clients.iter().filter_map(|&c| engine.client(c)) {
        let stored = shadow.clients.get(&client.id);
        let row = builder.entity(
            &CLIENTS,
            vec![Value::Int(id(client.id.0)), Value::Text(client.name.clone())],
            stored.map(|s| s.row),
        );
        let client_key = id(client.id.0);
        // Locks go before their holder row is replaced: both are checked at COMMIT anyway.
        let locks = builder.children(
            &ChildTable {
                table: &CLIENT_LOCKS,
                owner_columns: &["client_id"],
                key_columns: &["client_id", "profile_id"],
            },
            client_key,
            |profile_id: ProfileId| vec![client_key, id(profile_id.0)],
            client_lock_rows(client).collect(),
            stored.map(|s| &s.locks),
        );
        let holder_row =
            client.lock.as_ref().map(|set| ((), vec![Value::Int(client_key), Value::Int(id(set.moderator_id.0))]));
        let stored_holder = stored.map(|s| s.holder.iter().map(|&hash| ((), hash)).collect::<BTreeMap<(), u64>>());
        let holder = builder.children(
            &ChildTable { table: &CLIENT_LOCK_HOLDERS, owner_columns: &["client_id"], key_columns: &["client_id"] },
            client_key,
            |()| vec![client_key],
            holder_row.into_iter().collect(),
            stored_holder.as_ref(),
        );
        builder
            .entries
            .push(ShadowEntry::Client(client.id, ClientShadow { row, holder: holder.get(&()).copied(), locks }));
    }

    for &key in &changes.conversations {
        if let Some(conversation) = engine.conversation(key) {
            let stored = shadow.conversations.get(&key).copied();
            let hash = builder.entity(&CONVERSATIONS, conversation_row(key, conversation), stored);
            builder.entries.push(ShadowEntry::Conversation(key, hash));
        }
    }

    for conflict in changes.conflicts.iter().filter_map(|&c| engine.conflict(c)) {
        let stored = shadow.conflicts.get(&conflict.conflict_id).copied();
        let hash = builder.entity(&CONFLICTS, conflict_row(conflict), stored);
        builder.entries.push(ShadowEntry::Conflict(conflict.conflict_id, hash));
    }

    for (message, row_id) in messages.iter().zip(ids.next_message_id..) {
        builder.write(&MESSAGES, false, message_row(message, row_id, now));
    }
    for alert in alerts {
        builder.write(&ALERTS, false, alert_row(alert));
    }
    for event in outbox {
        let row = vec![
            Value::Int(event.id),
            Value::Text(event.channel.clone()),
            Value::Text(event.name.clone()),
            Value::Text(event.data.clone()),
            Value::Int(ts(now)),
        ];
        builder.write(&OUTBOX, false, row);
    }
    if changes.meta_changed {
        builder.write(&ENGINE_META, true, meta_row(&engine.meta()));
    }
    (builder.plan, builder.entries)
}

fn moderator_row(moderator: &Moderator) -> Vec<Value> {
    let given_back: Vec<Json> =
        moderator.given_back.iter().map(|(profile_id, until)| json!([profile_id.0, until.0])).collect();
    let response_times = json!({
        "recent_millis": moderator.response_times.recent_millis,
        "replies": moderator.response_times.replies,
    });
    vec![
        Value::Int(id(moderator.id.0)),
        Value::Text(moderator.name.clone()),
        Value::Text(moderator.state.as_str().to_owned()),
        Value::Int(i64::from(moderator.priority)),
        Value::Int(i64::from(moderator.load)),
        opt_ts(moderator.connected_at),
        opt_ts(moderator.last_activity_at),
        opt_ts(moderator.loaded_since),
        Value::Int(ts(moderator.last_seen_at)),
        Value::Bool(moderator.realtime_connected),
        opt_ts(moderator.last_assigned_at),
        Value::Text(Json::from(given_back).to_string()),
        Value::Text(response_times.to_string()),
    ]
}

fn assignment_rows(moderator: &Moderator) -> impl Iterator<Item = (ProfileId, Vec<Value>)> + '_ {
    moderator.assignments.iter().map(move |(&profile_id, assignment)| {
        let row = vec![
            Value::Int(id(profile_id.0)),
            Value::Int(id(moderator.id.0)),
            // The seed's column; the engine keeps no queue position for a held profile.
            Value::OptInt(None),
            Value::Int(ts(assignment.assigned_at)),
            opt_ts(assignment.last_activity_check),
        ];
        (profile_id, row)
    })
}

fn queue_row(moderator: &Moderator) -> Option<Vec<Value>> {
    let entry = moderator.queue.as_ref()?;
    Some(vec![
        Value::Int(id(moderator.id.0)),
        Value::Int(ts(entry.queued_at)),
        Value::Int(i64::from(moderator.priority)),
        Value::Int(i64::from(entry.position)),
        Value::Int(id(entry.estimated_wait_seconds)),
        Value::OptInt(entry.announced.map(|(position, _)| i64::from(position))),
        Value::OptInt(entry.announced.map(|(_, wait)| id(wait))),
    ])
}

fn profile_row(profile: &Profile) -> Vec<Value> {
    vec![
        Value::Int(id(profile.id.0)),
        Value::Text(profile.name.clone()),
        Value::Bool(profile.active),
        opt_ts(profile.last_balanced_at),
        opt_ts(profile.last_typing_at),
        opt_ts(profile.orphan_since),
        Value::Bool(profile.orphan_alerted),
    ]
}

fn profile_lock_row(profile: &Profile) -> Option<Vec<Value>> {
    let lease = profile.lease.as_ref()?;
    Some(vec![
        Value::Int(id(profile.id.0)),
        Value::Int(id(lease.moderator_id.0)),
        Value::Int(ts(lease.locked_at)),
        opt_ts(lease.expires_at),
        Value::Text(lease.lock_type.as_str().to_owned()),
        Value::Int(id(lease.token.0)),
    ])
}

fn client_lock_rows(client: &Client) -> impl Iterator<Item = (ProfileId, Vec<Value>)> + '_ {
    client.lock.iter().flat_map(move |set| {
        set.locks.iter().map(move |(&profile_id, lock)| {
            let row = vec![
                Value::Int(id(client.id.0)),
                Value::Int(id(profile_id.0)),
                Value::Int(id(set.moderator_id.0)),
                Value::Int(ts(lock.locked_at)),
                Value::Int(ts(lock.expires_at)),
                Value::Text(lock.reason.as_str().to_owned()),
                Value::Int(id(lock.token.0)),
            ];
            (profile_id, row)
        })
    })
}

fn conversation_row(key: ConversationKey, conversation: &Conversation) -> Vec<Value> {
    let inbound = conversation.last_inbound.as_ref();
    vec![
        Value::Int(id(key.client_id.0)),
        Value::Int(id(key.profile_id.0)),
        opt_ts(conversation.waiting_since),
        opt_id(inbound.map(|m| m.message_id.0)),
        Value::OptText(inbound.map(|m| m.body.to_string())),
        opt_ts(inbound.map(|m| m.sent_at)),
        opt_ts(inbound.map(|m| m.received_at)),
        opt_id(conversation.assigned_to.map(|m| m.0)),
        Value::Int(i64::from(conversation.inbound_messages)),
        opt_ts(conversation.last_reply_at),
        Value::Bool(conversation.wait_alerted),
    ]
}

fn conflict_row(conflict: &Conflict) -> Vec<Value> {
    vec![
        Value::Int(id(conflict.conflict_id.0)),
        Value::Text(ids_json(conflict.participants.iter().map(|m| m.0))),
        Value::Text(conflict.strategy.as_str().to_owned()),
        Value::Text(ids_json(conflict.winners.iter().map(|m| m.0))),
        Value::Text(ids_json(conflict.queued.iter().map(|m| m.0))),
        Value::Int(ts(conflict.created_at)),
        opt_ts(conflict.resolved_at),
        opt_id(conflict.resolved_by.map(|m| m.0)),
    ]
}

fn message_row(message: &MessageRow, row_id: i64, now: Timestamp) -> Vec<Value> {
    vec![
        Value::Int(row_id),
        opt_id(message.platform_message_id.map(|m| m.0)),
        Value::Int(id(message.client_id.0)),
        Value::Int(id(message.profile_id.0)),
        Value::Text(message.direction.as_str().to_owned()),
        opt_id(message.moderator_id.map(|m| m.0)),
        Value::Text(message.body.clone()),
        Value::Int(ts(message.sent_at)),
        Value::Int(ts(now)),
    ]
}

fn alert_row(alert: &Alert) -> Vec<Value> {
    vec![
        Value::Int(id(alert.alert_id.0)),
        Value::Text(alert.kind.as_str().to_owned()),
        Value::Text(alert.severity.as_str().to_owned()),
        Value::Text(alert_data(&alert.subject).to_string()),
        Value::Int(ts(alert.raised_at)),
    ]
}

fn meta_row(meta: &EngineMeta) -> Vec<Value> {
    vec![
        Value::Int(1),
        Value::Int(id(meta.next_token)),
        Value::Int(id(meta.next_conflict_id)),
        Value::Int(id(meta.next_alert_id)),
        Value::Text(ids_json(meta.releases.iter().map(|at| at.0))),
    ]
}

// ----- Reading rows back -----

/// Typed access to a column of a row, whichever backend it came from.
pub(crate) trait RowExt {
    fn int(&self, column: &'static str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, column: &'static str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error>;
    fn boolean(&self, column: &'static str) -> Result<bool, sqlx::Error>;
    fn int_at(&self, index: usize) -> Result<i64, sqlx::Error>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, column: &'static str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn opt_int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn text(&self, column: &'static str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn opt_text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn boolean(&self, column: &'static str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn int_at(&self, index: usize) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }
        }
    };
}

impl_row_ext!(sqlx::sqlite::SqliteRow);
impl_row_ext!(sqlx::postgres::PgRow);

pub(crate) fn timestamp(value: i64) -> Timestamp {
    Timestamp(unsigned(value))
}

fn opt_timestamp(value: Option<i64>) -> Option<Timestamp> {
    value.map(timestamp)
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
            token: switchboard_engine::FencingToken(unsigned(row.int("token")?)),
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
            token: switchboard_engine::FencingToken(unsigned(row.int("token")?)),
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
        let last_inbound = match row.opt_int("last_inbound_message_id")? {
            Some(message_id) => Some(MessageSummary {
                message_id: MessageId(unsigned(message_id)),
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
        if let Some(message_id) = row.opt_int("message_id")? {
            self.messages.push((MessageId(unsigned(message_id)), key));
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
