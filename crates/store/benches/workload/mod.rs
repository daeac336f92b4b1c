//! The durable benches' workload (`durable.rs`, `fencing.rs`): ingestion, the hot durable
//! path, through the real `Writer`: `InboundMessage` with a new message id each, from 20,000
//! clients to 100 profiles held by 40 connected moderators. Each command stores its message
//! row, its conversation, usually a client lock, and its events.
//!
//! A fenced run holds the writer lease (`WriterConfig::lease = Some`): every batch first
//! proves its epoch under a row lock (`FOR SHARE`) and counts itself in `writer_epochs`, as a
//! cluster's writer does. An unfenced run (`None`) is one node's writer.
// Each bench reads only some of the figures.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::{ClientId, Command, Config, MessageId, ModeratorId, ProfileId};
use switchboard_store::{
    Clock, EventSink, Lease, LeaseSettings, OutboxEvent, Store, SystemClock, WriteError, Writer, WriterConfig,
    WriterHandle,
};

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

/// What one measurement saw.
pub struct Measured {
    pub commands_per_second: f64,
    pub mean_batch: f64,
    pub commits_per_second: f64,
    /// The share of the wall time spent inside the batch transactions' commit calls.
    pub commit_share: f64,
    /// The mean time of one batch's commit call (BEGIN, the fence if any, the writes, COMMIT).
    pub mean_commit: Duration,
    /// Submit → answer of one command (its wait in the channel, its batch, the commit).
    pub latency_p50: Duration,
    pub latency_p99: Duration,
}

/// `seconds` (an environment variable) or `default`.
pub fn seconds(variable: &str, default: f64) -> Duration {
    let seconds = std::env::var(variable).ok().and_then(|text| text.parse().ok()).unwrap_or(default);
    Duration::from_secs_f64(seconds)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".to_owned(), |text| text.trim().to_owned())
}

pub async fn open(url: &str) -> Store {
    let store = Store::open(url).await.unwrap_or_else(|error| panic!("open {url}: {error}"));
    store.migrate().await.unwrap_or_else(|error| panic!("migrate {url}: {error}"));
    store
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

fn percentile(sorted: &[u32], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_micros(u64::from(sorted[index]))
}

/// Ingestion through a writer on the fresh, empty database `url` for `duration`, at most
/// `batch` commands per transaction; `fenced`: holding the writer lease (PostgreSQL only).
pub async fn measure(url: &str, fenced: bool, batch: usize, first_message_id: u64, duration: Duration) -> Measured {
    let store = open(url).await;
    let lease = fenced.then(|| {
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
    let before = handle.metrics();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let (handle, next, stop) = (handle.clone(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Microseconds from submit to answer of each acknowledged command.
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let message_id = next.fetch_add(1, Ordering::Relaxed);
                let command = Command::InboundMessage {
                    message_id: MessageId::Number(message_id),
                    client_id: ClientId(1 + message_id % CLIENTS),
                    profile_id: ProfileId(1 + message_id % PROFILES),
                    body: "hello, is anyone there?".into(),
                    sent_at: SystemClock.now(),
                };
                let submitted = Instant::now();
                match handle.submit(command).await {
                    Ok(_) => latencies.push(u32::try_from(submitted.elapsed().as_micros()).unwrap_or(u32::MAX)),
                    Err(WriteError::Rejected(_)) => {}
                    Err(error) => panic!("{error}"),
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("submitter"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = handle.metrics();
    let commits = after.batches_committed - before.batches_committed;
    let commit_seconds = after.commit_seconds.sum - before.commit_seconds.sum;
    let commit_calls = after.commit_seconds.count - before.commit_seconds.count;
    drop(handle);
    task.shutdown().await;
    if let Some((_, keeper)) = lease {
        keeper.release().await;
    }
    store.close().await;
    latencies.sort_unstable();
    let commands = latencies.len() as f64;
    Measured {
        commands_per_second: commands / elapsed,
        mean_batch: commands / commits.max(1) as f64,
        commits_per_second: commits as f64 / elapsed,
        commit_share: commit_seconds / elapsed,
        mean_commit: Duration::from_secs_f64(commit_seconds / commit_calls.max(1) as f64),
        latency_p50: percentile(&latencies, 0.5),
        latency_p99: percentile(&latencies, 0.99),
    }
}
