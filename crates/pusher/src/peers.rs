//! Several servers behind one load balancer: what one server tells the others so that a
//! socket hears every event, whichever server it was published on. The crate does not carry
//! these messages (the embedder does, over Redis pub/sub or anything else): it hands each
//! one to the [`PeerHook`] and applies those [`crate::Realtime::deliver_from_peer`] brings
//! back from the other servers.
//!
//! What travels is the event frame exactly as local subscribers got it, so every server
//! sends byte-identical frames and a peer never re-encodes. A message coming back is
//! checked before use: the channel name, the frame's own channel, the excepted socket id.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel_name::validate_channel_name;
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
    validate_channel_name(channel).map_err(|error| PeerMessageError::Channel(error.to_string()))?;
    let parsed: Value = serde_json::from_str(frame).map_err(|_| PeerMessageError::Frame)?;
    let on_channel = parsed.get("channel").and_then(Value::as_str) == Some(channel);
    let named = parsed.get("event").is_some_and(Value::is_string);
    if !(on_channel && named) {
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
}
