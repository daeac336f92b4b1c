//! The end-of-run report: figures computed from the ledger and the counters, written as a
//! readable summary and as JSON (`--json FILE`). Pure: no I/O besides formatting.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of a duration histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// From a histogram recorded in microseconds.
    #[must_use]
    pub fn from_micros(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Percentiles {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        }
    }
}

/// How evenly replies were spread between moderators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    pub moderators: usize,
    pub min: u64,
    pub mean: f64,
    pub max: u64,
    /// Standard deviation divided by the mean (0 = perfectly even).
    pub coefficient_of_variation: f64,
}

impl Spread {
    #[must_use]
    pub fn of(values: &[u64]) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        let count = values.len() as f64;
        let mean = values.iter().sum::<u64>() as f64 / count;
        let variance = values.iter().map(|&value| (value as f64 - mean).powi(2)).sum::<f64>() / count;
        Spread {
            moderators: values.len(),
            min: values.iter().copied().min().unwrap_or(0),
            mean,
            max: values.iter().copied().max().unwrap_or(0),
            coefficient_of_variation: if mean > 0.0 { variance.sqrt() / mean } else { 0.0 },
        }
    }
}

/// The server's resident memory before and after the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    /// `/proc/<pid>/status` or the `/metrics` gauge.
    pub source: String,
    pub before_bytes: Option<u64>,
    pub after_bytes: Option<u64>,
}

/// What the run was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunParameters {
    pub url: String,
    pub moderators: u64,
    pub profiles: u64,
    pub clients: u64,
    pub rate_per_second: f64,
    pub duration_seconds: f64,
    pub think_time_ms: u64,
    pub seed: u64,
}

/// Everything a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub parameters: RunParameters,
    /// Time clients were sending.
    pub sending_seconds: f64,
    pub messages_sent: u64,
    pub messages_accepted: u64,
    /// Accepted messages per second of sending.
    pub sustained_messages_per_second: f64,
    /// Sends skipped because every client had an unanswered message (raise `--clients`).
    pub sends_skipped_no_free_client: u64,
    /// Ingestion (just before `POST /api/messages`) → `ConversationAssigned` received.
    pub assignment_latency: Percentiles,
    /// `POST /api/messages` → its 202.
    pub ingest_answer_latency: Percentiles,
    /// Moderator connect (or rejoin) while queued → `ProfileAssigned` received.
    pub queue_wait: Percentiles,
    /// Messages sent and never seen in a `ConversationAssigned` (still waiting at the end).
    pub never_assigned: u64,
    pub reassigned_events: u64,
    pub unknown_events: u64,
    pub mismatched_events: u64,
    pub replies: u64,
    pub replies_per_moderator: Spread,
    /// Every event received by the moderators' sockets, by name.
    pub events_by_name: BTreeMap<String, u64>,
    /// Failures by kind (`POST /api/messages 409 client_locked`, `websocket closed`, ...).
    pub errors: BTreeMap<String, u64>,
    pub server_memory: Memory,
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".to_owned(), |bytes| format!("{:.1} MiB", bytes as f64 / 1_048_576.0))
}

impl Report {
    /// The readable summary.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let p = &self.parameters;
        let _ = writeln!(
            out,
            "switchboard-load: {} moderators, {} profiles, {} clients, {:.0} msg/s for {:.0} s against {}",
            p.moderators, p.profiles, p.clients, p.rate_per_second, p.duration_seconds, p.url
        );
        let _ = writeln!(
            out,
            "  messages            {} sent, {} accepted, {:.1} msg/s sustained{}",
            self.messages_sent,
            self.messages_accepted,
            self.sustained_messages_per_second,
            if self.sends_skipped_no_free_client > 0 {
                format!(" ({} sends skipped: no free client)", self.sends_skipped_no_free_client)
            } else {
                String::new()
            }
        );
        let line = |out: &mut String, name: &str, value: &Percentiles| {
            let _ = writeln!(
                out,
                "  {name:<19} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n = {})",
                value.p50_ms, value.p95_ms, value.p99_ms, value.max_ms, value.count
            );
        };
        line(&mut out, "ingest→assigned", &self.assignment_latency);
        line(&mut out, "ingest answer", &self.ingest_answer_latency);
        line(&mut out, "queue wait", &self.queue_wait);
        let _ = writeln!(
            out,
            "  assignment events   {} never assigned, {} reassigned, {} unknown, {} mismatched",
            self.never_assigned, self.reassigned_events, self.unknown_events, self.mismatched_events
        );
        let s = &self.replies_per_moderator;
        let _ = writeln!(
            out,
            "  replies             {} total; per moderator min {} mean {:.1} max {} (cv {:.2}, {} moderators)",
            self.replies, s.min, s.mean, s.max, s.coefficient_of_variation, s.moderators
        );
        let _ = writeln!(
            out,
            "  server memory       {} before, {} after ({})",
            mib(self.server_memory.before_bytes),
            mib(self.server_memory.after_bytes),
            if self.server_memory.source.is_empty() { "no source" } else { &self.server_memory.source }
        );
        if !self.events_by_name.is_empty() {
            let events: Vec<String> =
                self.events_by_name.iter().map(|(name, count)| format!("{name} {count}")).collect();
            let _ = writeln!(out, "  events received     {}", events.join(", "));
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "  errors              none");
        } else {
            let _ = writeln!(out, "  errors              {}", self.errors.values().sum::<u64>());
            for (kind, count) in &self.errors {
                let _ = writeln!(out, "    {count:>8}  {kind}");
            }
        }
        out
    }

    /// The JSON document written by `--json`.
    ///
    /// # Errors
    /// Never in practice (every field serialises).
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::new_histogram;

    #[test]
    fn percentiles_are_read_in_milliseconds() {
        let mut histogram = new_histogram();
        for micros in 1..=1000u64 {
            histogram.record(micros * 10).expect("in range");
        }
        let p = Percentiles::from_micros(&histogram);
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.p99_ms - 9.9).abs() < 0.02, "{p:?}");
        assert!((p.max_ms - 10.0).abs() < 0.01, "{p:?}");
        assert_eq!(Percentiles::from_micros(&new_histogram()), Percentiles::default());
    }

    #[test]
    fn the_spread_of_replies_is_min_mean_max() {
        let spread = Spread::of(&[2, 4, 6]);
        assert_eq!((spread.moderators, spread.min, spread.max), (3, 2, 6));
        assert!((spread.mean - 4.0).abs() < f64::EPSILON);
        assert!(spread.coefficient_of_variation > 0.4 && spread.coefficient_of_variation < 0.42);
        assert_eq!(Spread::of(&[]), Spread::default());
    }

    #[test]
    fn the_summary_and_the_json_carry_the_same_figures() {
        let mut report = Report {
            parameters: RunParameters {
                url: "http://x".into(),
                moderators: 3,
                rate_per_second: 10.0,
                ..RunParameters::default()
            },
            messages_sent: 12,
            messages_accepted: 11,
            sustained_messages_per_second: 9.5,
            assignment_latency: Percentiles {
                count: 11,
                p50_ms: 1.5,
                p95_ms: 2.5,
                p99_ms: 3.5,
                max_ms: 4.5,
                mean_ms: 1.7,
            },
            server_memory: Memory { source: "/proc/1/status".into(), before_bytes: Some(1_048_576), after_bytes: None },
            ..Report::default()
        };
        report.errors.insert("POST /api/messages 422 invalid_request".into(), 1);
        let summary = report.summary();
        assert!(summary.contains("12 sent, 11 accepted, 9.5 msg/s"), "{summary}");
        assert!(summary.contains("p99 3.50 ms"), "{summary}");
        assert!(summary.contains("1.0 MiB before, unknown after"), "{summary}");
        assert!(summary.contains("1  POST /api/messages 422 invalid_request"), "{summary}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json().expect("json")).expect("parses");
        assert_eq!(json["assignment_latency"]["p99_ms"], 3.5);
        assert_eq!(json["messages_accepted"], 11);
        assert_eq!(json["errors"]["POST /api/messages 422 invalid_request"], 1);
        assert_eq!(json["server_memory"]["before_bytes"], 1_048_576);
    }
}
