//! The one writer: a single task that owns the `Engine`, takes jobs from a bounded channel,
//! applies them in batches, and commits each batch's changes, messages and events in one
//! transaction before answering anyone or delivering any event.
//!
//! The loop, once per batch:
//! 1. wait for a job, or for the engine's next deadline (lease and lock expiry);
//! 2. `engine.advance(now)`, then take up to `max_batch` jobs that are already queued;
//! 3. apply each: `engine.handle(now, command)`, or run a read closure on the engine;
//! 4. `engine.take_changes()` and `engine.drain_events()`, turned into rows (`records/`)
//!    and outbox rows (`outbox.rs`), written with the batch's messages in ONE transaction;
//! 5. after COMMIT only: hand the events to the `EventSink`, then answer the callers.
//!
//! If a commit fails, every caller of the batch is answered `Unavailable` and the engine is
//! dropped: it is rebuilt from the database (`Engine::restore`), so memory never holds a
//! state the database does not. While storage stays down, the writer retries with backoff
//! and answers every job at once with `Unavailable`, so the channel never fills up with
//! callers waiting for a database that is gone.
//!
//! In a cluster (`WriterConfig::lease`, PostgreSQL) the writer serves only while this node
//! holds the writer lease (`lease.rs`): it starts as a standby answering every job with
//! `Standby`, loads the state once the lease is granted, fences every commit with the epoch
//! it loaded under, and drops the engine (a standby again) as soon as that epoch cannot be
//! trusted or the database refuses it.
//!
//! Never here: SQL (that is `sql.rs`), JSON shapes (`outbox.rs`), rules (the engine).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::{Alert, Command, Config, Engine, Event, MessageId, Rejection, Reply, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::clock::Clock;
use crate::error::{StoreError, WriteError};
use crate::host::{HostEvents, HostSource, SentMessage};
use crate::lease::Lease;
use crate::metrics::{Metrics, WriterMetrics};
use crate::outbox::{outbox_events, OutboxEvent};
use crate::records::{plan_batch, ts, AppliedBatch, Direction, MarkDelivered, MessageRow, RowIds, Shadow, WritePlan};
use crate::sql::{Conn, Fence};
use crate::store::Store;

/// Longest the writer sleeps without looking at the clock (a safety net for clock jumps
/// and for clocks that tokio's timer does not follow, like a manual test clock).
const MAX_IDLE_WAKE: Duration = Duration::from_secs(1);
/// How long delivered-event marks wait for a batch to ride on before getting their own commit.
const MARK_FLUSH_DELAY: Duration = Duration::from_millis(50);
/// Retry delays while storage is down: from the first to the last, doubling.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const LAST_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Where committed events go (the server publishes them on the Pusher channels). Called
/// from the writer task after COMMIT, in commit order: it must not block.
pub trait EventSink: Send + Sync + 'static {
    fn deliver(&self, events: &[OutboxEvent]);
}

/// The writer's settings and bounds.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    pub engine: Config,
    /// Jobs waiting for the writer; when full, `submit` waits for room (backpressure).
    pub channel_capacity: usize,
    /// Most jobs applied and committed in one transaction.
    pub max_batch: usize,
    /// A cluster's writer lease (PostgreSQL): serve only while it is held, fence every
    /// commit with its epoch. `None`: one node, always the writer.
    pub lease: Option<Lease>,
    /// Schedule a webhook delivery for each host event (`webhook_url` is set). Off, host
    /// events are still stored, for the feed.
    pub webhooks: bool,
}

impl WriterConfig {
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 4096;
    pub const DEFAULT_MAX_BATCH: usize = 512;

    pub fn new(engine: Config) -> Self {
        WriterConfig {
            engine,
            channel_capacity: Self::DEFAULT_CHANNEL_CAPACITY,
            max_batch: Self::DEFAULT_MAX_BATCH,
            lease: None,
            webhooks: false,
        }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig::new(Config::default())
    }
}

/// A message stored with the command that accepts it (`submit_with_message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub body: String,
    pub sent_at: Timestamp,
}

type CommandReply = oneshot::Sender<Result<Reply, WriteError>>;
/// Sends a read's value, computed earlier, once its batch's fate is known.
type ReadCompletion = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

trait ReadJob: Send {
    fn run(self: Box<Self>, engine: &Engine) -> ReadCompletion;
    fn refuse(self: Box<Self>, error: WriteError);
}

struct Read<F, R> {
    read: F,
    reply: oneshot::Sender<Result<R, WriteError>>,
}

impl<F, R> ReadJob for Read<F, R>
where
    F: FnOnce(&Engine) -> R + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, engine: &Engine) -> ReadCompletion {
        let Read { read, reply } = *self;
        let value = read(engine);
        Box::new(move |outcome| {
            let _ = reply.send(outcome.map(|()| value));
        })
    }

    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

/// A read that follows a command in the same batch and sees the command's outcome.
trait FollowUpJob: Send {
    fn run(self: Box<Self>, engine: &Engine, outcome: Result<Reply, Rejection>) -> ReadCompletion;
    fn refuse(self: Box<Self>, error: WriteError);
}

struct FollowUp<F, R> {
    read: F,
    reply: oneshot::Sender<Result<R, WriteError>>,
}

impl<F, R> FollowUpJob for FollowUp<F, R>
where
    F: FnOnce(&Engine, Result<Reply, Rejection>) -> R + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, engine: &Engine, outcome: Result<Reply, Rejection>) -> ReadCompletion {
        let FollowUp { read, reply } = *self;
        let value = read(engine, outcome);
        Box::new(move |committed| {
            let _ = reply.send(committed.map(|()| value));
        })
    }

    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

/// Where a command's outcome goes: its caller, or a read run right after it.
enum Then {
    Answer(CommandReply),
    Read(Box<dyn FollowUpJob>),
}

enum Job {
    Command { command: Command, message: Option<NewMessage>, then: Then },
    Read(Box<dyn ReadJob>),
}

impl Job {
    fn refuse(self, error: WriteError) {
        match self {
            Job::Command { then: Then::Answer(reply), .. } => {
                let _ = reply.send(Err(error));
            }
            Job::Command { then: Then::Read(read), .. } => read.refuse(error),
            Job::Read(read) => read.refuse(error),
        }
    }
}

/// An answer held until the batch's commit succeeds or fails.
enum Answer {
    Command(CommandReply, Result<Reply, WriteError>),
    Read(ReadCompletion),
}

impl Answer {
    fn send(self, committed: Result<(), WriteError>) {
        match self {
            Answer::Command(reply, result) => {
                let _ = reply.send(committed.and(result));
            }
            Answer::Read(complete) => complete(committed),
        }
    }
}

/// Sends commands and reads to the writer. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    host_committed: watch::Receiver<i64>,
}

impl WriterHandle {
    /// Applies `command` and answers once its batch is committed.
    pub async fn submit(&self, command: Command) -> Result<Reply, WriteError> {
        self.submit_job(command, None).await
    }

    /// Same, and stores `message` in the same transaction if the command is accepted (and,
    /// for an inbound message, is not a duplicate). For `InboundMessage` (whose row is stored
    /// even without this) and `SendMessage`; ignored with other commands.
    pub async fn submit_with_message(&self, command: Command, message: NewMessage) -> Result<Reply, WriteError> {
        self.submit_job(command, Some(message)).await
    }

    async fn submit_job(&self, command: Command, message: Option<NewMessage>) -> Result<Reply, WriteError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Command { command, message, then: Then::Answer(reply) };
        self.jobs.send(job).await.map_err(|_| WriteError::ShuttingDown)?;
        answer.await.map_err(|_| WriteError::ShuttingDown)?
    }

    /// Applies `command` (storing `message` with it as `submit_with_message` does), then runs
    /// `read` on the engine right after it, with its outcome, in the same batch; answers once
    /// that batch is committed. One commit where `submit` then `read` would wait for two, and
    /// the read sees exactly the command's effect.
    pub async fn submit_and_read<R: Send + 'static>(
        &self,
        command: Command,
        message: Option<NewMessage>,
        read: impl FnOnce(&Engine, Result<Reply, Rejection>) -> R + Send + 'static,
    ) -> Result<R, WriteError> {
        let (reply, answer) = oneshot::channel();
        let then = Then::Read(Box::new(FollowUp { read, reply }));
        self.jobs.send(Job::Command { command, message, then }).await.map_err(|_| WriteError::ShuttingDown)?;
        answer.await.map_err(|_| WriteError::ShuttingDown)?
    }

    /// Runs `read` on the engine between commands, and answers once everything applied
    /// before it is committed (so it never reports a state that could still be lost).
    pub async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, WriteError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Read(Box::new(Read { read, reply }));
        self.jobs.send(job).await.map_err(|_| WriteError::ShuttingDown)?;
        answer.await.map_err(|_| WriteError::ShuttingDown)?
    }

    pub fn metrics(&self) -> WriterMetrics {
        self.metrics.snapshot()
    }

    /// The newest committed host event's sequence, changed after each COMMIT that stored
    /// some: what the webhook delivery task waits on instead of polling.
    pub fn host_events_committed(&self) -> watch::Receiver<i64> {
        self.host_committed.clone()
    }
}

/// The running writer task.
pub struct WriterTask {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl WriterTask {
    /// Finishes the batch in flight, answers jobs still queued with `ShuttingDown`, records
    /// the last deliveries, then stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.join.await {
            error!(%error, "the writer task ended abnormally");
        }
    }
}

pub struct Writer;

impl Writer {
    /// Loads every table, restores the engine (logging and committing each repair), delivers
    /// the outbox events not yet delivered, then serves. Does not migrate: call
    /// `Store::migrate` first. With a lease (a cluster), returns at once as a standby and
    /// does all that each time the lease is granted.
    pub async fn start(
        store: Store,
        config: WriterConfig,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
    ) -> Result<(WriterHandle, WriterTask), StoreError> {
        let channel_capacity = config.channel_capacity.max(1);
        let metrics = Arc::new(Metrics::new());
        let (host_committed, host_committed_receiver) = watch::channel(0);
        let shared = Arc::new(Shared { store, config, clock, sink, metrics: Arc::clone(&metrics), host_committed });
        let recovered = match shared.config.lease {
            None => Some(recover(Arc::clone(&shared), 0).await?),
            Some(_) => None,
        };
        let (jobs_sender, jobs) = mpsc::channel(channel_capacity);
        let (stop, stop_receiver) = watch::channel(false);
        let writer = WriterLoop {
            shared,
            jobs,
            stop: stop_receiver,
            stop_detached: false,
            delivered_up_to: recovered.as_ref().map_or(0, |recovered| recovered.delivered_up_to),
            marked_up_to: 0,
            serving: recovered.map(|recovered| recovered.serving),
        };
        let join = tokio::spawn(writer.run());
        let handle = WriterHandle { jobs: jobs_sender, metrics, host_committed: host_committed_receiver };
        Ok((handle, WriterTask { stop, join }))
    }
}

/// What the loop and a recovery attempt share.
struct Shared {
    store: Store,
    config: WriterConfig,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
    /// Told the newest committed host event's sequence (`WriterHandle::host_events_committed`).
    host_committed: watch::Sender<i64>,
}

impl Shared {
    /// What a commit of an engine loaded under `epoch` must prove: nothing on one node; in a
    /// cluster, the lease of that very epoch, still within its local deadline (else `Fenced`).
    fn fence(&self, epoch: Option<i64>) -> Result<Option<Fence>, StoreError> {
        match (&self.config.lease, epoch) {
            (None, _) => Ok(None),
            (Some(lease), Some(epoch)) => lease.fence(epoch).map(Some),
            (Some(_), None) => Err(StoreError::Fenced { epoch: 0 }),
        }
    }
}

/// The engine and the connection it is persisted through, while storage works.
struct Serving {
    engine: Engine,
    conn: Conn,
    ids: RowIds,
    /// The next host event's sequence (the writer hands them out, in commit order).
    next_host_sequence: i64,
    /// What is stored, so that a batch writes only the rows that differ.
    shadow: Shadow,
    /// The lease epoch the engine was loaded under (a cluster), which every commit proves.
    epoch: Option<i64>,
}

struct Recovered {
    serving: Serving,
    delivered_up_to: i64,
}

/// Rebuilds the engine from the database, commits what the restore repaired, and delivers
/// the outbox rows above `delivered_up_to` that were never marked delivered.
async fn recover(shared: Arc<Shared>, delivered_up_to: i64) -> Result<Recovered, StoreError> {
    // The epoch is fixed before loading: the state read is what that grant saw, at least.
    let epoch = match &shared.config.lease {
        None => None,
        Some(lease) => Some(lease.held_epoch().ok_or(StoreError::Fenced { epoch: 0 })?),
    };
    let mut conn = shared.store.acquire().await?;
    let loaded = match conn.load().await {
        Ok(loaded) => loaded,
        Err(error) => {
            conn.discard();
            return Err(error);
        }
    };
    for dropped in &loaded.dropped {
        warn!(row = %dropped, "ignored a stored row that names a missing entity");
    }
    let now = shared.clock.now();
    let (mut engine, repairs) = Engine::restore(shared.config.engine.clone(), now, loaded.state);
    for repair in &repairs {
        warn!(%repair, "repaired an inconsistency found in storage");
    }
    let next_host_sequence = match conn.max_host_sequence().await {
        Ok(newest) => newest + 1,
        Err(error) => {
            conn.discard();
            return Err(error);
        }
    };
    let changes = engine.take_changes();
    let events: Vec<Event> = engine.drain_events().collect();
    let outbox = outbox_events(&events, loaded.ids.next_outbox_id);
    let alerts = raised_alerts(&events);
    let mut host = HostEvents::default();
    host.extend(&events, now);
    let host_events = host.into_rows(next_host_sequence);
    let mut shadow = Shadow::default();
    let repaired = AppliedBatch {
        engine: &engine,
        changes: &changes,
        alerts: &alerts,
        outbox: &outbox,
        messages: &[],
        host_events: &host_events,
        webhooks: shared.config.webhooks,
        ids: loaded.ids,
        now,
    };
    let (plan, written) = plan_batch(&repaired, &shadow);
    if !plan.is_empty() {
        let committed = match shared.fence(epoch) {
            Ok(fence) => conn.commit(&plan, fence.as_ref()).await,
            Err(error) => Err(error),
        };
        if let Err(error) = committed {
            conn.discard();
            return Err(error);
        }
    }
    shadow.record(written);
    let next_host_sequence = next_host_sequence + host_events.len() as i64;
    shared.host_committed.send_replace(next_host_sequence - 1);
    let ids = RowIds { next_outbox_id: loaded.ids.next_outbox_id + outbox.len() as i64, ..loaded.ids };
    let deliver: Vec<OutboxEvent> =
        loaded.undelivered.into_iter().filter(|event| event.id > delivered_up_to).chain(outbox).collect();
    let delivered_up_to = deliver.last().map_or(delivered_up_to, |event| event.id.max(delivered_up_to));
    if !deliver.is_empty() {
        info!(events = deliver.len(), repairs = repairs.len(), "delivering events not yet delivered");
        shared.sink.deliver(&deliver);
        Metrics::add(&shared.metrics.events_delivered, deliver.len() as u64);
    }
    if let (Some(lease), Some(epoch)) = (&shared.config.lease, epoch) {
        info!(epoch, "this node is the writer: the state is loaded and the outbox delivered");
        lease.set_serving(epoch, true);
    }
    Ok(Recovered { serving: Serving { engine, conn, ids, next_host_sequence, shadow, epoch }, delivered_up_to })
}

fn raised_alerts(events: &[Event]) -> Vec<&Alert> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::AlertRaised(alert) => Some(alert),
            _ => None,
        })
        .collect()
}

/// The message row a command would store if accepted.
fn message_row(command: &Command, message: Option<NewMessage>) -> Option<MessageRow> {
    match command {
        Command::InboundMessage { message_id, client_id, profile_id, body, sent_at } => {
            let (body, sent_at) = match message {
                Some(message) => (message.body, message.sent_at),
                None => (body.to_string(), *sent_at),
            };
            Some(MessageRow {
                platform_message_id: Some(message_id.clone()),
                client_id: *client_id,
                profile_id: *profile_id,
                direction: Direction::Inbound,
                moderator_id: None,
                body,
                sent_at,
            })
        }
        Command::SendMessage { moderator_id, client_id, profile_id, .. } => message.map(|message| MessageRow {
            platform_message_id: None,
            client_id: *client_id,
            profile_id: *profile_id,
            direction: Direction::Outbound,
            moderator_id: Some(*moderator_id),
            body: message.body,
            sent_at: message.sent_at,
        }),
        _ => None,
    }
}

/// The inbound message a reply answers: the one its conversation is waiting on, read
/// before the command is applied (answering clears it).
fn answered_message(engine: &Engine, command: &Command) -> Option<MessageId> {
    let Command::SendMessage { client_id, profile_id, .. } = command else { return None };
    let key = switchboard_engine::ConversationKey { client_id: *client_id, profile_id: *profile_id };
    engine
        .conversation(key)
        .filter(|conversation| conversation.waiting_since.is_some())
        .and_then(|conversation| conversation.last_inbound.as_ref())
        .map(|summary| &summary.message_id)
        .cloned()
}

/// A stored outbound message as the host's `message.sent`, with the row id it is stored
/// under; `None` for an inbound message.
fn sent_message(row: &MessageRow, message_id: i64, in_reply_to: Option<MessageId>) -> Option<SentMessage> {
    let moderator_id = row.moderator_id.filter(|_| row.direction == Direction::Outbound)?;
    Some(SentMessage {
        message_id,
        client_id: row.client_id,
        profile_id: row.profile_id,
        moderator_id,
        body: row.body.clone(),
        sent_at: row.sent_at,
        in_reply_to,
    })
}

/// Whether an accepted command's message is stored: not for a duplicate inbound message.
fn stores_message(reply: &Reply) -> bool {
    match reply {
        Reply::MessageAccepted { duplicate, .. } => !duplicate,
        Reply::MessageSent { .. } => true,
        _ => false,
    }
}

struct WriterLoop {
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<Job>,
    stop: watch::Receiver<bool>,
    /// The `WriterTask` was dropped without `shutdown`: run until every handle is gone.
    stop_detached: bool,
    /// Highest outbox id handed to the sink.
    delivered_up_to: i64,
    /// Highest outbox id recorded as delivered in the database.
    marked_up_to: i64,
    /// `None` while storage is down.
    serving: Option<Serving>,
}

enum Wake {
    Job(Job),
    Timer,
    Stop,
}

impl WriterLoop {
    async fn run(mut self) {
        loop {
            if let Some(serving) = &self.serving {
                if self.shared.fence(serving.epoch).is_err() {
                    // Idle when the lease went: drop the engine now, not at the next command.
                    self.depose(None);
                }
            }
            if self.serving.is_none() && !self.wait_for_storage().await {
                break;
            }
            let Some(serving) = &self.serving else { continue };
            let now = self.shared.clock.now();
            let mark_pending = self.delivered_up_to > self.marked_up_to;
            let mut sleep = serving.engine.next_deadline().map_or(MAX_IDLE_WAKE, |at| at.since(now)).min(MAX_IDLE_WAKE);
            if mark_pending {
                sleep = sleep.min(MARK_FLUSH_DELAY);
            }
            let mut batch = Vec::new();
            match self.next_wake(sleep).await {
                Wake::Stop => break,
                Wake::Job(job) => batch.push(job),
                Wake::Timer if mark_pending => self.flush_mark().await,
                Wake::Timer => {}
            }
            let max_batch = self.shared.config.max_batch.max(1);
            while batch.len() < max_batch {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.run_batch(batch).await;
        }
        self.finish().await;
    }

    async fn next_wake(&mut self, sleep: Duration) -> Wake {
        loop {
            tokio::select! {
                biased;
                changed = self.stop.changed(), if !self.stop_detached => match changed {
                    Ok(()) if *self.stop.borrow() => return Wake::Stop,
                    Ok(()) => {}
                    Err(_) => self.stop_detached = true,
                },
                job = self.jobs.recv() => return job.map_or(Wake::Stop, Wake::Job),
                () = tokio::time::sleep(sleep) => return Wake::Timer,
            }
        }
    }

    fn is_stopping(&self) -> bool {
        !self.stop_detached && *self.stop.borrow()
    }

    async fn run_batch(&mut self, jobs: Vec<Job>) {
        let Some(mut serving) = self.serving.take() else {
            for job in jobs {
                job.refuse(WriteError::Unavailable("storage is unavailable".to_owned()));
            }
            return;
        };
        let shared = Arc::clone(&self.shared);
        let metrics = &shared.metrics;
        let now = shared.clock.now();
        serving.engine.advance(now);
        // Events are drained after each command, so that the host hears of a reply before
        // what the reply caused (the conversation released, the lock freed).
        let mut events: Vec<Event> = serving.engine.drain_events().collect();
        let mut host = HostEvents::default();
        host.extend(&events, now);
        let batch_size = jobs.len();
        let (mut applied, mut rejected, mut reads) = (0u64, 0u64, 0u64);
        let mut answers = Vec::with_capacity(batch_size);
        let mut messages = Vec::new();
        for job in jobs {
            match job {
                Job::Command { command, message, then } => {
                    let row = message_row(&command, message);
                    let in_reply_to = answered_message(&serving.engine, &command);
                    let at = shared.clock.now();
                    let outcome = serving.engine.handle(at, command);
                    match &outcome {
                        Ok(result) => {
                            applied += 1;
                            if stores_message(result) {
                                if let Some(row) = row {
                                    let message_id = serving.ids.next_message_id + messages.len() as i64;
                                    if let Some(sent) = sent_message(&row, message_id, in_reply_to) {
                                        host.push(HostSource::Sent(&sent), at);
                                    }
                                    messages.push(row);
                                }
                            }
                        }
                        Err(_) => rejected += 1,
                    }
                    let first = events.len();
                    events.extend(serving.engine.drain_events());
                    host.extend(&events[first..], at);
                    answers.push(match then {
                        Then::Answer(reply) => Answer::Command(reply, outcome.map_err(WriteError::Rejected)),
                        Then::Read(read) => Answer::Read(read.run(&serving.engine, outcome)),
                    });
                }
                Job::Read(read) => {
                    reads += 1;
                    answers.push(Answer::Read(read.run(&serving.engine)));
                }
            }
        }

        let changes = serving.engine.take_changes();
        add_missing_inbound_rows(&serving.engine, &changes.messages, &mut messages, now);
        events.extend(serving.engine.drain_events());
        let outbox = outbox_events(&events, serving.ids.next_outbox_id);
        let alerts = raised_alerts(&events);
        let host_events = host.into_rows(serving.next_host_sequence);
        let batch = AppliedBatch {
            engine: &serving.engine,
            changes: &changes,
            alerts: &alerts,
            outbox: &outbox,
            messages: &messages,
            host_events: &host_events,
            webhooks: shared.config.webhooks,
            ids: serving.ids,
            now,
        };
        let (mut plan, written) = plan_batch(&batch, &serving.shadow);
        let mark = (self.delivered_up_to > self.marked_up_to)
            .then_some(MarkDelivered { up_to_id: self.delivered_up_to, at: ts(now) });
        let has_work = !plan.is_empty();
        if has_work {
            plan.mark_delivered = mark;
        }

        // Checked last, after applying: a lease past its local deadline commits nothing, and
        // answers nothing either (not even reads: another node may be the writer by now).
        let committed = match shared.fence(serving.epoch) {
            Ok(fence) if has_work => {
                let started = Instant::now();
                let result = serving.conn.commit(&plan, fence.as_ref()).await;
                metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                result
            }
            Ok(_) => Ok(()),
            Err(fenced) => Err(fenced),
        };
        if batch_size > 0 {
            metrics.batch_size.observe(batch_size as f64);
        }
        match committed {
            Ok(()) => {
                if has_work {
                    Metrics::add(&metrics.batches_committed, 1);
                    if let Some(mark) = plan.mark_delivered {
                        self.marked_up_to = mark.up_to_id;
                    }
                }
                serving.shadow.record(written);
                serving.ids.next_outbox_id += outbox.len() as i64;
                serving.ids.next_message_id += messages.len() as i64;
                if let Some(last) = host_events.last() {
                    serving.next_host_sequence = last.sequence + 1;
                    shared.host_committed.send_replace(last.sequence);
                }
                Metrics::add(&metrics.commands_applied, applied);
                Metrics::add(&metrics.commands_rejected, rejected);
                Metrics::add(&metrics.reads, reads);
                // Events first: a caller that hears "done" can count on its events being out.
                if let Some(last) = outbox.last() {
                    shared.sink.deliver(&outbox);
                    self.delivered_up_to = last.id;
                    Metrics::add(&metrics.events_delivered, outbox.len() as u64);
                }
                for answer in answers {
                    answer.send(Ok(()));
                }
                self.serving = Some(serving);
            }
            Err(failure) => {
                error!(error = %failure, jobs = batch_size, "commit failed: the batch is answered unavailable and the engine is rebuilt from storage");
                Metrics::add(&metrics.commits_failed, 1);
                Metrics::add(&metrics.unavailable_answers, batch_size as u64);
                // Fenced: nothing was committed and this node is no writer any more; the caller
                // hears that it reached a standby (503 either way).
                let refusal = match failure {
                    StoreError::Fenced { .. } => WriteError::Standby { writer: None },
                    _ => WriteError::Unavailable(format!("commit failed: {failure}")),
                };
                for answer in answers {
                    answer.send(Err(refusal.clone()));
                }
                if let StoreError::Fenced { epoch } = failure {
                    warn!(epoch, "the writer lease is lost: the engine is dropped and this node is a standby");
                    self.serving = Some(serving);
                    self.depose(Some(epoch));
                } else {
                    serving.conn.discard();
                    metrics.storage_available.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// Drops the engine of a writer whose lease cannot be trusted (`refused`: the database
    /// refused that epoch, so the lease is lost whatever the keeper believed). The loop then
    /// waits as a standby for the lease before loading the state again.
    fn depose(&mut self, refused: Option<i64>) {
        let Some(serving) = self.serving.take() else { return };
        serving.conn.discard();
        if let (Some(lease), Some(epoch)) = (&self.shared.config.lease, serving.epoch) {
            if refused == Some(epoch) {
                lease.lost(epoch);
            }
            lease.set_serving(epoch, false);
        }
    }

    /// A standby: answers every job with the standby refusal until this node holds the
    /// lease. Returns false when the writer should stop instead.
    async fn wait_for_lease(&mut self, lease: &Lease) -> bool {
        let mut role = lease.watch();
        loop {
            if lease.held_epoch().is_some() {
                return true;
            }
            tokio::select! {
                biased;
                changed = self.stop.changed(), if !self.stop_detached => match changed {
                    Ok(()) if *self.stop.borrow() => return false,
                    Ok(()) => {}
                    Err(_) => self.stop_detached = true,
                },
                changed = role.changed() => if changed.is_err() { return false },
                job = self.jobs.recv() => match job {
                    Some(job) => {
                        Metrics::add(&self.shared.metrics.unavailable_answers, 1);
                        job.refuse(lease.standby_refusal());
                    }
                    None => return false,
                },
            }
        }
    }

    /// Records the deliveries made since the last mark in a transaction of their own.
    async fn flush_mark(&mut self) {
        let Some(serving) = self.serving.as_mut() else { return };
        let up_to_id = self.delivered_up_to;
        let plan = WritePlan {
            mark_delivered: Some(MarkDelivered { up_to_id, at: ts(self.shared.clock.now()) }),
            ..WritePlan::default()
        };
        let committed = match self.shared.fence(serving.epoch) {
            Ok(fence) => serving.conn.commit(&plan, fence.as_ref()).await,
            Err(fenced) => Err(fenced),
        };
        match committed {
            Ok(()) => self.marked_up_to = up_to_id,
            Err(error) => {
                warn!(%error, "could not record delivered events; storage is checked again");
                if let Some(serving) = self.serving.take() {
                    serving.conn.discard();
                }
            }
        }
    }

    /// Storage is down: retry recovery with backoff, answering every job `Unavailable` in
    /// the meantime. Returns false when the writer should stop instead.
    async fn wait_for_storage(&mut self) -> bool {
        let metrics = Arc::clone(&self.shared.metrics);
        metrics.storage_available.store(false, std::sync::atomic::Ordering::Relaxed);
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            if self.is_stopping() {
                return false;
            }
            if let Some(lease) = self.shared.config.lease.clone() {
                if !self.wait_for_lease(&lease).await {
                    return false;
                }
            }
            let attempt = recover(Arc::clone(&self.shared), self.delivered_up_to);
            tokio::pin!(attempt);
            let outcome = loop {
                tokio::select! {
                    biased;
                    outcome = &mut attempt => break outcome,
                    job = self.jobs.recv() => match job {
                        Some(job) => self.refuse_unavailable(job),
                        None => return false,
                    },
                }
            };
            match outcome {
                Ok(recovered) => {
                    info!("storage is back: the engine was rebuilt from the database");
                    self.delivered_up_to = recovered.delivered_up_to;
                    self.serving = Some(recovered.serving);
                    Metrics::add(&metrics.recoveries, 1);
                    metrics.storage_available.store(true, std::sync::atomic::Ordering::Relaxed);
                    return true;
                }
                Err(error) => warn!(%error, retry_in = ?delay, "storage is unavailable"),
            }
            let pause = tokio::time::sleep(delay);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    biased;
                    changed = self.stop.changed(), if !self.stop_detached => match changed {
                        Ok(()) if *self.stop.borrow() => return false,
                        Ok(()) => {}
                        Err(_) => self.stop_detached = true,
                    },
                    () = &mut pause => break,
                    job = self.jobs.recv() => match job {
                        Some(job) => self.refuse_unavailable(job),
                        None => return false,
                    },
                }
            }
            delay = (delay * 2).min(LAST_RETRY_DELAY);
        }
    }

    fn refuse_unavailable(&self, job: Job) {
        Metrics::add(&self.shared.metrics.unavailable_answers, 1);
        job.refuse(WriteError::Unavailable("storage is unavailable; retrying".to_owned()));
    }

    async fn finish(mut self) {
        self.jobs.close();
        while let Ok(job) = self.jobs.try_recv() {
            job.refuse(WriteError::ShuttingDown);
        }
        if self.delivered_up_to > self.marked_up_to {
            self.flush_mark().await;
        }
        self.depose(None);
        info!("the writer stopped");
    }
}

/// Every inbound message the engine accepted must have its row, or a restart would accept
/// it again. Commands always bring theirs; this covers any the engine accepted otherwise.
fn add_missing_inbound_rows(
    engine: &Engine,
    accepted: &[(MessageId, switchboard_engine::ConversationKey)],
    messages: &mut Vec<MessageRow>,
    now: Timestamp,
) {
    let stored_inbound = messages.iter().filter(|m| m.platform_message_id.is_some()).count();
    if stored_inbound == accepted.len() {
        // Every stored inbound row is one of `accepted`: equal counts mean the same set.
        return;
    }
    let stored: BTreeSet<MessageId> = messages.iter().filter_map(|m| m.platform_message_id.clone()).collect();
    for (message_id, key) in accepted {
        if stored.contains(message_id) {
            continue;
        }
        let summary = engine
            .conversation(*key)
            .and_then(|conversation| conversation.last_inbound.as_ref())
            .filter(|summary| summary.message_id == *message_id);
        warn!(%message_id, "an accepted inbound message came without its row; storing what the engine knows");
        messages.push(MessageRow {
            platform_message_id: Some(message_id.clone()),
            client_id: key.client_id,
            profile_id: key.profile_id,
            direction: Direction::Inbound,
            moderator_id: None,
            body: summary.map_or_else(String::new, |summary| summary.body.to_string()),
            sent_at: summary.map_or(now, |summary| summary.sent_at),
        });
    }
}
