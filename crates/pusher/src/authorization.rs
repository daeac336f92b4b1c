//! The `/broadcasting/auth` endpoint's mechanics: reading `socket_id` and `channel_name`
//! from a form or JSON body, validating them, asking the embedder's closure whether the
//! caller may have the channel, and answering with the signature. Who the caller is (the
//! bearer token, its role) is the embedder's business, inside that closure.
//!
//! Answers: 200 `{"auth": "<key>:<hex>"}`; 403 `{"error":{"code":"forbidden",...}}`;
//! 400, 413 or 422 `{"error":{"code":"invalid_request",...}}`. Never a 5xx.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::channel_name::{validate_channel_name, ChannelKind, ChannelNameError};
use crate::realtime::Realtime;
use crate::socket_id::is_valid_socket_id;

/// Largest request body read; pusher-js sends well under 300 bytes.
pub const MAX_AUTHORIZATION_BODY_BYTES: usize = 8 * 1024;

/// The embedder's refusal: the caller may not subscribe to this channel. The message is
/// sent to the client in the 403 body, so it must not reveal more than the caller may know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthDenied {
    message: String,
}

impl AuthDenied {
    /// A refusal with the message the client will see.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message the client will see.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a channel cannot be signed for a socket, whoever asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelAuthorizationError {
    /// `socket_id` is not `<digits>.<digits>`.
    #[error("socket_id must look like 1234.5678")]
    InvalidSocketId,
    /// `channel_name` is not a valid Pusher channel name.
    #[error("invalid channel_name: {0}")]
    InvalidChannelName(#[from] ChannelNameError),
    /// Only `private-` channels are signed: public ones need no signature, presence and
    /// encrypted ones are not supported.
    #[error("only private- channels are authorized here, not {0:?} ones")]
    NotPrivate(ChannelKind),
}

impl Realtime {
    /// Validates `socket_id` and `channel` (a `private-` channel) and returns the `auth`
    /// value to answer with. The check of *who* may have the channel is the caller's.
    ///
    /// # Errors
    /// A malformed socket id or channel name, or a channel that is not `private-`.
    pub fn authorize_channel(&self, socket_id: &str, channel: &str) -> Result<String, ChannelAuthorizationError> {
        if !is_valid_socket_id(socket_id) {
            return Err(ChannelAuthorizationError::InvalidSocketId);
        }
        match validate_channel_name(channel)? {
            ChannelKind::Private => Ok(self.sign_channel(socket_id, channel)),
            other => Err(ChannelAuthorizationError::NotPrivate(other)),
        }
    }

    /// A `POST` handler for the service's `/broadcasting/auth` route. `authorize` gets the
    /// request headers and the full channel name (`private-moderator.42`) of a well-formed
    /// request, and decides; it is called only for valid `private-` channels.
    pub fn authorization_handler<Authorize, State>(&self, authorize: Authorize) -> MethodRouter<State>
    where
        Authorize: Fn(&HeaderMap, &str) -> Result<(), AuthDenied> + Clone + Send + Sync + 'static,
        State: Clone + Send + Sync + 'static,
    {
        self.authorization_handler_async(move |headers: HeaderMap, channel: String| {
            let decision = authorize(&headers, &channel);
            std::future::ready(decision)
        })
    }

    /// As [`Realtime::authorization_handler`], for a decision that must await (a database
    /// look-up, a call to the service's single writer).
    pub fn authorization_handler_async<Authorize, Decision, State>(&self, authorize: Authorize) -> MethodRouter<State>
    where
        Authorize: Fn(HeaderMap, String) -> Decision + Clone + Send + Sync + 'static,
        Decision: Future<Output = Result<(), AuthDenied>> + Send + 'static,
        State: Clone + Send + Sync + 'static,
    {
        let realtime = self.clone();
        post(move |request: Request| {
            let realtime = realtime.clone();
            let authorize = authorize.clone();
            async move {
                match read_and_validate(&realtime, request).await {
                    Ok((headers, channel, auth)) => match authorize(headers, channel).await {
                        Ok(()) => granted(&auth),
                        Err(denied) => Failure::Denied(denied).into_response(),
                    },
                    Err(failure) => failure.into_response(),
                }
            }
        })
    }
}

/// The fields pusher-js posts; others are ignored.
#[derive(Debug, Default, Deserialize)]
struct AuthorizationFields {
    socket_id: Option<String>,
    channel_name: Option<String>,
}

/// Everything that stops a request short of a signature.
#[derive(Debug)]
enum Failure {
    /// The body could not be read or parsed (400).
    Malformed(String),
    /// The body is larger than [`MAX_AUTHORIZATION_BODY_BYTES`] (413).
    TooLarge,
    /// A field is missing or invalid (422).
    Invalid(String),
    /// Not a channel this server signs (403).
    NotPrivate(ChannelKind),
    /// The embedder said no (403).
    Denied(AuthDenied),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::Malformed(message) => (StatusCode::BAD_REQUEST, "invalid_request", message),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the request body is larger than {MAX_AUTHORIZATION_BODY_BYTES} bytes"),
            ),
            Self::Invalid(message) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message),
            Self::NotPrivate(kind) => {
                (StatusCode::FORBIDDEN, "forbidden", ChannelAuthorizationError::NotPrivate(kind).to_string())
            }
            Self::Denied(denied) => (StatusCode::FORBIDDEN, "forbidden", denied.message),
        };
        (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
    }
}

fn granted(auth: &str) -> Response {
    Json(json!({ "auth": auth })).into_response()
}

/// Reads the body and checks the fields; returns the headers, the channel and its
/// signature, ready to hand out if the embedder agrees.
async fn read_and_validate(realtime: &Realtime, request: Request) -> Result<(HeaderMap, String, String), Failure> {
    let (parts, body) = request.into_parts();
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_AUTHORIZATION_BODY_BYTES) {
        return Err(Failure::TooLarge);
    }
    let body = axum::body::to_bytes(body, MAX_AUTHORIZATION_BODY_BYTES).await.map_err(|_| Failure::TooLarge)?;
    let fields = parse_fields(&parts.headers, &body)?;
    let socket_id = fields.socket_id.ok_or_else(|| Failure::Invalid("socket_id is required".to_owned()))?;
    let channel = fields.channel_name.ok_or_else(|| Failure::Invalid("channel_name is required".to_owned()))?;
    let auth = realtime.authorize_channel(&socket_id, &channel).map_err(|error| match error {
        ChannelAuthorizationError::NotPrivate(kind) => Failure::NotPrivate(kind),
        other => Failure::Invalid(other.to_string()),
    })?;
    Ok((parts.headers, channel, auth))
}

/// JSON when the content type says so, form-urlencoded otherwise (what pusher-js sends).
fn parse_fields(headers: &HeaderMap, body: &Bytes) -> Result<AuthorizationFields, Failure> {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type == "application/json" || media_type.ends_with("+json") {
        serde_json::from_slice(body).map_err(|error| Failure::Malformed(format!("the JSON body is not valid: {error}")))
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|error| Failure::Malformed(format!("the form body is not valid: {error}")))
    }
}

#[cfg(test)]
mod tests;
