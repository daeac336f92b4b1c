//! Supervisors' routes (role `supervisor`, under `/api/supervisor`): the state (whole, or a
//! page of it with filters, for dashboards at 10,000 moderators and 100,000 profiles), the
//! load report, alerts, conflicts, and the levers (monitor, rebalance, priority, unlock, pin).
//!
//! The state's query parameters are read strictly here: an unknown, repeated or out-of-range
//! parameter is a 422, so that a typo never silently answers the whole state.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::json;
use switchboard_engine::{Command, ModeratorId, ModeratorState, PriorityActor, ProfileId, Reply};

use super::auth::AsSupervisor;
use super::error::Error;
use super::error::Result;
use super::extract::{Body, NoBody, PathIds};
use super::input::MAX_NAME_CHARS;
use super::input::{PinInput, PriorityInput};
use super::reply::{ok, unexpected};
use super::routes::Routes;
use super::state::AppState;
use super::views::{self, ProfileStatus, StatePage, StateQuery};
use crate::auth::Role;
use crate::openapi::QueryDoc;

/// Alerts returned by `GET /api/supervisor/alerts`, newest first.
pub const ALERTS_LIMIT: u32 = 500;

pub(crate) fn routes(routes: Routes) -> Routes {
    let supervisor = Some(Role::Supervisor);
    routes
        .add(
            Method::GET,
            "/api/supervisor/state",
            supervisor,
            "Every moderator, profile holder, lock and queue entry; with any query parameter, one page of moderators and of profiles, filtered, with counts",
            None,
            200,
            &[],
            get(state_view),
        )
        .with_query(STATE_QUERY)
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

/// Rows per page when a paged request names no limit.
pub const STATE_PAGE_DEFAULT: usize = 50;
/// The most rows one page may ask for.
pub const STATE_PAGE_MAX: usize = 1_000;
/// The largest offset accepted (beyond every realistic directory, and far from overflow).
pub const STATE_OFFSET_MAX: usize = 100_000_000;

/// The state's query parameters, as `/openapi.json` describes them.
const STATE_QUERY: &[QueryDoc] = &[
    QueryDoc::integer(
        "moderators_offset",
        0,
        STATE_OFFSET_MAX as u64,
        "moderators to skip (after filtering), in id order",
    ),
    QueryDoc::integer("moderators_limit", 0, STATE_PAGE_MAX as u64, "moderators to return (default 50)"),
    QueryDoc::text("moderators_q", "an exact moderator id, or part of a name (case-insensitive)"),
    QueryDoc::text("moderators_state", "comma-separated states: offline, queued, working, paused, away"),
    QueryDoc::integer("profiles_offset", 0, STATE_OFFSET_MAX as u64, "profiles to skip (after filtering), in id order"),
    QueryDoc::integer("profiles_limit", 0, STATE_PAGE_MAX as u64, "profiles to return (default 50)"),
    QueryDoc::text("profiles_q", "an exact profile id, or part of a name (case-insensitive)"),
    QueryDoc::text("profiles_status", "comma-separated statuses: held, free, orphan, inactive"),
];

async fn state_view(
    _: AsSupervisor,
    State(state): State<AppState>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let Query(pairs) =
        query.map_err(|rejection| Error::bad_request(format!("unreadable query string: {rejection}")))?;
    if pairs.is_empty() {
        return Ok(ok(state.writer.read(views::supervisor_state).await?));
    }
    let query = parse_state_query(&pairs)?;
    Ok(ok(state.writer.read(move |engine| views::supervisor_state_page(engine, &query)).await?))
}

/// Reads the paged form's parameters; every one is optional, none may repeat.
fn parse_state_query(pairs: &[(String, String)]) -> Result<StateQuery> {
    let mut query = StateQuery {
        moderators: StatePage { offset: 0, limit: STATE_PAGE_DEFAULT, search: None },
        profiles: StatePage { offset: 0, limit: STATE_PAGE_DEFAULT, search: None },
        moderator_states: None,
        profile_statuses: None,
    };
    let mut seen: Vec<&str> = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        if seen.contains(&name.as_str()) {
            return Err(Error::unprocessable(format!("query parameter {name} is given more than once")));
        }
        match name.as_str() {
            "moderators_offset" => query.moderators.offset = bounded(name, value, 0, STATE_OFFSET_MAX)?,
            "moderators_limit" => query.moderators.limit = bounded(name, value, 0, STATE_PAGE_MAX)?,
            "moderators_q" => query.moderators.search = Some(search(name, value)?),
            "moderators_state" => query.moderator_states = Some(list(name, value, parse_moderator_state)?),
            "profiles_offset" => query.profiles.offset = bounded(name, value, 0, STATE_OFFSET_MAX)?,
            "profiles_limit" => query.profiles.limit = bounded(name, value, 0, STATE_PAGE_MAX)?,
            "profiles_q" => query.profiles.search = Some(search(name, value)?),
            "profiles_status" => query.profile_statuses = Some(list(name, value, ProfileStatus::parse)?),
            _ => {
                let known: Vec<&str> = STATE_QUERY.iter().map(|doc| doc.name).collect();
                return Err(Error::unprocessable(format!(
                    "unknown query parameter {name:?}; known: {}",
                    known.join(", ")
                )));
            }
        }
        seen.push(name);
    }
    Ok(query)
}

/// A whole number in `min..=max`, written in plain digits (no sign, no spaces, no decimals).
fn bounded(name: &str, value: &str, min: usize, max: usize) -> Result<usize> {
    let number = (!value.is_empty() && value.len() <= 12 && value.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| value.parse::<usize>().ok())
        .flatten()
        .filter(|number| (min..=max).contains(number));
    number.ok_or_else(|| {
        Error::unprocessable(format!("{name} must be a whole number from {min} to {max}, not {value:?}"))
    })
}

/// A search text: trimmed, 1 to `MAX_NAME_CHARS` characters, no control characters.
fn search(name: &str, value: &str) -> Result<String> {
    let text = value.trim();
    if text.is_empty() {
        return Err(Error::unprocessable(format!("{name} must not be empty (leave it out to match everything)")));
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(Error::unprocessable(format!("{name} is longer than {MAX_NAME_CHARS} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::unprocessable(format!("{name} must not contain control characters")));
    }
    Ok(text.to_owned())
}

/// A comma-separated, non-empty list of known words.
fn list<T: PartialEq>(name: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<Vec<T>> {
    let mut items = Vec::new();
    for word in value.split(',') {
        let item = parse(word).ok_or_else(|| Error::unprocessable(format!("{name}: unknown value {word:?}")))?;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Ok(items)
}

fn parse_moderator_state(word: &str) -> Option<ModeratorState> {
    views::MODERATOR_STATES.into_iter().find(|state| state.as_str() == word)
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
