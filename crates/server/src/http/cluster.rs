//! The cluster's routes: readiness (`/ready`, `/ready?role=writer`), which a load balancer
//! reads to pick the nodes that can serve and the one that writes; the supervisor's view of
//! the writer lease (`GET /api/supervisor/cluster`); and the standbys' presence syncs, which
//! the writer receives (`POST /api/supervisor/cluster/presence`, see `cluster_presence.rs`).
//!
//! On SQLite the one process is the writer and always ready (storage permitting). On
//! PostgreSQL the serving writer is ready, and a standby is ready while the writer it relays
//! to answers its own `/ready?role=writer` (`http/forward.rs`); `/ready?role=writer` is 429
//! on a standby.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_engine::{ModeratorId, Timestamp};
use switchboard_store::{rfc3339, Lease, Role};

use super::auth::AsSupervisor;
use super::error::{Error, Result};
use super::extract::Body;
use super::input::PresenceSetInput;
use super::reply::ok;
use super::routes::Routes;
use super::state::AppState;
use crate::auth::Role as CallerRole;
use crate::cluster_presence::SYNC_PATH;
use crate::openapi::QueryDoc;

const READY_QUERY: &[QueryDoc] =
    &[QueryDoc::text("role", "`writer`: 200 only on the writer, 429 on a standby (route writes to the writer)")];

pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .add(
            Method::GET,
            "/ready",
            None,
            "Readiness: storage is reachable and this node serves (the writer, or a standby whose writer answers)",
            None,
            200,
            &[422, 429, 503],
            get(ready),
        )
        .with_query(READY_QUERY)
        .add(
            Method::GET,
            "/api/supervisor/cluster",
            Some(CallerRole::Supervisor),
            "The cluster: this node, the writer lease (holder, epoch, expiry on the database's clock), the nodes seen, the latest epochs",
            None,
            200,
            &[],
            get(cluster),
        )
        .add(
            Method::POST,
            SYNC_PATH,
            Some(CallerRole::Supervisor),
            "A standby's sockets: the whole set of moderators with a socket on their own channel on that node (sent by the nodes themselves, every second; the writer only)",
            Some("PresenceSetInput"),
            200,
            &[503],
            post(presence_sync),
        )
}

/// A sync may name up to a million moderators: far beyond API.md's 64 KiB for one request.
const PRESENCE_BODY_BYTES: usize = 16 * 1024 * 1024;

async fn presence_sync(
    _: AsSupervisor,
    State(state): State<AppState>,
    Body(input): Body<PresenceSetInput, PRESENCE_BODY_BYTES>,
) -> Result<Response> {
    let Some(lease) = &state.lease else {
        return Err(Error::unprocessable("this service runs as one node (SQLite): there is no other node's presence"));
    };
    if !lease.is_serving_writer() {
        return Err(Error::Standby { writer: standby_writer(lease) });
    }
    let moderators: BTreeSet<ModeratorId> = input.moderators.iter().copied().map(ModeratorId).collect();
    let count = moderators.len();
    state.cluster_presence.replace_remote(&input.node, moderators, Instant::now());
    Ok(ok(json!({"node": input.node, "moderators": count})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyQuery {
    role: Option<String>,
}

/// The writer this standby last saw (its `advertise_url`).
fn standby_writer(lease: &Lease) -> Option<String> {
    match lease.role() {
        Role::Standby { writer } => writer,
        Role::Writer { .. } => None,
    }
}

async fn ready(State(state): State<AppState>, query: Result<Query<ReadyQuery>, QueryRejection>) -> Result<Response> {
    let Query(query) = query.map_err(|rejection| Error::unprocessable(rejection.body_text()))?;
    let writer_only = match query.role.as_deref() {
        None => false,
        Some("writer") => true,
        Some(other) => return Err(Error::unprocessable(format!("role: `{other}` is not `writer`"))),
    };
    // Within a load balancer's check timeout: a down database would otherwise hold the answer
    // for the pool's whole acquire timeout (3 s).
    match tokio::time::timeout(STORAGE_PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(Error::Unavailable { detail: error.to_string() }),
        Err(_) => {
            return Err(Error::Unavailable {
                detail: format!("no answer from storage within {STORAGE_PING_TIMEOUT:?}"),
            })
        }
    }
    if let Some(fanout) = state.fanout.as_ref().filter(|fanout| !fanout.is_connected()) {
        return Err(Error::FanoutDown { channel: fanout.channel().to_owned() });
    }
    let Some(lease) = &state.lease else {
        return Ok(ok(json!({"status": "ready", "role": "writer"})));
    };
    match lease.role() {
        Role::Writer { epoch, .. } if lease.is_serving_writer() => {
            Ok(ok(json!({"status": "ready", "role": "writer", "epoch": epoch})))
        }
        _ if writer_only => Err(Error::NotWriter { writer: standby_writer(lease) }),
        Role::Standby { writer: Some(writer) } if writer_answers(&state, &writer).await => {
            Ok(ok(json!({"status": "ready", "role": "standby", "writer": writer})))
        }
        _ => Err(Error::Standby { writer: standby_writer(lease) }),
    }
}

/// How long `/ready` waits for the database.
const STORAGE_PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a standby's `/ready` waits for the writer's.
const WRITER_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the writer this standby relays to says it is the serving writer.
async fn writer_answers(state: &AppState, writer: &str) -> bool {
    let url = format!("{}/ready?role=writer", writer.trim_end_matches('/'));
    let answer = state.relay_client.get(url).timeout(WRITER_READY_TIMEOUT).send().await;
    answer.is_ok_and(|answer| answer.status().is_success())
}

fn time(millis: Option<i64>) -> Value {
    millis.map_or(Value::Null, |millis| json!(rfc3339(Timestamp(u64::try_from(millis).unwrap_or(0)))))
}

async fn cluster(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    let Some(lease) = &state.lease else {
        return Ok(ok(json!({
            "mode": "single",
            "node": {"role": "writer"},
            "writer": null,
            "epoch": null,
            "lease_expires_at": null,
            "nodes": [],
            "epochs": [],
        })));
    };
    let view = lease.cluster().await?;
    let settings = lease.settings();
    let (role, epoch) = match lease.role() {
        Role::Writer { epoch, .. } if lease.is_serving_writer() => ("writer", Some(epoch)),
        Role::Writer { epoch, .. } => ("starting", Some(epoch)),
        Role::Standby { .. } => ("standby", None),
    };
    let writer = view.holder.as_ref().filter(|_| view.live).map(|holder| {
        json!({
            "name": holder,
            "advertise_url": view.advertise_url,
            "epoch": view.epoch,
            "acquired_at": time(view.acquired_at_ms),
            "renewed_at": time(view.renewed_at_ms),
        })
    });
    let nodes: Vec<Value> = view
        .nodes
        .iter()
        .map(|node| {
            let writes = view.live && view.holder.as_deref() == Some(node.node_name.as_str());
            json!({
                "name": node.node_name,
                "advertise_url": node.advertise_url,
                "role": if writes { "writer" } else { "standby" },
                "last_seen_at": time(Some(node.seen_at_ms)),
            })
        })
        .collect();
    let epochs: Vec<Value> = view
        .epochs
        .iter()
        .map(|record| {
            json!({
                "epoch": record.epoch,
                "holder": record.holder,
                "acquired_at": time(Some(record.acquired_at_ms)),
                "released_at": time(record.released_at_ms),
                "commits": record.commits,
                "last_commit_at": time(record.last_commit_at_ms),
            })
        })
        .collect();
    Ok(ok(json!({
        "mode": "cluster",
        "node": {"name": settings.node_name, "advertise_url": settings.advertise_url, "role": role, "epoch": epoch},
        "writer": writer,
        "epoch": view.epoch,
        "lease_seconds": settings.lease.as_secs_f64(),
        "lease_expires_at": time(view.expires_at_ms),
        "database_time": time(Some(view.now_ms)),
        "nodes": nodes,
        "epochs": epochs,
        "fanout": fanout_view(&state),
    })))
}

/// The Redis fan-out as this node sees it; `null` when `redis_url` is not set.
fn fanout_view(state: &AppState) -> Value {
    state.fanout.as_ref().map_or(Value::Null, |fanout| {
        let stats = fanout.stats();
        json!({
            "connected": stats.connected,
            "channel": fanout.channel(),
            "published": stats.published,
            "received": stats.received,
            "dropped": stats.dropped,
            "rejected": stats.rejected,
        })
    })
}
