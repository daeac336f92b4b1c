//! The host events' delivery task: Standard Webhooks (https://www.standardwebhooks.com)
//! to `webhook_url`, from the durable state in `host_events`, and the feed's retention.
//!
//! The writer stores each host event in its batch's transaction, marked pending when
//! webhooks are on, and tells this task the newest committed sequence. This task then
//! reads what is due, posts each event (at most [`MAX_CONCURRENT_DELIVERIES`] at once, each
//! bounded by `webhook_timeout`), and records the outcomes, many per transaction, on the
//! pool's other connections: a slow or dead receiver ties up only its own delivery slots,
//! never the writer or a request. A failed attempt (no 2xx, no answer in time, no
//! connection, an answer that is not HTTP) is due again after the next wait of
//! `webhook_retry_schedule`, measured on the service's injected clock; when the schedule is
//! spent the delivery is marked failed, for supervisors to see and retry. Nothing is held
//! only in memory: after a restart or a kill -9, what was pending is due again (at least
//! once; the `webhook-id` is the same on every attempt, so the host de-duplicates).
//!
//! Deliveries run concurrently, so they may arrive out of commit order; the feed
//! (`GET /api/events`) is the ordered record.
//!
//! The same task prunes host events older than `event_retention` (on the injected clock),
//! webhooks on or off.
//!
//! Never here: SQL (`switchboard_store`), the events' shapes (`switchboard_store::host`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use switchboard_engine::Timestamp;
use switchboard_store::{AttemptRecord, Clock, Lease, Store, WebhookDelivery, WriterHandle};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::config::WebhookSettings;

/// Deliveries in flight at once: the bound on what a slow receiver can hold.
pub const MAX_CONCURRENT_DELIVERIES: usize = 32;
/// Outcomes recorded in one transaction at most.
const MAX_RECORDS_PER_COMMIT: usize = 256;
/// The longest real-time wait between two readings of the clock (a manual test clock, or a
/// retry coming due, is noticed within this).
const CLOCK_RECHECK: Duration = Duration::from_millis(100);
/// How often (on the service's clock) old host events are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// After a storage error, the wait (on the service's clock) before asking again.
const STORAGE_RETRY: Duration = Duration::from_secs(1);

/// A `whsec_<base64>` secret and the key it stands for.
#[derive(Clone)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>` (the Standard Webhooks form).
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let Some(encoded) = text.strip_prefix("whsec_") else {
            return Err("must be written whsec_<base64 of the key> (the Standard Webhooks form)".to_owned());
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| format!("the part after whsec_ is not base64: {error}"))?;
        if key.len() < 16 {
            return Err(format!("the key is {} bytes; use at least 16 (24 to 64 is usual)", key.len()));
        }
        Ok(WebhookSecret { text: text.to_owned(), key })
    }

    /// A fresh secret with a 32-byte random key.
    #[must_use]
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        rand::fill(&mut key[..]);
        format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
    }

    /// The text form, `whsec_...`.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    #[must_use]
    pub fn sign(&self, id: &str, timestamp_seconds: u64, body: &str) -> String {
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&self.key) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(format!("{id}.{timestamp_seconds}.{body}").as_bytes());
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Where and how the webhooks go.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: WebhookSecret,
    pub timeout: Duration,
    pub retry_schedule: Vec<Duration>,
}

/// Counters since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub delivered_total: AtomicU64,
    pub attempts_failed_total: AtomicU64,
    pub marked_failed_total: AtomicU64,
}

/// What the HTTP layer holds: a way to wake the task (a supervisor's retry) and its counters.
#[derive(Clone, Debug)]
pub struct Deliveries {
    wake: Arc<Notify>,
    pub stats: Arc<DeliveryStats>,
    /// Whether webhooks are on.
    pub enabled: bool,
    /// `event_retention`, for the feed's answers.
    pub retention: Duration,
}

impl Deliveries {
    /// Looks at what is due now (after a supervisor made a delivery due).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Starts the task; it stops when `stop` turns true.
pub fn spawn(
    store: Store,
    writer: &WriterHandle,
    clock: Arc<dyn Clock>,
    target: Option<WebhookTarget>,
    settings: &WebhookSettings,
    lease: Option<Lease>,
    stop: watch::Receiver<bool>,
) -> (Deliveries, JoinHandle<()>) {
    let deliveries = Deliveries {
        wake: Arc::new(Notify::new()),
        stats: Arc::new(DeliveryStats::default()),
        enabled: target.is_some(),
        retention: settings.event_retention,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_CONCURRENT_DELIVERIES)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let task = DeliveryTask {
        store,
        committed: writer.host_events_committed(),
        clock,
        target: target.map(Arc::new),
        retention: settings.event_retention,
        client,
        wake: Arc::clone(&deliveries.wake),
        stats: Arc::clone(&deliveries.stats),
        lease,
        stop,
    };
    (deliveries, tokio::spawn(task.run()))
}

struct DeliveryTask {
    store: Store,
    committed: watch::Receiver<i64>,
    clock: Arc<dyn Clock>,
    target: Option<Arc<WebhookTarget>>,
    retention: Duration,
    client: reqwest::Client,
    wake: Arc<Notify>,
    stats: Arc<DeliveryStats>,
    /// In a cluster, only the serving writer delivers and prunes: every node reads the same
    /// `host_events`, and two deliverers would send each event twice.
    lease: Option<Lease>,
    stop: watch::Receiver<bool>,
}

impl DeliveryTask {
    fn is_deliverer(&self) -> bool {
        self.lease.as_ref().map_or(true, Lease::is_serving_writer)
    }

    async fn run(mut self) {
        let (done_sender, mut done) = mpsc::channel::<AttemptRecord>(MAX_CONCURRENT_DELIVERIES);
        let mut in_flight: HashSet<i64> = HashSet::new();
        // Start by looking: what was pending before a restart is due now.
        let mut look = true;
        let mut next_due: Option<Timestamp> = None;
        let mut next_prune = self.clock.now();
        let mut writer_gone = false;
        loop {
            let now = self.clock.now();
            if !self.is_deliverer() {
                // A standby: look again at once when this node becomes the writer.
                look = true;
            } else if now >= next_prune {
                self.prune(now).await;
                next_prune = now.plus(PRUNE_INTERVAL);
            }
            if next_due.is_some_and(|due| due <= now) {
                look = true;
            }
            if let Some(target) = self.target.clone().filter(|_| self.is_deliverer()) {
                if look && in_flight.len() < MAX_CONCURRENT_DELIVERIES {
                    look = false;
                    next_due = self.start_due(&target, now, &mut in_flight, &done_sender).await;
                }
            }
            tokio::select! {
                biased;
                changed = self.stop.changed() => if changed.is_err() || *self.stop.borrow() { break },
                Some(first) = done.recv() => {
                    let mut records = vec![first];
                    while records.len() < MAX_RECORDS_PER_COMMIT {
                        match done.try_recv() {
                            Ok(record) => records.push(record),
                            Err(_) => break,
                        }
                    }
                    self.record(&records).await;
                    for record in &records {
                        in_flight.remove(&record.sequence);
                    }
                    look = true;
                }
                changed = self.committed.changed(), if !writer_gone => match changed {
                    Ok(()) => look = true,
                    Err(_) => writer_gone = true,
                },
                () = self.wake.notified() => look = true,
                () = tokio::time::sleep(CLOCK_RECHECK) => {}
            }
        }
    }

    /// Starts the deliveries due at `now` that are not in flight, as many as there are free
    /// slots. Returns when to look again by the clock (`None`: when an attempt ends).
    async fn start_due(
        &self,
        target: &Arc<WebhookTarget>,
        now: Timestamp,
        in_flight: &mut HashSet<i64>,
        done: &mpsc::Sender<AttemptRecord>,
    ) -> Option<Timestamp> {
        let free = MAX_CONCURRENT_DELIVERIES - in_flight.len();
        // In-flight rows are still pending and due: ask for enough to see past them.
        let limit = u32::try_from(free + in_flight.len()).unwrap_or(u32::MAX);
        let due = match self.store.due_webhook_deliveries(now, limit).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read due webhook deliveries; trying again");
                return Some(now.plus(STORAGE_RETRY));
            }
        };
        let fresh: Vec<WebhookDelivery> =
            due.into_iter().filter(|delivery| !in_flight.contains(&delivery.event.sequence)).take(free).collect();
        let slots_filled = fresh.len() == free;
        for delivery in fresh {
            in_flight.insert(delivery.event.sequence);
            let attempt = Attempt {
                client: self.client.clone(),
                target: Arc::clone(target),
                clock: Arc::clone(&self.clock),
                done: done.clone(),
            };
            tokio::spawn(attempt.run(delivery));
        }
        if slots_filled {
            // More may be due: look again when a slot frees up.
            return None;
        }
        match self.store.next_webhook_due_after(now).await {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(%error, "cannot read the next webhook retry time; trying again");
                Some(now.plus(STORAGE_RETRY))
            }
        }
    }

    async fn record(&self, records: &[AttemptRecord]) {
        for record in records {
            match (&record.error, record.retry_at) {
                (None, _) => self.stats.delivered_total.fetch_add(1, Ordering::Relaxed),
                (Some(_), Some(_)) => self.stats.attempts_failed_total.fetch_add(1, Ordering::Relaxed),
                (Some(_), None) => {
                    self.stats.attempts_failed_total.fetch_add(1, Ordering::Relaxed);
                    self.stats.marked_failed_total.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
        if let Err(error) = self.store.record_webhook_attempts(records).await {
            // Still pending in storage: those deliveries will be attempted again (at least once).
            tracing::warn!(%error, attempts = records.len(), "cannot record webhook attempts; they will be retried");
        }
    }

    async fn prune(&self, now: Timestamp) {
        let retention_millis = u64::try_from(self.retention.as_millis()).unwrap_or(u64::MAX);
        let before = Timestamp(now.0.saturating_sub(retention_millis));
        match self.store.prune_host_events(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned host events older than event_retention"),
            Err(error) => tracing::warn!(%error, "cannot prune host events; trying again later"),
        }
    }
}

/// One delivery attempt, run on its own task.
struct Attempt {
    client: reqwest::Client,
    target: Arc<WebhookTarget>,
    clock: Arc<dyn Clock>,
    done: mpsc::Sender<AttemptRecord>,
}

impl Attempt {
    async fn run(self, delivery: WebhookDelivery) {
        let id = delivery.event.id();
        let body = delivery.event.body();
        // The receiver checks this against its own wall clock (replay protection), so it is
        // the system's time, not the service's (possibly manual) clock.
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        let signature = self.target.secret.sign(&id, timestamp, &body);
        let sent = self
            .client
            .post(&self.target.url)
            .timeout(self.target.timeout)
            .header("content-type", "application/json")
            .header("user-agent", concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let (status, error) = match sent {
            Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), Some(format!("the receiver answered {status}")))
            }
            Err(error) => (None, Some(describe(&error, self.target.timeout))),
        };
        let at = self.clock.now();
        let attempts = delivery.attempts.saturating_add(1) as usize;
        let retry_at =
            error.as_ref().and_then(|_| self.target.retry_schedule.get(attempts - 1)).map(|wait| at.plus(*wait));
        if let Some(error) = &error {
            tracing::debug!(%id, attempts, %error, retry = retry_at.is_some(), "webhook attempt failed");
        }
        let _ = self.done.send(AttemptRecord { sequence: delivery.event.sequence, at, status, error, retry_at }).await;
    }
}

/// The webhook series of `/metrics`: pending and failed deliveries and the oldest pending
/// one's age (from storage, through partial indexes), and the task's counters since start.
pub async fn render_metrics(store: &Store, deliveries: &Deliveries, now: Timestamp, out: &mut String) {
    use crate::prometheus::{counter, gauge};
    if let Ok(health) = store.webhook_health().await {
        gauge(out, "switchboard_webhook_pending", "Host events whose webhook is not yet delivered.", health.pending);
        gauge(out, "switchboard_webhook_failed", "Host events whose webhook failed every retry.", health.failed);
        let age = health.oldest_pending_at.map_or(0, |at| now.since(at).as_secs());
        gauge(out, "switchboard_webhook_oldest_pending_seconds", "Age of the oldest undelivered webhook.", age);
    }
    let stats = &deliveries.stats;
    counter(
        out,
        "switchboard_webhook_delivered_total",
        "Webhooks delivered (2xx) since start.",
        stats.delivered_total.load(Ordering::Relaxed),
    );
    counter(
        out,
        "switchboard_webhook_attempts_failed_total",
        "Webhook attempts that failed since start.",
        stats.attempts_failed_total.load(Ordering::Relaxed),
    );
    counter(
        out,
        "switchboard_webhook_marked_failed_total",
        "Webhooks marked failed after the whole retry schedule, since start.",
        stats.marked_failed_total.load(Ordering::Relaxed),
    );
}

/// A failed request in a sentence for supervisors (no URL: it is in the configuration).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    let mut text = if error.is_timeout() {
        format!("no answer within {}", humantime::format_duration(timeout))
    } else if error.is_connect() {
        "could not connect to the receiver".to_owned()
    } else {
        "the receiver's answer was not valid HTTP".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The Standard Webhooks specification's example.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_checked() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_***").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err().contains("16"));
        let generated = WebhookSecret::generate();
        assert!(WebhookSecret::parse(&generated).is_ok(), "{generated}");
    }
}
