//! [`Realtime`], the handle the embedding service holds: it mounts the WebSocket route,
//! publishes events, signs private channels, reads the counters and closes sockets.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::channel_name::validate_channel_name;
use crate::clock::Clock;
use crate::config::{ConfigError, PusherConfig};
use crate::hooks::SubscriptionHook;
use crate::peers::{check_frame, check_member, check_user_id, PeerHook, PeerMessage, PeerMessageError};
use crate::registry::CloseRequest;
use crate::shared::{ReservedChannels, Shared};
use crate::signature::sign_private_channel;
use crate::socket_id::SocketId;
use crate::stats::StatsSnapshot;
use crate::webhook::{WebhookQueue, WebhookTarget};
use crate::{http_api, upgrade};

/// The Pusher server: cheap to clone (one `Arc`), every clone drives the same sockets.
#[derive(Clone)]
pub struct Realtime {
    shared: Arc<Shared>,
}

/// Builds a [`Realtime`] with optional parts; [`Realtime::new`] is the short form.
pub struct RealtimeBuilder {
    config: PusherConfig,
    hook: Option<SubscriptionHook>,
    clock: Option<Arc<dyn Clock>>,
    reserved: Option<ReservedChannels>,
    peers: Option<PeerHook>,
}

impl RealtimeBuilder {
    /// Tells `hook` about every subscription change; see [`SubscriptionHook`] for the rules
    /// it must follow.
    #[must_use]
    pub fn subscription_hook(mut self, hook: SubscriptionHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Reads time from `clock` (the HTTP API's timestamp window, webhooks, the client-event
    /// rate limit) instead of the system clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Channels the embedder keeps for itself: `reserved(channel)` true means no HTTP-API
    /// publish (403) and no client event on it; subscribing still follows the usual rules.
    #[must_use]
    pub fn reserved_channels(mut self, reserved: ReservedChannels) -> Self {
        self.reserved = Some(reserved);
        self
    }

    /// Runs this server as one of several: `hook` gets every event frame published or
    /// relayed here, for the embedder to carry to the other servers, which apply it with
    /// [`Realtime::deliver_from_peer`].
    #[must_use]
    pub fn peer_hook(mut self, hook: PeerHook) -> Self {
        self.peers = Some(hook);
        self
    }

    /// Validates the configuration and creates the server (no socket is opened here). With
    /// a `webhook_url`, starts the webhook sender on the current tokio runtime.
    ///
    /// # Errors
    /// The first invalid field of the configuration; [`ConfigError::NoRuntime`] when webhooks
    /// are configured outside a tokio runtime.
    pub fn build(self) -> Result<Realtime, ConfigError> {
        self.config.validate()?;
        let mut shared = Shared::new(self.config, self.hook);
        if let Some(clock) = self.clock {
            shared.clock = clock;
        }
        shared.reserved = self.reserved;
        shared.peers = self.peers;
        if let Some(url) = shared.config.webhook_url.clone() {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
            let config = &shared.config;
            let target = WebhookTarget {
                url,
                app_key: config.app_key.clone(),
                app_secret: config.app_secret.clone(),
                retry_window: std::time::Duration::from_secs(config.webhook_retry_window_seconds),
            };
            let queue = WebhookQueue::start(
                target,
                config.webhook_queue_events,
                Arc::clone(&shared.clock),
                Arc::clone(&shared.stats),
                &runtime,
            );
            shared.webhooks = Some(queue);
        }
        Ok(Realtime { shared: Arc::new(shared) })
    }
}

/// `close_all` and `close_socket` take codes Pusher clients act on (4000-4999) or the
/// normal closures 1000 and 1001; anything else could not be sent or would be misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("close code {code} is not 1000, 1001 or 4000-4999")]
pub struct InvalidCloseCode {
    /// The refused code.
    pub code: u16,
}

impl Realtime {
    /// A server with no subscription hook.
    ///
    /// # Errors
    /// The first invalid field of the configuration.
    pub fn new(config: PusherConfig) -> Result<Self, ConfigError> {
        Self::builder(config).build()
    }

    /// Starts building a server, to add a [`SubscriptionHook`].
    #[must_use]
    pub fn builder(config: PusherConfig) -> RealtimeBuilder {
        RealtimeBuilder { config, hook: None, clock: None, reserved: None, peers: None }
    }

    /// The validated configuration in force.
    #[must_use]
    pub fn config(&self) -> &PusherConfig {
        &self.shared.config
    }

    /// The WebSocket route, `GET /app/{key}`, ready to merge into the service's router.
    pub fn router<State>(&self) -> Router<State>
    where
        State: Clone + Send + Sync + 'static,
    {
        Router::new().route("/app/{app_key}", get(upgrade::upgrade_socket)).with_state(Arc::clone(&self.shared))
    }

    /// Sends `event` with `data_json` (sent as a JSON string, as the protocol requires) to
    /// every socket subscribed to `channel`. Never blocks: the frame is serialised once and
    /// queued on each subscriber's bounded queue; a subscriber whose queue is full is
    /// closed with 4100 instead. Returns how many sockets it was queued for.
    pub fn publish(&self, channel: &str, event: &str, data_json: &str) -> usize {
        self.shared.publish(channel, event, data_json, None)
    }

    /// Applies what server `origin`'s [`PeerHook`] was given: an event frame reaches this
    /// server's subscribers of the channel; members joining and leaving (or a whole
    /// membership) are counted with this server's own, and `member_added` /
    /// `member_removed` reach local subscribers when a user appears on its first server or
    /// leaves its last. Never handed to the peer hook again: nothing echoes. Returns how
    /// many frames were queued for local sockets.
    ///
    /// # Errors
    /// The message is malformed (a channel, the frame, a socket id, a member); nothing of
    /// it is applied.
    pub fn deliver_from_peer(&self, origin: &str, message: &PeerMessage) -> Result<usize, PeerMessageError> {
        let shared = &self.shared;
        let max_info = shared.config.max_presence_member_info_bytes;
        let close = &shared.slow_consumer_close;
        let delivered = match message {
            PeerMessage::Frame { channel, frame, except } => {
                let checked = check_frame(channel, frame, except.as_deref())?;
                let frame = axum::extract::ws::Utf8Bytes::from(checked.frame);
                let outcome = shared.registry.fan_out(checked.channel, &frame, close, checked.except.as_ref());
                shared.record_fan_out(checked.channel, outcome);
                outcome.delivered
            }
            PeerMessage::MemberJoined { channel, user_id, user_info } => {
                check_member(channel, user_id, user_info, max_info)?;
                let outcome = shared.registry.peer_joined(origin, channel, user_id, user_info, close);
                shared.record_fan_out(channel, outcome);
                outcome.delivered
            }
            PeerMessage::MemberLeft { channel, user_id } => {
                check_member(channel, user_id, &serde_json::Value::Null, max_info)?;
                let outcome = shared.registry.peer_left(origin, channel, user_id, close);
                shared.record_fan_out(channel, outcome);
                outcome.delivered
            }
            PeerMessage::Members { members } => {
                for member in members {
                    check_member(&member.channel, &member.user_id, &member.user_info, max_info)?;
                }
                self.apply_fan_outs(shared.registry.replace_peer_members(origin, members, close))
            }
            PeerMessage::TerminateUser { user_id } => {
                check_user_id(user_id)?;
                let closed = shared.registry.close_user(user_id, &CloseRequest::terminated());
                tracing::info!(user_id, closed, origin, "terminated a user's connections, as another server was asked");
                0
            }
            PeerMessage::ChannelOccupied { channel } | PeerMessage::ChannelVacated { channel } => {
                validate_channel_name(channel).map_err(|error| PeerMessageError::Channel(error.to_string()))?;
                let occupied = matches!(message, PeerMessage::ChannelOccupied { .. });
                shared.registry.peer_occupancy(origin, channel, occupied);
                0
            }
            PeerMessage::Occupied { channels } => {
                for channel in channels {
                    validate_channel_name(channel).map_err(|error| PeerMessageError::Channel(error.to_string()))?;
                }
                shared.registry.replace_peer_occupancy(origin, channels);
                0
            }
        };
        shared.stats.record_peer_delivery(delivered);
        Ok(delivered)
    }

    /// Forgets everything server `origin` reported (it stopped, or went silent): its users
    /// leave, with `member_removed` where they are on no other server. Returns how many
    /// frames were queued for local sockets.
    pub fn forget_peer(&self, origin: &str) -> usize {
        let shared = &self.shared;
        shared.registry.replace_peer_occupancy(origin, &[]);
        let delivered =
            self.apply_fan_outs(shared.registry.replace_peer_members(origin, &[], &shared.slow_consumer_close));
        shared.stats.record_peer_delivery(delivered);
        delivered
    }

    /// Everyone on a presence channel on this server, as a [`PeerMessage::Members`] for a
    /// peer that (re)joins.
    #[must_use]
    pub fn peer_members(&self) -> PeerMessage {
        PeerMessage::Members { members: self.shared.registry.local_members() }
    }

    /// Every channel with a subscriber on this server, as a [`PeerMessage::Occupied`] for a
    /// peer that (re)joins: its `channel_occupied` / `channel_vacated` webhooks then count
    /// this server's subscribers too.
    #[must_use]
    pub fn peer_occupancy(&self) -> PeerMessage {
        PeerMessage::Occupied { channels: self.shared.registry.local_occupied() }
    }

    fn apply_fan_outs(&self, fan_outs: Vec<(String, crate::registry::FanOut)>) -> usize {
        fan_outs
            .into_iter()
            .map(|(channel, outcome)| {
                self.shared.record_fan_out(&channel, outcome);
                outcome.delivered
            })
            .sum()
    }

    /// The Pusher HTTP API (`/apps/{app_id}/events`, `batch_events`, `channels`,
    /// `channels/{name}`, `channels/{name}/users`, `users/{id}/terminate_connections`),
    /// ready to merge into the service's router. See the crate README for its answers.
    pub fn http_api_router<State>(&self) -> Router<State>
    where
        State: Clone + Send + Sync + 'static,
    {
        http_api::router(Arc::clone(&self.shared))
    }

    /// How many distinct users are on presence `channel` on this server.
    #[must_use]
    pub fn user_count(&self, channel: &str) -> usize {
        self.shared.registry.counts(channel).map_or(0, |counts| counts.user_count)
    }

    /// The `auth` value for `socket_id` on `channel`, unchecked: `"<key>:<hex>"`. Prefer
    /// [`Realtime::authorize_channel`], which validates both first.
    #[must_use]
    pub fn sign_channel(&self, socket_id: &str, channel: &str) -> String {
        let config = &self.shared.config;
        sign_private_channel(&config.app_key, &config.app_secret, socket_id, channel)
    }

    /// Asks every open socket to close with `code` (4200 on shutdown, so clients reconnect
    /// at once). Does not refuse new connections: stop routing to the server first.
    /// Returns how many sockets were asked.
    ///
    /// # Errors
    /// A code other than 1000, 1001 or 4000-4999; no socket is touched.
    pub fn close_all(&self, code: u16, reason: &str) -> Result<usize, InvalidCloseCode> {
        let request = close_request(code, reason)?;
        Ok(self.shared.registry.close_all(&request))
    }

    /// Asks one socket to close; false if no such socket is open.
    ///
    /// # Errors
    /// A code other than 1000, 1001 or 4000-4999; no socket is touched.
    pub fn close_socket(&self, socket_id: &SocketId, code: u16, reason: &str) -> Result<bool, InvalidCloseCode> {
        let request = close_request(code, reason)?;
        Ok(self.shared.registry.close_socket(socket_id, request))
    }

    /// Waits until no socket is open, close handshakes included; for graceful shutdown
    /// after [`Realtime::close_all`].
    pub async fn wait_until_no_sockets(&self) {
        self.shared.stats.wait_until_idle().await;
    }

    /// The counters, for the embedder's metrics.
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// How many sockets are subscribed to `channel` on this server.
    #[must_use]
    pub fn subscriber_count(&self, channel: &str) -> usize {
        self.shared.registry.subscriber_count(channel)
    }

    /// How many channels have at least one subscriber on this server.
    #[must_use]
    pub fn occupied_channel_count(&self) -> usize {
        self.shared.registry.channel_count()
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn close_request(code: u16, reason: &str) -> Result<CloseRequest, InvalidCloseCode> {
    if matches!(code, 1000 | 1001 | 4000..=4999) {
        Ok(CloseRequest { code, reason: reason.to_owned() })
    } else {
        Err(InvalidCloseCode { code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn realtime() -> Realtime {
        Realtime::new(PusherConfig::new("1", "278d425bdf160c739803", "7ad3773142a6692b25b8")).expect("valid config")
    }

    #[test]
    fn refuses_an_invalid_config() {
        let config = PusherConfig { activity_timeout_seconds: 0, ..PusherConfig::new("1", "key", "secret") };
        assert!(Realtime::new(config).is_err());
    }

    #[test]
    fn signs_with_its_credentials() {
        assert_eq!(
            realtime().sign_channel("1234.1234", "private-foobar"),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn publish_to_an_empty_channel_reaches_nobody_but_counts() {
        let realtime = realtime();
        assert_eq!(realtime.publish("news", "Thing", "{}"), 0);
        let stats = realtime.stats();
        assert_eq!(stats.events_published_total, 1);
        assert_eq!(stats.events_delivered_total, 0);
    }

    #[test]
    fn close_codes_are_checked() {
        let realtime = realtime();
        assert_eq!(realtime.close_all(4200, "restart"), Ok(0));
        assert_eq!(realtime.close_all(1000, "bye"), Ok(0));
        for code in [0, 999, 1005, 1006, 3000, 5000] {
            assert_eq!(realtime.close_all(code, "x"), Err(InvalidCloseCode { code }));
        }
    }
}
