//! Test harness: one fresh database per test on each backend, a writer started on it with
//! a manual clock and a recording sink, and helpers that read like the behaviour under test.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use switchboard_engine::{ClientId, Command, Config, MessageId, MessageKey, ModeratorId, ProfileId, Reply, Timestamp};
use switchboard_store::testing::{
    drop_postgres_database, fresh_postgres_url, fresh_sqlite_url, ManualClock, RecordingSink,
};
use switchboard_store::{Backend, NewMessage, Store, WriteError, Writer, WriterConfig, WriterHandle, WriterTask};

/// 2023-11-14T22:13:20Z: a fixed start so that every run sees the same times.
pub const START: Timestamp = Timestamp(1_700_000_000_000);

/// Runs the same async test body on a fresh SQLite file and a fresh PostgreSQL database.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = crate::common::Db::fresh(switchboard_store::Backend::Sqlite).await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = crate::common::Db::fresh(switchboard_store::Backend::Postgres).await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            }
        )*
    };
}
pub(crate) use both_backends;

/// A fresh database for one test.
pub struct Db {
    pub url: String,
    pub backend: Backend,
    _directory: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn fresh(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => {
                let (directory, url) = fresh_sqlite_url();
                Db { url, backend, _directory: Some(directory) }
            }
            Backend::Postgres => Db { url: fresh_postgres_url().await, backend, _directory: None },
        }
    }

    /// Opens and migrates.
    pub async fn store(&self) -> Store {
        let store = Store::open(&self.url).await.expect("open the store");
        store.migrate().await.expect("migrate");
        store
    }

    /// The PostgreSQL database's name (for the outage test's admin statements).
    pub fn postgres_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or_default()
    }

    pub async fn cleanup(self) {
        if self.backend == Backend::Postgres {
            drop_postgres_database(&self.url).await;
        }
    }
}

pub fn test_config() -> WriterConfig {
    WriterConfig::new(Config::default())
}

/// A writer running on a test database.
pub struct Service {
    pub store: Store,
    pub handle: WriterHandle,
    pub task: WriterTask,
    pub sink: Arc<RecordingSink>,
    pub clock: Arc<ManualClock>,
}

impl Service {
    pub async fn start(db: &Db, clock: Arc<ManualClock>) -> Service {
        Self::start_with(db, clock, test_config()).await
    }

    pub async fn start_with(db: &Db, clock: Arc<ManualClock>, config: WriterConfig) -> Service {
        let store = db.store().await;
        let sink = RecordingSink::new();
        let (handle, task) =
            Writer::start(store.clone(), config, clock.clone(), sink.clone()).await.expect("start the writer");
        Service { store, handle, task, sink, clock }
    }

    /// A clean stop, then a new writer (new sink) on the same database and clock.
    pub async fn restart(self, db: &Db) -> Service {
        let clock = self.clock.clone();
        self.stop().await;
        Service::start(db, clock).await
    }

    pub async fn stop(self) {
        self.task.shutdown().await;
        self.store.close().await;
    }

    pub async fn submit(&self, command: Command) -> Result<Reply, WriteError> {
        self.handle.submit(command).await
    }

    pub async fn ok(&self, command: Command) -> Reply {
        let description = format!("{command:?}");
        match self.handle.submit(command).await {
            Ok(reply) => reply,
            Err(error) => panic!("{description} failed: {error}"),
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        count(&self.store, sql).await
    }

    /// Moderators 1..=moderators and active profiles 1..=profiles.
    pub async fn directory(&self, moderators: u64, profiles: u64) {
        for id in 1..=moderators {
            self.ok(Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("moderator {id}") }).await;
        }
        for id in 1..=profiles {
            self.ok(Command::UpsertProfile { profile_id: ProfileId(id), name: format!("profile {id}"), active: true })
                .await;
        }
    }

    pub async fn connect(&self, moderator: u64) -> Reply {
        let connected_at = self.clock_now();
        self.ok(Command::Connect { moderator_id: ModeratorId(moderator), connected_at }).await
    }

    pub fn clock_now(&self) -> Timestamp {
        use switchboard_store::Clock;
        self.clock.now()
    }

    pub async fn inbound(
        &self,
        message_id: impl Into<MessageId>,
        client: u64,
        profile: u64,
    ) -> Result<Reply, WriteError> {
        let message_id = message_id.into();
        let body = format!("message {message_id}");
        let command = inbound_command(message_id, client, profile, &body, self.clock_now());
        self.handle.submit_with_message(command, NewMessage { body, sent_at: self.clock_now() }).await
    }
}

pub fn inbound_command(
    message_id: impl Into<MessageId>,
    client: u64,
    profile: u64,
    body: &str,
    sent_at: Timestamp,
) -> Command {
    Command::InboundMessage {
        message_id: message_id.into(),
        client_id: ClientId(client),
        profile_id: ProfileId(profile),
        body: body.into(),
        sent_at,
    }
}

/// A string message id (`key("01J…")`), as the platform may send instead of an integer.
pub fn key(text: &str) -> MessageId {
    MessageId::Key(MessageKey::parse(text).expect("a valid message key"))
}

pub async fn count(store: &Store, sql: &str) -> i64 {
    match store.query_integers(sql).await {
        Ok(values) => values.first().copied().unwrap_or(0),
        Err(error) => panic!("{sql}: {error}"),
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every table's row count and a few sums of columns that every change moves: equal
/// fingerprints mean nothing was written (for the rejected-command test).
pub async fn fingerprint(store: &Store) -> Vec<i64> {
    let statements = [
        "SELECT count(*) FROM moderators",
        "SELECT CAST(coalesce(sum(last_seen_at), 0) AS BIGINT) FROM moderators",
        "SELECT CAST(coalesce(sum(coalesce(last_activity_at, 0)), 0) AS BIGINT) FROM moderators",
        "SELECT count(*) FROM profiles",
        "SELECT count(*) FROM clients",
        "SELECT count(*) FROM conversations",
        "SELECT count(*) FROM messages",
        "SELECT count(*) FROM moderator_profile_assignments",
        "SELECT count(*) FROM profile_locks",
        "SELECT CAST(coalesce(sum(token), 0) AS BIGINT) FROM profile_locks",
        "SELECT CAST(coalesce(sum(expires_at), 0) AS BIGINT) FROM profile_locks",
        "SELECT count(*) FROM client_locks",
        "SELECT CAST(coalesce(sum(expires_at), 0) AS BIGINT) FROM client_locks",
        "SELECT count(*) FROM moderator_queue",
        "SELECT count(*) FROM assignment_conflicts",
        "SELECT count(*) FROM alerts",
        "SELECT count(*) FROM outbox",
        "SELECT next_token FROM engine_meta",
    ];
    let mut values = Vec::new();
    for statement in statements {
        values.push(count(store, statement).await);
    }
    values
}
