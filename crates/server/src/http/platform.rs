//! The host platform's routes (role `platform`): the directory of moderators, profiles and
//! clients, and inbound client messages (idempotent on `message_id`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{post, put};
use serde_json::json;
use switchboard_engine::{ClientId, Command, ConversationKey, ModeratorId, ProfileId, Reply};
use switchboard_store::{message_id_json, WriteError};

use super::auth::AsPlatform;
use super::error::{Error, Result};
use super::extract::{Body, PathIds};
use super::input::{parse_time, InboundMessageInput, NameInput, ProfileInput};
use super::reply::{answer, ok, unexpected};
use super::routes::Routes;
use super::state::AppState;
use super::views;
use crate::auth::Role;

pub(crate) fn routes(routes: Routes) -> Routes {
    let platform = Some(Role::Platform);
    routes
        .add(
            Method::PUT,
            "/api/moderators/{id}",
            platform,
            "Create or rename a moderator",
            Some("NameInput"),
            200,
            &[],
            put(put_moderator),
        )
        .add(
            Method::PUT,
            "/api/profiles/{id}",
            platform,
            "Create, rename, activate or deactivate a profile (active:false frees it)",
            Some("ProfileInput"),
            200,
            &[],
            put(put_profile),
        )
        .add(
            Method::PUT,
            "/api/clients/{id}",
            platform,
            "Create or rename a client",
            Some("NameInput"),
            200,
            &[],
            put(put_client),
        )
        .add(
            Method::POST,
            "/api/messages",
            platform,
            "Record an inbound client message; idempotent on message_id (a retry answers duplicate:true)",
            Some("InboundMessageInput"),
            202,
            &[],
            post(post_message),
        )
}

async fn put_moderator(
    _: AsPlatform,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    Body(input): Body<NameInput>,
) -> Result<Response> {
    let command = Command::UpsertModerator { moderator_id: ModeratorId(id), name: input.name.clone() };
    match state.writer.submit(command).await? {
        Reply::Moderator(status) => {
            let mut value = views::status(&status);
            value["name"] = json!(input.name);
            Ok(ok(value))
        }
        other => Err(unexpected(&other)),
    }
}

async fn put_profile(
    _: AsPlatform,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    Body(input): Body<ProfileInput>,
) -> Result<Response> {
    let profile_id = ProfileId(id);
    let command = Command::UpsertProfile { profile_id, name: input.name, active: input.active };
    let (reply, profile) = state
        .writer
        .submit_and_read(command, None, move |engine, outcome| {
            outcome.map(|reply| (reply, views::profile(engine, profile_id, false)))
        })
        .await??;
    match reply {
        Reply::Profile { .. } => Ok(ok(profile)),
        other => Err(unexpected(&other)),
    }
}

async fn put_client(
    _: AsPlatform,
    State(state): State<AppState>,
    PathIds([id]): PathIds<1>,
    Body(input): Body<NameInput>,
) -> Result<Response> {
    let command = Command::UpsertClient { client_id: ClientId(id), name: input.name.clone() };
    match state.writer.submit(command).await? {
        Reply::Client { client_id } => Ok(ok(json!({"client_id": client_id.0, "name": input.name}))),
        other => Err(unexpected(&other)),
    }
}

async fn post_message(
    _: AsPlatform,
    State(state): State<AppState>,
    Body(input): Body<InboundMessageInput>,
) -> Result<Response> {
    let sent_at = match &input.sent_at {
        Some(text) => parse_time(text).map_err(|message| Error::unprocessable(format!("sent_at: {message}")))?,
        None => state.clock.now(),
    };
    let command = Command::InboundMessage {
        message_id: input.message_id.parse("message_id")?,
        client_id: ClientId(input.client_id),
        profile_id: ProfileId(input.profile_id),
        body: Arc::from(input.body),
        sent_at,
    };
    // The conversation is read right after the command, in the same batch: one commit.
    let key = ConversationKey { client_id: ClientId(input.client_id), profile_id: ProfileId(input.profile_id) };
    // The command carries the body and time the message row is stored with.
    let (reply, conversation) = state
        .writer
        .submit_and_read(command, None, move |engine, outcome| {
            outcome.map(|reply| (reply, views::conversation(engine, key)))
        })
        .await
        .and_then(|outcome| outcome.map_err(WriteError::Rejected))
        .map_err(Error::ingestion)?;
    match reply {
        Reply::MessageAccepted { message_id, duplicate, .. } => Ok(answer(
            StatusCode::ACCEPTED,
            json!({"message_id": message_id_json(&message_id), "conversation": conversation, "duplicate": duplicate}),
        )),
        other => Err(unexpected(&other)),
    }
}
