//! The one HTTP error type: every refusal of every route becomes an [`Error`], and this is
//! the only place where engine rejections and writer failures are given a status and a code.
//!
//! Body: `{"error": {"code": "<snake_case>", "message": "<for a person>"}}`. Internal
//! details (storage messages) are logged here and never sent to the caller.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use switchboard_engine::Rejection;
use switchboard_store::WriteError;

/// A refused or failed request.
#[derive(Debug)]
pub enum Error {
    /// 401: no token, or an expired, forged or malformed one.
    Unauthorized(String),
    /// 403: the caller may not do this.
    Forbidden(String),
    /// 404: no such entity or route.
    NotFound(String),
    /// 400 (unreadable body) or 422 (readable but wrong), code `invalid_request`.
    Invalid { status: StatusCode, message: String },
    /// 405: the route exists with other methods.
    MethodNotAllowed(String),
    /// 409 with a specific code (`client_locked`, `double_initiation`, ...).
    Conflict { code: &'static str, message: String },
    /// 410 with a specific code (`cursor_expired`: the feed no longer holds what followed).
    Gone { code: &'static str, message: String },
    /// 503: storage is unreachable or the service is stopping. The detail is logged only.
    Unavailable { detail: String },
    /// 503 `unavailable`: this node is a standby of a cluster; the message names the writer
    /// (its `advertise_url`) so that a caller or an operator can go there.
    Standby { writer: Option<String> },
    /// 429 `not_writer`: `GET /ready?role=writer` on a standby (for load balancers that send
    /// writes to the writer only).
    NotWriter { writer: Option<String> },
    /// 503 `unavailable`: this standby relays to the writer at `writer`, which did not answer
    /// (down, paused, or unreachable from here). Nothing was applied by this node.
    WriterUnreachable { writer: String },
    /// 503 `unavailable` from `/ready` only: this node lost the Redis fan-out, so its sockets
    /// miss the other nodes' events; a load balancer should send clients elsewhere.
    FanoutDown { channel: String },
    /// 500: a bug (the writer answered something unexpected). Logged, never detailed.
    Internal(String),
}

impl Error {
    /// 400 `invalid_request`: the body could not be read as JSON at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::Invalid { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 422 `invalid_request`: well-formed, but a field is missing, unknown, mistyped or out of range.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Error::Invalid { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.into() }
    }

    /// The status this error answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid { status, .. } => *status,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Gone { .. } => StatusCode::GONE,
            Error::Unavailable { .. }
            | Error::Standby { .. }
            | Error::WriterUnreachable { .. }
            | Error::FanoutDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotWriter { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Invalid { .. } => "invalid_request",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict { code, .. } | Error::Gone { code, .. } => code,
            Error::Unavailable { .. }
            | Error::Standby { .. }
            | Error::WriterUnreachable { .. }
            | Error::FanoutDown { .. } => "unavailable",
            Error::NotWriter { .. } => "not_writer",
            Error::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Error::Unauthorized(message)
            | Error::Forbidden(message)
            | Error::NotFound(message)
            | Error::MethodNotAllowed(message)
            | Error::Invalid { message, .. }
            | Error::Conflict { message, .. }
            | Error::Gone { message, .. } => message.clone(),
            Error::Unavailable { .. } => "storage is unavailable; nothing was changed, try again".to_owned(),
            Error::Standby { writer } | Error::NotWriter { writer } => {
                WriteError::Standby { writer: writer.clone() }.to_string()
            }
            Error::WriterUnreachable { writer } => format!(
                "this node is a standby and the writer at {writer} did not answer; try again (a standby takes over when the writer's lease expires)"
            ),
            Error::FanoutDown { channel } => format!(
                "this node cannot reach Redis (fan-out channel {channel}): its sockets miss the other nodes' events until it reconnects"
            ),
            Error::Internal(_) => "internal error; it has been logged".to_owned(),
        }
    }

    /// The mapping for routes where not holding the profile or client is a permission
    /// matter (`request-unlock`, `extend`, reading a conversation): 403 instead of 409.
    #[must_use]
    pub fn holder_only(error: WriteError) -> Self {
        match error {
            WriteError::Rejected(rejection @ Rejection::NotProfileHolder { .. })
            | WriteError::Rejected(rejection @ Rejection::NotClientLockHolder { .. }) => {
                Error::Forbidden(rejection.to_string())
            }
            other => other.into(),
        }
    }

    /// The mapping for `POST /api/messages`: an unknown or inactive profile is a bad field (422).
    #[must_use]
    pub fn ingestion(error: WriteError) -> Self {
        match error {
            WriteError::Rejected(rejection @ Rejection::UnknownProfile(_))
            | WriteError::Rejected(rejection @ Rejection::ProfileInactive(_)) => {
                Error::unprocessable(format!("profile_id: {rejection}; declare it with PUT /api/profiles/{{id}} first"))
            }
            other => other.into(),
        }
    }
}

impl From<Rejection> for Error {
    fn from(rejection: Rejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            Rejection::UnknownModerator(_)
            | Rejection::UnknownProfile(_)
            | Rejection::UnknownClient(_)
            | Rejection::UnknownConflict(_) => Error::NotFound(message),
            Rejection::ClientLocked { .. } => Error::Conflict { code: "client_locked", message },
            Rejection::DoubleInitiation { .. } => Error::Conflict { code: "double_initiation", message },
            Rejection::NotProfileHolder { .. } => Error::Conflict { code: "not_profile_holder", message },
            Rejection::NotInQueue(_) => Error::Conflict { code: "not_in_queue", message },
            Rejection::PriorityAboveSelfLimit { .. } | Rejection::NotConflictParticipant { .. } => {
                Error::Forbidden(message)
            }
            Rejection::ProfileInactive(_)
            | Rejection::NotConnected(_)
            | Rejection::NotClientLockHolder { .. }
            | Rejection::ModeratorAtCapacity { .. }
            | Rejection::StaleLease { .. } => Error::Conflict { code: "conflict", message },
            Rejection::InvalidValue(_) => Error::unprocessable(message),
        }
    }
}

impl From<WriteError> for Error {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Rejected(rejection) => rejection.into(),
            WriteError::Unavailable(detail) => Error::Unavailable { detail },
            WriteError::Standby { writer } => Error::Standby { writer },
            WriteError::ShuttingDown => Error::Unavailable { detail: "the writer is shutting down".to_owned() },
        }
    }
}

impl From<switchboard_store::StoreError> for Error {
    fn from(error: switchboard_store::StoreError) -> Self {
        Error::Unavailable { detail: error.to_string() }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Unavailable { detail } = &self {
            tracing::error!(%detail, "answering 503");
        } else if let Error::Internal(detail) = &self {
            tracing::error!(%detail, "answering 500");
        } else {
            tracing::debug!(status = %self.status(), code = self.code(), message = %self.message(), "request refused");
        }
        let body = json!({"error": {"code": self.code(), "message": self.message()}});
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Error::Unauthorized(_)) {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The result of a handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;
