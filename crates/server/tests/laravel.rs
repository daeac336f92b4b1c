//! The Laravel package (`integrations/laravel`, composer `switchboard/laravel`) against the
//! real binary: starts `switchboard serve` on a fresh SQLite file and a free port, has the
//! npm `standardwebhooks` reference library sign the webhook fixtures
//! (`tests/laravel/sign.mjs`), then runs the package's phpunit suite with the service's
//! URL and secrets in its environment, and fails with phpunit's output if anything fails.
//!
//! Needs Debian's `php-cli`, `phpunit`, `php-laravel-framework` and
//! `php-guzzlehttp-guzzle`, Node.js and `npm ci --prefix crates/server/tests/laravel`;
//! fails, never skips, without them.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::eventually;

const JWT_SECRET: &str = "laravel-test-secret-shared-with-the-platform";
const PUSHER_APP_KEY: &str = "laravel-test-app-key";
const PUSHER_APP_SECRET: &str = "laravel-test-app-secret";
const PHP_HINT: &str = "install Debian's php-cli, phpunit, php-laravel-framework and php-guzzlehttp-guzzle \
                        (apt-get install php-cli phpunit php-laravel-framework php-guzzlehttp-guzzle)";
const NODE_HINT: &str = "run `npm ci --prefix crates/server/tests/laravel` (Node.js 20.19 or later)";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("laravel")
}

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integrations/laravel")
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
}

impl Service {
    async fn start(database_url: &str, log: &Path) -> Service {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("an address").port()
        };
        let log = std::fs::File::create(log).expect("the service's log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATABASE_URL", database_url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_JWT_SECRET", JWT_SECRET)
            .env("SWITCHBOARD_PUSHER_APP_KEY", PUSHER_APP_KEY)
            .env("SWITCHBOARD_PUSHER_APP_SECRET", PUSHER_APP_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the switchboard binary starts");
        let service = Service { child, base: format!("http://127.0.0.1:{port}") };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_laravel_package_passes_its_phpunit_suite_against_the_binary() {
    require_program("php", PHP_HINT);
    require_program("phpunit", PHP_HINT);
    let (directory, database_url) = switchboard_store::testing::fresh_sqlite_url();
    let fixtures = directory.path().join("webhook-fixtures.json");
    sign_fixtures(&fixtures);
    let log = directory.path().join("switchboard.log");
    let service = Service::start(&database_url, &log).await;

    let mut phpunit = Command::new("phpunit");
    phpunit
        .arg("--configuration")
        .arg("phpunit.xml")
        .current_dir(package_dir())
        .env("SWITCHBOARD_URL", &service.base)
        .env("SWITCHBOARD_JWT_SECRET", JWT_SECRET)
        .env("SWITCHBOARD_PUSHER_APP_KEY", PUSHER_APP_KEY)
        .env("SWITCHBOARD_PUSHER_APP_SECRET", PUSHER_APP_SECRET)
        .env("SWITCHBOARD_WEBHOOK_FIXTURES", &fixtures);
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
