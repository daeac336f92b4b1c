//! Crash safety of the real binary (RELIABILITY.md): concurrent ingestion, replies and
//! typing against `switchboard serve`, SIGKILL after a random number of acknowledged
//! messages, restart on the same
//! database, again and again. After every restart: every acknowledged (202) message is
//! stored, every event the killed incarnation committed but had not delivered is delivered
//! by the new one, and restoring needed no repair; after the last round the restored
//! engine's invariants hold.
//!
//! The default test command runs 15 rounds on SQLite and 10 on PostgreSQL. More:
//! `SWITCHBOARD_CRASH_ROUNDS=50 cargo test -p switchboard --test crash -- --nocapture`
//! (rounds per backend); `SWITCHBOARD_CRASH_SEED` changes the kill schedule.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, external_token, unix_now};
use serde_json::{json, Value};
use switchboard_engine::rng::SeededRng;
use switchboard_engine::Config;
use switchboard_store::{EventSink, OutboxEvent, Store, SystemClock, Writer, WriterConfig};

const SECRET: &str = "crash-test-secret";
const PROFILES: u64 = 4;
const MODERATORS: u64 = 3;
const CLIENTS: u64 = 40;
const INGESTERS: usize = 6;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn token(role: &str, moderator: Option<u64>) -> String {
    let mut claims = json!({ "role": role, "exp": unix_now() + 3600 });
    if let Some(id) = moderator {
        claims["sub"] = json!(id.to_string());
    }
    external_token(SECRET, &claims)
}

/// The real binary, serving on its own port.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(database_url: &str, log: &std::path::Path) -> Service {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("an address").port()
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATABASE_URL", database_url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_JWT_SECRET", SECRET)
            // One node restarted: on PostgreSQL it takes the writer lease over from its killed
            // incarnation at once instead of waiting for the lease to expire (a new port each
            // start would otherwise make it a new node).
            .env("SWITCHBOARD_NODE_NAME", "crash-test")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the switchboard binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let ready = format!("{base}/ready");
        eventually("the service to be ready", Duration::from_secs(60), || {
            let request = client.get(&ready).send();
            async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
        })
        .await;
        Service { child, base }
    }

    fn kill(self) {
        // Dropping kills: `Child::kill` is SIGKILL on Unix, so no shutdown code runs.
        drop(self);
    }

    fn stop(self) {
        self.kill();
    }
}

impl Drop for Service {
    /// Also when an assertion fails mid-round: no service outlives its test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Option<u16> {
    let mut request = client.request(method, url).bearer_auth(token).timeout(Duration::from_secs(5));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.ok().map(|response| response.status().as_u16())
}

/// Registers the directory and connects the moderators (idempotent, so done every round).
async fn prepare(service: &Service, first: bool) {
    let client = reqwest::Client::new();
    let platform = token("platform", None);
    if first {
        for id in 1..=PROFILES {
            let body = json!({ "name": format!("profile {id}"), "active": true });
            let status = call(
                &client,
                reqwest::Method::PUT,
                format!("{}/api/profiles/{id}", service.base),
                &platform,
                Some(body),
            )
            .await;
            assert_eq!(status, Some(200));
        }
        for id in 1..=MODERATORS {
            let body = json!({ "name": format!("moderator {id}") });
            let status = call(
                &client,
                reqwest::Method::PUT,
                format!("{}/api/moderators/{id}", service.base),
                &platform,
                Some(body),
            )
            .await;
            assert_eq!(status, Some(200));
        }
    }
    for id in 1..=MODERATORS {
        let url = format!("{}/moderateur/connect", service.base);
        assert_eq!(call(&client, reqwest::Method::POST, url, &token("moderator", Some(id)), None).await, Some(200));
    }
}

/// Ingests messages and makes moderators type and reply until `stop`; records every
/// message the service acknowledged.
fn spawn_load(
    base: &str,
    next_message_id: &Arc<AtomicU64>,
    acknowledged: &Arc<Mutex<Vec<u64>>>,
    stop: &Arc<AtomicBool>,
    seed: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for worker in 0..INGESTERS {
        let (base, next, acknowledged, stop) =
            (base.to_owned(), next_message_id.clone(), acknowledged.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let platform = token("platform", None);
            let mut rng = SeededRng::new(seed * 100 + worker as u64);
            while !stop.load(Ordering::Relaxed) {
                let message_id = next.fetch_add(1, Ordering::Relaxed);
                let body = json!({
                    "message_id": message_id,
                    "client_id": rng.between(1, CLIENTS),
                    "profile_id": rng.between(1, PROFILES),
                    "body": format!("message {message_id}"),
                });
                match call(&client, reqwest::Method::POST, format!("{base}/api/messages"), &platform, Some(body)).await
                {
                    Some(202) => acknowledged.lock().expect("the list").push(message_id),
                    Some(status) => panic!("message {message_id} answered {status}"),
                    None => {} // the service died with the request in flight: not acknowledged
                }
                // Moderators answer some of the traffic, so locks and assignments churn too.
                let moderator = rng.between(1, MODERATORS);
                let reply = json!({ "client_id": rng.between(1, CLIENTS), "profile_id": rng.between(1, PROFILES) });
                let path = if rng.chance(50) { "moderateur/typing" } else { "moderateur/messages" };
                let body = if path.ends_with("messages") {
                    let mut body = reply.clone();
                    body["body"] = json!("a reply");
                    body
                } else {
                    reply
                };
                let _ = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/{path}"),
                    &token("moderator", Some(moderator)),
                    Some(body),
                )
                .await;
            }
        }));
    }
    tasks
}

async fn stored_message_ids(store: &Store) -> BTreeSet<u64> {
    let ids =
        store.query_integers("SELECT message_id FROM messages WHERE message_id IS NOT NULL").await.expect("messages");
    ids.into_iter().map(|id| id as u64).collect()
}

async fn undelivered(store: &Store) -> BTreeSet<i64> {
    store
        .query_integers("SELECT id FROM outbox WHERE id > (SELECT up_to_id FROM outbox_delivered)")
        .await
        .expect("the outbox")
        .into_iter()
        .collect()
}

async fn count(store: &Store, sql: &str) -> i64 {
    store.query_integers(sql).await.expect("a count").first().copied().unwrap_or(0)
}

struct DiscardingSink;

impl EventSink for DiscardingSink {
    fn deliver(&self, _events: &[OutboxEvent]) {}
}

async fn crash_rounds(database_url: &str, rounds: u64, seed: u64) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let log = directory.path().join("service.log");
    let next_message_id = Arc::new(AtomicU64::new(1));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut rng = SeededRng::new(seed);
    let mut checked_store: Option<Store> = None;

    for round in 0..=rounds {
        let service = Service::start(database_url, &log).await;
        let store = match &checked_store {
            Some(store) => store.clone(),
            None => Store::open(database_url).await.expect("the store opens beside the service"),
        };
        checked_store = Some(store.clone());

        // What the previous incarnation acknowledged survived its SIGKILL.
        let acknowledged_ids: BTreeSet<u64> = acknowledged.lock().expect("the list").iter().copied().collect();
        let stored = stored_message_ids(&store).await;
        let lost: Vec<&u64> = acknowledged_ids.difference(&stored).collect();
        assert!(lost.is_empty(), "round {round}: {} acknowledged messages lost: {lost:?}", lost.len());
        assert_eq!(
            count(&store, "SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await,
            0,
            "round {round}: restoring after a crash needed repairs"
        );
        // Events the killed incarnation committed but had not marked delivered are delivered
        // by the restart; the mark is written with the next batch (at-least-once), so look
        // after the new incarnation has committed some.
        let undelivered_at_start = undelivered(&store).await;
        prepare(&service, round == 0).await;
        let still_undelivered: BTreeSet<i64> =
            undelivered(&store).await.intersection(&undelivered_at_start).copied().collect();
        assert!(still_undelivered.is_empty(), "round {round}: committed events never delivered: {still_undelivered:?}");
        if round == rounds {
            service.stop();
            break;
        }

        let stop = Arc::new(AtomicBool::new(false));
        let tasks = spawn_load(&service.base, &next_message_id, &acknowledged, &stop, seed + round);
        // The chaos schedule: kill once a random number of this round's messages were
        // acknowledged, so that every round dies in the middle of the load however fast the
        // machine is (a wall-clock delay could fire before the first answer, or long after).
        let before = acknowledged.lock().expect("the list").len();
        let kill_after = before + rng.between(1, 60) as usize;
        eventually("the round's load to be acknowledged", Duration::from_secs(60), || {
            let acknowledged = acknowledged.clone();
            async move { (acknowledged.lock().expect("the list").len() >= kill_after).then_some(()) }
        })
        .await;
        service.kill();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("a load task");
        }
        let during = acknowledged.lock().expect("the list").len() - before;
        println!("round {round}: killed after {during} acknowledged messages");
    }

    // The database the last incarnation left restores into an engine whose invariants hold.
    let store = checked_store.expect("at least one round");
    let config = WriterConfig::new(Config::default());
    let (writer, task) =
        Writer::start(store.clone(), config, Arc::new(SystemClock), Arc::new(DiscardingSink)).await.expect("restore");
    let violations = writer.read(|engine| engine.check_invariants()).await.expect("a read");
    assert!(violations.is_empty(), "invariants after the last crash: {violations:#?}");
    task.shutdown().await;
    let total = acknowledged.lock().expect("the list").len();
    assert!(total > 0, "the load must have been acknowledged at least once");
    println!("{rounds} SIGKILL rounds: {total} acknowledged messages, 0 lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_acknowledged_on_sqlite() {
    let (_directory, url) = switchboard_store::testing::fresh_sqlite_url();
    let rounds = env_number("SWITCHBOARD_CRASH_ROUNDS", 15);
    crash_rounds(&url, rounds, env_number("SWITCHBOARD_CRASH_SEED", 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_acknowledged_on_postgres() {
    let url = switchboard_store::testing::fresh_postgres_url().await;
    let rounds = env_number("SWITCHBOARD_CRASH_ROUNDS", 10);
    crash_rounds(&url, rounds, env_number("SWITCHBOARD_CRASH_SEED", 2)).await;
}
