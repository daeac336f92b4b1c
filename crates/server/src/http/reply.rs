//! Successful JSON answers, and the one programming error a handler can meet: a writer reply
//! of another kind than its command gives.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::error::Error;

/// A JSON answer with a status.
pub(crate) fn answer(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// 200 with a JSON body.
pub(crate) fn ok(value: Value) -> Response {
    answer(StatusCode::OK, value)
}

/// A reply of the wrong kind from the writer is a programming error: logged, answered 500.
pub(crate) fn unexpected(reply: &switchboard_engine::Reply) -> Error {
    Error::Internal(format!("unexpected reply from the writer: {reply:?}"))
}
