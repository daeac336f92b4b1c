//! The Pusher protocol over a real TCP WebSocket, spoken by hand with tokio-tungstenite:
//! the refusals pusher-js cannot provoke (bad protocol, capacity, oversized frames).

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{spawn_server, APP_KEY};
use switchboard_pusher::SubscriptionChange;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards every wait, so a bug fails the test instead of hanging it.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

async fn open(address: std::net::SocketAddr, path_and_query: &str) -> Socket {
    let url = format!("ws://{address}{path_and_query}");
    let (socket, _) = tokio::time::timeout(STEP_TIMEOUT, connect_async(url))
        .await
        .expect("the upgrade finishes in time")
        .expect("the upgrade succeeds, even for refused connections");
    socket
}

async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(STEP_TIMEOUT, socket.next())
        .await
        .expect("a frame arrives in time")
        .expect("the stream is open")
        .expect("the frame is readable")
}

async fn next_json(socket: &mut Socket) -> Value {
    match next(socket).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn expect_close(socket: &mut Socket, code: u16) {
    match next(socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::from(code), "{frame:?}"),
        other => panic!("expected a close frame with {code}, got {other:?}"),
    }
}

async fn expect_refusal(socket: &mut Socket, code: u16) {
    let error = next_json(socket).await;
    assert_eq!(error["event"], "pusher:error");
    assert_eq!(error["data"]["code"], code);
    expect_close(socket, code).await;
}

async fn established(socket: &mut Socket) -> String {
    let frame = next_json(socket).await;
    assert_eq!(frame["event"], "pusher:connection_established");
    let data: Value = serde_json::from_str(frame["data"].as_str().expect("data is a string")).expect("JSON");
    assert_eq!(data["activity_timeout"], 30);
    data["socket_id"].as_str().expect("a socket id").to_owned()
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.expect("the frame is sent");
}

fn pusher_js_path() -> String {
    format!("/app/{APP_KEY}?protocol=7&client=js&version=8.6.0&flash=false")
}

#[tokio::test]
async fn unknown_app_key_is_refused_with_4001_after_the_upgrade() {
    let server = spawn_server(support::config()).await;
    let mut socket = open(server.address, "/app/not-the-key?protocol=7").await;
    expect_refusal(&mut socket, 4001).await;
    assert_eq!(server.realtime.stats().connections_refused_total, 1);
}

#[tokio::test]
async fn protocol_version_is_checked() {
    let server = spawn_server(support::config()).await;
    let mut missing = open(server.address, &format!("/app/{APP_KEY}")).await;
    expect_refusal(&mut missing, 4008).await;
    let mut old = open(server.address, &format!("/app/{APP_KEY}?protocol=5")).await;
    expect_refusal(&mut old, 4007).await;
}

#[tokio::test]
async fn connections_over_max_sockets_get_4100() {
    let server = spawn_server(switchboard_pusher::PusherConfig { max_sockets: 1, ..support::config() }).await;
    let mut first = open(server.address, &pusher_js_path()).await;
    established(&mut first).await;
    let mut second = open(server.address, &pusher_js_path()).await;
    expect_refusal(&mut second, 4100).await;
    assert_eq!(server.realtime.stats().open_sockets, 1);
}

#[tokio::test]
async fn subscribe_publish_and_disconnect_over_tcp() {
    let server = spawn_server(support::config()).await;
    let mut socket = open(server.address, &pusher_js_path()).await;
    let socket_id = established(&mut socket).await;
    let auth = server.realtime.sign_channel(&socket_id, "private-allowed.1");
    send(&mut socket, json!({"event": "pusher:subscribe", "data": {"channel": "private-allowed.1", "auth": auth}}))
        .await;
    assert_eq!(next_json(&mut socket).await["event"], "pusher_internal:subscription_succeeded");

    assert_eq!(server.realtime.publish("private-allowed.1", "Thing", r#"{"n":1}"#), 1);
    assert_eq!(
        next_json(&mut socket).await,
        json!({"event": "Thing", "channel": "private-allowed.1", "data": "{\"n\":1}"})
    );

    socket.close(None).await.expect("the close frame is sent");
    server.changes.wait_for(|change| matches!(change, SubscriptionChange::Unsubscribed { .. })).await;
    assert_eq!(server.realtime.subscriber_count("private-allowed.1"), 0);
}

#[tokio::test]
async fn oversized_frames_are_answered_then_closed_beyond_the_transport_limit() {
    let server = spawn_server(support::config()).await;
    let mut socket = open(server.address, &pusher_js_path()).await;
    established(&mut socket).await;

    // Over max_frame_bytes (10 KiB) but under the transport limit: an error, the socket stays.
    send(&mut socket, json!({"event": "pusher:ping", "data": {"pad": "x".repeat(12 * 1024)}})).await;
    let error = next_json(&mut socket).await;
    assert_eq!((error["event"].as_str(), error["data"]["code"].as_u64()), (Some("pusher:error"), Some(4301)));
    send(&mut socket, json!({"event": "pusher:ping", "data": {}})).await;
    assert_eq!(next_json(&mut socket).await["event"], "pusher:pong");

    // Over the transport limit (4 x 10 KiB): the WebSocket layer gives up, 1009.
    socket.send(Message::text("x".repeat(64 * 1024))).await.expect("the frame is sent");
    expect_close(&mut socket, 1009).await;
}

#[tokio::test]
async fn binary_and_garbage_frames_do_not_close_the_socket() {
    let server = spawn_server(support::config()).await;
    let mut socket = open(server.address, &pusher_js_path()).await;
    established(&mut socket).await;
    socket.send(Message::binary(vec![0, 159, 146, 150])).await.expect("sent");
    assert_eq!(next_json(&mut socket).await["data"]["code"], 4200);
    socket.send(Message::text("{\"event\":")).await.expect("sent");
    assert_eq!(next_json(&mut socket).await["data"]["code"], 4200);
    send(&mut socket, json!({"event": "pusher:ping", "data": {}})).await;
    assert_eq!(next_json(&mut socket).await["event"], "pusher:pong");
}

#[tokio::test]
async fn close_all_then_wait_until_no_sockets() {
    let server = spawn_server(support::config()).await;
    let mut socket = open(server.address, &pusher_js_path()).await;
    established(&mut socket).await;
    assert_eq!(server.realtime.close_all(4200, "Server restarting"), Ok(1));
    expect_close(&mut socket, 4200).await;
    // tungstenite answers the close frame as it reads it; the server then ends the socket.
    assert!(tokio::time::timeout(STEP_TIMEOUT, socket.next()).await.expect("the stream ends").is_none());
    tokio::time::timeout(STEP_TIMEOUT, server.realtime.wait_until_no_sockets()).await.expect("every socket closes");
}
