//! The HTTP surface, assembled: every caller's routes gathered into one table (`routes`),
//! from which both the router and `/openapi.json` are built, so they cannot disagree; and
//! the layers every request passes through (request id, trace span, metrics, JSON
//! fallbacks).
//!
//! This file is the root of the `http` modules' graph: it uses its children, and no child
//! uses it (they share `state`, `routes`, `reply` and `error` as siblings).
//!
//! Only this module and its children know JSON; they never touch SQL or the engine's
//! internals, only `WriterHandle` and the engine's read accessors.

pub mod auth;
mod cluster;
pub mod console;
pub mod error;
mod events;
pub mod extract;
pub mod forward;
pub mod input;
mod moderator;
mod operations;
mod platform;
mod reply;
mod routes;
pub mod state;
mod supervisor;
pub mod views;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::openapi::RouteDoc;
use error::Error;
use routes::Routes;
use state::AppState;

/// The whole application: every route of API.md and the operations routes, with layers.
pub fn router(state: AppState) -> Router {
    let routes = Routes::new();
    let routes = platform::routes(routes);
    let routes = moderator::routes(routes);
    let routes = supervisor::routes(routes);
    let routes = events::routes(routes);
    let routes = operations::routes(routes, &state);
    let routes = cluster::routes(routes);
    let Routes { router, docs } = routes;
    let _ = state.openapi.set(crate::openapi::document(&docs));
    let _ = DOCS.set(docs);

    router
        .layer(middleware::from_fn_with_state(state.clone(), forward::relay_to_writer))
        .merge(state.realtime.router())
        .merge(state.realtime.http_api_router())
        .merge(console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id =
                request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), SequentialRequestId::default()))
        .with_state(state)
}

static DOCS: OnceLock<Vec<RouteDoc>> = OnceLock::new();

/// The route table of the router built by [`router`] (for tests and the OpenAPI check).
#[must_use]
pub fn route_docs() -> Vec<RouteDoc> {
    DOCS.get().cloned().unwrap_or_default()
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter, so ids are unique across restarts
/// without a UUID dependency. An id sent by the caller is kept.
#[derive(Clone)]
struct SequentialRequestId {
    prefix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl Default for SequentialRequestId {
    fn default() -> Self {
        let prefix: u32 = rand::random();
        SequentialRequestId { prefix: format!("{prefix:08x}").into(), counter: Arc::new(AtomicU64::new(1)) }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let number = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{number}", self.prefix)).ok().map(RequestId::new)
    }
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Error {
    Error::NotFound(format!("no route for {method} {}; see /openapi.json", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Error {
    Error::MethodNotAllowed(format!("{method} is not allowed on {}; see /openapi.json", uri.path()))
}
