//! One socket's protocol state: its id, the channels it holds (presence ones with the user
//! it joined as), its client-event rate limit, and the answer to each client frame. No
//! I/O: [`crate::connection`] feeds it frames and writes what it returns; time comes in as
//! an argument. Dropping a session unsubscribes it everywhere, tells the hook, and sends
//! `member_removed` where it was a user's last socket.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde_json::Value;

use crate::channel_name::{validate_channel_name, ChannelKind};
use crate::codes::{MESSAGE_REJECTED, RECONNECT};
use crate::hooks::{notify, SubscriptionChange, UnsubscribeCause};
use crate::incoming::{parse, ClientEvent, ClientMessage, SubscribeRequest};
use crate::outgoing::{self, SubscriptionRefusal};
use crate::peers::PeerMessage;
use crate::registry::{SocketHandle, SocketInbox};
use crate::shared::Shared;
use crate::signature::verify_private_channel;
use crate::socket_id::SocketId;
use crate::webhook::WebhookEvent;

/// Longest piece of client-supplied text quoted back in an error message.
const MAX_QUOTED_CHARACTERS: usize = 64;
/// Longest event name accepted from a client (Pusher's 200).
pub(crate) const MAX_EVENT_NAME_BYTES: usize = 200;
/// Longest presence `user_id`.
pub(crate) const MAX_USER_ID_BYTES: usize = 128;
/// The window of the client-event rate limit.
const RATE_WINDOW_MILLIS: u64 = 1_000;

pub(crate) struct Session {
    shared: Arc<Shared>,
    handle: Arc<SocketHandle>,
    /// The channels held; presence channels with the user id this socket joined as.
    channels: HashMap<String, Option<String>>,
    /// When (clock milliseconds) the last accepted client events were sent, oldest first;
    /// at most `client_events_per_second` of them.
    recent_client_events: VecDeque<u64>,
}

/// A presence member as its signed `channel_data` describes it.
struct Member {
    user_id: String,
    user_info: Value,
}

impl Session {
    /// Gives the socket an id and makes it reachable by publishes and `close_all`.
    pub(crate) fn open(shared: Arc<Shared>) -> (Self, SocketInbox) {
        let socket_id = shared.socket_ids.generate();
        let (handle, inbox) = SocketHandle::new(socket_id, shared.config.max_queued_frames_per_socket);
        shared.registry.add_socket(&handle);
        let session = Self { shared, handle, channels: HashMap::new(), recent_client_events: VecDeque::new() };
        (session, inbox)
    }

    pub(crate) fn socket_id(&self) -> &SocketId {
        &self.handle.socket_id
    }

    /// [`Session::handle_text`] at the server clock's time.
    pub(crate) fn handle_text_now(&mut self, text: &str) -> Option<Utf8Bytes> {
        let now_millis = self.shared.clock.now_millis();
        self.handle_text(text, now_millis)
    }

    /// The answer to one text frame, if it has one; `now_millis` (the server's clock) times
    /// the client-event rate limit.
    pub(crate) fn handle_text(&mut self, text: &str, now_millis: u64) -> Option<Utf8Bytes> {
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
                self.unsubscribe(&channel, UnsubscribeCause::ClientRequest);
                None
            }
            ClientMessage::ClientEvent(event) => match self.relay_client_event(event, now_millis) {
                Ok(()) => None,
                Err(message) => {
                    self.shared.stats.record_client_events_refused();
                    Some(outgoing::error(MESSAGE_REJECTED, &message))
                }
            },
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
        let channel = request.channel.clone();
        match self.try_subscribe(request) {
            Ok(reply) => reply,
            Err(refusal) => outgoing::subscription_error(&channel, &refusal),
        }
    }

    fn try_subscribe(&mut self, request: SubscribeRequest) -> Result<Utf8Bytes, SubscriptionRefusal> {
        let SubscribeRequest { channel, auth, channel_data } = request;
        let kind = validate_channel_name(&channel).map_err(|error| SubscriptionRefusal {
            kind: "InvalidChannel",
            message: format!("Invalid channel name: {error}"),
            status: 400,
        })?;
        let signed_data = if kind == ChannelKind::Presence { channel_data.as_deref() } else { None };
        if kind != ChannelKind::Public {
            self.check_signature(&channel, signed_data, auth.as_deref())?;
        }
        if self.channels.contains_key(&channel) {
            return Ok(if kind == ChannelKind::Presence {
                outgoing::presence_subscription_succeeded(&channel, &self.shared.registry.presence_data(&channel))
            } else {
                outgoing::subscription_succeeded(&channel)
            });
        }
        let max_channels = self.shared.config.max_channels_per_socket;
        if self.channels.len() >= max_channels {
            return Err(SubscriptionRefusal {
                kind: "LimitReached",
                message: format!("This connection is already subscribed to {max_channels} channels, the most allowed"),
                status: 400,
            });
        }
        let (reply, user_id) = if kind == ChannelKind::Presence {
            let member = self.member(signed_data.unwrap_or(""))?;
            (self.join_presence(&channel, &member)?, Some(member.user_id))
        } else {
            let edge = self.shared.registry.subscribe(&channel, &self.handle);
            if edge.occupancy_changed {
                self.occupancy_changed(&channel, true);
            }
            (outgoing::subscription_succeeded(&channel), None)
        };
        self.channels.insert(channel.clone(), user_id);
        notify(
            self.shared.hook.as_ref(),
            SubscriptionChange::Subscribed { socket_id: self.handle.socket_id.clone(), channel },
        );
        Ok(reply)
    }

    fn check_signature(
        &self,
        channel: &str,
        channel_data: Option<&str>,
        auth: Option<&str>,
    ) -> Result<(), SubscriptionRefusal> {
        let config = &self.shared.config;
        let socket_id = self.handle.socket_id.as_str();
        let signed = auth.is_some_and(|auth| {
            verify_private_channel(&config.app_key, &config.app_secret, socket_id, channel, channel_data, auth)
        });
        if signed {
            return Ok(());
        }
        let covered = match channel_data {
            Some(_) => format!("\"{socket_id}:{channel}:<channel_data>\""),
            None => format!("\"{socket_id}:{channel}\""),
        };
        Err(SubscriptionRefusal {
            kind: "AuthError",
            message: format!("Invalid signature: expected the app key and HMAC-SHA256 of {covered}"),
            status: 401,
        })
    }

    /// Reads the signed `channel_data`: `user_id` (a string or an integer) and an optional
    /// `user_info` of at most `max_presence_member_info_bytes`.
    fn member(&self, channel_data: &str) -> Result<Member, SubscriptionRefusal> {
        let invalid = |message: String| SubscriptionRefusal { kind: "InvalidChannelData", message, status: 400 };
        let Ok(Value::Object(mut data)) = serde_json::from_str::<Value>(channel_data) else {
            return Err(invalid("channel_data must be a JSON object with a user_id".to_owned()));
        };
        let user_id = match data.remove("user_id") {
            Some(Value::String(user_id)) => user_id,
            Some(Value::Number(number)) if number.is_u64() || number.is_i64() => number.to_string(),
            _ => return Err(invalid("channel_data.user_id must be a string or an integer".to_owned())),
        };
        if user_id.is_empty() || user_id.len() > MAX_USER_ID_BYTES {
            return Err(invalid(format!("channel_data.user_id must be 1 to {MAX_USER_ID_BYTES} bytes")));
        }
        let user_info = data.remove("user_info").unwrap_or(Value::Null);
        let info_bytes = user_info.to_string().len();
        let max_info_bytes = self.shared.config.max_presence_member_info_bytes;
        if info_bytes > max_info_bytes {
            return Err(invalid(format!(
                "channel_data.user_info is {info_bytes} bytes, more than the {max_info_bytes} allowed"
            )));
        }
        Ok(Member { user_id, user_info })
    }

    fn join_presence(&self, channel: &str, member: &Member) -> Result<Utf8Bytes, SubscriptionRefusal> {
        let shared = &self.shared;
        let max_members = shared.config.max_presence_members;
        let joined = shared
            .registry
            .join_presence(
                channel,
                &self.handle,
                &member.user_id,
                &member.user_info,
                max_members,
                &shared.slow_consumer_close,
            )
            .map_err(|_| SubscriptionRefusal {
                kind: "LimitReached",
                message: format!("This presence channel already has {max_members} members, the most allowed"),
                status: 400,
            })?;
        shared.record_fan_out(channel, joined.fan_out);
        if joined.occupied {
            self.occupancy_changed(channel, true);
        }
        if joined.member_added {
            shared
                .webhook(|| WebhookEvent::MemberAdded { channel: channel.to_owned(), user_id: member.user_id.clone() });
        }
        if joined.joined_here {
            shared.tell_peers(|| PeerMessage::MemberJoined {
                channel: channel.to_owned(),
                user_id: member.user_id.clone(),
                user_info: member.user_info.clone(),
            });
        }
        Ok(outgoing::presence_subscription_succeeded(channel, &joined.subscription_data))
    }

    fn unsubscribe(&mut self, channel: &str, cause: UnsubscribeCause) {
        let Some(user_id) = self.channels.remove(channel) else {
            return;
        };
        self.leave(channel, user_id, cause);
    }

    fn leave(&self, channel: &str, user_id: Option<String>, cause: UnsubscribeCause) {
        let shared = &self.shared;
        let socket_id = &self.handle.socket_id;
        let vacated = match &user_id {
            Some(user_id) => {
                let left = shared.registry.leave_presence(channel, socket_id, user_id, &shared.slow_consumer_close);
                shared.record_fan_out(channel, left.fan_out);
                if left.member_removed {
                    shared.webhook(|| WebhookEvent::MemberRemoved {
                        channel: channel.to_owned(),
                        user_id: user_id.clone(),
                    });
                }
                if left.left_here {
                    shared.tell_peers(|| PeerMessage::MemberLeft {
                        channel: channel.to_owned(),
                        user_id: user_id.clone(),
                    });
                }
                left.vacated
            }
            None => shared.registry.unsubscribe(channel, socket_id).occupancy_changed,
        };
        if vacated {
            self.occupancy_changed(channel, false);
        }
        notify(
            shared.hook.as_ref(),
            SubscriptionChange::Unsubscribed { socket_id: socket_id.clone(), channel: channel.to_owned(), cause },
        );
    }

    /// This server's first subscriber of `channel` came or its last went: peers hear of it,
    /// and the webhook goes out only when no other server has a subscriber (then this edge
    /// is the cluster's).
    fn occupancy_changed(&self, channel: &str, occupied: bool) {
        let shared = &self.shared;
        if !shared.registry.occupied_elsewhere(channel) {
            shared.webhook(|| {
                let channel = channel.to_owned();
                if occupied {
                    WebhookEvent::ChannelOccupied { channel }
                } else {
                    WebhookEvent::ChannelVacated { channel }
                }
            });
        }
        shared.tell_peers(|| {
            let channel = channel.to_owned();
            if occupied {
                PeerMessage::ChannelOccupied { channel }
            } else {
                PeerMessage::ChannelVacated { channel }
            }
        });
    }

    /// Relays a `client-*` event to the channel's other subscribers, or says why not.
    fn relay_client_event(&mut self, event: ClientEvent, now_millis: u64) -> Result<(), String> {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let ClientEvent { event, channel, data } = event;
        if !config.client_events {
            return Err("Client events are not enabled on this server".to_owned());
        }
        if ChannelKind::of(&channel) == ChannelKind::Public || shared.is_reserved(&channel) {
            return Err(format!(
                "Client events are not allowed on {:?}: only on private and presence channels",
                quote(&channel)
            ));
        }
        let Some(user_id) = self.channels.get(&channel) else {
            return Err(format!("Subscribe to {:?} before sending client events on it", quote(&channel)));
        };
        if event.len() > MAX_EVENT_NAME_BYTES {
            return Err(format!("Event names are at most {MAX_EVENT_NAME_BYTES} bytes"));
        }
        if data.len() > config.max_event_bytes {
            return Err(format!("Event data is at most {} bytes", config.max_event_bytes));
        }
        let window_start = now_millis.saturating_sub(RATE_WINDOW_MILLIS);
        while self.recent_client_events.front().is_some_and(|&sent| sent <= window_start) {
            self.recent_client_events.pop_front();
        }
        if self.recent_client_events.len() >= config.client_events_per_second {
            return Err(format!(
                "Client event rejected: at most {} client events per second per connection",
                config.client_events_per_second
            ));
        }
        self.recent_client_events.push_back(now_millis);
        let frame = outgoing::client_event(&channel, &event, &data, user_id.as_deref());
        let outcome =
            shared.registry.fan_out(&channel, &frame, &shared.slow_consumer_close, Some(&self.handle.socket_id));
        shared.record_fan_out(&channel, outcome);
        shared.tell_peers_frame(&channel, &frame, Some(&self.handle.socket_id));
        shared.stats.record_client_events_relayed();
        let user_id = user_id.clone();
        shared.webhook(|| WebhookEvent::ClientEvent {
            channel,
            event,
            data,
            socket_id: self.handle.socket_id.to_string(),
            user_id,
        });
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.registry.remove_socket(&self.handle.socket_id);
        for (channel, user_id) in std::mem::take(&mut self.channels) {
            self.leave(&channel, user_id, UnsubscribeCause::Disconnected);
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
            .handle_text(&frame.to_string(), 0)
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

    fn presence_frame(session: &Session, channel: &str, channel_data: &str) -> Value {
        let auth = crate::signature::sign_presence_channel(
            "key",
            "secret",
            session.socket_id().as_str(),
            channel,
            channel_data,
        );
        json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}})
    }

    fn next_frame(inbox: &mut SocketInbox) -> Option<Value> {
        inbox.outbound.try_recv().ok().map(|frame| serde_json::from_str(frame.as_str()).expect("JSON"))
    }

    #[test]
    fn presence_subscription_carries_the_member_hash_and_announces_new_users_once() {
        let fixture = fixture(|_| {});
        let (mut first, mut first_inbox) = fixture.open();
        let (mut second_tab, _second_inbox) = fixture.open();
        let (mut other, mut other_inbox) = fixture.open();
        let frame = presence_frame(&first, "presence-room", r#"{"user_id":7,"user_info":{"name":"Ann"}}"#);
        let answer = reply(&mut first, frame).expect("a reply");
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded");
        let data: Value = serde_json::from_str(answer["data"].as_str().expect("string data")).expect("JSON");
        assert_eq!(data, json!({"presence": {"ids": ["7"], "hash": {"7": {"name": "Ann"}}, "count": 1}}));

        let frame = presence_frame(&other, "presence-room", r#"{"user_id":"8"}"#);
        reply(&mut other, frame).expect("a reply");
        let added = next_frame(&mut first_inbox).expect("member_added");
        assert_eq!(added["event"], "pusher_internal:member_added");
        assert_eq!(added["data"], r#"{"user_id":"8"}"#);

        let frame = presence_frame(&second_tab, "presence-room", r#"{"user_id":7,"user_info":{"name":"Ann"}}"#);
        reply(&mut second_tab, frame).expect("a reply");
        assert_eq!(next_frame(&mut other_inbox), None, "a second tab of a present user is not announced");
        drop(first);
        assert_eq!(next_frame(&mut other_inbox), None, "the user still has a socket there");
        drop(second_tab);
        let removed = next_frame(&mut other_inbox).expect("member_removed");
        assert_eq!(removed["event"], "pusher_internal:member_removed");
        assert_eq!(removed["data"], r#"{"user_id":"7"}"#);
    }

    #[test]
    fn presence_refuses_forged_data_oversized_info_and_a_full_channel() {
        let fixture = fixture(|config| {
            config.max_presence_members = 1;
            config.max_presence_member_info_bytes = 16;
        });
        let (mut session, _inbox) = fixture.open();
        let mut forged = presence_frame(&session, "presence-room", r#"{"user_id":1}"#);
        forged["data"]["channel_data"] = json!(r#"{"user_id":2}"#);
        assert_eq!(reply(&mut session, forged).expect("a reply")["data"]["type"], "AuthError");
        let big = presence_frame(&session, "presence-room", r#"{"user_id":1,"user_info":"0123456789abcdefgh"}"#);
        assert_eq!(reply(&mut session, big).expect("a reply")["data"]["type"], "InvalidChannelData");
        let no_user = presence_frame(&session, "presence-room", r#"{"user_info":{}}"#);
        assert_eq!(reply(&mut session, no_user).expect("a reply")["data"]["type"], "InvalidChannelData");
        let first = presence_frame(&session, "presence-room", r#"{"user_id":1}"#);
        assert_eq!(reply(&mut session, first).expect("a reply")["event"], "pusher_internal:subscription_succeeded");
        let (mut late, _late_inbox) = fixture.open();
        let full = presence_frame(&late, "presence-room", r#"{"user_id":2}"#);
        assert_eq!(reply(&mut late, full).expect("a reply")["data"]["type"], "LimitReached");
        assert_eq!(fixture.shared.registry.subscriber_count("presence-room"), 1);
    }

    #[test]
    fn encrypted_channels_subscribe_like_private_ones() {
        let fixture = fixture(|_| {});
        let (mut session, _inbox) = fixture.open();
        let unsigned = reply(&mut session, subscribe_frame("private-encrypted-room", "key:00")).expect("a reply");
        assert_eq!(unsigned["data"]["type"], "AuthError");
        let auth = sign_private_channel("key", "secret", session.socket_id().as_str(), "private-encrypted-room");
        let signed = reply(&mut session, subscribe_frame("private-encrypted-room", &auth)).expect("a reply");
        assert_eq!(signed["event"], "pusher_internal:subscription_succeeded");
    }

    fn whisper(channel: &str) -> String {
        json!({"event": "client-typing", "channel": channel, "data": {"typing": true}}).to_string()
    }

    fn subscribe_private(session: &mut Session, channel: &str) {
        let auth = sign_private_channel("key", "secret", session.socket_id().as_str(), channel);
        let answer = reply(session, subscribe_frame(channel, &auth)).expect("a reply");
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded");
    }

    #[test]
    fn client_events_reach_the_others_but_not_the_sender() {
        let fixture = fixture(|_| {});
        let (mut sender, mut sender_inbox) = fixture.open();
        let (mut listener, mut listener_inbox) = fixture.open();
        subscribe_private(&mut sender, "private-chat");
        subscribe_private(&mut listener, "private-chat");
        assert_eq!(sender.handle_text(&whisper("private-chat"), 0), None);
        let relayed = next_frame(&mut listener_inbox).expect("relayed");
        assert_eq!(relayed, json!({"event": "client-typing", "channel": "private-chat", "data": r#"{"typing":true}"#}));
        assert_eq!(next_frame(&mut sender_inbox), None, "not echoed");
    }

    #[test]
    fn client_events_on_presence_channels_name_the_sender() {
        let fixture = fixture(|_| {});
        let (mut sender, _sender_inbox) = fixture.open();
        let (mut listener, mut listener_inbox) = fixture.open();
        let frame = presence_frame(&sender, "presence-room", r#"{"user_id":"ann"}"#);
        reply(&mut sender, frame);
        let frame = presence_frame(&listener, "presence-room", r#"{"user_id":"bob"}"#);
        reply(&mut listener, frame);
        sender.handle_text(&whisper("presence-room"), 0);
        let relayed = next_frame(&mut listener_inbox).expect("relayed");
        assert_eq!(relayed["user_id"], "ann");
    }

    #[test]
    fn client_events_are_limited_per_second() {
        let fixture = fixture(|config| config.client_events_per_second = 3);
        let (mut sender, _sender_inbox) = fixture.open();
        let (mut listener, mut listener_inbox) = fixture.open();
        subscribe_private(&mut sender, "private-chat");
        subscribe_private(&mut listener, "private-chat");
        for at in [0, 10, 999] {
            assert_eq!(sender.handle_text(&whisper("private-chat"), 10_000 + at), None, "event at {at} ms");
        }
        let refused = sender.handle_text(&whisper("private-chat"), 10_999).expect("refused");
        let refused: Value = serde_json::from_str(refused.as_str()).expect("JSON");
        assert_eq!(refused["data"]["code"], 4301);
        // One second after the first accepted event, room for one more.
        assert_eq!(sender.handle_text(&whisper("private-chat"), 11_000), None);
        assert!(sender.handle_text(&whisper("private-chat"), 11_001).is_some());
        let relayed = std::iter::from_fn(|| next_frame(&mut listener_inbox)).count();
        assert_eq!(relayed, 4);
    }

    #[test]
    fn client_events_are_refused_where_they_are_not_allowed() {
        let reserved: crate::shared::ReservedChannels = Arc::new(|channel: &str| channel.starts_with("private-own."));
        let fixture = fixture(|_| {});
        let mut shared = Shared::new(fixture.shared.config.clone(), None);
        shared.reserved = Some(reserved);
        let shared = Arc::new(shared);
        let (mut session, _inbox) = Session::open(Arc::clone(&shared));
        let (mut listener, mut listener_inbox) = Session::open(Arc::clone(&shared));
        reply(&mut session, subscribe_frame("news", ""));
        reply(&mut listener, subscribe_frame("news", ""));
        subscribe_private(&mut session, "private-own.1");
        subscribe_private(&mut listener, "private-own.1");
        for channel in ["news", "private-own.1", "private-elsewhere"] {
            let refused = session.handle_text(&whisper(channel), 0).expect("refused");
            let refused: Value = serde_json::from_str(refused.as_str()).expect("JSON");
            assert_eq!(refused["data"]["code"], 4301, "{channel}");
        }
        assert_eq!(next_frame(&mut listener_inbox), None);
        let disabled = fixture_with_client_events_off();
        let (mut session, _inbox) = disabled.open();
        subscribe_private(&mut session, "private-chat");
        assert!(session.handle_text(&whisper("private-chat"), 0).is_some());
    }

    fn fixture_with_client_events_off() -> Fixture {
        fixture(|config| config.client_events = false)
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
                serde_json::from_str(session.handle_text(&text, 0).expect("an error reply").as_str()).expect("JSON");
            assert_eq!(answer["event"], "pusher:error", "{text}");
            assert_eq!(answer["data"]["code"], code, "{text}");
        }
        let binary: Value = serde_json::from_str(Session::handle_binary().as_str()).expect("JSON");
        assert_eq!(binary["data"]["code"], 4200);
        assert!(reply(&mut session, json!({"event": "pusher:ping"})).is_some());
    }
}
