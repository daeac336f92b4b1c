//! The server's configuration: the Pusher app's credentials and every bound the server
//! enforces. Validation happens once, when a [`crate::Realtime`] is built; nothing else
//! in the crate re-checks these values.

use std::fmt;
use std::time::Duration;

use crate::codes::TRANSPORT_LIMIT_FACTOR;

/// Seconds of client silence after which the server pings; also sent to clients as
/// `activity_timeout` (pusher-js uses the smaller of this and its own 120 s).
pub const DEFAULT_ACTIVITY_TIMEOUT_SECONDS: u64 = 30;
/// Seconds the server waits for any frame after its own `pusher:ping` (Pusher's figure).
pub const DEFAULT_PONG_TIMEOUT_SECONDS: u64 = 30;
/// Open sockets accepted at once across the whole server.
pub const DEFAULT_MAX_SOCKETS: usize = 10_000;
/// Channels one socket may be subscribed to at once.
pub const DEFAULT_MAX_CHANNELS_PER_SOCKET: usize = 100;
/// Largest client frame handled; Pusher's own limit for event data is 10 KiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 10 * 1024;
/// Frames waiting to be written to one socket before it counts as a slow consumer.
pub const DEFAULT_MAX_QUEUED_FRAMES_PER_SOCKET: usize = 512;
/// Largest `data` of one event published through the HTTP API (Pusher's 10 KiB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 10 * 1024;
/// Channels one HTTP-API trigger may name (Pusher's 100).
pub const DEFAULT_MAX_CHANNELS_PER_EVENT: usize = 100;
/// Events one `batch_events` request may carry (Pusher's 10).
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 10;
/// Distinct users on one presence channel (Pusher's 100).
pub const DEFAULT_MAX_PRESENCE_MEMBERS: usize = 100;
/// Largest `user_info` of one presence member, as JSON text (Pusher's 1 KB, rounded up).
pub const DEFAULT_MAX_PRESENCE_MEMBER_INFO_BYTES: usize = 2 * 1024;
/// Client events one socket may send per second (Pusher's 10).
pub const DEFAULT_CLIENT_EVENTS_PER_SECOND: usize = 10;
/// How far an HTTP-API request's `auth_timestamp` may be from the server's clock (Pusher's 600 s).
pub const DEFAULT_TIMESTAMP_WINDOW_SECONDS: u64 = 600;
/// Webhook events waiting to be sent before new ones are dropped.
pub const DEFAULT_WEBHOOK_QUEUE_EVENTS: usize = 10_000;
/// How long a failing webhook batch keeps being retried before it is dropped.
pub const DEFAULT_WEBHOOK_RETRY_WINDOW_SECONDS: u64 = 600;

const MAX_ACTIVITY_TIMEOUT_SECONDS: u64 = 3_600;
const MAX_PONG_TIMEOUT_SECONDS: u64 = 3_600;
const MIN_FRAME_BYTES: usize = 1_024;
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
const MAX_APP_KEY_BYTES: usize = 256;

/// Everything the Pusher server needs to know, with the defaults of [`PusherConfig::new`].
///
/// The fields are public so that the embedder can fill them from its own configuration
/// layers; [`crate::Realtime::new`] validates them.
#[derive(Clone, PartialEq, Eq)]
pub struct PusherConfig {
    /// The Pusher app id. Not used on the WebSocket (clients only know the key); kept so the
    /// embedder has one place for the three credentials.
    pub app_id: String,
    /// The public app key: clients connect to `/app/{app_key}` and private channel
    /// signatures start with it. ASCII letters, digits, `-`, `_` and `.` only.
    pub app_key: String,
    /// The secret that signs private channel subscriptions. Never sent to clients and
    /// never printed by `Debug`.
    pub app_secret: String,
    /// Sent to clients as `activity_timeout`; the server pings a client silent for this
    /// long. Never 0: pusher-js refuses a handshake without it.
    pub activity_timeout_seconds: u64,
    /// How long the server waits for any frame after pinging before it closes with 4201.
    pub pong_timeout_seconds: u64,
    /// Open sockets at once; the next one is refused with 4100.
    pub max_sockets: usize,
    /// Channels per socket; the next subscription gets `pusher:subscription_error`.
    pub max_channels_per_socket: usize,
    /// Largest client frame handled. Larger ones get `pusher:error` 4301 and are dropped;
    /// frames over [`TRANSPORT_LIMIT_FACTOR`] times this close the socket with 1009.
    pub max_frame_bytes: usize,
    /// Frames queued for one socket; when a publish finds the queue full the socket is
    /// closed with 4100 rather than letting one slow client hold memory without bound.
    pub max_queued_frames_per_socket: usize,
    /// Largest `data` of an HTTP-API event: larger ones are refused with 413.
    pub max_event_bytes: usize,
    /// Channels one HTTP-API event may be published to: more is a 400.
    pub max_channels_per_event: usize,
    /// Events in one `batch_events` request: more is a 400.
    pub max_batch_events: usize,
    /// Distinct users on one presence channel: a new user's subscription is refused beyond.
    pub max_presence_members: usize,
    /// Largest `user_info` (JSON text) of a presence member: a larger one is refused.
    pub max_presence_member_info_bytes: usize,
    /// Whether `client-*` events are relayed on private and presence channels.
    pub client_events: bool,
    /// Client events one socket may send in any one second; beyond, `pusher:error` 4301
    /// and the event is dropped.
    pub client_events_per_second: usize,
    /// An HTTP-API request whose `auth_timestamp` is further than this from the clock is 401.
    pub timestamp_window_seconds: u64,
    /// Where Pusher webhooks are posted (`http://` only); none when `None`.
    pub webhook_url: Option<String>,
    /// Webhook events waiting to be sent; beyond, new events are dropped and counted.
    pub webhook_queue_events: usize,
    /// How long a failing webhook batch is retried (with backoff) before it is dropped.
    pub webhook_retry_window_seconds: u64,
}

impl PusherConfig {
    /// A configuration with the given credentials and every bound at its default.
    pub fn new(app_id: impl Into<String>, app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            activity_timeout_seconds: DEFAULT_ACTIVITY_TIMEOUT_SECONDS,
            pong_timeout_seconds: DEFAULT_PONG_TIMEOUT_SECONDS,
            max_sockets: DEFAULT_MAX_SOCKETS,
            max_channels_per_socket: DEFAULT_MAX_CHANNELS_PER_SOCKET,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_queued_frames_per_socket: DEFAULT_MAX_QUEUED_FRAMES_PER_SOCKET,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_channels_per_event: DEFAULT_MAX_CHANNELS_PER_EVENT,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            max_presence_members: DEFAULT_MAX_PRESENCE_MEMBERS,
            max_presence_member_info_bytes: DEFAULT_MAX_PRESENCE_MEMBER_INFO_BYTES,
            client_events: true,
            client_events_per_second: DEFAULT_CLIENT_EVENTS_PER_SECOND,
            timestamp_window_seconds: DEFAULT_TIMESTAMP_WINDOW_SECONDS,
            webhook_url: None,
            webhook_queue_events: DEFAULT_WEBHOOK_QUEUE_EVENTS,
            webhook_retry_window_seconds: DEFAULT_WEBHOOK_RETRY_WINDOW_SECONDS,
        }
    }

    /// Checks every field; [`crate::Realtime::new`] calls it, so a running server never
    /// holds an invalid configuration.
    ///
    /// # Errors
    /// The first field, in declaration order, that is empty or out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.app_id.is_empty() {
            return Err(ConfigError::Empty { field: "app_id" });
        }
        if self.app_secret.is_empty() {
            return Err(ConfigError::Empty { field: "app_secret" });
        }
        validate_app_key(&self.app_key)?;
        check_range("activity_timeout_seconds", self.activity_timeout_seconds, 1, MAX_ACTIVITY_TIMEOUT_SECONDS)?;
        check_range("pong_timeout_seconds", self.pong_timeout_seconds, 1, MAX_PONG_TIMEOUT_SECONDS)?;
        check_range("max_sockets", as_u64(self.max_sockets), 1, u64::MAX)?;
        check_range("max_channels_per_socket", as_u64(self.max_channels_per_socket), 1, u64::MAX)?;
        check_range("max_frame_bytes", as_u64(self.max_frame_bytes), as_u64(MIN_FRAME_BYTES), as_u64(MAX_FRAME_BYTES))?;
        // tokio's bounded channel refuses more than this many slots.
        check_range(
            "max_queued_frames_per_socket",
            as_u64(self.max_queued_frames_per_socket),
            1,
            as_u64(tokio::sync::Semaphore::MAX_PERMITS),
        )?;
        check_range("max_event_bytes", as_u64(self.max_event_bytes), 1, as_u64(MAX_FRAME_BYTES))?;
        check_range("max_channels_per_event", as_u64(self.max_channels_per_event), 1, 10_000)?;
        check_range("max_batch_events", as_u64(self.max_batch_events), 1, 10_000)?;
        check_range("max_presence_members", as_u64(self.max_presence_members), 1, 1_000_000)?;
        check_range("max_presence_member_info_bytes", as_u64(self.max_presence_member_info_bytes), 2, 1 << 20)?;
        check_range("client_events_per_second", as_u64(self.client_events_per_second), 1, 10_000)?;
        check_range("timestamp_window_seconds", self.timestamp_window_seconds, 1, 86_400)?;
        check_range("webhook_queue_events", as_u64(self.webhook_queue_events), 1, 10_000_000)?;
        // The floor: a receiver that is down for five minutes loses nothing.
        check_range("webhook_retry_window_seconds", self.webhook_retry_window_seconds, 300, 7 * 86_400)?;
        if let Some(url) = &self.webhook_url {
            if !url.starts_with("http://") || url.len() <= "http://".len() {
                return Err(ConfigError::InvalidWebhookUrl);
            }
        }
        Ok(())
    }

    pub(crate) fn activity_timeout(&self) -> Duration {
        Duration::from_secs(self.activity_timeout_seconds)
    }

    pub(crate) fn pong_timeout(&self) -> Duration {
        Duration::from_secs(self.pong_timeout_seconds)
    }

    /// The size past which the WebSocket layer refuses a message outright.
    pub(crate) fn transport_limit_bytes(&self) -> usize {
        self.max_frame_bytes.saturating_mul(TRANSPORT_LIMIT_FACTOR)
    }
}

impl fmt::Debug for PusherConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PusherConfig")
            .field("app_id", &self.app_id)
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("activity_timeout_seconds", &self.activity_timeout_seconds)
            .field("pong_timeout_seconds", &self.pong_timeout_seconds)
            .field("max_sockets", &self.max_sockets)
            .field("max_channels_per_socket", &self.max_channels_per_socket)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_queued_frames_per_socket", &self.max_queued_frames_per_socket)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_channels_per_event", &self.max_channels_per_event)
            .field("max_batch_events", &self.max_batch_events)
            .field("max_presence_members", &self.max_presence_members)
            .field("max_presence_member_info_bytes", &self.max_presence_member_info_bytes)
            .field("client_events", &self.client_events)
            .field("client_events_per_second", &self.client_events_per_second)
            .field("timestamp_window_seconds", &self.timestamp_window_seconds)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_queue_events", &self.webhook_queue_events)
            .field("webhook_retry_window_seconds", &self.webhook_retry_window_seconds)
            .finish()
    }
}

/// Why a [`PusherConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A credential is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// The app key contains a character that cannot appear in `/app/{key}` or before the
    /// `:` of a channel signature, or is too long.
    #[error("app_key must be 1 to {MAX_APP_KEY_BYTES} ASCII letters, digits, '-', '_' or '.'")]
    InvalidAppKey,
    /// The webhook URL is not an `http://` URL (no TLS client is built in).
    #[error("webhook_url must start with http://")]
    InvalidWebhookUrl,
    /// Webhooks need a tokio runtime to run their sender on, and `build` found none.
    #[error("webhooks need a tokio runtime: build the server inside one")]
    NoRuntime,
    /// A bound is outside what the server supports.
    #[error("{field} must be between {minimum} and {maximum}, got {value}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest accepted value.
        minimum: u64,
        /// The largest accepted value.
        maximum: u64,
    },
}

fn validate_app_key(app_key: &str) -> Result<(), ConfigError> {
    let allowed = |character: char| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.');
    if app_key.is_empty() || app_key.len() > MAX_APP_KEY_BYTES || !app_key.chars().all(allowed) {
        return Err(ConfigError::InvalidAppKey);
    }
    Ok(())
}

fn check_range(field: &'static str, value: u64, minimum: u64, maximum: u64) -> Result<(), ConfigError> {
    if (minimum..=maximum).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { field, value, minimum, maximum })
    }
}

fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> PusherConfig {
        PusherConfig::new("1", "key", "secret")
    }

    #[test]
    fn defaults_are_valid() {
        let config = valid();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.activity_timeout_seconds, 30);
        assert_eq!(config.max_sockets, 10_000);
        assert_eq!(config.max_channels_per_socket, 100);
        assert_eq!(config.max_frame_bytes, 10 * 1024);
    }

    #[test]
    fn activity_timeout_is_never_zero() {
        let config = PusherConfig { activity_timeout_seconds: 0, ..valid() };
        assert!(matches!(config.validate(), Err(ConfigError::OutOfRange { field: "activity_timeout_seconds", .. })));
    }

    #[test]
    fn empty_credentials_are_refused() {
        let no_secret = PusherConfig::new("1", "key", "");
        assert_eq!(no_secret.validate(), Err(ConfigError::Empty { field: "app_secret" }));
        let no_key = PusherConfig::new("1", "", "secret");
        assert_eq!(no_key.validate(), Err(ConfigError::InvalidAppKey));
    }

    #[test]
    fn app_key_with_a_colon_is_refused() {
        let config = PusherConfig::new("1", "a:b", "secret");
        assert_eq!(config.validate(), Err(ConfigError::InvalidAppKey));
    }

    #[test]
    fn zero_limits_are_refused() {
        for config in [
            PusherConfig { max_sockets: 0, ..valid() },
            PusherConfig { max_channels_per_socket: 0, ..valid() },
            PusherConfig { max_queued_frames_per_socket: 0, ..valid() },
            PusherConfig { pong_timeout_seconds: 0, ..valid() },
            PusherConfig { max_frame_bytes: 10, ..valid() },
            PusherConfig { max_event_bytes: 0, ..valid() },
            PusherConfig { max_batch_events: 0, ..valid() },
            PusherConfig { client_events_per_second: 0, ..valid() },
            PusherConfig { webhook_retry_window_seconds: 299, ..valid() },
            PusherConfig { webhook_url: Some("https://example.com/hook".into()), ..valid() },
        ] {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let printed = format!("{:?}", PusherConfig::new("1", "key", "do-not-print"));
        assert!(!printed.contains("do-not-print"));
        assert!(printed.contains("<redacted>"));
    }
}
