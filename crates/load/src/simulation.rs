//! The simulation: registers the directory, runs one actor per moderator (its own Pusher
//! socket on `private-moderator.{id}`, reacting to its events as a person would) and one
//! sender for the clients (messages at a fixed total rate), and gathers what they measure.
//!
//! Everything goes through the service's public interfaces (HTTP API and Pusher protocol);
//! nothing here reads the service's database or memory. Used by the `switchboard-load`
//! binary and, at a gentle rate, by `switchboard demo`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use futures_util::SinkExt as _;
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use reqwest::Method;

use crate::api::{Api, Directory, Tally};
use crate::ledger::{self, new_histogram, Ledger, Outcome};
use crate::memory::MemorySource;
use crate::pace::{Pacer, PACE_TICK};
use crate::pusher::{self, Frame};
use crate::report::{Memory, Percentiles, Report, RunParameters, Spread};
use crate::tokens::{Role, TokenMinter};

/// Directory requests in flight at once while registering.
const REGISTER_CONCURRENCY: usize = 32;
/// How long start-up waits for every moderator socket to be subscribed.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// A moderator with nothing to do checks whether to take a break this often.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Random clients tried before a send is skipped because all are busy.
const CLIENT_PICK_ATTEMPTS: usize = 16;

/// What to simulate and against which service.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// `http://host:port` of the running service.
    pub url: String,
    /// The service's `jwt_secret`: tokens are minted from it (required for moderators).
    pub jwt_secret: Option<String>,
    /// A platform token; minted from the secret when absent.
    pub platform_token: Option<String>,
    /// A supervisor token; minted from the secret when absent.
    pub supervisor_token: Option<String>,
    /// The Pusher app key; learnt from `/broadcasting/auth` when absent.
    pub app_key: Option<String>,
    /// Moderators 1..=N, each with its own socket.
    pub moderators: u64,
    /// Profiles 1..=M, all active.
    pub profiles: u64,
    /// Clients 1..=K; a client waits for its answer before writing again.
    pub clients: u64,
    /// Client messages per second, all clients together.
    pub rate_per_second: f64,
    /// Mean time between typing and replying (uniform in ±50 %).
    pub think_time: Duration,
    /// Seed of every random choice (clients, profiles, think times, breaks).
    pub seed: u64,
    /// Chance, per conversation, that the moderator first sits idle for `idle_time`.
    pub idle_probability: f64,
    pub idle_time: Duration,
    /// Chance, per reply (or per idle second while queued), that the moderator takes a
    /// break of `break_time`: disconnects (or leaves the queue), then connects again.
    pub break_probability: f64,
    pub break_time: Duration,
    /// PUT every moderator, profile and client first.
    pub register_directory: bool,
    /// Message ids are `first_message_id + n`; default from the clock, so reruns on one
    /// database never collide.
    pub first_message_id: u64,
    /// Socket handshakes in flight at once during start-up.
    pub connect_concurrency: usize,
    /// Client messages in flight at once; beyond it the sender waits.
    pub max_in_flight: usize,
    /// Where the server's memory is read, if anywhere.
    pub memory: Option<MemorySource>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            url: "http://127.0.0.1:8080".to_owned(),
            jwt_secret: None,
            platform_token: None,
            supervisor_token: None,
            app_key: None,
            moderators: 50,
            profiles: 100,
            clients: 10_000,
            rate_per_second: 50.0,
            think_time: Duration::from_millis(1500),
            seed: 1,
            idle_probability: 0.02,
            idle_time: Duration::from_secs(5),
            break_probability: 0.01,
            break_time: Duration::from_secs(5),
            register_directory: true,
            first_message_id: default_first_message_id(),
            connect_concurrency: 64,
            max_in_flight: 512,
            memory: None,
        }
    }
}

impl LoadConfig {
    /// The demo's pace: a dozen moderators who think for seconds and take breaks, a couple of
    /// messages a second, so that a person watching the console can follow what happens.
    #[must_use]
    pub fn gentle() -> Self {
        LoadConfig {
            moderators: 12,
            profiles: 30,
            clients: 200,
            rate_per_second: 2.0,
            think_time: Duration::from_secs(4),
            seed: 7,
            idle_probability: 0.05,
            idle_time: Duration::from_secs(15),
            break_probability: 0.03,
            break_time: Duration::from_secs(20),
            connect_concurrency: 8,
            max_in_flight: 16,
            ..LoadConfig::default()
        }
    }
}

/// The first message id of a run starting now (see [`first_message_id_at`]).
#[must_use]
pub fn default_first_message_id() -> u64 {
    first_message_id_at(SystemTime::now())
}

/// Milliseconds since the epoch × 1,000: runs started a millisecond apart on one database
/// never reuse an id unless one sends more than 1,000 messages per millisecond of head start.
#[must_use]
pub fn first_message_id_at(start: SystemTime) -> u64 {
    let millis = start.duration_since(UNIX_EPOCH).map_or(1, |elapsed| elapsed.as_millis() as u64);
    millis.saturating_mul(1000)
}

/// Figures while the run goes on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub sent: u64,
    pub accepted: u64,
    pub assigned: u64,
    pub replies: u64,
    pub errors: u64,
    pub p99_ms: f64,
}

struct Shared {
    config: LoadConfig,
    api: Api,
    minter: Option<TokenMinter>,
    platform_token: String,
    ws_url: String,
    ledger: Mutex<Ledger>,
    ingest_answer: Mutex<Histogram<u64>>,
    queue_wait: Mutex<Histogram<u64>>,
    errors: Tally,
    events: Tally,
    busy_clients: Vec<AtomicBool>,
    replies: Vec<AtomicU64>,
    sent: AtomicU64,
    accepted: AtomicU64,
    skipped: AtomicU64,
}

impl Shared {
    fn error(&self, kind: impl Into<String>) {
        self.errors.add(kind);
    }

    fn free_client(&self, client_id: u64) {
        if let Some(busy) = client_id.checked_sub(1).and_then(|index| self.busy_clients.get(index as usize)) {
            busy.store(false, Ordering::Relaxed);
        }
    }

    fn moderator_token(&self, id: u64) -> anyhow::Result<String> {
        match &self.minter {
            Some(minter) => minter.mint(Role::Moderator(id)),
            None => bail!("moderator tokens need --jwt-secret"),
        }
    }

    /// Sends a request expecting `expected`; records any other outcome as an error kind.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Option<Value> {
        match self.api.expect(method, path, token, body.as_ref(), expected).await {
            Ok(value) => Some(value),
            Err(kind) => {
                self.error(kind);
                None
            }
        }
    }
}

/// A running simulation.
pub struct Simulation {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    stop_sending: watch::Sender<bool>,
    moderators: Vec<JoinHandle<()>>,
    sender: Option<JoinHandle<()>>,
    sending_started: Instant,
    memory_before: Option<u64>,
}

impl Simulation {
    /// Registers the directory, connects every moderator (socket subscribed, then
    /// `POST /moderateur/connect`), then starts the clients. Returns once clients send.
    ///
    /// # Errors
    /// Tokens cannot be made, the directory cannot be registered, or no socket connects.
    pub async fn start(config: LoadConfig) -> anyhow::Result<Simulation> {
        let url = config.url.trim_end_matches('/').to_owned();
        let config = LoadConfig { url: url.clone(), ..config };
        let minter =
            config.jwt_secret.as_deref().map(|secret| TokenMinter::new(secret, Duration::from_secs(24 * 3600)));
        let mint = |role: Role, given: &Option<String>| -> anyhow::Result<String> {
            match (given, &minter) {
                (Some(token), _) => Ok(token.clone()),
                (None, Some(minter)) => minter.mint(role),
                (None, None) => bail!("give --jwt-secret, or the platform and supervisor tokens"),
            }
        };
        let platform_token = mint(Role::Platform, &config.platform_token)?;
        let supervisor_token = mint(Role::Supervisor, &config.supervisor_token)?;
        if config.moderators > 0 && minter.is_none() {
            bail!("moderators need --jwt-secret to mint their tokens");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .build()
            .context("HTTP client")?;
        let app_key = match &config.app_key {
            Some(key) => key.clone(),
            None => pusher::discover_app_key(&http, &config.url, &supervisor_token, "private-supervisors")
                .await
                .context("cannot learn the Pusher app key (give --app-key)")?,
        };
        let ws_url = pusher::websocket_url(&config.url, &app_key)?;
        let shared = Arc::new(Shared {
            busy_clients: (0..config.clients).map(|_| AtomicBool::new(false)).collect(),
            replies: (0..config.moderators).map(|_| AtomicU64::new(0)).collect(),
            config,
            api: Api::new(http, &url),
            minter,
            platform_token,
            ws_url,
            ledger: Mutex::new(Ledger::default()),
            ingest_answer: Mutex::new(new_histogram()),
            queue_wait: Mutex::new(new_histogram()),
            errors: Tally::default(),
            events: Tally::default(),
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        });
        if shared.config.register_directory {
            let directory = Directory {
                moderators: (1..=shared.config.moderators).collect(),
                profiles: (1..=shared.config.profiles).collect(),
                clients: (1..=shared.config.clients).collect(),
            };
            shared.api.register_directory(&shared.platform_token, &directory, REGISTER_CONCURRENCY).await?;
        }

        let (stop, stop_receiver) = watch::channel(false);
        let (stop_sending, sending_receiver) = watch::channel(false);
        let (ready, mut ready_receiver) = mpsc::unbounded_channel::<bool>();
        let handshakes = Arc::new(Semaphore::new(shared.config.connect_concurrency.max(1)));
        let mut moderators = Vec::new();
        for id in 1..=shared.config.moderators {
            let rng = StdRng::seed_from_u64(shared.config.seed.wrapping_mul(1_000_003).wrapping_add(id));
            moderators.push(tokio::spawn(run_moderator(
                shared.clone(),
                id,
                rng,
                handshakes.clone(),
                ready.clone(),
                stop_receiver.clone(),
            )));
        }
        drop(ready);
        let mut subscribed = 0u64;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        for _ in 0..shared.config.moderators {
            match tokio::time::timeout_at(deadline, ready_receiver.recv()).await {
                Ok(Some(true)) => subscribed += 1,
                Ok(Some(false)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if shared.config.moderators > 0 && subscribed == 0 {
            let _ = stop.send(true);
            bail!("no moderator socket could subscribe: {:?}", shared.errors.snapshot());
        }
        let memory_before = match &shared.config.memory {
            Some(source) => source.read(&shared.api.http).await,
            None => None,
        };
        let rng = StdRng::seed_from_u64(shared.config.seed);
        let sender = tokio::spawn(run_clients(shared.clone(), rng, sending_receiver));
        Ok(Simulation {
            shared,
            stop,
            stop_sending,
            moderators,
            sender: Some(sender),
            sending_started: Instant::now(),
            memory_before,
        })
    }

    /// Figures so far.
    #[must_use]
    pub fn progress(&self) -> Progress {
        let shared = &self.shared;
        let (assigned, p99_ms) = shared
            .ledger
            .lock()
            .map(|ledger| (ledger.counts().matched, ledger.latency().value_at_quantile(0.99) as f64 / 1000.0))
            .unwrap_or_default();
        Progress {
            sent: shared.sent.load(Ordering::Relaxed),
            accepted: shared.accepted.load(Ordering::Relaxed),
            assigned,
            replies: shared.replies.iter().map(|count| count.load(Ordering::Relaxed)).sum(),
            errors: shared.errors.total(),
            p99_ms,
        }
    }

    /// Stops the clients, lets assignments and replies still in flight arrive for `drain`,
    /// stops the moderators (sockets closed, moderators left connected), and reports.
    pub async fn stop(mut self, drain: Duration) -> Report {
        let _ = self.stop_sending.send(true);
        if let Some(sender) = self.sender.take() {
            let _ = sender.await;
        }
        let sending_seconds = self.sending_started.elapsed().as_secs_f64();
        tokio::time::sleep(drain).await;
        let _ = self.stop.send(true);
        for task in self.moderators.drain(..) {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                self.shared.error("moderator task did not stop in 5 s");
            }
        }
        let shared = &self.shared;
        let memory_after = match &shared.config.memory {
            Some(source) => source.read(&shared.api.http).await,
            None => None,
        };
        let config = &shared.config;
        let accepted = shared.accepted.load(Ordering::Relaxed);
        let replies: Vec<u64> = shared.replies.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let (assignment_latency, counts, never_assigned) = shared
            .ledger
            .lock()
            .map(|ledger| (Percentiles::from_micros(ledger.latency()), ledger.counts(), ledger.unmatched()))
            .unwrap_or_default();
        Report {
            parameters: RunParameters {
                url: config.url.clone(),
                moderators: config.moderators,
                profiles: config.profiles,
                clients: config.clients,
                rate_per_second: config.rate_per_second,
                duration_seconds: sending_seconds,
                think_time_ms: config.think_time.as_millis() as u64,
                seed: config.seed,
            },
            sending_seconds,
            messages_sent: shared.sent.load(Ordering::Relaxed),
            messages_accepted: accepted,
            sustained_messages_per_second: accepted as f64 / sending_seconds.max(1e-9),
            sends_skipped_no_free_client: shared.skipped.load(Ordering::Relaxed),
            assignment_latency,
            ingest_answer_latency: shared
                .ingest_answer
                .lock()
                .map(|h| Percentiles::from_micros(&h))
                .unwrap_or_default(),
            queue_wait: shared.queue_wait.lock().map(|h| Percentiles::from_micros(&h)).unwrap_or_default(),
            never_assigned,
            reassigned_events: counts.reassigned,
            unknown_events: counts.unknown,
            mismatched_events: counts.mismatched,
            replies: replies.iter().sum(),
            replies_per_moderator: Spread::of(&replies),
            events_by_name: shared.events.snapshot(),
            errors: shared.errors.snapshot(),
            server_memory: Memory {
                source: config.memory.as_ref().map(MemorySource::describe).unwrap_or_default(),
                before_bytes: self.memory_before,
                after_bytes: memory_after,
            },
        }
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        let _ = self.stop_sending.send(true);
        let _ = self.stop.send(true);
    }
}

/// The clients: messages at the configured total rate, each from a client without an
/// unanswered message, to a random profile.
async fn run_clients(shared: Arc<Shared>, mut rng: StdRng, stop: watch::Receiver<bool>) {
    let config = &shared.config;
    if config.rate_per_second <= 0.0 || config.profiles == 0 || config.clients == 0 {
        return;
    }
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let mut pacer = Pacer::start(config.rate_per_second, Instant::now());
    while !*stop.borrow() {
        for sequence in pacer.due(Instant::now()) {
            let Some(client_id) = pick_free_client(&shared, &mut rng) else {
                shared.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let profile_id = rng.random_range(1..=config.profiles);
            let message_id = config.first_message_id + sequence;
            let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
            let shared = shared.clone();
            tokio::spawn(async move {
                send_message(&shared, message_id, client_id, profile_id).await;
                drop(permit);
            });
        }
        tokio::time::sleep(PACE_TICK).await;
    }
    // Let the messages in flight finish before the report counts them.
    let _ = in_flight.acquire_many(config.max_in_flight.max(1) as u32).await;
}

fn pick_free_client(shared: &Shared, rng: &mut StdRng) -> Option<u64> {
    for _ in 0..CLIENT_PICK_ATTEMPTS {
        let client_id = rng.random_range(1..=shared.config.clients);
        let busy = &shared.busy_clients[(client_id - 1) as usize];
        if busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return Some(client_id);
        }
    }
    None
}

async fn send_message(shared: &Shared, message_id: u64, client_id: u64, profile_id: u64) {
    let body = json!({
        "message_id": message_id,
        "client_id": client_id,
        "profile_id": profile_id,
        "body": format!("Hello from client {client_id}"),
    });
    shared.sent.fetch_add(1, Ordering::Relaxed);
    let sent_at = Instant::now();
    if let Ok(mut ledger) = shared.ledger.lock() {
        ledger.sent(message_id, client_id, profile_id, sent_at);
    }
    let answer = shared.api.post_message(&shared.platform_token, &body).await;
    let answered_at = Instant::now();
    match answer {
        Ok(value) => {
            shared.accepted.fetch_add(1, Ordering::Relaxed);
            if value["duplicate"] == true {
                shared.error("POST /api/messages 202 duplicate");
            }
            if let Ok(mut histogram) = shared.ingest_answer.lock() {
                ledger::record(&mut histogram, answered_at - sent_at);
            }
        }
        Err(kind) => {
            shared.error(kind);
            if let Ok(mut ledger) = shared.ledger.lock() {
                ledger.refused(message_id);
            }
            shared.free_client(client_id);
        }
    }
}

/// What one moderator's socket reader tells its worker.
#[derive(Debug)]
enum Work {
    Reply { client_id: u64, profile_id: u64 },
}

/// State shared by a moderator's socket reader and its worker.
#[derive(Default)]
struct ModeratorView {
    /// Set when the moderator (re)connects; taken by the first `ProfileAssigned` after.
    connecting_since: Mutex<Option<Instant>>,
    /// In the queue, as its last `ModeratorQueuePositionChanged` said.
    queued: AtomicBool,
    /// Conversations released from it since they were handed to the worker.
    released: Mutex<HashSet<(u64, u64)>>,
}

async fn run_moderator(
    shared: Arc<Shared>,
    id: u64,
    rng: StdRng,
    handshakes: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let token = match shared.moderator_token(id) {
        Ok(token) => token,
        Err(_) => {
            shared.error("cannot mint a moderator token");
            let _ = ready.send(false);
            return;
        }
    };
    let channel = format!("private-moderator.{id}");
    let socket = {
        let _permit = handshakes.acquire().await;
        pusher::connect_and_subscribe(&shared.ws_url, &shared.api.http, &shared.config.url, &token, &channel).await
    };
    let socket = match socket {
        Ok(socket) => {
            let _ = ready.send(true);
            socket
        }
        Err(error) => {
            shared.error(format!("websocket handshake: {}", first_line(&error)));
            let _ = ready.send(false);
            return;
        }
    };
    let view = Arc::new(ModeratorView::default());
    let (work, work_receiver) = mpsc::unbounded_channel();
    let worker = tokio::spawn(run_worker(shared.clone(), id, token, rng, work_receiver, view.clone(), stop.clone()));
    let (mut sink, mut frames) = socket.split();
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            frame = frames.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                if !*stop.borrow() {
                    let code = frame.map_or(0, |frame| u16::from(frame.code));
                    shared.error(format!("websocket closed by the server ({code})"));
                }
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                shared.error(format!("websocket read: {}", first_line(&anyhow::Error::new(error))));
                break;
            }
            None => break,
        };
        let received_at = Instant::now();
        match pusher::parse_frame(&text) {
            Some(Frame::Ping) if sink.send(Message::text(pusher::pong_frame())).await.is_err() => {
                shared.error("websocket write");
                break;
            }
            Some(Frame::Event { name, data, .. }) => {
                shared.events.add(name.as_str());
                handle_event(&shared, &view, &work, &name, &data, received_at);
            }
            Some(Frame::Error { message }) => shared.error(format!("pusher:error {message}")),
            _ => {}
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    drop(work);
    let _ = worker.await;
}

fn handle_event(
    shared: &Shared,
    view: &ModeratorView,
    work: &mpsc::UnboundedSender<Work>,
    name: &str,
    data: &str,
    received_at: Instant,
) {
    let Ok(data) = serde_json::from_str::<Value>(data) else {
        shared.error(format!("{name}: data is not JSON"));
        return;
    };
    match name {
        "ConversationAssigned" => {
            let (Some(client_id), Some(profile_id)) = (data["client_id"].as_u64(), data["profile_id"].as_u64()) else {
                shared.error("ConversationAssigned without client_id/profile_id");
                return;
            };
            let message_id = data["message"]["message_id"].as_u64();
            let outcome =
                shared.ledger.lock().map(|mut ledger| ledger.assigned(client_id, profile_id, message_id, received_at));
            if matches!(outcome, Ok(Outcome::Mismatch)) {
                shared.error("ConversationAssigned naming another conversation's message");
            }
            if let Ok(mut released) = view.released.lock() {
                released.remove(&(client_id, profile_id));
            }
            let _ = work.send(Work::Reply { client_id, profile_id });
        }
        "ConversationReleased" => {
            if let (Some(client_id), Some(profile_id)) = (data["client_id"].as_u64(), data["profile_id"].as_u64()) {
                if let Ok(mut released) = view.released.lock() {
                    released.insert((client_id, profile_id));
                }
            }
        }
        "ProfileAssigned" => {
            view.queued.store(false, Ordering::Relaxed);
            let since = view.connecting_since.lock().ok().and_then(|mut since| since.take());
            if let Some(since) = since {
                if let Ok(mut histogram) = shared.queue_wait.lock() {
                    ledger::record(&mut histogram, received_at.saturating_duration_since(since));
                }
            }
        }
        "ModeratorQueuePositionChanged" => {
            view.queued.store(!data["position"].is_null(), Ordering::Relaxed);
        }
        _ => {}
    }
}

/// The person behind a moderator: connects, then answers its conversations one at a time
/// (typing, thinking, replying), now and then sitting idle or taking a break.
async fn run_worker(
    shared: Arc<Shared>,
    id: u64,
    token: String,
    mut rng: StdRng,
    mut work: mpsc::UnboundedReceiver<Work>,
    view: Arc<ModeratorView>,
    mut stop: watch::Receiver<bool>,
) {
    let config = shared.config.clone();
    connect(&shared, &token, &view).await;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => return,
            next = tokio::time::timeout(IDLE_TICK, work.recv()) => next,
        };
        match next {
            Ok(None) => return,
            Err(_) => {
                if view.queued.load(Ordering::Relaxed) && rng.random_bool(config.break_probability.clamp(0.0, 1.0)) {
                    if shared.expect(Method::POST, "/moderateur/queue/leave", &token, None, 200).await.is_some() {
                        view.queued.store(false, Ordering::Relaxed);
                    }
                    if pause(&mut stop, config.break_time).await {
                        return;
                    }
                    connect(&shared, &token, &view).await;
                }
            }
            Ok(Some(Work::Reply { client_id, profile_id })) => {
                let released = view.released.lock().map(|mut released| released.remove(&(client_id, profile_id)));
                if released.unwrap_or(false) {
                    continue;
                }
                if rng.random_bool(config.idle_probability.clamp(0.0, 1.0)) && pause(&mut stop, config.idle_time).await
                {
                    return;
                }
                let conversation = json!({"client_id": client_id, "profile_id": profile_id});
                if shared.expect(Method::POST, "/moderateur/typing", &token, Some(conversation), 204).await.is_none() {
                    continue;
                }
                let think_ms = config.think_time.as_millis() as u64;
                let think = Duration::from_millis(if think_ms == 0 {
                    0
                } else {
                    rng.random_range(think_ms / 2..=think_ms * 3 / 2)
                });
                if pause(&mut stop, think).await {
                    return;
                }
                let reply = json!({"client_id": client_id, "profile_id": profile_id, "body": format!("Reply from moderator {id}")});
                if shared.expect(Method::POST, "/moderateur/messages", &token, Some(reply), 201).await.is_some() {
                    if let Some(count) = shared.replies.get((id - 1) as usize) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.free_client(client_id);
                }
                if rng.random_bool(config.break_probability.clamp(0.0, 1.0)) {
                    let _ = shared.expect(Method::POST, "/moderateur/disconnect", &token, None, 200).await;
                    if pause(&mut stop, config.break_time).await {
                        return;
                    }
                    connect(&shared, &token, &view).await;
                }
            }
        }
    }
}

async fn connect(shared: &Shared, token: &str, view: &ModeratorView) {
    if let Ok(mut since) = view.connecting_since.lock() {
        *since = Some(Instant::now());
    }
    let _ = shared.expect(Method::POST, "/moderateur/connect", token, None, 200).await;
}

/// Sleeps `duration`; answers whether the run stopped meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    if duration.is_zero() {
        return *stop.borrow();
    }
    let stopped = tokio::select! {
        _ = stop.wait_for(|stopping| *stopping) => true,
        () = tokio::time::sleep(duration) => false,
    };
    stopped || *stop.borrow()
}

fn first_line(error: &anyhow::Error) -> String {
    format!("{error:#}").lines().next().unwrap_or_default().chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_of_two_runs_do_not_overlap() {
        let start = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let first = first_message_id_at(start);
        assert_eq!(first_message_id_at(start + Duration::from_millis(1)), first + 1000);
        assert_eq!(first_message_id_at(start + Duration::from_micros(999)), first, "the same millisecond");
    }
}
