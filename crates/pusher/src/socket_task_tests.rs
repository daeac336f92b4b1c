//! The socket task ([`crate::connection`]) driven through in-memory channels on tokio's paused clock: the timing
//! rules are checked to the second without waiting for them.

use std::fmt;
use std::time::Duration;

use futures_channel::mpsc::{self as channel, UnboundedReceiver, UnboundedSender};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::config::PusherConfig;
use crate::connection::{serve, ReadError, CLOSE_HANDSHAKE_TIMEOUT};
use crate::realtime::Realtime;
use crate::stats::SocketPermit;

#[derive(Debug)]
struct TestReadError {
    too_big: bool,
}

impl fmt::Display for TestReadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(if self.too_big { "too big" } else { "broken" })
    }
}

impl ReadError for TestReadError {
    fn is_message_too_big(&self) -> bool {
        self.too_big
    }
}

type ClientFrames = UnboundedSender<Result<Message, TestReadError>>;

/// One client connected to the socket task through two in-memory channels.
struct Client {
    to_server: ClientFrames,
    from_server: UnboundedReceiver<Message>,
    task: JoinHandle<()>,
}

fn realtime(configure: impl FnOnce(&mut PusherConfig)) -> Realtime {
    let mut config = PusherConfig::new("1", "key", "secret");
    configure(&mut config);
    Realtime::new(config).expect("valid config")
}

fn connect(realtime: &Realtime) -> Client {
    let (to_server, server_reader) = channel::unbounded();
    let (server_writer, from_server) = channel::unbounded();
    let shared = Arc::clone(realtime.shared());
    let permit = SocketPermit::try_acquire(&shared.stats, shared.config.max_sockets).expect("room");
    let task = tokio::spawn(serve(shared, permit, server_reader, server_writer));
    Client { to_server, from_server, task }
}

impl Client {
    async fn next(&mut self) -> Message {
        self.from_server.next().await.expect("the server sent a frame")
    }

    async fn next_json(&mut self) -> Value {
        match self.next().await {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn next_close(&mut self) -> CloseFrame {
        match self.next().await {
            Message::Close(Some(frame)) => frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Reads `pusher:connection_established` and returns the socket id.
    async fn established(&mut self) -> String {
        let frame = self.next_json().await;
        assert_eq!(frame["event"], "pusher:connection_established");
        let data: Value = serde_json::from_str(frame["data"].as_str().expect("string data")).expect("JSON");
        data["socket_id"].as_str().expect("a socket id").to_owned()
    }

    fn send(&self, frame: Value) {
        self.send_message(Message::Text(frame.to_string().into()));
    }

    fn send_message(&self, message: Message) {
        self.to_server.unbounded_send(Ok(message)).expect("the server is reading");
    }

    /// Drops the client's end of the socket and waits for the task to end.
    async fn hang_up(self) {
        drop(self.to_server);
        self.task.await.expect("the socket task ends cleanly");
    }
}

#[tokio::test(start_paused = true)]
async fn handshake_comes_first_with_the_configured_activity_timeout() {
    let realtime = realtime(|config| config.activity_timeout_seconds = 12);
    let mut client = connect(&realtime);
    let frame = client.next_json().await;
    assert_eq!(frame["event"], "pusher:connection_established");
    let data: Value = serde_json::from_str(frame["data"].as_str().expect("string data")).expect("JSON");
    assert!(crate::is_valid_socket_id(data["socket_id"].as_str().expect("an id")));
    assert_eq!(data["activity_timeout"], 12);
    assert_eq!(realtime.stats().connections_accepted_total, 1);
    assert_eq!(realtime.stats().open_sockets, 1);
    client.hang_up().await;
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_pinged_then_closed_with_4201() {
    let realtime = realtime(|config| {
        config.activity_timeout_seconds = 30;
        config.pong_timeout_seconds = 10;
    });
    let mut client = connect(&realtime);
    client.established().await;
    let connected_at = Instant::now();

    assert_eq!(client.next_json().await, json!({"event": "pusher:ping", "data": "{}"}));
    assert_eq!(connected_at.elapsed(), Duration::from_secs(30));

    let close = client.next_close().await;
    assert_eq!(close.code, 4201);
    assert_eq!(connected_at.elapsed(), Duration::from_secs(40));
    client.hang_up().await;
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn answering_the_ping_keeps_the_connection() {
    let realtime = realtime(|config| {
        config.activity_timeout_seconds = 30;
        config.pong_timeout_seconds = 10;
    });
    let mut client = connect(&realtime);
    client.established().await;
    assert_eq!(client.next_json().await["event"], "pusher:ping");
    tokio::time::advance(Duration::from_secs(9)).await;
    client.send(json!({"event": "pusher:pong", "data": {}}));
    let answered_at = Instant::now();
    assert_eq!(client.next_json().await["event"], "pusher:ping");
    assert_eq!(answered_at.elapsed(), Duration::from_secs(30));
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn client_ping_gets_pong_and_counts_as_activity() {
    let realtime = realtime(|config| config.activity_timeout_seconds = 30);
    let mut client = connect(&realtime);
    client.established().await;
    tokio::time::advance(Duration::from_secs(20)).await;
    client.send(json!({"event": "pusher:ping", "data": {}}));
    let pinged_at = Instant::now();
    assert_eq!(client.next_json().await, json!({"event": "pusher:pong", "data": "{}"}));
    assert_eq!(client.next_json().await["event"], "pusher:ping");
    assert_eq!(pinged_at.elapsed(), Duration::from_secs(30));
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn published_events_reach_subscribers_with_string_data() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "news", "auth": ""}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");

    assert_eq!(realtime.publish("news", "App\\Events\\Thing", r#"{"id":7}"#), 1);
    assert_eq!(realtime.publish("elsewhere", "Other", "{}"), 0);
    assert_eq!(
        client.next_json().await,
        json!({"event": "App\\Events\\Thing", "channel": "news", "data": "{\"id\":7}"})
    );
    assert_eq!(realtime.stats().events_delivered_total, 1);

    client.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "news"}}));
    client.send(json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(client.next_json().await["event"], "pusher:pong");
    assert_eq!(realtime.publish("news", "App\\Events\\Thing", "{}"), 0);
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn private_channel_with_this_sockets_signature_is_granted() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    let socket_id = client.established().await;
    let auth = realtime.sign_channel(&socket_id, "private-allowed.7");
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "private-allowed.7", "auth": auth}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(realtime.subscriber_count("private-allowed.7"), 1);
    client.hang_up().await;
    assert_eq!(realtime.subscriber_count("private-allowed.7"), 0);
}

#[tokio::test(start_paused = true)]
async fn slow_consumer_is_closed_with_4100() {
    let realtime = realtime(|config| config.max_queued_frames_per_socket = 2);
    let mut client = connect(&realtime);
    client.established().await;
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");

    // No await between publishes: the socket task cannot drain its queue in between.
    let delivered: Vec<usize> = (0..3).map(|_| realtime.publish("news", "Thing", "{}")).collect();
    assert_eq!(delivered, vec![1, 1, 0]);
    assert_eq!(realtime.stats().slow_consumers_closed_total, 1);

    assert_eq!(client.next_close().await.code, 4100);
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn close_all_sends_the_given_code_and_reason() {
    let realtime = realtime(|_| {});
    let mut first = connect(&realtime);
    let mut second = connect(&realtime);
    first.established().await;
    second.established().await;
    assert_eq!(realtime.close_all(4200, "Server restarting"), Ok(2));
    for client in [&mut first, &mut second] {
        let close = client.next_close().await;
        assert_eq!((close.code, close.reason.as_str()), (4200, "Server restarting"));
    }
    first.hang_up().await;
    second.hang_up().await;
    realtime.wait_until_no_sockets().await;
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_the_clients_close_frame_at_most_five_seconds() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    realtime.close_all(4200, "bye").expect("a valid code");
    assert_eq!(client.next_close().await.code, 4200);
    let closed_at = Instant::now();
    // The client neither answers nor hangs up: the server gives up on its own.
    client.task.await.expect("the socket task ends");
    assert_eq!(closed_at.elapsed(), CLOSE_HANDSHAKE_TIMEOUT);
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn client_close_frame_ends_the_connection() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");
    client.send_message(Message::Close(None));
    // The server closes its writing half: the client sees the end of the stream.
    assert!(client.from_server.next().await.is_none());
    client.task.await.expect("the socket task ends");
    assert_eq!(realtime.subscriber_count("news"), 0);
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn message_over_the_transport_limit_closes_with_1009() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.to_server.unbounded_send(Err(TestReadError { too_big: true })).expect("the server is reading");
    assert_eq!(client.next_close().await.code, 1009);
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn broken_socket_ends_the_task_and_unsubscribes() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");
    client.to_server.unbounded_send(Err(TestReadError { too_big: false })).expect("the server is reading");
    client.task.await.expect("the socket task ends");
    assert_eq!(realtime.subscriber_count("news"), 0);
    assert_eq!(realtime.stats().open_sockets, 0);
}

#[tokio::test(start_paused = true)]
async fn garbage_frames_get_errors_and_the_connection_stays() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.send_message(Message::Text("{{{{".into()));
    assert_eq!(client.next_json().await["data"]["code"], 4200);
    client.send_message(Message::Binary(vec![0xff, 0x00].into()));
    assert_eq!(client.next_json().await["data"]["code"], 4200);
    client.send_message(Message::Text("x".repeat(20 * 1024).into()));
    assert_eq!(client.next_json().await["data"]["code"], 4301);
    client.send_message(Message::Ping(vec![1].into()));
    client.send(json!({"event": "client-typing", "channel": "private-a", "data": {}}));
    assert_eq!(client.next_json().await["data"]["code"], 4301);
    client.send(json!({"event": "pusher:ping"}));
    assert_eq!(client.next_json().await["event"], "pusher:pong");
    client.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let realtime = realtime(|config| config.pong_timeout_seconds = 10);
    let shared = Arc::clone(realtime.shared());
    let permit = SocketPermit::try_acquire(&shared.stats, 1).expect("room");
    let (to_server, server_reader) = channel::unbounded::<Result<Message, TestReadError>>();
    // A zero-capacity channel holds one frame (connection_established); the next write blocks.
    let (server_writer, _never_read) = channel::channel::<Message>(0);
    let task = tokio::spawn(serve(shared, permit, server_reader, server_writer));
    tokio::task::yield_now().await;
    let started_at = Instant::now();
    to_server
        .unbounded_send(Ok(Message::Text(json!({"event": "pusher:ping"}).to_string().into())))
        .expect("the server is reading");
    task.await.expect("the socket task ends");
    assert_eq!(started_at.elapsed(), Duration::from_secs(10));
    assert_eq!(realtime.stats().open_sockets, 0);
}

/// Two servers whose peer hooks feed each other directly, as the embedder's bus would.
fn linked_pair() -> (Realtime, Realtime) {
    use std::sync::OnceLock;
    let second_slot: Arc<OnceLock<Realtime>> = Arc::new(OnceLock::new());
    let first_slot: Arc<OnceLock<Realtime>> = Arc::new(OnceLock::new());
    let build = |other: Arc<OnceLock<Realtime>>| {
        let hook: crate::PeerHook = Arc::new(move |message| {
            if let Some(other) = other.get() {
                other.deliver_from_peer("peer", &message).expect("a well-formed peer message");
            }
        });
        Realtime::builder(PusherConfig::new("1", "key", "secret")).peer_hook(hook).build().expect("valid config")
    };
    let first = build(Arc::clone(&second_slot));
    let second = build(Arc::clone(&first_slot));
    let _ = first_slot.set(first.clone());
    let _ = second_slot.set(second.clone());
    (first, second)
}

#[tokio::test(start_paused = true)]
async fn peers_hear_publishes_and_client_events_but_never_echo_them() {
    let (first, second) = linked_pair();
    let mut here = connect(&first);
    let mut there = connect(&second);
    let here_id = here.established().await;
    let there_id = there.established().await;
    for (client, realtime, socket_id) in [(&mut here, &first, &here_id), (&mut there, &second, &there_id)] {
        let auth = realtime.sign_channel(socket_id, "private-room");
        client.send(json!({"event": "pusher:subscribe", "data": {"channel": "private-room", "auth": auth}}));
        assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");
    }

    assert_eq!(first.publish("private-room", "Thing", r#"{"n":1}"#), 1, "one local subscriber");
    let expected = json!({"event": "Thing", "channel": "private-room", "data": "{\"n\":1}"});
    assert_eq!(here.next_json().await, expected);
    assert_eq!(there.next_json().await, expected, "the peer's subscriber hears it, byte for byte");
    assert_eq!(second.stats().events_published_total, 0, "a peer's frame is a delivery, not a publish");
    assert_eq!(second.stats().events_delivered_total, 1);

    there.send(json!({"event": "client-typing", "channel": "private-room", "data": {"who": "there"}}));
    let whisper = here.next_json().await;
    assert_eq!(whisper["event"], "client-typing");
    assert_eq!(whisper["data"], json!({"who": "there"}).to_string());
    // The sender never hears its own whisper: the next frame it gets is the pong.
    there.send(json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(there.next_json().await["event"], "pusher:pong");
    here.hang_up().await;
    there.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn a_malformed_peer_message_sends_nothing() {
    let realtime = realtime(|_| {});
    let mut client = connect(&realtime);
    client.established().await;
    client.send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}));
    assert_eq!(client.next_json().await["event"], "pusher_internal:subscription_succeeded");
    let forged = crate::PeerMessage::Frame {
        channel: "news".into(),
        frame: r#"{"event":"Thing","channel":"private-secret","data":"{}"}"#.into(),
        except: None,
    };
    assert_eq!(realtime.deliver_from_peer("peer", &forged), Err(crate::PeerMessageError::Frame));
    client.send(json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(client.next_json().await["event"], "pusher:pong", "nothing was queued before the pong");
    client.hang_up().await;
}

impl Client {
    /// Joins presence `channel` as `user_id`, signed as the host would; returns the member
    /// hash of `subscription_succeeded`.
    async fn join_presence(&mut self, _realtime: &Realtime, socket_id: &str, channel: &str, user_id: &str) -> Value {
        let channel_data = json!({"user_id": user_id, "user_info": {"name": user_id}}).to_string();
        let auth = crate::sign_presence_channel("key", "secret", socket_id, channel, &channel_data);
        self.send(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}}));
        let answer = self.next_json().await;
        assert_eq!(answer["event"], "pusher_internal:subscription_succeeded", "{answer}");
        serde_json::from_str(answer["data"].as_str().expect("string data")).expect("JSON")
    }

    /// The next frame after everything queued before a ping: `None` if only the pong came.
    async fn next_before_pong(&mut self) -> Option<Value> {
        self.send(json!({"event": "pusher:ping", "data": {}}));
        let frame = self.next_json().await;
        if frame["event"] == "pusher:pong" {
            return None;
        }
        assert_eq!(self.next_json().await["event"], "pusher:pong");
        Some(frame)
    }
}

#[tokio::test(start_paused = true)]
async fn presence_members_are_counted_across_peers_once_per_user() {
    let (first, second) = linked_pair();
    let mut alice_here = connect(&first);
    let alice_here_id = alice_here.established().await;
    let joined = alice_here.join_presence(&first, &alice_here_id, "presence-room", "alice").await;
    assert_eq!(joined["presence"]["ids"], json!(["alice"]));

    let mut bob_there = connect(&second);
    let bob_there_id = bob_there.established().await;
    let joined = bob_there.join_presence(&second, &bob_there_id, "presence-room", "bob").await;
    assert_eq!(joined["presence"]["count"], 2, "alice on the other server is listed: {joined}");
    assert_eq!(joined["presence"]["hash"]["alice"], json!({"name": "alice"}));
    let added = alice_here.next_json().await;
    assert_eq!(
        (added["event"].as_str(), added["data"].as_str()),
        (Some("pusher_internal:member_added"), Some(r#"{"user_id":"bob","user_info":{"name":"bob"}}"#))
    );
    assert_eq!((first.user_count("presence-room"), second.user_count("presence-room")), (2, 2));

    // Alice opens a second tab on the other server: she is known there already.
    let mut alice_there = connect(&second);
    let alice_there_id = alice_there.established().await;
    alice_there.join_presence(&second, &alice_there_id, "presence-room", "alice").await;
    assert_eq!(bob_there.next_before_pong().await, None, "no second member_added for alice");
    // Her first tab closes: she is still on the other server, so nobody hears she left.
    alice_here.hang_up().await;
    assert_eq!(bob_there.next_before_pong().await, None, "alice is still there");
    assert_eq!(second.user_count("presence-room"), 2);

    // A watcher on the first server, then the second server is forgotten (it went silent).
    let mut watcher = connect(&first);
    let watcher_id = watcher.established().await;
    let joined = watcher.join_presence(&first, &watcher_id, "presence-room", "carol").await;
    assert_eq!(joined["presence"]["ids"].as_array().map(Vec::len), Some(3), "{joined}");
    assert_eq!(first.forget_peer("peer"), 2, "member_removed for alice and bob");
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..2 {
        let frame = watcher.next_json().await;
        assert_eq!(frame["event"], "pusher_internal:member_removed");
        let data: Value = serde_json::from_str(frame["data"].as_str().expect("data")).expect("JSON");
        removed.push(data["user_id"].as_str().expect("user id").to_owned());
    }
    removed.sort();
    assert_eq!(removed, ["alice", "bob"]);
    assert_eq!(first.user_count("presence-room"), 1);

    // The second server's whole membership, as it would answer a hello: both come back.
    let members = second.peer_members();
    assert_eq!(first.deliver_from_peer("peer", &members), Ok(2), "carol hears alice and bob added");
    assert_eq!(first.user_count("presence-room"), 3);
    watcher.hang_up().await;
    bob_there.hang_up().await;
    alice_there.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn a_peers_terminate_connections_closes_the_users_sockets_here() {
    let realtime = realtime(|_| {});
    let mut alice = connect(&realtime);
    let alice_id = alice.established().await;
    alice.join_presence(&realtime, &alice_id, "presence-room", "alice").await;
    let terminate = crate::PeerMessage::TerminateUser { user_id: "alice".into() };
    assert_eq!(realtime.deliver_from_peer("peer", &terminate), Ok(0));
    assert_eq!(alice.next_close().await.code, 4009);
    let forged = crate::PeerMessage::TerminateUser { user_id: String::new() };
    assert!(realtime.deliver_from_peer("peer", &forged).is_err());
    alice.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn a_channel_is_occupied_on_the_peers_while_any_server_has_a_subscriber() {
    let (first, second) = linked_pair();
    let mut here = connect(&first);
    here.established().await;
    here.send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}));
    assert_eq!(here.next_json().await["event"], "pusher_internal:subscription_succeeded");
    assert!(second.shared().registry.occupied_elsewhere("news"), "the peer heard of the first subscriber");
    assert!(!first.shared().registry.occupied_elsewhere("news"));
    assert_eq!(second.peer_occupancy(), crate::PeerMessage::Occupied { channels: Vec::new() });
    assert_eq!(first.peer_occupancy(), crate::PeerMessage::Occupied { channels: vec!["news".to_owned()] });
    here.hang_up().await;
    assert!(!second.shared().registry.occupied_elsewhere("news"), "and of the last one leaving");
}
