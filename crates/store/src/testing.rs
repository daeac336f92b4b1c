//! Test support (feature `testing`), for this crate's tests and the server's: a fresh
//! database per test on either backend, a clock moved by hand, and a sink that records.
//!
//! PostgreSQL tests never skip: `fresh_postgres_url` panics with instructions when the
//! server on 127.0.0.1:5432 (or `SWITCHBOARD_TEST_POSTGRES`) cannot be reached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use switchboard_engine::Timestamp;

use crate::clock::Clock;
use crate::outbox::OutboxEvent;
use crate::writer::EventSink;

/// The server the PostgreSQL tests use, without a database name.
pub const DEFAULT_POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// `SWITCHBOARD_TEST_POSTGRES` (e.g. `postgres://user@host:5432`) or the default server.
pub fn postgres_server() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES_SERVER.to_owned())
}

/// Connects to the server's `postgres` database, panicking with instructions if it cannot.
pub async fn postgres_admin_connection() -> PgConnection {
    let url = format!("{}/postgres", postgres_server());
    let connect = PgConnection::connect(&url);
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => panic!(
            "PostgreSQL is required for these tests and is not reachable at {url}: {error}. \
             Start it (e.g. `pg_ctlcluster 15 main start`) or set SWITCHBOARD_TEST_POSTGRES."
        ),
        Err(_) => panic!("PostgreSQL at {url} did not answer within 10 s; these tests need it."),
    }
}

/// Creates a uniquely named, empty database and returns its URL.
pub async fn fresh_postgres_url() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    let name = format!("switchboard_test_{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), nanos);
    let mut admin = postgres_admin_connection().await;
    if let Err(error) = admin.execute(format!("CREATE DATABASE {name}").as_str()).await {
        panic!("could not create test database {name}: {error}");
    }
    let _ = admin.close().await;
    format!("{}/{name}", postgres_server())
}

/// Drops a database made by `fresh_postgres_url` (closing its sessions first).
pub async fn drop_postgres_database(url: &str) {
    let Some(name) = url.rsplit('/').next() else { return };
    let mut admin = postgres_admin_connection().await;
    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
    let _ = admin.close().await;
}

/// A SQLite URL in a fresh temporary directory, removed when the guard is dropped.
pub fn fresh_sqlite_url() -> (tempfile::TempDir, String) {
    let directory = match tempfile::tempdir() {
        Ok(directory) => directory,
        Err(error) => panic!("cannot create a temporary directory: {error}"),
    };
    let url = format!("sqlite://{}", directory.path().join("switchboard.db").display());
    (directory, url)
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<ManualClock> {
        Arc::new(ManualClock { millis: AtomicU64::new(start.0) })
    }

    pub fn set(&self, at: Timestamp) {
        self.millis.store(at.0, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.millis.fetch_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

/// An `EventSink` that keeps every delivered event, in delivery order, and can wait for some.
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<OutboxEvent>>,
    delivered: Condvar,
}

impl RecordingSink {
    pub fn new() -> Arc<RecordingSink> {
        Arc::new(RecordingSink::default())
    }

    pub fn events(&self) -> Vec<OutboxEvent> {
        self.events.lock().map(|events| events.clone()).unwrap_or_default()
    }

    /// Waits (blocking, up to `timeout`) until `done` holds for the events delivered so far;
    /// returns whether it did.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[OutboxEvent]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut events) = self.events.lock() else { return false };
        loop {
            if done(&events) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.delivered.wait_timeout(events, left) {
                Ok((guard, _)) => events = guard,
                Err(_) => return false,
            }
        }
    }
}

impl EventSink for RecordingSink {
    fn deliver(&self, events: &[OutboxEvent]) {
        if let Ok(mut delivered) = self.events.lock() {
            delivered.extend_from_slice(events);
        }
        self.delivered.notify_all();
    }
}
