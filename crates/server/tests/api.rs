//! API tests through a real server on a random port, on SQLite and on PostgreSQL: a test
//! per route group, auth, and the SPEC's scenarios end to end over HTTP.

mod common;

use std::time::Duration;

use common::{error_code, eventually, external_token, Db, TestApp, JWT_SECRET};
use serde_json::{json, Value};

both_backends!(platform_routes, |db: Db| async move {
    let app = TestApp::start(db).await;
    let moderator = app.platform("PUT", "/api/moderators/1", json!({"name": "Ada"})).await;
    assert_eq!(moderator["moderator_id"], 1);
    assert_eq!(moderator["name"], "Ada");
    assert_eq!(moderator["state"], "offline");
    let profile = app.platform("PUT", "/api/profiles/10", json!({"name": "Léa", "active": true})).await;
    assert_eq!(
        profile,
        json!({"profile_id": 10, "name": "Léa", "active": true, "lock": null, "waiting_conversations": 0})
    );
    let client = app.platform("PUT", "/api/clients/100", json!({"name": "Bob"})).await;
    assert_eq!(client, json!({"client_id": 100, "name": "Bob"}));

    // Ingestion: 202, idempotent on message_id, unknown client created, unknown profile 422.
    let (status, first) = app
        .call(
            "POST",
            "/api/messages",
            Some(&app.platform),
            Some(json!({"message_id": 5, "client_id": 101, "profile_id": 10,
            "body": "bonjour", "sent_at": "2024-05-01T12:00:00+02:00"})),
        )
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["conversation"]["client_id"], 101);
    assert_eq!(first["conversation"]["waiting"], true);
    assert_eq!(first["conversation"]["last_message"]["sent_at"], "2024-05-01T10:00:00.000Z");
    let before = app.state().await;
    let (status, again) = app
        .call(
            "POST",
            "/api/messages",
            Some(&app.platform),
            Some(json!({"message_id": 5, "client_id": 101, "profile_id": 10,
            "body": "bonjour"})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(again["duplicate"], true);
    assert_eq!(app.state().await, before, "a duplicate changes nothing");
    let (status, body) = app
        .call(
            "POST",
            "/api/messages",
            Some(&app.platform),
            Some(json!({"message_id": 6, "client_id": 101, "profile_id": 99,
            "body": "x"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_request"), "{body}");

    // Deactivating a held profile frees it.
    app.connect(1).await;
    assert_eq!(app.holder(10).await, Some(1));
    let profile = app.platform("PUT", "/api/profiles/10", json!({"name": "Léa", "active": false})).await;
    assert_eq!(profile["active"], false);
    assert_eq!(profile["lock"], Value::Null);
    assert_eq!(app.status(1).await["state"], "queued");
    let (status, body) = app
        .call(
            "POST",
            "/api/messages",
            Some(&app.platform),
            Some(json!({"message_id": 7, "client_id": 101, "profile_id": 10,
            "body": "x"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_request"), "inactive profile: {body}");
    app.stop().await;
});

// API.md contract v2: a message id is a positive integer or a string of 1-128 characters
// from [A-Za-z0-9._:-], echoed in the form given, compared exactly, and kept across a restart.
both_backends!(string_message_ids, |db: Db| async move {
    const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";
    const ULID: &str = "01J9ZQ3W5X6Y7Z8A9B0C1D2E3F";
    let mut app = TestApp::start(db).await;
    app.directory(&[1], &[10]).await;
    let accepted = app.inbound(5, 101, 10).await;
    assert_eq!((accepted["message_id"].clone(), accepted["duplicate"].clone()), (json!(5), json!(false)));
    let accepted = app.inbound("5", 101, 10).await;
    assert_eq!(accepted["message_id"], json!("5"), "a string stays a string: {accepted}");
    assert_eq!(accepted["duplicate"], false, "\"5\" after 5 is another message");
    assert_eq!(accepted["conversation"]["last_message"]["message_id"], json!("5"));
    let accepted = app.inbound(UUID, 101, 10).await;
    assert_eq!((accepted["message_id"].clone(), accepted["duplicate"].clone()), (json!(UUID), json!(false)));
    let before = app.state().await;
    for (again, message_id) in [(json!("5"), json!("5")), (json!(5), json!(5)), (json!(UUID), json!(UUID))] {
        let duplicate = app.inbound(again, 101, 10).await;
        assert_eq!(duplicate["duplicate"], true, "{duplicate}");
        assert_eq!(duplicate["message_id"], message_id, "the duplicate echoes the form given");
    }
    assert_eq!(app.state().await, before, "duplicates change nothing");

    // Every view echoes each id in its form: the console's profiles, the conversation's history.
    app.connect(1).await;
    let (code, profiles) = app.moderator(1, "GET", "/moderateur/profiles", None).await;
    assert_eq!(code, 200, "{profiles}");
    assert_eq!(profiles["profiles"][0]["conversations"][0]["last_message"]["message_id"], json!(UUID));
    let history = |conversation: &Value| -> Vec<Value> {
        conversation["messages"]
            .as_array()
            .map(|m| m.iter().map(|m| m["message_id"].clone()).collect())
            .unwrap_or_default()
    };
    let (code, conversation) = app.moderator(1, "GET", "/moderateur/conversations/101/10", None).await;
    assert_eq!(code, 200, "{conversation}");
    assert_eq!(history(&conversation), vec![json!(5), json!("5"), json!(UUID)]);

    // The idempotency of every form is rebuilt from the database after a restart.
    let accepted = app.inbound(ULID, 102, 10).await;
    assert_eq!(accepted["duplicate"], false);
    app.restart().await;
    for (again, message_id) in [(json!("5"), json!("5")), (json!(5), json!(5)), (json!(ULID), json!(ULID))] {
        let client = if message_id == json!(ULID) { 102 } else { 101 };
        let duplicate = app.inbound(again, client, 10).await;
        assert_eq!(duplicate["duplicate"], true, "after the restart: {duplicate}");
        assert_eq!(duplicate["message_id"], message_id);
    }
    let (_, conversation) = app.moderator(1, "GET", "/moderateur/conversations/102/10", None).await;
    assert_eq!(history(&conversation), vec![json!(ULID)]);
    let accepted = app.inbound("6", 101, 10).await;
    assert_eq!((accepted["message_id"].clone(), accepted["duplicate"].clone()), (json!("6"), json!(false)));
    app.stop().await;
});

both_backends!(moderator_routes, |db: Db| async move {
    // A window longer than the test, so that moderator 2's connection below collides with
    // moderator 1's whatever the machine's speed.
    let app = TestApp::start_with(db, |settings| settings.engine.conflict_window = Duration::from_secs(3600)).await;
    app.directory(&[1], &[10]).await;
    app.inbound(1, 100, 10).await;

    let status = app.connect(1).await;
    assert_eq!(status["moderator_id"], 1);
    assert_eq!(status["state"], "working");
    assert_eq!(status["profiles"], json!([10]));
    assert_eq!(status["load"], 1);
    assert_eq!(status["queue"], Value::Null);
    assert_eq!(app.status(1).await, status);

    let (code, profiles) = app.moderator(1, "GET", "/moderateur/profiles", None).await;
    assert_eq!(code, 200);
    let profile = &profiles["profiles"][0];
    assert_eq!(profile["profile_id"], 10);
    assert_eq!(profile["lock"]["type"], "profile");
    assert_eq!(profile["lock"]["lock_type"], "assignment");
    assert!(profile["lock"]["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(profile["conversations"][0]["client_id"], 100);
    assert_eq!(profile["conversations"][0]["last_message"]["body"], "hello 1");

    let (code, conversation) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    assert_eq!(code, 200, "{conversation}");
    assert_eq!(conversation["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(conversation["messages"][0]["body"], "hello 1");
    assert_eq!(conversation["messages"][0]["direction"], "inbound");
    assert_eq!(conversation["lock"]["type"], "client");
    assert_eq!(conversation["lock"]["lock_reason"], "conversation");

    let (code, body) =
        app.moderator(1, "POST", "/moderateur/typing", Some(json!({"client_id": 100, "profile_id": 10}))).await;
    assert_eq!(code, 204, "{body}");
    let (code, sent) = app
        .moderator(
            1,
            "POST",
            "/moderateur/messages",
            Some(json!({"client_id": 100, "profile_id": 10, "body": "salut"})),
        )
        .await;
    assert_eq!(code, 201, "{sent}");
    assert_eq!(sent["body"], "salut");
    assert_eq!(sent["moderator_id"], 1);
    let (_, conversation) = app.moderator(1, "GET", "/moderateur/conversations/100/10", None).await;
    assert_eq!(conversation["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(conversation["messages"][1]["direction"], "outbound");
    assert_eq!(app.status(1).await["load"], 0);

    let (code, lock) =
        app.moderator(1, "POST", "/moderateur/initiations", Some(json!({"client_id": 200, "profile_id": 10}))).await;
    // An initiation may name a client the platform has not declared yet: 404 if so.
    if code == 404 {
        app.platform("PUT", "/api/clients/200", json!({"name": "Zoé"})).await;
        let (code, lock) = app
            .moderator(1, "POST", "/moderateur/initiations", Some(json!({"client_id": 200, "profile_id": 10})))
            .await;
        assert_eq!(code, 201, "{lock}");
        assert_eq!(lock["lock_reason"], "initiation");
    } else {
        assert_eq!(code, 201, "{lock}");
        assert_eq!(lock["lock_reason"], "initiation");
    }

    let (code, locks) = app.moderator(1, "GET", "/moderateur/locks/status", None).await;
    assert_eq!(code, 200);
    assert_eq!(locks["profile_locks"][0]["profile_id"], 10);
    assert!(locks["client_locks"].as_array().is_some_and(|l| l.iter().any(|l| l["client_id"] == 200)));
    assert_eq!(locks["blocked_clients"], json!([]));

    let (code, lease) =
        app.moderator(1, "POST", "/moderateur/locks/extend", Some(json!({"profile_id": 10, "seconds": 60}))).await;
    assert_eq!(code, 200, "{lease}");
    assert_eq!(lease["profile_id"], 10);
    let (code, lock) =
        app.moderator(1, "POST", "/moderateur/locks/extend", Some(json!({"client_id": 200, "seconds": 10}))).await;
    assert_eq!(code, 200, "{lock}");
    assert_eq!(lock["client_id"], 200);
    let (code, status) =
        app.moderator(1, "POST", "/moderateur/locks/request-unlock", Some(json!({"client_id": 200}))).await;
    assert_eq!(code, 200, "{status}");

    let (code, queue) = app.moderator(1, "GET", "/moderateur/queue/status", None).await;
    assert_eq!(code, 200);
    for field in [
        "in_queue",
        "position",
        "estimated_wait_seconds",
        "queued_at",
        "priority",
        "queue_length",
        "available_profiles",
    ] {
        assert!(queue.get(field).is_some(), "{field} in {queue}");
    }
    assert_eq!(queue["in_queue"], false);
    let (code, body) = app.moderator(1, "POST", "/moderateur/queue/leave", None).await;
    assert_eq!((code, error_code(&body)), (409, "not_in_queue"));

    // Giving the profile back: with nobody else to take it, it comes straight back (SPEC §4).
    let (code, status) =
        app.moderator(1, "POST", "/moderateur/locks/request-unlock", Some(json!({"profile_id": 10}))).await;
    assert_eq!(code, 200, "{status}");
    // Moderator 2 finds no free profile: it queues, lowers its priority, leaves the queue.
    app.platform("PUT", "/api/moderators/2", json!({"name": "Bea"})).await;
    assert_eq!(app.connect(2).await["state"], "queued");
    let (code, queue) = app.moderator(2, "POST", "/moderateur/queue/priority", Some(json!({"priority": -1}))).await;
    assert_eq!(code, 200, "{queue}");
    assert_eq!(queue["priority"], -1);
    assert_eq!(queue["position"], 1);
    let (code, status) = app.moderator(2, "POST", "/moderateur/queue/leave", Some(json!({}))).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["state"], "paused");

    // Moderator 2 connected within the conflict window of moderator 1's connection.
    let (code, conflicts) = app.moderator(1, "GET", "/moderateur/conflicts", None).await;
    assert_eq!(code, 200);
    let conflicts = conflicts["conflicts"].as_array().cloned().unwrap_or_default();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["participants"], json!([1, 2]), "{conflicts:?}");
    let (code, resolved) = app
        .moderator(
            1,
            "POST",
            "/moderateur/conflicts/resolve",
            Some(json!({"conflict_id": conflicts[0]["conflict_id"]})),
        )
        .await;
    assert_eq!(code, 200, "{resolved}");
    assert_eq!(resolved["resolved"], true);
    let (code, body) =
        app.moderator(1, "POST", "/moderateur/conflicts/resolve", Some(json!({"conflict_id": 999}))).await;
    assert_eq!((code, error_code(&body)), (404, "not_found"));

    let (code, status) = app.moderator(1, "POST", "/moderateur/disconnect", None).await;
    assert_eq!(code, 200);
    assert_eq!(status["state"], "offline");
    app.stop().await;
});

both_backends!(supervisor_routes, |db: Db| async move {
    let app = TestApp::start(db).await;
    app.directory(&[1, 2], &[10]).await;
    app.connect(1).await;
    app.connect(2).await;
    let state = app.state().await;
    assert_eq!(state["moderators"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["queue"][0]["moderator_id"], 2);
    assert_eq!(state["profiles"][0]["lock"]["moderator_id"], 1);

    let (code, report) = app.supervisor("GET", "/api/supervisor/load-report", None).await;
    assert_eq!(code, 200);
    assert_eq!(report["moderators"].as_array().map(Vec::len), Some(2));
    assert!(report["moderators"][0].get("median_response_seconds").is_some());
    assert!(report["totals"].get("total_load").is_some());
    let (code, alerts) = app.supervisor("GET", "/api/supervisor/alerts", None).await;
    assert_eq!(code, 200);
    assert!(alerts["alerts"].is_array());
    let (code, conflicts) = app.supervisor("GET", "/api/supervisor/conflicts", None).await;
    assert_eq!(code, 200);
    assert!(conflicts["conflicts"].is_array());
    let report = app.run_monitor().await;
    for field in ["expired_leases", "set_away", "moves", "repairs", "alerts"] {
        assert!(report.get(field).is_some(), "{field}: {report}");
    }
    let (code, moves) = app.supervisor("POST", "/api/supervisor/rebalance", None).await;
    assert_eq!((code, moves), (200, json!({"moves": []})));
    let (code, queue) =
        app.supervisor("PUT", "/api/supervisor/moderators/2/priority", Some(json!({"priority": 7}))).await;
    assert_eq!(code, 200, "{queue}");
    assert_eq!(queue["priority"], 7);
    let (code, body) =
        app.supervisor("PUT", "/api/supervisor/moderators/77/priority", Some(json!({"priority": 1}))).await;
    assert_eq!((code, error_code(&body)), (404, "not_found"));

    // Unlock: the profile goes to the queue head at once.
    let (code, profile) = app.supervisor("POST", "/api/supervisor/profiles/10/unlock", None).await;
    assert_eq!(code, 200, "{profile}");
    assert_eq!(profile["lock"]["moderator_id"], 2);
    // Pin: a manual lock for moderator 1.
    let (code, lease) =
        app.supervisor("POST", "/api/supervisor/profiles/10/pin", Some(json!({"moderator_id": 1}))).await;
    assert_eq!(code, 200, "{lease}");
    assert_eq!(lease["lock_type"], "manual");
    assert_eq!(lease["moderator_id"], 1);
    let (code, body) = app.supervisor("POST", "/api/supervisor/profiles/99/unlock", None).await;
    assert_eq!((code, error_code(&body)), (404, "not_found"));
    app.stop().await;
});

both_backends!(operations_routes, |db: Db| async move {
    let app = TestApp::start(db).await;
    assert_eq!(app.call("GET", "/health", None, None).await, (200, json!({"status": "ok"})));
    // One process (SQLite, or PostgreSQL with no other node) is the writer once started.
    let (status, ready) = app.call("GET", "/ready", None, None).await;
    assert_eq!((status, &ready["status"], &ready["role"]), (200, &json!("ready"), &json!("writer")));
    let (status, _) = app.call("GET", "/ready?role=writer", None, None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call("GET", "/ready?role=reader", None, None).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_request"));
    let (status, cluster) = app.supervisor("GET", "/api/supervisor/cluster", None).await;
    assert_eq!(status, 200);
    assert_eq!(cluster["node"]["role"], "writer");
    if cluster["mode"] == "cluster" {
        assert_eq!(cluster["epoch"], 1);
        assert_eq!(cluster["writer"]["epoch"], 1);
        assert_eq!(cluster["nodes"].as_array().map(Vec::len), Some(1));
    } else {
        assert_eq!(cluster["mode"], "single");
    }
    app.directory(&[1], &[10]).await;
    let response = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    if cluster["mode"] == "cluster" {
        assert!(text.contains("switchboard_cluster_writer 1\n") && text.contains("switchboard_cluster_epoch 1\n"));
    }
    for series in [
        "switchboard_http_requests_total{method=\"PUT\",route=\"/api/moderators/{id}\",status=\"200\"} 1",
        "switchboard_commands_applied_total",
        "switchboard_batch_size_bucket",
        "switchboard_commit_seconds_bucket",
        "switchboard_queue_length 0",
        "switchboard_moderators{state=\"offline\"} 1",
        "switchboard_open_sockets 0",
        "switchboard_events_delivered_total",
        "switchboard_alerts_raised_total",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    for page in ["/", "/supervisor"] {
        let response = app.http.get(format!("{}{page}", app.base)).send().await.expect("page");
        assert_eq!(response.status(), 200);
        assert!(response.text().await.expect("html").contains("/openapi.json"));
    }
    let (code, body) = app.call("GET", "/nowhere", None, None).await;
    assert_eq!((code, error_code(&body)), (404, "not_found"));
    let (code, body) = app.call("DELETE", "/health", None, None).await;
    assert_eq!(code, 405);
    assert!(body["error"]["message"].is_string());
    let response =
        app.http.get(format!("{}/health", app.base)).header("x-request-id", "abc-1").send().await.expect("id");
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("abc-1"));
    let response = app.http.get(format!("{}/health", app.base)).send().await.expect("id");
    assert!(response.headers().get("x-request-id").is_some());
    app.stop().await;
});

/// Every route in the router is in /openapi.json and every API.md route is in both.
#[tokio::test]
async fn openapi_lists_exactly_the_routes() {
    let app = TestApp::start(Db::Sqlite).await;
    let (code, document) = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(document["openapi"], "3.0.3");
    let documented: std::collections::BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations.as_object().expect("operations").keys().map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let table: std::collections::BTreeSet<(String, String)> =
        switchboard::http::route_docs().iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    assert_eq!(documented, table, "the document is the router's table");
    let api_md = [
        ("PUT", "/api/moderators/{id}"),
        ("PUT", "/api/profiles/{id}"),
        ("PUT", "/api/clients/{id}"),
        ("POST", "/api/messages"),
        ("POST", "/moderateur/connect"),
        ("POST", "/moderateur/disconnect"),
        ("GET", "/moderateur/status"),
        ("GET", "/moderateur/profiles"),
        ("GET", "/moderateur/conversations/{client_id}/{profile_id}"),
        ("POST", "/moderateur/typing"),
        ("POST", "/moderateur/messages"),
        ("POST", "/moderateur/initiations"),
        ("GET", "/moderateur/queue/status"),
        ("POST", "/moderateur/queue/leave"),
        ("POST", "/moderateur/queue/priority"),
        ("GET", "/moderateur/locks/status"),
        ("POST", "/moderateur/locks/request-unlock"),
        ("POST", "/moderateur/locks/extend"),
        ("GET", "/moderateur/conflicts"),
        ("POST", "/moderateur/conflicts/resolve"),
        ("GET", "/api/supervisor/state"),
        ("GET", "/api/supervisor/cluster"),
        // Node to node (README "Running several nodes"): a standby's sockets, sent to the writer.
        ("POST", "/api/supervisor/cluster/presence"),
        ("GET", "/api/supervisor/load-report"),
        ("GET", "/api/supervisor/alerts"),
        ("GET", "/api/supervisor/conflicts"),
        ("POST", "/api/supervisor/monitor/run"),
        ("POST", "/api/supervisor/rebalance"),
        ("PUT", "/api/supervisor/moderators/{id}/priority"),
        ("POST", "/api/supervisor/profiles/{id}/unlock"),
        ("POST", "/api/supervisor/profiles/{id}/pin"),
        ("GET", "/api/events"),
        ("GET", "/api/supervisor/webhooks/deliveries"),
        ("POST", "/api/supervisor/webhooks/deliveries/{id}/retry"),
        ("GET", "/api/supervisor/webhooks/health"),
        ("POST", "/broadcasting/auth"),
        ("GET", "/app/{app_key}"),
        ("POST", "/apps/{app_id}/events"),
        ("POST", "/apps/{app_id}/batch_events"),
        ("GET", "/apps/{app_id}/channels"),
        ("GET", "/apps/{app_id}/channels/{channel_name}"),
        ("GET", "/apps/{app_id}/channels/{channel_name}/users"),
        ("POST", "/apps/{app_id}/users/{user_id}/terminate_connections"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/"),
        ("GET", "/supervisor"),
    ];
    let api_md: std::collections::BTreeSet<(String, String)> =
        api_md.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, api_md, "documented routes vs API.md");
    // Every documented route is really served: none answers the router's own 404/405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{app_key}", "nokey")
            .replace("{client_id}", "1")
            .replace("{profile_id}", "1")
            .replace("{id}", "1");
        let (code, body) = app.call(method, &concrete, None, None).await;
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(!message.starts_with("no route for") && code != 405, "{method} {path} is not routed: {code} {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn auth_is_checked_on_every_role() {
    let app = TestApp::start(Db::Sqlite).await;
    app.directory(&[1, 2], &[10]).await;
    let no_token = app.call("GET", "/moderateur/status", None, None).await;
    assert_eq!((no_token.0, error_code(&no_token.1)), (401, "unauthorized"));
    let expired =
        external_token(JWT_SECRET, &json!({"sub": "1", "role": "moderator", "exp": app.now_seconds() - 3600}));
    let (code, body) = app.call("GET", "/moderateur/status", Some(&expired), None).await;
    assert_eq!((code, error_code(&body)), (401, "unauthorized"));
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("expired")));
    let forged =
        external_token("another-secret", &json!({"sub": "1", "role": "moderator", "exp": app.now_seconds() + 3600}));
    assert_eq!(app.call("GET", "/moderateur/status", Some(&forged), None).await.0, 401);
    for garbage in ["", "abc", "a.b.c", "Bearer", "ey.ey.ey", "é"] {
        let response = app
            .http
            .get(format!("{}/moderateur/status", app.base))
            .header("authorization", format!("Bearer {garbage}"));
        let response = response.send().await.expect("sent");
        assert_eq!(response.status(), 401, "{garbage:?}");
    }
    // A token minted outside the service (by hand, same secret) works.
    let external = external_token(
        JWT_SECRET,
        &json!({"sub": "2", "role": "moderator", "exp": app.now_seconds() + 3600, "iat": app.now_seconds()}),
    );
    let (code, status) = app.call("GET", "/moderateur/status", Some(&external), None).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["moderator_id"], 2, "a moderator token acts as its own sub only");
    // Expiry is judged by the service's clock: a minute (and the 5 s leeway) later, a
    // one-minute token is refused.
    let minute = external_token(JWT_SECRET, &json!({"sub": "2", "role": "moderator", "exp": app.now_seconds() + 60}));
    app.advance(Duration::from_secs(65));
    assert_eq!(app.call("GET", "/moderateur/status", Some(&minute), None).await.0, 200, "within the leeway");
    app.advance(Duration::from_secs(1));
    let (code, body) = app.call("GET", "/moderateur/status", Some(&minute), None).await;
    assert_eq!((code, error_code(&body)), (401, "unauthorized"), "{body}");
    // Wrong roles: 403.
    let moderator = app.moderator_token(1);
    for (method, path, token) in [
        ("GET", "/api/supervisor/state", &moderator),
        ("PUT", "/api/moderators/3", &moderator),
        ("GET", "/moderateur/status", &app.platform),
        ("GET", "/api/supervisor/state", &app.platform),
        ("POST", "/moderateur/connect", &app.supervisor),
        ("POST", "/api/messages", &app.supervisor),
    ] {
        let (code, body) = app.call(method, path, Some(token), Some(json!({"name": "x"}))).await;
        assert_eq!((code, error_code(&body)), (403, "forbidden"), "{method} {path}");
    }
    // Another moderator's conversation: 403.
    app.inbound(1, 100, 10).await;
    app.connect(1).await;
    let (code, body) = app.moderator(2, "GET", "/moderateur/conversations/100/10", None).await;
    assert_eq!((code, error_code(&body)), (403, "forbidden"), "{body}");
    let (code, _) = app.moderator(2, "POST", "/moderateur/locks/request-unlock", Some(json!({"profile_id": 10}))).await;
    assert_eq!(code, 403);
    let (code, _) =
        app.moderator(2, "POST", "/moderateur/locks/extend", Some(json!({"profile_id": 10, "seconds": 5}))).await;
    assert_eq!(code, 403);
    app.stop().await;
}

both_backends!(simultaneous_connections_by_timestamp, |db: Db| async move {
    let app = TestApp::start(db).await;
    app.directory(&[1, 2], &[10]).await;
    // Moderator 2 connects first, then 1, within the conflict window: the earlier wins.
    // (Without the 5 ms the times tie, and the tie goes to the lower id, 1.)
    app.connect(2).await;
    app.advance(Duration::from_millis(5));
    app.connect(1).await;
    assert_eq!(app.holder(10).await, Some(2));
    let status = app.status(1).await;
    assert_eq!(status["state"], "queued");
    assert_eq!(status["queue"]["position"], 1);
    let (_, conflicts) = app.moderator(1, "GET", "/moderateur/conflicts", None).await;
    let conflict = conflicts["conflicts"][0].clone();
    assert_eq!(conflict["strategy"], "timestamp");
    assert_eq!(conflict["winners"], json!([2]));
    assert_eq!(conflict["queued"], json!([1]));
    let (code, resolved) = app
        .moderator(1, "POST", "/moderateur/conflicts/resolve", Some(json!({"conflict_id": conflict["conflict_id"]})))
        .await;
    assert_eq!(code, 200, "{resolved}");
    assert_eq!(resolved["resolved"], true);
    app.stop().await;
});

both_backends!(simultaneous_connections_by_id, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| {
        settings.engine.conflict_strategy = switchboard_engine::ConflictStrategy::Id;
    })
    .await;
    app.directory(&[1, 2], &[10]).await;
    app.connect(2).await;
    app.connect(1).await;
    // Lowest id wins: the profile moves from 2 to 1, and 2 queues.
    assert_eq!(app.holder(10).await, Some(1));
    assert_eq!(app.status(2).await["state"], "queued");
    let (_, conflicts) = app.supervisor("GET", "/api/supervisor/conflicts", None).await;
    assert_eq!(conflicts["conflicts"][0]["strategy"], "id");
    assert_eq!(conflicts["conflicts"][0]["winners"], json!([1]));
    app.stop().await;
});

both_backends!(client_lock_across_two_profiles, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| settings.engine.max_profiles_per_moderator = 1).await;
    app.directory(&[1, 2], &[10, 11]).await;
    app.connect(1).await;
    app.connect(2).await;
    let first = app.holder(10).await.expect("held");
    let second = if first == 1 { 2 } else { 1 };
    let (first_profile, second_profile) = (10, 11);
    assert_eq!(app.holder(11).await, Some(second));
    // Client 100 writes to both profiles: the first holder gets it, the other is blocked.
    app.inbound(1, 100, first_profile).await;
    app.inbound(2, 100, second_profile).await;
    let (code, body) = app
        .moderator(second, "POST", "/moderateur/typing", Some(json!({"client_id": 100, "profile_id": second_profile})))
        .await;
    assert_eq!((code, error_code(&body)), (409, "client_locked"), "{body}");
    let (_, locks) = app.moderator(second, "GET", "/moderateur/locks/status", None).await;
    assert_eq!(locks["blocked_clients"][0]["client_id"], 100);
    assert_eq!(locks["blocked_clients"][0]["moderator_id"], first);
    // The holder answers: the lock is released and the other conversation is processed at once.
    let (code, _) = app
        .moderator(
            first,
            "POST",
            "/moderateur/messages",
            Some(json!({"client_id": 100, "profile_id": first_profile, "body": "hi"})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, body) = app
        .moderator(second, "POST", "/moderateur/typing", Some(json!({"client_id": 100, "profile_id": second_profile})))
        .await;
    assert_eq!(code, 204, "{body}");
    app.stop().await;
});

both_backends!(double_initiation, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| settings.engine.max_profiles_per_moderator = 1).await;
    app.directory(&[1, 2], &[10, 11]).await;
    app.platform("PUT", "/api/clients/200", json!({"name": "Zoé"})).await;
    app.connect(1).await;
    app.connect(2).await;
    let first = app.holder(10).await.expect("held");
    let second = app.holder(11).await.expect("held");
    let (code, lock) = app
        .moderator(first, "POST", "/moderateur/initiations", Some(json!({"client_id": 200, "profile_id": 10})))
        .await;
    assert_eq!(code, 201, "{lock}");
    let (code, body) = app
        .moderator(second, "POST", "/moderateur/initiations", Some(json!({"client_id": 200, "profile_id": 11})))
        .await;
    assert_eq!((code, error_code(&body)), (409, "double_initiation"), "{body}");
    app.stop().await;
});

both_backends!(inactivity_moves_profiles_away, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| {
        settings.engine.inactivity_threshold = Duration::from_millis(300);
    })
    .await;
    app.directory(&[1, 2], &[10]).await;
    app.connect(1).await;
    app.connect(2).await;
    app.inbound(1, 100, 10).await;
    assert_eq!(app.holder(10).await, Some(1));
    // Just short of the threshold, the monitor leaves moderator 1 alone; just past it, not.
    app.advance(Duration::from_millis(299));
    assert_eq!(app.run_monitor().await["set_away"], json!([]));
    app.advance(Duration::from_millis(2));
    let report = app.run_monitor().await;
    assert_eq!(report["set_away"], json!([1]), "{report}");
    assert_eq!(app.status(1).await["state"], "away");
    assert_eq!(app.holder(10).await, Some(2), "the queue head takes the freed profile");
    app.stop().await;
});

both_backends!(release_goes_to_queue_head_and_positions_follow_priority, |db: Db| async move {
    let app = TestApp::start(db).await;
    app.directory(&[1, 2, 3, 4], &[10]).await;
    app.connect(1).await;
    app.connect(2).await;
    app.connect(3).await;
    app.connect(4).await;
    // Let the conflict window pass is not needed: 1 took the only profile; 2, 3, 4 queue in order.
    let positions = |state: Value| -> Vec<u64> {
        state["queue"]
            .as_array()
            .map(|q| q.iter().filter_map(|e| e["moderator_id"].as_u64()).collect())
            .unwrap_or_default()
    };
    let holder = app.holder(10).await.expect("held");
    let queue = positions(app.state().await);
    assert_eq!(queue.len(), 3);
    let (_, q) = app.moderator(queue[0], "GET", "/moderateur/queue/status", None).await;
    assert_eq!(q["position"], 1);
    assert_eq!(q["queue_length"], 3);
    // A moderator may not raise itself above max_self_priority (0).
    let (code, body) =
        app.moderator(queue[2], "POST", "/moderateur/queue/priority", Some(json!({"priority": 1}))).await;
    assert_eq!((code, error_code(&body)), (403, "forbidden"), "{body}");
    // A supervisor may: the last one becomes the head.
    app.supervisor("PUT", &format!("/api/supervisor/moderators/{}/priority", queue[2]), Some(json!({"priority": 5})))
        .await;
    let reordered = positions(app.state().await);
    assert_eq!(reordered, vec![queue[2], queue[0], queue[1]]);
    // A second later the holder gives the profile back: the head gets it at once, and the
    // holder, queued again with that later time, lines up behind the others.
    app.advance(Duration::from_secs(1));
    let (code, _) =
        app.moderator(holder, "POST", "/moderateur/locks/request-unlock", Some(json!({"profile_id": 10}))).await;
    assert_eq!(code, 200);
    assert_eq!(app.holder(10).await, Some(queue[2]));
    let (_, q) = app.moderator(queue[0], "GET", "/moderateur/queue/status", None).await;
    assert_eq!(q["position"], 1);
    assert_eq!(positions(app.state().await), vec![queue[0], queue[1], holder]);
    app.stop().await;
});

both_backends!(balancing_with_anti_ping_pong, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| settings.engine.conflict_window = Duration::ZERO).await;
    app.directory(&[1, 2], &[10, 11, 12]).await;
    // Profiles 10 and 11 have two waiting conversations each, 12 none.
    app.inbound(1, 100, 10).await;
    app.inbound(2, 101, 10).await;
    app.inbound(3, 102, 11).await;
    app.inbound(4, 103, 11).await;
    app.connect(1).await;
    // Moderator 1 takes the busiest profile, then the other orphan as the least busy.
    let status = eventually("moderator 1 holds 10 and 11", Duration::from_secs(5), || async {
        let status = app.status(1).await;
        (status["load"] == 4).then_some(status)
    })
    .await;
    assert_eq!(status["profiles"], json!([10, 11]));
    // Moderator 2 (no collision: the window is zero here) takes the free profile 12.
    app.connect(2).await;
    assert_eq!(app.holder(12).await, Some(2));
    let (code, moves) = app.supervisor("POST", "/api/supervisor/rebalance", None).await;
    assert_eq!(code, 200);
    let moves = moves["moves"].as_array().cloned().unwrap_or_default();
    assert_eq!(moves.len(), 1, "{moves:?}");
    let moved = moves[0]["profile_id"].as_u64().expect("profile");
    assert_eq!(moves[0]["from_moderator_id"], 1);
    assert_eq!(moves[0]["to_moderator_id"], 2);
    assert_eq!(app.status(1).await["load"], 2);
    assert_eq!(app.status(2).await["load"], 2);
    // Profile 12 gets three waiting conversations: moving `moved` back would help, but it
    // moved less than anti_ping_pong ago, so nothing moves.
    app.inbound(5, 104, 12).await;
    app.inbound(6, 105, 12).await;
    app.inbound(7, 106, 12).await;
    let (_, moves) = app.supervisor("POST", "/api/supervisor/rebalance", None).await;
    assert_eq!(moves["moves"], json!([]), "profile {moved} must not bounce back");
    app.stop().await;
});

/// The demo moved to the load tool; a newcomer who types the old command learns the new one.
#[test]
fn switchboard_demo_names_the_load_tools_demo_and_exits_2() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--rate", "5"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cargo run --release -p switchboard-load -- demo"), "{stderr}");
}
