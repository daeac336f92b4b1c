//! The host's side of the Pusher server, measured: many sockets on public channels, events
//! published through the signed Pusher HTTP API (`POST /apps/{id}/events`) as a Laravel
//! broadcaster would, and the deliveries counted where they arrive; then presence churn
//! (sockets joining and leaving presence channels with host-signed `channel_data`). Needs
//! only the Pusher app's id, key and secret, so it runs unchanged against any Pusher-protocol
//! server (soketi, Reverb) for a side-by-side figure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use futures_util::stream::{self, StreamExt as _};
use futures_util::SinkExt as _;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::memory::MemorySource;
use crate::pusher;

/// What to measure.
#[derive(Clone, Debug)]
pub struct HostApiConfig {
    pub url: String,
    pub app_id: String,
    pub app_key: String,
    pub app_secret: String,
    /// Sockets subscribed to the public channels.
    pub sockets: u64,
    /// Public channels `host-load.{n}` the sockets are spread over.
    pub channels: u64,
    /// Triggers per second; 0 sends as fast as `publish_concurrency` allows.
    pub publish_rate: f64,
    pub publish_concurrency: usize,
    pub duration: Duration,
    pub connect_concurrency: usize,
    /// Sockets joining and leaving presence channels in a loop (0: no churn phase).
    pub churn_sockets: u64,
    pub churn_duration: Duration,
    pub memory: Option<MemorySource>,
}

/// What was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostApiReport {
    pub sockets_subscribed: u64,
    pub channels: u64,
    pub memory_before_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
    pub memory_per_socket_bytes: Option<f64>,
    pub triggers_accepted: u64,
    pub trigger_seconds: f64,
    pub triggers_per_second: f64,
    pub deliveries: u64,
    pub deliveries_expected: u64,
    /// First trigger → last delivery.
    pub delivery_seconds: f64,
    pub deliveries_per_second: f64,
    /// Presence subscribe → subscription_succeeded → unsubscribe, all churning sockets.
    pub churn_cycles: u64,
    pub churn_seconds: f64,
    pub churn_cycles_per_second: f64,
    pub errors: BTreeMap<String, u64>,
}

impl HostApiReport {
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "host API: {} sockets on {} channels (memory {} per socket); {} triggers accepted in {:.1} s = {:.0}/s; {} of {} deliveries in {:.2} s = {:.0}/s; presence churn {} join+leave in {:.1} s = {:.0}/s; errors {:?}",
            self.sockets_subscribed,
            self.channels,
            self.memory_per_socket_bytes.map_or_else(|| "unknown".to_owned(), |bytes| format!("{bytes:.0} B")),
            self.triggers_accepted,
            self.trigger_seconds,
            self.triggers_per_second,
            self.deliveries,
            self.deliveries_expected,
            self.delivery_seconds,
            self.deliveries_per_second,
            self.churn_cycles,
            self.churn_seconds,
            self.churn_cycles_per_second,
            self.errors
        )
    }
}

/// The query string of a signed Pusher HTTP API request, `auth_signature` last.
#[must_use]
pub fn signed_query(method: &str, path: &str, body: &str, config: &HostApiConfig, timestamp_seconds: u64) -> String {
    use md5::Digest as _;
    let body_md5 = hex::encode(md5::Md5::digest(body.as_bytes()));
    let query =
        format!("auth_key={}&auth_timestamp={timestamp_seconds}&auth_version=1.0&body_md5={body_md5}", config.app_key);
    let signature = switchboard_pusher::hex_hmac(&config.app_secret, format!("{method}\n{path}\n{query}").as_bytes());
    format!("{query}&auth_signature={signature}")
}

type Errors = Arc<Mutex<BTreeMap<String, u64>>>;

fn count_error(errors: &Errors, kind: String) {
    if let Ok(mut errors) = errors.lock() {
        *errors.entry(kind).or_insert(0) += 1;
    }
}

/// Runs the measurement.
///
/// # Errors
/// No socket could subscribe, or the URL is unusable.
#[allow(clippy::too_many_lines)]
pub async fn run(config: HostApiConfig) -> anyhow::Result<HostApiReport> {
    let url = config.url.trim_end_matches('/').to_owned();
    let ws_url = pusher::websocket_url(&url, &config.app_key)?;
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let errors: Errors = Arc::default();
    let channels = config.channels.max(1);
    let memory_before_bytes = match &config.memory {
        Some(source) => source.read(&http).await,
        None => None,
    };

    let counter = pusher::DeliveryCounter::new();
    let (stop, stop_receiver) = watch::channel(false);
    let readers: Vec<Option<tokio::task::JoinHandle<()>>> = stream::iter(0..config.sockets)
        .map(|index| {
            let ws_url = ws_url.clone();
            let channel = format!("host-load.{}", index % channels);
            let (counter, stop, errors) = (counter.clone(), stop_receiver.clone(), errors.clone());
            async move {
                let subscribed = async {
                    let (mut socket, _) = pusher::connect(&ws_url).await?;
                    socket.send(Message::text(pusher::subscribe_frame(&channel, ""))).await?;
                    pusher::wait_subscribed(&mut socket, &channel).await?;
                    anyhow::Ok(socket)
                }
                .await;
                let socket = match subscribed {
                    Ok(socket) => socket,
                    Err(failure) => {
                        count_error(
                            &errors,
                            format!("subscribe: {}", format!("{failure:#}").chars().take(80).collect::<String>()),
                        );
                        return None;
                    }
                };
                let on_close = move || count_error(&errors, "socket closed during the run".to_owned());
                Some(tokio::spawn(pusher::count_deliveries(socket, counter, stop, on_close)))
            }
        })
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect()
        .await;
    let readers: Vec<_> = readers.into_iter().flatten().collect();
    let sockets_subscribed = readers.len() as u64;
    if sockets_subscribed == 0 {
        bail!("no socket subscribed: {:?}", errors.lock().map(|e| e.clone()).unwrap_or_default());
    }
    let memory_after_bytes = match &config.memory {
        Some(source) => source.read(&http).await,
        None => None,
    };

    // Triggers through the signed HTTP API.
    let path = format!("/apps/{}/events", config.app_id);
    let concurrency = config.publish_concurrency.max(1);
    let in_flight = Arc::new(Semaphore::new(concurrency));
    let accepted = Arc::new(AtomicU64::new(0));
    let shared_config = Arc::new(config.clone());
    let publish_started = Instant::now();
    let publish_started_nanos = counter.now_nanos();
    let mut sent = 0_u64;
    while publish_started.elapsed() < config.duration {
        if config.publish_rate > 0.0 {
            let due = (publish_started.elapsed().as_secs_f64() * config.publish_rate) as u64;
            if sent >= due {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        }
        let n = sent;
        sent += 1;
        let body = json!({"name": "App\\Events\\LoadTest", "data": format!("{{\"n\":{n}}}"), "channel": format!("host-load.{}", n % channels)}).to_string();
        let permit = in_flight.clone().acquire_owned().await.context("semaphore")?;
        let (http, url, path, accepted, errors, config) =
            (http.clone(), url.clone(), path.clone(), accepted.clone(), errors.clone(), shared_config.clone());
        tokio::spawn(async move {
            let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
            let query = signed_query("POST", &path, &body, &config, timestamp);
            let sent = http
                .post(format!("{url}{path}?{query}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                Ok(response) => count_error(&errors, format!("POST {path}: {}", response.status().as_u16())),
                Err(_) => count_error(&errors, format!("POST {path}: transport")),
            }
            drop(permit);
        });
    }
    let _ = in_flight.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)).await;
    let trigger_seconds = publish_started.elapsed().as_secs_f64();
    counter.settle().await;
    let _ = stop.send(true);
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }

    let (churn_cycles, churn_seconds) = churn(&config, &ws_url, &errors).await;

    let triggers_accepted = accepted.load(Ordering::Relaxed);
    let delivered = counter.deliveries.load(Ordering::Relaxed);
    let delivery_seconds =
        (counter.last_delivery_nanos.load(Ordering::Relaxed).saturating_sub(publish_started_nanos)) as f64 / 1e9;
    let per_channel = sockets_subscribed as f64 / channels as f64;
    let memory_per_socket_bytes = match (memory_before_bytes, memory_after_bytes) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before) as f64 / sockets_subscribed as f64),
        _ => None,
    };
    let errors = errors.lock().map(|errors| errors.clone()).unwrap_or_default();
    Ok(HostApiReport {
        sockets_subscribed,
        channels,
        memory_before_bytes,
        memory_after_bytes,
        memory_per_socket_bytes,
        triggers_accepted,
        trigger_seconds,
        triggers_per_second: triggers_accepted as f64 / trigger_seconds.max(f64::EPSILON),
        deliveries: delivered,
        deliveries_expected: (triggers_accepted as f64 * per_channel).round() as u64,
        delivery_seconds,
        deliveries_per_second: if delivery_seconds > 0.0 { delivered as f64 / delivery_seconds } else { 0.0 },
        churn_cycles,
        churn_seconds,
        churn_cycles_per_second: churn_cycles as f64 / churn_seconds.max(f64::EPSILON),
        errors,
    })
}

/// Each churning socket joins a presence channel as its own user (`channel_data` signed as
/// the host would), waits for the member hash, leaves, and again, for `churn_duration`.
async fn churn(config: &HostApiConfig, ws_url: &str, errors: &Errors) -> (u64, f64) {
    if config.churn_sockets == 0 {
        return (0, 0.0);
    }
    let cycles = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..config.churn_sockets)
        .map(|index| {
            let (ws_url, config, cycles, errors) = (ws_url.to_owned(), config.clone(), cycles.clone(), errors.clone());
            tokio::spawn(async move {
                let outcome = async {
                    let (mut socket, socket_id) = pusher::connect(&ws_url).await?;
                    let channel = format!("presence-churn.{}", index % 10);
                    let channel_data = json!({"user_id": format!("churn-{index}"), "user_info": {"n": index}}).to_string();
                    let auth = switchboard_pusher::sign_presence_channel(
                        &config.app_key,
                        &config.app_secret,
                        &socket_id,
                        &channel,
                        &channel_data,
                    );
                    let subscribe = json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}}).to_string();
                    let unsubscribe = json!({"event": "pusher:unsubscribe", "data": {"channel": channel}}).to_string();
                    while started.elapsed() < config.churn_duration {
                        socket.send(Message::text(subscribe.clone())).await?;
                        pusher::wait_subscribed(&mut socket, &channel).await?;
                        socket.send(Message::text(unsubscribe.clone())).await?;
                        cycles.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = socket.close(None).await;
                    anyhow::Ok(())
                }
                .await;
                if let Err(failure) = outcome {
                    count_error(&errors, format!("churn: {}", format!("{failure:#}").chars().take(80).collect::<String>()));
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    (cycles.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_signed_over_method_path_and_sorted_parameters() {
        let config = HostApiConfig {
            url: String::new(),
            app_id: "3".into(),
            app_key: "key".into(),
            app_secret: "secret".into(),
            sockets: 0,
            channels: 1,
            publish_rate: 0.0,
            publish_concurrency: 1,
            duration: Duration::ZERO,
            connect_concurrency: 1,
            churn_sockets: 0,
            churn_duration: Duration::ZERO,
            memory: None,
        };
        let query = signed_query("POST", "/apps/3/events", "{}", &config, 1_700_000_000);
        let (unsigned, signature) = query.rsplit_once("&auth_signature=").expect("signature last");
        assert_eq!(
            unsigned,
            "auth_key=key&auth_timestamp=1700000000&auth_version=1.0&body_md5=99914b932bd37a50b983c5e7c90ae93b"
        );
        let expected = switchboard_pusher::hex_hmac("secret", format!("POST\n/apps/3/events\n{unsigned}").as_bytes());
        assert_eq!(signature, expected);
    }
}
