//! The HTTP API through the router itself (tower's `oneshot`), on a hand-set clock:
//! every refusal, and that a refused request publishes nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::Request as HttpRequest;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::config::PusherConfig;
use crate::registry::SocketHandle;
use crate::signature::hex_hmac;

const KEY: &str = "278d425bdf160c739803";
const SECRET: &str = "7ad3773142a6692b25b8";
const NOW_SECONDS: u64 = 1_800_000_000;

struct HandClock(AtomicU64);

impl crate::clock::Clock for HandClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn shared(configure: impl FnOnce(&mut PusherConfig)) -> Arc<Shared> {
    let mut config = PusherConfig::new("42", KEY, SECRET);
    configure(&mut config);
    let mut shared = Shared::new(config, None);
    shared.clock = Arc::new(HandClock(AtomicU64::new(NOW_SECONDS * 1000)));
    shared.reserved = Some(Arc::new(|channel: &str| channel.starts_with("private-own.")));
    Arc::new(shared)
}

/// A request signed as the SDKs sign it, with `tweak` applied to the query before signing.
fn signed(
    method: &str,
    path: &str,
    body: &str,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> HttpRequest<Body> {
    let mut params = BTreeMap::new();
    params.insert("auth_key".to_owned(), KEY.to_owned());
    params.insert("auth_timestamp".to_owned(), NOW_SECONDS.to_string());
    params.insert("auth_version".to_owned(), "1.0".to_owned());
    if !body.is_empty() {
        params.insert("body_md5".to_owned(), hex::encode(Md5::digest(body.as_bytes())));
    }
    tweak(&mut params);
    let query: Vec<String> = params.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let query = query.join("&");
    let signature = hex_hmac(SECRET, format!("{method}\n{path}\n{query}").as_bytes());
    let uri = format!("{path}?{query}&auth_signature={signature}");
    HttpRequest::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

async fn call(shared: &Arc<Shared>, request: HttpRequest<Body>) -> (u16, String) {
    let response = router::<()>(Arc::clone(shared)).oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn listener(shared: &Shared, channel: &str, socket: &str) -> crate::registry::SocketInbox {
    let (handle, inbox) = SocketHandle::new(SocketId::parse(socket).expect("id"), 16);
    shared.registry.subscribe(channel, &handle);
    inbox
}

fn event_body(channel: &str, data: &str) -> String {
    json!({"name": "OrderShipped", "data": data, "channel": channel}).to_string()
}

#[tokio::test]
async fn a_signed_trigger_reaches_the_channel() {
    let shared = shared(|_| {});
    let mut inbox = listener(&shared, "orders", "1.1");
    let body = event_body("orders", r#"{"id":5}"#);
    let (status, answer) = call(&shared, signed("POST", "/apps/42/events", &body, |_| {})).await;
    assert_eq!((status, answer.as_str()), (200, "{}"));
    let frame: Value = serde_json::from_str(inbox.outbound.try_recv().expect("delivered").as_str()).expect("JSON");
    assert_eq!(frame, json!({"event": "OrderShipped", "channel": "orders", "data": r#"{"id":5}"#}));
}

#[tokio::test]
async fn trigger_excludes_socket_id_and_reports_info() {
    let shared = shared(|_| {});
    let mut sender = listener(&shared, "orders", "1.1");
    let mut other = listener(&shared, "orders", "2.2");
    let body = json!({"name": "E", "data": "{}", "channels": ["orders", "empty"], "socket_id": "1.1", "info": "subscription_count"}).to_string();
    let (status, answer) = call(&shared, signed("POST", "/apps/42/events", &body, |_| {})).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer, json!({"channels": {"orders": {"subscription_count": 2}, "empty": {"subscription_count": 0}}}));
    assert!(sender.outbound.try_recv().is_err(), "the excluded socket got nothing");
    assert!(other.outbound.try_recv().is_ok());
}

#[tokio::test]
async fn refusals_have_pusher_statuses_and_publish_nothing() {
    let shared = shared(|config| config.max_channels_per_event = 2);
    let mut inbox = listener(&shared, "orders", "1.1");
    let good = event_body("orders", "{}");
    let stale = (NOW_SECONDS - 601).to_string();
    let future = (NOW_SECONDS + 601).to_string();
    let cases: Vec<(&str, HttpRequest<Body>, u16)> = vec![
        ("unknown app", signed("POST", "/apps/43/events", &good, |_| {}), 404),
        ("stale timestamp", signed("POST", "/apps/42/events", &good, |p| { p.insert("auth_timestamp".into(), stale.clone()); }), 401),
        ("future timestamp", signed("POST", "/apps/42/events", &good, |p| { p.insert("auth_timestamp".into(), future.clone()); }), 401),
        ("wrong key", signed("POST", "/apps/42/events", &good, |p| { p.insert("auth_key".into(), "other".into()); }), 401),
        ("wrong version", signed("POST", "/apps/42/events", &good, |p| { p.insert("auth_version".into(), "2.0".into()); }), 401),
        ("wrong body_md5", signed("POST", "/apps/42/events", &good, |p| { p.insert("body_md5".into(), "0".repeat(32)); }), 401),
        ("no body_md5", signed("POST", "/apps/42/events", &good, |p| { p.remove("body_md5"); }), 401),
        ("malformed JSON", signed("POST", "/apps/42/events", "{not json", |_| {}), 400),
        ("data not a string", signed("POST", "/apps/42/events", r#"{"name":"E","data":{},"channel":"orders"}"#, |_| {}), 400),
        ("no channel", signed("POST", "/apps/42/events", r#"{"name":"E","data":"{}"}"#, |_| {}), 400),
        ("too many channels", signed("POST", "/apps/42/events", &json!({"name":"E","data":"{}","channels":["orders","a","b"]}).to_string(), |_| {}), 400),
        ("bad channel name", signed("POST", "/apps/42/events", &event_body("bad name", "{}"), |_| {}), 400),
        ("protocol event name", signed("POST", "/apps/42/events", r#"{"name":"pusher:error","data":"{}","channel":"orders"}"#, |_| {}), 400),
        ("bad socket_id", signed("POST", "/apps/42/events", r#"{"name":"E","data":"{}","channel":"orders","socket_id":"x"}"#, |_| {}), 400),
        ("reserved channel", signed("POST", "/apps/42/events", &json!({"name":"E","data":"{}","channels":["orders","private-own.1"]}).to_string(), |_| {}), 403),
        ("oversize data", signed("POST", "/apps/42/events", &event_body("orders", &"x".repeat(10 * 1024 + 1)), |_| {}), 413),
        ("batch over the limit", signed("POST", "/apps/42/batch_events", &json!({"batch": vec![json!({"name":"E","data":"{}","channel":"orders"}); 11]}).to_string(), |_| {}), 400),
        ("batch with one bad event", signed("POST", "/apps/42/batch_events", &json!({"batch": [{"name":"E","data":"{}","channel":"orders"}, {"name":"E","data":"{}","channel":"bad name"}]}).to_string(), |_| {}), 400),
    ];
    for (what, request, expected) in cases {
        let (status, answer) = call(&shared, request).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(!answer.trim().is_empty(), "{what}: a sentence says why");
    }
    assert!(inbox.outbound.try_recv().is_err(), "nothing was published");
    assert_eq!(shared.stats.snapshot().events_published_total, 0);
}

#[tokio::test]
async fn a_signature_for_one_request_does_not_sign_another() {
    let shared = shared(|_| {});
    let mut inbox = listener(&shared, "orders", "1.1");
    let original = signed("POST", "/apps/42/events", &event_body("orders", "{}"), |_| {});
    let query = original.uri().query().expect("query").to_owned();
    // The same signed query with another body: body_md5 no longer matches.
    let replayed = HttpRequest::builder()
        .method("POST")
        .uri(format!("/apps/42/events?{query}"))
        .body(Body::from(event_body("orders", r#"{"forged":true}"#)))
        .expect("request");
    assert_eq!(call(&shared, replayed).await.0, 401);
    // The same signed query on another path.
    let moved = HttpRequest::builder()
        .method("POST")
        .uri(format!("/apps/42/batch_events?{query}"))
        .body(Body::from(event_body("orders", "{}")))
        .expect("request");
    assert_eq!(call(&shared, moved).await.0, 401);
    assert!(inbox.outbound.try_recv().is_err());
}

#[tokio::test]
async fn batch_events_publish_every_event_in_order() {
    let shared = shared(|_| {});
    let mut inbox = listener(&shared, "orders", "1.1");
    let body = json!({"batch": [
        {"name": "First", "data": "1", "channel": "orders"},
        {"name": "Second", "data": "2", "channel": "orders", "info": "subscription_count"},
    ]})
    .to_string();
    let (status, answer) = call(&shared, signed("POST", "/apps/42/batch_events", &body, |_| {})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(&answer).expect("JSON"),
        json!({"batch": [{}, {"subscription_count": 1}]})
    );
    let names: Vec<Value> = std::iter::from_fn(|| inbox.outbound.try_recv().ok())
        .map(|frame| serde_json::from_str::<Value>(frame.as_str()).expect("JSON")["event"].clone())
        .collect();
    assert_eq!(names, vec![json!("First"), json!("Second")]);
}

#[tokio::test]
async fn channel_queries_report_occupancy_and_users() {
    let shared = shared(|_| {});
    let _orders = listener(&shared, "orders", "1.1");
    let (handle, _inbox) = SocketHandle::new(SocketId::parse("2.2").expect("id"), 16);
    let slow = CloseRequest { code: 4100, reason: String::new() };
    shared.registry.join_presence("presence-room", &handle, "ann", &json!({"name": "Ann"}), 10, &slow).expect("room");
    let (status, answer) = call(&shared, signed("GET", "/apps/42/channels", "", |_| {})).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).expect("JSON"),
        json!({"channels": {"orders": {}, "presence-room": {}}})
    );
    let request = signed("GET", "/apps/42/channels", "", |p| {
        p.insert("filter_by_prefix".into(), "presence-".into());
        p.insert("info".into(), "user_count".into());
    });
    let (_, answer) = call(&shared, request).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer).expect("JSON"),
        json!({"channels": {"presence-room": {"user_count": 1}}})
    );
    let request = signed("GET", "/apps/42/channels", "", |p| {
        p.insert("info".into(), "user_count".into());
    });
    assert_eq!(call(&shared, request).await.0, 400, "user_count needs the presence- prefix");
    let request = signed("GET", "/apps/42/channels/presence-room", "", |p| {
        p.insert("info".into(), "subscription_count,user_count".into());
    });
    let (_, answer) = call(&shared, request).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer).expect("JSON"),
        json!({"occupied": true, "subscription_count": 1, "user_count": 1})
    );
    let (_, answer) = call(&shared, signed("GET", "/apps/42/channels/empty", "", |_| {})).await;
    assert_eq!(serde_json::from_str::<Value>(&answer).expect("JSON"), json!({"occupied": false}));
    let (_, answer) = call(&shared, signed("GET", "/apps/42/channels/presence-room/users", "", |_| {})).await;
    assert_eq!(serde_json::from_str::<Value>(&answer).expect("JSON"), json!({"users": [{"id": "ann"}]}));
    assert_eq!(call(&shared, signed("GET", "/apps/42/channels/orders/users", "", |_| {})).await.0, 400);
}

#[tokio::test]
async fn terminate_connections_closes_the_users_sockets() {
    let shared = shared(|_| {});
    let (handle, inbox) = SocketHandle::new(SocketId::parse("2.2").expect("id"), 16);
    shared.registry.add_socket(&handle);
    let slow = CloseRequest { code: 4100, reason: String::new() };
    shared.registry.join_presence("presence-room", &handle, "ann", &json!(null), 10, &slow).expect("room");
    let (status, _) = call(&shared, signed("POST", "/apps/42/users/ann/terminate_connections", "{}", |_| {})).await;
    assert_eq!(status, 200);
    assert_eq!(inbox.close.borrow().as_ref().map(|request| request.code), Some(crate::codes::TERMINATED));
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let shared = shared(|_| {});
    for (method, path, _) in HTTP_API_ROUTES {
        let path = path.replace("{app_id}", "42").replace("{channel_name}", "presence-room").replace("{user_id}", "7");
        let request = HttpRequest::builder().method(method.clone()).uri(&path).body(Body::empty()).unwrap();
        // Unsigned: the route answers Pusher's refusal, where an unrouted path would be a bare 404.
        let (status, body) = call(&shared, request).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
}
