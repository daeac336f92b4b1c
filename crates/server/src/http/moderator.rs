//! The moderator console's routes (role `moderator`, under `/moderateur`): connecting, the
//! queue, typing, replies, initiations, locks and conflicts. The moderator is always the
//! token's `sub`; every call counts as presence (GETs send a heartbeat, commands carry it).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use switchboard_engine::{
    ClientId, Command, ConflictId, ConversationKey, ModeratorId, PriorityActor, ProfileId, Reply,
};
use switchboard_store::{rfc3339, NewMessage};

use super::auth::AsModerator;
use super::error::{Error, Result};
use super::extract::{Body, NoBody, PathIds};
use super::input::{ConversationInput, ExtendInput, LockTarget, PriorityInput, ReplyInput, ResolveInput, UnlockInput};
use super::reply::{answer, ok, unexpected};
use super::routes::Routes;
use super::state::AppState;
use super::views;
use crate::auth::Role;

/// Messages returned by `GET /moderateur/conversations/{client_id}/{profile_id}`: the latest.
pub const CONVERSATION_MESSAGES_LIMIT: u32 = 200;

pub(crate) fn routes(routes: Routes) -> Routes {
    let moderator = Some(Role::Moderator);
    routes
        .add(
            Method::POST,
            "/moderateur/connect",
            moderator,
            "Connect: join the queue or take a free profile",
            None,
            200,
            &[],
            post(connect),
        )
        .add(
            Method::POST,
            "/moderateur/disconnect",
            moderator,
            "Disconnect: give back every profile and lock",
            None,
            200,
            &[],
            post(disconnect),
        )
        .add(Method::GET, "/moderateur/status", moderator, "The moderator's status", None, 200, &[], get(status))
        .add(
            Method::GET,
            "/moderateur/profiles",
            moderator,
            "Held profiles with their conversations and lock",
            None,
            200,
            &[],
            get(profiles),
        )
        .add(
            Method::GET,
            "/moderateur/conversations/{client_id}/{profile_id}",
            moderator,
            "A conversation's messages and client lock (profile holder only)",
            None,
            200,
            &[404],
            get(conversation),
        )
        .add(
            Method::POST,
            "/moderateur/typing",
            moderator,
            "Typing: takes or renews the client lock",
            Some("ConversationInput"),
            204,
            &[404, 409],
            post(typing),
        )
        .add(
            Method::POST,
            "/moderateur/messages",
            moderator,
            "Send a reply as the profile",
            Some("ReplyInput"),
            201,
            &[404, 409],
            post(send_message),
        )
        .add(
            Method::POST,
            "/moderateur/initiations",
            moderator,
            "Start a first-contact message: takes the client lock",
            Some("ConversationInput"),
            201,
            &[404, 409],
            post(initiate),
        )
        .add(
            Method::GET,
            "/moderateur/queue/status",
            moderator,
            "The moderator's place in the queue",
            None,
            200,
            &[],
            get(queue_status),
        )
        .add(
            Method::POST,
            "/moderateur/queue/leave",
            moderator,
            "Leave the queue (paused)",
            None,
            200,
            &[409],
            post(leave_queue),
        )
        .add(
            Method::POST,
            "/moderateur/queue/priority",
            moderator,
            "Set one's own queue priority (up to max_self_priority)",
            Some("PriorityInput"),
            200,
            &[],
            post(set_priority),
        )
        .add(
            Method::GET,
            "/moderateur/locks/status",
            moderator,
            "Profile locks, client locks and blocked clients",
            None,
            200,
            &[],
            get(lock_status),
        )
        .add(
            Method::POST,
            "/moderateur/locks/request-unlock",
            moderator,
            "Give back a profile or a client lock (holder only)",
            Some("UnlockInput"),
            200,
            &[404],
            post(request_unlock),
        )
        .add(
            Method::POST,
            "/moderateur/locks/extend",
            moderator,
            "Extend a profile lease or a client lock (holder only)",
            Some("ExtendInput"),
            200,
            &[404],
            post(extend),
        )
        .add(
            Method::GET,
            "/moderateur/conflicts",
            moderator,
            "The moderator's own conflicts",
            None,
            200,
            &[],
            get(conflicts),
        )
        .add(
            Method::POST,
            "/moderateur/conflicts/resolve",
            moderator,
            "Acknowledge a conflict",
            Some("ResolveInput"),
            200,
            &[404],
            post(resolve_conflict),
        )
}

/// A moderator GET is presence (SPEC §2). An unknown moderator simply has no presence to
/// record; storage trouble is reported.
/// Counts the call as presence (a heartbeat, whose refusal does not matter here) and runs
/// `read` right after it, in the same batch: one commit per GET.
async fn read_with_heartbeat<R: Send + 'static>(
    state: &AppState,
    moderator_id: ModeratorId,
    read: impl FnOnce(&switchboard_engine::Engine) -> R + Send + 'static,
) -> Result<R> {
    let heartbeat = Command::Heartbeat { moderator_id };
    state.writer.submit_and_read(heartbeat, None, move |engine, _| read(engine)).await.map_err(Error::from)
}

fn status_answer(reply: Reply) -> Result<Response> {
    match reply {
        Reply::Moderator(status) => Ok(ok(views::status(&status))),
        other => Err(unexpected(&other)),
    }
}

async fn connect(AsModerator(moderator_id): AsModerator, State(state): State<AppState>, _: NoBody) -> Result<Response> {
    status_answer(state.writer.submit(Command::Connect { moderator_id, connected_at: state.clock.now() }).await?)
}

async fn disconnect(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    _: NoBody,
) -> Result<Response> {
    status_answer(state.writer.submit(Command::Disconnect { moderator_id }).await?)
}

async fn status(AsModerator(moderator_id): AsModerator, State(state): State<AppState>) -> Result<Response> {
    let status = read_with_heartbeat(&state, moderator_id, move |engine| engine.status(moderator_id)).await?;
    Ok(ok(views::status(&status)))
}

async fn profiles(AsModerator(moderator_id): AsModerator, State(state): State<AppState>) -> Result<Response> {
    let profiles = read_with_heartbeat(&state, moderator_id, move |engine| {
        engine
            .moderator(moderator_id)
            .map(|moderator| {
                moderator.assignments.keys().map(|&profile_id| views::profile(engine, profile_id, true)).collect()
            })
            .unwrap_or_else(Vec::new)
    })
    .await?;
    Ok(ok(json!({ "profiles": profiles })))
}

async fn conversation(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    PathIds([client_id, profile_id]): PathIds<2>,
) -> Result<Response> {
    let key = ConversationKey { client_id: ClientId(client_id), profile_id: ProfileId(profile_id) };
    let lock = read_with_heartbeat(&state, moderator_id, move |engine| {
        let profile =
            engine.profile(key.profile_id).ok_or(Error::NotFound(format!("profile {profile_id} is not known")))?;
        if profile.holder() != Some(moderator_id) {
            return Err(Error::Forbidden(format!(
                "moderator {moderator_id} does not hold profile {profile_id}; only its holder reads its conversations"
            )));
        }
        let lock = engine.client_lock_views(key.client_id).into_iter().find(|lock| lock.profile_id == key.profile_id);
        Ok(lock.as_ref().map(views::client_lock))
    })
    .await??;
    let messages = state.store.messages(key, CONVERSATION_MESSAGES_LIMIT).await?;
    Ok(ok(json!({
        "client_id": client_id,
        "profile_id": profile_id,
        "messages": messages.iter().map(views::message).collect::<Vec<_>>(),
        "lock": lock,
    })))
}

async fn typing(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<ConversationInput>,
) -> Result<Response> {
    let command = Command::Typing {
        moderator_id,
        client_id: ClientId(input.client_id),
        profile_id: ProfileId(input.profile_id),
        lease_token: None,
    };
    state.writer.submit(command).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn send_message(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<ReplyInput>,
) -> Result<Response> {
    let sent_at = state.clock.now();
    let command = Command::SendMessage {
        moderator_id,
        client_id: ClientId(input.client_id),
        profile_id: ProfileId(input.profile_id),
        lease_token: None,
    };
    let reply = state.writer.submit_with_message(command, NewMessage { body: input.body.clone(), sent_at }).await?;
    match reply {
        Reply::MessageSent { client_id, profile_id, response_millis } => Ok(answer(
            StatusCode::CREATED,
            json!({
                "client_id": client_id.0,
                "profile_id": profile_id.0,
                "moderator_id": moderator_id.0,
                "direction": "outbound",
                "body": input.body,
                "sent_at": rfc3339(sent_at),
                "response_seconds": response_millis.map(|millis| millis / 1000),
            }),
        )),
        other => Err(unexpected(&other)),
    }
}

async fn initiate(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<ConversationInput>,
) -> Result<Response> {
    let command = Command::Initiate {
        moderator_id,
        client_id: ClientId(input.client_id),
        profile_id: ProfileId(input.profile_id),
    };
    match state.writer.submit(command).await? {
        Reply::ClientLock(lock) => Ok(answer(StatusCode::CREATED, views::client_lock(&lock))),
        other => Err(unexpected(&other)),
    }
}

async fn queue_status(AsModerator(moderator_id): AsModerator, State(state): State<AppState>) -> Result<Response> {
    let queue = read_with_heartbeat(&state, moderator_id, move |engine| engine.queue_status(moderator_id)).await?;
    Ok(ok(views::queue_status(&queue)))
}

async fn leave_queue(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    _: NoBody,
) -> Result<Response> {
    status_answer(state.writer.submit(Command::LeaveQueue { moderator_id }).await?)
}

async fn set_priority(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<PriorityInput>,
) -> Result<Response> {
    let command = Command::SetPriority { moderator_id, priority: input.priority, actor: PriorityActor::Moderator };
    match state.writer.submit(command).await? {
        Reply::Queue(queue) => Ok(ok(views::queue_status(&queue))),
        other => Err(unexpected(&other)),
    }
}

async fn lock_status(AsModerator(moderator_id): AsModerator, State(state): State<AppState>) -> Result<Response> {
    let status = read_with_heartbeat(&state, moderator_id, move |engine| engine.lock_status(moderator_id)).await?;
    Ok(ok(views::lock_status(&status)))
}

async fn request_unlock(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<UnlockInput>,
) -> Result<Response> {
    let command = match input.target()? {
        LockTarget::Profile(id) => Command::ReleaseProfile { moderator_id, profile_id: ProfileId(id) },
        LockTarget::Client(id) => Command::ReleaseClient { moderator_id, client_id: ClientId(id) },
    };
    status_answer(state.writer.submit(command).await.map_err(Error::holder_only)?)
}

async fn extend(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<ExtendInput>,
) -> Result<Response> {
    let command = match input.target()? {
        LockTarget::Profile(id) => {
            Command::ExtendProfileLease { moderator_id, profile_id: ProfileId(id), seconds: input.seconds }
        }
        LockTarget::Client(id) => {
            Command::ExtendClientLock { moderator_id, client_id: ClientId(id), seconds: input.seconds }
        }
    };
    match state.writer.submit(command).await.map_err(Error::holder_only)? {
        Reply::ProfileLease(lease) => Ok(ok(views::lease(&lease))),
        Reply::ClientLocks(locks) => {
            let latest = locks.iter().max_by_key(|lock| lock.expires_at).map(views::client_lock);
            let mut value = latest.unwrap_or_else(|| json!({"type": "client"}));
            value["locks"] = locks.iter().map(views::client_lock).collect();
            Ok(ok(value))
        }
        other => Err(unexpected(&other)),
    }
}

async fn conflicts(AsModerator(moderator_id): AsModerator, State(state): State<AppState>) -> Result<Response> {
    let conflicts = read_with_heartbeat(&state, moderator_id, move |engine| {
        engine
            .conflicts()
            .filter(|conflict| conflict.participants.contains(&moderator_id))
            .map(|conflict| views::conflict(&conflict.view()))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(ok(json!({ "conflicts": conflicts })))
}

async fn resolve_conflict(
    AsModerator(moderator_id): AsModerator,
    State(state): State<AppState>,
    Body(input): Body<ResolveInput>,
) -> Result<Response> {
    let command = Command::ResolveConflict { moderator_id, conflict_id: ConflictId(input.conflict_id) };
    match state.writer.submit(command).await? {
        Reply::Conflict(conflict) => Ok(ok(views::conflict(&conflict))),
        other => Err(unexpected(&other)),
    }
}
