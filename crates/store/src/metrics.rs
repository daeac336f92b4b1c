//! The writer's counters and histograms, updated lock-free by the writer task and read as a
//! snapshot (`WriterHandle::metrics`) for `/metrics`. Nothing here formats Prometheus text:
//! that is the server's business.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Upper bounds of the batch-size buckets (commands and reads per batch).
const BATCH_SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0];
/// Upper bounds of the commit-duration buckets, in seconds.
const COMMIT_SECONDS_BOUNDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A snapshot of a histogram: `counts[i]` observations were `<= bounds[i]` and above the
/// previous bound (not cumulative); `count - sum(counts)` were above the last bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

/// A snapshot of the writer's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct WriterMetrics {
    /// Commands the engine accepted and whose batch committed.
    pub commands_applied: u64,
    /// Commands the engine refused (answered `Rejected`).
    pub commands_rejected: u64,
    /// Reads answered.
    pub reads: u64,
    /// Batches whose transaction committed.
    pub batches_committed: u64,
    /// Commits that failed (each answered every caller of its batch `Unavailable`).
    pub commits_failed: u64,
    /// Jobs answered `Unavailable` (failed commits and requests while storage is down).
    pub unavailable_answers: u64,
    /// Times the engine was rebuilt from the database after a failure.
    pub recoveries: u64,
    /// Events handed to the sink.
    pub events_delivered: u64,
    /// False while the writer is waiting for storage to come back.
    pub storage_available: bool,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, so that it can be an integer atomic.
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [f64]) -> Self {
        AtomicHistogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, value: f64) {
        if let Some(index) = self.bounds.iter().position(|&bound| value <= bound) {
            self.counts[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1_000_000.0) as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Histogram {
        Histogram {
            bounds: self.bounds,
            counts: self.counts.iter().map(|count| count.load(Ordering::Relaxed)).collect(),
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0,
        }
    }
}

pub(crate) struct Metrics {
    pub commands_applied: AtomicU64,
    pub commands_rejected: AtomicU64,
    pub reads: AtomicU64,
    pub batches_committed: AtomicU64,
    pub commits_failed: AtomicU64,
    pub unavailable_answers: AtomicU64,
    pub recoveries: AtomicU64,
    pub events_delivered: AtomicU64,
    pub storage_available: AtomicBool,
    pub batch_size: AtomicHistogram,
    pub commit_seconds: AtomicHistogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            commands_applied: AtomicU64::new(0),
            commands_rejected: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            batches_committed: AtomicU64::new(0),
            commits_failed: AtomicU64::new(0),
            unavailable_answers: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            events_delivered: AtomicU64::new(0),
            storage_available: AtomicBool::new(true),
            batch_size: AtomicHistogram::new(BATCH_SIZE_BOUNDS),
            commit_seconds: AtomicHistogram::new(COMMIT_SECONDS_BOUNDS),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WriterMetrics {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WriterMetrics {
            commands_applied: load(&self.commands_applied),
            commands_rejected: load(&self.commands_rejected),
            reads: load(&self.reads),
            batches_committed: load(&self.batches_committed),
            commits_failed: load(&self.commits_failed),
            unavailable_answers: load(&self.unavailable_answers),
            recoveries: load(&self.recoveries),
            events_delivered: load(&self.events_delivered),
            storage_available: self.storage_available.load(Ordering::Relaxed),
            batch_size: self.batch_size.snapshot(),
            commit_seconds: self.commit_seconds.snapshot(),
        }
    }
}
