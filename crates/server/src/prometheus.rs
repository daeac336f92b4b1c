//! The Prometheus text exposition format, one series at a time: what `metrics` and
//! `writer_metrics` both write with, and nothing else.

use std::fmt::Write as _;

/// Writes one gauge with its help and type lines.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
}

/// Writes one counter with its help and type lines.
pub fn counter(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
}
