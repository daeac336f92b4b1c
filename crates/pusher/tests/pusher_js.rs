//! The real clients: `pusher-js` 8 and `laravel-echo` 2 from npm, run by Node against the
//! real server. Each script prints one JSON object per line (`{"step": ...}`); the test
//! reads them, acts on the server (`publish`, `close_all`) when the client says it is ready,
//! and checks what the client saw. Nothing here sleeps: every wait is for a client's line.
//!
//! Needs `node` and `npm ci --prefix crates/pusher/tests/js`; fails, never skips, without.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::{spawn_server, TestServer, APP_KEY, BEARER_TOKEN};
use switchboard_pusher::{SubscriptionChange, UnsubscribeCause};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// A safety net against a hung client, not a synchronisation: every step is awaited.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_HINT: &str =
    "run `npm ci --prefix crates/pusher/tests/js` (needs Node.js 20.19 or later, as laravel-echo 2 does)";

fn scripts_directory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("js")
}

/// Fails the test, with the fix, when Node or the npm packages are missing.
fn require_node_and_packages() {
    let version = std::process::Command::new("node").arg("--version").output();
    match version {
        Ok(output) if output.status.success() => {}
        _ => panic!("`node` is not available on PATH: install Node.js, then {INSTALL_HINT}"),
    }
    for package in ["pusher-js", "laravel-echo"] {
        let manifest = scripts_directory().join("node_modules").join(package).join("package.json");
        assert!(manifest.exists(), "{package} is not installed: {INSTALL_HINT}");
    }
}

/// One Node client script, its stdout read line by line.
struct NodeClient {
    script: &'static str,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
    seen: Vec<Value>,
}

impl NodeClient {
    fn start(script: &'static str, server: &TestServer) -> Self {
        require_node_and_packages();
        let mut child = Command::new("node")
            .arg(script)
            .arg(server.address.port().to_string())
            .arg(APP_KEY)
            .arg(BEARER_TOKEN)
            .current_dir(scripts_directory())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start node {script}: {error}; {INSTALL_HINT}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self { script, child, lines: BufReader::new(stdout).lines(), stderr, seen: Vec::new() }
    }

    /// The next line the script printed whose `step` is `step`; earlier lines are kept.
    async fn wait_for(&mut self, step: &str) -> Value {
        self.wait_for_any(&[step]).await
    }

    /// The next line whose `step` is any of `steps`.
    async fn wait_for_any(&mut self, steps: &[&str]) -> Value {
        loop {
            let line = tokio::time::timeout(STEP_TIMEOUT, self.lines.next_line()).await;
            let line = match line {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => self.fail(&format!("ended before printing any of {steps:?}")).await,
                Ok(Err(error)) => self.fail(&format!("stdout unreadable: {error}")).await,
                Err(_) => self.fail(&format!("printed none of {steps:?} within {STEP_TIMEOUT:?}")).await,
            };
            let value: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| json!({"step": "unparsed", "line": line}));
            self.seen.push(value.clone());
            if steps.iter().any(|step| value["step"] == *step) {
                return value;
            }
        }
    }

    /// Waits for the script to exit on its own, successfully.
    async fn finish(mut self) -> Vec<Value> {
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait()).await;
        match status {
            Ok(Ok(status)) if status.success() => {
                while let Ok(Some(line)) = self.lines.next_line().await {
                    self.seen.push(serde_json::from_str(&line).unwrap_or(Value::String(line)));
                }
                self.seen
            }
            Ok(Ok(status)) => self.fail(&format!("exited with {status}")).await,
            Ok(Err(error)) => self.fail(&format!("could not be awaited: {error}")).await,
            Err(_) => self.fail("did not exit after its last step").await,
        }
    }

    async fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        panic!("node {} {what}\nsteps seen: {:#?}\nstderr:\n{stderr}", self.script, self.seen);
    }
}

fn event_data() -> Value {
    json!({"id": 7, "text": "hé \"quoted\" \\ </script>", "nested": {"list": [1, 2, 3]}})
}

#[tokio::test]
async fn pusher_js_connects_subscribes_and_receives_events() {
    let server = spawn_server(support::config()).await;
    let mut client = NodeClient::start("private_channels.mjs", &server);

    let connected = client.wait_for("connected").await;
    let socket_id = connected["socket_id"].as_str().expect("a socket id");
    assert!(switchboard_pusher::is_valid_socket_id(socket_id), "{socket_id}");

    let mut pending = vec![
        ("subscribed", "news", None),
        ("subscribed", "private-allowed.7", None),
        ("subscription_error", "private-denied.7", Some(403)),
        ("subscription_error", "private-allowed.7", Some(401)),
    ];
    while !pending.is_empty() {
        let line = client.wait_for_any(&["subscribed", "subscription_error"]).await;
        let step = line["step"].as_str().expect("a step");
        let channel = line["channel"].as_str().expect("a channel");
        let status = line["error"]["status"].as_u64();
        let position = pending
            .iter()
            .position(|(expected_step, expected_channel, expected_status)| {
                *expected_step == step && *expected_channel == channel && *expected_status == status
            })
            .unwrap_or_else(|| panic!("unexpected step {line}"));
        pending.remove(position);
        if step == "subscription_error" && status == Some(401) {
            // The forged signature was refused by the server itself, as soketi words it.
            assert_eq!(line["error"]["type"], "AuthError");
            assert_eq!(line["client"], "forger");
        }
    }

    // Only the genuine subscriber is on the private channel: the forger was refused.
    assert_eq!(server.realtime.subscriber_count("private-allowed.7"), 1);
    let delivered = server.realtime.publish("private-allowed.7", "SomethingHappened", &event_data().to_string());
    assert_eq!(delivered, 1);

    let event = client.wait_for("event").await;
    assert_eq!(event["data"], event_data());
    client.finish().await;
}

#[tokio::test]
async fn laravel_echo_listens_with_the_app_events_namespace() {
    let server = spawn_server(support::config()).await;
    let mut client = NodeClient::start("echo_listen.mjs", &server);

    let refused = client.wait_for("subscription_error").await;
    assert_eq!(refused["channel"], "private-denied.7");
    assert_eq!(refused["error"]["status"], 403);
    let subscribed = client.wait_for("subscribed").await;
    assert_eq!(subscribed["channel"], "private-allowed.7");

    let delivered =
        server.realtime.publish("private-allowed.7", "App\\Events\\SomethingHappened", &event_data().to_string());
    assert_eq!(delivered, 1);
    let event = client.wait_for("event").await;
    assert_eq!(event["data"], event_data());
    client.finish().await;
}

#[tokio::test]
async fn pusher_js_resubscribes_after_the_server_drops_it() {
    let server = spawn_server(support::config()).await;
    let mut client = NodeClient::start("reconnect.mjs", &server);

    let first = client.wait_for("subscribed").await;
    let first_socket = first["socket_id"].as_str().expect("a socket id").to_owned();
    assert_eq!(server.realtime.close_all(4200, "Server restarting"), Ok(1));

    let second = client.wait_for("subscribed").await;
    let second_socket = second["socket_id"].as_str().expect("a socket id").to_owned();
    assert_eq!(second["count"], 2);
    assert_ne!(first_socket, second_socket, "a reconnection gets a new socket id");

    // The old socket's close may still be finishing; the new one is the only subscriber.
    assert_eq!(server.realtime.subscriber_count("private-allowed.7"), 1);
    let delivered = server.realtime.publish("private-allowed.7", "SomethingHappened", &event_data().to_string());
    assert_eq!(delivered, 1);
    let event = client.wait_for("event").await;
    assert_eq!(event["socket_id"], second_socket.as_str());
    assert_eq!(event["data"], event_data());
    client.finish().await;

    server
        .changes
        .wait_for(|change| {
            matches!(change, SubscriptionChange::Unsubscribed { socket_id, .. } if socket_id.as_str() == second_socket)
        })
        .await;
    let changes: Vec<(String, &str, Option<UnsubscribeCause>)> = server
        .changes
        .all()
        .into_iter()
        .map(|change| match change {
            SubscriptionChange::Subscribed { socket_id, .. } => (socket_id.to_string(), "subscribed", None),
            SubscriptionChange::Unsubscribed { socket_id, cause, .. } => {
                (socket_id.to_string(), "unsubscribed", Some(cause))
            }
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (first_socket.clone(), "subscribed", None),
            (first_socket, "unsubscribed", Some(UnsubscribeCause::Disconnected)),
            (second_socket.clone(), "subscribed", None),
            (second_socket, "unsubscribed", Some(UnsubscribeCause::Disconnected)),
        ]
    );
}

#[tokio::test]
async fn pusher_js_gives_up_on_an_unknown_app_key() {
    let server = spawn_server(support::config()).await;
    let mut client = NodeClient::start("wrong_key.mjs", &server);
    let error = client.wait_for("error").await;
    assert_eq!(error["code"], 4001, "{error}");
    let steps = client.finish().await;
    assert!(!steps.iter().any(|step| step["step"] == "state" && step["current"] == "connected"), "{steps:#?}");
    assert!(server.realtime.stats().connections_refused_total >= 1);
}
