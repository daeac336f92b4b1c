//! Supervisors' routes (role `supervisor`, under `/api/supervisor`): the whole state, the
//! load report, alerts, conflicts, and the levers (monitor, rebalance, priority, unlock, pin).

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::json;
use switchboard_engine::{Command, ModeratorId, PriorityActor, ProfileId, Reply};

use super::auth::AsSupervisor;
use super::error::Result;
use super::extract::{Body, NoBody, PathIds};
use super::input::{PinInput, PriorityInput};
use super::reply::{ok, unexpected};
use super::routes::Routes;
use super::state::AppState;
use super::views;
use crate::auth::Role;

/// Alerts returned by `GET /api/supervisor/alerts`, newest first.
pub const ALERTS_LIMIT: u32 = 500;

pub(crate) fn routes(routes: Routes) -> Routes {
    let supervisor = Some(Role::Supervisor);
    routes
        .add(
            Method::GET,
            "/api/supervisor/state",
            supervisor,
            "Every moderator, profile holder, lock and queue entry",
            None,
            200,
            &[],
            get(state_view),
        )
        .add(
            Method::GET,
            "/api/supervisor/load-report",
            supervisor,
            "Load, replies and response times per moderator; totals",
            None,
            200,
            &[],
            get(load_report),
        )
        .add(
            Method::GET,
            "/api/supervisor/alerts",
            supervisor,
            "Stored alerts, newest first",
            None,
            200,
            &[],
            get(alerts),
        )
        .add(Method::GET, "/api/supervisor/conflicts", supervisor, "All conflicts", None, 200, &[], get(conflicts))
        .add(
            Method::POST,
            "/api/supervisor/monitor/run",
            supervisor,
            "Run the monitor now; answers what it did",
            None,
            200,
            &[],
            post(run_monitor),
        )
        .add(
            Method::POST,
            "/api/supervisor/rebalance",
            supervisor,
            "Run balancing now; answers the moves",
            None,
            200,
            &[],
            post(rebalance),
        )
        .add(
            Method::PUT,
            "/api/supervisor/moderators/{id}/priority",
            supervisor,
            "Set a moderator's queue priority",
            Some("PriorityInput"),
            200,
            &[404],
            put(set_priority),
        )
        .add(
            Method::POST,
            "/api/supervisor/profiles/{id}/unlock",
            supervisor,
            "Free a profile (reason supervisor)",
            None,
            200,
            &[404],
            post(unlock_profile),
        )
        .add(
            Method::POST,
            "/api/supervisor/profiles/{id}/pin",
            supervisor,
            "Assign a profile with a manual lock",
            Some("PinInput"),
            200,
            &[404, 409],
            post(pin_profile),
        )
}

async fn state_view(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    Ok(ok(state.writer.read(views::supervisor_state).await?))
}

async fn load_report(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    let report = state.writer.read(|engine| engine.load_report()).await?;
    Ok(ok(views::load_report(&report)))
}

async fn alerts(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    let alerts = state.store.alerts(ALERTS_LIMIT).await?;
    Ok(ok(json!({"alerts": alerts.iter().map(views::alert).collect::<Vec<_>>()})))
}

async fn conflicts(_: AsSupervisor, State(state): State<AppState>) -> Result<Response> {
    let conflicts = state
        .writer
        .read(|engine| engine.conflicts().map(|conflict| views::conflict(&conflict.view())).collect::<Vec<_>>())
        .await?;
    Ok(ok(json!({ "conflicts": conflicts })))
}

async fn run_monitor(_: AsSupervisor, State(state): State<AppState>, _: NoBody) -> Result<Response> {
    match state.writer.submit(Command::RunMonitor).await? {
        Reply::Monitor(report) => Ok(ok(views::monitor_report(&report))),
        other => Err(unexpected(&other)),
    }
}

async fn rebalance(_: AsSupervisor, State(state): State<AppState>, _: NoBody) -> Result<Response> {
    match state.writer.submit(Command::Rebalance).await? {
        Reply::Moves(moves) => Ok(ok(json!({"moves": moves.iter().map(views::balance_move).collect::<Vec<_>>()}))),
        other => Err(unexpected(&other)),
    }
}

async fn set_priority(
    _: AsSupervisor,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    Body(input): Body<PriorityInput>,
) -> Result<Response> {
    let command = Command::SetPriority {
        moderator_id: ModeratorId(id),
        priority: input.priority,
        actor: PriorityActor::Supervisor,
    };
    match state.writer.submit(command).await? {
        Reply::Queue(queue) => Ok(ok(views::queue_status(&queue))),
        other => Err(unexpected(&other)),
    }
}

async fn unlock_profile(
    _: AsSupervisor,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    _: NoBody,
) -> Result<Response> {
    let profile_id = ProfileId(id);
    let command = Command::SupervisorUnlockProfile { profile_id };
    let profile = state
        .writer
        .submit_and_read(command, None, move |engine, outcome| {
            outcome.map(|_| views::profile(engine, profile_id, false))
        })
        .await??;
    Ok(ok(profile))
}

async fn pin_profile(
    _: AsSupervisor,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    Body(input): Body<PinInput>,
) -> Result<Response> {
    let command =
        Command::SupervisorPinProfile { profile_id: ProfileId(id), moderator_id: ModeratorId(input.moderator_id) };
    match state.writer.submit(command).await? {
        Reply::ProfileLease(lease) => Ok(ok(views::lease(&lease))),
        other => Err(unexpected(&other)),
    }
}
