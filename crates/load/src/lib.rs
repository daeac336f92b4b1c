//! `switchboard-load`: measures a running Switchboard through its public interfaces only
//! (the HTTP API and the Pusher-protocol WebSocket of API.md), as the host platform, the
//! moderators' consoles and supervisors' tools use them.
//!
//! - [`simulation`]: moderators who react to their events as people would and clients who
//!   write at a fixed rate; the ingestion → `ConversationAssigned` latency and the rest of
//!   the [`report`].
//! - [`demo`]: `switchboard-load demo`, the service started in-process on a throwaway
//!   database with the simulation at a gentle rate, for people to watch.
//! - [`fanout`]: WebSocket deliveries per second to many subscribed sockets.
//! - [`host_api`]: the host's side: triggers through the signed Pusher HTTP API,
//!   deliveries, presence churn and memory per socket.
//! - [`ingest`]: bulk ingestion with the server's memory before and after.
//! - [`webhooks`]: the host events' webhooks in-process against a local receiver: the
//!   writer's replies/s with webhooks off and on, deliveries/s, commit-to-receiver latency,
//!   and a backlog's drain after a receiver outage.
//! - [`api`], [`pusher`], [`tokens`], [`pace`], [`ledger`], [`memory`]: the HTTP API and
//!   Pusher protocol clients, JWT minting, sending at a rate, the matching of events to
//!   messages, and reading the server's RSS.

pub mod api;
pub mod demo;
pub mod fanout;
pub mod host_api;
pub mod ingest;
pub mod ledger;
pub mod memory;
pub mod pace;
pub mod pusher;
pub mod report;
pub mod simulation;
pub mod tokens;
pub mod webhooks;

pub use report::Report;
pub use simulation::{LoadConfig, Progress, Simulation};
pub use tokens::{Role, TokenMinter};
