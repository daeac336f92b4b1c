//! The platform's only socket server, checked with clients nobody here wrote, against the
//! real `switchboard` binary: the npm `pusher` server SDK (trigger, triggerBatch, channels,
//! users, `authorizeChannel` with presence `channel_data` behind a Laravel-style
//! `/broadcasting/auth`, `webhook().isValid()`), Laravel Echo 2 on pusher-js 8 (`join`
//! with here/joining/leaving, `whisper`/`listenForWhisper`, host events), and the PyPI
//! `pusher` SDK. The scenario and its assertions are in `tests/sdk/host.mjs` and
//! `tests/sdk/host.py`; this test starts the binary, runs them and relays between them.
//!
//! Needs `node`, `npm ci --prefix crates/server/tests/sdk` and `pip install pusher==3.3.4`;
//! fails, never skips, without.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const APP_ID: &str = "4242";
const APP_KEY: &str = "sdk-test-key";
const APP_SECRET: &str = "sdk-test-secret";
/// A safety net against a hung process, not a synchronisation: every step is awaited.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const INSTALL_HINT: &str =
    "run `npm ci --prefix crates/server/tests/sdk` (Node.js 20.19+) and `python3 -m pip install pusher==3.3.4`";

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("sdk")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// The real binary on a fresh SQLite file, with webhooks to the host script's port.
async fn start_switchboard(database_url: &str, port: u16, host_port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_DATABASE_URL", database_url)
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_JWT_SECRET", "sdk-test-jwt-secret")
        .env("SWITCHBOARD_PUSHER_APP_ID", APP_ID)
        .env("SWITCHBOARD_PUSHER_APP_KEY", APP_KEY)
        .env("SWITCHBOARD_PUSHER_APP_SECRET", APP_SECRET)
        .env("SWITCHBOARD_PUSHER_WEBHOOK_URL", format!("http://127.0.0.1:{host_port}/webhooks"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the switchboard binary starts");
    let http = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/health");
    let ready = async {
        // Polls the real process until it listens: there is nothing to await on instead.
        while !http.get(&health).send().await.is_ok_and(|response| response.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, ready).await.expect("switchboard answers /health");
    child
}

fn check_tools() {
    match std::process::Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => panic!("`node` is not on PATH: {INSTALL_HINT}"),
    }
    for package in ["pusher", "pusher-js", "laravel-echo"] {
        assert!(
            sdk_dir().join("node_modules").join(package).join("package.json").exists(),
            "{package} is missing: {INSTALL_HINT}"
        );
    }
    let python = std::process::Command::new("python3").args(["-c", "import pusher"]).output();
    assert!(python.is_ok_and(|output| output.status.success()), "the Python `pusher` SDK is missing: {INSTALL_HINT}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_and_echo_work_against_the_binary() {
    check_tools();
    let (_database, database_url) = switchboard_store::testing::fresh_sqlite_url();
    let port = free_port();
    let host_port = free_port();
    let mut switchboard = start_switchboard(&database_url, port, host_port).await;

    let args = [port.to_string(), host_port.to_string(), APP_ID.to_owned(), APP_KEY.to_owned(), APP_SECRET.to_owned()];
    let mut host = common::spawn_node(&sdk_dir(), "host.mjs", args, INSTALL_HINT);
    let mut stdin = host.stdin.take().expect("stdin");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let mut steps = Vec::new();
    loop {
        let line = tokio::time::timeout(STEP_TIMEOUT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("host.mjs hung after {steps:?}"))
            .expect("host stdout");
        let Some(line) = line else { break };
        let value: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
        let step = value["step"].as_str().unwrap_or("").to_owned();
        assert_ne!(step, "stuck", "host.mjs gave up after {steps:?}");
        if step == "ready_for_python" {
            let python = Command::new("python3")
                .arg("host.py")
                .args([port.to_string(), APP_ID.to_owned(), APP_KEY.to_owned(), APP_SECRET.to_owned()])
                .current_dir(sdk_dir())
                .output()
                .await
                .expect("python3 runs");
            assert!(
                python.status.success(),
                "host.py failed: {}{}",
                String::from_utf8_lossy(&python.stdout),
                String::from_utf8_lossy(&python.stderr)
            );
            stdin.write_all(b"python done\n").await.expect("host stdin");
        }
        steps.push(value);
    }
    let status = tokio::time::timeout(STEP_TIMEOUT, host.wait()).await.expect("host.mjs ends").expect("exit status");
    assert!(status.success(), "host.mjs failed after {steps:#?}");
    let names: Vec<&str> = steps.iter().filter_map(|step| step["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            "host_listening",
            "presence_joined",
            "http_api_read",
            "client_events",
            "refusals",
            "presence_left",
            "terminated",
            "ready_for_python",
            "python_events",
            "webhooks",
            "done"
        ]
    );
    let _ = switchboard.start_kill();
    let _ = switchboard.wait().await;
}
