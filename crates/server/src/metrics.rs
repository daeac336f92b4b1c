//! `/metrics` in the Prometheus text format: HTTP requests by route and status, the
//! writer's figures, the engine's gauges (queue, moderators by state), sockets and events.
//!
//! Counters are plain atomics and one small map; rendering reads the engine through the
//! writer like any other read. Nothing here blocks a request for long.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use switchboard_engine::ModeratorState;
use switchboard_pusher::Realtime;
use switchboard_store::WriterHandle;

use crate::fanout::Fanout;
use crate::prometheus::{counter, gauge};
use crate::realtime::PusherSink;

/// Upper bounds of the request-duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
/// Distinct (method, route, status) series kept; routes are templates, so this is a guard
/// against a bug, not a limit reached in practice.
const MAX_SERIES: usize = 4096;

#[derive(Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// The service's own counters.
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<Histogram>,
    sink: Arc<PusherSink>,
    fanout: Option<Arc<Fanout>>,
}

impl Metrics {
    #[must_use]
    pub fn new(sink: Arc<PusherSink>, fanout: Option<Arc<Fanout>>) -> Self {
        Metrics { requests: Mutex::new(BTreeMap::new()), durations: Mutex::new(Histogram::default()), sink, fanout }
    }

    /// Counts one answered request under its route template.
    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            let key = (method.as_str().to_owned(), route.to_owned(), status);
            if requests.len() < MAX_SERIES || requests.contains_key(&key) {
                *requests.entry(key).or_insert(0) += 1;
            }
        }
        if let Ok(mut histogram) = self.durations.lock() {
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in histogram.buckets.iter_mut().zip(DURATION_BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            histogram.count += 1;
            histogram.sum_seconds += seconds;
        }
    }

    /// The whole exposition text.
    pub async fn render(&self, writer: &WriterHandle, realtime: &Realtime) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP switchboard_http_requests_total HTTP requests answered, by method, route template and status.\n",
        );
        out.push_str("# TYPE switchboard_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "switchboard_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP switchboard_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE switchboard_http_request_duration_seconds histogram\n");
        if let Ok(histogram) = self.durations.lock() {
            for (bound, count) in DURATION_BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(out, "switchboard_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ =
                writeln!(out, "switchboard_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "switchboard_http_request_duration_seconds_sum {}", histogram.sum_seconds);
            let _ = writeln!(out, "switchboard_http_request_duration_seconds_count {}", histogram.count);
        }

        crate::writer_metrics::render(&writer.metrics(), &mut out);

        let gauges = writer
            .read(|engine| {
                let mut by_state: BTreeMap<&'static str, u64> = [
                    ModeratorState::Offline,
                    ModeratorState::Queued,
                    ModeratorState::Working,
                    ModeratorState::Paused,
                    ModeratorState::Away,
                ]
                .into_iter()
                .map(|state| (state.as_str(), 0))
                .collect();
                for moderator in engine.moderators() {
                    *by_state.entry(moderator.state.as_str()).or_insert(0) += 1;
                }
                let report = engine.load_report();
                (engine.queue_length(), engine.free_profile_count(), report.waiting_conversations, by_state)
            })
            .await;
        if let Ok((queue_length, free_profiles, waiting, by_state)) = gauges {
            gauge(&mut out, "switchboard_queue_length", "Moderators waiting in the queue.", queue_length);
            gauge(&mut out, "switchboard_free_profiles", "Active profiles without a holder.", free_profiles);
            gauge(&mut out, "switchboard_waiting_conversations", "Conversations awaiting a reply.", waiting);
            out.push_str("# HELP switchboard_moderators Moderators by state.\n# TYPE switchboard_moderators gauge\n");
            for (state, count) in by_state {
                let _ = writeln!(out, "switchboard_moderators{{state=\"{state}\"}} {count}");
            }
        }

        let stats = realtime.stats();
        gauge(&mut out, "switchboard_open_sockets", "Open Pusher WebSocket connections.", stats.open_sockets);
        counter(
            &mut out,
            "switchboard_socket_connections_total",
            "WebSocket connections accepted.",
            stats.connections_accepted_total,
        );
        counter(
            &mut out,
            "switchboard_socket_refused_total",
            "WebSocket connections refused.",
            stats.connections_refused_total,
        );
        counter(
            &mut out,
            "switchboard_events_published_total",
            "Committed events published to channels.",
            self.sink.published.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "switchboard_events_delivered_total",
            "Event frames queued to subscribed sockets.",
            stats.events_delivered_total,
        );
        counter(
            &mut out,
            "switchboard_slow_consumers_closed_total",
            "Sockets closed for not keeping up.",
            stats.slow_consumers_closed_total,
        );
        counter(
            &mut out,
            "switchboard_alerts_raised_total",
            "Alerts raised (published to supervisors).",
            self.sink.alerts.load(Ordering::Relaxed),
        );
        if let Some(fanout) = &self.fanout {
            let fanout = fanout.stats();
            gauge(
                &mut out,
                "switchboard_redis_connected",
                "1 while this node is connected to the Redis fan-out, else 0.",
                u64::from(fanout.connected),
            );
            counter(
                &mut out,
                "switchboard_redis_published_total",
                "Event frames published on Redis for the other nodes.",
                fanout.published,
            );
            counter(
                &mut out,
                "switchboard_redis_received_total",
                "Event frames from other nodes handed to this node's sockets.",
                fanout.received,
            );
            counter(
                &mut out,
                "switchboard_redis_dropped_total",
                "Event frames the other nodes missed: Redis unreachable or the queue full.",
                fanout.dropped,
            );
            counter(
                &mut out,
                "switchboard_redis_rejected_total",
                "Messages on the fan-out channel that were not well-formed frames.",
                fanout.rejected,
            );
        }
        if let Some(bytes) = resident_memory_bytes() {
            gauge(
                &mut out,
                "process_resident_memory_bytes",
                "Resident memory of this process in bytes (VmRSS).",
                bytes,
            );
        }
        out
    }
}

/// This process's resident set size (`VmRSS` of `/proc/self/status`); `None` off Linux.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
