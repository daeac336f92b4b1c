//! The `Store`: a pool of connections to SQLite or PostgreSQL, chosen by URL, with the
//! durability settings of README.md "Durability", the migrations, and the reads the server
//! serves beside the engine (message history, stored alerts, settings).
//!
//! It never writes engine state: only the writer does (`writer.rs`), through `sql.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, QueryBuilder};
use switchboard_engine::{ClientId, ConversationKey, ModeratorId, ProfileId, Timestamp};

use crate::error::StoreError;
use crate::records::{id, read_message_id, timestamp, Direction, MessageRow, RowExt};
use crate::sql::{Conn, STATEMENT_CACHE_CAPACITY};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a request for a pooled connection waits before storage counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long SQLite waits for another connection's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// PostgreSQL session settings that keep a dead or paused writer from holding the lease row
/// (README "Running several nodes"): a session idle inside a transaction this long is ended
/// by the server (its row locks with it), so a writer stopped (SIGSTOP) between its fence
/// check and its COMMIT cannot delay a takeover beyond the lease; TCP keepalives from the
/// server find a peer whose host vanished within idle + interval × count.
const POSTGRES_SESSION_SETTINGS: [(&str, &str); 5] = [
    ("idle_in_transaction_session_timeout", "5s"),
    ("tcp_keepalives_idle", "5"),
    ("tcp_keepalives_interval", "1"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "8000"),
];
/// Connections per pool: one for the writer, the rest for the server's reads.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

/// Which database a `Store` is on (feature `testing`: tests that differ by backend).
#[cfg(feature = "testing")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Durable storage, SQLite or PostgreSQL by URL. Cheap to clone (a shared pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Arc<Pool>,
}

/// One row of `messages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Storage order within the whole database.
    pub id: i64,
    pub row: MessageRow,
    /// When the writer stored it.
    pub recorded_at: Timestamp,
}

/// One row of `alerts`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    pub alert_id: u64,
    pub kind: String,
    pub severity: String,
    pub data: serde_json::Value,
    pub raised_at: Timestamp,
}

impl Store {
    /// Connects to `sqlite://PATH` (the file is created if missing) or `postgres://...`.
    pub async fn open(database_url: &str) -> Result<Store, StoreError> {
        let pool = if database_url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(database_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            let pool = SqlitePoolOptions::new()
                .max_connections(SQLITE_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Pool::Sqlite(pool)
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            // Acknowledged means durable: never inherit `synchronous_commit = off` from the server.
            let options = PgConnectOptions::from_str(database_url)?
                .options([("synchronous_commit", "on")])
                .options(POSTGRES_SESSION_SETTINGS)
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(database_url.to_owned()));
        };
        Ok(Store { pool: Arc::new(pool) })
    }

    /// Applies the migrations not yet applied (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &*self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Applies only the migrations numbered up to `version`, read from this crate's source
    /// tree (the same files `migrate` embeds, so their checksums match): a database as an
    /// older release left it, for tests that upgrade one.
    #[cfg(feature = "testing")]
    pub async fn migrate_up_to(&self, version: i64) -> Result<(), StoreError> {
        use sqlx::migrate::MigrateError;
        let source = |error: std::io::Error| StoreError::Migrate(MigrateError::Source(Box::new(error)));
        let backend = match &*self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        };
        let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let staged = tempfile::tempdir().map_err(source)?;
        for entry in std::fs::read_dir(&all).map_err(source)? {
            let entry = entry.map_err(source)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let number = name.split('_').next().and_then(|number| number.parse::<i64>().ok());
            if number.is_some_and(|number| number <= version) {
                std::fs::copy(entry.path(), staged.path().join(&name)).map_err(source)?;
            }
        }
        let migrator = Migrator::new(staged.path()).await?;
        match &*self.pool {
            Pool::Sqlite(pool) => migrator.run(pool).await?,
            Pool::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    /// Succeeds when the database answers a query (for `/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &*self.pool {
            Pool::Sqlite(pool) => pool.execute("SELECT 1").await.map(drop)?,
            Pool::Postgres(pool) => pool.execute("SELECT 1").await.map(drop)?,
        }
        Ok(())
    }

    /// The PostgreSQL pool (for the writer lease), `None` on SQLite.
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &*self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    pub(crate) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match &*self.pool {
            Pool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Returns the stored value, storing `value` first if the key was absent (first start:
    /// the JWT secret, the Pusher credentials).
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        macro_rules! run {
            ($pool:expr, $db:ty) => {{
                let mut insert = QueryBuilder::<$db>::new("INSERT INTO settings (key, value) VALUES (");
                insert.push_bind(key).push(", ").push_bind(value).push(") ON CONFLICT (key) DO NOTHING");
                insert.build().execute($pool).await?;
                let mut select = QueryBuilder::<$db>::new("SELECT value FROM settings WHERE key = ");
                select.push_bind(key);
                let row = select.build().fetch_one($pool).await?;
                row.text("value")?
            }};
        }
        Ok(match &*self.pool {
            Pool::Sqlite(pool) => run!(pool, sqlx::Sqlite),
            Pool::Postgres(pool) => run!(pool, sqlx::Postgres),
        })
    }

    /// The last `limit` messages of a conversation, oldest first.
    pub async fn messages(&self, key: ConversationKey, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        macro_rules! run {
            ($pool:expr, $db:ty) => {{
                let mut query = QueryBuilder::<$db>::new("SELECT * FROM messages WHERE client_id = ");
                query
                    .push_bind(id(key.client_id.0))
                    .push(" AND profile_id = ")
                    .push_bind(id(key.profile_id.0))
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = query.build().fetch_all($pool).await?;
                rows.iter().map(stored_message).collect::<Result<Vec<_>, StoreError>>()?
            }};
        }
        let mut messages = match &*self.pool {
            Pool::Sqlite(pool) => run!(pool, sqlx::Sqlite),
            Pool::Postgres(pool) => run!(pool, sqlx::Postgres),
        };
        messages.reverse();
        Ok(messages)
    }

    /// The newest `limit` stored alerts, newest first.
    pub async fn alerts(&self, limit: u32) -> Result<Vec<StoredAlert>, StoreError> {
        macro_rules! run {
            ($pool:expr, $db:ty) => {{
                let mut query = QueryBuilder::<$db>::new("SELECT * FROM alerts ORDER BY alert_id DESC LIMIT ");
                query.push_bind(i64::from(limit));
                let rows = query.build().fetch_all($pool).await?;
                rows.iter().map(stored_alert).collect::<Result<Vec<_>, StoreError>>()?
            }};
        }
        Ok(match &*self.pool {
            Pool::Sqlite(pool) => run!(pool, sqlx::Sqlite),
            Pool::Postgres(pool) => run!(pool, sqlx::Postgres),
        })
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match &*self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// Inspection and raw statements for tests and benchmarks (feature `testing`): the product
/// never runs SQL that is not the writer's or one of the reads above.
#[cfg(feature = "testing")]
impl Store {
    pub fn backend(&self) -> Backend {
        match &*self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one read-only statement and returns the first column of each row as an integer.
    /// For tests that inspect the database (`SELECT count(*) ...`).
    pub async fn query_integers(&self, sql: &str) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.acquire().await?;
        let mut values = Vec::new();
        crate::sql::for_each_row!(&mut conn, sql, |row| row.int_at(0).map(|value| values.push(value)));
        Ok(values)
    }

    /// Runs statements as they are (test set-up, the benchmark's floor), on one connection; a script may hold
    /// its own `BEGIN; ... COMMIT;`. On error the connection's transaction, if any, is rolled
    /// back and the connection closed, so that no pooled connection is left mid-transaction.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        let result = match &mut conn {
            Conn::Sqlite(connection) => sqlx::raw_sql(sql).execute(&mut **connection).await.map(drop),
            Conn::Postgres(connection) => sqlx::raw_sql(sql).execute(&mut **connection).await.map(drop),
        };
        if let Err(error) = result {
            let _ = match &mut conn {
                Conn::Sqlite(connection) => connection.execute("ROLLBACK").await.map(drop),
                Conn::Postgres(connection) => connection.execute("ROLLBACK").await.map(drop),
            };
            conn.discard();
            return Err(error.into());
        }
        Ok(())
    }
}

fn stored_message(row: &impl RowExt) -> Result<StoredMessage, StoreError> {
    let direction = match row.text("direction")?.as_str() {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        other => return Err(StoreError::corrupt("messages", "direction", other)),
    };
    Ok(StoredMessage {
        id: row.int("id")?,
        row: MessageRow {
            platform_message_id: read_message_id(row, "messages", "message_id", "message_key")?,
            client_id: ClientId(row.int("client_id")? as u64),
            profile_id: ProfileId(row.int("profile_id")? as u64),
            direction,
            moderator_id: row.opt_int("moderator_id")?.map(|value| ModeratorId(value as u64)),
            body: row.text("body")?,
            sent_at: timestamp(row.int("sent_at")?),
        },
        recorded_at: timestamp(row.int("recorded_at")?),
    })
}

fn stored_alert(row: &impl RowExt) -> Result<StoredAlert, StoreError> {
    let data =
        serde_json::from_str(&row.text("data")?).map_err(|error| StoreError::corrupt("alerts", "data", error))?;
    Ok(StoredAlert {
        alert_id: row.int("alert_id")? as u64,
        kind: row.text("kind")?,
        severity: row.text("severity")?,
        data,
        raised_at: timestamp(row.int("raised_at")?),
    })
}
