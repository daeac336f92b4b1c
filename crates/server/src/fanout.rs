//! Cross-node fan-out over Redis pub/sub (API.md "Running several instances", as Reverb and
//! soketi scale out): every event frame a node's Pusher server publishes or relays (the
//! writer's committed events, the host's HTTP-API publishes, client events) is published
//! on one Redis channel, `<redis_prefix>events`, and every other node hands it to its own
//! sockets. Each node has a random origin id and skips its own messages.
//!
//! Presence members are cluster-wide the same way: each member joining or leaving a presence
//! channel on a node is published, and each node counts the others' members with its own
//! (`switchboard_pusher::PeerMessage`); so are a channel's first and last subscriber on a
//! node, so that Pusher's `channel_occupied` / `channel_vacated` webhooks describe the
//! cluster. A node that (re)connects says `hello`: every node answers with its whole
//! membership and its occupied channels. Every node says `heartbeat` each second; a node not
//! heard for [`PEER_SILENCE`] is forgotten (its members leave, with `member_removed` where
//! they are on no other node), and a node stopping says `goodbye` to be forgotten at once.
//!
//! Delivery is best effort, as Pusher's own: while Redis is unreachable the frames meant for
//! other nodes are dropped and counted (never queued for later, so no socket hears a stale
//! burst after an outage), `/ready` answers 503 so a load balancer moves clients to nodes
//! that hear everything, and the task reconnects with a backoff of 100 ms doubling to 2 s.
//! Publishing never waits on Redis: the peer hook only puts the frame on a bounded queue
//! (4,096 frames) which one task drains in pipelined batches, in order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::AsyncConnectionConfig;
use serde::{Deserialize, Serialize};
use switchboard_pusher::{PeerHook, PeerMessage, Realtime};
use tokio::sync::{mpsc, watch};

/// Frames waiting for Redis; beyond, they are dropped and counted.
pub const QUEUE_FRAMES: usize = 4_096;
/// Frames sent in one pipelined round trip.
const BATCH_FRAMES: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// A silent Redis is noticed within this plus [`RESPONSE_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(1);
/// A node not heard for this long is forgotten: five missed heartbeats.
pub const PEER_SILENCE: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What one node receives: who sent it, and what.
#[derive(Deserialize)]
struct Envelope {
    origin: String,
    #[serde(flatten)]
    body: Body,
}

/// What one node publishes, borrowed: encoded on the fan-out task, off the publishing path.
#[derive(Serialize)]
struct OutgoingEnvelope<'a> {
    origin: &'a str,
    #[serde(flatten)]
    body: &'a Body,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Body {
    /// For the Pusher servers: a frame, a member or a channel's occupancy, or a whole state.
    Peer { message: PeerMessage },
    /// The sender (re)joined: every node answers with its membership.
    Hello,
    /// The sender is alive (each second).
    Heartbeat,
    /// The sender is stopping: forget it now.
    Goodbye,
}

/// The fan-out's state, shared by the peer hook, the task, `/ready` and the metrics.
pub struct Fanout {
    origin: String,
    channel: String,
    queue: mpsc::Sender<Body>,
    connected: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

/// The fan-out's counters, for metrics and the cluster view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutStats {
    pub connected: bool,
    /// Frames this node published on Redis.
    pub published: u64,
    /// Frames from other nodes handed to this node's sockets.
    pub received: u64,
    /// Frames for other nodes dropped: Redis unreachable or the queue full.
    pub dropped: u64,
    /// Messages from Redis that were not a well-formed frame (logged, never delivered).
    pub rejected: u64,
}

/// The part only the task holds.
pub struct FanoutTask {
    client: redis::Client,
    outbound: mpsc::Receiver<Body>,
}

/// Why `redis_url` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("redis_url: {0}")]
pub struct InvalidRedisUrl(String);

impl Fanout {
    /// Checks `url` (`redis://`, `unix://`; no TLS client is built in, so `rediss://` is
    /// refused) and prepares the fan-out; nothing connects until [`run`].
    ///
    /// # Errors
    /// The URL is not one this build can use.
    pub fn new(url: &str, prefix: &str) -> Result<(Arc<Fanout>, FanoutTask), InvalidRedisUrl> {
        if !(url.starts_with("redis://") || url.starts_with("unix://") || url.starts_with("redis+unix://")) {
            return Err(InvalidRedisUrl(
                "expected redis://HOST:PORT[/DB] or unix:///PATH (no TLS: rediss:// is not supported)".to_owned(),
            ));
        }
        let client = redis::Client::open(url).map_err(|error| InvalidRedisUrl(error.to_string()))?;
        let (queue, outbound) = mpsc::channel(QUEUE_FRAMES);
        let fanout = Arc::new(Fanout {
            origin: hex::encode(rand::random::<[u8; 8]>()),
            channel: format!("{prefix}events"),
            queue,
            connected: AtomicBool::new(false),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        Ok((fanout, FanoutTask { client, outbound }))
    }

    /// The Pusher server's peer hook: queues the frame for the other nodes, never waits.
    #[must_use]
    pub fn hook(self: &Arc<Self>) -> PeerHook {
        let fanout = Arc::clone(self);
        Arc::new(move |message| fanout.enqueue(message))
    }

    fn enqueue(&self, message: PeerMessage) {
        self.send(Body::Peer { message });
    }

    fn send(&self, body: Body) {
        if !self.connected.load(Ordering::Relaxed) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.queue.try_send(body).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text published on Redis for `body`.
    fn encode(&self, body: &Body) -> String {
        // Strings, JSON values and lists of them: serialising cannot fail.
        serde_json::to_string(&OutgoingEnvelope { origin: &self.origin, body }).unwrap_or_default()
    }

    /// The Redis channel every node publishes on and listens to.
    #[must_use]
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Whether this node hears the other nodes now.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn stats(&self) -> FanoutStats {
        FanoutStats {
            connected: self.is_connected(),
            published: self.published.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// Applies a message from Redis, unless this node sent it; notes when its sender was heard.
    fn receive(&self, realtime: &Realtime, peers: &mut Peers, payload: &[u8]) {
        let envelope = match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.reject(&format!("not a Switchboard envelope: {error}"));
                return;
            }
        };
        if envelope.origin == self.origin {
            return;
        }
        let origin = envelope.origin;
        match envelope.body {
            Body::Peer { message } => match realtime.deliver_from_peer(&origin, &message) {
                Ok(_) => {
                    self.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => self.reject(&error.to_string()),
            },
            Body::Hello => self.tell_state(realtime),
            Body::Heartbeat => {}
            Body::Goodbye => {
                peers.forget(realtime, &origin, "it said goodbye");
                return;
            }
        }
        peers.heard(&origin);
    }

    /// This node's presence members and occupied channels, for a node that (re)joined.
    fn tell_state(&self, realtime: &Realtime) {
        self.send(Body::Peer { message: realtime.peer_members() });
        self.send(Body::Peer { message: realtime.peer_occupancy() });
    }

    fn reject(&self, why: &str) {
        // Logged at most once per thousand: a foreign publisher must not flood the log.
        if self.rejected.fetch_add(1, Ordering::Relaxed) % 1_000 == 0 {
            tracing::warn!(channel = %self.channel, why, "ignoring a message on the fan-out channel");
        }
    }
}

/// The other nodes heard from, and when.
#[derive(Default)]
struct Peers {
    last_heard: std::collections::HashMap<String, Instant>,
}

impl Peers {
    fn heard(&mut self, origin: &str) {
        match self.last_heard.get_mut(origin) {
            Some(at) => *at = Instant::now(),
            None => {
                tracing::info!(peer = origin, "another node is on the fan-out");
                self.last_heard.insert(origin.to_owned(), Instant::now());
            }
        }
    }

    fn forget(&mut self, realtime: &Realtime, origin: &str, why: &str) {
        self.last_heard.remove(origin);
        let frames = realtime.forget_peer(origin);
        tracing::info!(peer = origin, why, member_frames = frames, "forgetting a node's presence members");
    }

    /// Forgets the nodes not heard for [`PEER_SILENCE`] (also while Redis is down here:
    /// their members cannot be trusted after that long).
    fn forget_silent(&mut self, realtime: &Realtime) {
        let silent: Vec<String> = self
            .last_heard
            .iter()
            .filter(|(_, at)| at.elapsed() >= PEER_SILENCE)
            .map(|(origin, _)| origin.clone())
            .collect();
        for origin in silent {
            self.forget(realtime, &origin, "not heard for 5 s");
        }
    }
}

/// Why one connection to Redis ended.
enum Ended {
    Stopping,
    Lost(String),
}

/// Keeps this node subscribed to the fan-out channel and publishing its frames until `stop`.
pub async fn run(fanout: Arc<Fanout>, task: FanoutTask, realtime: Realtime, mut stop: watch::Receiver<bool>) {
    let FanoutTask { client, mut outbound } = task;
    let mut peers = Peers::default();
    let mut backoff = FIRST_BACKOFF;
    let mut outage: Option<(Instant, String)> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        match connect(&client, &fanout.channel).await {
            Ok((publisher, sink, stream)) => {
                backoff = FIRST_BACKOFF;
                fanout.connected.store(true, Ordering::Relaxed);
                match outage.take() {
                    Some((since, _)) => tracing::info!(
                        channel = %fanout.channel,
                        outage_ms = since.elapsed().as_millis(),
                        "Redis fan-out reconnected"
                    ),
                    None => tracing::info!(channel = %fanout.channel, "Redis fan-out connected"),
                }
                // Ask for everyone's members, and tell ours: peers may have forgotten this node.
                fanout.send(Body::Hello);
                fanout.tell_state(&realtime);
                let connection = Connection { publisher, sink, stream };
                let ended = serve(&fanout, &realtime, &mut peers, connection, &mut outbound, &mut stop).await;
                fanout.connected.store(false, Ordering::Relaxed);
                // What was queued for the lost connection would reach peers late: drop it.
                while outbound.try_recv().is_ok() {
                    fanout.dropped.fetch_add(1, Ordering::Relaxed);
                }
                match ended {
                    Ended::Stopping => return,
                    Ended::Lost(why) => {
                        tracing::warn!(channel = %fanout.channel, why, "Redis fan-out lost: other nodes' events are not heard until it is back");
                        outage = Some((Instant::now(), why));
                    }
                }
            }
            Err(why) => {
                if outage.is_none() {
                    tracing::warn!(channel = %fanout.channel, why, "cannot reach Redis for the fan-out; retrying");
                    outage = Some((Instant::now(), why));
                }
            }
        }
        peers.forget_silent(&realtime);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The two connections to Redis: commands (PUBLISH, PING) and the subscription.
struct Connection {
    publisher: MultiplexedConnection,
    sink: PubSubSink,
    stream: PubSubStream,
}

async fn connect(
    client: &redis::Client,
    channel: &str,
) -> Result<(MultiplexedConnection, PubSubSink, PubSubStream), String> {
    let config =
        AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT).set_response_timeout(RESPONSE_TIMEOUT);
    let publisher = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
    let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (mut sink, stream) = pubsub.split();
    tokio::time::timeout(RESPONSE_TIMEOUT, sink.subscribe(channel))
        .await
        .map_err(|_| "SUBSCRIBE timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok((publisher, sink, stream))
}

async fn serve(
    fanout: &Fanout,
    realtime: &Realtime,
    peers: &mut Peers,
    connection: Connection,
    outbound: &mut mpsc::Receiver<Body>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let Connection { mut publisher, mut sink, mut stream } = connection;
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<Body> = Vec::with_capacity(BATCH_FRAMES);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => fanout.receive(realtime, peers, message.get_payload_bytes()),
                None => return Ended::Lost("the subscription connection closed".to_owned()),
            },
            received = outbound.recv_many(&mut batch, BATCH_FRAMES) => {
                if received == 0 {
                    return Ended::Stopping;
                }
                if let Err(why) = publish(fanout, &mut publisher, &mut batch).await {
                    return Ended::Lost(why);
                }
            }
            _ = tick.tick() => {
                // Both connections: a subscriber cut off silently would otherwise go unnoticed.
                let answered = tokio::time::timeout(RESPONSE_TIMEOUT, async {
                    sink.ping::<redis::Value>().await?;
                    redis::cmd("PING").query_async::<String>(&mut publisher).await
                })
                .await;
                match answered {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Ended::Lost(format!("PING failed: {error}")),
                    Err(_) => return Ended::Lost(format!("no answer to PING within {RESPONSE_TIMEOUT:?}")),
                }
                fanout.send(Body::Heartbeat);
                peers.forget_silent(realtime);
            }
            _ = stop.changed() => {
                fanout.send(Body::Goodbye);
                while let Ok(body) = outbound.try_recv() {
                    batch.push(body);
                }
                let _ = tokio::time::timeout(RESPONSE_TIMEOUT, publish(fanout, &mut publisher, &mut batch)).await;
                return Ended::Stopping;
            }
        }
    }
}

/// Sends `batch` in one pipelined round trip and empties it.
async fn publish(fanout: &Fanout, publisher: &mut MultiplexedConnection, batch: &mut Vec<Body>) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut pipeline = redis::pipe();
    for body in batch.iter() {
        pipeline.cmd("PUBLISH").arg(&fanout.channel).arg(fanout.encode(body)).ignore();
    }
    let sent = batch.len() as u64;
    batch.clear();
    match pipeline.query_async::<()>(publisher).await {
        Ok(()) => {
            fanout.published.fetch_add(sent, Ordering::Relaxed);
            Ok(())
        }
        Err(error) => {
            fanout.dropped.fetch_add(sent, Ordering::Relaxed);
            Err(format!("PUBLISH failed: {error}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_redis_urls_are_accepted() {
        assert!(Fanout::new("redis://127.0.0.1:6379", "switchboard:").is_ok());
        assert!(Fanout::new("redis://127.0.0.1:6379/2", "switchboard:").is_ok());
        assert!(Fanout::new("unix:///run/redis.sock", "switchboard:").is_ok());
        for refused in ["rediss://127.0.0.1", "http://127.0.0.1:6379", "127.0.0.1:6379", ""] {
            assert!(Fanout::new(refused, "switchboard:").is_err(), "{refused}");
        }
    }

    #[test]
    fn frames_are_dropped_and_counted_while_disconnected() {
        let (fanout, mut task) = Fanout::new("redis://127.0.0.1:1", "p:").expect("valid url");
        assert_eq!(fanout.channel(), "p:events");
        let hook = fanout.hook();
        let frame = || PeerMessage::Frame { channel: "news".into(), frame: "{}".into(), except: None };
        hook(frame());
        assert_eq!(fanout.stats().dropped, 1);
        assert!(task.outbound.try_recv().is_err(), "nothing queued while disconnected");
        fanout.connected.store(true, Ordering::Relaxed);
        hook(frame());
        let queued = task.outbound.try_recv().expect("queued while connected");
        assert_eq!(queued, Body::Peer { message: frame() });
        let envelope: Envelope = serde_json::from_str(&fanout.encode(&queued)).expect("an envelope");
        assert_eq!((envelope.origin, envelope.body), (fanout.origin.clone(), Body::Peer { message: frame() }));
    }

    #[test]
    fn own_and_malformed_messages_are_not_delivered() {
        let (fanout, _task) = Fanout::new("redis://127.0.0.1:1", "p:").expect("valid url");
        let realtime = Realtime::new(switchboard_pusher::PusherConfig::new("1", "key", "secret")).expect("config");
        let frame = r#"{"event":"Thing","channel":"news","data":"{}"}"#;
        let mut peers = Peers::default();
        let message = |origin: &str, channel: &str| {
            let message = serde_json::json!({"kind": "frame", "channel": channel, "frame": frame});
            serde_json::json!({"origin": origin, "type": "peer", "message": message}).to_string()
        };
        fanout.receive(&realtime, &mut peers, message(&fanout.origin, "news").as_bytes());
        assert_eq!(fanout.stats().received, 0, "its own message is skipped");
        assert!(peers.last_heard.is_empty());
        fanout.receive(&realtime, &mut peers, message("other", "news").as_bytes());
        assert_eq!(fanout.stats().received, 1);
        assert!(peers.last_heard.contains_key("other"), "its sender is heard");
        fanout.receive(&realtime, &mut peers, b"hello");
        fanout.receive(&realtime, &mut peers, message("other", "other").as_bytes());
        assert_eq!((fanout.stats().received, fanout.stats().rejected), (1, 2));
        let goodbye = serde_json::json!({"origin": "other", "type": "goodbye"}).to_string();
        fanout.receive(&realtime, &mut peers, goodbye.as_bytes());
        assert!(peers.last_heard.is_empty(), "a node saying goodbye is forgotten");
    }
}
