//! Bearer tokens: HS256 JWTs with the claims `sub` (the moderator id, for moderators),
//! `role` and `exp`, as the host platform mints them with the shared secret.
//!
//! This module owns minting and verifying only; which route needs which role is decided in
//! `http::auth`, and nothing here knows HTTP. Expiry is judged by the service's clock (the
//! writer's), not by the system's, so a test that moves a manual clock expires tokens too.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use switchboard_engine::ModeratorId;
use switchboard_store::Clock;

/// Clock skew tolerated on `exp` between the host platform and this service.
pub const EXPIRY_LEEWAY_SECONDS: u64 = 5;

/// The three kinds of callers (API.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Moderator,
    Platform,
    Supervisor,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Platform => "platform",
            Role::Supervisor => "supervisor",
        }
    }

    /// Parses `moderator`, `platform` or `supervisor`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "moderator" => Some(Role::Moderator),
            "platform" => Some(Role::Platform),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

/// Who a verified token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A moderator acting as itself only.
    Moderator(ModeratorId),
    Platform,
    Supervisor,
}

impl Caller {
    #[must_use]
    pub fn role(self) -> Role {
        match self {
            Caller::Moderator(_) => Role::Moderator,
            Caller::Platform => Role::Platform,
            Caller::Supervisor => Role::Supervisor,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    role: String,
    exp: u64,
}

/// Why a token was refused. The message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not a valid HS256 token signed with this service's secret")]
    Invalid,
    #[error("the token's role is not moderator, platform or supervisor")]
    UnknownRole,
    #[error("a moderator token needs `sub`, the moderator id as a positive integer string")]
    BadSubject,
}

/// Mints and verifies tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The present for `exp`, both when minting and when verifying.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Tokens(<secret>)")
    }
}

impl Tokens {
    #[must_use]
    pub fn new(secret: &str, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` must be there, but jsonwebtoken would compare it with the system clock:
        // `verify` compares it with `clock` instead.
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = false;
        Tokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            clock,
        }
    }

    fn now_seconds(&self) -> u64 {
        self.clock.now().as_millis() / 1000
    }

    /// A token for `caller` valid for `ttl` from now.
    ///
    /// # Errors
    /// Only if signing itself fails, which HS256 with a byte secret does not.
    pub fn mint(&self, caller: Caller, ttl: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Duration::from_secs(self.now_seconds());
        let claims = Claims {
            sub: match caller {
                Caller::Moderator(id) => Some(id.0.to_string()),
                _ => None,
            },
            role: caller.role().as_str().to_owned(),
            exp: now.saturating_add(ttl).as_secs(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Checks signature, algorithm and expiry, then reads the caller.
    ///
    /// # Errors
    /// See [`TokenError`].
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| TokenError::Invalid)?.claims;
        if claims.exp.saturating_add(EXPIRY_LEEWAY_SECONDS) < self.now_seconds() {
            return Err(TokenError::Expired);
        }
        match Role::parse(&claims.role).ok_or(TokenError::UnknownRole)? {
            Role::Platform => Ok(Caller::Platform),
            Role::Supervisor => Ok(Caller::Supervisor),
            Role::Moderator => {
                let subject = claims.sub.ok_or(TokenError::BadSubject)?;
                let id = parse_positive_id(&subject).ok_or(TokenError::BadSubject)?;
                Ok(Caller::Moderator(ModeratorId(id)))
            }
        }
    }
}

/// A positive integer within `i64` (the databases' range), written in plain digits.
#[must_use]
pub fn parse_positive_id(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (1..=i64::MAX as u64).contains(&value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engine::Timestamp;
    use switchboard_store::testing::ManualClock;
    use switchboard_store::SystemClock;

    fn system_tokens(secret: &str) -> Tokens {
        Tokens::new(secret, Arc::new(SystemClock))
    }

    #[test]
    fn round_trip_for_each_role() {
        let tokens = system_tokens("secret");
        for caller in [Caller::Moderator(ModeratorId(7)), Caller::Platform, Caller::Supervisor] {
            let token = tokens.mint(caller, Duration::from_secs(60)).expect("mint");
            assert_eq!(tokens.verify(&token), Ok(caller));
        }
    }

    #[test]
    fn forged_expired_and_malformed_are_refused() {
        let tokens = system_tokens("secret");
        let other = system_tokens("other").mint(Caller::Supervisor, Duration::from_secs(60)).expect("mint");
        assert_eq!(tokens.verify(&other), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("not.a.token"), Err(TokenError::Invalid));
        assert_eq!(tokens.verify(""), Err(TokenError::Invalid));
        let claims = Claims { sub: None, role: "supervisor".into(), exp: 1 };
        let expired = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(tokens.verify(&expired), Err(TokenError::Expired));
        let far = u64::MAX / 4;
        for (sub, role, expected) in [
            (None, "moderator", TokenError::BadSubject),
            (Some("0"), "moderator", TokenError::BadSubject),
            (Some("-3"), "moderator", TokenError::BadSubject),
            (Some("99999999999999999999"), "moderator", TokenError::BadSubject),
            (Some("1"), "admin", TokenError::UnknownRole),
        ] {
            let claims = Claims { sub: sub.map(str::to_owned), role: role.into(), exp: far };
            let token = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"secret")).unwrap();
            assert_eq!(tokens.verify(&token), Err(expected));
        }
        // Another algorithm with the same secret is refused.
        let claims = Claims { sub: None, role: "supervisor".into(), exp: far };
        let hs512 = encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(tokens.verify(&hs512), Err(TokenError::Invalid));
    }

    #[test]
    fn expiry_follows_the_service_clock_with_its_leeway() {
        let clock = ManualClock::new(Timestamp(1_000_000_000_000));
        let tokens = Tokens::new("secret", clock.clone());
        let token = tokens.mint(Caller::Platform, Duration::from_secs(60)).expect("mint");
        clock.advance(Duration::from_secs(60 + EXPIRY_LEEWAY_SECONDS));
        assert_eq!(tokens.verify(&token), Ok(Caller::Platform), "still within the leeway");
        clock.advance(Duration::from_secs(1));
        assert_eq!(tokens.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn ids_are_positive_and_in_range() {
        assert_eq!(parse_positive_id("7"), Some(7));
        assert_eq!(parse_positive_id("9223372036854775807"), Some(i64::MAX as u64));
        for bad in ["0", "", "+7", "-7", "7.0", "9223372036854775808", "१"] {
            assert_eq!(parse_positive_id(bad), None, "{bad}");
        }
    }
}
