//! Bulk ingestion through `POST /api/messages` as fast as the service takes it, spread over
//! a chosen number of conversations, with the server's memory before and after: the
//! memory-per-conversation figure and the way to fill a database for the restart figure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use serde::Serialize;
use serde_json::json;

use crate::api::{Api, Directory, Tally};
use crate::memory::MemorySource;
use crate::tokens::{Role, TokenMinter};

/// Profile registrations in flight at once.
const REGISTER_CONCURRENCY: usize = 32;

/// What to ingest.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub url: String,
    pub jwt_secret: String,
    pub messages: u64,
    /// Distinct (client, profile) pairs the messages are spread over.
    pub conversations: u64,
    pub profiles: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub first_message_id: u64,
    /// Client ids are `client_base + 1 ..= client_base + conversations`.
    pub client_base: u64,
    pub memory: Option<MemorySource>,
}

/// What was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IngestReport {
    pub messages_accepted: u64,
    pub conversations: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub memory_source: String,
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    pub bytes_per_conversation: Option<f64>,
    pub errors: BTreeMap<String, u64>,
}

impl IngestReport {
    #[must_use]
    pub fn summary(&self) -> String {
        let mib =
            |bytes: Option<u64>| bytes.map_or("unknown".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1_048_576.0));
        format!(
            "ingest: {} messages over {} conversations in {:.1} s = {:.0} msg/s; RSS {} → {} ({}); {} per conversation; errors {:?}",
            self.messages_accepted,
            self.conversations,
            self.seconds,
            self.messages_per_second,
            mib(self.rss_before_bytes),
            mib(self.rss_after_bytes),
            self.memory_source,
            self.bytes_per_conversation.map_or("unknown".to_owned(), |b| format!("{b:.0} bytes")),
            self.errors
        )
    }
}

/// Runs the ingestion.
///
/// # Errors
/// The profiles cannot be registered.
pub async fn run(config: IngestConfig) -> anyhow::Result<IngestReport> {
    let platform = TokenMinter::new(&config.jwt_secret, Duration::from_secs(24 * 3600)).mint(Role::Platform)?;
    let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1024).build()?;
    let api = Api::new(http.clone(), &config.url);
    let profiles = Directory { profiles: (1..=config.profiles).collect(), ..Directory::default() };
    api.register_directory(&platform, &profiles, REGISTER_CONCURRENCY).await?;
    let read_memory = |http: reqwest::Client, source: Option<MemorySource>| async move {
        match source {
            Some(source) => source.read(&http).await,
            None => None,
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = read_memory(http.clone(), config.memory.clone()).await;
    let accepted = Arc::new(AtomicU64::new(0));
    let errors = Tally::default();
    let started = Instant::now();
    let conversations = config.conversations.max(1);
    let profiles = config.profiles.max(1);
    stream::iter(0..config.messages)
        .map(|n| {
            let (api, platform, accepted, errors) = (&api, &platform, accepted.clone(), &errors);
            let conversation = n % conversations;
            let body = json!({
                "message_id": config.first_message_id + n,
                "client_id": config.client_base + 1 + conversation,
                "profile_id": 1 + conversation % profiles,
                "body": "bulk message",
            });
            async move {
                match api.post_message(platform, &body).await {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(kind) => errors.add(kind),
                }
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<()>()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = read_memory(http.clone(), config.memory.clone()).await;
    let messages_accepted = accepted.load(Ordering::Relaxed);
    let bytes_per_conversation = match (rss_before, rss_after) {
        (Some(before), Some(after)) => Some((after as f64 - before as f64) / conversations.min(config.messages) as f64),
        _ => None,
    };
    Ok(IngestReport {
        messages_accepted,
        conversations: conversations.min(config.messages),
        seconds,
        messages_per_second: messages_accepted as f64 / seconds.max(1e-9),
        memory_source: config.memory.as_ref().map(MemorySource::describe).unwrap_or_default(),
        rss_before_bytes: rss_before,
        rss_after_bytes: rss_after,
        bytes_per_conversation,
        errors: errors.snapshot(),
    })
}
