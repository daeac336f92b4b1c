//! WebSocket fan-out: many sockets subscribed (with a supervisor token) to a few moderator
//! channels, events produced through the real API (client messages to the profiles those
//! moderators hold, each giving one `ConversationAssigned` on the holder's channel), and the
//! deliveries counted where they arrive: in the subscribed clients. With `socket_urls` (the
//! nodes of a cluster) the sockets are spread over those nodes in turn, each authorised
//! through its own node, while the API calls go to `url`: every delivery to a socket on
//! another node than the writer crossed the Redis fan-out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::stream::{self, StreamExt as _};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::api::{Api, Directory, Tally};
use crate::pace::{Pacer, PACE_TICK};
use crate::pusher;
use crate::simulation::default_first_message_id;
use crate::tokens::{Role, TokenMinter};

/// What to measure.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    pub url: String,
    /// Nodes the sockets connect to, in turn; empty: `url`.
    pub socket_urls: Vec<String>,
    pub jwt_secret: String,
    pub app_key: Option<String>,
    /// Subscribed sockets in all.
    pub sockets: u64,
    /// Moderator channels the sockets are spread over (one holder each).
    pub channels: u64,
    /// Client messages per second (each is one event on one channel).
    pub publish_rate: f64,
    pub duration: Duration,
    /// Moderator and profile ids used are `id_base + 1 ..= id_base + channels`.
    pub id_base: u64,
    pub connect_concurrency: usize,
}

/// What was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FanoutReport {
    pub sockets_subscribed: u64,
    /// The nodes the sockets were spread over.
    pub socket_nodes: usize,
    pub channels: u64,
    pub publishes_accepted: u64,
    pub publish_seconds: f64,
    /// Event frames received by all sockets together.
    pub deliveries: u64,
    /// Publishes accepted × sockets on their channel.
    pub deliveries_expected: u64,
    /// First publish → last delivery.
    pub delivery_seconds: f64,
    pub deliveries_per_second: f64,
    pub errors: BTreeMap<String, u64>,
}

impl FanoutReport {
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "fan-out: {} sockets over {} node(s) on {} channels; {} publishes in {:.1} s; {} of {} expected deliveries in {:.2} s = {:.0} deliveries/s; errors {:?}",
            self.sockets_subscribed,
            self.socket_nodes,
            self.channels,
            self.publishes_accepted,
            self.publish_seconds,
            self.deliveries,
            self.deliveries_expected,
            self.delivery_seconds,
            self.deliveries_per_second,
            self.errors
        )
    }
}

/// Runs the measurement.
///
/// # Errors
/// The directory or the holders cannot be set up, or no socket subscribes.
pub async fn run(config: FanoutConfig) -> anyhow::Result<FanoutReport> {
    let url = config.url.trim_end_matches('/').to_owned();
    let minter = TokenMinter::new(&config.jwt_secret, Duration::from_secs(24 * 3600));
    let platform = minter.mint(Role::Platform)?;
    let supervisor = minter.mint(Role::Supervisor)?;
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let api = Api::new(http.clone(), &url);
    let errors = Arc::new(Tally::default());

    // One holder per channel.
    let ids: Vec<u64> = (1..=config.channels).map(|index| config.id_base + index).collect();
    let holders = Directory { moderators: ids.clone(), profiles: ids.clone(), clients: Vec::new() };
    api.register_directory(&platform, &holders, 1).await?;
    let mut held_profiles = Vec::new();
    for id in ids {
        let token = minter.mint(Role::Moderator(id))?;
        let status = api
            .expect(Method::POST, "/moderateur/connect", &token, None, 200)
            .await
            .map_err(|kind| anyhow::anyhow!("moderator {id} cannot connect: {kind}"))?;
        let Some(profile) = status["profiles"].as_array().and_then(|profiles| profiles.first()).and_then(Value::as_u64)
        else {
            bail!("moderator {id} got no profile on connect ({status}); run on a fresh database");
        };
        held_profiles.push((id, profile));
    }

    let app_key = match config.app_key.clone() {
        Some(key) => key,
        None => pusher::discover_app_key(&http, &url, &supervisor, "private-supervisors").await?,
    };
    let socket_nodes: Vec<(String, String)> = if config.socket_urls.is_empty() {
        vec![(url.clone(), pusher::websocket_url(&url, &app_key)?)]
    } else {
        config
            .socket_urls
            .iter()
            .map(|node| {
                let node = node.trim_end_matches('/').to_owned();
                pusher::websocket_url(&node, &app_key).map(|ws_url| (node, ws_url))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let counter = pusher::DeliveryCounter::new();
    let (stop, stop_receiver) = watch::channel(false);
    let subscribed: Vec<Option<tokio::task::JoinHandle<()>>> = stream::iter(0..config.sockets)
        .map(|index| {
            let (url, ws_url) = socket_nodes[(index as usize) % socket_nodes.len()].clone();
            let (http, supervisor) = (http.clone(), supervisor.clone());
            let channel = format!("private-moderator.{}", held_profiles[(index % config.channels) as usize].0);
            let (counter, stop, errors) = (counter.clone(), stop_receiver.clone(), errors.clone());
            async move {
                let socket = pusher::connect_and_subscribe(&ws_url, &http, &url, &supervisor, &channel).await;
                let socket = match socket {
                    Ok(socket) => socket,
                    Err(failure) => {
                        errors.add(format!(
                            "subscribe: {}",
                            format!("{failure:#}").chars().take(100).collect::<String>()
                        ));
                        return None;
                    }
                };
                let on_close = move || errors.add("socket closed during the run");
                Some(tokio::spawn(pusher::count_deliveries(socket, counter, stop, on_close)))
            }
        })
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect()
        .await;
    let readers: Vec<_> = subscribed.into_iter().flatten().collect();
    let sockets_subscribed = readers.len() as u64;
    if sockets_subscribed == 0 {
        bail!("no socket subscribed: {:?}", errors.snapshot());
    }

    // Publish.
    let in_flight = Arc::new(Semaphore::new(256));
    let accepted = Arc::new(AtomicU64::new(0));
    let first_message_id = default_first_message_id();
    let publish_started = Instant::now();
    let publish_started_nanos = counter.now_nanos();
    let mut pacer = Pacer::start(config.publish_rate, publish_started);
    while publish_started.elapsed() < config.duration {
        for n in pacer.due(Instant::now()) {
            let profile = held_profiles[(n % config.channels) as usize].1;
            let body = json!({"message_id": first_message_id + n, "client_id": first_message_id + n, "profile_id": profile, "body": "fan-out"});
            let permit = in_flight.clone().acquire_owned().await.context("semaphore")?;
            let (api, platform, accepted, errors) = (api.clone(), platform.clone(), accepted.clone(), errors.clone());
            tokio::spawn(async move {
                match api.post_message(&platform, &body).await {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(kind) => errors.add(kind),
                }
                drop(permit);
            });
        }
        tokio::time::sleep(PACE_TICK).await;
    }
    let _ = in_flight.acquire_many(256).await;
    let publish_seconds = publish_started.elapsed().as_secs_f64();
    counter.settle().await;
    let _ = stop.send(true);
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }
    let delivered = counter.deliveries.load(Ordering::Relaxed);
    let delivery_seconds =
        (counter.last_delivery_nanos.load(Ordering::Relaxed).saturating_sub(publish_started_nanos)) as f64 / 1e9;
    let publishes_accepted = accepted.load(Ordering::Relaxed);
    let per_channel = sockets_subscribed as f64 / config.channels as f64;
    let errors = errors.snapshot();
    Ok(FanoutReport {
        sockets_subscribed,
        socket_nodes: socket_nodes.len(),
        channels: config.channels,
        publishes_accepted,
        publish_seconds,
        deliveries: delivered,
        deliveries_expected: (publishes_accepted as f64 * per_channel).round() as u64,
        delivery_seconds,
        deliveries_per_second: if delivery_seconds > 0.0 { delivered as f64 / delivery_seconds } else { 0.0 },
        errors,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_application_events_count_as_deliveries() {
        assert!(crate::pusher::is_application_event(
            r#"{"event":"App\\Events\\ConversationAssigned","channel":"c","data":"{}"}"#
        ));
        assert!(!crate::pusher::is_application_event(r#"{"event":"pusher:ping","data":"{}"}"#));
        assert!(!crate::pusher::is_application_event(
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"c"}"#
        ));
    }
}
