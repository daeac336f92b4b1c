//! `switchboard-load demo` comes alive: started in-process on a free port, it must show an
//! assigned conversation in the supervisor's state within seconds, and stop cleanly.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard::Settings;
use switchboard_load::demo::{self, DemoOptions};
use switchboard_load::LoadConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_assigns_conversations_within_seconds_and_stops_cleanly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let simulation =
        LoadConfig { rate_per_second: 5.0, think_time: Duration::from_millis(500), ..LoadConfig::gentle() };
    let options = DemoOptions { simulation, ..DemoOptions::default() };
    let demo = demo::start(Settings::default(), listener, options).await.expect("the demo starts");
    let banner = demo.banner();
    assert!(banner.contains("/supervisor?token="), "the console reads ?token=: {banner}");
    assert!(banner.contains("simulated moderator 2"), "{banner}");

    let base = demo.server.base_url();
    let supervisor = demo.supervisor_token().expect("token");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let deadline = Duration::from_secs(30);
    loop {
        let state: Value = http
            .get(format!("{base}/api/supervisor/state"))
            .bearer_auth(&supervisor)
            .send()
            .await
            .expect("state answered")
            .json()
            .await
            .expect("state is JSON");
        let loaded = state["moderators"].as_array().is_some_and(|all| all.iter().any(|m| m["load"].as_u64() > Some(0)));
        let locked = state["client_locks"].as_array().is_some_and(|locks| !locks.is_empty());
        if (loaded || locked) && demo.progress().assigned > 0 {
            break;
        }
        assert!(started.elapsed() < deadline, "no ConversationAssigned within {deadline:?}: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let progress = demo.progress();
    assert!(progress.accepted > 0, "{progress:?}");
    demo.stop().await.expect("clean stop");
}
