//! Batch planning: `plan_batch` turns an `AppliedBatch` (the engine after a batch, what the
//! batch changed, and its messages, alerts and outbox rows) into the `WritePlan` of its one
//! transaction, writing only the rows that differ from the shadow (`shadow.rs`), and returns
//! the shadow entries to record once that transaction has committed.
//!
//! Nothing here runs SQL (that is `sql.rs`) or decides a rule: the plan is data, the same
//! for both backends.

use std::collections::BTreeMap;

use switchboard_engine::{Alert, Changes, Client, Engine, Moderator, Profile, ProfileId, Timestamp};

use super::columns::{id, Value};
use super::rows::{self, MessageRow, RowIds};
use super::shadow::{row_hash, ClientShadow, ModeratorShadow, ProfileShadow, Shadow, ShadowEntry};
use super::tables::{
    Table, ALERTS, ASSIGNMENTS, CLIENTS, CLIENT_LOCKS, CLIENT_LOCK_HOLDERS, CONFLICTS, CONVERSATIONS, ENGINE_META,
    HOST_EVENTS, MESSAGES, MODERATORS, OUTBOX, PROFILES, PROFILE_LOCKS, QUEUE,
};
use crate::host::HostEventRow;
use crate::outbox::OutboxEvent;

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

/// A batch applied to the engine and not yet committed: what it leaves to store.
pub(crate) struct AppliedBatch<'a> {
    /// The engine after the batch: every changed entity's rows are read from it.
    pub engine: &'a Engine,
    /// The entities the batch touched (`Engine::take_changes`).
    pub changes: &'a Changes,
    /// The alerts the batch raised, stored beside their outbox events.
    pub alerts: &'a [&'a Alert],
    /// The batch's events, already numbered from `ids.next_outbox_id`.
    pub outbox: &'a [OutboxEvent],
    /// The messages the batch accepted, numbered from `ids.next_message_id`.
    pub messages: &'a [MessageRow],
    /// The batch's events for the host platform, already numbered by the writer.
    pub host_events: &'a [HostEventRow],
    /// Whether a webhook delivery is scheduled for each host event (`webhook_url` is set).
    pub webhooks: bool,
    pub ids: RowIds,
    /// The batch's time: messages' `recorded_at` and outbox rows' `created_at`.
    pub now: Timestamp,
}

/// Builds the transaction for a batch: the rows of every changed entity that differ from
/// `shadow`, the batch's messages, alerts and outbox rows. Returns the shadow entries to
/// record once it has committed.
pub(crate) fn plan_batch(batch: &AppliedBatch<'_>, shadow: &Shadow) -> (WritePlan, Vec<ShadowEntry>) {
    let AppliedBatch { engine, changes, alerts, outbox, messages, host_events, webhooks, ids, now } = *batch;
    let mut builder = PlanBuilder::default();
    for moderator in changes.moderators.iter().filter_map(|&m| engine.moderator(m)) {
        builder.moderator(moderator, shadow.moderators.get(&moderator.id));
    }
    for profile in changes.profiles.iter().filter_map(|&p| engine.profile(p)) {
        builder.profile(profile, shadow.profiles.get(&profile.id));
    }
    for client in changes.clients.iter().filter_map(|&c| engine.client(c)) {
        builder.client(client, shadow.clients.get(&client.id));
    }
    for &key in &changes.conversations {
        if let Some(conversation) = engine.conversation(key) {
            let stored = shadow.conversations.get(&key).copied();
            let hash = builder.entity(&CONVERSATIONS, rows::conversation_row(key, conversation), stored);
            builder.entries.push(ShadowEntry::Conversation(key, hash));
        }
    }
    for conflict in changes.conflicts.iter().filter_map(|&c| engine.conflict(c)) {
        let stored = shadow.conflicts.get(&conflict.conflict_id).copied();
        let hash = builder.entity(&CONFLICTS, rows::conflict_row(conflict), stored);
        builder.entries.push(ShadowEntry::Conflict(conflict.conflict_id, hash));
    }

    for (message, row_id) in messages.iter().zip(ids.next_message_id..) {
        builder.write(&MESSAGES, false, rows::message_row(message, row_id, now));
    }
    for alert in alerts {
        builder.write(&ALERTS, false, rows::alert_row(alert));
    }
    for event in outbox {
        builder.write(&OUTBOX, false, rows::outbox_row(event, now));
    }
    for event in host_events {
        builder.write(&HOST_EVENTS, false, rows::host_event_row(event, webhooks));
    }
    if changes.meta_changed {
        builder.write(&ENGINE_META, true, rows::meta_row(&engine.meta()));
    }
    (builder.plan, builder.entries)
}

/// A table of rows owned by an entity (a moderator's assignments, a client's locks), whose
/// rows are told apart by a child key `K` (a profile, or `()` for at most one row).
struct ChildTable<K: 'static> {
    table: &'static Table,
    /// Columns naming the owner, to delete all its rows when what is stored is unknown.
    owner_columns: &'static [&'static str],
    /// Columns naming one row (and its owner), to delete a row that is gone.
    key_columns: &'static [&'static str],
    /// The values of `key_columns` for the owner's child `K`.
    key: fn(i64, K) -> Vec<i64>,
}

static MODERATOR_ASSIGNMENTS: ChildTable<ProfileId> = ChildTable {
    table: &ASSIGNMENTS,
    owner_columns: &["moderator_id"],
    key_columns: &["profile_id", "moderator_id"],
    key: |moderator, profile| vec![id(profile.0), moderator],
};
static MODERATOR_QUEUE_ENTRY: ChildTable<()> = ChildTable {
    table: &QUEUE,
    owner_columns: &["moderator_id"],
    key_columns: &["moderator_id"],
    key: |moderator, ()| vec![moderator],
};
static PROFILE_LEASE: ChildTable<()> = ChildTable {
    table: &PROFILE_LOCKS,
    owner_columns: &["profile_id"],
    key_columns: &["profile_id"],
    key: |profile, ()| vec![profile],
};
static CLIENT_LOCK_ROWS: ChildTable<ProfileId> = ChildTable {
    table: &CLIENT_LOCKS,
    owner_columns: &["client_id"],
    key_columns: &["client_id", "profile_id"],
    key: |client, profile| vec![client, id(profile.0)],
};
static CLIENT_HOLDER: ChildTable<()> = ChildTable {
    table: &CLIENT_LOCK_HOLDERS,
    owner_columns: &["client_id"],
    key_columns: &["client_id"],
    key: |client, ()| vec![client],
};

/// An optional single child (a queue entry, a lease, a lock holder) as a map of at most one
/// entry, so that it goes through the same comparison as a list of children.
fn single(hash: Option<u64>) -> BTreeMap<(), u64> {
    hash.map(|hash| ((), hash)).into_iter().collect()
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
    /// key, which names the owner too. Returns the hashes of the rows now current.
    fn children<K: Ord + Copy>(
        &mut self,
        kind: &ChildTable<K>,
        owner: i64,
        current: Vec<(K, Vec<Value>)>,
        stored: Option<&BTreeMap<K, u64>>,
    ) -> BTreeMap<K, u64> {
        let ChildTable { table, owner_columns, key_columns, key: delete_key } = *kind;
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
                    self.delete(table.name, key_columns, &delete_key(owner, key));
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

    /// `children` for an owner's one optional child row.
    fn single_child(
        &mut self,
        kind: &ChildTable<()>,
        owner: i64,
        row: Option<Vec<Value>>,
        stored: Option<Option<u64>>,
    ) -> Option<u64> {
        let current = row.map(|row| ((), row)).into_iter().collect();
        self.children(kind, owner, current, stored.map(single).as_ref()).get(&()).copied()
    }

    fn moderator(&mut self, moderator: &Moderator, stored: Option<&ModeratorShadow>) {
        let row = self.entity(&MODERATORS, rows::moderator_row(moderator), stored.map(|s| s.row));
        let owner = id(moderator.id.0);
        let current = rows::assignment_rows(moderator).collect();
        let assignments = self.children(&MODERATOR_ASSIGNMENTS, owner, current, stored.map(|s| &s.assignments));
        let queue =
            self.single_child(&MODERATOR_QUEUE_ENTRY, owner, rows::queue_row(moderator), stored.map(|s| s.queue));
        self.entries.push(ShadowEntry::Moderator(moderator.id, ModeratorShadow { row, assignments, queue }));
    }

    fn profile(&mut self, profile: &Profile, stored: Option<&ProfileShadow>) {
        let row = self.entity(&PROFILES, rows::profile_row(profile), stored.map(|s| s.row));
        let owner = id(profile.id.0);
        let lease = self.single_child(&PROFILE_LEASE, owner, rows::profile_lock_row(profile), stored.map(|s| s.lease));
        self.entries.push(ShadowEntry::Profile(profile.id, ProfileShadow { row, lease }));
    }

    fn client(&mut self, client: &Client, stored: Option<&ClientShadow>) {
        let row = self.entity(&CLIENTS, rows::client_row(client), stored.map(|s| s.row));
        let owner = id(client.id.0);
        // Locks go before their holder row is replaced: both are checked at COMMIT anyway.
        let current = rows::client_lock_rows(client).collect();
        let locks = self.children(&CLIENT_LOCK_ROWS, owner, current, stored.map(|s| &s.locks));
        let holder =
            self.single_child(&CLIENT_HOLDER, owner, rows::client_lock_holder_row(client), stored.map(|s| s.holder));
        self.entries.push(ShadowEntry::Client(client.id, ClientShadow { row, holder, locks }));
    }
}

#[cfg(test)]
mod tests {
    use switchboard_engine::{ClientId, Command, Config, Engine, Event, MessageId, ModeratorId, ProfileId, Timestamp};

    use super::{plan_batch, AppliedBatch, Shadow, ShadowEntry, WritePlan};
    use crate::outbox::outbox_events;
    use crate::records::rows::{MessageRow, RowIds};
    use crate::records::Direction;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);
    const MODERATOR: ModeratorId = ModeratorId(1);

    /// A connected moderator holding profiles and a client writing to one of them: rows of
    /// every entity and every child table (assignments, leases, client locks and holders).
    fn busy_engine() -> Engine {
        let mut engine = Engine::new(Config::default());
        let commands = [
            Command::UpsertModerator { moderator_id: MODERATOR, name: "m1".into() },
            Command::UpsertProfile { profile_id: ProfileId(1), name: "p1".into(), active: true },
            Command::UpsertProfile { profile_id: ProfileId(2), name: "p2".into(), active: true },
            Command::Connect { moderator_id: MODERATOR, connected_at: NOW },
            Command::InboundMessage {
                message_id: MessageId::Number(7),
                client_id: ClientId(1),
                profile_id: ProfileId(1),
                body: "hello".into(),
                sent_at: NOW,
            },
        ];
        for command in commands {
            if let Err(rejection) = engine.handle(NOW, command) {
                panic!("set-up command refused: {rejection:?}");
            }
        }
        engine
    }

    fn plan_changes(engine: &mut Engine, shadow: &Shadow) -> (WritePlan, Vec<ShadowEntry>) {
        let changes = engine.take_changes();
        let events: Vec<Event> = engine.drain_events().collect();
        let outbox = outbox_events(&events, 1);
        let message = MessageRow {
            platform_message_id: Some(MessageId::Number(7)),
            client_id: ClientId(1),
            profile_id: ProfileId(1),
            direction: Direction::Inbound,
            moderator_id: None,
            body: "hello".to_owned(),
            sent_at: NOW,
        };
        let batch = AppliedBatch {
            engine,
            changes: &changes,
            alerts: &[],
            outbox: &outbox,
            messages: &[message],
            host_events: &[],
            webhooks: false,
            ids: RowIds { next_outbox_id: 1, next_message_id: 1 },
            now: NOW,
        };
        plan_batch(&batch, shadow)
    }

    /// Plans the entity rows of `changes` alone (no messages, events or alerts).
    fn plan_entities(engine: &Engine, changes: &switchboard_engine::Changes, shadow: &Shadow) -> WritePlan {
        let ids = RowIds { next_outbox_id: 1, next_message_id: 1 };
        let batch = AppliedBatch {
            engine,
            changes,
            alerts: &[],
            outbox: &[],
            messages: &[],
            host_events: &[],
            webhooks: false,
            ids,
            now: NOW,
        };
        plan_batch(&batch, shadow).0
    }

    fn written_tables(plan: &WritePlan) -> Vec<&'static str> {
        plan.inserts.iter().filter(|rows| !rows.rows.is_empty()).map(|rows| rows.table.name).collect()
    }

    #[test]
    fn every_row_lists_one_value_per_column_of_its_table() {
        let mut engine = busy_engine();
        let (plan, _) = plan_changes(&mut engine, &Shadow::default());
        let written = written_tables(&plan);
        for table in [
            "moderators",
            "moderator_profile_assignments",
            "profiles",
            "profile_locks",
            "clients",
            "client_locks",
            "client_lock_holders",
            "conversations",
            "messages",
            "outbox",
            "engine_meta",
        ] {
            assert!(written.contains(&table), "{table} is not written by the set-up: {written:?}");
        }
        for rows in &plan.inserts {
            for row in &rows.rows {
                assert_eq!(row.len(), rows.table.columns.len(), "a row of {}", rows.table.name);
            }
        }
    }

    #[test]
    fn rows_already_committed_are_not_written_again() {
        let mut engine = busy_engine();
        let changes = engine.take_changes();
        let mut shadow = Shadow::default();
        let (first, written) = plan_batch(
            &AppliedBatch {
                engine: &engine,
                changes: &changes,
                alerts: &[],
                outbox: &[],
                messages: &[],
                host_events: &[],
                webhooks: false,
                ids: RowIds { next_outbox_id: 1, next_message_id: 1 },
                now: NOW,
            },
            &shadow,
        );
        // Unknown owners: their children are deleted by owner, then inserted.
        assert!(first.deletes.iter().any(|delete| delete.table == "moderator_profile_assignments"));
        shadow.record(written);

        let again = plan_entities(&engine, &changes, &shadow);
        assert!(again.deletes.iter().all(|delete| delete.keys.is_empty()), "nothing to delete");
        // The engine's counters are written whenever they changed, whatever the shadow says.
        assert_eq!(written_tables(&again), vec!["engine_meta"]);
    }

    #[test]
    fn a_vanished_child_is_deleted_by_its_own_key() {
        let mut engine = busy_engine();
        let mut shadow = Shadow::default();
        let (_, written) = plan_changes(&mut engine, &shadow);
        shadow.record(written);
        let held: Vec<i64> = match engine.moderator(MODERATOR) {
            Some(moderator) => moderator.assignments.keys().map(|profile| profile.0 as i64).collect(),
            None => panic!("the moderator exists"),
        };
        assert!(!held.is_empty(), "the set-up gives the moderator profiles");

        if let Err(rejection) = engine.handle(NOW, Command::Disconnect { moderator_id: MODERATOR }) {
            panic!("disconnect refused: {rejection:?}");
        }
        let changes = engine.take_changes();
        let plan = plan_entities(&engine, &changes, &shadow);
        let keys = |table: &str| -> Option<(&'static [&'static str], Vec<i64>)> {
            plan.deletes.iter().find(|delete| delete.table == table).map(|delete| (delete.columns, delete.keys.clone()))
        };
        let assignment_keys: Vec<i64> = held.iter().flat_map(|&profile| [profile, 1]).collect();
        assert_eq!(keys("moderator_profile_assignments"), Some((&["profile_id", "moderator_id"][..], assignment_keys)));
        assert_eq!(keys("profile_locks"), Some((&["profile_id"][..], held)));
        assert_eq!(keys("client_locks"), Some((&["client_id", "profile_id"][..], vec![1, 1])));
        assert_eq!(keys("client_lock_holders"), Some((&["client_id"][..], vec![1])));
    }
}
