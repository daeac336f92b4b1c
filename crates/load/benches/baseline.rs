//! The baseline: the design a platform team writes by default (the seed's Laravel plan):
//! every decision made inside PostgreSQL with row locks, one transaction per decision; and,
//! on the same workload in the same run, Switchboard's writer on PostgreSQL. Prints both
//! decisions/s and the ratio. Asserts nothing.
//!
//! Run: `cargo bench -p switchboard-load --bench baseline` (PostgreSQL on 127.0.0.1:5432,
//! or `SWITCHBOARD_TEST_POSTGRES`). Environment: `BASELINE_SECONDS` (per side, default 10),
//! `BASELINE_CONNECTIONS` (the baseline's pool and workers, default 16), `BASELINE_ONLY`
//! (`baseline` or `switchboard`: run one side, e.g. under `perf record`).
//!
//! The workload, both sides: 40 connected moderators, 100 active profiles (each moderator
//! holds up to 3), and a stream of inbound client messages, each from a new client to one of
//! the profiles. A *decision* is what one message asks for: store it idempotently, open or
//! update its conversation, find the profile's holder (or give the free profile to the least
//! busy working moderator), lock the client for the holder unless another moderator holds
//! it, add the conversation to the holder's load, and record the event in an outbox.
//! Two variants, both measured: `ingest` (nobody replies: the backlog grows all run long)
//! and `steady` (the holder answers each conversation 4,096 messages later: store the reply,
//! close the conversation, release the client lock, lower the load, record the event; a
//! reply is a decision too), which keeps the backlog bounded as on a real platform.
//!
//! The baseline, kept small and fair: its own schema with the indexes its queries need,
//! prepared statements (sqlx caches them per connection), a pool of 16 connections and 16
//! concurrent workers, `SELECT … FOR UPDATE` on the rows it changes and
//! `FOR UPDATE SKIP LOCKED` to pick the least-busy moderator, `synchronous_commit = on` (as
//! Switchboard's store sets it).
//! Switchboard: `switchboard_store::Writer` (the service's one writer, `max_batch` 512 as the
//! service runs it) on a fresh database of the same server, `InboundMessage` commands from
//! 1,024 concurrent submitters, each acknowledged after its batch's COMMIT.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Executor as _, Row as _};
use switchboard_engine::{ClientId, Command, Config, MessageId, ModeratorId, ProfileId};
use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url};
use switchboard_store::{
    Clock, EventSink, NewMessage, OutboxEvent, Store, SystemClock, WriteError, Writer, WriterConfig,
};

const MODERATORS: i64 = 40;
const PROFILES: i64 = 100;
const MAX_PROFILES_PER_MODERATOR: i32 = 3;
const SWITCHBOARD_SUBMITTERS: u64 = 1024;
/// In the steady workload, message n − REPLY_WINDOW is answered after message n arrives.
const REPLY_WINDOW: u64 = 4096;

const SCHEMA: &str = "
CREATE TABLE moderators (
    id BIGINT PRIMARY KEY,
    state TEXT NOT NULL,
    load INTEGER NOT NULL DEFAULT 0,
    profile_count INTEGER NOT NULL DEFAULT 0,
    last_assigned_at TIMESTAMPTZ
);
CREATE INDEX moderators_least_busy ON moderators (state, load, profile_count, last_assigned_at, id);
CREATE TABLE profiles (
    id BIGINT PRIMARY KEY,
    active BOOLEAN NOT NULL,
    holder_id BIGINT REFERENCES moderators (id),
    lock_expires_at TIMESTAMPTZ
);
CREATE INDEX profiles_holder ON profiles (holder_id);
CREATE TABLE clients (
    id BIGINT PRIMARY KEY,
    locked_by BIGINT REFERENCES moderators (id),
    lock_profile_id BIGINT,
    lock_expires_at TIMESTAMPTZ
);
CREATE TABLE conversations (
    client_id BIGINT NOT NULL REFERENCES clients (id),
    profile_id BIGINT NOT NULL REFERENCES profiles (id),
    waiting_since TIMESTAMPTZ,
    last_message_id BIGINT,
    assigned_to BIGINT REFERENCES moderators (id),
    PRIMARY KEY (client_id, profile_id)
);
CREATE INDEX conversations_pending ON conversations (waiting_since) WHERE assigned_to IS NULL AND waiting_since IS NOT NULL;
CREATE INDEX conversations_assigned ON conversations (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    message_id BIGINT NOT NULL UNIQUE,
    client_id BIGINT NOT NULL,
    profile_id BIGINT NOT NULL,
    body TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

fn seconds() -> Duration {
    Duration::from_secs_f64(std::env::var("BASELINE_SECONDS").ok().and_then(|text| text.parse().ok()).unwrap_or(10.0))
}

fn connections() -> u32 {
    std::env::var("BASELINE_CONNECTIONS").ok().and_then(|text| text.parse().ok()).unwrap_or(16)
}

/// The n-th message of the workload: (message id, client, profile).
fn workload(n: u64) -> (i64, i64, i64) {
    let n = n as i64;
    (1 + n, 1 + n, 1 + (n * 7) % PROFILES)
}

/// One decision, the Laravel way: one transaction, row locks, decisions in SQL.
async fn baseline_decision(pool: &PgPool, message_id: i64, client_id: i64, profile_id: i64) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO clients (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO messages (message_id, client_id, profile_id, body, sent_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(message_id)
    .bind(client_id)
    .bind(profile_id)
    .bind("hello, is anyone there?")
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return tx.commit().await; // a retry: nothing to decide
    }
    let assigned_to: Option<i64> = sqlx::query(
        "INSERT INTO conversations (client_id, profile_id, waiting_since, last_message_id) VALUES ($1, $2, now(), $3)
         ON CONFLICT (client_id, profile_id) DO UPDATE
           SET waiting_since = COALESCE(conversations.waiting_since, EXCLUDED.waiting_since),
               last_message_id = EXCLUDED.last_message_id
         RETURNING assigned_to",
    )
    .bind(client_id)
    .bind(profile_id)
    .bind(message_id)
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    if assigned_to.is_some() {
        return tx.commit().await; // already with its moderator
    }
    // The profile's holder, locked so it cannot change under us.
    let mut holder: Option<i64> = sqlx::query("SELECT holder_id FROM profiles WHERE id = $1 AND active FOR UPDATE")
        .bind(profile_id)
        .fetch_optional(&mut *tx)
        .await?
        .and_then(|row| row.get(0));
    if holder.is_none() {
        // findLeastBusyModerator: skip moderators another transaction is deciding for.
        let candidate: Option<i64> = sqlx::query(
            "SELECT id FROM moderators WHERE state = 'working' AND profile_count < $1
             ORDER BY load, profile_count, last_assigned_at NULLS FIRST, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .bind(MAX_PROFILES_PER_MODERATOR)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.get(0));
        if let Some(moderator) = candidate {
            sqlx::query(
                "UPDATE profiles SET holder_id = $1, lock_expires_at = now() + interval '500 seconds' WHERE id = $2",
            )
            .bind(moderator)
            .bind(profile_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE moderators SET profile_count = profile_count + 1, last_assigned_at = now() WHERE id = $1",
            )
            .bind(moderator)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO outbox (channel, name, data) VALUES ($1, 'ProfileAssigned', $2)")
                .bind(format!("private-moderator.{moderator}"))
                .bind(format!("{{\"profile_id\":{profile_id},\"reason\":\"assignment\"}}"))
                .execute(&mut *tx)
                .await?;
            holder = Some(moderator);
        }
    }
    let Some(holder) = holder else {
        return tx.commit().await; // an orphan: stays waiting
    };
    // The client lock: one moderator at a time.
    let lock: Option<(Option<i64>, bool)> =
        sqlx::query("SELECT locked_by, lock_expires_at > now() FROM clients WHERE id = $1 FOR UPDATE")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| (row.get(0), row.get::<Option<bool>, _>(1).unwrap_or(false)));
    if let Some((Some(other), true)) = lock {
        if other != holder {
            return tx.commit().await; // pending until that lock is released
        }
    }
    sqlx::query(
        "UPDATE clients SET locked_by = $1, lock_profile_id = $2, lock_expires_at = now() + interval '30 seconds' WHERE id = $3",
    )
    .bind(holder)
    .bind(profile_id)
    .bind(client_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE conversations SET assigned_to = $1 WHERE client_id = $2 AND profile_id = $3")
        .bind(holder)
        .bind(client_id)
        .bind(profile_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE moderators SET load = load + 1 WHERE id = $1").bind(holder).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO outbox (channel, name, data) VALUES ($1, 'ConversationAssigned', $2)")
        .bind(format!("private-moderator.{holder}"))
        .bind(format!(
            "{{\"client_id\":{client_id},\"profile_id\":{profile_id},\"message\":{{\"message_id\":{message_id}}}}}"
        ))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// One reply, the Laravel way: the holder answers, in one transaction.
async fn baseline_reply(pool: &PgPool, message_id: i64, client_id: i64, profile_id: i64) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let holder: Option<i64> = sqlx::query(
        "SELECT assigned_to FROM conversations WHERE client_id = $1 AND profile_id = $2 AND waiting_since IS NOT NULL FOR UPDATE",
    )
    .bind(client_id)
    .bind(profile_id)
    .fetch_optional(&mut *tx)
    .await?
    .and_then(|row| row.get(0));
    let Some(holder) = holder else {
        tx.commit().await?;
        return Ok(false); // not assigned: nothing to answer
    };
    // Only the profile's holder may answer.
    let holds: bool = sqlx::query("SELECT holder_id = $1 FROM profiles WHERE id = $2 FOR SHARE")
        .bind(holder)
        .bind(profile_id)
        .fetch_optional(&mut *tx)
        .await?
        .and_then(|row| row.get::<Option<bool>, _>(0))
        .unwrap_or(false);
    if !holds {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO messages (message_id, client_id, profile_id, body, sent_at) VALUES ($1, $2, $3, $4, now())",
    )
    .bind(-message_id)
    .bind(client_id)
    .bind(profile_id)
    .bind("here I am")
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE conversations SET waiting_since = NULL, assigned_to = NULL WHERE client_id = $1 AND profile_id = $2",
    )
    .bind(client_id)
    .bind(profile_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE clients SET locked_by = NULL, lock_profile_id = NULL, lock_expires_at = NULL WHERE id = $1 AND locked_by = $2")
        .bind(client_id)
        .bind(holder)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE moderators SET load = load - 1 WHERE id = $1").bind(holder).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO outbox (channel, name, data) VALUES ($1, 'ConversationReleased', $2)")
        .bind(format!("private-moderator.{holder}"))
        .bind(format!("{{\"client_id\":{client_id},\"profile_id\":{profile_id},\"reason\":\"answered\"}}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

async fn run_baseline(duration: Duration, steady: bool) -> (f64, u64) {
    let url = fresh_postgres_url().await;
    let pool = PgPoolOptions::new()
        .max_connections(connections())
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection.execute("SET synchronous_commit = on").await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("connect");
    pool.execute(SCHEMA).await.expect("schema");
    for id in 1..=MODERATORS {
        sqlx::query("INSERT INTO moderators (id, state) VALUES ($1, 'working')")
            .bind(id)
            .execute(&pool)
            .await
            .expect("moderator");
    }
    for id in 1..=PROFILES {
        sqlx::query("INSERT INTO profiles (id, active) VALUES ($1, true)")
            .bind(id)
            .execute(&pool)
            .await
            .expect("profile");
    }
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections() {
        let (pool, next, done, failed, stop) = (pool.clone(), next.clone(), done.clone(), failed.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (message_id, client_id, profile_id) = workload(n);
                match baseline_decision(&pool, message_id, client_id, profile_id).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                if steady && n >= REPLY_WINDOW {
                    let (message_id, client_id, profile_id) = workload(n - REPLY_WINDOW);
                    match baseline_reply(&pool, message_id, client_id, profile_id).await {
                        Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => 0,
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let assigned: i64 = sqlx::query("SELECT count(*) FROM conversations WHERE assigned_to IS NOT NULL")
        .fetch_one(&pool)
        .await
        .map(|row| row.get(0))
        .unwrap_or(0);
    pool.close().await;
    drop_postgres_database(&url).await;
    println!(
        "baseline ({}): {} decisions ({} assigned now, {} failed) in {elapsed:.1} s",
        if steady { "steady" } else { "ingest" },
        done.load(Ordering::Relaxed),
        assigned,
        failed.load(Ordering::Relaxed)
    );
    (done.load(Ordering::Relaxed) as f64 / elapsed, failed.load(Ordering::Relaxed))
}

struct CountingSink(AtomicU64);

impl EventSink for CountingSink {
    fn deliver(&self, events: &[OutboxEvent]) {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
    }
}

async fn run_switchboard(duration: Duration, steady: bool) -> f64 {
    let url = fresh_postgres_url().await;
    let store = Store::open(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    let config = WriterConfig {
        engine: Config::default(),
        channel_capacity: 4096,
        max_batch: 512,
        lease: None,
        webhooks: false,
    };
    let sink = Arc::new(CountingSink(AtomicU64::new(0)));
    let (handle, task) =
        Writer::start(store.clone(), config, Arc::new(SystemClock), sink.clone()).await.expect("writer");
    for id in 1..=PROFILES as u64 {
        let command = Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true };
        handle.submit(command).await.expect("profile");
    }
    for id in 1..=MODERATORS as u64 {
        handle
            .submit(Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("m{id}") })
            .await
            .expect("moderator");
        handle
            .submit(Command::Connect { moderator_id: ModeratorId(id), connected_at: SystemClock.now() })
            .await
            .expect("connect");
    }
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Who holds each profile, refreshed every 20 ms: the moderator that answers (the service's
    // consoles know it from their events).
    let holders: Arc<Vec<AtomicU64>> = Arc::new((0..=PROFILES).map(|_| AtomicU64::new(0)).collect());
    let refresher = {
        let (handle, holders, stop) = (handle.clone(), holders.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let snapshot = handle
                    .read(|engine| {
                        (1..=PROFILES as u64)
                            .map(|id| {
                                engine
                                    .profile(ProfileId(id))
                                    .and_then(|p| p.lease.as_ref())
                                    .map_or(0, |l| l.moderator_id.0)
                            })
                            .collect::<Vec<u64>>()
                    })
                    .await
                    .unwrap_or_default();
                for (index, holder) in snapshot.into_iter().enumerate() {
                    holders[index + 1].store(holder, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let mut submitters = Vec::new();
    for _ in 0..SWITCHBOARD_SUBMITTERS {
        let (handle, next, done, refused, stop, holders) =
            (handle.clone(), next.clone(), done.clone(), refused.clone(), stop.clone(), holders.clone());
        submitters.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if steady && n >= REPLY_WINDOW {
                    let (_, client_id, profile_id) = workload(n - REPLY_WINDOW);
                    let holder = holders[profile_id as usize].load(Ordering::Relaxed);
                    let command = Command::SendMessage {
                        moderator_id: ModeratorId(holder),
                        client_id: ClientId(client_id as u64),
                        profile_id: ProfileId(profile_id as u64),
                        lease_token: None,
                    };
                    let message = NewMessage { body: "here I am".to_owned(), sent_at: SystemClock.now() };
                    match handle.submit_with_message(command, message).await {
                        Ok(_) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(WriteError::Rejected(_)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => panic!("{error}"),
                    }
                }
                let (message_id, client_id, profile_id) = workload(n);
                let command = Command::InboundMessage {
                    message_id: MessageId::Number(message_id as u64),
                    client_id: ClientId(client_id as u64),
                    profile_id: ProfileId(profile_id as u64),
                    body: "hello, is anyone there?".into(),
                    sent_at: SystemClock.now(),
                };
                match handle.submit(command).await {
                    Ok(_) | Err(WriteError::Rejected(_)) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => panic!("{error}"),
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for submitter in submitters {
        let _ = submitter.await;
    }
    let _ = refresher.await;
    let elapsed = started.elapsed().as_secs_f64();
    let assigned = handle
        .read(|engine| engine.moderators().map(|moderator| u64::from(moderator.load)).sum::<u64>())
        .await
        .unwrap_or(0);
    drop(handle);
    task.shutdown().await;
    store.close().await;
    drop_postgres_database(&url).await;
    println!(
        "switchboard ({}): {} decisions ({assigned} conversations awaiting a reply, {} replies refused, {} events) in {elapsed:.1} s",
        if steady { "steady" } else { "ingest" },
        done.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        sink.0.load(Ordering::Relaxed)
    );
    done.load(Ordering::Relaxed) as f64 / elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let duration = seconds();
    let only = std::env::var("BASELINE_ONLY").unwrap_or_default();
    let workloads = match std::env::var("BASELINE_WORKLOAD").as_deref() {
        Ok("ingest") => vec![false],
        Ok("steady") => vec![true],
        _ => vec![false, true],
    };
    let mut rows = Vec::new();
    for steady in workloads {
        let (baseline, failed) =
            if only == "switchboard" { (f64::NAN, 0) } else { run_baseline(duration, steady).await };
        let switchboard = if only == "baseline" { f64::NAN } else { run_switchboard(duration, steady).await };
        rows.push((if steady { "steady" } else { "ingest" }, baseline, switchboard, failed));
    }
    println!();
    println!("| workload | PostgreSQL row locks, 1 tx per decision ({} connections) | Switchboard writer on PostgreSQL (max_batch 512) | ratio |", connections());
    println!("|---|---:|---:|---:|");
    for (workload, baseline, switchboard, _) in &rows {
        println!(
            "| {workload} | {baseline:.0} decisions/s | {switchboard:.0} decisions/s | {:.1}× |",
            switchboard / baseline.max(1e-9)
        );
    }
    println!();
    println!("target: Switchboard >= 20× the baseline (reported, not asserted)");
    for (workload, _, _, failed) in rows {
        if failed > 0 {
            println!("note ({workload}): {failed} baseline transactions failed (deadlock or serialization) and were not retried");
        }
    }
}
