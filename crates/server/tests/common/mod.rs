//! Test support: a real server on 127.0.0.1:0 over a fresh SQLite file or a fresh
//! PostgreSQL database, on a manual clock that only the test moves, and helpers that read
//! like the SPEC's sentences.
#![allow(dead_code)]

pub mod nodes;
pub mod postgres_server;
pub mod redis_server;

use std::any::Any;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Caller;
use switchboard::{Server, Settings};
use switchboard_engine::{ModeratorId, Timestamp};
use switchboard_store::testing::ManualClock;
use switchboard_store::{Clock, SystemClock};

/// The shared secret tests mint "external" tokens with.
pub const JWT_SECRET: &str = "test-secret-shared-with-the-platform";
/// Where every test's manual clock starts: 2026-01-01T00:00:00Z.
pub const CLOCK_START: Timestamp = Timestamp(1_767_225_600_000);

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Declares `$name` once per backend: `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::common::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::common::Db::Postgres).await;
            }
        }
    };
}

pub struct TestApp {
    pub server: Option<Server>,
    pub base: String,
    pub http: reqwest::Client,
    pub platform: String,
    pub supervisor: String,
    /// The service's only clock (the writer's and the HTTP layer's).
    pub clock: Arc<dyn Clock>,
    /// The same clock when time passes only when the test says so (all but `start_live`).
    manual_clock: Option<Arc<ManualClock>>,
    /// What the service was started with, for [`TestApp::restart`].
    settings: Settings,
    _guard: Option<Box<dyn Any + Send>>,
}

impl TestApp {
    pub async fn start(db: Db) -> TestApp {
        TestApp::start_with(db, |_| {}).await
    }

    /// A service on a manual clock that only [`TestApp::advance`] moves.
    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let clock = ManualClock::new(CLOCK_START);
        TestApp::start_on(db, tweak, clock.clone(), Some(clock)).await
    }

    /// A service on the system clock, for a test whose other side waits in real time (a
    /// browser): only there does time pass by itself.
    pub async fn start_live(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::start_on(db, tweak, Arc::new(SystemClock), None).await
    }

    async fn start_on(
        db: Db,
        tweak: impl FnOnce(&mut Settings),
        clock: Arc<dyn Clock>,
        manual_clock: Option<Arc<ManualClock>>,
    ) -> TestApp {
        let (guard, url): (Option<Box<dyn Any + Send>>, String) = match db {
            Db::Sqlite => {
                let (guard, url) = switchboard_store::testing::fresh_sqlite_url();
                (Some(Box::new(guard)), url)
            }
            Db::Postgres => (None, switchboard_store::testing::fresh_postgres_url().await),
        };
        let mut settings =
            Settings { database_url: url, jwt_secret: Some(JWT_SECRET.to_owned()), ..Settings::default() };
        settings.engine.monitor_interval = Duration::from_secs(3600);
        tweak(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = switchboard::start(settings.clone(), listener, clock.clone()).await.expect("the server starts");
        let base = server.base_url();
        let platform = server.token(Caller::Platform, Duration::from_secs(600)).expect("token");
        let supervisor = server.token(Caller::Supervisor, Duration::from_secs(600)).expect("token");
        TestApp {
            server: Some(server),
            base,
            http: reqwest::Client::new(),
            platform,
            supervisor,
            clock,
            manual_clock,
            settings,
            _guard: guard,
        }
    }

    /// Stops the service cleanly and starts a new one on the same database, settings and
    /// clock, as a restart of the process would (the tokens stay valid: same secret).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server =
            switchboard::start(self.settings.clone(), listener, self.clock.clone()).await.expect("the server restarts");
        self.base = server.base_url();
        self.server = Some(server);
    }

    /// A second node on the same database, started with this one's settings and `tweak`, on
    /// a manual clock of its own (on PostgreSQL it is a standby of this node, the writer).
    #[allow(dead_code)] // not every test file starts a second node
    pub async fn start_beside(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let clock = ManualClock::new(CLOCK_START);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = switchboard::start(settings.clone(), listener, clock.clone()).await.expect("the node starts");
        TestApp {
            base: server.base_url(),
            platform: server.token(Caller::Platform, Duration::from_secs(600)).expect("token"),
            supervisor: server.token(Caller::Supervisor, Duration::from_secs(600)).expect("token"),
            server: Some(server),
            http: reqwest::Client::new(),
            clock: clock.clone(),
            manual_clock: Some(clock),
            settings,
            _guard: None,
        }
    }

    /// Moves the service's clock forward.
    pub fn advance(&self, by: Duration) {
        self.manual_clock.as_ref().expect("a live test app runs on the system clock").advance(by);
    }

    /// The service's present, in seconds since the epoch (for hand-made tokens' `exp`).
    pub fn now_seconds(&self) -> u64 {
        self.clock.now().as_millis() / 1000
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }

    pub fn moderator_token(&self, id: u64) -> String {
        self.server().token(Caller::Moderator(ModeratorId(id)), Duration::from_secs(600)).expect("token")
    }

    /// Sends a request; answers the status and the JSON body (`Null` when empty).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn platform(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.call(method, path, Some(&self.platform.clone()), Some(body)).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {value}");
        value
    }

    pub async fn supervisor(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(&self.supervisor.clone()), body).await
    }

    pub async fn moderator(&self, id: u64, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(&self.moderator_token(id)), body).await
    }

    /// Declares moderators, active profiles and nothing else.
    pub async fn directory(&self, moderators: &[u64], profiles: &[u64]) {
        for id in moderators {
            self.platform("PUT", &format!("/api/moderators/{id}"), json!({"name": format!("Moderator {id}")})).await;
        }
        for id in profiles {
            self.platform(
                "PUT",
                &format!("/api/profiles/{id}"),
                json!({"name": format!("Profile {id}"), "active": true}),
            )
            .await;
        }
    }

    /// A client writes to a profile; `message_id` is an integer or a string id.
    pub async fn inbound(&self, message_id: impl Into<Value>, client_id: u64, profile_id: u64) -> Value {
        let message_id: Value = message_id.into();
        let body = match &message_id {
            Value::String(text) => format!("hello {text}"),
            other => format!("hello {other}"),
        };
        self.platform(
            "POST",
            "/api/messages",
            json!({"message_id": message_id, "client_id": client_id, "profile_id": profile_id, "body": body}),
        )
        .await
    }

    pub async fn connect(&self, id: u64) -> Value {
        let (status, value) = self.moderator(id, "POST", "/moderateur/connect", None).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    pub async fn status(&self, id: u64) -> Value {
        let (status, value) = self.moderator(id, "GET", "/moderateur/status", None).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    pub async fn state(&self) -> Value {
        let (status, value) = self.supervisor("GET", "/api/supervisor/state", None).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    pub async fn run_monitor(&self) -> Value {
        let (status, value) = self.supervisor("POST", "/api/supervisor/monitor/run", None).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    /// Who holds `profile_id`, from the supervisor's view.
    pub async fn holder(&self, profile_id: u64) -> Option<u64> {
        let state = self.state().await;
        state["profiles"]
            .as_array()
            .and_then(|profiles| profiles.iter().find(|p| p["profile_id"] == profile_id))
            .and_then(|profile| profile["lock"]["moderator_id"].as_u64())
    }
}

pub fn error_code(value: &Value) -> &str {
    value["error"]["code"].as_str().unwrap_or("<no error body>")
}

/// An HS256 JWT built by hand (not by the service's library): base64url(header).base64url(claims).HMAC.
pub fn external_token(secret: &str, claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let encode = |bytes: &[u8]| base64url(bytes);
    let header = encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", encode(&mac.finalize().into_bytes()))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The system's present, for the real binary (which runs on the system clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

/// Polls `check` until it answers `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `node script args…` in `dir`, as the tests drive their Node.js clients: stdin and
/// stdout piped (commands in, JSON lines out), stderr shown with the test's output, and the
/// process killed when the handle is dropped (also when an assertion fails). Panics with
/// `hint` (what to install) when node cannot start.
pub fn spawn_node<I, S>(dir: &Path, script: &str, args: I, hint: &str) -> tokio::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start node {script}: {error}; {hint}"))
}
