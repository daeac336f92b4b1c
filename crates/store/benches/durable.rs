//! Durable throughput: commands per second committed through the writer, on SQLite and on
//! PostgreSQL, at batch sizes 1, 10, 100 and 1,000, beside the floor of each database (the
//! commit rate of a minimal transaction on the same database, in the same run).
//!
//! Run: `cargo bench -p switchboard-store --bench durable --features testing`
//! (PostgreSQL on 127.0.0.1:5432, or `SWITCHBOARD_TEST_POSTGRES`). Prints a table; asserts
//! nothing. Environment: `DURABLE_SECONDS` (per measurement, default 3), `DURABLE_BACKENDS`
//! (`sqlite` or `postgres` to run only the batch measurements of one; floors always run).
//!
//! PostgreSQL runs twice per batch size, alternately, in the same run: as one node
//! (`postgres`) and as a cluster's writer holding the writer lease (`postgres+fence`), whose
//! every batch first proves its epoch under a row lock (`FOR SHARE`) and counts itself in
//! `writer_epochs`: the cost of fencing.
//!
//! The workload is ingestion, the hot durable path: `InboundMessage` with a new message id
//! each, from 20,000 clients to 100 profiles held by 40 connected moderators. Each command
//! stores its message row, its conversation, usually a client lock, and its events.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::{ClientId, Command, Config, MessageId, ModeratorId, ProfileId};
use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url, fresh_sqlite_url};
use switchboard_store::{
    Clock, EventSink, Lease, LeaseSettings, OutboxEvent, Store, SystemClock, WriteError, Writer, WriterConfig,
    WriterHandle,
};

const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];
const MODERATORS: u64 = 40;
const PROFILES: u64 = 100;
const CLIENTS: u64 = 20_000;

/// Counts events and drops them, as a realtime server with no subscribers would.
struct CountingSink(AtomicU64);

impl EventSink for CountingSink {
    fn deliver(&self, events: &[OutboxEvent]) {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
    }
}

struct Row {
    backend: &'static str,
    batch: usize,
    commands_per_second: f64,
    mean_batch: f64,
    commits_per_second: f64,
    commit_share: f64,
}

fn seconds() -> Duration {
    let seconds = std::env::var("DURABLE_SECONDS").ok().and_then(|text| text.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

async fn open(url: &str) -> Store {
    let store = Store::open(url).await.unwrap_or_else(|error| panic!("open {url}: {error}"));
    store.migrate().await.unwrap_or_else(|error| panic!("migrate {url}: {error}"));
    store
}

/// Commits per second of a minimal write transaction (one upserted row) and of an empty one.
async fn floor(store: &Store, begin: &str, duration: Duration) -> (f64, f64) {
    let mut rates = Vec::new();
    for body in ["INSERT INTO settings (key, value) VALUES ('floor', 'x') ON CONFLICT (key) DO UPDATE SET value = settings.value || ''", ""] {
        let script = format!("{begin}; {body}; COMMIT;");
        let started = Instant::now();
        let mut commits = 0u64;
        while started.elapsed() < duration {
            store.execute_raw(&script).await.unwrap_or_else(|error| panic!("{script}: {error}"));
            commits += 1;
        }
        rates.push(commits as f64 / started.elapsed().as_secs_f64());
    }
    (rates[0], rates[1])
}

async fn prepare(handle: &WriterHandle) {
    let clock = SystemClock;
    for id in 1..=PROFILES {
        let command = Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true };
        handle.submit(command).await.expect("profile");
    }
    for id in 1..=MODERATORS {
        handle
            .submit(Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("m{id}") })
            .await
            .expect("moderator");
        handle
            .submit(Command::Connect { moderator_id: ModeratorId(id), connected_at: clock.now() })
            .await
            .expect("connect");
    }
}

async fn measure(url: &str, backend: &'static str, batch: usize, first_message_id: u64) -> Row {
    let store = open(url).await;
    let lease = (backend == "postgres+fence").then(|| {
        let settings = LeaseSettings {
            node_name: "bench".into(),
            advertise_url: "http://bench".into(),
            lease: Duration::from_secs(5),
        };
        Lease::start(&store, settings).expect("a lease on PostgreSQL")
    });
    let config = WriterConfig {
        engine: Config::default(),
        channel_capacity: 8192,
        max_batch: batch,
        lease: lease.as_ref().map(|(lease, _)| lease.clone()),
        webhooks: false,
    };
    let sink = Arc::new(CountingSink(AtomicU64::new(0)));
    let (handle, task) = Writer::start(store.clone(), config, Arc::new(SystemClock), sink).await.expect("start");
    if let Some((lease, _)) = &lease {
        let asked = Instant::now();
        while !lease.is_serving_writer() {
            assert!(asked.elapsed() < Duration::from_secs(30), "the lease was not granted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    prepare(&handle).await;
    let submitters = (batch * 2).clamp(64, 4000) as u64;
    let next = Arc::new(AtomicU64::new(first_message_id));
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let before = handle.metrics();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let (handle, next, stop, acknowledged) = (handle.clone(), next.clone(), stop.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let message_id = next.fetch_add(1, Ordering::Relaxed);
                let command = Command::InboundMessage {
                    message_id: MessageId::Number(message_id),
                    client_id: ClientId(1 + message_id % CLIENTS),
                    profile_id: ProfileId(1 + message_id % PROFILES),
                    body: "hello, is anyone there?".into(),
                    sent_at: SystemClock.now(),
                };
                match handle.submit(command).await {
                    Ok(_) => {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(WriteError::Rejected(_)) => {}
                    Err(error) => panic!("{error}"),
                }
            }
        }));
    }
    tokio::time::sleep(seconds()).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("submitter");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = handle.metrics();
    let commits = after.batches_committed - before.batches_committed;
    let commit_seconds = after.commit_seconds.sum - before.commit_seconds.sum;
    let commands = acknowledged.load(Ordering::Relaxed);
    drop(handle);
    task.shutdown().await;
    if let Some((_, keeper)) = lease {
        keeper.release().await;
    }
    store.close().await;
    Row {
        backend,
        batch,
        commands_per_second: commands as f64 / elapsed,
        mean_batch: commands as f64 / commits.max(1) as f64,
        commits_per_second: commits as f64 / elapsed,
        commit_share: commit_seconds / elapsed,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let duration = seconds();
    let mut rows = Vec::new();
    let mut floors = Vec::new();

    let only = std::env::var("DURABLE_BACKENDS").unwrap_or_default();
    let (_directory, sqlite_url) = fresh_sqlite_url();
    let store = open(&sqlite_url).await;
    floors.push(("sqlite", floor(&store, "BEGIN IMMEDIATE", duration).await));
    store.close().await;
    for (index, &batch) in BATCH_SIZES.iter().enumerate().filter(|_| only.is_empty() || only.contains("sqlite")) {
        let (_directory, url) = fresh_sqlite_url();
        rows.push(measure(&url, "sqlite", batch, 1 + index as u64 * 100_000_000).await);
    }

    let postgres_url = fresh_postgres_url().await;
    let store = open(&postgres_url).await;
    floors.push(("postgres", floor(&store, "BEGIN", duration).await));
    store.close().await;
    drop_postgres_database(&postgres_url).await;
    for (index, &batch) in BATCH_SIZES.iter().enumerate().filter(|_| only.is_empty() || only.contains("postgres")) {
        for backend in ["postgres", "postgres+fence"] {
            let url = fresh_postgres_url().await;
            rows.push(measure(&url, backend, batch, 1 + index as u64 * 100_000_000).await);
            drop_postgres_database(&url).await;
        }
    }

    println!();
    println!(
        "durable throughput, {:.1} s per measurement (commands acknowledged after COMMIT); load average at the end: {}",
        duration.as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".to_owned(), |text| text.trim().to_owned())
    );
    println!();
    println!("| backend        | max_batch | commands/s | mean batch | commits/s | time in COMMIT | floor: 1-row tx/s | floor: empty tx/s |");
    println!("|----------------|----------:|-----------:|-----------:|----------:|---------------:|------------------:|------------------:|");
    for row in &rows {
        let floor_of = row.backend.trim_end_matches("+fence");
        let (one_row, empty) = floors.iter().find(|(backend, _)| *backend == floor_of).map_or((0.0, 0.0), |f| f.1);
        println!(
            "| {:<14} | {:>9} | {:>10.0} | {:>10.1} | {:>9.0} | {:>13.0}% | {:>17.0} | {:>17.0} |",
            row.backend,
            row.batch,
            row.commands_per_second,
            row.mean_batch,
            row.commits_per_second,
            row.commit_share * 100.0,
            one_row,
            empty
        );
    }
    println!();
    println!("targets (reported, not asserted): >= 50,000 commands/s on SQLite, >= 20,000 on PostgreSQL");
}
