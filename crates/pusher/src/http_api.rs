//! The Pusher HTTP API, so that a host's Laravel broadcaster (or any Pusher server SDK)
//! publishes through this server: `POST /apps/{app_id}/events` and `batch_events`,
//! `GET /apps/{app_id}/channels`, `channels/{name}` and `channels/{name}/users`, and
//! `POST /apps/{app_id}/users/{user_id}/terminate_connections`.
//!
//! Every request is signed as Pusher specifies and checked before anything else is read:
//! `auth_key` must be the app key, `auth_timestamp` within `timestamp_window_seconds` of
//! the injected clock, `auth_version` `1.0`, `body_md5` the MD5 of the body, and
//! `auth_signature` the hex HMAC-SHA256 of `METHOD\nPATH\nsorted query` (without the
//! signature), compared in constant time. A request is checked whole before anything is
//! published: a refused request publishes nothing. Answers are Pusher's: `{}` or the
//! requested JSON on success; on refusal 400, 401, 403, 404 or 413 with a plain-text
//! sentence, as Pusher sends.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::channel_name::{validate_channel_name, ChannelKind};
use crate::peers::PeerMessage;
use crate::registry::CloseRequest;
use crate::session::{MAX_EVENT_NAME_BYTES, MAX_USER_ID_BYTES};
use crate::shared::Shared;
use crate::signature::verify_hex_hmac;
use crate::socket_id::SocketId;

/// Room for the JSON around the events' data in a request body.
const BODY_OVERHEAD_BYTES: usize = 64 * 1024;

/// Why a request was refused; each answers with its status and a plain-text sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Unknown app")]
    UnknownApp,
    #[error("{0}")]
    TooLarge(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnknownApp => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// The routes `router` serves, as `(method, path, what it does)`, for the embedder's API
/// description (Switchboard's `/openapi.json`); a test checks that each one is routed.
pub const HTTP_API_ROUTES: &[(Method, &str, &str)] = &[
    (Method::POST, "/apps/{app_id}/events", "Pusher: publish an event on up to 100 channels"),
    (Method::POST, "/apps/{app_id}/batch_events", "Pusher: publish up to 10 events"),
    (Method::GET, "/apps/{app_id}/channels", "Pusher: occupied channels (filter_by_prefix, info=user_count)"),
    (Method::GET, "/apps/{app_id}/channels/{channel_name}", "Pusher: one channel's occupancy and counts"),
    (Method::GET, "/apps/{app_id}/channels/{channel_name}/users", "Pusher: the users of a presence channel"),
    (Method::POST, "/apps/{app_id}/users/{user_id}/terminate_connections", "Pusher: close a user's connections"),
];

/// The routes, ready to merge into the embedder's router.
pub(crate) fn router<State>(shared: Arc<Shared>) -> Router<State>
where
    State: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/apps/{app_id}/events", post(trigger))
        .route("/apps/{app_id}/batch_events", post(trigger_batch))
        .route("/apps/{app_id}/channels", get(channels))
        .route("/apps/{app_id}/channels/{channel_name}", get(channel))
        .route("/apps/{app_id}/channels/{channel_name}/users", get(users))
        .route("/apps/{app_id}/users/{user_id}/terminate_connections", post(terminate_connections))
        .with_state(shared)
}

/// A request whose signature held: its query parameters (keys lowercased) and body.
struct Signed {
    params: BTreeMap<String, String>,
    body: Bytes,
}

impl Signed {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

fn answer(shared: &Shared, outcome: Result<Value, ApiError>) -> Response {
    match outcome {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => {
            shared.stats.record_api_requests_refused();
            tracing::debug!(%error, "HTTP API request refused");
            (error.status(), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{error}\n"))
                .into_response()
        }
    }
}

async fn trigger(State(shared): State<Arc<Shared>>, Path(app_id): Path<String>, request: Request) -> Response {
    let outcome = async {
        let signed = authenticate(&shared, &app_id, request).await?;
        let event: EventBody = parse_json(&signed.body)?;
        let event = validate_event(&shared, event, true)?;
        let info = publish(&shared, &event);
        Ok(if event.info.any() { json!({"channels": info}) } else { json!({}) })
    }
    .await;
    answer(&shared, outcome)
}

async fn trigger_batch(State(shared): State<Arc<Shared>>, Path(app_id): Path<String>, request: Request) -> Response {
    #[derive(Deserialize)]
    struct BatchBody {
        batch: Vec<EventBody>,
    }
    let outcome = async {
        let signed = authenticate(&shared, &app_id, request).await?;
        let BatchBody { batch } = parse_json(&signed.body)?;
        let max_batch_events = shared.config.max_batch_events;
        if batch.is_empty() || batch.len() > max_batch_events {
            return Err(ApiError::BadRequest(format!(
                "Batch must hold 1 to {max_batch_events} events, not {}",
                batch.len()
            )));
        }
        let events =
            batch.into_iter().map(|event| validate_event(&shared, event, false)).collect::<Result<Vec<_>, _>>()?;
        let any_info = events.iter().any(|event| event.info.any());
        let infos: Vec<Value> = events
            .iter()
            .map(|event| {
                let mut info = publish(&shared, event);
                event.channels.first().and_then(|channel| info.remove(channel)).unwrap_or_else(|| json!({}))
            })
            .collect();
        Ok(if any_info { json!({"batch": infos}) } else { json!({}) })
    }
    .await;
    answer(&shared, outcome)
}

async fn channels(State(shared): State<Arc<Shared>>, Path(app_id): Path<String>, request: Request) -> Response {
    let outcome = async {
        let signed = authenticate(&shared, &app_id, request).await?;
        let prefix = signed.param("filter_by_prefix").unwrap_or("");
        let info = Info::parse(signed.param("info"))?;
        if info.user_count && !prefix.starts_with("presence-") {
            return Err(ApiError::BadRequest("info=user_count needs filter_by_prefix=presence-".to_owned()));
        }
        let listed: Map<String, Value> = shared
            .registry
            .occupied_channels(prefix)
            .into_iter()
            .map(|(name, counts)| (name, info.describe(counts.subscription_count, counts.user_count)))
            .collect();
        Ok(json!({"channels": listed}))
    }
    .await;
    answer(&shared, outcome)
}

async fn channel(
    State(shared): State<Arc<Shared>>,
    Path((app_id, channel)): Path<(String, String)>,
    request: Request,
) -> Response {
    let outcome = async {
        let signed = authenticate(&shared, &app_id, request).await?;
        let kind = channel_kind(&channel)?;
        let info = Info::parse(signed.param("info"))?;
        if info.user_count && kind != ChannelKind::Presence {
            return Err(ApiError::BadRequest("info=user_count is only for presence channels".to_owned()));
        }
        let counts = shared.registry.counts(&channel);
        let (subscription_count, user_count) =
            counts.map_or((0, 0), |counts| (counts.subscription_count, counts.user_count));
        let mut body = info.describe(subscription_count, user_count);
        body["occupied"] = json!(subscription_count > 0);
        Ok(body)
    }
    .await;
    answer(&shared, outcome)
}

async fn users(
    State(shared): State<Arc<Shared>>,
    Path((app_id, channel)): Path<(String, String)>,
    request: Request,
) -> Response {
    let outcome = async {
        authenticate(&shared, &app_id, request).await?;
        if channel_kind(&channel)? != ChannelKind::Presence {
            return Err(ApiError::BadRequest("Users are only listed for presence channels".to_owned()));
        }
        let users: Vec<Value> = shared.registry.user_ids(&channel).into_iter().map(|id| json!({"id": id})).collect();
        Ok(json!({"users": users}))
    }
    .await;
    answer(&shared, outcome)
}

async fn terminate_connections(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let outcome = async {
        authenticate(&shared, &app_id, request).await?;
        if user_id.is_empty() || user_id.len() > MAX_USER_ID_BYTES {
            return Err(ApiError::BadRequest(format!("user_id must be 1 to {MAX_USER_ID_BYTES} bytes")));
        }
        let closed = shared.registry.close_user(&user_id, &CloseRequest::terminated());
        tracing::info!(user_id, closed, "terminated a user's connections");
        shared.tell_peers(|| PeerMessage::TerminateUser { user_id: user_id.clone() });
        Ok(json!({}))
    }
    .await;
    answer(&shared, outcome)
}

/// The body limit: a full batch of the largest events and the JSON around them.
fn body_limit_bytes(shared: &Shared) -> usize {
    let config = &shared.config;
    config
        .max_batch_events
        .saturating_mul(config.max_event_bytes.saturating_add(1024))
        .saturating_add(BODY_OVERHEAD_BYTES)
}

/// Checks the app id, reads the body within its limit and verifies the signature.
async fn authenticate(shared: &Shared, app_id: &str, request: Request) -> Result<Signed, ApiError> {
    let config = &shared.config;
    if app_id != config.app_id {
        return Err(ApiError::UnknownApp);
    }
    let (parts, body) = request.into_parts();
    let limit = body_limit_bytes(shared);
    let too_large = || ApiError::TooLarge(format!("Request body is larger than the {limit} bytes allowed"));
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|error| ApiError::BadRequest(format!("The query string is not valid: {error}")))?;
    let mut params = BTreeMap::new();
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        if params.contains_key(&name) {
            return Err(ApiError::BadRequest(format!("Query parameter {name} is given twice")));
        }
        params.insert(name, value);
    }
    let signature = params.remove("auth_signature");
    check_auth_params(shared, &params, &body)?;
    let Some(signature) = signature else {
        return Err(ApiError::Unauthorized("auth_signature is required".to_owned()));
    };
    let sorted: Vec<String> = params.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let signed_text = format!("{}\n{}\n{}", parts.method, parts.uri.path(), sorted.join("&"));
    if !verify_hex_hmac(&config.app_secret, signed_text.as_bytes(), &signature) {
        return Err(ApiError::Unauthorized(format!(
            "Invalid signature: expected the hex HMAC-SHA256 of {signed_text:?} with the app secret"
        )));
    }
    Ok(Signed { params, body })
}

fn check_auth_params(shared: &Shared, params: &BTreeMap<String, String>, body: &Bytes) -> Result<(), ApiError> {
    let config = &shared.config;
    if params.get("auth_key").map(String::as_str) != Some(config.app_key.as_str()) {
        return Err(ApiError::Unauthorized("auth_key is missing or is not this app's key".to_owned()));
    }
    if params.get("auth_version").map(String::as_str) != Some("1.0") {
        return Err(ApiError::Unauthorized("auth_version must be 1.0".to_owned()));
    }
    let timestamp_seconds: i64 = params
        .get("auth_timestamp")
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| ApiError::Unauthorized("auth_timestamp must be a whole number of seconds".to_owned()))?;
    let now_seconds = i64::try_from(shared.clock.now_millis() / 1000).unwrap_or(i64::MAX);
    let window = i64::try_from(config.timestamp_window_seconds).unwrap_or(i64::MAX);
    if (now_seconds.saturating_sub(timestamp_seconds)).abs() > window {
        return Err(ApiError::Unauthorized(format!(
            "Timestamp expired: auth_timestamp {timestamp_seconds} is more than {window} s from the server's time {now_seconds}"
        )));
    }
    let body_md5 = params.get("body_md5");
    if !body.is_empty() || body_md5.is_some() {
        let expected = hex::encode(Md5::digest(body));
        if body_md5.map(|given| given.to_ascii_lowercase()) != Some(expected) {
            return Err(ApiError::Unauthorized("body_md5 is missing or is not the MD5 of the body".to_owned()));
        }
    }
    Ok(())
}

fn parse_json<Body: serde::de::DeserializeOwned>(body: &Bytes) -> Result<Body, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::BadRequest(format!("The body is not valid: {error}")))
}

fn channel_kind(channel: &str) -> Result<ChannelKind, ApiError> {
    validate_channel_name(channel).map_err(|error| ApiError::BadRequest(format!("Invalid channel name: {error}")))
}

/// One event as the SDKs send it.
#[derive(Deserialize)]
struct EventBody {
    name: String,
    data: String,
    channel: Option<String>,
    channels: Option<Vec<String>>,
    socket_id: Option<String>,
    info: Option<String>,
}

/// An event that passed every check.
struct ValidEvent {
    name: String,
    data: String,
    channels: Vec<String>,
    except: Option<SocketId>,
    info: Info,
}

/// The attributes asked for with `info=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Info {
    subscription_count: bool,
    user_count: bool,
}

impl Info {
    fn parse(info: Option<&str>) -> Result<Self, ApiError> {
        let mut parsed = Self::default();
        for attribute in info.unwrap_or("").split(',').map(str::trim).filter(|attribute| !attribute.is_empty()) {
            match attribute {
                "subscription_count" => parsed.subscription_count = true,
                "user_count" => parsed.user_count = true,
                other => return Err(ApiError::BadRequest(format!("Unknown info attribute {other:?}"))),
            }
        }
        Ok(parsed)
    }

    fn any(self) -> bool {
        self.subscription_count || self.user_count
    }

    fn describe(self, subscription_count: usize, user_count: usize) -> Value {
        let mut described = Map::new();
        if self.subscription_count {
            described.insert("subscription_count".to_owned(), json!(subscription_count));
        }
        if self.user_count {
            described.insert("user_count".to_owned(), json!(user_count));
        }
        Value::Object(described)
    }
}

fn validate_event(shared: &Shared, event: EventBody, many_channels: bool) -> Result<ValidEvent, ApiError> {
    let config = &shared.config;
    let EventBody { name, data, channel, channels, socket_id, info } = event;
    if name.is_empty() || name.len() > MAX_EVENT_NAME_BYTES {
        return Err(ApiError::BadRequest(format!("Event name must be 1 to {MAX_EVENT_NAME_BYTES} bytes")));
    }
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return Err(ApiError::BadRequest("Event names starting with pusher: are the protocol's own".to_owned()));
    }
    let channels = match (channel, channels) {
        (Some(channel), None) => vec![channel],
        (None, Some(channels)) if many_channels => channels,
        _ if many_channels => return Err(ApiError::BadRequest("Give either channel or channels".to_owned())),
        _ => return Err(ApiError::BadRequest("Each batched event needs one channel".to_owned())),
    };
    let max_channels = config.max_channels_per_event;
    if channels.is_empty() || channels.len() > max_channels {
        return Err(ApiError::BadRequest(format!(
            "An event goes to 1 to {max_channels} channels, not {}",
            channels.len()
        )));
    }
    let info = Info::parse(info.as_deref())?;
    for channel in &channels {
        let kind = channel_kind(channel)?;
        if info.user_count && kind != ChannelKind::Presence {
            return Err(ApiError::BadRequest("info=user_count is only for presence channels".to_owned()));
        }
    }
    if let Some(reserved) = channels.iter().find(|channel| shared.is_reserved(channel)) {
        return Err(ApiError::Forbidden(format!(
            "Channel {reserved} is reserved: it accepts no publish from this API"
        )));
    }
    if data.len() > config.max_event_bytes {
        return Err(ApiError::TooLarge(format!(
            "Event data is {} bytes, more than the {} allowed",
            data.len(),
            config.max_event_bytes
        )));
    }
    let except = match socket_id {
        None => None,
        Some(socket_id) => Some(
            SocketId::parse(&socket_id)
                .map_err(|_| ApiError::BadRequest("socket_id must look like 1234.5678".to_owned()))?,
        ),
    };
    Ok(ValidEvent { name, data, channels, except, info })
}

/// Publishes a checked event on each of its channels; the requested info per channel.
fn publish(shared: &Shared, event: &ValidEvent) -> Map<String, Value> {
    let mut info = Map::new();
    for channel in &event.channels {
        shared.publish(channel, &event.name, &event.data, event.except.as_ref());
        if event.info.any() {
            let counts = shared.registry.counts(channel);
            let (subscriptions, users) = counts.map_or((0, 0), |counts| (counts.subscription_count, counts.user_count));
            info.insert(channel.clone(), event.info.describe(subscriptions, users));
        }
    }
    info
}

#[cfg(test)]
mod tests;
