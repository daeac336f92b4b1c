//! The host events over HTTP: the feed for the platform (`GET /api/events`, role
//! `platform`) and the webhook deliveries for supervisors (`/api/supervisor/webhooks/...`).
//!
//! The feed answers the stored events in commit order, with the same `id` as their
//! webhooks. A cursor older than the retained window is a 410 `cursor_expired` (the host
//! missed events and must reconcile), never a silent gap; a cursor beyond the newest event
//! is an empty page. Query parameters are read strictly: unknown, repeated or out of range
//! is a 422.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{json, Value};
use switchboard_store::{parse_webhook_id, rfc3339, DeliveryStatus, HostEvent, RetryOutcome, WebhookDelivery};

use super::auth::{AsPlatform, AsSupervisor};
use super::error::{Error, Result};
use super::extract::NoBody;
use super::reply::ok;
use super::routes::Routes;
use super::state::AppState;
use crate::auth::Role;
use crate::openapi::QueryDoc;

/// Events per feed page at most, and when `limit` is not given.
pub const FEED_LIMIT_MAX: u32 = 1000;
pub const FEED_LIMIT_DEFAULT: u32 = 100;
/// Deliveries listed at most, and when `limit` is not given.
pub const DELIVERIES_LIMIT_MAX: u32 = 1000;
pub const DELIVERIES_LIMIT_DEFAULT: u32 = 100;

const FEED_QUERY: &[QueryDoc] = &[
    QueryDoc::integer("after", 0, i64::MAX as u64, "the last sequence already seen (default 0: from the oldest kept)"),
    QueryDoc::integer("limit", 1, FEED_LIMIT_MAX as u64, "events to return (default 100)"),
];
const DELIVERIES_QUERY: &[QueryDoc] = &[
    QueryDoc::text("status", "failed (default) or pending"),
    QueryDoc::integer("limit", 1, DELIVERIES_LIMIT_MAX as u64, "deliveries to return, oldest first (default 100)"),
];

pub(crate) fn routes(routes: Routes) -> Routes {
    let supervisor = Some(Role::Supervisor);
    routes
        .add(
            Method::GET,
            "/api/events",
            Some(Role::Platform),
            "The host events in commit order after a sequence (the webhooks' events, same ids); 410 cursor_expired when the events after it were pruned",
            None,
            200,
            &[410, 422],
            get(feed),
        )
        .with_query(FEED_QUERY)
        .add(
            Method::GET,
            "/api/supervisor/webhooks/deliveries",
            supervisor,
            "Webhook deliveries that failed (or are pending), oldest first",
            None,
            200,
            &[422],
            get(deliveries),
        )
        .with_query(DELIVERIES_QUERY)
        .add(
            Method::POST,
            "/api/supervisor/webhooks/deliveries/{id}/retry",
            supervisor,
            "Deliver an event's webhook again now, with the whole retry schedule; 409 when already delivered",
            None,
            200,
            &[404, 409],
            post(retry),
        )
        .add(
            Method::GET,
            "/api/supervisor/webhooks/health",
            supervisor,
            "Webhook health: pending and failed deliveries, the oldest pending, delivered since start",
            None,
            200,
            &[],
            get(health),
        )
}

/// Reads `name=value` pairs: each known at most once, each a whole number in its range
/// (`parse` for the others).
fn query_pairs(
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[QueryDoc],
) -> Result<Vec<(String, String)>> {
    let Query(pairs) =
        query.map_err(|rejection| Error::bad_request(format!("unreadable query string: {rejection}")))?;
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &pairs {
        if !known.iter().any(|doc| doc.name == name) {
            let names: Vec<&str> = known.iter().map(|doc| doc.name).collect();
            return Err(Error::unprocessable(format!("unknown query parameter {name:?}; known: {}", names.join(", "))));
        }
        if seen.contains(&name.as_str()) {
            return Err(Error::unprocessable(format!("query parameter {name} is given more than once")));
        }
        seen.push(name);
    }
    Ok(pairs)
}

/// A whole number in `min..=max`, in plain digits.
fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64> {
    (!value.is_empty() && value.len() <= 19 && value.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| {
            Error::unprocessable(format!("{name} must be a whole number from {min} to {max}, not {value:?}"))
        })
}

fn event_json(event: &HostEvent) -> Value {
    json!({
        "sequence": event.sequence,
        "id": event.id(),
        "type": event.kind,
        "timestamp": rfc3339(event.occurred_at),
        "data": serde_json::from_str::<Value>(&event.data).unwrap_or(Value::Null),
    })
}

fn delivery_json(delivery: &WebhookDelivery) -> Value {
    let mut value = event_json(&delivery.event);
    value["status"] = json!(delivery.status.as_str());
    value["attempts"] = json!(delivery.attempts);
    value["next_attempt_at"] = json!(delivery.next_attempt_at.map(rfc3339));
    value["last_status"] = json!(delivery.last_status);
    value["last_error"] = json!(delivery.last_error);
    value["delivered_at"] = json!(delivery.delivered_at.map(rfc3339));
    value
}

async fn feed(
    _: AsPlatform,
    State(state): State<AppState>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let (mut after, mut limit) = (0i64, FEED_LIMIT_DEFAULT);
    for (name, value) in query_pairs(query, FEED_QUERY)? {
        match name.as_str() {
            "after" => after = number(&name, &value, 0, i64::MAX as u64)? as i64,
            _ => limit = number(&name, &value, 1, u64::from(FEED_LIMIT_MAX))? as u32,
        }
    }
    let bounds = state.store.host_event_bounds().await?;
    if let Some(oldest) = bounds.oldest {
        // Sequences have no gaps: anything between `after` and the oldest kept was pruned.
        if after < oldest - 1 {
            return Err(Error::Gone {
                code: "cursor_expired",
                message: format!(
                    "the events after {after} up to {} are no longer kept (event_retention {}); the oldest kept is {oldest}: reconcile, then continue with after={}",
                    oldest - 1,
                    humantime::format_duration(state.deliveries.retention),
                    oldest - 1
                ),
            });
        }
    }
    let events = state.store.host_events_after(after, limit).await?;
    let next_after = events.last().map_or(after, |event| event.sequence);
    Ok(ok(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "next_after": next_after,
        "newest_sequence": bounds.newest.unwrap_or(0),
    })))
}

async fn deliveries(
    _: AsSupervisor,
    State(state): State<AppState>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let (mut status, mut limit) = (DeliveryStatus::Failed, DELIVERIES_LIMIT_DEFAULT);
    for (name, value) in query_pairs(query, DELIVERIES_QUERY)? {
        match name.as_str() {
            "status" => {
                status = match value.as_str() {
                    "failed" => DeliveryStatus::Failed,
                    "pending" => DeliveryStatus::Pending,
                    _ => return Err(Error::unprocessable(format!("status must be failed or pending, not {value:?}"))),
                };
            }
            _ => limit = number(&name, &value, 1, u64::from(DELIVERIES_LIMIT_MAX))? as u32,
        }
    }
    let deliveries = state.store.webhook_deliveries(status, limit).await?;
    Ok(ok(json!({
        "status": status.as_str(),
        "webhooks_enabled": state.deliveries.enabled,
        "deliveries": deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    })))
}

async fn retry(
    _: AsSupervisor,
    State(state): State<AppState>,
    path: std::result::Result<Path<String>, axum::extract::rejection::PathRejection>,
    _: NoBody,
) -> Result<Response> {
    let Path(id) = path.map_err(|_| Error::bad_request("the path could not be read"))?;
    let sequence = parse_webhook_id(&id).filter(|sequence| *sequence > 0).ok_or_else(|| {
        Error::unprocessable(format!("id must be an event id like evt_12 (or its sequence 12), not {id:?}"))
    })?;
    if !state.deliveries.enabled {
        return Err(Error::Conflict {
            code: "conflict",
            message: "webhooks are off (webhook_url is empty): there is nothing to deliver to".to_owned(),
        });
    }
    match state.store.retry_webhook_delivery(sequence, state.clock.now()).await? {
        RetryOutcome::Scheduled => {
            state.deliveries.wake();
            Ok(ok(json!({"id": switchboard_store::webhook_id(sequence), "sequence": sequence, "status": "pending"})))
        }
        RetryOutcome::NotFound => Err(Error::NotFound(format!("no event {id} is kept"))),
        RetryOutcome::AlreadyDelivered => Err(Error::Conflict {
            code: "conflict",
            message: format!("event {} was already delivered", switchboard_store::webhook_id(sequence)),
        }),
    }
}

async fn health(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    Ok(ok(health_json(&state).await?))
}

/// The webhook figures the dashboard shows (also read by `/metrics`).
pub(crate) async fn health_json(state: &AppState) -> Result<Value> {
    let health = state.store.webhook_health().await?;
    let now = state.clock.now();
    Ok(json!({
        "enabled": state.deliveries.enabled,
        "pending": health.pending,
        "failed": health.failed,
        "delivered_total": state.deliveries.stats.delivered_total.load(std::sync::atomic::Ordering::Relaxed),
        "attempts_failed_total": state.deliveries.stats.attempts_failed_total.load(std::sync::atomic::Ordering::Relaxed),
        "oldest_pending_at": health.oldest_pending_at.map(rfc3339),
        "oldest_pending_seconds": health.oldest_pending_at.map(|at| now.since(at).as_secs()),
    }))
}
