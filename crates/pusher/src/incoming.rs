//! Parsing of client frames into the few messages the server acts on. Pure: no state, no
//! I/O; anything malformed becomes a [`ParseError`], never a panic.
//!
//! pusher-js sends `data` as an object; a `data` holding a JSON string is accepted too.

use serde_json::{Map, Value};

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientMessage {
    /// `pusher:ping`: answer with `pusher:pong`.
    Ping,
    /// `pusher:pong`: the answer to the server's ping; only its arrival matters.
    Pong,
    /// `pusher:subscribe`.
    Subscribe(SubscribeRequest),
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel to leave.
        channel: String,
    },
    /// A `client-*` event to relay to the channel's other subscribers.
    ClientEvent(ClientEvent),
    /// Any other event name.
    Unsupported {
        /// The event's name, for the error message.
        event: String,
    },
}

/// The fields of `pusher:subscribe` the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscribeRequest {
    pub(crate) channel: String,
    /// `"<key>:<hex>"` for private channels; empty or absent for public ones.
    pub(crate) auth: Option<String>,
    /// Presence channels: the JSON text the signature covers (`user_id`, `user_info`).
    pub(crate) channel_data: Option<String>,
}

/// A `client-*` event as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientEvent {
    pub(crate) event: String,
    pub(crate) channel: String,
    /// The `data` to relay, as the JSON string the protocol sends: a string as given, any
    /// other value as its JSON text.
    pub(crate) data: String,
}

/// Why a frame is not a Pusher message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("the frame is not a JSON object")]
    NotAnObject,
    #[error("the frame has no string \"event\" field")]
    MissingEvent,
    #[error("{event} needs a string \"channel\" in its data")]
    MissingChannel { event: &'static str },
    #[error("\"auth\" must be a string")]
    InvalidAuth,
    #[error("\"channel_data\" must be a string")]
    InvalidChannelData,
    #[error("a client event needs a string \"channel\"")]
    ClientEventWithoutChannel,
}

/// Reads one text frame.
pub(crate) fn parse(text: &str) -> Result<ClientMessage, ParseError> {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return Err(ParseError::NotAnObject);
    };
    let Some(Value::String(event)) = frame.remove("event") else {
        return Err(ParseError::MissingEvent);
    };
    if event.starts_with("client-") {
        let Some(Value::String(channel)) = frame.remove("channel") else {
            return Err(ParseError::ClientEventWithoutChannel);
        };
        let data = match frame.remove("data") {
            Some(Value::String(text)) => text,
            None => "{}".to_owned(),
            Some(other) => other.to_string(),
        };
        return Ok(ClientMessage::ClientEvent(ClientEvent { event, channel, data }));
    }
    let data = data_object(frame.remove("data"));
    match event.as_str() {
        "pusher:ping" => Ok(ClientMessage::Ping),
        "pusher:pong" => Ok(ClientMessage::Pong),
        "pusher:subscribe" => {
            let channel = channel_of(&data, "pusher:subscribe")?;
            let auth = match data.get("auth") {
                None | Some(Value::Null) => None,
                Some(Value::String(auth)) => Some(auth.clone()),
                Some(_) => return Err(ParseError::InvalidAuth),
            };
            let channel_data = match data.get("channel_data") {
                None | Some(Value::Null) => None,
                Some(Value::String(channel_data)) => Some(channel_data.clone()),
                Some(_) => return Err(ParseError::InvalidChannelData),
            };
            Ok(ClientMessage::Subscribe(SubscribeRequest { channel, auth, channel_data }))
        }
        "pusher:unsubscribe" => Ok(ClientMessage::Unsubscribe { channel: channel_of(&data, "pusher:unsubscribe")? }),
        _ => Ok(ClientMessage::Unsupported { event }),
    }
}

fn data_object(data: Option<Value>) -> Map<String, Value> {
    match data {
        Some(Value::Object(object)) => object,
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(object)) => object,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn channel_of(data: &Map<String, Value>, event: &'static str) -> Result<String, ParseError> {
    match data.get("channel") {
        Some(Value::String(channel)) => Ok(channel.clone()),
        _ => Err(ParseError::MissingChannel { event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(channel: &str, auth: Option<&str>) -> ClientMessage {
        ClientMessage::Subscribe(SubscribeRequest {
            channel: channel.into(),
            auth: auth.map(str::to_owned),
            channel_data: None,
        })
    }

    #[test]
    fn reads_what_pusher_js_sends() {
        assert_eq!(parse(r#"{"event":"pusher:ping","data":{}}"#), Ok(ClientMessage::Ping));
        assert_eq!(parse(r#"{"event":"pusher:pong","data":{}}"#), Ok(ClientMessage::Pong));
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}"#),
            Ok(subscribe("news", Some("")))
        );
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:00"}}"#),
            Ok(subscribe("private-a", Some("k:00")))
        );
        assert_eq!(
            parse(r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#),
            Ok(ClientMessage::Unsubscribe { channel: "news".into() })
        );
    }

    #[test]
    fn accepts_data_sent_as_a_json_string() {
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"news\"}"}"#),
            Ok(subscribe("news", None))
        );
    }

    #[test]
    fn sorts_other_events() {
        assert_eq!(
            parse(r#"{"event":"client-typing","channel":"private-a","data":{"on":true}}"#),
            Ok(ClientMessage::ClientEvent(ClientEvent {
                event: "client-typing".into(),
                channel: "private-a".into(),
                data: r#"{"on":true}"#.into(),
            }))
        );
        assert_eq!(
            parse(r#"{"event":"client-note","channel":"private-a","data":"plain"}"#),
            Ok(ClientMessage::ClientEvent(ClientEvent {
                event: "client-note".into(),
                channel: "private-a".into(),
                data: "plain".into(),
            }))
        );
        assert_eq!(parse(r#"{"event":"client-x","data":{}}"#), Err(ParseError::ClientEventWithoutChannel));
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:0","channel_data":"{}"}}"#),
            Ok(ClientMessage::Subscribe(SubscribeRequest {
                channel: "presence-a".into(),
                auth: Some("k:0".into()),
                channel_data: Some("{}".into()),
            }))
        );
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"channel":"presence-a","channel_data":{}}}"#),
            Err(ParseError::InvalidChannelData)
        );
        assert_eq!(
            parse(r#"{"event":"pusher:signin","data":{}}"#),
            Ok(ClientMessage::Unsupported { event: "pusher:signin".into() })
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        for text in ["", "not json", "[]", "42", "\"x\"", "{", r#"{"data":{}}"#, r#"{"event":7}"#] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{}}"#),
            Err(ParseError::MissingChannel { event: "pusher:subscribe" })
        );
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"channel":["a"]}}"#),
            Err(ParseError::MissingChannel { event: "pusher:subscribe" })
        );
        assert_eq!(
            parse(r#"{"event":"pusher:subscribe","data":{"channel":"a","auth":1}}"#),
            Err(ParseError::InvalidAuth)
        );
        assert!(parse(r#"{"event":"pusher:unsubscribe"}"#).is_err());
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep), Err(ParseError::NotAnObject));
    }
}
