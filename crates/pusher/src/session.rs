//! One socket's protocol state: its id, the channels it holds, and the answer to each
//! client frame. No I/O and no clock: [`crate::connection`] feeds it frames and writes
//! what it returns. Dropping a session unsubscribes it everywhere and tells the hook.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::channel_name::{validate_channel_name, ChannelKind};
use crate::codes::{MESSAGE_REJECTED, RECONNECT};
use crate::hooks::{notify, SubscriptionChange, UnsubscribeCause};
use crate::incoming::{parse, ClientMessage, SubscribeRequest};
use crate::outgoing::{self, SubscriptionRefusal};
use crate::registry::{SocketHandle, SocketInbox};
use crate::shared::Shared;
use crate::signature::verify_private_channel;
use crate::socket_id::SocketId;

/// Longest piece of client-supplied text quoted back in an error message.
const MAX_QUOTED_CHARACTERS: usize = 64;

pub(crate) struct Session {
    shared: Arc<Shared>,
    handle: Arc<SocketHandle>,
    channels: HashSet<String>,
}

impl Session {
    /// Gives the socket an id and makes it reachable by publishes and `close_all`.
    pub(crate) fn open(shared: Arc<Shared>) -> (Self, SocketInbox) {
        let socket_id = shared.socket_ids.generate();
        let (handle, inbox) = SocketHandle::new(socket_id, shared.config.max_queued_frames_per_socket);
        shared.registry.add_socket(&handle);
        let session = Self { shared, handle, channels: HashSet::new() };
        (session, inbox)
    }

    pub(crate) fn socket_id(&self) -> &SocketId {
        &self.handle.socket_id
    }

    /// The answer to one text frame, if it has one.
    pub(crate) fn handle_text(&mut self, text: &str) -> Option<Utf8Bytes> {
        let max_frame_bytes = self.shared.config.max_frame_bytes;
        if text.len() > max_frame_bytes {
            let message = format!("Frame of {} bytes is larger than the {max_frame_bytes} bytes allowed", text.len());
            return Some(outgoing::error(MESSAGE_REJECTED, &message));
        }
        let message = match parse(text) {
            Ok(message) => message,
            Err(error) => return Some(outgoing::error(RECONNECT, &format!("Invalid message format: {error}"))),
        };
        match message {
            ClientMessage::Ping => Some(outgoing::pong()),
            ClientMessage::Pong => None,
            ClientMessage::Subscribe(request) => Some(self.subscribe(request)),
            ClientMessage::Unsubscribe { channel } => {
                self.unsubscribe(&channel);
                None
            }
            ClientMessage::ClientEvent => {
                Some(outgoing::error(MESSAGE_REJECTED, "Client events are not enabled on this server"))
            }
            ClientMessage::Unsupported { event } => {
                Some(outgoing::error(RECONNECT, &format!("Unsupported event {:?}", quote(&event))))
            }
        }
    }

    /// The answer to a binary frame: pusher-js never sends one.
    pub(crate) fn handle_binary() -> Utf8Bytes {
        outgoing::error(RECONNECT, "Invalid message format: binary frames are not supported, send JSON text")
    }

    fn subscribe(&mut self, request: SubscribeRequest) -> Utf8Bytes {
        let SubscribeRequest { channel, auth } = request;
        match self.admit_subscription(&channel, auth.as_deref()) {
            Ok(()) => {}
            Err(refusal) => return outgoing::subscription_error(&channel, &refusal),
        }
        let reply = outgoing::subscription_succeeded(&channel);
        if self.channels.contains(&channel) {
            return reply;
        }
        self.shared.registry.subscribe(&channel, &self.handle);
        self.channels.insert(channel.clone());
        notify(
            self.shared.hook.as_ref(),
            SubscriptionChange::Subscribed { socket_id: self.handle.socket_id.clone(), channel },
        );
        reply
    }

    fn admit_subscription(&self, channel: &str, auth: Option<&str>) -> Result<(), SubscriptionRefusal> {
        let kind = validate_channel_name(channel).map_err(|error| SubscriptionRefusal {
            kind: "InvalidChannel",
            message: format!("Invalid channel name: {error}"),
            status: 400,
        })?;
        match kind {
            ChannelKind::Public => {}
            ChannelKind::Private => {
                let config = &self.shared.config;
                let signed = auth.is_some_and(|auth| {
                    verify_private_channel(
                        &config.app_key,
                        &config.app_secret,
                        self.handle.socket_id.as_str(),
                        channel,
                        auth,
                    )
                });
                if !signed {
                    return Err(SubscriptionRefusal {
                        kind: "AuthError",
                        message: format!(
                            "Invalid signature: expected the app key and HMAC-SHA256 of \"{}:{channel}\"",
                            self.handle.socket_id
                        ),
                        status: 401,
                    });
                }
            }
            ChannelKind::Presence | ChannelKind::EncryptedPrivate => {
                return Err(SubscriptionRefusal {
                    kind: "UnsupportedChannel",
                    message: "Presence and encrypted channels are not supported by this server".to_owned(),
                    status: 400,
                });
            }
        }
        let max_channels = self.shared.config.max_channels_per_socket;
        if !self.channels.contains(channel) && self.channels.len() >= max_channels {
            return Err(SubscriptionRefusal {
                kind: "LimitReached",
                message: format!("This connection is already subscribed to {max_channels} channels, the most allowed"),
                status: 400,
            });
        }
        Ok(())
    }

    fn unsubscribe(&mut self, channel: &str) {
        if !self.channels.remove(channel) {
            return;
        }
        self.shared.registry.unsubscribe(channel, &self.handle.socket_id);
        notify(
            self.shared.hook.as_ref(),
            SubscriptionChange::Unsubscribed {
                socket_id: self.handle.socket_id.clone(),
                channel: channel.to_owned(),
                cause: UnsubscribeCause::ClientRequest,
            },
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.registry.remove_socket(&self.handle.socket_id);
        for channel in self.channels.drain() {
            self.shared.registry.unsubscribe(&channel, &self.handle.socket_id);
            notify(
                self.shared.hook.as_ref(),
                SubscriptionChange::Unsubscribed {
                    socket_id: self.handle.socket_id.clone(),
                    channel,
                    cause: UnsubscribeCause::Disconnected,
                },
            );
        }
    }
}

fn quote(text: &str) -> String {
    text.chars().take(MAX_QUOTED_CHARACTERS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PusherConfig;
    use crate::hooks::SubscriptionHook;
    use crate::signature::sign_private_channel;
    use serde_json::{json, Value};
    use std::sync::Mutex;

    struct Fixture {
        shared: Arc<Shared>,
        changes: Arc<Mutex<Vec<SubscriptionChange>>>,
    }

    fn fixture(configure: impl FnOnce(&mut PusherConfig)) -> Fixture {
        let mut config = PusherConfig::new("1", "key", "secret");
        configure(&mut config);
        let changes = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&changes);
        let hook: SubscriptionHook = Arc::new(move |change| {
            recorded.lock().expect("not poisoned").push(change);
        });
        let shared = Arc::new(Shared::new(config, Some(hook)));
        Fixture { shared, changes }
    }

    impl Fixture {
        fn open(&self) -> (Session, SocketInbox) {
            Session::open(Arc::clone(&self.shared))
        }

        fn changes(&self) -> Vec<SubscriptionChange> {
            self.changes.lock().expect("not poisoned").clone()
        }
    }

    fn reply(session: &mut Session, frame: Value) -> Option<Value> {
        session
            .handle_text(&frame.to_string())
            .map(|text| serde_json::from_str(text.as_str()).expect("replies are JSON"))
    }

    fn subscribe_frame(channel: &str, auth: &str) -> Value {
        json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}})
    }

    #[test]
    fn ping_gets_pong_and_pong_gets_nothing() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        assert_eq!(
            reply(&mut session, json!({"event": "pusher:ping", "data": {}})),
            Some(json!({"event": "pusher:pong", "data": "{}"}))
        );
        assert_eq!(reply(&mut session, json!({"event": "pusher:pong", "data": {}})), None);
    }

    #[test]
    fn public_channels_need_no_signature() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        let answer = reply(&mut session, subscribe_frame("news", "")).expect("a reply");
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded");
        assert_eq!(answer["channel"], "news");
        assert_eq!(fixture.shared.registry.subscriber_count("news"), 1);
    }

    #[test]
    fn private_channels_need_this_sockets_signature() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        let socket_id = session.socket_id().clone();
        let good = sign_private_channel("key", "secret", socket_id.as_str(), "private-a");
        let for_another_socket = sign_private_channel("key", "secret", "1.1", "private-a");

        let refused = reply(&mut session, subscribe_frame("private-a", &for_another_socket)).expect("a reply");
        assert_eq!(refused["event"], "pusher:subscription_error");
        assert_eq!(refused["data"]["type"], "AuthError");
        assert_eq!(refused["data"]["status"], 401);
        let missing = reply(&mut session, json!({"event": "pusher:subscribe", "data": {"channel": "private-a"}}))
            .expect("a reply");
        assert_eq!(missing["data"]["type"], "AuthError");
        assert_eq!(fixture.shared.registry.subscriber_count("private-a"), 0);

        let granted = reply(&mut session, subscribe_frame("private-a", &good)).expect("a reply");
        assert_eq!(granted["event"], "pusher_internal:subscription_succeeded");
        assert_eq!(fixture.shared.registry.subscriber_count("private-a"), 1);
    }

    #[test]
    fn presence_and_encrypted_channels_are_refused() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        for channel in ["presence-room", "private-encrypted-room"] {
            let answer = reply(&mut session, subscribe_frame(channel, "key:00")).expect("a reply");
            assert_eq!(answer["event"], "pusher:subscription_error");
            assert_eq!(answer["data"]["type"], "UnsupportedChannel");
        }
    }

    #[test]
    fn invalid_channel_names_are_refused() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        let answer = reply(&mut session, subscribe_frame("bad name", "")).expect("a reply");
        assert_eq!(answer["event"], "pusher:subscription_error");
        assert_eq!(answer["data"]["status"], 400);
        assert_eq!(fixture.shared.registry.channel_count(), 0);
    }

    #[test]
    fn channel_limit_refuses_the_next_channel_but_not_a_repeat() {
        let fixture = fixture(|config| config.max_channels_per_socket = 2);
        let (mut session, _inbox) = fixture.open();
        for channel in ["a", "b"] {
            let answer = reply(&mut session, subscribe_frame(channel, "")).expect("a reply");
            assert_eq!(answer["event"], "pusher_internal:subscription_succeeded");
        }
        let over = reply(&mut session, subscribe_frame("c", "")).expect("a reply");
        assert_eq!(over["event"], "pusher:subscription_error");
        assert_eq!(over["data"]["type"], "LimitReached");
        assert!(over["data"]["error"].as_str().expect("a message").contains('2'));
        assert_eq!(fixture.shared.registry.subscriber_count("c"), 0);
        let again = reply(&mut session, subscribe_frame("a", "")).expect("a reply");
        assert_eq!(again["event"], "pusher_internal:subscription_succeeded");
        reply(&mut session, json!({"event": "pusher:unsubscribe", "data": {"channel": "a"}}));
        let now_room = reply(&mut session, subscribe_frame("c", "")).expect("a reply");
        assert_eq!(now_room["event"], "pusher_internal:subscription_succeeded");
    }

    #[test]
    fn hook_sees_subscribe_unsubscribe_and_disconnect() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        let socket_id = session.socket_id().clone();
        reply(&mut session, subscribe_frame("a", ""));
        reply(&mut session, subscribe_frame("a", ""));
        reply(&mut session, subscribe_frame("b", ""));
        assert_eq!(reply(&mut session, json!({"event": "pusher:unsubscribe", "data": {"channel": "a"}})), None);
        reply(&mut session, json!({"event": "pusher:unsubscribe", "data": {"channel": "zzz"}}));
        drop(session);
        let subscribed =
            |channel: &str| SubscriptionChange::Subscribed { socket_id: socket_id.clone(), channel: channel.into() };
        let unsubscribed = |channel: &str, cause| SubscriptionChange::Unsubscribed {
            socket_id: socket_id.clone(),
            channel: channel.into(),
            cause,
        };
        assert_eq!(
            fixture.changes(),
            vec![
                subscribed("a"),
                subscribed("b"),
                unsubscribed("a", UnsubscribeCause::ClientRequest),
                unsubscribed("b", UnsubscribeCause::Disconnected),
            ]
        );
        assert_eq!(fixture.shared.registry.channel_count(), 0);
    }

    #[test]
    fn a_panicking_hook_does_not_break_the_session() {
        let shared =
            Arc::new(Shared::new(PusherConfig::new("1", "key", "secret"), Some(Arc::new(|_| panic!("hook bug")))));
        let (mut session, _inbox) = Session::open(Arc::clone(&shared));
        let answer = reply(&mut session, subscribe_frame("a", "")).expect("a reply");
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded");
        drop(session);
        assert_eq!(shared.registry.channel_count(), 0);
    }

    #[test]
    fn refused_frames_keep_the_session_usable() {
        let fixture = fixture(|config| config.max_frame_bytes = 1024);
        let (mut session, _inbox) = fixture.open();
        let cases = [
            ("x".repeat(1025), 4301),
            ("not json".to_owned(), 4200),
            (r#"{"event":"client-typing","channel":"private-a","data":{}}"#.to_owned(), 4301),
            (r#"{"event":"pusher:signin","data":{}}"#.to_owned(), 4200),
            (r#"{"event":"pusher:subscribe","data":{}}"#.to_owned(), 4200),
        ];
        for (text, code) in cases {
            let answer: Value =
                serde_json::from_str(session.handle_text(&text).expect("an error reply").as_str()).expect("JSON");
            assert_eq!(answer["event"], "pusher:error", "{text}");
            assert_eq!(answer["data"]["code"], code, "{text}");
        }
        let binary: Value = serde_json::from_str(Session::handle_binary().as_str()).expect("JSON");
        assert_eq!(binary["data"]["code"], 4200);
        assert!(reply(&mut session, json!({"event": "pusher:ping"})).is_some());
    }
}
