//! `switchboard-load webhooks`: the host events' webhooks measured in one run, in-process,
//! against a local receiver on 127.0.0.1.
//!
//! 1. The service with webhooks **off**: moderators reply (`POST /moderateur/messages`) as
//!    fast as `concurrency` allows for `duration`: the writer's commands/s.
//! 2. The same with webhooks **on**, to the receiver: commands/s again, webhook
//!    deliveries/s, and the latency from a reply's commit (the event's `timestamp`, taken
//!    by the writer just before COMMIT, in milliseconds) to its arrival at the receiver.
//! 3. A receiver outage: the receiver holds every request unanswered while `backlog`
//!    replies are sent (10 minutes' worth at `backlog_rate` replies/s by default), then
//!    answers them all: the backlog's drain rate, until no delivery is pending.
//!
//! Each phase gets a fresh SQLite database (or PostgreSQL when a URL is given, whose
//! database must be empty). The service runs on the system clock, in this process: one
//! machine, shared with the load, as PERFORMANCE.md says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt as _};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};
use switchboard::auth::Caller;
use switchboard::{Settings, SystemClock};
use switchboard_engine::ModeratorId;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What to measure.
#[derive(Clone, Debug)]
pub struct WebhooksConfig {
    pub moderators: u64,
    /// Replies in flight at once.
    pub concurrency: usize,
    /// How long each of the off and on phases sends replies.
    pub duration: Duration,
    /// Replies sent during the receiver outage.
    pub backlog: u64,
    /// `None`: a throwaway SQLite file per phase.
    pub database_urls: Option<[String; 3]>,
}

/// What was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WebhooksReport {
    pub commands_per_second_webhooks_off: f64,
    pub commands_per_second_webhooks_on: f64,
    pub replies_on: u64,
    pub events_delivered_on: u64,
    pub deliveries_per_second: f64,
    pub reply_to_receiver_p50_ms: u64,
    pub reply_to_receiver_p99_ms: u64,
    pub reply_to_receiver_max_ms: u64,
    pub backlog_replies: u64,
    pub backlog_events: u64,
    pub backlog_seconds_to_create: f64,
    pub backlog_drain_seconds: f64,
    pub backlog_drain_events_per_second: f64,
    pub errors: HashMap<String, u64>,
}

impl WebhooksReport {
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "webhooks: writer {:.0} replies/s off, {:.0} replies/s on; {} events delivered at {:.0}/s; reply commit → receiver p50 {} ms, p99 {} ms, max {} ms; backlog of {} events ({} replies, made in {:.1} s) drained in {:.1} s = {:.0} events/s; errors {:?}",
            self.commands_per_second_webhooks_off,
            self.commands_per_second_webhooks_on,
            self.events_delivered_on,
            self.deliveries_per_second,
            self.reply_to_receiver_p50_ms,
            self.reply_to_receiver_p99_ms,
            self.reply_to_receiver_max_ms,
            self.backlog_events,
            self.backlog_replies,
            self.backlog_seconds_to_create,
            self.backlog_drain_seconds,
            self.backlog_drain_events_per_second,
            self.errors
        )
    }
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A minimal HTTP/1.1 receiver: reads each request, notes when it arrived, answers 200
/// (keeping the connection), or holds it while `holding`.
#[derive(Default)]
struct ReceiverState {
    holding: AtomicBool,
    release: Notify,
    received: AtomicU64,
    /// (arrival, the body) of every request.
    log: Mutex<Vec<(u64, String)>>,
}

async fn serve_receiver(listener: TcpListener, state: Arc<ReceiverState>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let (read, mut write) = socket.into_split();
            let mut reader = BufReader::new(read);
            loop {
                let mut length = 0usize;
                let mut line = String::new();
                let mut first = true;
                loop {
                    line.clear();
                    match reader.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if !first {
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    first = false;
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let arrived = unix_millis();
                state.received.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut log) = state.log.lock() {
                    log.push((arrived, String::from_utf8_lossy(&body).into_owned()));
                }
                while state.holding.load(Ordering::Acquire) {
                    let released = state.release.notified();
                    if !state.holding.load(Ordering::Acquire) {
                        break;
                    }
                    released.await;
                }
                if write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                    return;
                }
            }
        });
    }
}

/// One service with its directory: `moderators` moderators, each holding three profiles,
/// each with a hundred clients of its own.
struct Phase {
    server: switchboard::Server,
    http: reqwest::Client,
    platform: String,
    supervisor: String,
    /// (moderator token, a profile it holds, its clients' base id).
    repliers: Vec<(String, u64, u64)>,
    _directory: Option<tempfile::TempDir>,
}

impl Phase {
    async fn start(database_url: Option<&str>, webhook_url: Option<String>, moderators: u64) -> anyhow::Result<Phase> {
        let (directory, url) = match database_url {
            Some(url) => (None, url.to_owned()),
            None => {
                let directory = tempfile::tempdir().context("a temporary directory")?;
                let url = format!("sqlite://{}", directory.path().join("webhooks.db").display());
                (Some(directory), url)
            }
        };
        let mut settings =
            Settings { database_url: url, jwt_secret: Some("load-webhooks".to_owned()), ..Settings::default() };
        settings.webhooks.url = webhook_url;
        settings.webhooks.timeout = Duration::from_secs(300);
        settings.webhooks.retry_schedule = vec![Duration::from_secs(1)];
        settings.engine.monitor_interval = Duration::from_secs(3600);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = switchboard::start(settings, listener, Arc::new(SystemClock)).await?;
        let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1024).build()?;
        let ttl = Duration::from_secs(3600);
        let platform = server.token(Caller::Platform, ttl)?;
        let supervisor = server.token(Caller::Supervisor, ttl)?;
        let base = server.base_url();
        let put = |path: String, body: Value| {
            let request = http.put(format!("{base}{path}")).bearer_auth(&platform).json(&body).send();
            async move { request.await.map(|response| response.status().is_success()).unwrap_or(false) }
        };
        let mut repliers = Vec::new();
        for moderator in 1..=moderators {
            anyhow::ensure!(
                put(format!("/api/moderators/{moderator}"), json!({"name": format!("m{moderator}")})).await
            );
            for slot in 0..3 {
                let profile = (moderator - 1) * 3 + slot + 1;
                anyhow::ensure!(
                    put(format!("/api/profiles/{profile}"), json!({"name": format!("p{profile}"), "active": true}))
                        .await
                );
            }
            for client in 0..100 {
                let id = moderator * 1000 + client;
                anyhow::ensure!(put(format!("/api/clients/{id}"), json!({"name": format!("c{id}")})).await);
            }
            let token = server.token(Caller::Moderator(ModeratorId(moderator)), ttl)?;
            let status: Value =
                http.post(format!("{base}/moderateur/connect")).bearer_auth(&token).send().await?.json().await?;
            let profile = status["profiles"][0].as_u64().context("a connected moderator holds a profile")?;
            repliers.push((token, profile, moderator * 1000));
        }
        Ok(Phase { server, http, platform, supervisor, repliers, _directory: directory })
    }

    /// Sends replies, `concurrency` at once, until `count` are sent or `until` passes.
    async fn reply(
        &self,
        concurrency: usize,
        count: u64,
        until: Option<Instant>,
        errors: &Mutex<HashMap<String, u64>>,
    ) -> u64 {
        let base = self.server.base_url();
        let sent = AtomicU64::new(0);
        stream::iter(0..count)
            .take_while(|_| std::future::ready(until.map_or(true, |until| Instant::now() < until)))
            .map(|n| {
                let (token, profile, clients) = &self.repliers[(n % self.repliers.len() as u64) as usize];
                let body = json!({"client_id": clients + (n / self.repliers.len() as u64) % 100, "profile_id": profile, "body": "a reply"});
                let request = self.http.post(format!("{base}/moderateur/messages")).bearer_auth(token).json(&body).send();
                let sent = &sent;
                async move {
                    match request.await {
                        Ok(response) if response.status().as_u16() == 201 => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(response) => {
                            if let Ok(mut errors) = errors.lock() {
                                *errors.entry(format!("reply {}", response.status().as_u16())).or_insert(0) += 1;
                            }
                        }
                        Err(_) => {
                            if let Ok(mut errors) = errors.lock() {
                                *errors.entry("reply: no answer".to_owned()).or_insert(0) += 1;
                            }
                        }
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<()>()
            .await;
        sent.load(Ordering::Relaxed)
    }

    async fn health(&self) -> anyhow::Result<Value> {
        let base = self.server.base_url();
        Ok(self
            .http
            .get(format!("{base}/api/supervisor/webhooks/health"))
            .bearer_auth(&self.supervisor)
            .send()
            .await?
            .json()
            .await?)
    }

    async fn newest_sequence(&self) -> anyhow::Result<u64> {
        let base = self.server.base_url();
        let page: Value = self
            .http
            .get(format!("{base}/api/events?after=0&limit=1"))
            .bearer_auth(&self.platform)
            .send()
            .await?
            .json()
            .await?;
        Ok(page["newest_sequence"].as_u64().unwrap_or(0))
    }

    /// Waits until no webhook delivery is pending; the time that took.
    async fn drained(&self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if self.health().await?["pending"] == 0 {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(started.elapsed() < limit, "webhook deliveries still pending after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs the three phases.
///
/// # Errors
/// A service or the receiver could not start, or deliveries never drained.
pub async fn run(config: WebhooksConfig) -> anyhow::Result<WebhooksReport> {
    let receiver_listener = TcpListener::bind("127.0.0.1:0").await?;
    let receiver_url = format!("http://{}/hooks", receiver_listener.local_addr()?);
    let receiver = Arc::new(ReceiverState::default());
    tokio::spawn(serve_receiver(receiver_listener, Arc::clone(&receiver)));
    let errors = Mutex::new(HashMap::new());
    let database = |index: usize| config.database_urls.as_ref().map(|urls| urls[index].clone());
    let mut report = WebhooksReport::default();

    // 1. Webhooks off.
    let off = Phase::start(database(0).as_deref(), None, config.moderators).await?;
    let started = Instant::now();
    let replies = off.reply(config.concurrency, u64::MAX, Some(started + config.duration), &errors).await;
    report.commands_per_second_webhooks_off = replies as f64 / started.elapsed().as_secs_f64();
    off.server.shutdown().await?;

    // 2. Webhooks on.
    let on = Phase::start(database(1).as_deref(), Some(receiver_url.clone()), config.moderators).await?;
    on.drained(Duration::from_secs(60)).await?;
    let before = receiver.received.load(Ordering::Relaxed);
    if let Ok(mut log) = receiver.log.lock() {
        log.clear();
    }
    let started = Instant::now();
    let replies = on.reply(config.concurrency, u64::MAX, Some(started + config.duration), &errors).await;
    report.commands_per_second_webhooks_on = replies as f64 / started.elapsed().as_secs_f64();
    report.replies_on = replies;
    on.drained(Duration::from_secs(600)).await?;
    report.events_delivered_on = receiver.received.load(Ordering::Relaxed) - before;
    let mut latency = Histogram::<u64>::new(3)?;
    if let Ok(log) = receiver.log.lock() {
        let first = log.first().map_or(0, |(at, _)| *at);
        let last = log.last().map_or(0, |(at, _)| *at);
        report.deliveries_per_second = log.len() as f64 / ((last.saturating_sub(first)) as f64 / 1000.0).max(1e-3);
        for (arrived, body) in log.iter() {
            let Ok(event) = serde_json::from_str::<Value>(body) else { continue };
            if event["type"] != "message.sent" {
                continue;
            }
            let committed = event["timestamp"].as_str().and_then(parse_millis).unwrap_or(*arrived);
            let _ = latency.record(arrived.saturating_sub(committed));
        }
    }
    report.reply_to_receiver_p50_ms = latency.value_at_quantile(0.5);
    report.reply_to_receiver_p99_ms = latency.value_at_quantile(0.99);
    report.reply_to_receiver_max_ms = latency.max();
    on.server.shutdown().await?;

    // 3. An outage: the receiver holds every request while the backlog builds, then answers.
    let outage = Phase::start(database(2).as_deref(), Some(receiver_url), config.moderators).await?;
    outage.drained(Duration::from_secs(60)).await?;
    let first_sequence = outage.newest_sequence().await?;
    receiver.holding.store(true, Ordering::Release);
    let started = Instant::now();
    report.backlog_replies = outage.reply(config.concurrency, config.backlog, None, &errors).await;
    report.backlog_seconds_to_create = started.elapsed().as_secs_f64();
    report.backlog_events = outage.newest_sequence().await?.saturating_sub(first_sequence);
    receiver.holding.store(false, Ordering::Release);
    receiver.release.notify_waiters();
    let drain = outage.drained(Duration::from_secs(1200)).await?;
    report.backlog_drain_seconds = drain.as_secs_f64();
    report.backlog_drain_events_per_second = report.backlog_events as f64 / drain.as_secs_f64().max(1e-3);
    outage.server.shutdown().await?;
    report.errors = errors.into_inner().unwrap_or_default();
    Ok(report)
}

/// `2026-01-01T00:00:00.123Z` to Unix milliseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut date_parts = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date_parts.next()??, date_parts.next()??, date_parts.next()??);
    let (clock, millis) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock_parts = clock.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock_parts.next()??, clock_parts.next()??, clock_parts.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds * 1000 + millis.parse::<i64>().ok()?).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_to_millis() {
        assert_eq!(super::parse_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(super::parse_millis("2026-01-01T00:00:00.250Z"), Some(1_767_225_600_250));
    }
}
