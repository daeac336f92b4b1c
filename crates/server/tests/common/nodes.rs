//! Real `switchboard serve` processes for the tests that drive a cluster (`cluster.rs`,
//! `postgres_restart.rs`): a node on a free port, killed when its handle is dropped, and the
//! small figures those tests print.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port nothing listens on right now (another process may take it before it is used).
pub fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("an address").port()
}

/// One `switchboard serve` process.
pub struct Node {
    pub child: Child,
    pub base: String,
}

impl Node {
    /// Starts a node on `database_url` named `name`, its stderr appended to `log`.
    pub fn spawn(database_url: &str, secret: &str, name: &str, lease: &str, log: &Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATABASE_URL", database_url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_JWT_SECRET", secret)
            .env("SWITCHBOARD_NODE_NAME", name)
            .env("SWITCHBOARD_LEADER_LEASE", lease)
            .env("RUST_LOG", "warn,switchboard_store=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the switchboard binary starts");
        Node { child, base: format!("http://127.0.0.1:{port}") }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|status| status.success()), "kill -{signal}");
    }
}

impl Drop for Node {
    /// Also when an assertion fails mid-test: no process outlives its test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of a GET of `url`; `None` when no answer came.
pub async fn status(client: &reqwest::Client, url: &str) -> Option<u16> {
    client.get(url).send().await.ok().map(|response| response.status().as_u16())
}

/// Which of `bases` (index, base URL) is the one writer: the only one answering
/// `/ready?role=writer` 200 while every other answers 429. `None` while that is not so.
pub async fn sole_writer<'a>(
    client: &reqwest::Client,
    bases: impl IntoIterator<Item = (usize, &'a str)>,
) -> Option<usize> {
    let mut writers = Vec::new();
    for (index, base) in bases {
        match status(client, &format!("{base}/ready?role=writer")).await {
            Some(200) => writers.push(index),
            Some(429) => {}
            _ => return None,
        }
    }
    (writers.len() == 1).then(|| writers[0])
}

/// The cluster tests' verdict on storage: every acknowledged message id stored exactly once,
/// and the batch log's epochs only grew (one grant each) with no epoch committing after the
/// next one was granted. Returns how many message ids are stored.
pub async fn assert_stored_once_and_fenced<'a>(
    store: &switchboard_store::Store,
    acknowledged: impl IntoIterator<Item = &'a u64>,
) -> usize {
    let integer = |sql: &'static str| async move {
        let values = store.query_integers(sql).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
        values.first().copied().unwrap_or(0)
    };
    let stored =
        store.query_integers("SELECT message_id FROM messages WHERE message_id IS NOT NULL").await.expect("stored ids");
    let stored_set: std::collections::BTreeSet<u64> = stored.iter().map(|id| *id as u64).collect();
    assert_eq!(stored.len(), stored_set.len(), "no message stored twice");
    let lost: Vec<&u64> = acknowledged.into_iter().filter(|id| !stored_set.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(integer("SELECT max(epoch) - count(*) FROM writer_epochs").await, 0, "one grant per epoch");
    let late = integer(
        "SELECT count(*) FROM writer_epochs old JOIN writer_epochs new ON new.epoch = old.epoch + 1 \
         WHERE old.last_commit_at >= new.acquired_at",
    )
    .await;
    assert_eq!(late, 0, "an epoch committed after the next epoch was granted");
    stored_set.len()
}

/// The value at `fraction` (0.5: the median) of durations sorted ascending.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// The machine's load averages, printed beside each figure (the machine is shared).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".to_owned(), |text| text.trim().to_owned())
}
