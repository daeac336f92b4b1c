//! The state every part of the server reaches: the configuration, the registry of sockets
//! and channels, the counters and the hook. The handle ([`crate::Realtime`]), the upgrade
//! handler and every socket task hold it through an `Arc`; it depends on no module that
//! holds it, so the crate's modules form a DAG with this at the bottom of the socket side.

use std::sync::Arc;

use crate::codes;
use crate::config::PusherConfig;
use crate::hooks::SubscriptionHook;
use crate::registry::{CloseRequest, Registry};
use crate::socket_id::SocketIdGenerator;
use crate::stats::Stats;

/// State shared by the handle, the upgrade handler and every socket task.
pub(crate) struct Shared {
    pub(crate) config: PusherConfig,
    pub(crate) registry: Registry,
    pub(crate) stats: Arc<Stats>,
    pub(crate) hook: Option<SubscriptionHook>,
    pub(crate) socket_ids: SocketIdGenerator,
    /// Sent to a socket whose outbound queue is full.
    pub(crate) slow_consumer_close: CloseRequest,
}

impl Shared {
    /// Assumes `config` is valid; [`crate::RealtimeBuilder::build`] checks it.
    pub(crate) fn new(config: PusherConfig, hook: Option<SubscriptionHook>) -> Self {
        let slow_consumer_close = CloseRequest {
            code: codes::OVER_CAPACITY,
            reason: format!(
                "Over capacity: more than {} frames waiting for this connection",
                config.max_queued_frames_per_socket
            ),
        };
        Self {
            config,
            registry: Registry::default(),
            stats: Arc::new(Stats::default()),
            hook,
            socket_ids: SocketIdGenerator::new(),
            slow_consumer_close,
        }
    }
}
