//! Pusher webhooks: `channel_occupied`, `channel_vacated`, `member_added`,
//! `member_removed` and `client_event`, posted to the configured URL as
//! `{"time_ms", "events": [...]}` with `X-Pusher-Key` and `X-Pusher-Signature` (hex
//! HMAC-SHA256 of the body with the app secret).
//!
//! Sockets never wait for a webhook: they push events onto a bounded queue without
//! blocking, and one background task takes whatever is queued (up to
//! [`MAX_EVENTS_PER_BATCH`]) as one batch. A batch that fails (no answer within
//! [`ATTEMPT_TIMEOUT`], or not a 2xx) is retried with exponential backoff (1 s, 2 s, 4 s …
//! at most 60 s apart, the last at the window's end) until `webhook_retry_window_seconds`
//! (at least 5 minutes) has passed since its first attempt, then dropped and counted. Batches go out in order, one at a
//! time, so while one is retried new events wait in the queue; when the queue is full, new
//! events are dropped and counted (`webhook_events_dropped_total`), never blocking a socket.
//!
//! The backoff is timed on the injected [`Clock`]: the task re-reads it at least every
//! [`CLOCK_RECHECK`], so a test that moves a manual clock forward sees the retry at once.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::signature::hex_hmac;
use crate::stats::Stats;

/// Events posted in one request at most.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// How long one delivery attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The first wait after a failure; it doubles after each.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest real-time sleep between two readings of the clock while waiting.
const CLOCK_RECHECK: Duration = Duration::from_millis(200);

/// One webhook event, serialised as Pusher names its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub(crate) enum WebhookEvent {
    ChannelOccupied {
        channel: String,
    },
    ChannelVacated {
        channel: String,
    },
    MemberAdded {
        channel: String,
        user_id: String,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
    },
    ClientEvent {
        channel: String,
        event: String,
        data: String,
        socket_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
}

/// Where the webhook goes and how it is signed.
pub(crate) struct WebhookTarget {
    pub(crate) url: String,
    pub(crate) app_key: String,
    pub(crate) app_secret: String,
    pub(crate) retry_window: Duration,
}

/// The sockets' end of the queue: pushing never waits.
#[derive(Debug, Clone)]
pub(crate) struct WebhookQueue {
    sender: mpsc::Sender<WebhookEvent>,
    stats: Arc<Stats>,
}

impl WebhookQueue {
    /// Starts the sending task on the current tokio runtime; it ends once every queue
    /// handle is dropped and the queue is drained.
    pub(crate) fn start(
        target: WebhookTarget,
        capacity_events: usize,
        clock: Arc<dyn Clock>,
        stats: Arc<Stats>,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(capacity_events);
        let client = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().unwrap_or_default();
        runtime.spawn(run(receiver, client, target, clock, Arc::clone(&stats)));
        Self { sender, stats }
    }

    pub(crate) fn push(&self, event: WebhookEvent) {
        if self.sender.try_send(event).is_err() {
            self.stats.record_webhook_events_dropped();
            tracing::warn!("webhook queue full: an event was dropped");
        }
    }
}

/// The body of one batch: what is posted and what the signature covers.
pub(crate) fn body(time_ms: u64, events: &[WebhookEvent]) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        time_ms: u64,
        events: &'a [WebhookEvent],
    }
    serde_json::to_string(&Body { time_ms, events }).unwrap_or_else(|_| String::from("{}"))
}

/// The wait before attempt `failures + 1`, after `failures` failed ones.
pub(crate) fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(2_u32.saturating_pow(failures.min(16))).min(MAX_BACKOFF)
}

/// When the next attempt is due (clock milliseconds), or `None` once the retry window that
/// started at `first_attempt_ms` is over: the batch is given up. The last attempt falls at
/// the window's end, so a batch is retried for the whole window.
pub(crate) fn next_attempt_at(
    first_attempt_ms: u64,
    now_ms: u64,
    failures: u32,
    retry_window: Duration,
) -> Option<u64> {
    let window_end = first_attempt_ms.saturating_add(millis(retry_window));
    (now_ms < window_end).then(|| now_ms.saturating_add(millis(backoff(failures))).min(window_end))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn run(
    mut receiver: mpsc::Receiver<WebhookEvent>,
    client: reqwest::Client,
    target: WebhookTarget,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
) {
    while let Some(first) = receiver.recv().await {
        let mut events = vec![first];
        while events.len() < MAX_EVENTS_PER_BATCH {
            match receiver.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        deliver(&client, &target, clock.as_ref(), &stats, &events).await;
    }
}

async fn deliver(
    client: &reqwest::Client,
    target: &WebhookTarget,
    clock: &dyn Clock,
    stats: &Stats,
    events: &[WebhookEvent],
) {
    let first_attempt_ms = clock.now_millis();
    let body = body(first_attempt_ms, events);
    let signature = hex_hmac(&target.app_secret, body.as_bytes());
    let mut failures = 0_u32;
    loop {
        let attempt = client
            .post(&target.url)
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &target.app_key)
            .header("X-Pusher-Signature", &signature)
            .body(body.clone())
            .send()
            .await;
        match attempt {
            Ok(response) if response.status().is_success() => {
                stats.record_webhook_batches_delivered();
                return;
            }
            Ok(response) => tracing::debug!(status = %response.status(), "webhook refused; will retry"),
            Err(error) => tracing::debug!(%error, "webhook not delivered; will retry"),
        }
        let Some(due_ms) = next_attempt_at(first_attempt_ms, clock.now_millis(), failures, target.retry_window) else {
            stats.record_webhook_batches_abandoned();
            tracing::warn!(events = events.len(), "webhook batch dropped after its retry window");
            return;
        };
        failures += 1;
        wait_until(clock, due_ms).await;
    }
}

async fn wait_until(clock: &dyn Clock, due_ms: u64) {
    loop {
        let now_ms = clock.now_millis();
        if now_ms >= due_ms {
            return;
        }
        tokio::time::sleep(Duration::from_millis(due_ms - now_ms).min(CLOCK_RECHECK)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    struct HandClock(AtomicU64);

    impl Clock for HandClock {
        fn now_millis(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// What the receiver saw: the signature header and the body of each request.
    type Seen = tokio::sync::mpsc::UnboundedReceiver<(String, String)>;

    /// A real HTTP receiver on 127.0.0.1 that refuses the first `failures` requests (500).
    async fn receiver(failures: usize) -> (String, Seen) {
        let (sender, seen) = tokio::sync::mpsc::unbounded_channel();
        let refused = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let sender = sender.clone();
                let refused = Arc::clone(&refused);
                async move {
                    let signature = headers
                        .get("x-pusher-signature")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = sender.send((signature, body));
                    if refused.fetch_add(1, Ordering::SeqCst) < failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}/hooks"), seen)
    }

    fn queue(url: String, clock: &Arc<HandClock>, stats: &Arc<Stats>) -> WebhookQueue {
        let target = WebhookTarget {
            url,
            app_key: "key".into(),
            app_secret: "secret".into(),
            retry_window: Duration::from_secs(300),
        };
        let clock: Arc<dyn Clock> = Arc::clone(clock) as Arc<dyn Clock>;
        WebhookQueue::start(target, 16, clock, Arc::clone(stats), &tokio::runtime::Handle::current())
    }

    /// Moves the hand clock on in 60 s steps (the longest backoff) until the next request
    /// arrives: a retry happens only once the clock says it is due, never on real time.
    async fn next_request_as_time_passes(clock: &HandClock, seen: &mut Seen) -> (String, String) {
        for _ in 0..20 {
            if let Ok(Some(request)) = tokio::time::timeout(Duration::from_millis(500), seen.recv()).await {
                return request;
            }
            clock.0.fetch_add(60_000, Ordering::SeqCst);
        }
        panic!("no request arrived");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_batch_is_retried_on_the_clock_with_the_same_signed_body() {
        let (url, mut seen) = receiver(1).await;
        let clock = Arc::new(HandClock(AtomicU64::new(1_000_000)));
        let stats = Arc::new(Stats::default());
        let queue = queue(url, &clock, &stats);
        queue.push(WebhookEvent::ChannelOccupied { channel: "presence-a".into() });
        let (first_signature, first_body) = seen.recv().await.expect("a first attempt");
        assert_eq!(first_signature, hex_hmac("secret", first_body.as_bytes()));
        let body: Value = serde_json::from_str(&first_body).expect("JSON");
        assert_eq!(body["time_ms"], 1_000_000);
        let (second_signature, second_body) = next_request_as_time_passes(&clock, &mut seen).await;
        assert_eq!((second_signature, second_body), (first_signature, first_body));
        while stats.snapshot().webhook_batches_delivered_total == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(stats.snapshot().webhook_batches_abandoned_total, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_refused_for_the_whole_window_is_dropped_and_counted() {
        let (url, mut seen) = receiver(usize::MAX).await;
        let clock = Arc::new(HandClock(AtomicU64::new(0)));
        let stats = Arc::new(Stats::default());
        let queue = queue(url, &clock, &stats);
        queue.push(WebhookEvent::ChannelVacated { channel: "a".into() });
        seen.recv().await.expect("a first attempt");
        let mut attempts = 1;
        while stats.snapshot().webhook_batches_abandoned_total == 0 {
            next_request_as_time_passes(&clock, &mut seen).await;
            attempts += 1;
            assert!(attempts <= 12, "retries stop once the window is over");
            if clock.0.load(Ordering::SeqCst) >= 300_000 {
                // The attempt at the window's end was the last: wait for the give-up.
                while stats.snapshot().webhook_batches_abandoned_total == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
        assert!(clock.0.load(Ordering::SeqCst) >= 300_000, "retried for the whole 5-minute window");
        assert_eq!(stats.snapshot().webhook_batches_delivered_total, 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_new_events_without_waiting() {
        let stats = Arc::new(Stats::default());
        let (sender, _receiver) = mpsc::channel(1);
        let queue = WebhookQueue { sender, stats: Arc::clone(&stats) };
        queue.push(WebhookEvent::ChannelOccupied { channel: "a".into() });
        queue.push(WebhookEvent::ChannelOccupied { channel: "b".into() });
        assert_eq!(stats.snapshot().webhook_events_dropped_total, 1);
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (0..9).map(|failures| backoff(failures).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_batch_is_retried_for_the_whole_window_then_given_up() {
        let window = Duration::from_secs(300);
        let start = 1_000_000;
        let mut now = start;
        let mut attempts = 1;
        while let Some(due) = next_attempt_at(start, now, attempts - 1, window) {
            assert!(due > now);
            now = due;
            attempts += 1;
        }
        // At 0, 1, 3, 7, 15, 31, 63, 123, 183, 243 s, and the last at the window's end.
        assert_eq!(now - start, 300_000, "the last attempt falls at the end of the window");
        assert_eq!(attempts, 11);
    }

    #[test]
    fn the_body_names_events_as_pusher_does() {
        let events = vec![
            WebhookEvent::ChannelOccupied { channel: "presence-a".into() },
            WebhookEvent::MemberAdded { channel: "presence-a".into(), user_id: "7".into() },
            WebhookEvent::ClientEvent {
                channel: "private-a".into(),
                event: "client-typing".into(),
                data: "{}".into(),
                socket_id: "1.2".into(),
                user_id: None,
            },
        ];
        let body: Value = serde_json::from_str(&body(42, &events)).expect("JSON");
        assert_eq!(
            body,
            json!({"time_ms": 42, "events": [
                {"name": "channel_occupied", "channel": "presence-a"},
                {"name": "member_added", "channel": "presence-a", "user_id": "7"},
                {"name": "client_event", "channel": "private-a", "event": "client-typing", "data": "{}", "socket_id": "1.2"},
            ]})
        );
    }
}
