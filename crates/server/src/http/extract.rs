//! Extractors that turn a request into typed input or into an [`Error`] with the JSON error
//! body, never into axum's plain-text rejections: the JSON body (`Body<T>`), the absence of
//! one (`NoBody`), and path ids (`PathIds<N>`).
//!
//! Shape is checked here (content type, size, syntax, unknown fields, types); values are
//! checked by each input type's `validate` (see `input.rs`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use super::error::Error;
use super::input::Validate;
use crate::auth::parse_positive_id;

/// Largest request body accepted (API.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body of type `T`, read strictly and validated; at most `LIMIT` bytes (API.md's
/// 64 KiB unless a route says otherwise).
pub struct Body<T, const LIMIT: usize = MAX_BODY_BYTES>(pub T);

impl<T, S, const LIMIT: usize> FromRequest<S> for Body<T, LIMIT>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, LIMIT).await?;
        if !is_json(&bytes.0) {
            return Err(Error::bad_request("Content-Type must be application/json"));
        }
        if bytes.1.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::bad_request("a JSON body is required"));
        }
        let value: T = parse_json(&bytes.1)?;
        value.validate()?;
        Ok(Body(value))
    }
}

/// For routes that take no body: nothing, whitespace, or an empty JSON object `{}`.
/// Anything else is refused so that junk never reaches a command.
pub struct NoBody;

impl<S> FromRequest<S> for NoBody
where
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(request, MAX_BODY_BYTES).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        if !is_json(&headers) {
            return Err(Error::bad_request("this route takes no body (or `{}` as application/json)"));
        }
        let value: serde_json::Value = parse_json(&bytes)?;
        match value {
            serde_json::Value::Object(map) if map.is_empty() => Ok(NoBody),
            _ => Err(Error::unprocessable("this route takes no fields; send no body or `{}`")),
        }
    }
}

async fn read_body(request: Request, limit: usize) -> Result<(HeaderMap, Bytes), Error> {
    let (parts, body) = request.into_parts();
    let bytes = read_limited(&parts.headers, body, limit).await?;
    Ok((parts.headers, bytes))
}

/// A body of at most `limit` bytes, refused before reading when its declared length is over.
pub async fn read_limited(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))
}

/// 400: the body is over `limit` bytes.
fn too_large(limit: usize) -> Error {
    Error::bad_request(format!("the request body is larger than {limit} bytes"))
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media_type == "application/json" || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|error| {
        use serde_json::error::Category;
        let message = format!("invalid JSON body: {error}");
        match error.classify() {
            Category::Data => Error::unprocessable(message),
            Category::Syntax | Category::Eof | Category::Io => Error::bad_request(message),
        }
    })
}

/// The route's `{...}` segments, each a positive integer within `i64`.
pub struct PathIds<const N: usize>(pub [u64; N]);

impl<S, const N: usize> FromRequestParts<S> for PathIds<N>
where
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segments) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::bad_request("the path could not be read"))?;
        if segments.len() != N {
            return Err(Error::NotFound("no such route".to_owned()));
        }
        let mut ids = [0u64; N];
        for (slot, (name, value)) in ids.iter_mut().zip(segments) {
            *slot = parse_positive_id(&value).ok_or_else(|| {
                Error::unprocessable(format!("{name} must be a positive integer (at most {}), not {value:?}", i64::MAX))
            })?;
        }
        Ok(PathIds(ids))
    }
}
