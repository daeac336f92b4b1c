//! Operations and realtime entry points: liveness, metrics (readiness is `cluster.rs`'s), the OpenAPI document,
//! the console pages (served by `console.rs`), and `/broadcasting/auth` (whose decisions live in
//! `crate::realtime`).

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use switchboard_pusher::AuthDenied;

use super::reply::ok;
use super::routes::Routes;
use super::state::AppState;
use crate::openapi::RouteDoc;
use crate::realtime::ChannelPolicy;

pub(crate) fn routes(routes: Routes, state: &AppState) -> Routes {
    let policy = ChannelPolicy::new(state.writer.clone());
    let tokens = state.tokens.clone();
    let authorization = state.realtime.authorization_handler_async(move |headers, channel| {
        let policy = policy.clone();
        let caller = super::auth::caller(&tokens, &headers);
        async move {
            let caller = caller.map_err(|_| AuthDenied::new("a valid bearer token is required"))?;
            policy.authorize(caller, &channel).await
        }
    });
    routes
        .add(Method::GET, "/health", None, "Liveness: the process answers", None, 200, &[], get(health))
        .add(Method::GET, "/metrics", None, "Prometheus text format", None, 200, &[], get(metrics))
        .add(Method::GET, "/openapi.json", None, "This document", None, 200, &[], get(openapi))
        .add(Method::GET, "/", None, "The moderator console", None, 200, &[], get(super::console::moderator_page))
        .add(
            Method::GET,
            "/supervisor",
            None,
            "The supervisor dashboard",
            None,
            200,
            &[],
            get(super::console::supervisor_page),
        )
        .add(
            Method::POST,
            "/broadcasting/auth",
            None,
            "Pusher private channel authorization (form or JSON socket_id, channel_name) with the bearer token",
            Some("ChannelAuthorizationInput"),
            200,
            &[400, 403, 413, 422],
            authorization,
        )
        .document(RouteDoc {
            method: Method::GET,
            path: "/app/{app_key}",
            role: None,
            summary: "Pusher Channels protocol 7 WebSocket (?protocol=7)",
            body: None,
            success: 101,
            errors: &[],
            query: &[],
        })
        .document_all(switchboard_pusher::HTTP_API_ROUTES)
}

async fn health() -> Response {
    ok(json!({"status": "ok"}))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render(&state.writer, &state.realtime).await;
    crate::cluster::render_metrics(state.lease.as_ref(), &mut text);
    crate::webhooks::render_metrics(&state.store, &state.deliveries, state.clock.now(), &mut text).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn openapi(State(state): State<AppState>) -> Response {
    match state.openapi.get() {
        Some(document) => ok(document.clone()),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}
