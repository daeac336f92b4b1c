//! The writer's own figures (commands applied and refused, batches, batch sizes, commit
//! latency, storage availability) in the Prometheus text format. Separate from `metrics.rs`
//! because its shape follows the store crate's `WriterMetrics`.

use std::fmt::Write as _;

use switchboard_store::{Histogram, WriterMetrics};

use crate::prometheus::{counter, gauge};

/// Appends the writer's series to `out`.
pub fn render(metrics: &WriterMetrics, out: &mut String) {
    counter(
        out,
        "switchboard_commands_applied_total",
        "Commands the engine accepted and whose batch committed.",
        metrics.commands_applied,
    );
    counter(out, "switchboard_commands_rejected_total", "Commands the engine refused.", metrics.commands_rejected);
    counter(out, "switchboard_writer_reads_total", "Reads answered by the writer.", metrics.reads);
    counter(out, "switchboard_batches_committed_total", "Batches committed by the writer.", metrics.batches_committed);
    counter(out, "switchboard_commits_failed_total", "Batch commits that failed.", metrics.commits_failed);
    counter(
        out,
        "switchboard_unavailable_answers_total",
        "Requests answered unavailable by the writer.",
        metrics.unavailable_answers,
    );
    counter(
        out,
        "switchboard_writer_recoveries_total",
        "Engine rebuilds from storage after a failure.",
        metrics.recoveries,
    );
    counter(
        out,
        "switchboard_outbox_events_delivered_total",
        "Committed outbox events handed to the publisher.",
        metrics.events_delivered,
    );
    gauge(
        out,
        "switchboard_storage_available",
        "1 while storage accepts commits.",
        u8::from(metrics.storage_available),
    );
    histogram(out, "switchboard_batch_size", "Commands and reads per writer batch.", &metrics.batch_size);
    histogram(out, "switchboard_commit_seconds", "Time to commit one batch.", &metrics.commit_seconds);
}

/// The store's histograms count per bucket; Prometheus wants cumulative counts.
fn histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
    let mut cumulative = 0;
    for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", histogram.count);
    let _ = writeln!(out, "{name}_sum {}", histogram.sum);
    let _ = writeln!(out, "{name}_count {}", histogram.count);
}
