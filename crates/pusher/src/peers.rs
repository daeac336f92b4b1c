//! Several servers behind one load balancer: what one server tells the others so that a
//! socket hears every event, whichever server it was published on. The crate does not carry
//! these messages (the embedder does, over Redis pub/sub or anything else): it hands each
//! one to the [`PeerHook`] and applies those [`crate::Realtime::deliver_from_peer`] brings
//! back from the other servers.
//!
//! What travels is the event frame exactly as local subscribers got it, so every server
//! sends byte-identical frames and a peer never re-encodes; and each presence member that
//! joins or leaves a channel on this server, so that members are counted across servers.
//! Which server sent a message is the embedder's to say (`origin`); the embedder also asks
//! for a server's whole membership ([`crate::Realtime::peer_members`]) when it (re)joins,
//! and forgets a server that went silent ([`crate::Realtime::forget_peer`]).
//!
//! A message coming back is checked before use, all of it before any of it applies: channel
//! names, the frame's own channel, the excepted socket id, user ids and member info sizes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel_name::{validate_channel_name, ChannelKind};
use crate::session::MAX_USER_ID_BYTES;
use crate::socket_id::SocketId;

/// Called with every message this server's peers must hear: each event published here
/// (the embedder's [`crate::Realtime::publish`] and the HTTP API) and each client event
/// relayed here. Called on the publishing task: it must return quickly and never block.
pub type PeerHook = Arc<dyn Fn(PeerMessage) + Send + Sync>;

/// One thing a server tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PeerMessage {
    /// An event frame for every subscriber of `channel` but the socket `except` (which
    /// lives on the server that sent it, if anywhere).
    Frame {
        /// The channel it was published on.
        channel: String,
        /// The frame as sent to sockets: `{"event":..,"channel":..,"data":..}`.
        frame: String,
        /// The socket that must not hear it (an HTTP-API `socket_id`, a client event's sender).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<String>,
    },
    /// `user_id` now has a socket on presence `channel` on the sending server (its first).
    MemberJoined {
        channel: String,
        user_id: String,
        /// The member's `user_info` from its signed `channel_data`.
        #[serde(default)]
        user_info: Value,
    },
    /// `user_id`'s last socket on presence `channel` on the sending server is gone.
    MemberLeft { channel: String, user_id: String },
    /// Everyone on a presence channel on the sending server: replaces what it said before.
    Members { members: Vec<PeerMember> },
    /// The HTTP API's `terminate_connections` for `user_id`: close its sockets here too.
    TerminateUser { user_id: String },
    /// `channel` has its first subscriber on the sending server.
    ChannelOccupied { channel: String },
    /// `channel`'s last subscriber on the sending server is gone.
    ChannelVacated { channel: String },
    /// Every channel with a subscriber on the sending server: replaces what it said before.
    Occupied { channels: Vec<String> },
}

/// One user on one presence channel of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerMember {
    pub channel: String,
    pub user_id: String,
    #[serde(default)]
    pub user_info: Value,
}

/// Why a message from a peer was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerMessageError {
    /// The channel name is not one a client could subscribe to.
    #[error("invalid channel name: {0}")]
    Channel(String),
    /// The frame is not an event frame for that channel.
    #[error("the frame is not a JSON event frame on its channel")]
    Frame,
    /// `except` is not a socket id.
    #[error("invalid socket id in except")]
    SocketId,
    /// A member on a channel that is not a presence channel.
    #[error("members are on presence channels only, not {0}")]
    NotPresence(String),
    /// A user id out of 1 to 128 bytes, or a `user_info` over the server's limit.
    #[error("invalid member: {0}")]
    Member(String),
}

/// A user id of 1 to `MAX_USER_ID_BYTES`, as `channel_data` and the HTTP API require.
pub(crate) fn check_user_id(user_id: &str) -> Result<(), PeerMessageError> {
    if user_id.is_empty() || user_id.len() > MAX_USER_ID_BYTES {
        return Err(PeerMessageError::Member(format!("user_id must be 1 to {MAX_USER_ID_BYTES} bytes")));
    }
    Ok(())
}

/// Checks one member as a subscription would: a presence channel, a user id of 1 to
/// `MAX_USER_ID_BYTES`, a `user_info` within `max_info_bytes` as JSON.
pub(crate) fn check_member(
    channel: &str,
    user_id: &str,
    info: &Value,
    max_info_bytes: usize,
) -> Result<(), PeerMessageError> {
    match validate_channel_name(channel) {
        Ok(ChannelKind::Presence) => {}
        Ok(_) => return Err(PeerMessageError::NotPresence(channel.to_owned())),
        Err(error) => return Err(PeerMessageError::Channel(error.to_string())),
    }
    check_user_id(user_id)?;
    if info.to_string().len() > max_info_bytes {
        return Err(PeerMessageError::Member(format!("user_info is over {max_info_bytes} bytes")));
    }
    Ok(())
}

/// A frame from a peer, checked: its channel and the socket it skips.
pub(crate) struct CheckedFrame<'a> {
    pub(crate) channel: &'a str,
    pub(crate) frame: &'a str,
    pub(crate) except: Option<SocketId>,
}

pub(crate) fn check_frame<'a>(
    channel: &'a str,
    frame: &'a str,
    except: Option<&str>,
) -> Result<CheckedFrame<'a>, PeerMessageError> {
    /// The fields a check needs; `data` is skipped, not built (this runs for every frame a
    /// node receives).
    #[derive(Deserialize)]
    struct FrameHead<'a> {
        #[serde(borrow)]
        event: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        channel: std::borrow::Cow<'a, str>,
    }
    validate_channel_name(channel).map_err(|error| PeerMessageError::Channel(error.to_string()))?;
    let head: FrameHead<'_> = serde_json::from_str(frame).map_err(|_| PeerMessageError::Frame)?;
    if head.channel != channel || head.event.is_empty() {
        return Err(PeerMessageError::Frame);
    }
    let except = except.map(SocketId::parse).transpose().map_err(|_| PeerMessageError::SocketId)?;
    Ok(CheckedFrame { channel, frame, except })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_wire_form() {
        let message = PeerMessage::Frame {
            channel: "news".into(),
            frame: r#"{"event":"Thing","channel":"news","data":"{}"}"#.into(),
            except: Some("1.2".into()),
        };
        let text = serde_json::to_string(&message).expect("serialises");
        assert_eq!(
            text,
            r#"{"kind":"frame","channel":"news","frame":"{\"event\":\"Thing\",\"channel\":\"news\",\"data\":\"{}\"}","except":"1.2"}"#
        );
        assert_eq!(serde_json::from_str::<PeerMessage>(&text).expect("parses"), message);
    }

    #[test]
    fn frames_from_peers_are_checked() {
        let frame = r#"{"event":"Thing","channel":"news","data":"{}"}"#;
        assert!(check_frame("news", frame, None).is_ok());
        assert!(check_frame("news", frame, Some("1.2")).is_ok());
        assert_eq!(check_frame("news", frame, Some("x")).err(), Some(PeerMessageError::SocketId));
        assert_eq!(check_frame("other", frame, None).err(), Some(PeerMessageError::Frame));
        assert_eq!(check_frame("news", "not json", None).err(), Some(PeerMessageError::Frame));
        assert_eq!(check_frame("news", r#"{"channel":"news"}"#, None).err(), Some(PeerMessageError::Frame));
        assert!(matches!(check_frame("bad name", frame, None), Err(PeerMessageError::Channel(_))));
    }

    #[test]
    fn members_from_peers_are_checked_as_subscriptions_are() {
        let info = serde_json::json!({"name": "Ann"});
        assert!(check_member("presence-room", "7", &info, 64).is_ok());
        assert_eq!(
            check_member("private-room", "7", &info, 64),
            Err(PeerMessageError::NotPresence("private-room".into()))
        );
        assert!(matches!(check_member("presence-room", "", &info, 64), Err(PeerMessageError::Member(_))));
        assert!(matches!(check_member("presence-room", &"x".repeat(129), &info, 64), Err(PeerMessageError::Member(_))));
        assert!(matches!(check_member("presence-room", "7", &info, 8), Err(PeerMessageError::Member(_))));
        let text = r#"{"kind":"member_joined","channel":"presence-room","user_id":"7"}"#;
        let parsed: PeerMessage = serde_json::from_str(text).expect("user_info defaults to null");
        assert_eq!(
            parsed,
            PeerMessage::MemberJoined { channel: "presence-room".into(), user_id: "7".into(), user_info: Value::Null }
        );
    }
}
