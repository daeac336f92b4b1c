//! What a restart must forget: realtime connections. The database remembers a moderator
//! whose console socket was open; the new process has no socket, so it marks the moderator's
//! realtime connection gone (and the monitor will disconnect it after `presence_timeout`
//! unless it reconnects).

mod common;

use std::time::Duration;

use common::JWT_SECRET;
use switchboard::auth::Caller;
use switchboard::Settings;
use switchboard_engine::{Command, Config, ModeratorId, ProfileId};
use switchboard_store::testing::{fresh_sqlite_url, ManualClock, RecordingSink};
use switchboard_store::{Store, Writer, WriterConfig};

#[tokio::test]
async fn a_restart_forgets_realtime_connections() {
    let (_directory, url) = fresh_sqlite_url();
    // Both incarnations read one clock that stands still: nothing here depends on time.
    let clock = ManualClock::new(common::CLOCK_START);

    // The previous incarnation: moderator 1 working, its console socket open.
    let store = Store::open(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    let (writer, task) =
        Writer::start(store, WriterConfig::new(Config::default()), clock.clone(), RecordingSink::new())
            .await
            .expect("writer");
    for command in [
        Command::UpsertModerator { moderator_id: ModeratorId(1), name: "m1".into() },
        Command::UpsertProfile { profile_id: ProfileId(1), name: "p1".into(), active: true },
        Command::Connect { moderator_id: ModeratorId(1), connected_at: common::CLOCK_START },
        Command::RealtimePresence { moderator_id: ModeratorId(1), connected: true },
    ] {
        writer.submit(command).await.expect("accepted");
    }
    task.shutdown().await;

    // The new process.
    let settings = Settings { database_url: url, jwt_secret: Some(JWT_SECRET.to_owned()), ..Settings::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = switchboard::start(settings, listener, clock).await.expect("the server starts");
    let token = server.token(Caller::Supervisor, Duration::from_secs(60)).expect("token");
    let state: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/supervisor/state", server.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let moderator = &state["moderators"][0];
    assert_eq!(moderator["moderator_id"], 1, "{state}");
    assert_eq!(moderator["state"], "working", "{state}");
    assert_eq!(moderator["realtime_connected"], false, "{state}");
    server.shutdown().await.expect("a clean shutdown");
}
