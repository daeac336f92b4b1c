//! The service's configuration: every key of SPEC §9 plus the service's own (`listen`,
//! `database_url`, credentials, `event_namespace`, the Pusher server's `pusher_*` limits,
//! client events and webhooks), read from `switchboard.toml` and then from
//! `SWITCHBOARD_*` environment variables, which win.
//!
//! This module owns parsing and validation only. It never opens files other than the one it
//! is given, never touches the database, and never invents credentials (start-up does that).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use switchboard_engine::{Config as EngineConfig, ConflictStrategy};
use switchboard_pusher::PusherConfig;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "switchboard.toml";
/// Prefix of every environment variable that sets a key.
pub const ENV_PREFIX: &str = "SWITCHBOARD_";

/// Every key, its default as written in a file, and what it means (for `--help` and errors).
pub const KEYS: &[(&str, &str, &str)] = &[
    ("listen", "127.0.0.1:8080", "address and port the HTTP and WebSocket server listens on"),
    ("database_url", "sqlite://switchboard.db", "sqlite://PATH or postgres://USER@HOST/DB"),
    ("node_name", "", "this node's name in the writer lease (PostgreSQL clusters); host:port of `listen` when empty"),
    ("advertise_url", "", "how other nodes and clients reach this node; http://<listen> when empty"),
    ("leader_lease", "5s", "writer lease length on PostgreSQL: a dead writer is replaced within about this long"),
    ("redis_url", "", "redis://HOST:PORT or unix:///PATH: every node's sockets hear every event (PostgreSQL clusters)"),
    ("redis_prefix", "switchboard:", "prefix of the Redis channel the nodes share (<prefix>events)"),
    ("jwt_secret", "", "HS256 secret for bearer tokens; generated and stored on first start when empty"),
    ("pusher_app_id", "", "Pusher app id; generated and stored on first start when empty"),
    ("pusher_app_key", "", "Pusher app key clients connect with; generated when empty"),
    ("pusher_app_secret", "", "Pusher app secret signing private channels; generated when empty"),
    ("event_namespace", "App\\Events", "prefix of event names on the wire; empty for bare names"),
    ("pusher_max_sockets", "10000", "open Pusher WebSocket connections at once; the next is refused with 4100"),
    ("pusher_max_channels_per_socket", "100", "channels one socket may be subscribed to"),
    ("pusher_max_frame_bytes", "10240", "largest client frame handled; larger ones get pusher:error 4301"),
    (
        "pusher_max_queued_frames_per_socket",
        "512",
        "frames waiting for one socket before it is closed as a slow consumer (4100)",
    ),
    (
        "pusher_activity_timeout",
        "30s",
        "client silence after which the server pings (sent to clients as activity_timeout)",
    ),
    ("pusher_pong_timeout", "30s", "wait for any frame after the server's ping before closing with 4201"),
    ("pusher_max_event_bytes", "10240", "largest data of one event published through the Pusher HTTP API (413 beyond)"),
    ("pusher_max_channels_per_event", "100", "channels one Pusher HTTP API trigger may name (400 beyond)"),
    ("pusher_max_batch_events", "10", "events in one batch_events request (400 beyond)"),
    ("pusher_max_presence_members", "100", "distinct users on one presence channel; a new user is refused beyond"),
    ("pusher_max_presence_member_bytes", "2048", "largest user_info of one presence member, as JSON"),
    ("pusher_client_events", "true", "relay client-* events (Echo whisper) on private and presence channels"),
    (
        "pusher_client_events_per_second",
        "10",
        "client events one socket may send per second (pusher:error 4301 beyond)",
    ),
    ("pusher_timestamp_window", "600s", "how far a Pusher HTTP API auth_timestamp may be from the server's clock"),
    (
        "pusher_webhook_url",
        "",
        "http:// URL receiving Pusher webhooks (occupied, vacated, members, client events); off when empty",
    ),
    (
        "pusher_webhook_queue_events",
        "10000",
        "webhook events waiting to be sent; newer ones are dropped and counted beyond",
    ),
    ("pusher_webhook_retry_window", "10m", "how long a failing webhook batch is retried with backoff (at least 5m)"),
    (
        "webhook_url",
        "",
        "http:// URL receiving the host events as Standard Webhooks (message.sent, ...); off when empty (no TLS: https:// is refused)",
    ),
    (
        "webhook_secret",
        "",
        "whsec_<base64> signing key of the webhooks; generated on first start when empty and kept in the database (table settings, key webhook_secret)",
    ),
    ("webhook_timeout", "10s", "no answer within this long is a failed attempt, retried"),
    (
        "webhook_retry_schedule",
        "5s,5m,30m,2h,5h,10h,14h,20h,24h",
        "waits before each retry of a failed webhook delivery; after the last, it is marked failed",
    ),
    ("event_retention", "7d", "how long host events stay in the feed (GET /api/events)"),
    ("client_lock_ttl", "30s", "how long a client lock lasts without typing"),
    ("profile_lock_ttl", "500s", "how long a profile lease lasts without activity"),
    ("max_lock_extension", "600s", "cap on an explicit lock extension"),
    ("inactivity_threshold", "60s", "silence after which a moderator with waiting work is set away"),
    ("monitor_interval", "15s", "how often the monitor runs"),
    ("imbalance_threshold", "2", "load difference that triggers balancing"),
    ("anti_ping_pong", "5m", "minimum time between two balancing moves of one profile"),
    ("max_profiles_per_moderator", "3", "profiles one moderator holds at most"),
    ("max_moves_per_tick", "10", "balancing moves per monitor run at most"),
    ("conflict_window", "1s", "connections closer than this can collide"),
    ("conflict_strategy", "timestamp", "timestamp or id: who wins a collision"),
    ("presence_timeout", "60s", "without a socket or an API call for this long, a moderator is disconnected"),
    ("max_self_priority", "0", "highest queue priority a moderator may give itself"),
    ("default_release_interval", "60s", "release interval assumed for wait estimates"),
    ("response_alert", "180s", "a conversation waiting longer raises an alert"),
    ("orphan_alert_after", "60s", "a free profile with waiting work for this long raises an alert"),
    ("queue_stall_alert", "10m", "a queue without assignment for this long raises an alert"),
];

/// The finished configuration of one process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the server listens.
    pub listen: SocketAddr,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `None`: read from (or generated into) the database.
    pub jwt_secret: Option<String>,
    /// `None`: read from (or generated into) the database.
    pub pusher_app_id: Option<String>,
    /// `None`: read from (or generated into) the database.
    pub pusher_app_key: Option<String>,
    /// `None`: read from (or generated into) the database.
    pub pusher_app_secret: Option<String>,
    /// Prefix of wire event names, without the trailing backslash; empty for bare names.
    pub event_namespace: String,
    /// The Pusher server's bounds, client events and webhooks. Its credentials are unused
    /// here: start-up fills them from the `pusher_app_*` keys or the database.
    pub pusher: PusherConfig,
    /// The rules' values (SPEC §9).
    pub engine: EngineConfig,
    /// Several nodes on one PostgreSQL database (`node_name`, `advertise_url`, `leader_lease`,
    /// `redis_url`, `redis_prefix`).
    pub cluster: ClusterSettings,
    /// The host events' webhooks and feed retention.
    pub webhooks: WebhookSettings,
}

/// The keys of a PostgreSQL cluster (README "Running several nodes"); unused on SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `None`: host:port of `listen`.
    pub node_name: Option<String>,
    /// `None`: `http://<listen>`.
    pub advertise_url: Option<String>,
    /// How long the writer lease lasts on the database's clock.
    pub leader_lease: Duration,
    /// The cross-node fan-out; `None`: each node's sockets hear only what it publishes.
    pub redis_url: Option<String>,
    /// Prefix of the fan-out's Redis channel, so several clusters can share one Redis.
    pub redis_prefix: String,
}

impl ClusterSettings {
    /// Shortest lease accepted: renewals every third of it must fit between commits.
    pub const MIN_LEASE: Duration = Duration::from_millis(500);
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            node_name: None,
            advertise_url: None,
            leader_lease: Duration::from_secs(5),
            redis_url: None,
            redis_prefix: "switchboard:".to_owned(),
        }
    }
}

/// The `webhook_*` keys and `event_retention`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `None`: no webhooks (the feed still gets every event).
    pub url: Option<String>,
    /// `whsec_<base64>`; `None`: read from (or generated into) the database.
    pub secret: Option<String>,
    pub timeout: Duration,
    /// The wait before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    pub event_retention: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        let schedule = [5, 300, 1800, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR];
        WebhookSettings {
            url: None,
            secret: None,
            timeout: Duration::from_secs(10),
            retry_schedule: schedule.into_iter().map(Duration::from_secs).collect(),
            event_retention: Duration::from_secs(7 * 24 * HOUR),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://switchboard.db".to_owned(),
            jwt_secret: None,
            pusher_app_id: None,
            pusher_app_key: None,
            pusher_app_secret: None,
            event_namespace: "App\\Events".to_owned(),
            pusher: PusherConfig::new("", "", ""),
            engine: EngineConfig::default(),
            cluster: ClusterSettings::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

/// Why a configuration was refused; the message names the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("unknown key `{key}` in {source_name}; known keys: {known}")]
    UnknownKey { key: String, source_name: String, known: String },
    #[error("invalid value for `{key}` in {source_name}: {message}")]
    Invalid { key: String, source_name: String, message: String },
}

impl Settings {
    /// Defaults, then `file` (or `switchboard.toml` if it exists when `file` is `None`), then
    /// the environment.
    ///
    /// # Errors
    /// An unreadable or invalid file, an unknown key in the file, or an invalid value.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        let path = match file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(Path::new(DEFAULT_CONFIG_FILE).to_path_buf()).filter(|path| path.exists()),
        };
        if let Some(path) = path {
            let display = path.display().to_string();
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: display.clone(), source })?;
            settings.apply_toml(&text, &display)?;
        }
        settings.apply_env(std::env::vars())?;
        Ok(settings)
    }

    /// Applies a TOML document's keys.
    ///
    /// # Errors
    /// Invalid TOML, an unknown key, or an invalid value.
    pub fn apply_toml(&mut self, text: &str, source_name: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|error: toml::de::Error| ConfigError::Syntax {
            path: source_name.to_owned(),
            message: error.to_string(),
        })?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(ConfigError::Invalid {
                        key,
                        source_name: source_name.to_owned(),
                        message: format!("expected a string or an integer, found {}", other.type_str()),
                    })
                }
            };
            self.set(&key, &text, source_name)?;
        }
        Ok(())
    }

    /// Applies `SWITCHBOARD_<KEY>` variables; other variables are ignored.
    ///
    /// # Errors
    /// An invalid value.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        let wanted: BTreeMap<String, &str> =
            KEYS.iter().map(|(key, _, _)| (format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()), *key)).collect();
        for (name, value) in vars {
            if let Some(key) = wanted.get(&name) {
                self.set(key, &value, &format!("environment variable {name}"))?;
            }
        }
        Ok(())
    }

    /// Sets one key from its textual form.
    ///
    /// # Errors
    /// An unknown key or an invalid value.
    pub fn set(&mut self, key: &str, value: &str, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: key.to_owned(),
            source_name: source_name.to_owned(),
            message,
        };
        let engine = &mut self.engine;
        match key {
            "listen" => {
                self.listen =
                    value.parse().map_err(|_| invalid(format!("`{value}` is not an address like 127.0.0.1:8080")))?;
            }
            "database_url" => {
                if !(value.starts_with("sqlite:")
                    || value.starts_with("postgres://")
                    || value.starts_with("postgresql://"))
                {
                    return Err(invalid("expected sqlite://PATH or postgres://...".to_owned()));
                }
                self.database_url = value.to_owned();
            }
            "node_name" => self.cluster.node_name = non_empty(value),
            "advertise_url" => {
                if !(value.is_empty() || value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(invalid("expected an http:// or https:// URL".to_owned()));
                }
                self.cluster.advertise_url = non_empty(value.trim_end_matches('/'));
            }
            "leader_lease" => {
                let lease = parse_duration(value).map_err(invalid)?;
                if lease < ClusterSettings::MIN_LEASE {
                    return Err(invalid(format!("at least {:?}", ClusterSettings::MIN_LEASE)));
                }
                self.cluster.leader_lease = lease;
            }
            "redis_url" => {
                let url = value.trim();
                if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("unix://")) {
                    return Err(invalid(
                        "expected redis://HOST:PORT[/DB] or unix:///PATH (rediss:// is not supported: no TLS client is built in)"
                            .to_owned(),
                    ));
                }
                self.cluster.redis_url = non_empty(url);
            }
            "redis_prefix" => {
                if value.len() > 64 || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(invalid("at most 64 characters, no spaces or control characters".to_owned()));
                }
                self.cluster.redis_prefix = value.to_owned();
            }
            "jwt_secret" => self.jwt_secret = non_empty(value),
            "pusher_app_id" => self.pusher_app_id = non_empty(value),
            "pusher_app_key" => self.pusher_app_key = non_empty(value),
            "pusher_app_secret" => self.pusher_app_secret = non_empty(value),
            "event_namespace" => {
                if value.chars().any(char::is_control) {
                    return Err(invalid("control characters are not allowed".to_owned()));
                }
                self.event_namespace = value.trim_end_matches('\\').to_owned();
            }
            key if key.starts_with("pusher_") && !key.starts_with("pusher_app_") => {
                set_pusher(&mut self.pusher, key, value).map_err(invalid)?;
            }
            "webhook_url" => self.webhooks.url = webhook_url(value).map_err(invalid)?,
            "webhook_secret" => {
                self.webhooks.secret = match value.trim() {
                    "" => None,
                    text => Some(crate::webhooks::WebhookSecret::parse(text).map_err(invalid)?.text().to_owned()),
                };
            }
            "webhook_timeout" => {
                let timeout = positive_duration(value).map_err(invalid)?;
                if timeout > Duration::from_secs(300) {
                    return Err(invalid(
                        "must be at most 5m (a receiver that slow ties up a delivery slot)".to_owned(),
                    ));
                }
                self.webhooks.timeout = timeout;
            }
            "webhook_retry_schedule" => self.webhooks.retry_schedule = retry_schedule(value).map_err(invalid)?,
            "event_retention" => {
                let retention = positive_duration(value).map_err(invalid)?;
                if retention < Duration::from_secs(60) {
                    return Err(invalid("must be at least 1m".to_owned()));
                }
                self.webhooks.event_retention = retention;
            }
            "client_lock_ttl" => engine.client_lock_ttl = positive_duration(value).map_err(invalid)?,
            "profile_lock_ttl" => engine.profile_lock_ttl = positive_duration(value).map_err(invalid)?,
            "max_lock_extension" => engine.max_lock_extension = parse_duration(value).map_err(invalid)?,
            "inactivity_threshold" => engine.inactivity_threshold = positive_duration(value).map_err(invalid)?,
            "monitor_interval" => engine.monitor_interval = positive_duration(value).map_err(invalid)?,
            "imbalance_threshold" => engine.imbalance_threshold = bounded(value, 1, 1_000_000).map_err(invalid)?,
            "anti_ping_pong" => engine.anti_ping_pong = parse_duration(value).map_err(invalid)?,
            "max_profiles_per_moderator" => {
                engine.max_profiles_per_moderator = bounded(value, 1, 10_000).map_err(invalid)?;
            }
            "max_moves_per_tick" => engine.max_moves_per_tick = bounded(value, 0, 1_000_000).map_err(invalid)?,
            "conflict_window" => engine.conflict_window = parse_duration(value).map_err(invalid)?,
            "conflict_strategy" => {
                engine.conflict_strategy = match value {
                    "timestamp" => ConflictStrategy::Timestamp,
                    "id" => ConflictStrategy::Id,
                    _ => return Err(invalid(format!("`{value}` is neither `timestamp` nor `id`"))),
                };
            }
            "presence_timeout" => engine.presence_timeout = positive_duration(value).map_err(invalid)?,
            "max_self_priority" => {
                engine.max_self_priority =
                    value.trim().parse().map_err(|_| invalid(format!("`{value}` is not a whole number")))?;
            }
            "default_release_interval" => {
                engine.default_release_interval = positive_duration(value).map_err(invalid)?;
            }
            "response_alert" => engine.response_alert = positive_duration(value).map_err(invalid)?,
            "orphan_alert_after" => engine.orphan_alert_after = parse_duration(value).map_err(invalid)?,
            "queue_stall_alert" => engine.queue_stall_alert = positive_duration(value).map_err(invalid)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    source_name: source_name.to_owned(),
                    known: KEYS.iter().map(|(key, _, _)| *key).collect::<Vec<_>>().join(", "),
                })
            }
        }
        Ok(())
    }

    /// `http://<listen>` with an unspecified address shown as 127.0.0.1.
    #[must_use]
    pub fn base_url(&self, listen: SocketAddr) -> String {
        let host = if listen.ip().is_unspecified() { "127.0.0.1".to_owned() } else { listen.ip().to_string() };
        if listen.is_ipv6() && !listen.ip().is_unspecified() {
            format!("http://[{host}]:{}", listen.port())
        } else {
            format!("http://{host}:{}", listen.port())
        }
    }
}

/// Sets one `pusher_*` limit and checks it with the Pusher server's own validation, so a
/// bad value is refused here, naming its key, rather than at start-up.
fn set_pusher(pusher: &mut PusherConfig, key: &str, value: &str) -> Result<(), String> {
    let mut changed = pusher.clone();
    let number =
        || -> Result<usize, String> { value.trim().parse().map_err(|_| format!("`{value}` is not a whole number")) };
    let seconds = || -> Result<u64, String> {
        let duration = parse_duration(value)?;
        if duration.subsec_nanos() != 0 {
            return Err(format!("`{value}` must be a whole number of seconds"));
        }
        Ok(duration.as_secs())
    };
    match key {
        "pusher_max_sockets" => changed.max_sockets = number()?,
        "pusher_max_channels_per_socket" => changed.max_channels_per_socket = number()?,
        "pusher_max_frame_bytes" => changed.max_frame_bytes = number()?,
        "pusher_max_queued_frames_per_socket" => changed.max_queued_frames_per_socket = number()?,
        "pusher_activity_timeout" => changed.activity_timeout_seconds = seconds()?,
        "pusher_pong_timeout" => changed.pong_timeout_seconds = seconds()?,
        "pusher_max_event_bytes" => changed.max_event_bytes = number()?,
        "pusher_max_channels_per_event" => changed.max_channels_per_event = number()?,
        "pusher_max_batch_events" => changed.max_batch_events = number()?,
        "pusher_max_presence_members" => changed.max_presence_members = number()?,
        "pusher_max_presence_member_bytes" => changed.max_presence_member_info_bytes = number()?,
        "pusher_client_events" => {
            changed.client_events = match value.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("`{value}` is neither `true` nor `false`")),
            };
        }
        "pusher_client_events_per_second" => changed.client_events_per_second = number()?,
        "pusher_timestamp_window" => changed.timestamp_window_seconds = seconds()?,
        "pusher_webhook_url" => changed.webhook_url = non_empty(value.trim()),
        "pusher_webhook_queue_events" => changed.webhook_queue_events = number()?,
        "pusher_webhook_retry_window" => changed.webhook_retry_window_seconds = seconds()?,
        _ => return Err(format!("`{key}` is not a Pusher setting; run `switchboard keys`")),
    }
    // The credentials are filled at start-up; check the limits with placeholders.
    let check =
        PusherConfig { app_id: "1".into(), app_key: "key".into(), app_secret: "secret".into(), ..changed.clone() };
    check.validate().map_err(|error| error.to_string())?;
    *pusher = changed;
    Ok(())
}

/// An `http://` URL, or empty for none. This build's HTTP client has no TLS: an `https://`
/// URL would fail at every attempt, so it is refused here, at start-up.
fn webhook_url(value: &str) -> Result<Option<String>, String> {
    let url = value.trim();
    if url.is_empty() {
        return Ok(None);
    }
    if url.starts_with("https://") {
        return Err("https:// is not supported: this build sends webhooks without TLS; use an http:// URL (e.g. a local TLS-terminating proxy) or leave it empty".to_owned());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("`{url}` is not an http:// URL"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.len() > 2048 {
        return Err(format!("`{url}` is not an http://host[:port]/path URL"));
    }
    Ok(Some(url.to_owned()))
}

/// `5s,5m,30m`: 1 to 30 positive durations, the waits before the retries in order.
fn retry_schedule(value: &str) -> Result<Vec<Duration>, String> {
    let mut schedule = Vec::new();
    for part in value.split(',') {
        let wait = positive_duration(part).map_err(|message| format!("retry {}: {message}", schedule.len() + 1))?;
        schedule.push(wait);
    }
    if schedule.len() > 30 {
        return Err(format!("at most 30 retries, got {}", schedule.len()));
    }
    Ok(schedule)
}

fn non_empty(value: &str) -> Option<String> {
    Some(value.to_owned()).filter(|value| !value.is_empty())
}

/// A humane duration: `250ms`, `30s`, `5m`, `1h 30m`, `2d`. A bare number is refused so
/// that nobody guesses the unit.
///
/// # Errors
/// A message naming what was wrong.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("a duration is required, like 30s, 5m or 250ms".to_owned());
    }
    if trimmed.chars().all(|character| character.is_ascii_digit()) {
        return Err(format!("`{trimmed}` has no unit: write it like {trimmed}s, {trimmed}ms or {trimmed}m"));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|error| format!("`{trimmed}` is not a duration like 30s, 5m or 250ms ({error})"))?;
    if duration > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!("`{trimmed}` is longer than a year"));
    }
    Ok(duration)
}

fn positive_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

fn bounded(value: &str, minimum: u32, maximum: u32) -> Result<u32, String> {
    let number: u32 = value.trim().parse().map_err(|_| format!("`{value}` is not a whole number"))?;
    if !(minimum..=maximum).contains(&number) {
        return Err(format!("must be between {minimum} and {maximum}, got {number}"));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_humane() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("1000d").is_err());
    }

    #[test]
    fn defaults_match_the_spec() {
        let settings = Settings::default();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database_url, "sqlite://switchboard.db");
        assert_eq!(settings.event_namespace, "App\\Events");
        assert_eq!(settings.engine, EngineConfig::default());
        assert_eq!(settings.engine.client_lock_ttl, Duration::from_secs(30));
        assert_eq!(settings.engine.queue_stall_alert, Duration::from_secs(600));
        // Every default written in KEYS parses to the engine's default.
        let mut from_keys = Settings::default();
        for (key, default, _) in KEYS {
            if !default.is_empty() {
                from_keys.set(key, default, "KEYS").expect(key);
            }
        }
        assert_eq!(from_keys.engine, EngineConfig::default());
        assert_eq!(from_keys.event_namespace, "App\\Events");
        assert_eq!(from_keys.pusher, Settings::default().pusher, "every pusher_* default in KEYS is the server's");
        assert_eq!(from_keys.webhooks, WebhookSettings::default(), "every webhook default in KEYS is the service's");
    }

    #[test]
    fn pusher_keys_set_the_pusher_server_and_refuse_bad_values() {
        let mut settings = Settings::default();
        settings
            .apply_toml(
                "pusher_max_event_bytes = 2048\npusher_client_events = false\npusher_webhook_url = \"http://127.0.0.1:9/hooks\"\npusher_activity_timeout = \"20s\"\n",
                "test.toml",
            )
            .expect("valid file");
        assert_eq!(settings.pusher.max_event_bytes, 2048);
        assert!(!settings.pusher.client_events);
        assert_eq!(settings.pusher.webhook_url.as_deref(), Some("http://127.0.0.1:9/hooks"));
        assert_eq!(settings.pusher.activity_timeout_seconds, 20);
        settings
            .apply_env([("SWITCHBOARD_PUSHER_MAX_PRESENCE_MEMBERS".to_owned(), "7".to_owned())])
            .expect("valid env");
        assert_eq!(settings.pusher.max_presence_members, 7);
        for bad in [
            "pusher_max_batch_events = 0",
            "pusher_client_events = \"yes\"",
            "pusher_webhook_url = \"https://example.com\"",
            "pusher_webhook_retry_window = \"1m\"",
            "pusher_activity_timeout = \"0s\"",
            "pusher_timestamp_window = \"1500ms\"",
            "pusher_unknown = 1",
        ] {
            let error = settings.apply_toml(bad, "f").expect_err(bad);
            assert!(error.to_string().contains(bad.split(' ').next().unwrap_or_default()), "{error}");
        }
        assert_eq!(settings.pusher.max_batch_events, 10, "a refused value changes nothing");
    }

    #[test]
    fn webhook_keys_are_validated() {
        let mut settings = Settings::default();
        settings
            .apply_toml(
                "webhook_url = \"http://127.0.0.1:9/hooks\"\nwebhook_timeout = \"2s\"\nwebhook_retry_schedule = \"1s, 2s\"\nevent_retention = \"1d\"\nwebhook_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
                "test.toml",
            )
            .expect("valid file");
        assert_eq!(settings.webhooks.url.as_deref(), Some("http://127.0.0.1:9/hooks"));
        assert_eq!(settings.webhooks.timeout, Duration::from_secs(2));
        assert_eq!(settings.webhooks.retry_schedule, vec![Duration::from_secs(1), Duration::from_secs(2)]);
        assert_eq!(settings.webhooks.event_retention, Duration::from_secs(86_400));
        for (bad, says) in [
            ("webhook_url = \"https://host/hooks\"", "https:// is not supported"),
            ("webhook_url = \"ftp://host\"", "not an http:// URL"),
            ("webhook_url = \"http:///x\"", "not an http://host"),
            ("webhook_secret = \"secret\"", "whsec_"),
            ("webhook_secret = \"whsec_!!!\"", "base64"),
            ("webhook_timeout = \"0s\"", "longer than zero"),
            ("webhook_timeout = \"1h\"", "at most 5m"),
            ("webhook_retry_schedule = \"5s,,5m\"", "retry 2"),
            ("webhook_retry_schedule = \"5\"", "no unit"),
            ("event_retention = \"10s\"", "at least 1m"),
        ] {
            let error = settings.apply_toml(bad, "f").expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        assert_eq!(
            settings.webhooks.url.as_deref(),
            Some("http://127.0.0.1:9/hooks"),
            "a refused value changes nothing"
        );
    }

    #[test]
    fn file_then_environment() {
        let mut settings = Settings::default();
        settings
            .apply_toml(
                "inactivity_threshold = \"2s\"\nmax_profiles_per_moderator = 5\nconflict_strategy = \"id\"\nlisten = \"0.0.0.0:9000\"\n",
                "test.toml",
            )
            .expect("valid file");
        assert_eq!(settings.engine.inactivity_threshold, Duration::from_secs(2));
        assert_eq!(settings.engine.max_profiles_per_moderator, 5);
        assert_eq!(settings.engine.conflict_strategy, ConflictStrategy::Id);
        settings
            .apply_env([
                ("SWITCHBOARD_INACTIVITY_THRESHOLD".to_owned(), "3s".to_owned()),
                ("SWITCHBOARD_EVENT_NAMESPACE".to_owned(), String::new()),
                ("UNRELATED".to_owned(), "x".to_owned()),
            ])
            .expect("valid env");
        assert_eq!(settings.engine.inactivity_threshold, Duration::from_secs(3));
        assert_eq!(settings.event_namespace, "");
        assert_eq!(settings.base_url(settings.listen), "http://127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut settings = Settings::default();
        let error = settings.apply_toml("inactivity_treshold = \"2s\"", "switchboard.toml").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("unknown key `inactivity_treshold`"), "{message}");
        assert!(message.contains("inactivity_threshold"), "{message}");
        let error = settings.apply_toml("client_lock_ttl = 30", "switchboard.toml").unwrap_err();
        assert!(error.to_string().contains("no unit"), "{error}");
        let error = settings.apply_toml("conflict_strategy = \"random\"", "f").unwrap_err();
        assert!(error.to_string().contains("conflict_strategy"), "{error}");
        assert!(settings.apply_toml("listen = [1]", "f").is_err());
        assert!(settings.apply_toml("not toml at all [", "f").is_err());
        assert!(settings.apply_toml("monitor_interval = \"0s\"", "f").is_err());
        assert!(settings.apply_toml("database_url = \"mysql://x\"", "f").is_err());
    }

    #[test]
    fn redis_keys_take_plain_urls_and_safe_prefixes() {
        let mut settings = Settings::default();
        assert_eq!(
            (settings.cluster.redis_url.as_deref(), settings.cluster.redis_prefix.as_str()),
            (None, "switchboard:")
        );
        settings.apply_toml("redis_url = \"redis://10.0.0.5:6379/1\"\nredis_prefix = \"app-a:\"", "f").expect("valid");
        assert_eq!(settings.cluster.redis_url.as_deref(), Some("redis://10.0.0.5:6379/1"));
        assert_eq!(settings.cluster.redis_prefix, "app-a:");
        for refused in ["rediss://cache:6380", "cache:6379", "http://cache"] {
            let error = settings.apply_toml(&format!("redis_url = \"{refused}\""), "f").unwrap_err();
            assert!(error.to_string().contains("redis_url"), "{error}");
        }
        assert!(settings.apply_toml("redis_prefix = \"has space\"", "f").is_err());
        settings.apply_toml("redis_url = \"\"", "f").expect("empty turns it off");
        assert_eq!(settings.cluster.redis_url, None);
    }
}
