//! Realtime tests with the real clients: laravel-echo 2 on pusher-js 8 from npm, under Node,
//! against the real service. Each client (`tests/js/client.mjs`) takes commands on stdin and
//! reports what it sees as JSON lines; the test waits for those lines, never for time.
//!
//! Needs `node` and `npm ci --prefix crates/server/tests/js`; fails, never skips, without.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Db, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A safety net against a hung client, not a synchronisation: every step is awaited.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
const INSTALL_HINT: &str = "run `npm ci --prefix crates/server/tests/js` (Node.js 20.19 or later)";
const MODERATOR_EVENTS: &[&str] = &[
    "ModeratorQueuePositionChanged",
    "ProfileAssigned",
    "ProfileUnassigned",
    "ForcedReassignment",
    "ConversationAssigned",
    "ConversationReleased",
    "ClientLockStatusChanged",
    "ConflictResolved",
];

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("js")
}

struct Client {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read, for failure messages.
    seen: Vec<Value>,
    /// Lines read but not yet claimed by a `wait`, in arrival order.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    async fn start(app: &TestApp, name: &str, token: &str, bare: bool) -> Client {
        match std::process::Command::new("node").arg("--version").output() {
            Ok(output) if output.status.success() => {}
            _ => panic!("`node` is not on PATH: install Node.js 20.19+, then {INSTALL_HINT}"),
        }
        for package in ["pusher-js", "laravel-echo"] {
            assert!(
                scripts().join("node_modules").join(package).join("package.json").exists(),
                "{package} is missing: {INSTALL_HINT}"
            );
        }
        let key = app.server().credentials.pusher_app_key.clone();
        let port = app.server().addr.port().to_string();
        let mut args = vec![port.as_str(), key.as_str(), token];
        if bare {
            args.push("bare");
        }
        let mut child = common::spawn_node(&scripts(), "client.mjs", args, INSTALL_HINT);
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut client =
            Client { name: name.to_owned(), child, stdin, lines, seen: Vec::new(), pending: Default::default() };
        client.wait(|line| line["step"] == "ready", "ready").await;
        client
    }

    async fn send(&mut self, command: Value) {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("client stdin");
    }

    async fn private(&mut self, channel: &str, events: &[&str]) {
        self.send(json!({"op": "private", "channel": channel, "events": events})).await;
    }

    /// The first unclaimed line matching `matches`, already read or still to come.
    async fn wait(&mut self, matches: impl Fn(&Value) -> bool, what: &str) -> Value {
        if let Some(index) = self.pending.iter().position(&matches) {
            return self.pending.remove(index).expect("index is in range");
        }
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{}: timed out waiting for {what}; saw {:#?}", self.name, self.seen))
                .expect("client stdout")
                .unwrap_or_else(|| panic!("{}: exited while waiting for {what}; saw {:#?}", self.name, self.seen));
            let value: Value = serde_json::from_str(&line).unwrap_or(json!({"step": "text", "text": line}));
            self.seen.push(value.clone());
            assert_ne!(value["step"], "stuck", "{}: client gave up", self.name);
            if matches(&value) {
                return value;
            }
            self.pending.push_back(value);
        }
    }

    /// Forgets unclaimed lines: what comes next is caused by what the test does next.
    fn clear(&mut self) {
        self.pending.clear();
    }

    async fn subscribed(&mut self, channel: &str) -> Value {
        self.wait(|line| line["step"] == "subscribed" && line["channel"] == channel, &format!("subscribed {channel}"))
            .await
    }

    async fn refused(&mut self, channel: &str) -> Value {
        self.wait(
            |line| line["step"] == "subscription_error" && line["channel"] == channel,
            &format!("refusal of {channel}"),
        )
        .await
    }

    async fn event(&mut self, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait(|line| line["step"] == "event" && line["name"] == name && check(&line["data"]), name).await["data"]
            .clone()
    }

    /// The next event of any name.
    async fn next_event(&mut self) -> Value {
        self.wait(|line| line["step"] == "event", "any event").await
    }

    async fn exit(mut self) {
        self.send(json!({"op": "exit"})).await;
        let _ = tokio::time::timeout(STEP_TIMEOUT, self.child.wait()).await;
    }
}

fn has_fields(data: &Value, fields: &[&str]) -> bool {
    fields.iter().all(|field| data.get(*field).is_some())
}

async fn realtime_connected(app: &TestApp, id: u64) -> bool {
    let state = app.state().await;
    state["moderators"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["moderator_id"] == id && m["realtime_connected"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_clients_receive_every_event_after_its_cause() {
    let app = TestApp::start_with(Db::Sqlite, |settings| settings.engine.max_profiles_per_moderator = 1).await;
    app.directory(&[1, 2], &[10]).await;
    let mut one = Client::start(&app, "moderator 1", &app.moderator_token(1), false).await;
    let mut two = Client::start(&app, "moderator 2", &app.moderator_token(2), false).await;
    let mut boss = Client::start(&app, "supervisor", &app.supervisor.clone(), false).await;
    let mut platform = Client::start(&app, "platform", &app.platform.clone(), false).await;

    // Authorization: granted for one's own channel and supervisors; refused otherwise.
    one.private("moderator.1", MODERATOR_EVENTS).await;
    one.subscribed("moderator.1").await;
    two.private("moderator.2", MODERATOR_EVENTS).await;
    two.subscribed("moderator.2").await;
    boss.private("supervisors", &["AlertRaised"]).await;
    boss.subscribed("supervisors").await;
    one.private("moderator.2", &[]).await;
    one.refused("moderator.2").await;
    one.private("profile.10", &[]).await;
    one.refused("profile.10").await; // not its holder (yet)
    platform.private("moderator.1", &[]).await;
    platform.refused("moderator.1").await;
    platform.exit().await;
    // The socket on its own channel counts as presence.
    common::eventually("moderator 1 present", Duration::from_secs(10), || async {
        realtime_connected(&app, 1).await.then_some(())
    })
    .await;

    // Connecting: moderator 1 gets the profile, moderator 2 collides and queues.
    app.connect(1).await;
    let data = one.event("ProfileAssigned", |d| d["profile_id"] == 10).await;
    assert!(has_fields(&data, &["profile_id", "reason"]), "{data}");
    app.connect(2).await;
    let data = two.event("ModeratorQueuePositionChanged", |d| d["position"] == 1).await;
    assert_eq!(data["moderator_id"], 2);
    assert!(has_fields(&data, &["estimated_wait_seconds", "available_profiles"]), "{data}");
    let data = two.event("ConflictResolved", |_| true).await;
    assert!(has_fields(&data, &["conflict_id", "participants", "strategy", "winners", "queued"]), "{data}");
    one.event("ConflictResolved", |_| true).await;

    // The holder may follow its profile's channel now (Echo keeps the refused channel: leave it first).
    one.send(json!({"op": "leave", "channel": "profile.10"})).await;
    one.wait(|line| line["step"] == "left", "left").await;
    one.private("profile.10", &["ProfileLockStatusChanged"]).await;
    one.subscribed("profile.10").await;
    let (code, _) =
        app.moderator(1, "POST", "/moderateur/locks/extend", Some(json!({"profile_id": 10, "seconds": 30}))).await;
    assert_eq!(code, 200);
    let data = one.event("ProfileLockStatusChanged", |d| d["profile_id"] == 10).await;
    assert!(has_fields(&data, &["locked", "lock_type", "moderator_id", "duration_seconds", "expires_at"]), "{data}");

    // A client writes: the conversation goes to the holder.
    // Its id is a string (API.md contract v2): the event carries it as a string.
    app.inbound("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F", 100, 10).await;
    let data = one.event("ConversationAssigned", |d| d["client_id"] == 100).await;
    assert_eq!(data["profile_id"], 10);
    assert_eq!(data["message"]["message_id"], "01J9ZQ3W5X6Y7Z8A9B0C1D2E3F", "{data}");

    // A second profile appears: the queue head (2) gets it; the same client writes to it and
    // is blocked by moderator 1's lock.
    app.platform("PUT", "/api/profiles/11", json!({"name": "P11", "active": true})).await;
    two.event("ProfileAssigned", |d| d["profile_id"] == 11).await;
    two.event("ModeratorQueuePositionChanged", |d| d["position"].is_null()).await;
    app.inbound(2, 100, 11).await;
    let data = two.event("ClientLockStatusChanged", |d| d["locked"] == true).await;
    assert_eq!(data["client_id"], 100);
    assert_eq!(data["moderator_id"], 1);
    assert!(has_fields(&data, &["profile_id", "expires_at"]), "{data}");

    // A rejected command announces nothing: the next event moderator 2 sees is the
    // consequence of moderator 1's reply, not anything caused by the refused typing.
    two.clear();
    let (code, _) =
        app.moderator(2, "POST", "/moderateur/typing", Some(json!({"client_id": 100, "profile_id": 11}))).await;
    assert_eq!(code, 409);
    let (code, _) = app.moderator(2, "POST", "/moderateur/queue/leave", None).await;
    assert_eq!(code, 409);
    let (code, _) = app
        .moderator(
            1,
            "POST",
            "/moderateur/messages",
            Some(json!({"client_id": 100, "profile_id": 10, "body": "bonjour"})),
        )
        .await;
    assert_eq!(code, 201);
    let next = two.next_event().await;
    assert_eq!(next["name"], "ClientLockStatusChanged", "first event after the refusals: {next}");
    assert_eq!(next["data"]["locked"], false);
    two.event("ConversationAssigned", |d| d["client_id"] == 100 && d["profile_id"] == 11).await;
    let data = one.event("ConversationReleased", |d| d["client_id"] == 100).await;
    assert!(has_fields(&data, &["profile_id", "reason"]), "{data}");

    // A supervisor takes the profile away: forced reassignment and unassignment.
    let (code, _) = app.supervisor("POST", "/api/supervisor/profiles/10/unlock", None).await;
    assert_eq!(code, 200);
    let data = one.event("ForcedReassignment", |d| d["profile_id"] == 10).await;
    assert_eq!(data["reason"], "supervisor");
    assert!(data.get("new_moderator_id").is_some(), "{data}");
    one.event("ProfileUnassigned", |d| d["profile_id"] == 10).await;

    // Alerts reach supervisors: the collision raised one.
    app.run_monitor().await;
    let data = boss.event("AlertRaised", |_| true).await;
    assert!(has_fields(&data, &["alert_id", "kind", "severity", "data"]), "{data}");

    // A dropped connection: the client reconnects, authorizes again and resubscribes.
    let before = one.seen.iter().filter(|l| l["step"] == "subscribed" && l["channel"] == "moderator.1").count();
    let closed = app.server().realtime.close_all(4200, "test restart").expect("valid code");
    assert!(closed >= 3);
    let again = one.subscribed("moderator.1").await;
    assert_eq!(before, 1);
    let first_socket = one.seen.iter().find(|l| l["step"] == "subscribed").map(|l| l["socket_id"].clone());
    assert_ne!(Some(again["socket_id"].clone()), first_socket, "a new socket id");
    app.connect(1).await;
    one.event("ModeratorQueuePositionChanged", |d| d["moderator_id"] == 1).await;

    one.exit().await;
    common::eventually("moderator 1 absent", Duration::from_secs(10), || async {
        (!realtime_connected(&app, 1).await).then_some(())
    })
    .await;
    two.exit().await;
    boss.exit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_event_names_when_the_namespace_is_empty() {
    let app = TestApp::start_with(Db::Sqlite, |settings| settings.event_namespace = String::new()).await;
    app.directory(&[1], &[10]).await;
    let mut one = Client::start(&app, "moderator 1", &app.moderator_token(1), true).await;
    one.private("moderator.1", &["ProfileAssigned"]).await;
    one.subscribed("moderator.1").await;
    app.connect(1).await;
    one.event("ProfileAssigned", |d| d["profile_id"] == 10).await;
    one.exit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_position_reaches_echo_on_postgres() {
    let app = TestApp::start(Db::Postgres).await;
    app.directory(&[1, 2], &[10]).await;
    app.connect(1).await;
    let mut two = Client::start(&app, "moderator 2", &app.moderator_token(2), false).await;
    two.private("moderator.2", &["ModeratorQueuePositionChanged"]).await;
    two.subscribed("moderator.2").await;
    app.connect(2).await;
    let data = two.event("ModeratorQueuePositionChanged", |d| d["position"] == 1).await;
    assert_eq!(data["moderator_id"], 2);
    two.exit().await;
    app.stop().await;
}
