//! Bearer tokens for the load tool: HS256 JWTs signed with the service's shared secret, with
//! the claims API.md names (`sub` = moderator id as a string, `role`, `exp`).
//!
//! This module only signs; it never talks to the service. The host platform mints tokens the
//! same way, so a token accepted here is one the real platform could have sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// Who a token acts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The host platform: registers the directory and ingests client messages.
    Platform,
    /// A supervisor: reads the state, may subscribe to any channel.
    Supervisor,
    /// One moderator, acting only as itself.
    Moderator(u64),
}

/// The JWT claims the service reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The moderator id as a string; absent for platform and supervisor tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `moderator`, `platform` or `supervisor`.
    pub role: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Claims {
    /// The claims of a token for `role` expiring `ttl` after `now_seconds`.
    #[must_use]
    pub fn new(role: Role, now_seconds: u64, ttl: Duration) -> Claims {
        let exp = now_seconds.saturating_add(ttl.as_secs().max(1));
        match role {
            Role::Platform => Claims { sub: None, role: "platform".to_owned(), exp },
            Role::Supervisor => Claims { sub: None, role: "supervisor".to_owned(), exp },
            Role::Moderator(id) => Claims { sub: Some(id.to_string()), role: "moderator".to_owned(), exp },
        }
    }
}

/// Signs tokens with one secret and one lifetime.
#[derive(Clone)]
pub struct TokenMinter {
    key: EncodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for TokenMinter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TokenMinter").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// A minter for the service whose `jwt_secret` is `secret`.
    #[must_use]
    pub fn new(secret: &str, ttl: Duration) -> TokenMinter {
        TokenMinter { key: EncodingKey::from_secret(secret.as_bytes()), ttl }
    }

    /// A signed token for `role`, valid for the minter's lifetime from now.
    ///
    /// # Errors
    /// Signing failed (it does not with HS256 and a byte secret).
    pub fn mint(&self, role: Role) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        Ok(encode(&Header::new(Algorithm::HS256), &Claims::new(role, now, self.ttl), &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    fn read(token: &str, secret: &str) -> Claims {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation).expect("valid token").claims
    }

    #[test]
    fn a_moderator_token_names_the_moderator_as_a_string() {
        let minter = TokenMinter::new("shared", Duration::from_secs(3600));
        let claims = read(&minter.mint(Role::Moderator(42)).expect("signed"), "shared");
        assert_eq!(claims.sub.as_deref(), Some("42"));
        assert_eq!(claims.role, "moderator");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        assert!(claims.exp >= now + 3590 && claims.exp <= now + 3610, "{claims:?}");
    }

    #[test]
    fn platform_and_supervisor_tokens_have_no_subject() {
        let minter = TokenMinter::new("shared", Duration::from_secs(60));
        for (role, name) in [(Role::Platform, "platform"), (Role::Supervisor, "supervisor")] {
            let claims = read(&minter.mint(role).expect("signed"), "shared");
            assert_eq!((claims.sub, claims.role.as_str()), (None, name));
        }
        let header = minter.mint(Role::Platform).expect("signed");
        let payload = header.split('.').nth(1).expect("three parts");
        assert!(!payload.is_empty());
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = TokenMinter::new("one", Duration::from_secs(60)).mint(Role::Supervisor).expect("signed");
        let validation = Validation::new(Algorithm::HS256);
        assert!(decode::<Claims>(&token, &DecodingKey::from_secret(b"two"), &validation).is_err());
    }

    #[test]
    fn claims_are_built_from_the_clock_given() {
        let claims = Claims::new(Role::Moderator(7), 1_000, Duration::from_secs(30));
        assert_eq!(claims, Claims { sub: Some("7".into()), role: "moderator".into(), exp: 1_030 });
    }
}
