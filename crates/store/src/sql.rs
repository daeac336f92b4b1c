//! The only place that runs SQL for the writer: committing a `WritePlan` in one transaction
//! and reading every table back, on either backend.
//!
//! The plan is the same for both backends; the statements differ. SQLite gets multi-row
//! `VALUES` lists (it has no arrays, and parses them quickly); PostgreSQL gets one statement
//! per table with each column bound as an array (`UNNEST`). Either way the number of round
//! trips per batch is small and independent of the batch size. SQLite write transactions
//! begin `IMMEDIATE` (take the write lock up front instead of failing to upgrade later).

use sqlx::pool::PoolConnection;
use sqlx::{Executor, PgConnection, Postgres, QueryBuilder, Sqlite, SqliteConnection};

use crate::error::StoreError;
use crate::records::{Loaded, Loader, RowExt, Table, Value, WritePlan};

/// What a fenced commit proves before it writes (a cluster's writer, `lease.rs`): the lease
/// row still names this epoch and holder and has not expired on the database's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fence {
    pub(crate) epoch: i64,
    pub(crate) holder: String,
}

/// The first statement of a fenced batch transaction. `FOR SHARE` holds the lease row until
/// COMMIT, so a grant to another node (an UPDATE of that row) waits for this batch, and a
/// batch that runs after a grant sees the new epoch and finds no row: no batch of an old
/// epoch ever commits after a newer epoch was granted. The same statement counts the batch
/// in its epoch's log row (`writer_epochs`), which the tests read.
const FENCE_SQL: &str = "WITH fence AS ( \
       SELECT epoch FROM writer_lease \
       WHERE id = 1 AND epoch = $1 AND holder = $2 AND expires_at > clock_timestamp() FOR SHARE) \
     UPDATE writer_epochs SET commits = commits + 1, last_commit_at = clock_timestamp() \
     FROM fence WHERE writer_epochs.epoch = fence.epoch";

/// A PostgreSQL batch: the fence first (if any), then the plan.
async fn write_postgres(conn: &mut PgConnection, plan: &WritePlan, fence: Option<&Fence>) -> Result<(), StoreError> {
    if let Some(fence) = fence {
        check_fence(&mut *conn, fence).await?;
    }
    Ok(execute_plan_postgres(conn, plan).await?)
}

async fn check_fence(conn: &mut PgConnection, fence: &Fence) -> Result<(), StoreError> {
    let proved = sqlx::query(FENCE_SQL).bind(fence.epoch).bind(&fence.holder).execute(conn).await?;
    if proved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced { epoch: fence.epoch })
    }
}

/// Most bound values in one statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS_PER_STATEMENT: usize = 30_000;
/// Most rows in one multi-row statement.
const MAX_ROWS_PER_STATEMENT: usize = 1_024;
/// Most `OR` terms in one multi-column delete (SQLite's expression depth limit is 1,000).
const MAX_OR_TERMS_PER_STATEMENT: usize = 256;
/// Prepared statements kept per connection: every (table, power-of-two row count) pair the
/// writer can produce fits, so steady-state batches never re-prepare a statement.
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 512;

/// Splits `items` into chunks whose lengths are powers of two, at most `max` (rounded down
/// to a power of two), largest first. Row counts then come from a small fixed set, so each
/// statement's text repeats and its prepared form is reused from the cache.
fn power_of_two_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = if max.is_power_of_two() { max } else { max.next_power_of_two() / 2 }.max(1);
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let size = if items.len() >= max { max } else { 1 << items.len().ilog2() };
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// A connection held by the writer across batches.
pub(crate) enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

fn insert_prefix(table: &Table) -> String {
    format!("INSERT INTO {} ({}) ", table.name, table.columns.join(", "))
}

fn conflict_clause(table: &Table) -> String {
    if table.upsert_key.is_empty() {
        return String::new();
    }
    let updates: Vec<String> = table
        .columns
        .iter()
        .filter(|column| !table.upsert_key.contains(column))
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(" ON CONFLICT ({}) DO UPDATE SET {}", table.upsert_key.join(", "), updates.join(", "))
}

/// SQLite: multi-row statements with one bound value per cell, in power-of-two chunks.
async fn execute_plan_sqlite(conn: &mut SqliteConnection, plan: &WritePlan) -> Result<(), sqlx::Error> {
    for delete in &plan.deletes {
        let width = delete.columns.len().max(1);
        let keys: Vec<&[i64]> = delete.keys.chunks(width).collect();
        let per_statement = if width == 1 { MAX_ROWS_PER_STATEMENT } else { MAX_OR_TERMS_PER_STATEMENT };
        for chunk in power_of_two_chunks(&keys, per_statement) {
            let mut query = QueryBuilder::<Sqlite>::new("DELETE FROM ");
            query.push(delete.table).push(" WHERE ");
            if let [column] = delete.columns {
                // `column IN (...)`: an index lookup per key.
                query.push(column).push(" IN (");
                let mut list = query.separated(", ");
                for key in chunk {
                    list.push_bind(key[0]);
                }
                query.push(")");
            } else {
                // `(a = ? AND b = ?) OR ...`: SQLite scans the table for a row-value
                // `IN` list, but searches the key's index for each term of an OR.
                for (index, key) in chunk.iter().enumerate() {
                    query.push(if index == 0 { "(" } else { " OR (" });
                    for (position, (column, value)) in delete.columns.iter().zip(key.iter()).enumerate() {
                        query.push(if position == 0 { "" } else { " AND " }).push(column).push(" = ");
                        query.push_bind(*value);
                    }
                    query.push(")");
                }
            }
            query.build().execute(&mut *conn).await?;
        }
    }
    for rows in &plan.inserts {
        let table = rows.table;
        let per_statement = (MAX_BINDS_PER_STATEMENT / table.columns.len()).clamp(1, MAX_ROWS_PER_STATEMENT);
        let prefix = insert_prefix(table);
        let suffix = if rows.upsert { conflict_clause(table) } else { String::new() };
        for chunk in power_of_two_chunks(&rows.rows, per_statement) {
            let mut query = QueryBuilder::<Sqlite>::new(&prefix);
            query.push_values(chunk, |mut row_values, row| {
                for value in row {
                    match value {
                        Value::Int(value) => row_values.push_bind(*value),
                        Value::OptInt(value) => row_values.push_bind(*value),
                        Value::Text(value) => row_values.push_bind(value.as_str()),
                        Value::OptText(value) => row_values.push_bind(value.as_deref()),
                        Value::Bool(value) => row_values.push_bind(*value),
                    };
                }
            });
            query.push(&suffix);
            query.build().execute(&mut *conn).await?;
        }
    }
    if let Some(mark) = plan.mark_delivered {
        let mut query = QueryBuilder::<Sqlite>::new("UPDATE outbox_delivered SET up_to_id = ");
        query.push_bind(mark.up_to_id).push(", delivered_at = ").push_bind(mark.at).push(" WHERE id = 1");
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// One column of a batch's rows, bound as a single PostgreSQL array.
enum ColumnArray<'a> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<&'a str>>),
    Bool(Vec<bool>),
}

impl<'a> ColumnArray<'a> {
    fn for_value(value: &Value, rows: usize) -> ColumnArray<'a> {
        match value {
            Value::Int(_) | Value::OptInt(_) => ColumnArray::Int(Vec::with_capacity(rows)),
            Value::Text(_) | Value::OptText(_) => ColumnArray::Text(Vec::with_capacity(rows)),
            Value::Bool(_) => ColumnArray::Bool(Vec::with_capacity(rows)),
        }
    }

    fn sql_type(&self) -> &'static str {
        match self {
            ColumnArray::Int(_) => "BIGINT[]",
            ColumnArray::Text(_) => "TEXT[]",
            ColumnArray::Bool(_) => "BOOLEAN[]",
        }
    }

    /// Appends `value`; false if it is not of this column's type (a bug in `records/rows.rs`).
    fn push(&mut self, value: &'a Value) -> bool {
        match (self, value) {
            (ColumnArray::Int(column), Value::Int(value)) => column.push(Some(*value)),
            (ColumnArray::Int(column), Value::OptInt(value)) => column.push(*value),
            (ColumnArray::Text(column), Value::Text(value)) => column.push(Some(value.as_str())),
            (ColumnArray::Text(column), Value::OptText(value)) => column.push(value.as_deref()),
            (ColumnArray::Bool(column), Value::Bool(value)) => column.push(*value),
            _ => return false,
        }
        true
    }
}

/// The rows of `rows` column by column, each column typed by its first row.
fn column_arrays<'a>(table: &str, rows: &'a [Vec<Value>]) -> Result<Vec<ColumnArray<'a>>, sqlx::Error> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let mut columns: Vec<ColumnArray> = first.iter().map(|value| ColumnArray::for_value(value, rows.len())).collect();
    for row in rows {
        let complete = row.len() == columns.len();
        if !complete || !columns.iter_mut().zip(row).all(|(column, value)| column.push(value)) {
            return Err(sqlx::Error::Encode(format!("a row of {table} does not match its first row's types").into()));
        }
    }
    Ok(columns)
}

/// `UNNEST($n::T1[], $n+1::T2[], ...)` for `columns`, numbering parameters after `bound`.
fn unnest(columns: &[ColumnArray], bound: usize) -> String {
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| format!("${}::{}", bound + index + 1, column.sql_type()))
        .collect();
    format!("UNNEST({})", arrays.join(", "))
}

/// One PostgreSQL statement made of data-modifying CTEs, one per table and kind, with every
/// column bound as one array. They all run, in one round trip, whether or not the final
/// `SELECT` reads them; none may touch a row another one touches.
#[derive(Default)]
struct CteStatement<'a> {
    parts: Vec<String>,
    arrays: Vec<ColumnArray<'a>>,
}

impl<'a> CteStatement<'a> {
    /// Adds `sql`, in which `{unnest}` stands for `UNNEST` over `columns`.
    fn add(&mut self, sql: &str, columns: Vec<ColumnArray<'a>>) {
        let sql = sql.replace("{unnest}", &unnest(&columns, self.arrays.len()));
        self.parts.push(sql);
        self.arrays.extend(columns);
    }

    async fn execute(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.parts.is_empty() {
            return Ok(());
        }
        let ctes: Vec<String> =
            self.parts.iter().enumerate().map(|(index, part)| format!("w{index} AS ({part})")).collect();
        let sql = format!("WITH {} SELECT 1", ctes.join(", "));
        let mut query = sqlx::query(&sql);
        for column in self.arrays {
            query = match column {
                ColumnArray::Int(values) => query.bind(values),
                ColumnArray::Text(values) => query.bind(values),
                ColumnArray::Bool(values) => query.bind(values),
            };
        }
        query.execute(conn).await.map(drop)
    }
}

/// PostgreSQL: the whole plan in two statements, whatever the number of rows and tables:
/// every delete, then every insert, upsert and the delivery mark. Each table's rows are bound
/// column by column as arrays and spread by `UNNEST`, so a batch of 500 rows binds a few
/// dozen arrays instead of thousands of values for the server to parse and evaluate one by
/// one; and a batch costs four round trips (with BEGIN and COMMIT) instead of one per table,
/// which is what its latency is made of when the server shares its cores. Deletes come
/// first, in their own statement, because an owner's rows may be deleted and inserted again
/// in one batch and the CTEs of one statement do not see each other's changes.
async fn execute_plan_postgres(conn: &mut PgConnection, plan: &WritePlan) -> Result<(), sqlx::Error> {
    let mut deletes = CteStatement::default();
    for delete in plan.deletes.iter().filter(|delete| !delete.keys.is_empty()) {
        let width = delete.columns.len().max(1);
        let mut columns: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(delete.keys.len() / width); width];
        for key in delete.keys.chunks(width) {
            for (column, &value) in columns.iter_mut().zip(key) {
                column.push(Some(value));
            }
        }
        let sql =
            format!("DELETE FROM {} WHERE ({}) IN (SELECT * FROM {{unnest}})", delete.table, delete.columns.join(", "));
        deletes.add(&sql, columns.into_iter().map(ColumnArray::Int).collect());
    }
    deletes.execute(&mut *conn).await?;

    let mut writes = CteStatement::default();
    for rows in plan.inserts.iter().filter(|rows| !rows.rows.is_empty()) {
        let table = rows.table;
        let suffix = if rows.upsert { conflict_clause(table) } else { String::new() };
        let sql = format!("{}SELECT * FROM {{unnest}}{suffix}", insert_prefix(table));
        writes.add(&sql, column_arrays(table.name, &rows.rows)?);
    }
    if let Some(mark) = plan.mark_delivered {
        let columns = vec![ColumnArray::Int(vec![Some(mark.at)]), ColumnArray::Int(vec![Some(mark.up_to_id)])];
        writes.add(
            "UPDATE outbox_delivered SET up_to_id = mark.up_to_id, delivered_at = mark.at \
             FROM {unnest} AS mark (at, up_to_id) WHERE outbox_delivered.id = 1",
            columns,
        );
    }
    writes.execute(&mut *conn).await
}

/// Runs `$body` for every row of `$sql`, on whichever backend `$conn` is. Rows are streamed,
/// one at a time: materialising a million-row table at once tripled the resident memory
/// after a restart.
macro_rules! for_each_row {
    ($conn:expr, $sql:expr, |$row:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite(connection) => {
                let mut rows = sqlx::query($sql).fetch(&mut **connection);
                while let Some($row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                    let $row = &$row;
                    $body?;
                }
            }
            Conn::Postgres(connection) => {
                let mut rows = sqlx::query($sql).fetch(&mut **connection);
                while let Some($row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                    let $row = &$row;
                    $body?;
                }
            }
        }
    };
}
#[cfg(feature = "testing")]
pub(crate) use for_each_row;

impl Conn {
    async fn raw(&mut self, statement: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(connection) => connection.execute(statement).await.map(drop),
            Conn::Postgres(connection) => connection.execute(statement).await.map(drop),
        }
    }

    /// Writes the plan in one transaction, first proving `fence` in it when given (a
    /// cluster's writer on PostgreSQL; `Fenced` if the epoch is no longer held). On any error
    /// the transaction is rolled back (as far as the connection still allows) and the error
    /// returned; the caller must then treat the connection as suspect and the batch as not
    /// committed.
    pub async fn commit(&mut self, plan: &WritePlan, fence: Option<&Fence>) -> Result<(), StoreError> {
        let begin = match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        };
        self.raw(begin).await?;
        let written = match self {
            Conn::Sqlite(_) if fence.is_some() => Err(StoreError::LeaseNeedsPostgres),
            Conn::Sqlite(connection) => execute_plan_sqlite(connection, plan).await.map_err(StoreError::from),
            Conn::Postgres(connection) => write_postgres(connection, plan, fence).await,
        };
        let result = match written {
            Ok(()) => self.raw("COMMIT").await.map_err(StoreError::from),
            Err(error) => Err(error),
        };
        if result.is_err() {
            // A failed COMMIT can leave the transaction open (SQLite, deferred keys).
            let _ = self.raw("ROLLBACK").await;
        }
        result
    }

    /// Reads every table in one read transaction (a consistent snapshot).
    pub async fn load(&mut self) -> Result<Loaded, StoreError> {
        let begin = match self {
            Conn::Sqlite(_) => "BEGIN",
            Conn::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.raw(begin).await?;
        let loaded = self.load_tables().await;
        let end = self.raw(if loaded.is_ok() { "COMMIT" } else { "ROLLBACK" }).await;
        let loaded = loaded?;
        end?;
        Ok(loaded)
    }

    async fn load_tables(&mut self) -> Result<Loaded, StoreError> {
        let mut loader = Loader::default();
        for_each_row!(self, "SELECT * FROM moderators ORDER BY id", |row| loader.moderator(row));
        for_each_row!(self, "SELECT * FROM moderator_profile_assignments", |row| loader.assignment(row));
        for_each_row!(self, "SELECT * FROM moderator_queue", |row| loader.queue_entry(row));
        for_each_row!(self, "SELECT * FROM profiles ORDER BY id", |row| loader.profile(row));
        for_each_row!(self, "SELECT * FROM profile_locks", |row| loader.profile_lock(row));
        for_each_row!(self, "SELECT * FROM clients ORDER BY id", |row| loader.client(row));
        for_each_row!(self, "SELECT * FROM client_lock_holders", |row| loader.client_lock_holder(row));
        for_each_row!(self, "SELECT * FROM client_locks", |row| loader.client_lock(row));
        for_each_row!(self, "SELECT * FROM conversations", |row| loader.conversation(row));
        self.load_inbound_messages(&mut loader).await?;
        for_each_row!(self, "SELECT * FROM assignment_conflicts ORDER BY id", |row| loader.conflict(row));
        for_each_row!(self, "SELECT * FROM engine_meta WHERE id = 1", |row| loader.meta(row));
        for_each_row!(
            self,
            "SELECT id, channel, name, data FROM outbox \
             WHERE id > (SELECT up_to_id FROM outbox_delivered WHERE id = 1) ORDER BY id",
            |row| loader.undelivered(row)
        );
        for_each_row!(
            self,
            "SELECT (SELECT max(id) FROM outbox) AS outbox, (SELECT max(id) FROM messages) AS messages",
            |row| loader.max_ids(row)
        );
        Ok(loader.finish())
    }

    /// The inbound messages' platform ids, integers and strings (the engine keeps them all,
    /// for idempotency; an inbound row has exactly one of the two by the schema's CHECK): the
    /// largest table, read in pages in id order. Streaming it row by row kept the memory
    /// down but made a restart with 1,000,000 messages 1.3 s slower (3.4 s against 2.1 s);
    /// reading it at once took 560 MiB. Pages do neither.
    async fn load_inbound_messages(&mut self, loader: &mut Loader) -> Result<(), StoreError> {
        const PAGE: i64 = 65_536;
        const COLUMNS: &str = "SELECT id, message_id, message_key, client_id, profile_id FROM messages";
        let mut after = i64::MIN;
        loop {
            let mut rows = 0;
            match self {
                Conn::Sqlite(connection) => {
                    let sql = format!("{COLUMNS} WHERE id > ? AND direction = 'inbound' ORDER BY id LIMIT ?");
                    for row in sqlx::query(&sql).bind(after).bind(PAGE).fetch_all(&mut **connection).await? {
                        after = row.int_at(0)?;
                        rows += 1;
                        loader.inbound_message(&row)?;
                    }
                }
                Conn::Postgres(connection) => {
                    let sql = format!("{COLUMNS} WHERE id > $1 AND direction = 'inbound' ORDER BY id LIMIT $2");
                    for row in sqlx::query(&sql).bind(after).bind(PAGE).fetch_all(&mut **connection).await? {
                        after = row.int_at(0)?;
                        rows += 1;
                        loader.inbound_message(&row)?;
                    }
                }
            }
            if rows < PAGE {
                return Ok(());
            }
        }
    }

    /// The newest host event's sequence (0 when none is stored): the writer continues after it.
    pub async fn max_host_sequence(&mut self) -> Result<i64, StoreError> {
        let mut newest = 0;
        for_each_row!(self, "SELECT max(sequence) AS newest FROM host_events", |row| row
            .opt_int("newest")
            .map(|value| newest = value.unwrap_or(0)));
        Ok(newest)
    }

    /// Closes the connection instead of returning it to the pool (after an error).
    pub fn discard(mut self) {
        match &mut self {
            Conn::Sqlite(connection) => connection.close_on_drop(),
            Conn::Postgres(connection) => connection.close_on_drop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::power_of_two_chunks;

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything() {
        let items: Vec<u32> = (0..1_100).collect();
        let sizes: Vec<usize> = power_of_two_chunks(&items, 1_000).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![512, 512, 64, 8, 4]);
        let sizes: Vec<usize> = power_of_two_chunks(&items[..100], 1_024).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![64, 32, 4]);
        assert_eq!(power_of_two_chunks(&items[..0], 8).count(), 0);
        let rejoined: Vec<u32> = power_of_two_chunks(&items, 30).flatten().copied().collect();
        assert_eq!(rejoined, items);
    }
}
