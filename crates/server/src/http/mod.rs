//! The HTTP surface: the shared application state, the route table (from which both the
//! router and `/openapi.json` are built, so they cannot disagree), and the layers every
//! request passes through (request id, trace span, metrics, JSON fallbacks).
//!
//! Only this module and its children know JSON; they never touch SQL or the engine's
//! internals, only `WriterHandle` and the engine's read accessors.

pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod input;
mod moderator;
mod operations;
mod platform;
mod supervisor;
pub mod views;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde_json::Value;
use switchboard_pusher::Realtime;
use switchboard_store::{Store, WriterHandle};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{Role, Tokens};
use crate::metrics::Metrics;
use error::Error;

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// The parts of the running service the HTTP layer talks to.
pub struct AppContext {
    /// The one writer: every change and every consistent read goes through it.
    pub writer: WriterHandle,
    /// Direct storage reads that the engine does not hold (messages, alerts, readiness).
    pub store: Store,
    /// Verifies bearer tokens.
    pub tokens: Tokens,
    /// The Pusher server (for metrics; publishing goes through the event sink).
    pub realtime: Realtime,
    pub metrics: Arc<Metrics>,
    /// `/openapi.json`, built once from the same table as the router.
    pub openapi: OnceLock<Value>,
    /// What the console pages are told by `/console/config.json`.
    pub console: console::ConsoleSettings,
}

impl AppState {
    #[must_use]
    pub fn new(context: AppContext) -> Self {
        AppState(Arc::new(context))
    }
}

/// One documented route: the router registers it and `/openapi.json` describes it.
#[derive(Clone, Debug)]
pub struct RouteDoc {
    pub method: Method,
    /// axum syntax, which is also OpenAPI's: `/api/profiles/{id}`.
    pub path: &'static str,
    /// `None`: no bearer token needed.
    pub role: Option<Role>,
    pub summary: &'static str,
    /// Name of the request body's schema (see `openapi.rs`), if it takes one.
    pub body: Option<&'static str>,
    /// The success status.
    pub success: u16,
    /// Error statuses beyond those of every authenticated route (401, 403, 400/422).
    pub errors: &'static [u16],
}

/// Collects routes into a router and their descriptions into a table, in one pass.
pub(crate) struct Routes {
    router: Router<AppState>,
    docs: Vec<RouteDoc>,
}

impl Routes {
    fn new() -> Self {
        Routes { router: Router::new(), docs: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        mut self,
        method: Method,
        path: &'static str,
        role: Option<Role>,
        summary: &'static str,
        body: Option<&'static str>,
        success: u16,
        errors: &'static [u16],
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.docs.push(RouteDoc { method, path, role, summary, body, success, errors });
        self
    }

    /// A route served by another component (the Pusher WebSocket): documented here, routed
    /// by its owner.
    pub(crate) fn document(mut self, doc: RouteDoc) -> Self {
        self.docs.push(doc);
        self
    }

    /// Routes served by another component, each as `(method, path, summary)`; Pusher-signed
    /// (query `auth_*`), answering 200 or Pusher's plain-text 400/401/403/404/413.
    pub(crate) fn document_all(mut self, routes: &[(Method, &'static str, &'static str)]) -> Self {
        for (method, path, summary) in routes {
            self.docs.push(RouteDoc {
                method: method.clone(),
                path,
                role: None,
                summary,
                body: None,
                success: 200,
                errors: &[400, 401, 403, 404, 413],
            });
        }
        self
    }
}

/// The whole application: every route of API.md and the operations routes, with layers.
pub fn router(state: AppState) -> Router {
    let routes = Routes::new();
    let routes = platform::routes(routes);
    let routes = moderator::routes(routes);
    let routes = supervisor::routes(routes);
    let routes = operations::routes(routes, &state);
    let Routes { router, docs } = routes;
    let _ = state.openapi.set(crate::openapi::document(&docs));
    let _ = DOCS.set(docs);

    router
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

/// `{"error": ...}` parsed back, for tests.
#[must_use]
pub fn error_code(body: &Value) -> Option<&str> {
    body.get("error").and_then(|error| error.get("code")).and_then(Value::as_str)
}
