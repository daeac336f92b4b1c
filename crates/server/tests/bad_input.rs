//! Throws thousands of generated bad requests at every route (wrong types, huge and negative
//! numbers, Unicode and control characters, nested junk, missing and extra fields, wrong
//! content types, oversized bodies, bad path ids, wrong roles, wrong methods) and checks
//! that each gets a 4xx with the error body and that the state is exactly unchanged.

mod common;

use common::{Db, TestApp};
use serde_json::{json, Value};

#[derive(Clone, Copy)]
enum Role {
    Platform,
    Moderator,
    Supervisor,
    Any,
}

#[derive(Clone, Copy)]
enum Field {
    Id,
    /// A positive integer or a string of 1-128 characters from `[A-Za-z0-9._:-]`.
    MessageId,
    Name,
    Body,
    Bool,
    Priority,
    Seconds,
    Time,
}

struct Route {
    method: &'static str,
    path: &'static str,
    role: Role,
    /// A valid body and the kind of each field; `None`: the route takes no body.
    body: Option<(Value, &'static [(&'static str, Field)])>,
    /// Fields whose removal leaves the body valid.
    optional: &'static [&'static str],
}

fn routes() -> Vec<Route> {
    use Field::*;
    use Role::*;
    let conversation: &'static [(&str, Field)] = &[("client_id", Id), ("profile_id", Id)];
    vec![
        Route {
            method: "PUT",
            path: "/api/moderators/{}",
            role: Platform,
            body: Some((json!({"name": "N"}), &[("name", Name)])),
            optional: &[],
        },
        Route {
            method: "PUT",
            path: "/api/profiles/{}",
            role: Platform,
            body: Some((json!({"name": "N", "active": true}), &[("name", Name), ("active", Bool)])),
            optional: &[],
        },
        Route {
            method: "PUT",
            path: "/api/clients/{}",
            role: Platform,
            body: Some((json!({"name": "N"}), &[("name", Name)])),
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/api/messages",
            role: Platform,
            body: Some((
                json!({"message_id": 900, "client_id": 100, "profile_id": 10, "body": "b", "sent_at": "2024-01-01T00:00:00Z"}),
                &[("message_id", MessageId), ("client_id", Id), ("profile_id", Id), ("body", Body), ("sent_at", Time)],
            )),
            optional: &["sent_at"],
        },
        Route { method: "POST", path: "/moderateur/connect", role: Moderator, body: None, optional: &[] },
        Route { method: "POST", path: "/moderateur/disconnect", role: Moderator, body: None, optional: &[] },
        Route { method: "GET", path: "/moderateur/status", role: Moderator, body: None, optional: &[] },
        Route { method: "GET", path: "/moderateur/profiles", role: Moderator, body: None, optional: &[] },
        Route { method: "GET", path: "/moderateur/conversations/{}/{}", role: Moderator, body: None, optional: &[] },
        Route {
            method: "POST",
            path: "/moderateur/typing",
            role: Moderator,
            body: Some((json!({"client_id": 100, "profile_id": 10}), conversation)),
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/moderateur/messages",
            role: Moderator,
            body: Some((
                json!({"client_id": 100, "profile_id": 10, "body": "b"}),
                &[("client_id", Id), ("profile_id", Id), ("body", Body)],
            )),
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/moderateur/initiations",
            role: Moderator,
            body: Some((json!({"client_id": 100, "profile_id": 10}), conversation)),
            optional: &[],
        },
        Route { method: "GET", path: "/moderateur/queue/status", role: Moderator, body: None, optional: &[] },
        Route { method: "POST", path: "/moderateur/queue/leave", role: Moderator, body: None, optional: &[] },
        Route {
            method: "POST",
            path: "/moderateur/queue/priority",
            role: Moderator,
            body: Some((json!({"priority": 0}), &[("priority", Priority)])),
            optional: &[],
        },
        Route { method: "GET", path: "/moderateur/locks/status", role: Moderator, body: None, optional: &[] },
        Route {
            method: "POST",
            path: "/moderateur/locks/request-unlock",
            role: Moderator,
            body: Some((json!({"profile_id": 10}), &[("profile_id", Id)])),
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/moderateur/locks/extend",
            role: Moderator,
            body: Some((json!({"profile_id": 10, "seconds": 5}), &[("profile_id", Id), ("seconds", Seconds)])),
            optional: &[],
        },
        Route { method: "GET", path: "/moderateur/conflicts", role: Moderator, body: None, optional: &[] },
        Route {
            method: "POST",
            path: "/moderateur/conflicts/resolve",
            role: Moderator,
            body: Some((json!({"conflict_id": 1}), &[("conflict_id", Id)])),
            optional: &[],
        },
        Route { method: "GET", path: "/api/supervisor/state", role: Supervisor, body: None, optional: &[] },
        Route { method: "GET", path: "/api/supervisor/load-report", role: Supervisor, body: None, optional: &[] },
        Route { method: "GET", path: "/api/supervisor/alerts", role: Supervisor, body: None, optional: &[] },
        Route { method: "GET", path: "/api/supervisor/conflicts", role: Supervisor, body: None, optional: &[] },
        Route { method: "POST", path: "/api/supervisor/monitor/run", role: Supervisor, body: None, optional: &[] },
        Route { method: "POST", path: "/api/supervisor/rebalance", role: Supervisor, body: None, optional: &[] },
        Route {
            method: "PUT",
            path: "/api/supervisor/moderators/{}/priority",
            role: Supervisor,
            body: Some((json!({"priority": 0}), &[("priority", Priority)])),
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/api/supervisor/profiles/{}/unlock",
            role: Supervisor,
            body: None,
            optional: &[],
        },
        Route {
            method: "POST",
            path: "/api/supervisor/profiles/{}/pin",
            role: Supervisor,
            body: Some((json!({"moderator_id": 2}), &[("moderator_id", Id)])),
            optional: &[],
        },
        Route { method: "POST", path: "/broadcasting/auth", role: Any, body: None, optional: &[] },
    ]
}

/// Query strings `GET /api/supervisor/state` must refuse (each alone is invalid).
const BAD_STATE_QUERIES: &[&str] = &[
    "moderators_limit=-1",
    "moderators_limit=1001",
    "moderators_limit=1.5",
    "moderators_limit=",
    "moderators_limit=%2B5",
    "moderators_limit=%205",
    "moderators_limit=99999999999999999999999",
    "moderators_limit=0x10",
    "moderators_offset=-5",
    "moderators_offset=100000001",
    "moderators_offset=abc",
    "profiles_limit=1e3",
    "profiles_offset=18446744073709551616",
    "moderators_q=",
    "moderators_q=%20%20",
    "moderators_q=a%00b",
    "moderators_q=a%1B%5B31m",
    "profiles_q=%0A",
    "moderators_state=busy",
    "moderators_state=working,",
    "moderators_state=",
    "moderators_state=WORKING",
    "profiles_status=held,lost",
    "profiles_status=",
    "limit=10",
    "moderators_limit=5&moderators_limit=6",
    "q=alice",
    "moderators_limit=5&unknown=1",
];

/// Values of the wrong type or out of range for each kind of field (never a valid one).
fn bad_values(field: Field) -> Vec<Value> {
    let mut common = vec![
        Value::Null,
        json!([]),
        json!({}),
        json!([[[[{"a": [1, {"b": null}]}]]]]),
        json!({"nested": {"deeper": {"deepest": "é\u{0}"}}}),
    ];
    let numbers = vec![
        json!(0),
        json!(-1),
        json!(-9_223_372_036_854_775_808_i64),
        json!(9_223_372_036_854_775_808_u64),
        json!(18_446_744_073_709_551_615_u64),
        json!(1.5),
        json!(1e300),
        json!(-0.0),
    ];
    let strings = vec![
        json!(""),
        json!("   "),
        json!("1"),
        json!("\u{0}"),
        json!("🦀"),
        json!("a\u{1b}[31mred"),
        json!("x".repeat(10_001)),
    ];
    match field {
        Field::Id => {
            common.extend(numbers);
            common.extend(strings);
            common.push(json!(true));
        }
        Field::MessageId => {
            common.extend(numbers);
            common.extend(strings.into_iter().filter(|s| s != &json!("1")));
            common.extend(bad_message_ids());
        }
        Field::Name => {
            common.extend(strings.into_iter().filter(|s| s != &json!("1") && s != &json!("🦀")));
            common.extend([json!("é".repeat(201)), json!("line\nbreak"), json!("tab\there"), json!(42), json!(false)]);
        }
        Field::Body => {
            common.extend([
                json!(""),
                json!("  \n "),
                json!("nul\u{0}byte"),
                json!("bell\u{7}"),
                json!("x".repeat(10_001)),
                json!(7),
                json!(true),
            ]);
        }
        Field::Bool => {
            common.extend([json!(0), json!(1), json!("true"), json!("yes"), json!(1.0)]);
        }
        Field::Priority => {
            common.extend([
                json!(1.5),
                json!("0"),
                json!(2_147_483_648_i64),
                json!(-2_147_483_649_i64),
                json!(1e10),
                json!(1_000_001),
                json!(-1_000_001),
                json!(true),
            ]);
        }
        Field::Seconds => {
            common.extend([
                json!(0),
                json!(-1),
                json!(86_401),
                json!(4_294_967_296_u64),
                json!(1.5),
                json!("5"),
                json!(true),
            ]);
        }
        Field::Time => {
            common.extend([
                json!("yesterday"),
                json!("1969-12-31T23:59:59Z"),
                json!("2024-13-01T00:00:00Z"),
                json!("2024-01-01"),
                json!("2024-01-01T00:00:00+25:00"),
                json!(1_700_000_000),
                json!("\u{0}"),
            ]);
        }
    }
    common
}

/// Message ids API.md refuses: neither a positive integer nor a string of 1-128 characters
/// from `[A-Za-z0-9._:-]`.
fn bad_message_ids() -> Vec<Value> {
    vec![
        json!(""),
        json!("a".repeat(129)),
        json!("a b"),
        json!(" 5"),
        json!("a/b"),
        json!("é"),
        json!("50%"),
        json!("id\n"),
        json!("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F🦀"),
        json!(0),
        json!(-1),
        json!(-5),
        json!(1.5),
        json!(5.0),
        json!(true),
        json!(false),
        Value::Null,
        json!({"id": 5}),
        json!(["5"]),
        json!(9_223_372_036_854_775_808_u64),
    ]
}

/// A small deterministic generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn junk(&mut self) -> Vec<u8> {
        let length = (self.next() % 300) as usize + 1;
        let alphabet = b"{}[]\":,0123456789-+.eE truefalsnul\\\x00\xff\xc3\xa9abc";
        (0..length).map(|_| alphabet[(self.next() as usize) % alphabet.len()]).collect()
    }
}

struct Attempt {
    method: &'static str,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    label: String,
}

fn concrete(path: &str, ids: &[&str]) -> String {
    let mut out = path.to_owned();
    for id in ids {
        out = out.replacen("{}", id, 1);
    }
    out
}

fn generate(app: &TestApp) -> Vec<Attempt> {
    let moderator = app.moderator_token(1);
    let token_for = |role: Role| match role {
        Role::Platform => Some(app.platform.clone()),
        Role::Moderator => Some(moderator.clone()),
        Role::Supervisor | Role::Any => Some(app.supervisor.clone()),
    };
    let wrong_roles = |role: Role| match role {
        Role::Platform => vec![moderator.clone(), app.supervisor.clone()],
        Role::Moderator => vec![app.platform.clone(), app.supervisor.clone()],
        Role::Supervisor => vec![moderator.clone(), app.platform.clone()],
        Role::Any => vec![app.platform.clone()],
    };
    let bad_tokens = ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJyb2xlIjoic3VwZXJ2aXNvciJ9.", "Bearer x"];
    let bad_ids = ["0", "-1", "abc", "99999999999999999999", "9223372036854775808", "1.5", "%00", "%C3%A9", "+1", " 1"];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut attempts = Vec::new();
    for route in routes() {
        let valid_path = concrete(route.path, &["10", "10"]);
        let json_body = route.body.as_ref().map(|(value, _)| value.to_string().into_bytes());
        let push = |attempts: &mut Vec<Attempt>,
                    token: Option<String>,
                    content_type,
                    body: Option<Vec<u8>>,
                    path: String,
                    label: String| {
            attempts.push(Attempt { method: route.method, path, token, content_type, body, label });
        };
        // Authentication and roles, with an otherwise valid request.
        if !matches!(route.role, Role::Any) {
            push(
                &mut attempts,
                None,
                Some("application/json"),
                json_body.clone(),
                valid_path.clone(),
                "no token".into(),
            );
            for bad in bad_tokens {
                push(
                    &mut attempts,
                    Some(bad.to_owned()),
                    Some("application/json"),
                    json_body.clone(),
                    valid_path.clone(),
                    format!("token {bad:?}"),
                );
            }
        }
        for wrong in wrong_roles(route.role) {
            if matches!(route.role, Role::Any) {
                let form = b"socket_id=1.1&channel_name=private-supervisors".to_vec();
                push(
                    &mut attempts,
                    Some(wrong),
                    Some("application/x-www-form-urlencoded"),
                    Some(form),
                    valid_path.clone(),
                    "platform auth".into(),
                );
            } else {
                push(
                    &mut attempts,
                    Some(wrong),
                    Some("application/json"),
                    json_body.clone(),
                    valid_path.clone(),
                    "wrong role".into(),
                );
            }
        }
        // Wrong methods.
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if method != route.method {
                attempts.push(Attempt {
                    method: Box::leak(method.to_owned().into_boxed_str()),
                    path: valid_path.clone(),
                    token: token_for(route.role),
                    content_type: Some("application/json"),
                    body: json_body.clone(),
                    label: format!("method {method}"),
                });
            }
        }
        // Bad path ids.
        if route.path.contains("{}") {
            for bad in bad_ids {
                let path = concrete(route.path, &[bad, "10"]);
                push(
                    &mut attempts,
                    token_for(route.role),
                    Some("application/json"),
                    json_body.clone(),
                    path.clone(),
                    format!("path id {bad:?}"),
                );
                let path = concrete(route.path, &["10", bad]);
                if path != valid_path {
                    push(
                        &mut attempts,
                        token_for(route.role),
                        Some("application/json"),
                        json_body.clone(),
                        path,
                        format!("second path id {bad:?}"),
                    );
                }
            }
        }
        // Query strings of the supervisor's paged state: every parameter is optional, none
        // may be unknown, repeated, malformed or out of range.
        if route.path == "/api/supervisor/state" {
            for query in BAD_STATE_QUERIES {
                push(
                    &mut attempts,
                    token_for(route.role),
                    None,
                    None,
                    format!("{valid_path}?{query}"),
                    format!("query {query:?}"),
                );
            }
        }
        // Bodies: only for routes where the body matters (GET handlers ignore bodies).
        if route.method == "GET" {
            continue;
        }
        let mut bodies: Vec<(Option<&'static str>, Vec<u8>, String)> = vec![
            (Some("application/json"), b"{".to_vec(), "truncated".into()),
            (Some("application/json"), b"not json".to_vec(), "not json".into()),
            (Some("application/json"), b"[1,2,3]".to_vec(), "array".into()),
            (Some("application/json"), b"42".to_vec(), "number".into()),
            (Some("application/json"), b"\"string\"".to_vec(), "string".into()),
            (Some("application/json"), b"null".to_vec(), "null".into()),
            (
                Some("application/json"),
                format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
                "deep nesting".into(),
            ),
            (
                Some("application/json"),
                vec![b' '; 70 * 1024].into_iter().chain(b"{}".iter().copied()).collect(),
                "over 64 KiB".into(),
            ),
            (Some("application/json"), vec![0xff, 0xfe, 0x00], "invalid utf-8".into()),
            (Some("application/json"), br#"{"a":1,"a":2}"#.to_vec(), "duplicate junk".into()),
        ];
        for _ in 0..150 {
            bodies.push((Some("application/json"), rng.junk(), "random junk".into()));
        }
        if let Some((valid, fields)) = &route.body {
            let text = valid.to_string().into_bytes();
            bodies.push((None, text.clone(), "no content type".into()));
            bodies.push((Some("text/plain"), text.clone(), "text/plain".into()));
            bodies.push((Some("application/x-www-form-urlencoded"), text.clone(), "form".into()));
            bodies.push((Some("application/json"), Vec::new(), "empty".into()));
            let mut extra = valid.clone();
            extra["unexpected"] = json!(1);
            bodies.push((Some("application/json"), extra.to_string().into_bytes(), "extra field".into()));
            let mut both = valid.clone();
            both["client_id"] = json!(100);
            both["profile_id"] = json!(10);
            if fields.iter().any(|(name, _)| *name == "profile_id") && fields.len() <= 2 && route.path.contains("locks")
            {
                bodies.push((Some("application/json"), both.to_string().into_bytes(), "both ids".into()));
            }
            for (name, kind) in fields.iter() {
                if !route.optional.contains(name) {
                    let mut missing = valid.clone();
                    missing.as_object_mut().expect("object").remove(*name);
                    bodies.push((
                        Some("application/json"),
                        missing.to_string().into_bytes(),
                        format!("missing {name}"),
                    ));
                }
                for value in bad_values(*kind) {
                    if value.is_null() && route.optional.contains(name) {
                        continue; // null is how JSON says "absent" for an optional field
                    }
                    let mut changed = valid.clone();
                    changed[*name] = value.clone();
                    let shown: String = value.to_string().chars().take(40).collect();
                    bodies.push((
                        Some("application/json"),
                        changed.to_string().into_bytes(),
                        format!("{name} = {shown}"),
                    ));
                }
            }
        }
        for (content_type, body, label) in bodies {
            let body_path = valid_path.clone();
            if matches!(route.role, Role::Any) && content_type.is_some() {
                // /broadcasting/auth reads forms too: junk in both shapes, with a supervisor token.
                push(
                    &mut attempts,
                    token_for(route.role),
                    Some("application/x-www-form-urlencoded"),
                    Some(body.clone()),
                    body_path.clone(),
                    format!("form {label}"),
                );
            }
            push(&mut attempts, token_for(route.role), content_type, Some(body), body_path, label);
        }
    }
    attempts
}

/// Oversized bodies go over a raw socket: the server answers before reading the whole body
/// and closes, which HTTP client libraries report as a send error instead of the answer.
async fn raw_request(app: &TestApp, attempt: &Attempt) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let body = attempt.body.clone().unwrap_or_default();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n",
        attempt.method,
        attempt.path,
        body.len()
    );
    if let Some(token) = &attempt.token {
        head.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    if let Some(content_type) = attempt.content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

async fn run(db: Db) {
    let app = TestApp::start(db).await;
    app.directory(&[1, 2], &[10, 11]).await;
    app.inbound(1, 100, 10).await;
    app.connect(1).await;
    let (_, conversation_before) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    let before = app.state().await;

    let attempts = generate(&app);
    assert!(attempts.len() > 3000, "only {} attempts", attempts.len());
    let mut failures = Vec::new();
    for attempt in &attempts {
        if attempt.body.as_ref().is_some_and(|body| body.len() > 64 * 1024) {
            let (status, text) = raw_request(&app, attempt).await;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if !(400..500).contains(&status) || !body["error"]["code"].is_string() {
                failures.push(format!("{} {} [{}] -> {status} {text}", attempt.method, attempt.path, attempt.label));
            }
            continue;
        }
        let method = reqwest::Method::from_bytes(attempt.method.as_bytes()).expect("method");
        let mut request = app.http.request(method, format!("{}{}", app.base, attempt.path));
        if let Some(token) = &attempt.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = attempt.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = &attempt.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let has_error_body = body["error"]["code"].is_string() && body["error"]["message"].is_string();
        if !(400..500).contains(&status) || !has_error_body {
            failures.push(format!(
                "{} {} [{}] -> {status} {}",
                attempt.method,
                attempt.path,
                attempt.label,
                text.chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were not refused properly:\n{}",
        failures.len(),
        attempts.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
    let after = app.state().await;
    assert_eq!(before, after, "the state changed");
    let (_, conversation_after) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    assert_eq!(conversation_before, conversation_after, "the stored messages changed");
    println!("{} bad requests refused with 4xx and the error body", attempts.len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_change_nothing_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_change_nothing_postgres() {
    run(Db::Postgres).await;
}

/// Each bad message id alone, in an otherwise valid message: 422 `invalid_request` with a
/// message about the message id, and nothing stored.
async fn bad_message_ids_are_refused(db: Db) {
    let app = TestApp::start(db).await;
    app.directory(&[1], &[10]).await;
    app.inbound("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F", 100, 10).await;
    app.connect(1).await;
    let (_, conversation_before) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    let before = app.state().await;
    for message_id in bad_message_ids() {
        let body = json!({"message_id": message_id, "client_id": 100, "profile_id": 10, "body": "hi"});
        let (status, answer) = app.call("POST", "/api/messages", Some(&app.platform), Some(body)).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert_eq!((status, common::error_code(&answer)), (422, "invalid_request"), "{message_id}: {answer}");
        assert!(message.contains("message_id") || message.contains("message id"), "{message_id}: {message}");
    }
    assert_eq!(app.state().await, before, "the state changed");
    let (_, conversation_after) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    assert_eq!(conversation_before, conversation_after, "a message was stored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_message_ids_are_refused_sqlite() {
    bad_message_ids_are_refused(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_message_ids_are_refused_postgres() {
    bad_message_ids_are_refused(Db::Postgres).await;
}
