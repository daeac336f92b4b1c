//! Switchboard, the service: the HTTP API of API.md, the Pusher-protocol realtime server,
//! the monitor's timer, configuration and the command line, around the rules engine
//! (`switchboard-engine`) and the single writer (`switchboard-store`).
//!
//! Architecture invariants: only `http` knows JSON and HTTP status codes; only the store
//! crate knows SQL; nothing here changes state except by submitting commands to the writer.

pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod cluster_presence;
pub mod config;
pub mod fanout;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod openapi;
pub mod prometheus;
pub mod realtime;
pub mod webhooks;
pub mod writer_metrics;

pub use app::{start, Server};
pub use config::Settings;
/// `start` takes the clock: `SystemClock` in production, the store's `ManualClock` in tests.
pub use switchboard_store::{Clock, SystemClock};
