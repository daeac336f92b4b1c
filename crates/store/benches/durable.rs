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
//! The workload is ingestion, the hot durable path (`workload/mod.rs`, shared with the
//! `fencing` bench, which alternates fenced and unfenced runs over several rounds).

mod workload;

use std::time::{Duration, Instant};

use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url, fresh_sqlite_url};
use switchboard_store::Store;
use workload::open;

const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1000];

struct Row {
    backend: &'static str,
    batch: usize,
    commands_per_second: f64,
    mean_batch: f64,
    commits_per_second: f64,
    commit_share: f64,
}

fn seconds() -> Duration {
    workload::seconds("DURABLE_SECONDS", 3.0)
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

async fn measure(url: &str, backend: &'static str, batch: usize, first_message_id: u64) -> Row {
    let measured = workload::measure(url, backend == "postgres+fence", batch, first_message_id, seconds()).await;
    Row {
        backend,
        batch,
        commands_per_second: measured.commands_per_second,
        mean_batch: measured.mean_batch,
        commits_per_second: measured.commits_per_second,
        commit_share: measured.commit_share,
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
        workload::load_average()
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
