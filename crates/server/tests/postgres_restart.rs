//! PostgreSQL restarted under load (issue 14): three `switchboard serve` processes on one
//! database of a PostgreSQL server of the test's own (`common::postgres_server`: stopping it
//! cannot hurt any other test), messages ingested without pause through whichever node
//! answers (moving to the next node on a 503, as a load balancer retrying would), and the
//! server stopped and started again, `SWITCHBOARD_PG_RESTART_ROUNDS` times (4 by default),
//! alternately as `pg_ctl stop -m fast` (SIGINT) and `-m immediate` (SIGQUIT: crash recovery
//! at the next start) would. Each outage lasts `OUTAGE` (longer than `leader_lease`, so the
//! writer's lease lapses and a writer must be granted again).
//!
//! While the server is down: every answer to `POST /api/messages` is 503 (never another
//! status, never a request left unanswered past the client's timeout), every node's `/ready`
//! is 503 and its `/health` 200, and no command sent after the server exited is
//! acknowledged. After the start: a writer serves again (acknowledgements resume) within
//! `RECOVERY_DEADLINE`, with a higher epoch. At the end: every acknowledged (202) message is
//! stored exactly once, and the epochs only grew (`writer_epochs`: one grant each, none
//! committing after the next one's grant). `SWITCHBOARD_PG_RESTART_LEASE` (default 2s) sets
//! `leader_lease`.
//!
//! `cargo test -p switchboard --test postgres_restart -- --nocapture` prints the figures: the
//! outage seen by clients (last acknowledgement before the stop → first after the start) and
//! the time from the server accepting connections again to the first acknowledgement.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nodes::{assert_stored_once_and_fenced, load_average, sole_writer, Node};
use common::postgres_server::{PostgresServer, Shutdown};
use common::{eventually, external_token, unix_now};
use serde_json::{json, Value};
use switchboard_store::Store;

const SECRET: &str = "postgres-restart-test-secret";
const NODES: usize = 3;
const PROFILES: u64 = 4;
const CLIENTS: u64 = 40;
const INGESTERS: u64 = 4;
/// How long PostgreSQL stays down in each round.
const OUTAGE: Duration = Duration::from_secs(4);
/// A request not answered within this long counts as hung (a failure of the test).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// From PostgreSQL accepting connections again to the first acknowledged message.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
/// Acknowledgements seen after a recovery before the next stop (the load is running).
const ACKS_BETWEEN_ROUNDS: usize = 20;

fn platform_token() -> String {
    external_token(SECRET, &json!({ "role": "platform", "exp": unix_now() + 3600 }))
}

/// How one request ended.
#[derive(Clone, Debug)]
enum Outcome {
    /// The HTTP status, with the error code of a refusal's body.
    Status(u16, Option<String>),
    /// No answer within `CLIENT_TIMEOUT`.
    TimedOut,
    /// The connection failed (no node is ever stopped in this test).
    Failed(String),
}

/// One `POST /api/messages`, as the ingester saw it.
#[derive(Clone, Debug)]
struct Attempt {
    message_id: u64,
    sent: Instant,
    answered: Instant,
    outcome: Outcome,
}

impl Attempt {
    fn acknowledged(&self) -> bool {
        matches!(self.outcome, Outcome::Status(202, _))
    }
}

type Ledger = Arc<Mutex<Vec<Attempt>>>;

/// Sends messages with fresh ids through the nodes in turn until one acknowledges; records
/// every attempt; moves to the next node on anything but a 202 (an unacknowledged message
/// is sent again with the same id: ingestion is idempotent on `message_id`).
fn ingest(
    bases: Arc<Vec<String>>,
    ledger: Ledger,
    client: reqwest::Client,
    ingester: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let token = platform_token();
        let mut node = ingester as usize;
        let mut refused_in_a_row = 0usize;
        // Bounded: at most this many messages per ingester, whatever happens.
        for sequence in 1..=1_000_000u64 {
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
                let base = &bases[node % NODES];
                let sent = Instant::now();
                let request = client.post(format!("{base}/api/messages")).bearer_auth(&token).json(&body);
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let code = if status == 202 {
                            None
                        } else {
                            let refusal: Value = response.json().await.unwrap_or(Value::Null);
                            refusal["error"]["code"].as_str().map(str::to_owned)
                        };
                        Outcome::Status(status, code)
                    }
                    Err(error) if error.is_timeout() => Outcome::TimedOut,
                    Err(error) => Outcome::Failed(error.to_string()),
                };
                let attempt = Attempt { message_id, sent, answered: Instant::now(), outcome };
                let acknowledged = attempt.acknowledged();
                ledger.lock().expect("the ledger").push(attempt);
                if acknowledged {
                    refused_in_a_row = 0;
                    break;
                }
                node += 1;
                refused_in_a_row += 1;
                if refused_in_a_row % NODES == 0 {
                    // A whole turn refused: no writer right now. Pace, do not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    })
}

/// The nodes, the database, and what the ingesters saw.
struct Cluster {
    url: String,
    /// Kept alive for the test; killed on drop.
    _nodes: Vec<Node>,
    bases: Arc<Vec<String>>,
    ledger: Ledger,
    client: reqwest::Client,
}

impl Cluster {
    async fn status(&self, url: String) -> Option<u16> {
        self.client.get(url).send().await.ok().map(|response| response.status().as_u16())
    }

    /// The index of the one node that answers `/ready?role=writer` 200 (every other 429).
    async fn writer(&self) -> usize {
        eventually("exactly one writer", RECOVERY_DEADLINE, || {
            sole_writer(&self.client, self.bases.iter().enumerate().map(|(index, base)| (index, base.as_str())))
        })
        .await
    }

    /// The first column of the first row of `sql`, on a connection of its own (the server
    /// restarts under the test: no pooled connection is kept across rounds).
    async fn integer(&self, sql: &str) -> i64 {
        let store = Store::open(&self.url).await.unwrap_or_else(|error| panic!("the test's connection: {error}"));
        let values = store.query_integers(sql).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
        store.close().await;
        values.first().copied().unwrap_or(0)
    }

    async fn epoch(&self) -> i64 {
        self.integer("SELECT epoch FROM writer_lease").await
    }

    fn acknowledgements(&self) -> usize {
        self.ledger.lock().expect("the ledger").iter().filter(|attempt| attempt.acknowledged()).count()
    }

    /// The first acknowledgement answered after `since`, polled for at most `deadline`.
    async fn first_ack_after(&self, since: Instant, deadline: Duration, what: &str) -> Instant {
        eventually(what, deadline, || {
            let found = self
                .ledger
                .lock()
                .expect("the ledger")
                .iter()
                .filter(|attempt| attempt.acknowledged() && attempt.answered > since)
                .map(|attempt| attempt.answered)
                .min();
            async move { found }
        })
        .await
    }
}

/// One look at a node's `/ready` and `/health` while the server is down.
#[derive(Debug)]
struct Poll {
    base: String,
    asked: Instant,
    answered: Instant,
    ready: Option<u16>,
    health: Option<u16>,
}

/// What one round measured.
struct Round {
    how: Shutdown,
    exited_after: Duration,
    /// From the stop signal to the server accepting connections again.
    server_unavailable: Duration,
    client_outage: Duration,
    accepting_after: Duration,
    first_ack_after_accepting: Duration,
    refusals: usize,
    slowest_refusal: Duration,
    epochs: (i64, i64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load() {
    let rounds: usize = std::env::var("SWITCHBOARD_PG_RESTART_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let lease = std::env::var("SWITCHBOARD_PG_RESTART_LEASE").unwrap_or_else(|_| "2s".to_owned());
    let mut postgres = PostgresServer::start().await;
    let admin = Store::open(&postgres.url("postgres")).await.expect("the test's own server");
    admin.execute_raw("CREATE DATABASE switchboard").await.expect("CREATE DATABASE");
    admin.close().await;
    let url = postgres.url("switchboard");
    let log = std::env::temp_dir().join(format!("switchboard-postgres-restart-{}.log", std::process::id()));
    println!(
        "postgres restart test: {NODES} nodes, leader_lease {lease}, {rounds} rounds of {OUTAGE:?} down; \
         PostgreSQL on port {} (log {}); node logs: {}",
        postgres.port(),
        postgres.log().display(),
        log.display()
    );

    let nodes: Vec<Node> =
        (0..NODES).map(|index| Node::spawn(&url, SECRET, &format!("node-{index}"), &lease, &log, &[])).collect();
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().expect("a client");
    for node in &nodes {
        let health = format!("{}/health", node.base);
        eventually("a node to answer /health", Duration::from_secs(60), || {
            let request = client.get(&health).send();
            async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
        })
        .await;
    }
    let bases = Arc::new(nodes.iter().map(|node| node.base.clone()).collect::<Vec<_>>());
    let cluster = Cluster { url: url.clone(), _nodes: nodes, bases, ledger: Arc::new(Mutex::new(Vec::new())), client };

    let writer = cluster.writer().await;
    for id in 1..=PROFILES {
        let response = cluster
            .client
            .put(format!("{}/api/profiles/{id}", cluster.bases[writer]))
            .bearer_auth(platform_token())
            .json(&json!({ "name": format!("profile {id}"), "active": true }))
            .send()
            .await
            .expect("the writer answers");
        assert_eq!(response.status(), 200);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let ingesters: Vec<_> = (0..INGESTERS)
        .map(|ingester| {
            let (bases, ledger, client) = (cluster.bases.clone(), cluster.ledger.clone(), cluster.client.clone());
            ingest(bases, ledger, client, ingester, stop.clone())
        })
        .collect();
    cluster.first_ack_after(Instant::now(), Duration::from_secs(30), "the first acknowledged message").await;

    let mut measured = Vec::new();
    for round in 1..=rounds {
        let how = if round % 2 == 1 { Shutdown::Fast } else { Shutdown::Immediate };
        let acks_before = cluster.acknowledgements();
        eventually("acknowledgements before the stop", Duration::from_secs(30), || {
            let enough = cluster.acknowledgements() >= acks_before + ACKS_BETWEEN_ROUNDS;
            async move { enough.then_some(()) }
        })
        .await;
        let epoch_before = cluster.epoch().await;

        let stopping = Instant::now();
        let exited_after = postgres.stop(how, Duration::from_secs(30)).await;
        let down = Instant::now();
        // The whole outage: every node's /ready and /health polled without pause, the nodes
        // concurrently, until the server is started again.
        let outage_over = Arc::new(AtomicBool::new(false));
        let pollers: Vec<_> = cluster
            .bases
            .iter()
            .map(|base| {
                let (base, client, over) = (base.clone(), cluster.client.clone(), outage_over.clone());
                tokio::spawn(async move {
                    let mut polls = Vec::new();
                    while !over.load(Ordering::Relaxed) {
                        let asked = Instant::now();
                        let ready = client.get(format!("{base}/ready")).send().await.ok().map(|r| r.status().as_u16());
                        let health =
                            client.get(format!("{base}/health")).send().await.ok().map(|r| r.status().as_u16());
                        polls.push(Poll { base: base.clone(), asked, answered: Instant::now(), ready, health });
                        tokio::time::sleep(Duration::from_millis(50)).await; // pace, do not spin
                    }
                    polls
                })
            })
            .collect();
        // How long the server stays down (the fault's length, not a wait for anything).
        tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
        outage_over.store(true, Ordering::Relaxed);
        postgres.spawn();
        let restarted = Instant::now();
        postgres.wait_until_accepting(RECOVERY_DEADLINE).await;
        let accepting = Instant::now();
        let mut polls = Vec::new();
        for poller in pollers {
            polls.extend(poller.await.expect("a poller"));
        }
        // Only the answers given while the server was down (a poll in flight at the start
        // may see it back).
        let down_polls: Vec<&Poll> = polls.iter().filter(|poll| poll.answered < restarted).collect();
        for base in cluster.bases.iter() {
            assert!(down_polls.iter().any(|poll| &poll.base == base), "round {round}: {base} was polled while down");
        }
        let wrong: Vec<&&Poll> =
            down_polls.iter().filter(|poll| poll.ready != Some(503) || poll.health != Some(200)).collect();
        assert!(
            wrong.is_empty(),
            "round {round}: /ready not 503 or /health not 200 while PostgreSQL was down: {wrong:?}"
        );
        let slowest_poll = down_polls.iter().map(|poll| poll.answered - poll.asked).max().unwrap_or_default();
        let ready_polls = down_polls.len();
        let first_ack =
            cluster.first_ack_after(accepting, RECOVERY_DEADLINE, "an acknowledgement after the restart").await;
        let epoch_after = cluster.epoch().await;
        assert!(
            epoch_after > epoch_before,
            "round {round}: a writer was granted again ({epoch_before} -> {epoch_after})"
        );

        let ledger = cluster.ledger.lock().expect("the ledger").clone();
        // Nothing sent after the server exited can have been committed before it restarted.
        let impossible: Vec<&Attempt> = ledger
            .iter()
            .filter(|attempt| attempt.acknowledged() && attempt.sent > down && attempt.answered < restarted)
            .collect();
        assert!(impossible.is_empty(), "round {round}: acknowledged while PostgreSQL was down: {impossible:?}");
        let last_ack_before = ledger
            .iter()
            .filter(|attempt| attempt.acknowledged() && attempt.answered < restarted)
            .map(|attempt| attempt.answered)
            .max()
            .expect("acknowledgements before the stop");
        let during: Vec<&Attempt> = ledger
            .iter()
            .filter(|attempt| attempt.answered > last_ack_before && attempt.answered < first_ack)
            .collect();
        let slowest_refusal =
            during.iter().map(|attempt| attempt.answered - attempt.sent).max().unwrap_or(Duration::ZERO);
        let outcome = Round {
            how,
            exited_after,
            server_unavailable: accepting - stopping,
            client_outage: first_ack - last_ack_before,
            accepting_after: accepting - restarted,
            first_ack_after_accepting: first_ack - accepting,
            refusals: during.len(),
            slowest_refusal,
            epochs: (epoch_before, epoch_after),
        };
        println!(
            "round {round} ({:?}): stop → exited {:?}; {ready_polls} /ready + /health polls while down, all 503 + 200 (slowest pair {slowest_poll:?}); restarted → \
             accepting {:?}; accepting → first acknowledged command {:?}; outage seen \
             by clients {:?} ({} refusals, slowest answer {:?}); epoch {} → {}; last ack {:?} before the stop \
             (load {})",
            outcome.how,
            outcome.exited_after,
            outcome.accepting_after,
            outcome.first_ack_after_accepting,
            outcome.client_outage,
            outcome.refusals,
            outcome.slowest_refusal,
            outcome.epochs.0,
            outcome.epochs.1,
            stopping.saturating_duration_since(last_ack_before),
            load_average()
        );
        measured.push(outcome);
    }

    stop.store(true, Ordering::Relaxed);
    for ingester in ingesters {
        ingester.await.expect("an ingester");
    }

    let ledger = cluster.ledger.lock().expect("the ledger").clone();
    // Every answer was a 202 or a 503, in time, over a connection that held.
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in &ledger {
        let key = match &attempt.outcome {
            Outcome::Status(status, code) => format!("{status} {}", code.as_deref().unwrap_or("")),
            Outcome::TimedOut => "timed out".to_owned(),
            Outcome::Failed(error) => format!("connection failed: {error}"),
        };
        *answers.entry(key).or_default() += 1;
    }
    println!("answers over the run: {answers:?}");
    let wrong: Vec<&Attempt> =
        ledger.iter().filter(|attempt| !matches!(attempt.outcome, Outcome::Status(202 | 503, _))).take(10).collect();
    assert!(wrong.is_empty(), "answers other than 202 and 503 (or none in time): {wrong:?}");

    let acknowledged: BTreeSet<u64> =
        ledger.iter().filter(|attempt| attempt.acknowledged()).map(|attempt| attempt.message_id).collect();
    // Every acknowledged message stored once; epochs only grew, none committing late.
    let store = Store::open(&url).await.expect("the test's connection");
    let stored_count = assert_stored_once_and_fenced(&store, &acknowledged).await;
    store.close().await;
    // Every node serves again: one writer, the standbys ready behind it.
    cluster.writer().await;
    for base in cluster.bases.iter() {
        let ready = format!("{base}/ready");
        eventually("every node ready again", RECOVERY_DEADLINE, || async {
            (cluster.status(ready.clone()).await == Some(200)).then_some(())
        })
        .await;
    }

    let seconds = |pick: fn(&Round) -> Duration| {
        measured.iter().map(|round| format!("{:.2}", pick(round).as_secs_f64())).collect::<Vec<_>>().join(", ")
    };
    println!(
        "{} rounds: PostgreSQL unavailable, stop → accepting (s): {}; outage seen by clients (s): {}; PostgreSQL accepting → first acknowledged command (s): {}; \
         {} messages acknowledged ({} stored), all stored once; {} epochs (load {})",
        measured.len(),
        seconds(|round| round.server_unavailable),
        seconds(|round| round.client_outage),
        seconds(|round| round.first_ack_after_accepting),
        acknowledged.len(),
        stored_count,
        cluster.epoch().await,
        load_average()
    );

    drop(cluster);
    drop(postgres);
    if std::env::var_os("SWITCHBOARD_KEEP_LOGS").is_none() {
        let _ = std::fs::remove_file(log);
    }
}
