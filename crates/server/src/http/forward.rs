//! Every node serves the whole API (API.md "Running several instances"): on a standby, the
//! requests only the writer can answer (commands, consistent reads, channel authorisation)
//! are relayed to the writer's `advertise_url`, read from the lease row, and the writer's
//! answer is passed back unchanged. The writer authenticates, validates and applies them as
//! if they had come to it directly, so a standby holds no state that could disagree.
//!
//! One hop only: a relayed request carries `x-switchboard-forwarded-by`, and a node that is
//! not the writer answers such a request 503 instead of relaying it again (two standbys that
//! each believe the other writes would otherwise bounce it between them).
//!
//! Local on every node: `/health`, `/ready`, `/metrics`, `/openapi.json`, the cluster view and
//! the presence sync (`/api/supervisor/cluster...`), the console pages, the sockets and the
//! Pusher HTTP API. This layer wraps the route table only, so those never pass through it
//! except the cluster routes, which it lets through by path.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchboard_store::Role;

use super::error::Error;
use super::extract::{read_limited, MAX_BODY_BYTES};
use super::state::AppState;

/// Set on a relayed request: the relaying node's name. Such a request is never relayed again.
pub const FORWARDED_BY: HeaderName = HeaderName::from_static("x-switchboard-forwarded-by");
/// Set on the answer to a relayed request: the `advertise_url` of the writer that answered,
/// so that a caller (or a test) knows which node decided.
pub const SERVED_BY: HeaderName = HeaderName::from_static("x-switchboard-served-by");
/// How long a standby waits for the writer's answer. Longer than any command takes; a paused
/// or partitioned writer is given up on well before a client's usual 30 s.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a standby waits to open a connection to the writer.
pub const RELAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The client standbys relay with (and post presence with): no TLS, HTTP/1.1 kept alive.
///
/// # Errors
/// The TLS-less client could not be built (it can always be).
pub fn relay_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(RELAY_CONNECT_TIMEOUT)
        .timeout(RELAY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Whether a request for `path` is the writer's to answer (every other path is local).
fn relayed_path(path: &str) -> bool {
    if path.starts_with("/api/supervisor/cluster") {
        return false;
    }
    path.starts_with("/api/") || path.starts_with("/moderateur/") || path == "/broadcasting/auth"
}

/// Headers that describe one connection, not the request (RFC 9110 §7.6.1), plus those the
/// relay sets itself.
fn end_to_end(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if end_to_end(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The middleware: serves locally on the writer (and on SQLite), relays on a standby that
/// knows a live writer.
pub async fn relay_to_writer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(lease) = &state.lease else { return next.run(request).await };
    if !relayed_path(request.uri().path()) {
        return next.run(request).await;
    }
    let writer = match lease.role() {
        Role::Standby { writer: Some(writer) } => writer,
        // The writer (serving or loading) answers itself; a standby that knows no writer lets
        // the handler answer 503 naming none.
        _ => return next.run(request).await,
    };
    if request.headers().contains_key(&FORWARDED_BY) {
        // Relayed here by a standby that believes this node writes: it does not (or no more).
        return Error::Standby { writer: Some(writer) }.into_response();
    }
    relay(&state, &lease.settings().node_name, &writer, request).await.unwrap_or_else(IntoResponse::into_response)
}

async fn relay(state: &AppState, node_name: &str, writer: &str, request: Request) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let body = read_limited(&parts.headers, body, MAX_BODY_BYTES).await?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let url = format!("{}{path_and_query}", writer.trim_end_matches('/'));

    let mut headers = HeaderMap::new();
    copy_end_to_end(&parts.headers, &mut headers);
    if let Ok(name) = HeaderValue::from_str(node_name) {
        headers.insert(FORWARDED_BY, name);
    }
    let sent = state.relay_client.request(parts.method.clone(), &url).headers(headers).body(body).send().await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%writer, method = %parts.method, path = parts.uri.path(), error = %error, "the writer did not answer a relayed request");
            return Err(Error::WriterUnreachable { writer: writer.to_owned() });
        }
    };
    let status = answer.status();
    let mut answer_headers = HeaderMap::new();
    copy_end_to_end(answer.headers(), &mut answer_headers);
    let bytes = answer.bytes().await.map_err(|error| {
        tracing::warn!(%writer, error = %error, "the writer's answer to a relayed request was cut off");
        Error::WriterUnreachable { writer: writer.to_owned() }
    })?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = answer_headers;
    if let Ok(writer) = HeaderValue::from_str(writer) {
        response.headers_mut().insert(SERVED_BY, writer);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn what_a_standby_relays() {
        for path in
            ["/api/messages", "/api/supervisor/state", "/moderateur/connect", "/broadcasting/auth", "/api/events"]
        {
            assert!(relayed_path(path), "{path} is the writer's");
        }
        for path in [
            "/health",
            "/ready",
            "/metrics",
            "/openapi.json",
            "/api/supervisor/cluster",
            "/api/supervisor/cluster/presence",
            "/console/config.json",
            "/apps/1/events",
            "/app/key",
            "/broadcasting/auth/extra",
            "/apiary",
        ] {
            assert!(!relayed_path(path), "{path} is local");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_not_relayed() {
        let mut from = HeaderMap::new();
        from.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        from.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        from.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        from.insert(header::HOST, HeaderValue::from_static("standby:8080"));
        from.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        from.insert("x-request-id", HeaderValue::from_static("abc-1"));
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        let mut names: Vec<&str> = to.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["authorization", "content-type", "x-request-id"]);
    }
}
