//! The Redis fan-out between real processes (README "Running several nodes"): two
//! `switchboard serve` on one PostgreSQL database and a `redis-server` the test starts on a
//! free port. A socket on the standby hears what the writer publishes: the host's
//! Pusher HTTP API publishes (`socket_id` exclusion honoured), committed events
//! (`private-supervisors`) and client events from a socket on the writer. Then Redis is
//! killed: both nodes say so in `/ready` (503) and in their metrics, what the writer
//! publishes meanwhile is dropped and counted; Redis is started again on the same port:
//! both reconnect on their own and events flow again. A second test sends both nodes'
//! Pusher webhooks to a receiver of the test's own: one `channel_occupied` and one
//! `channel_vacated` for a channel whose subscribers came and went on both nodes, and one
//! `member_added` / `member_removed` per user.
//!
//! `cargo test -p switchboard --test fanout -- --nocapture` prints the figures (loss
//! noticed, reconnection, publish-to-socket latency). Needs `redis-server` (Debian's
//! `redis-server`, which `scripts/test` installs); fails, never skips, without it.

mod common;

use std::time::{Duration, Instant};

use common::nodes::{sole_writer, status, Node};
use common::redis_server::RedisServer;
use common::{eventually, external_token, unix_now};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "fanout-test-secret";
const APP_ID: &str = "4242";
const APP_KEY: &str = "fanout-key";
const APP_SECRET: &str = "fanout-app-secret";
const LATENCY_SAMPLES: usize = 200;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Pusher socket, as pusher-js would speak to the node.
struct PusherSocket {
    stream: Socket,
    socket_id: String,
}

impl PusherSocket {
    async fn open(base: &str) -> PusherSocket {
        let url = format!("{}/app/{APP_KEY}?protocol=7&client=fanout-test&version=1", base.replace("http://", "ws://"));
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("the socket opens");
        let mut socket = PusherSocket { stream, socket_id: String::new() };
        let established = socket.next_event().await;
        assert_eq!(established["event"], "pusher:connection_established");
        let data: Value = serde_json::from_str(established["data"].as_str().expect("data")).expect("JSON data");
        socket.socket_id = data["socket_id"].as_str().expect("a socket id").to_owned();
        socket
    }

    async fn send(&mut self, frame: Value) {
        self.stream.send(Message::Text(frame.to_string().into())).await.expect("the frame is sent");
    }

    /// Subscribes, signing private channels with the app secret as the host's auth would.
    async fn subscribe(&mut self, channel: &str) {
        let auth = channel
            .starts_with("private-")
            .then(|| switchboard_pusher::sign_private_channel(APP_KEY, APP_SECRET, &self.socket_id, channel));
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}})).await;
        let answer = self.next_event().await;
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded", "{answer}");
    }

    /// Joins presence `channel` as `user_id`, signed as the host's auth would; returns the
    /// member ids of `subscription_succeeded`, sorted.
    async fn join_presence(&mut self, channel: &str, user_id: &str) -> Vec<String> {
        let channel_data = json!({"user_id": user_id, "user_info": {"name": user_id}}).to_string();
        let auth =
            switchboard_pusher::sign_presence_channel(APP_KEY, APP_SECRET, &self.socket_id, channel, &channel_data);
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}}))
            .await;
        let answer = self.next_event().await;
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded", "{answer}");
        let data: Value = serde_json::from_str(answer["data"].as_str().expect("data")).expect("JSON");
        let mut ids: Vec<String> = data["presence"]["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_str().expect("a string id").to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// The next `member_added` / `member_removed`: (event, user id).
    async fn next_member_event(&mut self) -> (String, String) {
        let event = self.next_event().await;
        let name = event["event"].as_str().expect("an event").to_owned();
        assert!(name.starts_with("pusher_internal:member_"), "{event}");
        let data: Value = serde_json::from_str(event["data"].as_str().expect("data")).expect("JSON");
        (name, data["user_id"].as_str().expect("a user id").to_owned())
    }

    /// The next frame that is not a ping/pong.
    async fn next_event(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a frame within 10 s")
                .expect("the socket stays open")
                .expect("a frame");
            if let Message::Text(text) = frame {
                let event: Value = serde_json::from_str(&text).expect("a JSON frame");
                if !matches!(event["event"].as_str(), Some("pusher:ping" | "pusher:pong")) {
                    return event;
                }
            }
        }
    }
}

/// A signed Pusher HTTP API query string: `body` for a POST, `None` for a GET.
fn signed_query(method: &str, path: &str, body: Option<&str>) -> String {
    use md5::Digest as _;
    let mut query = format!("auth_key={APP_KEY}&auth_timestamp={}&auth_version=1.0", unix_now());
    if let Some(body) = body {
        query.push_str(&format!("&body_md5={}", hex::encode(md5::Md5::digest(body.as_bytes()))));
    }
    let signature = switchboard_pusher::hex_hmac(APP_SECRET, format!("{method}\n{path}\n{query}").as_bytes());
    format!("{query}&auth_signature={signature}")
}

/// The user ids `base`'s HTTP API lists on presence `channel`, sorted.
async fn host_users(client: &reqwest::Client, base: &str, channel: &str) -> Vec<String> {
    let path = format!("/apps/{APP_ID}/channels/{channel}/users");
    let answer: Value = client
        .get(format!("{base}{path}?{}", signed_query("GET", &path, None)))
        .send()
        .await
        .expect("the HTTP API answers")
        .json()
        .await
        .expect("JSON");
    let mut ids: Vec<String> = answer["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users: {answer}"))
        .iter()
        .map(|user| user["id"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Publishes through `base`'s Pusher HTTP API, as the host's Laravel broadcaster does.
async fn publish(client: &reqwest::Client, base: &str, channel: &str, data: &Value, except: Option<&str>) {
    let path = format!("/apps/{APP_ID}/events");
    let mut body = json!({"name": "App\\Events\\Note", "channels": [channel], "data": data.to_string()});
    if let Some(socket_id) = except {
        body["socket_id"] = json!(socket_id);
    }
    let body = body.to_string();
    let answer = client
        .post(format!("{base}{path}?{}", signed_query("POST", &path, Some(&body))))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the HTTP API answers");
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap_or_default());
}

/// The value of an unlabelled metric on `base`.
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from {base}/metrics"))
}

async fn wait_for_status(client: &reqwest::Client, url: &str, wanted: u16, what: &str) -> Duration {
    let started = Instant::now();
    eventually(what, Duration::from_secs(30), || async { (status(client, url).await == Some(wanted)).then_some(()) })
        .await;
    started.elapsed()
}

/// A fresh database and two nodes on it sharing `redis` (channel prefix `fanout-<tag>-<pid>:`),
/// the test's Pusher credentials and `extra_env`; returns once both are ready. The log
/// directory lives as long as the returned handle.
async fn start_pair(
    redis: &RedisServer,
    tag: &str,
    extra_env: &[(&str, &str)],
    client: &reqwest::Client,
) -> (String, tempfile::TempDir, Node, Node) {
    let database = fresh_postgres_url().await;
    let log_dir = tempfile::tempdir().expect("a log dir");
    let log = log_dir.path().join("nodes.log");
    let prefix = format!("fanout-{tag}-{}:", std::process::id());
    let redis_url = redis.url();
    let mut env = vec![
        ("SWITCHBOARD_PUSHER_APP_ID", APP_ID),
        ("SWITCHBOARD_PUSHER_APP_KEY", APP_KEY),
        ("SWITCHBOARD_PUSHER_APP_SECRET", APP_SECRET),
        ("SWITCHBOARD_REDIS_URL", redis_url.as_str()),
        ("SWITCHBOARD_REDIS_PREFIX", prefix.as_str()),
    ];
    env.extend_from_slice(extra_env);
    let first = Node::spawn(&database, SECRET, "node-a", "2s", &log, &env);
    let second = Node::spawn(&database, SECRET, "node-b", "2s", &log, &env);
    for node in [&first, &second] {
        wait_for_status(client, &format!("{}/ready", node.base), 200, "both nodes ready").await;
    }
    (database, log_dir, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standbys_sockets_hear_the_writer_and_survive_a_redis_outage() {
    let mut redis = RedisServer::start().await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a client");
    let (database, _logs, first, second) = start_pair(&redis, "events", &[], &client).await;
    let writer_is_first = eventually("one writer and one standby", Duration::from_secs(30), || {
        sole_writer(&client, [(0, first.base.as_str()), (1, second.base.as_str())])
    })
    .await
        == 0;
    let (writer, standby) = if writer_is_first { (&first, &second) } else { (&second, &first) };
    assert_eq!(metric(&client, &standby.base, "switchboard_redis_connected").await, 1);

    let mut listener = PusherSocket::open(&standby.base).await;
    for channel in ["news", "private-supervisors", "private-room"] {
        listener.subscribe(channel).await;
    }
    let mut whisperer = PusherSocket::open(&writer.base).await;
    whisperer.subscribe("private-room").await;

    // The host's publish on the writer, then one that excepts the listener: only the first
    // arrives, since one node's frames reach the others in order.
    publish(&client, &writer.base, "news", &json!({"n": 1}), None).await;
    publish(&client, &writer.base, "news", &json!({"n": 2}), Some(&listener.socket_id)).await;
    publish(&client, &writer.base, "news", &json!({"n": 3}), None).await;
    for expected in [1, 3] {
        let event = listener.next_event().await;
        assert_eq!((event["event"].as_str(), event["channel"].as_str()), (Some("App\\Events\\Note"), Some("news")));
        assert_eq!(event["data"], json!({"n": expected}).to_string());
    }

    // A committed event: a moderator connecting through the writer, seen by supervisors.
    let platform = external_token(SECRET, &json!({"role": "platform", "exp": unix_now() + 3600}));
    let moderator = external_token(SECRET, &json!({"role": "moderator", "sub": "1", "exp": unix_now() + 3600}));
    let declared = client
        .put(format!("{}/api/moderators/1", writer.base))
        .bearer_auth(&platform)
        .json(&json!({"name": "Moderator 1"}))
        .send()
        .await
        .expect("the directory call");
    assert!(declared.status().is_success(), "{}", declared.text().await.unwrap_or_default());
    let connected = client
        .post(format!("{}/moderateur/connect", writer.base))
        .bearer_auth(&moderator)
        .send()
        .await
        .expect("connect");
    assert_eq!(connected.status(), 200, "{}", connected.text().await.unwrap_or_default());
    let event = listener.next_event().await;
    assert_eq!(event["channel"], "private-supervisors", "{event}");
    assert_eq!(event["event"], "App\\Events\\ModeratorStateChanged", "{event}");

    // A client event from a socket on the writer.
    whisperer.send(json!({"event": "client-typing", "channel": "private-room", "data": {"who": "writer"}})).await;
    let whisper = listener.next_event().await;
    assert_eq!((whisper["event"].as_str(), whisper["channel"].as_str()), (Some("client-typing"), Some("private-room")));

    // Presence members are cluster-wide: one user per node, each node lists both.
    let mut member_here = PusherSocket::open(&writer.base).await;
    assert_eq!(member_here.join_presence("presence-chat.1", "ann").await, ["ann"]);
    eventually("the standby to list the writer's member", Duration::from_secs(10), || async {
        (host_users(&client, &standby.base, "presence-chat.1").await == ["ann"]).then_some(())
    })
    .await;
    let mut member_there = PusherSocket::open(&standby.base).await;
    assert_eq!(member_there.join_presence("presence-chat.1", "bob").await, ["ann", "bob"]);
    assert_eq!(member_here.next_member_event().await, ("pusher_internal:member_added".to_owned(), "bob".to_owned()));
    assert_eq!(host_users(&client, &writer.base, "presence-chat.1").await, ["ann", "bob"]);

    // Publish-to-socket latency across the two processes and Redis.
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let sent = Instant::now();
        publish(&client, &writer.base, "news", &json!({"sample": n}), None).await;
        let event = listener.next_event().await;
        assert_eq!(event["data"], json!({"sample": n}).to_string());
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];

    // Redis dies: both nodes say so, and the writer's frames for the standby are dropped.
    let killed = Instant::now();
    redis.kill();
    let noticed =
        wait_for_status(&client, &format!("{}/ready", standby.base), 503, "the standby to report Redis").await;
    wait_for_status(&client, &format!("{}/ready", writer.base), 503, "the writer to report Redis").await;
    let answer: Value =
        client.get(format!("{}/ready", standby.base)).send().await.expect("ready").json().await.expect("JSON");
    assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|text| text.contains("Redis")), "{answer}");
    assert_eq!(metric(&client, &standby.base, "switchboard_redis_connected").await, 0);
    let dropped_before = metric(&client, &writer.base, "switchboard_redis_dropped_total").await;
    publish(&client, &writer.base, "news", &json!({"lost": true}), None).await;
    assert_eq!(metric(&client, &writer.base, "switchboard_redis_dropped_total").await, dropped_before + 1);
    let noticed_after = killed.elapsed();

    // Redis is back on the same port: both reconnect by themselves.
    let restarted = Instant::now();
    redis.restart().await;
    for node in [writer, standby] {
        wait_for_status(&client, &format!("{}/ready", node.base), 200, "the nodes to reconnect").await;
    }
    let reconnected = restarted.elapsed();
    assert_eq!(metric(&client, &standby.base, "switchboard_redis_connected").await, 1);
    publish(&client, &writer.base, "news", &json!({"after": true}), None).await;
    let event = listener.next_event().await;
    assert_eq!(
        event["data"],
        json!({"after": true}).to_string(),
        "the frame published during the outage is not replayed"
    );

    // The writer dies without a word (kill -9): after five missed heartbeats its member
    // leaves the standby's channel.
    let killed_writer = Instant::now();
    let (writer_base, standby_base) = (writer.base.clone(), standby.base.clone());
    let mut nodes = [Some(first), Some(second)];
    nodes[usize::from(!writer_is_first)] = None;
    assert_eq!(member_there.next_member_event().await, ("pusher_internal:member_removed".to_owned(), "ann".to_owned()));
    let forgotten = killed_writer.elapsed();
    assert_eq!(host_users(&client, &standby_base, "presence-chat.1").await, ["bob"]);
    let _ = writer_base;

    println!(
        "fan-out: publish (writer's HTTP API) to the standby's socket over {LATENCY_SAMPLES} samples: p50 {:?}, p99 {:?}, max {:?}; Redis killed: standby /ready 503 after {noticed:?} (both nodes within {noticed_after:?}); Redis restarted: both nodes ready again {reconnected:?} after it was started; writer killed: its presence member removed on the standby after {forgotten:?}",
        percentile(50),
        percentile(99),
        latencies[latencies.len() - 1],
    );
    drop((listener, whisperer, member_here, member_there, nodes));
    drop_postgres_database(&database).await;
}

/// Webhook events as received: (name, channel, user id).
type ReceivedEvents = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Option<String>)>>>;

/// A Pusher webhook receiver in the test: every event it was posted.
struct WebhookReceiver {
    url: String,
    events: ReceivedEvents,
}

impl WebhookReceiver {
    async fn start() -> WebhookReceiver {
        let events = ReceivedEvents::default();
        let recorded = events.clone();
        let app = axum::Router::new().route(
            "/pusher",
            axum::routing::post(move |body: String| {
                let recorded = recorded.clone();
                async move {
                    let body: Value = serde_json::from_str(&body).expect("a JSON webhook body");
                    for event in body["events"].as_array().expect("events") {
                        let name = event["name"].as_str().expect("a name").to_owned();
                        let channel = event["channel"].as_str().expect("a channel").to_owned();
                        let user = event["user_id"].as_str().map(str::to_owned);
                        recorded.lock().expect("the list").push((name, channel, user));
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/pusher", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver { url, events }
    }

    /// The events received for `channel` so far: (name, user).
    fn on(&self, channel: &str) -> Vec<(String, Option<String>)> {
        let events = self.events.lock().expect("the list");
        events.iter().filter(|(_, on, _)| on == channel).map(|(name, _, user)| (name.clone(), user.clone())).collect()
    }
}

/// Pusher webhooks describe the cluster, not each node: one `channel_occupied` when the
/// first node gets a subscriber, none when a second node does, none when the first node's
/// subscriber leaves while the second still has one, one `channel_vacated` when the last
/// leaves; `member_added` / `member_removed` once per user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_webhooks_describe_the_cluster_not_each_node() {
    let redis = RedisServer::start().await;
    let receiver = WebhookReceiver::start().await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a client");
    let webhooks = [("SWITCHBOARD_PUSHER_WEBHOOK_URL", receiver.url.as_str())];
    let (database, _logs, first, second) = start_pair(&redis, "webhooks", &webhooks, &client).await;
    let channel = "presence-room.9";

    // Ann on the first node: the channel is occupied. The second node lists her, so it has
    // also heard of the occupancy (a node's messages arrive in the order it sent them).
    let mut ann = PusherSocket::open(&first.base).await;
    ann.join_presence(channel, "ann").await;
    eventually("the second node to list ann", Duration::from_secs(10), || async {
        (host_users(&client, &second.base, channel).await == ["ann"]).then_some(())
    })
    .await;
    // Bob on the second node: no second channel_occupied.
    let mut bob = PusherSocket::open(&second.base).await;
    bob.subscribe("barrier").await;
    assert_eq!(bob.join_presence(channel, "bob").await, ["ann", "bob"]);
    // Only once the first node knows of bob (and so of his node's occupancy, sent before him)
    // is ann's leaving not the cluster's last: changes on two nodes at the same instant are
    // not ordered with each other.
    eventually("the first node to list bob", Duration::from_secs(10), || async {
        (host_users(&client, &first.base, channel).await == ["ann", "bob"]).then_some(())
    })
    .await;
    // Ann leaves: the channel stays occupied by bob. A publish on the first node after her
    // departure, heard by bob, shows the second node has processed her leaving.
    drop(ann);
    eventually("the first node to see ann gone", Duration::from_secs(10), || async {
        (host_users(&client, &first.base, channel).await == ["bob"]).then_some(())
    })
    .await;
    publish(&client, &first.base, "barrier", &json!({"after": "ann"}), None).await;
    loop {
        let event = bob.next_event().await;
        if event["channel"] == "barrier" {
            break;
        }
    }
    // Bob leaves: the channel is vacated in the whole cluster.
    drop(bob);
    let wanted = [
        ("channel_occupied".to_owned(), None),
        ("member_added".to_owned(), Some("ann".to_owned())),
        ("member_added".to_owned(), Some("bob".to_owned())),
        ("member_removed".to_owned(), Some("ann".to_owned())),
        ("member_removed".to_owned(), Some("bob".to_owned())),
        ("channel_vacated".to_owned(), None),
    ];
    let received = eventually("the webhooks of the whole story", Duration::from_secs(20), || {
        let received = receiver.on(channel);
        let gone = |user: &str| ("member_removed".to_owned(), Some(user.to_owned()));
        async move {
            let vacated = received.iter().any(|(name, _)| name == "channel_vacated");
            (vacated && received.contains(&gone("ann")) && received.contains(&gone("bob"))).then_some(received)
        }
    })
    .await;
    let mut sorted = received.clone();
    sorted.sort();
    let mut expected = wanted.to_vec();
    expected.sort();
    assert_eq!(sorted, expected, "one webhook per cluster-wide change: {received:?}");
    // Each node posts its own batches, so only a node's own events arrive in order; the
    // channel's two events come from different nodes here, decided in this order.
    let position = |name: &str| received.iter().position(|(event, _)| event == name);
    assert!(position("channel_occupied") < position("channel_vacated"), "{received:?}");
    println!("pusher webhooks over two nodes for {channel}: {received:?}");
    drop((first, second));
    drop_postgres_database(&database).await;
}
