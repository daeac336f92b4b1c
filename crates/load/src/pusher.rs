//! A minimal Pusher protocol 7 client, enough to behave like pusher-js does: read
//! `pusher:connection_established`, authorize a private channel through
//! `POST /broadcasting/auth`, subscribe, answer `pusher:ping`, and hand events out or
//! count them ([`count_deliveries`], for the fan-out measurements).
//!
//! It owns frame building and parsing only; reconnecting and reacting to events belong to
//! the actors. No TLS: the tool targets a service on the same network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open WebSocket to the service.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long the handshake and the subscription may take at most.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// One frame from the server, as the tool needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `pusher:connection_established` with the socket id.
    Established { socket_id: String },
    /// `pusher_internal:subscription_succeeded`.
    Subscribed { channel: String },
    /// `pusher:subscription_error` or `pusher:error`.
    Error { message: String },
    /// `pusher:ping`: answer with [`pong_frame`].
    Ping,
    /// `pusher:pong`.
    Pong,
    /// An application event; `name` without the namespace, `data` the JSON text.
    Event { name: String, channel: String, data: String },
}

#[derive(Deserialize)]
struct RawFrame {
    event: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Value,
}

/// The event name without Laravel's namespace (`App\Events\ConversationAssigned` →
/// `ConversationAssigned`).
#[must_use]
pub fn bare_name(name: &str) -> &str {
    name.rsplit('\\').next().unwrap_or(name)
}

/// Parses one text frame; `None` for frames that are not JSON objects with an `event`.
#[must_use]
pub fn parse_frame(text: &str) -> Option<Frame> {
    let raw: RawFrame = serde_json::from_str(text).ok()?;
    let data_text = match raw.data {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Some(match raw.event.as_str() {
        "pusher:connection_established" => {
            let data: Value = serde_json::from_str(&data_text).ok()?;
            Frame::Established { socket_id: data["socket_id"].as_str()?.to_owned() }
        }
        "pusher_internal:subscription_succeeded" => Frame::Subscribed { channel: raw.channel.unwrap_or_default() },
        "pusher:subscription_error" | "pusher:error" => Frame::Error { message: data_text },
        "pusher:ping" => Frame::Ping,
        "pusher:pong" => Frame::Pong,
        name => {
            Frame::Event { name: bare_name(name).to_owned(), channel: raw.channel.unwrap_or_default(), data: data_text }
        }
    })
}

/// `pusher:subscribe` for a private channel with its signature.
#[must_use]
pub fn subscribe_frame(channel: &str, auth: &str) -> String {
    json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}}).to_string()
}

/// The answer to `pusher:ping`.
#[must_use]
pub fn pong_frame() -> String {
    json!({"event": "pusher:pong", "data": {}}).to_string()
}

/// `ws://host:port/app/{key}?protocol=7&client=switchboard-load` for an `http://` base URL.
///
/// # Errors
/// The base URL is not `http://` or `https://`.
pub fn websocket_url(base_url: &str, app_key: &str) -> anyhow::Result<String> {
    let rest = if let Some(rest) = base_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        bail!("the service URL must start with http:// or https://, not {base_url}");
    };
    Ok(format!("{}/app/{app_key}?protocol=7&client=switchboard-load&version=0.1", rest.trim_end_matches('/')))
}

/// Asks `POST /broadcasting/auth` for the signature of `channel` on `socket_id`.
///
/// # Errors
/// The request failed or the service refused it.
pub async fn authorize(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    socket_id: &str,
    channel: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base_url}/broadcasting/auth"))
        .bearer_auth(token)
        .json(&json!({"socket_id": socket_id, "channel_name": channel}))
        .send()
        .await
        .context("POST /broadcasting/auth")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match body["auth"].as_str() {
        Some(auth) if status.is_success() => Ok(auth.to_owned()),
        _ => bail!("POST /broadcasting/auth for {channel}: {status} {body}"),
    }
}

/// The Pusher app key, learnt from the service itself: the key prefixes every
/// `/broadcasting/auth` answer (`"<key>:<signature>"`), so one signature request with any
/// well-formed socket id reveals it. `token` must be allowed `channel`.
///
/// # Errors
/// The service refused the request.
pub async fn discover_app_key(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    channel: &str,
) -> anyhow::Result<String> {
    let auth = authorize(http, base_url, token, "1.1", channel).await?;
    match auth.split_once(':') {
        Some((key, _)) if !key.is_empty() => Ok(key.to_owned()),
        _ => bail!("unexpected /broadcasting/auth answer {auth}"),
    }
}

/// Opens a socket and reads `pusher:connection_established`; answers the socket id.
///
/// # Errors
/// The connection or the handshake failed.
pub async fn connect(ws_url: &str) -> anyhow::Result<(Socket, String)> {
    let (mut socket, _) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(ws_url))
        .await
        .context("WebSocket connect timed out")?
        .context("WebSocket connect")?;
    loop {
        let next = tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.next()).await.context("no connection_established")?;
        match next {
            Some(Ok(Message::Text(text))) => match parse_frame(&text) {
                Some(Frame::Established { socket_id }) => return Ok((socket, socket_id)),
                Some(Frame::Error { message }) => bail!("pusher:error on connect: {message}"),
                _ => {}
            },
            Some(Ok(Message::Close(frame))) => bail!("closed during the handshake: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context("WebSocket read"),
            None => bail!("the socket closed during the handshake"),
        }
    }
}

/// Subscribes `socket` to the private `channel` (auth via `token`) and waits for the
/// confirmation; events that arrive first are dropped.
///
/// # Errors
/// Auth was refused, or the subscription failed or timed out.
pub async fn subscribe(
    socket: &mut Socket,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    socket_id: &str,
    channel: &str,
) -> anyhow::Result<()> {
    let auth = authorize(http, base_url, token, socket_id, channel).await?;
    socket.send(Message::text(subscribe_frame(channel, &auth))).await.context("send subscribe")?;
    wait_subscribed(socket, channel).await
}

/// Waits for the confirmation of a subscription to `channel` already sent; events that
/// arrive first are dropped, pings answered.
///
/// # Errors
/// The subscription was refused, failed or timed out.
pub async fn wait_subscribed(socket: &mut Socket, channel: &str) -> anyhow::Result<()> {
    loop {
        let next = tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.next()).await.context("no subscription answer")?;
        match next {
            Some(Ok(Message::Text(text))) => match parse_frame(&text) {
                Some(Frame::Subscribed { channel: subscribed }) if subscribed == channel => return Ok(()),
                Some(Frame::Error { message }) => bail!("subscription to {channel} refused: {message}"),
                Some(Frame::Ping) => socket.send(Message::text(pong_frame())).await.context("send pong")?,
                _ => {}
            },
            Some(Ok(Message::Close(frame))) => bail!("closed while subscribing: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context("WebSocket read"),
            None => bail!("the socket closed while subscribing"),
        }
    }
}

/// Opens a socket and subscribes it to the private `channel` with `token`: what every
/// simulated console does first.
///
/// # Errors
/// The connection, the handshake, the auth or the subscription failed.
pub async fn connect_and_subscribe(
    ws_url: &str,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    channel: &str,
) -> anyhow::Result<Socket> {
    let (mut socket, socket_id) = connect(ws_url).await?;
    subscribe(&mut socket, http, base_url, token, &socket_id, channel).await?;
    Ok(socket)
}

/// Whether a frame is an application event, not one of the protocol's own.
#[must_use]
pub fn is_application_event(text: &str) -> bool {
    !text.contains("\"event\":\"pusher")
}

/// Where a counting reader records what it received.
#[derive(Clone, Debug)]
pub struct DeliveryCounter {
    /// Application events received, all readers together.
    pub deliveries: Arc<AtomicU64>,
    /// Nanoseconds after `epoch` of the latest delivery.
    pub last_delivery_nanos: Arc<AtomicU64>,
    pub epoch: Instant,
}

impl DeliveryCounter {
    #[must_use]
    pub fn new() -> Self {
        DeliveryCounter {
            deliveries: Arc::new(AtomicU64::new(0)),
            last_delivery_nanos: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since `epoch`.
    #[must_use]
    pub fn now_nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Waits (up to 10 s) until deliveries stop arriving for 200 ms.
    pub async fn settle(&self) {
        let mut previous = u64::MAX;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.deliveries.load(Ordering::Relaxed);
            if now == previous {
                break;
            }
            previous = now;
        }
    }
}

impl Default for DeliveryCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads `socket` until `stop`, counting application events into `counter` and answering
/// pings; `on_close` is called if the server closes the socket first.
pub async fn count_deliveries(
    mut socket: Socket,
    counter: DeliveryCounter,
    mut stop: watch::Receiver<bool>,
    on_close: impl Fn(),
) {
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            frame = socket.next() => frame,
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if is_application_event(&text) {
                    counter.deliveries.fetch_add(1, Ordering::Relaxed);
                    counter.last_delivery_nanos.fetch_max(counter.now_nanos(), Ordering::Relaxed);
                } else if text.contains("pusher:ping") {
                    let _ = socket.send(Message::text(pong_frame())).await;
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                on_close();
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    let _ = socket.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_events_count_as_deliveries() {
        assert!(is_application_event(r#"{"event":"App\\Events\\ConversationAssigned","channel":"c","data":"{}"}"#));
        assert!(!is_application_event(r#"{"event":"pusher:ping","data":"{}"}"#));
        assert!(!is_application_event(r#"{"event":"pusher_internal:subscription_succeeded","channel":"c"}"#));
    }

    #[test]
    fn frames_are_parsed_with_data_as_a_string() {
        let established =
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.34\",\"activity_timeout\":30}"}"#;
        assert_eq!(parse_frame(established), Some(Frame::Established { socket_id: "12.34".into() }));
        let event = r#"{"event":"App\\Events\\ConversationAssigned","channel":"private-moderator.7","data":"{\"client_id\":1}"}"#;
        assert_eq!(
            parse_frame(event),
            Some(Frame::Event {
                name: "ConversationAssigned".into(),
                channel: "private-moderator.7".into(),
                data: r#"{"client_id":1}"#.into()
            })
        );
        assert_eq!(parse_frame(r#"{"event":"pusher:ping","data":{}}"#), Some(Frame::Ping));
        assert_eq!(
            parse_frame(r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}"}"#),
            Some(Frame::Subscribed { channel: "c".into() })
        );
        assert_eq!(parse_frame("not json"), None);
    }

    #[test]
    fn urls_and_frames_are_built_as_pusher_js_does() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080/", "abc").expect("url"),
            "ws://127.0.0.1:8080/app/abc?protocol=7&client=switchboard-load&version=0.1"
        );
        assert!(websocket_url("ftp://x", "abc").is_err());
        let frame: Value = serde_json::from_str(&subscribe_frame("private-moderator.1", "k:sig")).expect("json");
        assert_eq!(frame["data"]["channel"], "private-moderator.1");
        assert_eq!(frame["data"]["auth"], "k:sig");
        assert_eq!(bare_name("Bare"), "Bare");
    }
}
