//! Request bodies: one strict type per route (unknown fields refused, exact types) and the
//! value checks serde cannot express (ids in range, bounded strings, no control characters
//! in names, timestamps, the two forms of a message id). Nothing here talks to the engine.

use std::fmt;
use std::time::UNIX_EPOCH;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use switchboard_engine::{MessageId, MessageKey, Timestamp};

use super::error::Error;

/// Longest name (moderator, profile, client), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Longest explicit lock extension one request may ask for.
pub const MAX_EXTENSION_SECONDS: u32 = 24 * 3600;
/// Queue priorities are bounded so that nobody overflows arithmetic on them.
pub const MAX_PRIORITY_MAGNITUDE: i32 = 1_000_000;

/// Value checks run after deserialisation.
pub trait Validate {
    /// # Errors
    /// 422 `invalid_request` naming the field.
    fn validate(&self) -> Result<(), Error>;
}

fn id(field: &str, value: u64) -> Result<(), Error> {
    if value == 0 || value > i64::MAX as u64 {
        return Err(Error::unprocessable(format!("{field} must be a positive integer of at most {}", i64::MAX)));
    }
    Ok(())
}

fn name(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::unprocessable(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Error::unprocessable(format!("{field} is longer than {MAX_NAME_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::unprocessable(format!("{field} must not contain control characters")));
    }
    Ok(())
}

fn message_body(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::unprocessable(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_BODY_CHARS {
        return Err(Error::unprocessable(format!("{field} is longer than {MAX_BODY_CHARS} characters")));
    }
    if value.chars().any(|character| character.is_control() && !matches!(character, '\n' | '\r' | '\t')) {
        return Err(Error::unprocessable(format!(
            "{field} must not contain control characters other than newlines and tabs"
        )));
    }
    Ok(())
}

/// `PUT /api/moderators/{id}` and `PUT /api/clients/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameInput {
    pub name: String,
}

impl Validate for NameInput {
    fn validate(&self) -> Result<(), Error> {
        name("name", &self.name)
    }
}

/// `PUT /api/profiles/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub name: String,
    pub active: bool,
}

impl Validate for ProfileInput {
    fn validate(&self) -> Result<(), Error> {
        name("name", &self.name)
    }
}

/// What API.md allows for a message id, for serde's own "invalid type: ..., expected ..."
/// (which names no field, so this does).
const MESSAGE_ID_FORMS: &str = "a message id: a positive integer or a string of 1-128 characters from [A-Za-z0-9._:-]";

/// A `message_id` as it came: a JSON integer or a JSON string, anything else (a float, a
/// bool, null, an array, an object) refused by serde with the forms expected. Its value is
/// checked by [`InboundMessageInput::validate`], its form kept so that it is echoed back as
/// it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageIdInput {
    /// Any JSON integer, negative ones included, so that their refusal names the range.
    Integer(i128),
    Text(String),
}

impl MessageIdInput {
    /// The engine's id, or 422 naming `field` and what is allowed.
    ///
    /// # Errors
    /// Zero, negative or above `i64::MAX`; an empty string, one over 128 characters or with
    /// a character outside `[A-Za-z0-9._:-]`.
    pub fn parse(&self, field: &str) -> Result<MessageId, Error> {
        match self {
            MessageIdInput::Integer(number) => match u64::try_from(*number) {
                Ok(number) if number > 0 && number <= i64::MAX as u64 => Ok(MessageId::Number(number)),
                _ => Err(Error::unprocessable(format!(
                    "{field} must be a positive integer of at most {} or a string of 1-{} characters from \
                     [A-Za-z0-9._:-]; {number} is not",
                    i64::MAX,
                    MessageKey::MAX_CHARS
                ))),
            },
            MessageIdInput::Text(text) => MessageKey::parse(text)
                .map(MessageId::Key)
                .map_err(|error| Error::unprocessable(format!("{field}: a string message id {error}"))),
        }
    }
}

impl<'de> Deserialize<'de> for MessageIdInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Forms;

        impl Visitor<'_> for Forms {
            type Value = MessageIdInput;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(MESSAGE_ID_FORMS)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<MessageIdInput, E> {
                Ok(MessageIdInput::Integer(i128::from(value)))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<MessageIdInput, E> {
                Ok(MessageIdInput::Integer(i128::from(value)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<MessageIdInput, E> {
                Ok(MessageIdInput::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(Forms)
    }
}

/// `POST /api/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessageInput {
    pub message_id: MessageIdInput,
    pub client_id: u64,
    pub profile_id: u64,
    pub body: String,
    #[serde(default)]
    pub sent_at: Option<String>,
}

impl Validate for InboundMessageInput {
    fn validate(&self) -> Result<(), Error> {
        self.message_id.parse("message_id")?;
        id("client_id", self.client_id)?;
        id("profile_id", self.profile_id)?;
        message_body("body", &self.body)?;
        if let Some(sent_at) = &self.sent_at {
            parse_time(sent_at).map_err(|message| Error::unprocessable(format!("sent_at: {message}")))?;
        }
        Ok(())
    }
}

/// `POST /moderateur/typing`, `POST /moderateur/initiations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationInput {
    pub client_id: u64,
    pub profile_id: u64,
}

impl Validate for ConversationInput {
    fn validate(&self) -> Result<(), Error> {
        id("client_id", self.client_id)?;
        id("profile_id", self.profile_id)
    }
}

/// `POST /moderateur/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    pub client_id: u64,
    pub profile_id: u64,
    pub body: String,
}

impl Validate for ReplyInput {
    fn validate(&self) -> Result<(), Error> {
        id("client_id", self.client_id)?;
        id("profile_id", self.profile_id)?;
        message_body("body", &self.body)
    }
}

/// `POST /moderateur/queue/priority`, `PUT /api/supervisor/moderators/{id}/priority`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityInput {
    pub priority: i32,
}

impl Validate for PriorityInput {
    fn validate(&self) -> Result<(), Error> {
        if self.priority.unsigned_abs() > MAX_PRIORITY_MAGNITUDE.unsigned_abs() {
            return Err(Error::unprocessable(format!(
                "priority must be between -{MAX_PRIORITY_MAGNITUDE} and {MAX_PRIORITY_MAGNITUDE}"
            )));
        }
        Ok(())
    }
}

/// What a lock request names: exactly one of a profile and a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockTarget {
    Profile(u64),
    Client(u64),
}

fn lock_target(profile_id: Option<u64>, client_id: Option<u64>) -> Result<LockTarget, Error> {
    match (profile_id, client_id) {
        (Some(profile_id), None) => id("profile_id", profile_id).map(|()| LockTarget::Profile(profile_id)),
        (None, Some(client_id)) => id("client_id", client_id).map(|()| LockTarget::Client(client_id)),
        _ => Err(Error::unprocessable("give exactly one of profile_id and client_id")),
    }
}

/// `POST /moderateur/locks/request-unlock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockInput {
    #[serde(default)]
    pub profile_id: Option<u64>,
    #[serde(default)]
    pub client_id: Option<u64>,
}

impl UnlockInput {
    /// # Errors
    /// Neither or both ids given.
    pub fn target(&self) -> Result<LockTarget, Error> {
        lock_target(self.profile_id, self.client_id)
    }
}

impl Validate for UnlockInput {
    fn validate(&self) -> Result<(), Error> {
        self.target().map(|_| ())
    }
}

/// `POST /moderateur/locks/extend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendInput {
    #[serde(default)]
    pub profile_id: Option<u64>,
    #[serde(default)]
    pub client_id: Option<u64>,
    pub seconds: u32,
}

impl ExtendInput {
    /// # Errors
    /// Neither or both ids given.
    pub fn target(&self) -> Result<LockTarget, Error> {
        lock_target(self.profile_id, self.client_id)
    }
}

impl Validate for ExtendInput {
    fn validate(&self) -> Result<(), Error> {
        self.target()?;
        if self.seconds == 0 || self.seconds > MAX_EXTENSION_SECONDS {
            return Err(Error::unprocessable(format!("seconds must be between 1 and {MAX_EXTENSION_SECONDS}")));
        }
        Ok(())
    }
}

/// `POST /moderateur/conflicts/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub conflict_id: u64,
}

impl Validate for ResolveInput {
    fn validate(&self) -> Result<(), Error> {
        id("conflict_id", self.conflict_id)
    }
}

/// `POST /api/supervisor/profiles/{id}/pin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinInput {
    pub moderator_id: u64,
}

impl Validate for PinInput {
    fn validate(&self) -> Result<(), Error> {
        id("moderator_id", self.moderator_id)
    }
}

/// Parses an RFC 3339 time (`2024-05-01T12:00:00Z`, `...+02:00`, fractions allowed) at or
/// after 1970 into a [`Timestamp`].
///
/// # Errors
/// A message for the caller.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    const HINT: &str = "expected an RFC 3339 time like 2024-05-01T12:00:00Z";
    if text.len() > 64 || !text.is_ascii() {
        return Err(HINT.to_owned());
    }
    let (local, offset_seconds) = split_offset(text).ok_or_else(|| HINT.to_owned())?;
    let base = humantime::parse_rfc3339(&format!("{local}Z")).map_err(|_| HINT.to_owned())?;
    let millis =
        base.duration_since(UNIX_EPOCH).map_err(|_| "times before 1970 are not accepted".to_owned())?.as_millis();
    let utc_millis = i128::try_from(millis).map_err(|_| HINT.to_owned())? - i128::from(offset_seconds) * 1000;
    u64::try_from(utc_millis).map(Timestamp).map_err(|_| "times before 1970 are not accepted".to_owned())
}

/// `local` without its zone, and the zone's offset east of UTC in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((local, 0));
    }
    let (local, zone) = text.split_at(text.len().checked_sub(6)?);
    let bytes = zone.as_bytes();
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if bytes[3] != b':' || !local.contains('T') {
        return None;
    }
    let hours: i64 = zone[1..3].parse().ok()?;
    let minutes: i64 = zone[4..6].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_sync_names_a_node_and_positive_ids() {
        let sync = |node: &str, moderators: Vec<u64>| PresenceSetInput { node: node.to_owned(), moderators };
        assert!(sync("node-1", vec![1, 2]).validate().is_ok());
        assert!(sync("node-1", vec![]).validate().is_ok(), "a node without sockets says so");
        for (bad, why) in [
            (sync(" ", vec![1]), "an empty node"),
            (sync("node\n1", vec![1]), "a control character"),
            (sync(&"n".repeat(MAX_NODE_NAME_CHARS + 1), vec![1]), "a long node name"),
            (sync("node-1", vec![1, 0]), "id 0"),
            (sync("node-1", vec![u64::MAX]), "an id beyond i64"),
        ] {
            assert!(bad.validate().is_err(), "{why} is refused");
        }
    }

    #[test]
    fn times_round_trip_and_offsets_apply() {
        let utc = parse_time("2024-05-01T12:00:00Z").expect("utc");
        // Parsing is the inverse of the one formatter, the engine `Timestamp`'s display.
        assert_eq!(switchboard_store::rfc3339(utc), "2024-05-01T12:00:00.000Z");
        assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Ok(utc));
        assert_eq!(parse_time("2024-05-01T11:30:00-00:30"), Ok(utc));
        assert_eq!(parse_time("2024-05-01T12:00:00.250Z").map(|t| t.0 - utc.0), Ok(250));
        for bad in ["", "yesterday", "2024-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "2024-05-01T12:00:00+2:00", "é"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_take_both_forms_strictly() {
        let parse = |json: &str| -> Result<MessageId, String> {
            let input: MessageIdInput = serde_json::from_str(json).map_err(|error| error.to_string())?;
            input.parse("message_id").map_err(|error| format!("{error:?}"))
        };
        assert_eq!(parse("5"), Ok(MessageId::Number(5)));
        assert_eq!(parse(&i64::MAX.to_string()), Ok(MessageId::Number(i64::MAX as u64)));
        assert_eq!(parse("\"5\"").map(|id| id.to_string()), Ok("5".to_owned()));
        assert!(matches!(parse("\"5\""), Ok(MessageId::Key(_))));
        let uuid = "\"550e8400-e29b-41d4-a716-446655440000\"";
        assert!(matches!(parse(uuid), Ok(MessageId::Key(_))));
        assert!(parse(&format!("\"{}\"", "a".repeat(128))).is_ok());
        for bad in [
            "0",
            "-1",
            "9223372036854775808",
            "18446744073709551616",
            "1.5",
            "5.0",
            "1e3",
            "true",
            "null",
            "{}",
            "[5]",
            "\"\"",
            "\"a b\"",
            "\"a/b\"",
            "\"50%\"",
            "\"é\"",
            "\"a\\u0000\"",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse(&format!("\"{}\"", "a".repeat(129))).is_err());
    }

    #[test]
    fn names_and_bodies_are_bounded() {
        assert!(name("name", "Alice").is_ok());
        assert!(name("name", "").is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert!(name("name", &"é".repeat(200)).is_ok());
        assert!(name("name", &"é".repeat(201)).is_err());
        assert!(message_body("body", "line\nline\ttab").is_ok());
        assert!(message_body("body", "bell\u{7}").is_err());
        assert!(message_body("body", &"x".repeat(10_001)).is_err());
    }
}

/// Most moderators one node's presence sync may name.
pub const MAX_PRESENCE_MODERATORS: usize = 1_000_000;
/// Longest node name in a presence sync, in characters.
pub const MAX_NODE_NAME_CHARS: usize = 255;

/// `POST /api/supervisor/cluster/presence`: a standby's whole set of moderators with a
/// socket on their own channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSetInput {
    pub node: String,
    pub moderators: Vec<u64>,
}

impl Validate for PresenceSetInput {
    fn validate(&self) -> Result<(), Error> {
        if self.node.trim().is_empty() {
            return Err(Error::unprocessable("node must not be empty"));
        }
        if self.node.chars().count() > MAX_NODE_NAME_CHARS {
            return Err(Error::unprocessable(format!("node is longer than {MAX_NODE_NAME_CHARS} characters")));
        }
        if self.node.chars().any(char::is_control) {
            return Err(Error::unprocessable("node must not contain control characters"));
        }
        if self.moderators.len() > MAX_PRESENCE_MODERATORS {
            return Err(Error::unprocessable(format!("moderators names more than {MAX_PRESENCE_MODERATORS} ids")));
        }
        self.moderators.iter().try_for_each(|&moderator_id| id("moderators[]", moderator_id))
    }
}
