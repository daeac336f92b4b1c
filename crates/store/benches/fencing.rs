//! The cost of fencing on durable commands/s: the writer on PostgreSQL, the same ingestion
//! mix (`workload/mod.rs`), once holding the writer lease (`WriterConfig::lease = Some`:
//! every batch transaction first proves its epoch under a row lock and counts itself in
//! `writer_epochs`, as a cluster's writer does) and once without (`None`: one node), each on
//! a fresh database, alternating over several rounds in the same run (the order flips every
//! round, so that a drift of the shared machine weighs on both sides alike).
//!
//! Run: `cargo bench -p switchboard-store --bench fencing --features testing` (PostgreSQL on
//! 127.0.0.1:5432, or `SWITCHBOARD_TEST_POSTGRES`). Prints every run, then per batch size
//! the medians and the fenced/unfenced ratio of each round; asserts nothing. Environment:
//! `FENCING_ROUNDS` (default 5), `FENCING_SECONDS` (per run, default 3), `FENCING_BATCHES`
//! (max_batch sizes, default `1,10,100,1000`).
//!
//! No setting of the service turns fencing off: the unfenced side is the one-node writer,
//! which the bench builds directly.

mod workload;

use std::time::Duration;

use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url};
use workload::Measured;

struct Run {
    round: usize,
    batch: usize,
    fenced: bool,
    measured: Measured,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("FENCING_ROUNDS").ok().and_then(|text| text.parse().ok()).unwrap_or(5);
    let duration = workload::seconds("FENCING_SECONDS", 3.0);
    let batches: Vec<usize> = std::env::var("FENCING_BATCHES")
        .unwrap_or_else(|_| "1,10,100,1000".to_owned())
        .split(',')
        .map(|text| text.trim().parse().expect("FENCING_BATCHES: sizes separated by commas"))
        .collect();
    println!(
        "fencing: {rounds} rounds × {batches:?} × {{unfenced, fenced}}, {:.1} s per run; load average at the start: {}",
        duration.as_secs_f64(),
        workload::load_average()
    );

    let mut runs = Vec::new();
    let mut first_message_id = 1u64;
    for round in 1..=rounds {
        for &batch in &batches {
            let order = if round % 2 == 1 { [false, true] } else { [true, false] };
            for fenced in order {
                let url = fresh_postgres_url().await;
                let measured = workload::measure(&url, fenced, batch, first_message_id, duration).await;
                drop_postgres_database(&url).await;
                first_message_id += 100_000_000;
                println!(
                    "round {round} max_batch {batch:>4} {:<8}: {:>7.0} commands/s, mean batch {:>6.1}, {:>5.0} commits/s, {:>3.0}% in commit, mean commit {:>7.3} ms, \
                     command p50 {:>7.3} ms p99 {:>7.3} ms (load {})",
                    if fenced { "fenced" } else { "unfenced" },
                    measured.commands_per_second,
                    measured.mean_batch,
                    measured.commits_per_second,
                    measured.commit_share * 100.0,
                    millis(measured.mean_commit),
                    millis(measured.latency_p50),
                    millis(measured.latency_p99),
                    workload::load_average()
                );
                runs.push(Run { round, batch, fenced, measured });
            }
        }
    }

    println!();
    println!(
        "medians over {rounds} rounds ({:.1} s per run); load average at the end: {}",
        duration.as_secs_f64(),
        workload::load_average()
    );
    println!();
    println!("| max_batch | unfenced commands/s | fenced commands/s | fenced/unfenced per round | median ratio | mean commit unfenced / fenced | command p50 unfenced / fenced | command p99 unfenced / fenced |");
    println!("|----------:|--------------------:|------------------:|---------------------------|-------------:|------------------------------:|------------------------------:|------------------------------:|");
    for &batch in &batches {
        let side = |fenced: bool| -> Vec<&Measured> {
            runs.iter().filter(|run| run.batch == batch && run.fenced == fenced).map(|run| &run.measured).collect()
        };
        let (unfenced, fenced) = (side(false), side(true));
        let pick = |side: &[&Measured], value: fn(&Measured) -> f64| median(side.iter().map(|m| value(m)).collect());
        let ratios: Vec<f64> = (1..=rounds)
            .filter_map(|round| {
                let rate = |want: bool| {
                    runs.iter()
                        .find(|run| run.round == round && run.batch == batch && run.fenced == want)
                        .map(|run| run.measured.commands_per_second)
                };
                Some(rate(true)? / rate(false)?)
            })
            .collect();
        println!(
            "| {batch:>9} | {:>19.0} | {:>17.0} | {} | {:>12.2} | {:.3} / {:.3} ms | {:.3} / {:.3} ms | {:.3} / {:.3} ms |",
            pick(&unfenced, |m| m.commands_per_second),
            pick(&fenced, |m| m.commands_per_second),
            ratios.iter().map(|ratio| format!("{ratio:.2}")).collect::<Vec<_>>().join(", "),
            median(ratios.clone()),
            pick(&unfenced, |m| millis(m.mean_commit)),
            pick(&fenced, |m| millis(m.mean_commit)),
            pick(&unfenced, |m| millis(m.latency_p50)),
            pick(&fenced, |m| millis(m.latency_p50)),
            pick(&unfenced, |m| millis(m.latency_p99)),
            pick(&fenced, |m| millis(m.latency_p99)),
        );
    }
}
