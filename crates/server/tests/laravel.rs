//! The Laravel package (`integrations/laravel`, composer `switchboard/laravel`) against the
//! real binary: starts `switchboard serve` on a fresh SQLite file and a free port, has the
//! npm `standardwebhooks` reference library sign the webhook fixtures
//! (`tests/laravel/sign.mjs`), then runs the package's phpunit suite with the service's
//! URL and secrets in its environment, and fails with phpunit's output if anything fails.
//!
//! The suite's `end-to-end` group runs apart, in
//! `a_laravel_broadcast_reaches_a_pusher_js_subscriber`: the host's `/broadcasting/auth`
//! (Laravel's own route on the package's driver, under `php -S`) authorises a real
//! pusher-js/Echo subscriber (`tests/js/client.mjs`) on a host channel, phpunit has Laravel
//! broadcast to it through the service's Pusher HTTP API, and this test checks what the
//! subscriber received.
//!
//! Needs Debian's `php-cli`, `phpunit`, `php-laravel-framework` and
//! `php-guzzlehttp-guzzle`, Node.js, `npm ci --prefix crates/server/tests/laravel` and
//! `npm ci --prefix crates/server/tests/js`; fails, never skips, without them.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::eventually;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

const JWT_SECRET: &str = "laravel-test-secret-shared-with-the-platform";
const PUSHER_APP_ID: &str = "4711";
const PUSHER_APP_KEY: &str = "laravel-test-app-key";
const PUSHER_APP_SECRET: &str = "laravel-test-app-secret";
const PHP_HINT: &str = "install Debian's php-cli, phpunit, php-laravel-framework and php-guzzlehttp-guzzle \
                        (apt-get install php-cli phpunit php-laravel-framework php-guzzlehttp-guzzle)";
const NODE_HINT: &str = "run `npm ci --prefix crates/server/tests/laravel` (Node.js 20.19 or later)";
const CLIENT_HINT: &str = "run `npm ci --prefix crates/server/tests/js` (Node.js 20.19 or later)";
/// phpunit's group that needs a subscriber on the line (`BroadcastEndToEndTest`).
const END_TO_END_GROUP: &str = "end-to-end";
/// A safety net against a hung process, not a synchronisation: every step is awaited.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("laravel")
}

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integrations/laravel")
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("js")
}

fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("an address").port()
}

/// Runs `program --version`; panics with one sentence saying what to install.
fn require_program(program: &str, hint: &str) {
    match Command::new(program).arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => panic!("`{program}` is not on PATH: {hint}, then run the test again."),
    }
}

/// The real binary, serving on its own port until dropped.
struct Service {
    child: Child,
    base: String,
    port: u16,
}

impl Service {
    async fn start(database_url: &str, log: &Path) -> Service {
        let port = free_port();
        let log = std::fs::File::create(log).expect("the service's log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATABASE_URL", database_url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_JWT_SECRET", JWT_SECRET)
            .env("SWITCHBOARD_PUSHER_APP_ID", PUSHER_APP_ID)
            .env("SWITCHBOARD_PUSHER_APP_KEY", PUSHER_APP_KEY)
            .env("SWITCHBOARD_PUSHER_APP_SECRET", PUSHER_APP_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the switchboard binary starts");
        let service = Service { child, base: format!("http://127.0.0.1:{port}"), port };
        let client = reqwest::Client::new();
        let ready = format!("{}/ready", service.base);
        eventually("the service to be ready", Duration::from_secs(60), || {
            let request = client.get(&ready).send();
            async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
        })
        .await;
        service
    }
}

impl Drop for Service {
    /// Also when an assertion fails: no service outlives its test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Fixtures signed by the reference library, written to `path`.
fn sign_fixtures(path: &Path) {
    require_program("node", NODE_HINT);
    assert!(
        fixtures_dir().join("node_modules/standardwebhooks/package.json").exists(),
        "the npm package standardwebhooks is missing: {NODE_HINT}"
    );
    let output = Command::new("node").arg("sign.mjs").current_dir(fixtures_dir()).output().expect("node runs");
    assert!(output.status.success(), "sign.mjs failed:\n{}", text(&output));
    std::fs::write(path, &output.stdout).expect("the fixtures are written");
}

/// phpunit on the package, with the service's URL and secrets in its environment.
fn phpunit(service: &Service) -> Command {
    let mut phpunit = Command::new("phpunit");
    phpunit
        .arg("--configuration")
        .arg("phpunit.xml")
        .current_dir(package_dir())
        .env("SWITCHBOARD_URL", &service.base)
        .env("SWITCHBOARD_JWT_SECRET", JWT_SECRET)
        .env("SWITCHBOARD_PUSHER_APP_ID", PUSHER_APP_ID)
        .env("SWITCHBOARD_PUSHER_APP_KEY", PUSHER_APP_KEY)
        .env("SWITCHBOARD_PUSHER_APP_SECRET", PUSHER_APP_SECRET);
    phpunit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_laravel_package_passes_its_phpunit_suite_against_the_binary() {
    require_program("php", PHP_HINT);
    require_program("phpunit", PHP_HINT);
    let (directory, database_url) = switchboard_store::testing::fresh_sqlite_url();
    let fixtures = directory.path().join("webhook-fixtures.json");
    sign_fixtures(&fixtures);
    let log = directory.path().join("switchboard.log");
    let service = Service::start(&database_url, &log).await;

    let mut phpunit = phpunit(&service);
    phpunit.args(["--exclude-group", END_TO_END_GROUP]).env("SWITCHBOARD_WEBHOOK_FIXTURES", &fixtures);
    let output =
        tokio::task::spawn_blocking(move || phpunit.output()).await.expect("phpunit's task").expect("phpunit runs");
    drop(service);

    assert!(
        output.status.success(),
        "the Laravel package's phpunit suite failed:\n{}\nthe service's log:\n{}",
        text(&output),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // A suite that ran nothing also exits 0: insist that it ran.
    let report = text(&output);
    assert!(report.contains("OK ("), "phpunit reported no passing run:\n{report}");
    // Shown with `--nocapture`: how much of the package ran.
    println!("{}", report.lines().rfind(|line| line.starts_with("OK (")).unwrap_or_default());
}

/// The host's `/broadcasting/auth`: Laravel's own route on the package's driver
/// (`tests/Support/broadcasting-auth.php`) under PHP's built-in server, until dropped.
struct HostAuth {
    child: Child,
    url: String,
}

impl HostAuth {
    async fn start(service: &Service) -> HostAuth {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new("php")
            .args(["-S", &address, "tests/Support/broadcasting-auth.php"])
            .current_dir(package_dir())
            .env("SWITCHBOARD_URL", &service.base)
            .env("SWITCHBOARD_PUSHER_APP_ID", PUSHER_APP_ID)
            .env("SWITCHBOARD_PUSHER_APP_KEY", PUSHER_APP_KEY)
            .env("SWITCHBOARD_PUSHER_APP_SECRET", PUSHER_APP_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("php -S does not start: {error}; {PHP_HINT}"));
        let auth = HostAuth { child, url: format!("http://{address}/broadcasting/auth") };
        eventually("php -S to listen", STEP_TIMEOUT, || {
            let connected = std::net::TcpStream::connect(&address).is_ok();
            async move { connected.then_some(()) }
        })
        .await;
        auth
    }
}

impl Drop for HostAuth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Laravel Echo 2 subscriber on pusher-js 8 (`tests/js/client.mjs`), authorised by the
/// host's `/broadcasting/auth`, reporting what it sees as JSON lines.
struct Subscriber {
    _child: tokio::process::Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl Subscriber {
    async fn start(service: &Service, auth: &HostAuth) -> Subscriber {
        require_program("node", CLIENT_HINT);
        for package in ["pusher-js", "laravel-echo"] {
            assert!(
                clients_dir().join("node_modules").join(package).join("package.json").exists(),
                "{package} is missing: {CLIENT_HINT}"
            );
        }
        // No bearer token: the host's endpoint knows its user from its own session.
        let args = [
            service.port.to_string(),
            PUSHER_APP_KEY.to_owned(),
            "none".to_owned(),
            format!("--auth-endpoint={}", auth.url),
        ];
        let mut child = common::spawn_node(&clients_dir(), "client.mjs", args, CLIENT_HINT);
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut subscriber = Subscriber { _child: child, stdin, lines, seen: Vec::new() };
        subscriber.wait(|line| line["step"] == "ready", "ready").await;
        subscriber
    }

    async fn send(&mut self, command: Value) {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("subscriber stdin");
    }

    /// Reads lines until one matches `matches` (all are kept in `seen`).
    async fn wait(&mut self, matches: impl Fn(&Value) -> bool, what: &str) -> Value {
        if let Some(line) = self.seen.iter().find(|line| matches(line)) {
            return line.clone();
        }
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; the subscriber saw {:#?}", self.seen))
                .expect("subscriber stdout")
                .unwrap_or_else(|| panic!("the subscriber exited while waiting for {what}; it saw {:#?}", self.seen));
            let value: Value = serde_json::from_str(&line).unwrap_or(json!({"step": "text", "text": line}));
            assert_ne!(value["step"], "stuck", "the subscriber gave up; it saw {:#?}", self.seen);
            self.seen.push(value.clone());
            if matches(&value) {
                return value;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laravel_broadcast_reaches_a_pusher_js_subscriber() {
    require_program("php", PHP_HINT);
    require_program("phpunit", PHP_HINT);
    let (directory, database_url) = switchboard_store::testing::fresh_sqlite_url();
    let log = directory.path().join("switchboard.log");
    let service = Service::start(&database_url, &log).await;
    let auth = HostAuth::start(&service).await;
    let mut subscriber = Subscriber::start(&service, &auth).await;

    // The buyer of order 5 follows its channel; the host's channel rule refuses order 6.
    subscriber.send(json!({"op": "private", "channel": "orders.5", "events": ["OrderShipped"]})).await;
    subscriber.send(json!({"op": "private", "channel": "orders.6", "events": ["OrderShipped"]})).await;
    subscriber
        .wait(|line| line["step"] == "subscribed" && line["channel"] == "orders.5", "the subscription to orders.5")
        .await;
    let refused = subscriber
        .wait(|line| line["step"] == "subscription_error" && line["channel"] == "orders.6", "the refusal of orders.6")
        .await;
    assert_eq!(refused["status"], 403, "the host's channel rule refuses order 6: {refused}");

    let mut phpunit = phpunit(&service);
    phpunit.args(["--group", END_TO_END_GROUP]);
    let output =
        tokio::task::spawn_blocking(move || phpunit.output()).await.expect("phpunit's task").expect("phpunit runs");
    let report = text(&output);
    assert!(
        output.status.success() && report.contains("OK (3 tests"),
        "the end-to-end group failed or did not run its 3 tests:\n{report}\nthe service's log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Echo listens for `OrderShipped` in its default namespace `App\Events`, the name
    // Laravel broadcast the event under; the data is the event's public properties.
    let event = subscriber.wait(|line| line["step"] == "event", "the broadcast OrderShipped").await;
    assert_eq!(
        event,
        json!({"step": "event", "channel": "orders.5", "name": "OrderShipped",
               "data": {"orderId": 5, "note": "Shipped with café ☕ & <care>"}}),
        "the subscriber saw {:#?}",
        subscriber.seen
    );
    // The refused publishes (413 on this channel) were made first: had one gone through,
    // it would have arrived before the accepted one.
    let events = subscriber.seen.iter().filter(|line| line["step"] == "event").count();
    assert_eq!(events, 1, "only the accepted broadcast arrives: {:#?}", subscriber.seen);
    drop(subscriber);
    drop(auth);
    drop(service);
}
