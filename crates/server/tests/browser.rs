//! The moderator console and the supervisor dashboard in a real browser: Debian's headless
//! Chromium, driven by Playwright (`playwright-core`) from `tests/browser/console.e2e.mjs`,
//! against the real service on a SQLite file with short thresholds. The script takes the
//! screenshots of `docs/screenshots/`: into a temporary directory, or over the committed ones
//! with `SWITCHBOARD_UPDATE_SCREENSHOTS=1` (so that running the tests leaves the tree clean).
//!
//! A second scenario, `tests/browser/presence.e2e.mjs`, keeps the console working beside a
//! host presence channel: joined on the console's own connection and from the host's own
//! page (Laravel Echo) in a second tab, with the host's channel auth. A third,
//! `tests/browser/cluster.e2e.mjs`, reads the dashboard's Cluster panel on two PostgreSQL
//! nodes (a writer and a standby).
//!
//! Needs `/usr/bin/chromium` (`apt-get install -y chromium`), Node.js 20.19+ and
//! `npm ci --prefix crates/server/tests/browser`; fails, never skips, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Db, TestApp};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A safety net against a hung browser, not a synchronisation: every step polls with its own deadline.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// One Chromium at a time: the scenarios poll with deadlines, and two browsers on a small
/// machine would only make each slower.
static CHROMIUM_RUNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Short enough for the test, long enough that the steps before the monitor run fit in it.
const INACTIVITY_THRESHOLD: Duration = Duration::from_secs(4);

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_tools(scripts: &Path) {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's Chromium with `apt-get update && apt-get install -y chromium`"
    );
    match std::process::Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => panic!("`node` is not on PATH: install Node.js 20.19+"),
    }
    assert!(
        ["playwright-core", "pusher-js", "laravel-echo"].iter().all(|package| scripts
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()),
        "playwright-core, pusher-js or laravel-echo is missing: run `npm ci --prefix crates/server/tests/browser`"
    );
}

/// Where a scenario writes its screenshots: `docs/screenshots/` with
/// `SWITCHBOARD_UPDATE_SCREENSHOTS=1`, else `scratch` (so that a test run leaves the tree clean).
fn screenshot_dir(scratch: &Path) -> PathBuf {
    if std::env::var_os("SWITCHBOARD_UPDATE_SCREENSHOTS").is_some() {
        manifest_dir().join("../../docs/screenshots")
    } else {
        scratch.to_path_buf()
    }
}

/// Runs `script` (in `tests/browser/`) with `settings` in `SWITCHBOARD_E2E`, printing its
/// steps; fails with its transcript unless it ends with "step: all passed".
async fn run_scenario(script: &str, settings: &serde_json::Value) {
    let scripts = manifest_dir().join("tests").join("browser");
    require_tools(&scripts);
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(&scripts)
        .env("SWITCHBOARD_E2E", settings.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start node: {error}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let stderr = child.stderr.take().expect("stderr");
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut transcript = Vec::new();
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        while let Ok(Some(line)) = stdout.next_line().await {
            println!("browser: {line}");
            transcript.push(line);
        }
        child.wait().await
    })
    .await;
    let status = match outcome {
        Ok(status) => status.expect("node ran"),
        Err(_) => {
            let _ = child.kill().await;
            panic!("{script} hung for {RUN_TIMEOUT:?}; last steps:\n{}", transcript.join("\n"));
        }
    };
    let errors = stderr_task.await.unwrap_or_default();
    assert!(
        status.success() && transcript.last().is_some_and(|line| line == "step: all passed"),
        "{script} failed ({status}):\n{}\n{errors}",
        transcript.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_dashboard_in_chromium() {
    require_tools(&manifest_dir().join("tests").join("browser"));
    let _one_browser = CHROMIUM_RUNS.lock().await;
    let app = TestApp::start_live(Db::Sqlite, |settings| {
        settings.engine.inactivity_threshold = INACTIVITY_THRESHOLD;
        settings.engine.conflict_window = Duration::from_secs(3);
        settings.engine.response_alert = Duration::from_secs(3);
        settings.engine.orphan_alert_after = Duration::from_secs(3);
        // Balancing would move profiles at the monitor run the test makes: keep it for the button.
        settings.engine.imbalance_threshold = 50;
        // One profile each: a profile nobody can take stays visibly orphan for the dashboard.
        settings.engine.max_profiles_per_moderator = 1;
    })
    .await;
    let moderators: serde_json::Map<String, serde_json::Value> =
        (1..=6).map(|id| (id.to_string(), json!(app.moderator_token(id)))).collect();
    let scratch = tempfile::tempdir().expect("a temporary directory for the screenshots");
    let screenshots = screenshot_dir(scratch.path());
    let settings = json!({
        "base": app.base,
        "platform": app.platform,
        "supervisor": app.supervisor,
        "moderators": moderators,
        "screenshots": screenshots,
        "inactivity_threshold_ms": INACTIVITY_THRESHOLD.as_millis() as u64,
    });

    run_scenario("console.e2e.mjs", &settings).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_beside_a_host_presence_channel_in_chromium() {
    require_tools(&manifest_dir().join("tests").join("browser"));
    let _one_browser = CHROMIUM_RUNS.lock().await;
    let app = TestApp::start_live(Db::Sqlite, |_| {}).await;
    let credentials = &app.server().credentials;
    let settings = json!({
        "base": app.base,
        "platform": app.platform,
        "moderator": app.moderator_token(1),
        "app_id": credentials.pusher_app_id,
        "app_key": credentials.pusher_app_key,
        "app_secret": credentials.pusher_app_secret,
    });
    run_scenario("presence.e2e.mjs", &settings).await;
    app.stop().await;
}

/// The dashboard's Cluster panel on PostgreSQL: the writer's page shows its node as the
/// writer (epoch ≥ 1) beside a standby, a failed read stays in the panel, and the standby's
/// page says it is served by the standby (`tests/browser/cluster.e2e.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_cluster_panel_on_postgresql_in_chromium() {
    require_tools(&manifest_dir().join("tests").join("browser"));
    let _one_browser = CHROMIUM_RUNS.lock().await;
    let writer = TestApp::start_live(Db::Postgres, |settings| {
        settings.cluster.node_name = Some("browser-writer".to_owned());
    })
    .await;
    let standby = writer
        .start_beside(|settings| {
            settings.cluster.node_name = Some("browser-standby".to_owned());
        })
        .await;
    let (status, ready) = standby.call("GET", "/ready?role=writer", None, None).await;
    assert_eq!(status, 429, "the second node is a standby: {ready}");
    let scratch = tempfile::tempdir().expect("a temporary directory for the screenshot");
    let screenshots = screenshot_dir(scratch.path());
    let settings = json!({
        "writer": {"base": writer.base, "name": "browser-writer"},
        "standby": {"base": standby.base, "name": "browser-standby"},
        // The writer's token: the standby checks it on its own clock, the writer when relayed.
        "supervisor": writer.supervisor,
        "screenshots": screenshots,
    });
    run_scenario("cluster.e2e.mjs", &settings).await;
    standby.stop().await;
    writer.stop().await;
}

/// The pages and their files come from the binary with the right headers; `config.json`
/// tells the pages the key and the namespace in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_with_their_headers() {
    let app = TestApp::start_with(Db::Sqlite, |settings| settings.event_namespace = "Acme\\Events".to_owned()).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/supervisor", "text/html; charset=utf-8"),
        ("/console/moderator-store.js", "text/javascript; charset=utf-8"),
        ("/console/vendor/pusher.min.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
    ] {
        let response = app.http.get(format!("{}{path}", app.base)).send().await.expect("served");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{path}: {policy}");
    }
    let (code, _) = app.call("GET", "/console/index.html", None, None).await;
    assert_eq!(code, 404, "pages are served at / and /supervisor only");
    let (code, body) = app.call("GET", "/console/../Cargo.toml", None, None).await;
    assert_eq!(code, 404, "{body}");
    let (code, config) = app.call("GET", "/console/config.json", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(config["pusher_app_key"], app.server().credentials.pusher_app_key.as_str());
    assert_eq!(config["event_namespace"], "Acme\\Events");
    assert_eq!(config["auth_endpoint"], "/broadcasting/auth");
    let pusher = app.http.get(format!("{}/console/vendor/pusher.min.js", app.base)).send().await.expect("served");
    assert!(pusher
        .text()
        .await
        .expect("text")
        .starts_with("/*! For license information please see pusher.min.js.LICENSE.txt */"));
    app.stop().await;
}
