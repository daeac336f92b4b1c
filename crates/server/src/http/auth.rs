//! Per-route role checks: extractors that read the bearer token and let a handler run only
//! for its role. Missing, expired, forged or malformed tokens give 401; a valid token of
//! another role gives 403. A moderator handler receives only the token's own moderator id.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use switchboard_engine::ModeratorId;

use super::error::Error;
use super::state::AppState;
use crate::auth::{Caller, Role, TokenError, Tokens};

/// The verified caller of a request, whatever its role.
///
/// # Errors
/// 401 when the header is missing or the token does not verify.
pub fn caller(tokens: &Tokens, headers: &HeaderMap) -> Result<Caller, Error> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthorized("an `Authorization: Bearer <token>` header is required".to_owned()))?;
    let text = value.to_str().map_err(|_| Error::Unauthorized("the Authorization header is not ASCII".to_owned()))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Error::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned()))?;
    tokens.verify(token).map_err(|error: TokenError| Error::Unauthorized(error.to_string()))
}

fn require(state: &AppState, parts: &Parts, role: Role) -> Result<Caller, Error> {
    let caller = caller(&state.tokens, &parts.headers)?;
    if caller.role() != role {
        return Err(Error::Forbidden(format!(
            "this route is for the {} role; the token is for {}",
            role.as_str(),
            caller.role().as_str()
        )));
    }
    Ok(caller)
}

/// A request made with a moderator token: the moderator it acts as.
pub struct AsModerator(pub ModeratorId);

impl FromRequestParts<AppState> for AsModerator {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match require(state, parts, Role::Moderator)? {
            Caller::Moderator(id) => Ok(AsModerator(id)),
            _ => Err(Error::Forbidden("a moderator token is required".to_owned())),
        }
    }
}

/// A request made with a platform token.
pub struct AsPlatform;

impl FromRequestParts<AppState> for AsPlatform {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        require(state, parts, Role::Platform).map(|_| AsPlatform)
    }
}

/// A request made with a supervisor token.
pub struct AsSupervisor;

impl FromRequestParts<AppState> for AsSupervisor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        require(state, parts, Role::Supervisor).map(|_| AsSupervisor)
    }
}
