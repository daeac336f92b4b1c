//! A cluster of real processes (README "Running several nodes"): three `switchboard serve`
//! on one PostgreSQL database and a `redis-server` of the test's own for their fan-out,
//! messages ingested without pause through whichever node answers (as a load balancer
//! retrying on 503 would), and the writer taken away again and again:
//! - kill -9 of the writer, `SWITCHBOARD_CLUSTER_ROUNDS` times (20 by default): a standby
//!   takes over (the killed node is started again, as a standby); the takeover time per
//!   round is printed with p50/p99/max;
//! - SIGSTOP of the writer beyond its lease, then SIGCONT: the commands sent to it are
//!   answered 503, or relayed to the new writer once it knows it is a standby (never decided
//!   by it), and its epoch commits nothing after the takeover;
//! - SIGTERM of the writer: it releases the lease and a standby takes over at once.
//!
//! Afterwards every acknowledged (202) message is stored exactly once, and the batch log
//! (`writer_epochs`) shows epochs that only grew and no epoch that committed after the next
//! was granted. `SWITCHBOARD_CLUSTER_LEASE` (default 2s) sets `leader_lease`.
//!
//! A second test has every node serve: commands through standbys, moderators' sockets on
//! every node kept across a takeover, and the new writer's events reaching a socket on a
//! standby.
//!
//! `cargo test -p switchboard --test cluster -- --nocapture` prints the figures.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nodes::{assert_stored_once_and_fenced, load_average, percentile, sole_writer, Node};
use common::redis_server::RedisServer;
use common::{eventually, external_token, unix_now};
use serde_json::{json, Value};
use switchboard_store::testing::{drop_postgres_database, fresh_postgres_url};
use switchboard_store::Store;

const SECRET: &str = "cluster-test-secret";
const NODES: usize = 3;
const PROFILES: u64 = 4;
const CLIENTS: u64 = 40;
const INGESTERS: u64 = 4;
/// Message ids of the commands sent to the paused writer (never acknowledged by it).
const PAUSED_IDS: u64 = 9_000_000_000;

fn platform_token() -> String {
    external_token(SECRET, &json!({ "role": "platform", "exp": unix_now() + 3600 }))
}

fn supervisor_token() -> String {
    external_token(SECRET, &json!({ "role": "supervisor", "exp": unix_now() + 3600 }))
}

/// Three nodes, the database, the Redis of their fan-out, and what the ingesters acknowledged.
struct Cluster {
    url: String,
    /// Every node's `redis_url`: a socket on any node hears every node's events.
    redis: RedisServer,
    lease: String,
    log: std::path::PathBuf,
    nodes: Vec<Option<Node>>,
    /// The nodes' base URLs, read by the ingesters.
    bases: Arc<Mutex<Vec<String>>>,
    /// (message id, when the 202 arrived, the base URL of the node that decided: the one
    /// asked, or the writer a standby relayed to).
    acknowledged: Arc<Mutex<Vec<(u64, Instant, String)>>>,
    store: Store,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(lease: &str, log: std::path::PathBuf, env: &[(&str, &str)]) -> Cluster {
        let url = fresh_postgres_url().await;
        let redis = RedisServer::start().await;
        let redis_url = redis.url();
        let env: Vec<(&str, &str)> =
            env.iter().copied().chain([("SWITCHBOARD_REDIS_URL", redis_url.as_str())]).collect();
        let nodes: Vec<Option<Node>> = (0..NODES)
            .map(|index| Some(Node::spawn(&url, SECRET, &format!("node-{index}"), lease, &log, &env)))
            .collect();
        let bases = nodes.iter().flatten().map(|node| node.base.clone()).collect();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a client");
        for node in nodes.iter().flatten() {
            let health = format!("{}/health", node.base);
            eventually("a node to answer /health", Duration::from_secs(60), || {
                let request = client.get(&health).send();
                async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
            })
            .await;
        }
        let store = Store::open(&url).await.expect("the test's own connection");
        Cluster {
            url,
            redis,
            lease: lease.to_owned(),
            log,
            nodes,
            bases: Arc::new(Mutex::new(bases)),
            acknowledged: Arc::new(Mutex::new(Vec::new())),
            store,
            client,
        }
    }

    async fn status(&self, url: String) -> Option<u16> {
        self.client.get(url).send().await.ok().map(|response| response.status().as_u16())
    }

    /// The index of the one node that answers `/ready?role=writer` 200 (every other 429).
    async fn writer(&self) -> usize {
        eventually("exactly one writer", Duration::from_secs(60), || {
            let bases =
                self.nodes.iter().enumerate().filter_map(|(index, node)| Some((index, node.as_ref()?.base.as_str())));
            sole_writer(&self.client, bases)
        })
        .await
    }

    async fn integer(&self, sql: &str) -> i64 {
        match self.store.query_integers(sql).await {
            Ok(values) => values.first().copied().unwrap_or(0),
            Err(error) => panic!("{sql}: {error}"),
        }
    }

    async fn epoch(&self) -> i64 {
        self.integer("SELECT epoch FROM writer_lease").await
    }

    /// Starts node `index` again (a new process on a new port), as a standby.
    fn respawn(&mut self, index: usize) {
        let redis_url = self.redis.url();
        let env = [("SWITCHBOARD_REDIS_URL", redis_url.as_str())];
        let node = Node::spawn(&self.url, SECRET, &format!("node-{index}"), &self.lease, &self.log, &env);
        self.bases.lock().expect("the list")[index] = node.base.clone();
        self.nodes[index] = Some(node);
    }

    /// How long after `since` the first message was acknowledged by a node other than
    /// `not_by` (an answer of the old writer may still be on its way when it is killed).
    async fn first_ack_after(&self, since: Instant, not_by: Option<&str>, what: &str) -> Duration {
        let acknowledged = self.acknowledged.clone();
        eventually(what, Duration::from_secs(60), || {
            let found = acknowledged
                .lock()
                .expect("the list")
                .iter()
                .rev()
                .take_while(|(_, at, _)| *at > since)
                .filter(|(_, _, base)| Some(base.as_str()) != not_by)
                .map(|(_, at, _)| *at)
                .min();
            async move { found.map(|at| at - since) }
        })
        .await
    }

    fn base(&self, index: usize) -> String {
        self.nodes[index].as_ref().expect("a running node").base.clone()
    }

    async fn directory(&self) {
        let writer = self.writer().await;
        let base = self.nodes[writer].as_ref().expect("the writer").base.clone();
        for id in 1..=PROFILES {
            let body = json!({ "name": format!("profile {id}"), "active": true });
            let response = self
                .client
                .put(format!("{base}/api/profiles/{id}"))
                .bearer_auth(platform_token())
                .json(&body)
                .send()
                .await
                .expect("the writer answers");
            assert_eq!(response.status(), 200);
        }
    }
}

/// Sends messages with fresh ids through the nodes in turn until one acknowledges, records
/// every 202, and moves to the next node on anything else.
fn ingest(cluster: &Cluster, ingester: u64, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let bases = cluster.bases.clone();
    let acknowledged = cluster.acknowledged.clone();
    let client = cluster.client.clone();
    tokio::spawn(async move {
        let token = platform_token();
        let mut node = ingester as usize;
        let mut failures_in_a_row = 0usize;
        // Bounded: at most this many messages per ingester, whatever happens.
        for sequence in 1..=1_000_000u64 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let message_id = ingester * 100_000_000 + sequence;
            let body = json!({
                "message_id": message_id,
                "client_id": 1 + sequence % CLIENTS,
                "profile_id": 1 + sequence % PROFILES,
                "body": format!("message {message_id}"),
            });
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let base = bases.lock().expect("the list")[node % NODES].clone();
                // A short timeout: a paused node must not hold an ingester for long (a message
                // that timed out is sent again with the same id: ingestion is idempotent).
                let request = client.post(format!("{base}/api/messages")).bearer_auth(&token).json(&body);
                let sent = request.timeout(Duration::from_secs(1)).send().await;
                // A standby relays to the writer: the answer names the node that decided.
                let answered = sent.map(|response| {
                    let served_by = response.headers().get("x-switchboard-served-by").and_then(|v| v.to_str().ok());
                    (response.status().as_u16(), served_by.map_or_else(|| base.clone(), str::to_owned))
                });
                match answered {
                    Ok((202, served_by)) => {
                        acknowledged.lock().expect("the list").push((message_id, Instant::now(), served_by));
                        failures_in_a_row = 0;
                        break;
                    }
                    Ok((503, _)) | Err(_) => {
                        // Not the writer, dead, or paused: the next node (a new id is not
                        // needed: an unacknowledged message may be sent again).
                        node += 1;
                        failures_in_a_row += 1;
                        if failures_in_a_row % NODES == 0 {
                            // A whole turn refused: no writer right now. Pace, do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    Ok((status, _)) => panic!("message {message_id} answered {status}"),
                }
            }
        }
    })
}

fn moderator_token(id: u64) -> String {
    external_token(SECRET, &json!({ "role": "moderator", "sub": id.to_string(), "exp": unix_now() + 3600 }))
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next Pusher event on `stream` (protocol frames skipped).
async fn next_event(stream: &mut Socket) -> Value {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("a frame in time")
            .expect("the socket stays open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str::<Value>(&text).expect("a JSON event");
        }
    }
}

/// A moderator's Pusher socket, kept open while the value lives.
struct ModeratorSocket {
    stream: Socket,
}

impl ModeratorSocket {
    /// Opens a socket on `base` and subscribes it to `private-moderator.{id}`, authorised
    /// through `base`'s `/broadcasting/auth` (relayed to the writer when `base` is a standby).
    async fn open(client: &reqwest::Client, base: &str, id: u64) -> ModeratorSocket {
        use futures_util::SinkExt;
        let config: Value = client
            .get(format!("{base}/console/config.json"))
            .send()
            .await
            .expect("the console config")
            .json()
            .await
            .expect("JSON");
        let key = config["pusher_app_key"].as_str().expect("the app key").to_owned();
        let url = format!("{}/app/{key}?protocol=7&client=cluster-test&version=1", base.replace("http://", "ws://"));
        let (mut stream, _) = tokio_tungstenite::connect_async(url).await.expect("the socket opens");
        let established = next_event(&mut stream).await;
        assert_eq!(established["event"], "pusher:connection_established");
        let data: Value = serde_json::from_str(established["data"].as_str().expect("data")).expect("JSON data");
        let socket_id = data["socket_id"].as_str().expect("a socket id").to_owned();
        let channel = format!("private-moderator.{id}");
        let auth: Value = client
            .post(format!("{base}/broadcasting/auth"))
            .bearer_auth(moderator_token(id))
            .json(&json!({ "socket_id": socket_id, "channel_name": channel }))
            .send()
            .await
            .expect("the authorisation")
            .json()
            .await
            .expect("JSON");
        let subscribe = json!({ "event": "pusher:subscribe", "data": { "channel": channel, "auth": auth["auth"] } });
        stream
            .send(tokio_tungstenite::tungstenite::Message::Text(subscribe.to_string().into()))
            .await
            .expect("the subscription is sent");
        loop {
            let event = next_event(&mut stream).await;
            match event["event"].as_str() {
                Some("pusher_internal:subscription_succeeded") => break,
                Some("pusher:error") => panic!("subscription refused: {event}"),
                _ => {}
            }
        }
        ModeratorSocket { stream }
    }

    /// The next application event (protocol frames skipped).
    async fn next_application_event(&mut self) -> Value {
        loop {
            let event = next_event(&mut self.stream).await;
            if !event["event"].as_str().is_some_and(|name| name.starts_with("pusher")) {
                return event;
            }
        }
    }
}

/// Calls `base` and returns (status, the node that decided, body).
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let served_by = response
        .headers()
        .get("x-switchboard-served-by")
        .and_then(|value| value.to_str().ok())
        .map_or_else(|| base.to_owned(), str::to_owned);
    (status, served_by, response.json().await.unwrap_or(Value::Null))
}

/// What a node answers of one moderator in the supervisor state (through the writer).
async fn moderator_row(client: &reqwest::Client, base: &str, id: u64) -> Option<Value> {
    let (status, _, state) = call(
        client,
        reqwest::Method::GET,
        base,
        "/api/supervisor/state?moderators_limit=1000",
        &supervisor_token(),
        None,
    )
    .await;
    if status != 200 {
        return None;
    }
    state["moderators"]["rows"].as_array()?.iter().find(|row| row["moderator_id"] == id).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_survive_kill_pause_and_hand_over() {
    let rounds: usize = std::env::var("SWITCHBOARD_CLUSTER_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let lease = std::env::var("SWITCHBOARD_CLUSTER_LEASE").unwrap_or_else(|_| "2s".to_owned());
    let log = std::env::temp_dir().join(format!("switchboard-cluster-{}.log", std::process::id()));
    let mut cluster = Cluster::start(&lease, log.clone(), &[]).await;
    println!(
        "cluster test: {NODES} nodes, leader_lease {lease}, {rounds} kill -9 rounds; node logs: {}",
        log.display()
    );
    cluster.directory().await;

    let stop = Arc::new(AtomicBool::new(false));
    let ingesters: Vec<_> = (0..INGESTERS).map(|ingester| ingest(&cluster, ingester, stop.clone())).collect();
    cluster.first_ack_after(Instant::now(), None, "the first acknowledged message").await;

    // kill -9 of the writer under ingestion.
    let mut takeovers = Vec::new();
    let mut last_epoch = cluster.epoch().await;
    for round in 1..=rounds {
        let writer = cluster.writer().await;
        let killed_base = cluster.base(writer);
        let killed = Instant::now();
        cluster.nodes[writer] = None; // dropping kills: SIGKILL, no shutdown code runs
        let took = cluster.first_ack_after(killed, Some(&killed_base), "an acknowledgement after kill -9").await;
        let epoch = cluster.epoch().await;
        assert!(epoch > last_epoch, "round {round}: the epoch grew ({last_epoch} -> {epoch})");
        last_epoch = epoch;
        println!("kill -9 round {round:2}: node-{writer} killed, first acknowledged command after {took:?} (epoch {epoch}, load {})", load_average());
        takeovers.push(took);
        cluster.respawn(writer);
    }
    if !takeovers.is_empty() {
        let mut sorted = takeovers.clone();
        sorted.sort();
        println!(
            "failover kill -9 -> first acknowledged command over {} rounds: p50 {:?}, p99 {:?}, max {:?} (load {})",
            sorted.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99),
            sorted[sorted.len() - 1],
            load_average()
        );
    }

    // SIGSTOP of the writer beyond its lease, then SIGCONT.
    let writer = cluster.writer().await;
    let paused_epoch = cluster.epoch().await;
    let paused = cluster.nodes[writer].as_ref().expect("the writer");
    paused.signal("STOP");
    let paused_base = paused.base.clone();
    let held: Vec<_> = (0..3u64)
        .map(|k| {
            let client = reqwest::Client::new();
            let url = format!("{paused_base}/api/messages");
            let body = json!({ "message_id": PAUSED_IDS + k, "client_id": 1, "profile_id": 1, "body": "held" });
            tokio::spawn(async move {
                let request =
                    client.post(url).bearer_auth(platform_token()).json(&body).timeout(Duration::from_secs(120));
                let response = request.send().await.ok()?;
                let served_by = response
                    .headers()
                    .get("x-switchboard-served-by")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                Some((response.status().as_u16(), served_by))
            })
        })
        .collect();
    let paused_at = Instant::now();
    let took = cluster.first_ack_after(paused_at, Some(&paused_base), "an acknowledgement after SIGSTOP").await;
    let epoch = cluster.epoch().await;
    assert!(epoch > paused_epoch, "a standby took over from the paused writer");
    let commits_at_takeover =
        cluster.integer(&format!("SELECT commits FROM writer_epochs WHERE epoch = {paused_epoch}")).await;
    println!(
        "SIGSTOP: node-{writer} paused, first acknowledged command on the new writer after {took:?} (epoch {epoch})"
    );
    cluster.nodes[writer].as_ref().expect("the paused node").signal("CONT");
    // A command the paused writer had taken is refused (503). One its HTTP server only reads
    // after SIGCONT may find the node a standby already, and be relayed to the new writer,
    // which decides it: that 202 names the new writer, never the paused one.
    let mut relayed = 0;
    for request in held {
        match request.await.expect("the held request") {
            Some((503, _)) => {}
            Some((202, Some(served_by))) if served_by != paused_base => relayed += 1,
            other => panic!("a command sent to the paused writer was answered {other:?} after SIGCONT"),
        }
    }
    println!("SIGCONT: of the 3 commands sent to the paused writer, {} refused (503), {relayed} relayed to the new writer (202)", 3 - relayed);
    let old_writer_ready = format!("{paused_base}/ready?role=writer");
    eventually("the resumed node to be a standby", Duration::from_secs(30), || async {
        (cluster.status(old_writer_ready.clone()).await == Some(429)).then_some(())
    })
    .await;
    assert_eq!(
        cluster.integer(&format!("SELECT commits FROM writer_epochs WHERE epoch = {paused_epoch}")).await,
        commits_at_takeover,
        "the paused epoch committed nothing after the takeover"
    );
    assert_eq!(
        cluster.integer(&format!("SELECT count(*) FROM messages WHERE message_id >= {PAUSED_IDS}")).await,
        relayed,
        "only the commands relayed to the new writer are stored"
    );

    // Graceful SIGTERM of the writer: release + NOTIFY, a standby takes over at once.
    let writer = cluster.writer().await;
    let epoch_before = cluster.epoch().await;
    let terminated_base = cluster.base(writer);
    let terminated = Instant::now();
    cluster.nodes[writer].as_ref().expect("the writer").signal("TERM");
    let handover =
        cluster.first_ack_after(terminated, Some(&terminated_base), "an acknowledgement after SIGTERM").await;
    let mut stopped = cluster.nodes[writer].take().expect("the writer");
    let exit = stopped.child.wait().expect("the stopped writer's status");
    assert!(exit.success(), "a graceful stop exits 0: {exit}");
    assert!(cluster.epoch().await > epoch_before);
    let released = cluster
        .integer(&format!(
            "SELECT count(*) FROM writer_epochs WHERE epoch = {epoch_before} AND released_at IS NOT NULL"
        ))
        .await;
    assert_eq!(released, 1, "the lease was released, not left to expire");
    println!(
        "SIGTERM: node-{writer} stopped, first acknowledged command on the new writer after {handover:?} (load {})",
        load_average()
    );
    cluster.respawn(writer);

    // The cluster view names the writer and the nodes.
    let writer = cluster.writer().await;
    let base = cluster.nodes[writer].as_ref().expect("the writer").base.clone();
    let view: Value = cluster
        .client
        .get(format!("{base}/api/supervisor/cluster"))
        .bearer_auth(supervisor_token())
        .send()
        .await
        .expect("the cluster view")
        .json()
        .await
        .expect("JSON");
    assert_eq!(view["mode"], "cluster");
    assert_eq!(view["node"]["role"], "writer");
    assert_eq!(view["writer"]["advertise_url"], base.as_str());
    assert_eq!(view["epoch"], cluster.epoch().await);

    stop.store(true, Ordering::Relaxed);
    for ingester in ingesters {
        ingester.await.expect("an ingester");
    }

    let acknowledged: Vec<u64> = cluster.acknowledged.lock().expect("the list").iter().map(|(id, _, _)| *id).collect();
    // Every acknowledged message stored once; epochs only grew, none committing late.
    assert_stored_once_and_fenced(&cluster.store, &acknowledged).await;
    println!(
        "{} messages acknowledged, all stored once; {} epochs (load {})",
        acknowledged.len(),
        cluster.epoch().await,
        load_average()
    );

    let url = cluster.url.clone();
    cluster.store.close().await;
    drop(cluster);
    drop_postgres_database(&url).await;
    let _ = std::fs::remove_file(log);
}

/// Every node serves (issue 14, item 4): commands and reads sent to a standby are answered by
/// the writer; a moderator whose socket lives on a standby stays connected, with its
/// profiles, when the writer is killed (the standbys sync their sockets to whichever node
/// writes); the killed writer's own moderator loses its presence and is disconnected after
/// `presence_timeout`; a killed standby's moderators count as gone once it falls silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standbys_serve_and_keep_their_sockets_across_a_takeover() {
    let log = std::env::temp_dir().join(format!("switchboard-cluster-serve-{}.log", std::process::id()));
    let env = [("SWITCHBOARD_PRESENCE_TIMEOUT", "3s"), ("SWITCHBOARD_MONITOR_INTERVAL", "1s")];
    let mut cluster = Cluster::start("2s", log.clone(), &env).await;
    let client = cluster.client.clone();
    let writer = cluster.writer().await;
    let standbys: Vec<usize> = (0..NODES).filter(|index| *index != writer).collect();
    let (writer_base, first, second) = (cluster.base(writer), cluster.base(standbys[0]), cluster.base(standbys[1]));
    let platform = platform_token();
    let put = reqwest::Method::PUT;

    // A command sent to a standby is decided by the writer, its refusals too.
    for id in 1..=3u64 {
        let body = json!({ "name": format!("moderator {id}") });
        let (status, served_by, _) =
            call(&client, put.clone(), &first, &format!("/api/moderators/{id}"), &platform, Some(body)).await;
        assert_eq!((status, served_by.as_str()), (200, writer_base.as_str()), "moderator {id} through a standby");
    }
    for id in 1..=6u64 {
        let body = json!({ "name": format!("profile {id}"), "active": true });
        let (status, served_by, _) =
            call(&client, put.clone(), &second, &format!("/api/profiles/{id}"), &platform, Some(body)).await;
        assert_eq!((status, served_by), (200, writer_base.clone()));
    }
    let (status, served_by, refusal) =
        call(&client, put.clone(), &first, "/api/moderators/0", &platform, Some(json!({ "name": "x" }))).await;
    assert_eq!(
        (status, served_by.as_str(), refusal["error"]["code"].as_str()),
        (422, writer_base.as_str(), Some("invalid_request"))
    );
    let (status, served_by, _) =
        call(&client, reqwest::Method::GET, &second, "/api/supervisor/state", &supervisor_token(), None).await;
    assert_eq!((status, served_by), (200, writer_base.clone()), "a read through a standby");
    // Local on every node: readiness (a standby is ready while its writer answers).
    let (status, _, ready) = call(&client, reqwest::Method::GET, &first, "/ready", "", None).await;
    assert_eq!(
        (status, ready["role"].as_str(), ready["writer"].as_str()),
        (200, Some("standby"), Some(writer_base.as_str()))
    );

    // Moderator 1's socket on the first standby, 2's on the writer, 3's on the second standby.
    let homes = [(1u64, first.clone()), (2, writer_base.clone()), (3, second.clone())];
    let mut sockets = Vec::new();
    for (id, base) in &homes {
        let (status, _, _) =
            call(&client, reqwest::Method::POST, base, "/moderateur/connect", &moderator_token(*id), None).await;
        assert_eq!(status, 200, "moderator {id} connects through {base}");
        sockets.push(ModeratorSocket::open(&client, base, *id).await);
    }
    eventually("every moderator counted connected by the writer", Duration::from_secs(20), || async {
        let mut all = true;
        for id in 1..=3 {
            all &= moderator_row(&client, &writer_base, id).await.is_some_and(|row| row["realtime_connected"] == true);
        }
        all.then_some(())
    })
    .await;
    let mut profiles_before = Vec::new();
    for id in 1..=3 {
        let row = moderator_row(&client, &writer_base, id).await.expect("the row");
        assert!(!row["profiles"].as_array().expect("profiles").is_empty(), "moderator {id} holds profiles: {row}");
        profiles_before.push(row["profiles"].clone());
    }

    // kill -9 of the writer: its socket (moderator 2) dies with it.
    cluster.nodes[writer] = None;
    drop(sockets.remove(1));
    let new_writer = cluster.writer().await;
    let new_base = cluster.base(new_writer);
    println!("takeover: node-{writer} killed, node-{new_writer} writes");
    // Presence rebuilt from both standbys' sockets (one of them now the writer's own).
    eventually("the new writer counts 1 and 3 connected and 2 gone", Duration::from_secs(20), || async {
        let rows = [
            moderator_row(&client, &new_base, 1).await?,
            moderator_row(&client, &new_base, 2).await?,
            moderator_row(&client, &new_base, 3).await?,
        ];
        (rows[0]["realtime_connected"] == true
            && rows[1]["realtime_connected"] == false
            && rows[2]["realtime_connected"] == true)
            .then_some(())
    })
    .await;
    // 2 lost its presence when 1 and 3 did (at the takeover): once the monitor has
    // disconnected 2, 1 and 3 would have gone with it had their presence not come back.
    eventually("moderator 2 disconnected after presence_timeout", Duration::from_secs(30), || async {
        moderator_row(&client, &new_base, 2).await.filter(|row| row["state"] == "offline").map(|_| ())
    })
    .await;
    for (index, id) in [(0usize, 1u64), (2, 3)] {
        let row = moderator_row(&client, &new_base, id).await.expect("the row");
        assert_ne!(row["state"], "offline", "moderator {id} kept its session: {row}");
        assert_eq!(row["profiles"], profiles_before[index], "moderator {id} kept its profiles");
        assert_eq!(row["realtime_connected"], true);
    }

    // The new writer's committed events reach a socket on the remaining standby (Redis).
    let other = standbys.iter().copied().find(|index| *index != new_writer).expect("the other standby");
    let gone = homes.iter().find(|(_, base)| *base == cluster.base(other)).map(|(id, _)| *id).expect("its moderator");
    let gone_index = homes.iter().position(|(id, _)| *id == gone).expect("its home");
    let profile = profiles_before[gone_index][0].as_u64().expect("a held profile");
    let message =
        json!({"message_id": 77_000_001, "client_id": 77, "profile_id": profile, "body": "through the new writer"});
    let (status, served_by, _) =
        call(&client, reqwest::Method::POST, &new_base, "/api/messages", &platform, Some(message)).await;
    assert_eq!((status, served_by.as_str()), (202, new_base.as_str()));
    let socket = &mut sockets[if gone_index == 0 { 0 } else { 1 }];
    // Earlier events (its profiles, given on connect) may still be queued before it.
    let event = loop {
        let event = socket.next_application_event().await;
        if event["event"].as_str().is_some_and(|name| name.ends_with("ConversationAssigned")) {
            break event;
        }
    };
    assert_eq!(event["channel"], format!("private-moderator.{gone}"), "{event}");
    let data: Value = serde_json::from_str(event["data"].as_str().expect("string data")).expect("JSON data");
    assert_eq!(data["client_id"], 77, "the conversation just written: {data}");

    // kill -9 of the remaining standby: once silent, its moderator counts as gone.
    cluster.nodes[other] = None;
    eventually("the silent standby's moderator counted gone", Duration::from_secs(30), || async {
        moderator_row(&client, &new_base, gone).await.filter(|row| row["realtime_connected"] == false).map(|_| ())
    })
    .await;
    let kept = if gone == 1 { 3 } else { 1 };
    let row = moderator_row(&client, &new_base, kept).await.expect("the row");
    assert_eq!(row["realtime_connected"], true, "the writer's own socket still counts: {row}");

    drop(sockets);
    let url = cluster.url.clone();
    cluster.store.close().await;
    drop(cluster);
    drop_postgres_database(&url).await;
    let _ = std::fs::remove_file(log);
}
