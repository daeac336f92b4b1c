//! What every handler may reach: the running service's parts the HTTP layer talks to (the
//! writer, direct storage reads, token checks, the clock, the Pusher server, metrics), built
//! once at start-up and shared by reference.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use switchboard_pusher::Realtime;
use switchboard_store::{Clock, Lease, Store, WriterHandle};

use crate::auth::Tokens;
use crate::cluster_presence::ClusterPresence;
use crate::fanout::Fanout;
use crate::metrics::Metrics;
use crate::webhooks::Deliveries;

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// The parts of the running service the HTTP layer talks to.
pub struct AppContext {
    /// The one writer: every change and every consistent read goes through it.
    pub writer: WriterHandle,
    /// Direct storage reads that the engine does not hold (messages, alerts, readiness).
    pub store: Store,
    /// Verifies bearer tokens.
    pub tokens: Tokens,
    /// The writer's clock: the only present a handler may read (request times, `sent_at`).
    pub clock: Arc<dyn Clock>,
    /// The Pusher server (for metrics; publishing goes through the event sink).
    pub realtime: Realtime,
    pub metrics: Arc<Metrics>,
    /// This node's writer lease on PostgreSQL (`/ready`, the cluster view); `None` on SQLite.
    pub lease: Option<Lease>,
    /// The host events' webhook delivery task (woken by a supervisor's retry; its counters).
    pub deliveries: Deliveries,
    /// `/openapi.json`, built once from the same table as the router.
    pub openapi: OnceLock<Value>,
    /// What the console pages are told by `/console/config.json`.
    pub console: ConsoleSettings,
    /// A standby's connection to the writer: relayed requests, `/ready`'s check.
    pub relay_client: reqwest::Client,
    /// The other nodes' sockets, as their syncs told this node (used on the writer).
    pub cluster_presence: Arc<ClusterPresence>,
    /// The Redis fan-out to the other nodes' sockets (`redis_url`); `None` without one.
    pub fanout: Option<Arc<Fanout>>,
}

impl AppState {
    #[must_use]
    pub fn new(context: AppContext) -> Self {
        AppState(Arc::new(context))
    }
}

/// What the pages need to know about this service's realtime side.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// The Pusher app key (public: it is in every WebSocket URL).
    pub pusher_app_key: String,
    /// The `event_namespace` setting: wire names are `<namespace>\<Name>`, or bare.
    pub event_namespace: String,
}
