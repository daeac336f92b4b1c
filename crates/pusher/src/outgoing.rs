//! Every frame the server sends, serialised once into the bytes that go on the wire.
//!
//! Server-to-client `data` is a JSON *string* (pusher-js parses it a second time), except
//! in `pusher:error` and `pusher:subscription_error`, where it is an object as soketi sends
//! it; pusher-js hands both shapes to listeners as the same object.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::socket_id::SocketId;

/// The frame shape shared by every server message.
#[derive(Serialize)]
struct WireFrame<'a, Data: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: Data,
    /// Client events on presence channels: who sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

#[derive(Serialize)]
struct MemberData<'a> {
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_info: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct ConnectionEstablished<'a> {
    socket_id: &'a str,
    activity_timeout: u64,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: u16,
    message: &'a str,
}

/// Why a subscription was refused: the `data` of `pusher:subscription_error`, which
/// reaches the channel's error listeners (Echo's `.error(callback)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SubscriptionRefusal {
    /// `AuthError` for a missing or wrong signature, as pusher-js and soketi name it.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// A sentence for the developer reading the console.
    #[serde(rename = "error")]
    pub(crate) message: String,
    /// An HTTP-like status: 401 for signatures, 400 for everything else.
    pub(crate) status: u16,
}

/// The first frame of every accepted connection; pusher-js treats anything else first as
/// a failed handshake.
pub(crate) fn connection_established(socket_id: &SocketId, activity_timeout_seconds: u64) -> Utf8Bytes {
    let data =
        encode(&ConnectionEstablished { socket_id: socket_id.as_str(), activity_timeout: activity_timeout_seconds });
    encode_frame("pusher:connection_established", None, data)
}

/// The answer to a client's `pusher:ping`.
pub(crate) fn pong() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:pong","data":"{}"}"#)
}

/// The server's own liveness probe; pusher-js answers with `pusher:pong`.
pub(crate) fn ping() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:ping","data":"{}"}"#)
}

/// A protocol error; see [`crate::codes`] for which codes close the connection afterwards.
pub(crate) fn error(code: u16, message: &str) -> Utf8Bytes {
    encode_frame("pusher:error", None, ErrorData { code, message })
}

/// The subscription to `channel` is in place.
pub(crate) fn subscription_succeeded(channel: &str) -> Utf8Bytes {
    encode_frame("pusher_internal:subscription_succeeded", Some(channel), "{}")
}

/// The subscription to presence `channel` is in place; `data_json` is the member hash.
pub(crate) fn presence_subscription_succeeded(channel: &str, data_json: &str) -> Utf8Bytes {
    encode_frame("pusher_internal:subscription_succeeded", Some(channel), data_json)
}

/// A user arrived on presence `channel` (its first socket there).
pub(crate) fn member_added(channel: &str, user_id: &str, user_info: &serde_json::Value) -> Utf8Bytes {
    let user_info = Some(user_info).filter(|info| !info.is_null());
    encode_frame("pusher_internal:member_added", Some(channel), encode(&MemberData { user_id, user_info }))
}

/// A user left presence `channel` (its last socket there).
pub(crate) fn member_removed(channel: &str, user_id: &str) -> Utf8Bytes {
    encode_frame("pusher_internal:member_removed", Some(channel), encode(&MemberData { user_id, user_info: None }))
}

/// A `client-*` event relayed to the channel's other subscribers, with the sender's user
/// id on presence channels.
pub(crate) fn client_event(channel: &str, event: &str, data: &str, user_id: Option<&str>) -> Utf8Bytes {
    Utf8Bytes::from(encode(&WireFrame { event, channel: Some(channel), data, user_id }))
}

/// The subscription to `channel` was refused; the socket is not subscribed.
pub(crate) fn subscription_error(channel: &str, refusal: &SubscriptionRefusal) -> Utf8Bytes {
    encode_frame("pusher:subscription_error", Some(channel), refusal)
}

/// An application event; `data_json` travels as a JSON string, as the protocol requires.
pub(crate) fn event(channel: &str, event: &str, data_json: &str) -> Utf8Bytes {
    encode_frame(event, Some(channel), data_json)
}

fn encode_frame<Data: Serialize>(event: &str, channel: Option<&str>, data: Data) -> Utf8Bytes {
    Utf8Bytes::from(encode(&WireFrame { event, channel, data, user_id: None }))
}

fn encode<Value: Serialize>(value: &Value) -> String {
    // Only strings, integers, JSON values and structs of them are serialised here, all with
    // string keys: this cannot fail.
    serde_json::to_string(value).expect("server frames hold only strings, integers and JSON values")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(frame: &Utf8Bytes) -> Value {
        serde_json::from_str(frame.as_str()).expect("frames are JSON")
    }

    #[test]
    fn connection_established_carries_a_string_data() {
        let socket_id = SocketId::parse("123.456").expect("valid id");
        let frame = parse(&connection_established(&socket_id, 30));
        assert_eq!(frame["event"], "pusher:connection_established");
        let data: Value =
            serde_json::from_str(frame["data"].as_str().expect("data is a string")).expect("data is JSON");
        assert_eq!(data, json!({"socket_id": "123.456", "activity_timeout": 30}));
    }

    #[test]
    fn ping_and_pong_have_string_data() {
        assert_eq!(parse(&pong()), json!({"event": "pusher:pong", "data": "{}"}));
        assert_eq!(parse(&ping()), json!({"event": "pusher:ping", "data": "{}"}));
    }

    #[test]
    fn error_data_is_an_object() {
        assert_eq!(
            parse(&error(4301, "no \"client\" events")),
            json!({"event": "pusher:error", "data": {"code": 4301, "message": "no \"client\" events"}})
        );
    }

    #[test]
    fn subscription_frames_name_their_channel() {
        assert_eq!(
            parse(&subscription_succeeded("private-a")),
            json!({"event": "pusher_internal:subscription_succeeded", "channel": "private-a", "data": "{}"})
        );
        let refusal = SubscriptionRefusal { kind: "AuthError", message: "bad signature".into(), status: 401 };
        assert_eq!(
            parse(&subscription_error("private-a", &refusal)),
            json!({
                "event": "pusher:subscription_error",
                "channel": "private-a",
                "data": {"type": "AuthError", "error": "bad signature", "status": 401}
            })
        );
    }

    #[test]
    fn presence_frames_carry_string_data() {
        let added = parse(&member_added("presence-a", "7", &json!({"name": "Ann"})));
        assert_eq!(added["event"], "pusher_internal:member_added");
        let data: Value = serde_json::from_str(added["data"].as_str().expect("string data")).expect("JSON");
        assert_eq!(data, json!({"user_id": "7", "user_info": {"name": "Ann"}}));
        let removed = parse(&member_removed("presence-a", "7"));
        assert_eq!(removed["data"], r#"{"user_id":"7"}"#);
        let whisper = parse(&client_event("presence-a", "client-typing", r#"{"on":true}"#, Some("7")));
        assert_eq!(
            whisper,
            json!({"event": "client-typing", "channel": "presence-a", "data": r#"{"on":true}"#, "user_id": "7"})
        );
    }

    #[test]
    fn event_data_is_the_json_text_as_a_string() {
        let frame = parse(&event("private-a", "App\\Events\\Thing", r#"{"id":7,"note":"\"q\""}"#));
        assert_eq!(frame["event"], "App\\Events\\Thing");
        assert_eq!(frame["channel"], "private-a");
        assert_eq!(frame["data"], r#"{"id":7,"note":"\"q\""}"#);
    }
}
