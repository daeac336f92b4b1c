//! The state every part of the server reaches: the configuration, the registry of sockets
//! and channels, the counters, the hook, the clock, the embedder's reserved channels and
//! the webhook queue. The handle ([`crate::Realtime`]), the upgrade handler, the HTTP API
//! and every socket task hold it through an `Arc`; it depends on no module that holds it,
//! so the crate's modules form a DAG with this below all of them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::clock::{Clock, SystemClock};
use crate::codes;
use crate::config::PusherConfig;
use crate::hooks::SubscriptionHook;
use crate::outgoing;
use crate::peers::{PeerHook, PeerMessage};
use crate::registry::{CloseRequest, FanOut, Registry};
use crate::socket_id::{SocketId, SocketIdGenerator};
use crate::stats::Stats;
use crate::webhook::{WebhookEvent, WebhookQueue};

/// Channels the embedder keeps for itself: no HTTP-API publish (403) and no client event.
pub type ReservedChannels = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// State shared by the handle, the upgrade handler, the HTTP API and every socket task.
pub(crate) struct Shared {
    pub(crate) config: PusherConfig,
    pub(crate) registry: Registry,
    pub(crate) stats: Arc<Stats>,
    pub(crate) hook: Option<SubscriptionHook>,
    pub(crate) socket_ids: SocketIdGenerator,
    /// Sent to a socket whose outbound queue is full.
    pub(crate) slow_consumer_close: CloseRequest,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) reserved: Option<ReservedChannels>,
    pub(crate) webhooks: Option<WebhookQueue>,
    pub(crate) peers: Option<PeerHook>,
}

impl Shared {
    /// Assumes `config` is valid; [`crate::RealtimeBuilder::build`] checks it. No webhooks.
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
            clock: Arc::new(SystemClock),
            reserved: None,
            webhooks: None,
            peers: None,
        }
    }

    /// Whether the embedder keeps `channel` for itself.
    pub(crate) fn is_reserved(&self, channel: &str) -> bool {
        self.reserved.as_ref().is_some_and(|reserved| reserved(channel))
    }

    /// Queues a webhook event, if webhooks are on; never waits.
    pub(crate) fn webhook(&self, event: impl FnOnce() -> WebhookEvent) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.push(event());
        }
    }

    /// Sends `event` with `data_json` to every subscriber of `channel` but `except`;
    /// returns how many sockets it was queued for.
    pub(crate) fn publish(&self, channel: &str, event: &str, data_json: &str, except: Option<&SocketId>) -> usize {
        let frame = outgoing::event(channel, event, data_json);
        let outcome = self.registry.fan_out(channel, &frame, &self.slow_consumer_close, except);
        self.record_fan_out(channel, outcome);
        self.stats.record_publish(outcome.delivered);
        self.tell_peers_frame(channel, &frame, except);
        outcome.delivered
    }

    /// Hands a frame this server fanned out to the peer hook, if any, for the other servers.
    pub(crate) fn tell_peers_frame(&self, channel: &str, frame: &Utf8Bytes, except: Option<&SocketId>) {
        self.tell_peers(|| PeerMessage::Frame {
            channel: channel.to_owned(),
            frame: frame.as_str().to_owned(),
            except: except.map(ToString::to_string),
        });
    }

    /// Hands a message to the peer hook, if any (built only then).
    pub(crate) fn tell_peers(&self, message: impl FnOnce() -> PeerMessage) {
        let Some(peers) = &self.peers else { return };
        let message = message();
        if catch_unwind(AssertUnwindSafe(|| peers(message))).is_err() {
            tracing::error!("the peer hook panicked; the other servers miss one message");
        }
    }

    /// Counts a fan-out's slow consumers (closed with 4100) and logs them.
    pub(crate) fn record_fan_out(&self, channel: &str, outcome: FanOut) {
        for _ in 0..outcome.slow_consumers {
            self.stats.record_slow_consumer();
        }
        if outcome.slow_consumers > 0 {
            tracing::warn!(channel, slow_consumers = outcome.slow_consumers, "closing sockets that cannot keep up");
        }
    }
}
