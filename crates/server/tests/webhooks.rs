//! The host events end to end, on SQLite and on PostgreSQL: webhooks to a real receiver
//! (`tests/laravel/receiver.mjs`, which verifies every signature with the npm
//! `standardwebhooks` reference library), retries on the service's manual clock, a hanging,
//! garbage-speaking or absent receiver, supervisors' failed list and retry, restarts and a
//! kill -9 of the real binary, and the feed (`GET /api/events`) with its cursor errors and
//! retention.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use common::{error_code, eventually, external_token, unix_now, Db, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long a test waits for something the service does by itself, in real time.
const PATIENCE: Duration = Duration::from_secs(20);

/// `node receiver.mjs`: a real HTTP receiver, scripted on stdin, reporting on stdout.
struct Receiver {
    _child: Child,
    stdin: ChildStdin,
    requests: mpsc::UnboundedReceiver<Value>,
    port: u16,
}

impl Receiver {
    async fn start() -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/laravel/receiver.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/laravel/receiver.mjs (run `npm ci` in tests/laravel, as scripts/test does)");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the receiver starts")
            .expect("its output")
            .expect("a first line");
        let listening: Value = serde_json::from_str(&first).expect("JSON");
        let port = u16::try_from(listening["listening"].as_u64().expect("a port")).expect("a port");
        let (sender, requests) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(value);
                }
            }
        });
        Receiver { _child: child, stdin, requests, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Queues answers for the next requests (`500`, `hang`, `garbage`, `default 200`).
    async fn script(&mut self, words: &[&str]) {
        for word in words {
            self.stdin.write_all(format!("{word}\n").as_bytes()).await.expect("the receiver reads");
        }
        self.stdin.flush().await.expect("flushed");
        // The receiver reads its stdin between requests; give it the lines before the next one.
        tokio::task::yield_now().await;
    }

    /// The next request the receiver got, checked to carry a valid signature.
    async fn next(&mut self) -> Value {
        let request = tokio::time::timeout(PATIENCE, self.requests.recv())
            .await
            .expect("a webhook request arrives in time")
            .expect("the receiver is running");
        assert_eq!(request["verified"], true, "standardwebhooks refused the signature: {request}");
        assert_eq!(request["content_type"], "application/json", "{request}");
        request
    }

    /// Requests until one of `kind` arrives; returns it and those before it.
    async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let request = self.next().await;
            if request["type"] == kind {
                return (request, before);
            }
            before.push(request);
        }
    }

    /// Asserts that no request arrives for a moment (real time: nothing is due).
    async fn silent(&mut self, moment: Duration) {
        if let Ok(Some(request)) = tokio::time::timeout(moment, self.requests.recv()).await {
            panic!("no webhook was due, yet one came: {request}");
        }
    }
}

fn body(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().expect("a body")).expect("a JSON body")
}

async fn webhook_app(db: Db, url: &str, tweak: impl FnOnce(&mut switchboard::Settings)) -> TestApp {
    let url = url.to_owned();
    TestApp::start_with(db, move |settings| {
        settings.webhooks.url = Some(url);
        settings.webhooks.secret = Some(SECRET.to_owned());
        tweak(settings);
    })
    .await
}

async fn feed(app: &TestApp, query: &str) -> (u16, Value) {
    app.call("GET", &format!("/api/events{query}"), Some(&app.platform.clone()), None).await
}

async fn deliveries(app: &TestApp, status: &str) -> Vec<Value> {
    let (code, value) =
        app.supervisor("GET", &format!("/api/supervisor/webhooks/deliveries?status={status}"), None).await;
    assert_eq!(code, 200, "{value}");
    value["deliveries"].as_array().cloned().unwrap_or_default()
}

async fn health(app: &TestApp) -> Value {
    let (code, value) = app.supervisor("GET", "/api/supervisor/webhooks/health", None).await;
    assert_eq!(code, 200, "{value}");
    value
}

/// Waits until no delivery is pending.
async fn all_delivered(app: &TestApp) {
    eventually("every webhook delivered", PATIENCE, || async { (health(app).await["pending"] == 0).then_some(()) })
        .await;
}

/// A waiting conversation (client 100 on profile 10, message 41) held by moderator 1.
async fn a_waiting_conversation(app: &TestApp) {
    app.directory(&[1], &[10]).await;
    app.inbound(41, 100, 10).await;
    app.connect(1).await;
}

both_backends!(a_reply_arrives_signed_and_the_feed_has_the_same_ids, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    let app = webhook_app(db, &receiver.url(), |_| {}).await;
    a_waiting_conversation(&app).await;
    let (status, sent) = app
        .moderator(
            1,
            "POST",
            "/moderateur/messages",
            Some(json!({"client_id": 100, "profile_id": 10, "body": "bonjour"})),
        )
        .await;
    assert_eq!(status, 201, "{sent}");

    let (reply, earlier) = receiver.until("message.sent").await;
    let reply_body = body(&reply);
    assert_eq!(reply_body["type"], "message.sent");
    let data = &reply_body["data"];
    assert!(data["message_id"].is_u64(), "{data}");
    assert_eq!(
        (&data["client_id"], &data["profile_id"], &data["moderator_id"], &data["body"], &data["in_reply_to"]),
        (&json!(100), &json!(10), &json!(1), &json!("bonjour"), &json!(41)),
        "{data}"
    );
    assert_eq!(data["sent_at"], sent["sent_at"]);
    assert!(reply["id"].as_str().is_some_and(|id| id.starts_with("evt_")), "{reply}");
    all_delivered(&app).await;

    // Every delivered id is in the feed, in commit order, with consecutive sequences.
    let mut received: BTreeSet<String> = earlier.iter().map(|r| r["id"].as_str().unwrap_or("").to_owned()).collect();
    received.insert(reply["id"].as_str().unwrap_or("").to_owned());
    while let Ok(request) = receiver.requests.try_recv() {
        received.insert(request["id"].as_str().unwrap_or("").to_owned());
    }
    let (status, page) = feed(&app, "?after=0&limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().expect("events");
    let sequences: Vec<i64> = events.iter().map(|event| event["sequence"].as_i64().expect("a sequence")).collect();
    assert_eq!(sequences, (1..=sequences.len() as i64).collect::<Vec<_>>(), "consecutive, in commit order");
    let ids: BTreeSet<String> = events.iter().map(|event| event["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(ids, received, "the feed and the webhooks carry the same events");
    let kinds: Vec<&str> = events.iter().filter_map(|event| event["type"].as_str()).collect();
    for kind in [
        "moderator.state_changed",
        "profile.assigned",
        "conversation.assigned",
        "message.sent",
        "conversation.released",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let position = |kind: &str| kinds.iter().position(|k| *k == kind);
    assert!(position("message.sent") < kinds.iter().rposition(|k| *k == "conversation.released"), "{kinds:?}");
    let in_feed = events.iter().find(|event| event["type"] == "message.sent").expect("message.sent");
    assert_eq!(in_feed["id"], reply["id"]);
    assert_eq!(in_feed["data"], reply_body["data"]);
    assert_eq!(in_feed["timestamp"], reply_body["timestamp"]);
    app.stop().await;
});

both_backends!(a_failed_attempt_is_retried_with_the_same_id, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    receiver.script(&["500"]).await;
    let app = webhook_app(db, &receiver.url(), |_| {}).await;
    app.directory(&[1], &[]).await;
    app.connect(1).await; // moderator.state_changed (queued): one event
    let first = receiver.next().await;
    assert_eq!(first["answer"], "500");
    eventually("the failed attempt recorded", PATIENCE, || async {
        let pending = deliveries(&app, "pending").await;
        pending.first().filter(|delivery| delivery["attempts"] == 1).cloned()
    })
    .await;
    let pending = deliveries(&app, "pending").await;
    assert_eq!(pending[0]["last_status"], 500, "{pending:?}");
    assert_eq!(pending[0]["id"], first["id"]);
    receiver.silent(Duration::from_millis(300)).await;

    app.advance(Duration::from_secs(5)); // the first wait of the default schedule
    let second = receiver.next().await;
    assert_eq!(second["id"], first["id"], "a retry carries the same webhook-id");
    assert_eq!(second["body"], first["body"], "and the same body");
    assert_eq!(second["answer"], "200");
    all_delivered(&app).await;
    let (status, metrics) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    for line in [
        "switchboard_webhook_pending 0",
        "switchboard_webhook_delivered_total 1",
        "switchboard_webhook_attempts_failed_total 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }
    app.stop().await;
});

both_backends!(a_hanging_receiver_is_retried_and_blocks_nothing_else, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    receiver.script(&["hang"]).await;
    let app = webhook_app(db, &receiver.url(), |settings| settings.webhooks.timeout = Duration::from_secs(1)).await;
    app.directory(&[1], &[]).await;
    app.connect(1).await;
    let first = receiver.next().await;
    assert_eq!(first["answer"], "hang");
    // While the receiver holds its request, commands and reads complete.
    app.directory(&[2, 3], &[10, 11]).await;
    app.inbound(7, 100, 10).await;
    app.connect(2).await;
    assert_eq!(app.status(2).await["state"], "working");
    // The hanging attempt ends at webhook_timeout (real time, configured short) and is retried.
    let recorded = eventually("the timed-out attempt recorded", PATIENCE, || async {
        deliveries(&app, "pending")
            .await
            .into_iter()
            .find(|delivery| delivery["id"] == first["id"] && delivery["attempts"] == 1)
    })
    .await;
    assert!(recorded["last_error"].as_str().is_some_and(|error| error.contains("no answer within 1s")), "{recorded}");
    app.advance(Duration::from_secs(5));
    let again = loop {
        let request = receiver.next().await;
        if request["id"] == first["id"] {
            break request;
        }
    };
    assert_eq!(again["answer"], "200");
    all_delivered(&app).await;
    app.stop().await;
});

both_backends!(garbage_answers_are_retried, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    receiver.script(&["garbage"]).await;
    let app = webhook_app(db, &receiver.url(), |_| {}).await;
    app.directory(&[1], &[]).await;
    app.connect(1).await;
    let first = receiver.next().await;
    assert_eq!(first["answer"], "garbage");
    let recorded = eventually("the garbled attempt recorded", PATIENCE, || async {
        deliveries(&app, "pending").await.into_iter().find(|delivery| delivery["attempts"] == 1)
    })
    .await;
    assert!(recorded["last_error"].as_str().is_some_and(|e| e.contains("not valid HTTP")), "{recorded}");
    assert_eq!(recorded["last_status"], Value::Null);
    app.advance(Duration::from_secs(5));
    assert_eq!(receiver.next().await["id"], first["id"]);
    all_delivered(&app).await;
    app.stop().await;
});

both_backends!(an_unreachable_receiver_fails_after_the_schedule, |db: Db| async move {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let app = webhook_app(db, &url, |settings| {
        settings.webhooks.retry_schedule = vec![Duration::from_secs(1), Duration::from_secs(2)];
    })
    .await;
    app.directory(&[1], &[]).await;
    app.connect(1).await;
    for attempts in 1..=2 {
        eventually("an attempt recorded", PATIENCE, || async {
            deliveries(&app, "pending").await.into_iter().find(|delivery| delivery["attempts"] == attempts)
        })
        .await;
        app.advance(Duration::from_secs(2));
    }
    let failed = eventually("the delivery marked failed", PATIENCE, || async {
        deliveries(&app, "failed").await.into_iter().next()
    })
    .await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert!(failed["last_error"].as_str().is_some_and(|e| e.contains("could not connect")), "{failed}");
    assert_eq!(health(&app).await["failed"], 1);
    app.stop().await;
});

both_backends!(a_failed_delivery_is_listed_and_retried_by_a_supervisor, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    receiver.script(&["500", "503"]).await;
    let app = webhook_app(db, &receiver.url(), |settings| {
        settings.webhooks.retry_schedule = vec![Duration::from_secs(1)];
    })
    .await;
    app.directory(&[1], &[]).await;
    app.connect(1).await;
    let first = receiver.next().await;
    eventually("the first attempt recorded", PATIENCE, || async {
        deliveries(&app, "pending").await.into_iter().find(|delivery| delivery["attempts"] == 1)
    })
    .await;
    app.advance(Duration::from_secs(1));
    assert_eq!(receiver.next().await["answer"], "503");
    let failed =
        eventually("marked failed", PATIENCE, || async { deliveries(&app, "failed").await.into_iter().next() }).await;
    assert_eq!((&failed["id"], &failed["last_status"], &failed["attempts"]), (&first["id"], &json!(503), &json!(2)));
    assert_eq!(deliveries(&app, "pending").await, Vec::<Value>::new());

    let id = failed["id"].as_str().expect("an id").to_owned();
    let path = format!("/api/supervisor/webhooks/deliveries/{id}/retry");
    let (status, retried) = app.supervisor("POST", &path, None).await;
    assert_eq!((status, &retried["status"]), (200, &json!("pending")), "{retried}");
    let again = receiver.next().await;
    assert_eq!((&again["id"], &again["answer"]), (&first["id"], &json!("200")));
    all_delivered(&app).await;
    assert_eq!(deliveries(&app, "failed").await, Vec::<Value>::new());
    let (status, body) = app.supervisor("POST", &path, None).await;
    assert_eq!((status, error_code(&body)), (409, "conflict"), "already delivered: {body}");
    let (status, body) = app.supervisor("POST", "/api/supervisor/webhooks/deliveries/evt_999/retry", None).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
    for bad in ["abc", "evt_-1", "0", "99999999999999999999"] {
        let (status, body) =
            app.supervisor("POST", &format!("/api/supervisor/webhooks/deliveries/{bad}/retry"), None).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_request"), "{bad}: {body}");
    }
    for bad in ["?status=delivered", "?status=failed&status=pending", "?limit=0", "?limit=1001", "?page=2"] {
        let (status, body) = app.supervisor("GET", &format!("/api/supervisor/webhooks/deliveries{bad}"), None).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_request"), "{bad}: {body}");
    }
    let (status, _) = app.call("GET", "/api/supervisor/webhooks/deliveries", Some(&app.platform.clone()), None).await;
    assert_eq!(status, 403);
    app.stop().await;
});

both_backends!(a_restart_resumes_undelivered_webhooks, |db: Db| async move {
    let mut receiver = Receiver::start().await;
    receiver.script(&["default 500"]).await;
    let app = webhook_app(db, &receiver.url(), |_| {}).await;
    a_waiting_conversation(&app).await;
    let first = receiver.next().await;
    assert_eq!(first["answer"], "500");
    // Everything committed so far has had its first attempt, failed.
    let committed = feed(&app, "?limit=1000").await.1["events"].as_array().cloned().unwrap_or_default();
    eventually("every first attempt recorded", PATIENCE, || async {
        let pending = deliveries(&app, "pending").await;
        (pending.len() == committed.len() && pending.iter().all(|delivery| delivery["attempts"] == 1)).then_some(())
    })
    .await;
    while receiver.requests.try_recv().is_ok() {}
    receiver.script(&["default 200"]).await;

    let mut app = app;
    app.restart().await;
    receiver.silent(Duration::from_millis(300)).await; // not due yet: the schedule survives
    app.advance(Duration::from_secs(5));
    let mut resumed = BTreeSet::new();
    for _ in 0..committed.len() {
        let request = receiver.next().await;
        assert_eq!(request["answer"], "200");
        resumed.insert(request["id"].as_str().unwrap_or("").to_owned());
    }
    let expected: BTreeSet<String> =
        committed.iter().map(|event| event["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(resumed, expected, "the same events, with the same ids, after the restart");
    all_delivered(&app).await;
    app.stop().await;
});

both_backends!(the_feed_pages_in_commit_order_and_refuses_bad_cursors, |db: Db| async move {
    let app = TestApp::start_with(db, |settings| settings.webhooks.event_retention = Duration::from_secs(60)).await;
    a_waiting_conversation(&app).await;
    let (status, all) = feed(&app, "").await;
    assert_eq!(status, 200, "{all}");
    let events = all["events"].as_array().cloned().unwrap_or_default();
    assert!(events.len() >= 3, "{all}");
    // Pages of two, each continuing after the last sequence seen.
    let mut after = 0;
    let mut paged = Vec::new();
    loop {
        let (status, page) = feed(&app, &format!("?after={after}&limit=2")).await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            assert_eq!(page["next_after"], after);
            break;
        }
        assert!(batch.len() <= 2);
        after = page["next_after"].as_i64().expect("next_after");
        paged.extend(batch);
    }
    assert_eq!(paged, events, "paging gives the same events in the same order");
    let (status, beyond) = feed(&app, "?after=1000000").await;
    assert_eq!((status, beyond["events"].as_array().map(Vec::len)), (200, Some(0)), "{beyond}");
    for bad in
        ["?after=-1", "?after=abc", "?after=", "?limit=0", "?limit=1001", "?limit=1.5", "?after=1&after=2", "?from=3"]
    {
        let (status, body) = feed(&app, bad).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_request"), "{bad}: {body}");
    }
    let (status, _) = app.supervisor("GET", "/api/events", None).await;
    assert_eq!(status, 403, "the feed is the platform's");
    // Webhooks are off: nothing is pending, a retry has nothing to deliver to.
    assert_eq!(deliveries(&app, "pending").await, Vec::<Value>::new());
    let (status, body) = app.supervisor("POST", "/api/supervisor/webhooks/deliveries/evt_1/retry", None).await;
    assert_eq!((status, error_code(&body)), (409, "conflict"), "{body}");

    // Past event_retention the old events are pruned: an old cursor is told so.
    app.advance(Duration::from_secs(120)); // (within the tokens' ten minutes)
    app.directory(&[2], &[]).await;
    app.connect(2).await; // a new event, kept
    let (status, expired) = eventually("the old events pruned", PATIENCE, || async {
        let answer = feed(&app, "?after=0").await;
        (answer.0 == 410).then_some(answer)
    })
    .await;
    assert_eq!((status, error_code(&expired)), (410, "cursor_expired"), "{expired}");
    let (_, rest) = feed(&app, &format!("?after={}", events.len() + 100)).await;
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(0));
    let newest = rest["newest_sequence"].as_i64().expect("newest");
    assert!(newest > events.len() as i64, "{rest}");
    let (status, kept) = feed(&app, &format!("?after={}", newest - 1)).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["events"][0]["sequence"], newest);
    app.stop().await;
});

/// The real binary, killed with SIGKILL while a delivery hangs: the new process delivers
/// every committed event, with the ids the feed gives them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_binary_resumes_its_deliveries() {
    let (_directory, url) = switchboard_store::testing::fresh_sqlite_url();
    let mut receiver = Receiver::start().await;
    receiver.script(&["default hang"]).await;
    let jwt = "webhook-crash-secret";
    let token = |role: &str, moderator: Option<u64>| {
        let mut claims = json!({"role": role, "exp": unix_now() + 3600});
        if let Some(id) = moderator {
            claims["sub"] = json!(id.to_string());
        }
        external_token(jwt, &claims)
    };
    let receiver_url = receiver.url();
    let spawn = |port: u16| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATABASE_URL", &url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_JWT_SECRET", jwt)
            .env("SWITCHBOARD_WEBHOOK_URL", &receiver_url)
            .env("SWITCHBOARD_WEBHOOK_SECRET", SECRET)
            .env("SWITCHBOARD_WEBHOOK_TIMEOUT", "60s")
            .env("SWITCHBOARD_WEBHOOK_RETRY_SCHEDULE", "1s")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the switchboard binary starts")
    };
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let client = reqwest::Client::new();
    let ready = |base: String| {
        let client = client.clone();
        async move {
            eventually("the binary to be ready", Duration::from_secs(60), || {
                let request = client.get(format!("{base}/ready")).send();
                async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
            })
            .await;
        }
    };

    let port = free_port();
    let mut first = spawn(port);
    let base = format!("http://127.0.0.1:{port}");
    ready(base.clone()).await;
    let platform = token("platform", None);
    for (path, body) in
        [("/api/moderators/1", json!({"name": "Ada"})), ("/api/profiles/10", json!({"name": "Léa", "active": true}))]
    {
        let response =
            client.put(format!("{base}{path}")).bearer_auth(&platform).json(&body).send().await.expect("sent");
        assert_eq!(response.status(), 200);
    }
    let message = json!({"message_id": 41, "client_id": 100, "profile_id": 10, "body": "hello"});
    let response =
        client.post(format!("{base}/api/messages")).bearer_auth(&platform).json(&message).send().await.expect("sent");
    assert_eq!(response.status(), 202);
    let response = client
        .post(format!("{base}/moderateur/connect"))
        .bearer_auth(token("moderator", Some(1)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let hanging = receiver.next().await;
    assert_eq!(hanging["answer"], "hang");
    let page: Value = client
        .get(format!("{base}/api/events?limit=1000"))
        .bearer_auth(&platform)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let committed: BTreeSet<String> =
        page["events"].as_array().expect("events").iter().map(|e| e["id"].as_str().unwrap_or("").to_owned()).collect();
    assert!(committed.contains(hanging["id"].as_str().unwrap_or("")));
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    while receiver.requests.try_recv().is_ok() {}
    receiver.script(&["default 200"]).await;

    let port = free_port();
    let mut second = spawn(port);
    ready(format!("http://127.0.0.1:{port}")).await;
    // Every event committed before the kill is delivered, with the id the feed gave it (the
    // new process may add events of its own).
    let mut delivered = BTreeSet::new();
    while !committed.is_subset(&delivered) {
        let request = receiver.next().await;
        if request["answer"] == "200" {
            delivered.insert(request["id"].as_str().unwrap_or("").to_owned());
        }
    }
    second.kill().expect("SIGKILL");
    let _ = second.wait();
}

/// In a cluster only the writer delivers: a standby reads the same `host_events`, and if it
/// delivered too, events would go out twice. The writer's receiver hangs, so the reply's
/// delivery is pending and due when the standby starts, which a delivering standby would
/// pick up at once (its first look).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_delivers_nothing() {
    let mut receiver = Receiver::start().await;
    let mut standby_receiver = Receiver::start().await;
    let app = webhook_app(Db::Postgres, &receiver.url(), |settings| {
        settings.cluster.node_name = Some("writer".to_owned());
    })
    .await;
    receiver.script(&["default hang"]).await;
    a_waiting_conversation(&app).await;
    let (status, sent) = app
        .moderator(1, "POST", "/moderateur/messages", Some(json!({"client_id": 100, "profile_id": 10, "body": "hi"})))
        .await;
    assert_eq!(status, 201, "{sent}");
    receiver.until("message.sent").await;
    assert!(health(&app).await["pending"].as_u64().is_some_and(|pending| pending > 0), "deliveries stay pending");

    let standby_url = standby_receiver.url();
    let standby = app
        .start_beside(|settings| {
            settings.cluster.node_name = Some("standby".to_owned());
            settings.webhooks.url = Some(standby_url);
        })
        .await;
    let (status, ready) = standby.call("GET", "/ready?role=writer", None, None).await;
    assert_eq!(status, 429, "the second node is a standby: {ready}");
    // The standby's task looks every 100 ms: a second of silence is ten chances to deliver.
    standby_receiver.silent(Duration::from_secs(1)).await;
    standby.stop().await;
}
