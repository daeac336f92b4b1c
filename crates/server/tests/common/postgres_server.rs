//! A PostgreSQL server of the test's own, for a test that stops and restarts it
//! (`postgres_restart.rs`): the shared server on 127.0.0.1:5432 must never be touched.
//!
//! `initdb` into a temporary directory, then `postgres` in the foreground on a free port of
//! 127.0.0.1 with its socket in the same directory. PostgreSQL refuses to run as root, and
//! the tests run as root on the CI machine: there every PostgreSQL program runs as the
//! `postgres` OS user (through `setpriv`, or `runuser` where `setpriv` cannot), and the
//! directory is given to that user. Whatever is missing, the test fails saying what: it
//! never skips. The server is shut down (immediately) when the value is dropped, also when
//! an assertion fails.
//!
//! The binaries are found under `/usr/lib/postgresql/<version>/bin` (the highest version
//! with `initdb` and `postgres`), or in `SWITCHBOARD_TEST_POSTGRES_BIN`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::nodes::free_port;

/// How PostgreSQL's own programs are run.
#[derive(Clone, Copy, Debug)]
enum RunAs {
    /// Not root: as the test's own user.
    Current,
    /// Root: `setpriv --reuid=postgres ...` (execs: the child is PostgreSQL itself).
    Setpriv,
    /// Root, without a working `setpriv`: `runuser -u postgres --`.
    Runuser,
}

/// How to stop the server: the signals `pg_ctl stop -m fast` and `-m immediate` send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// SIGINT: sessions are ended, open transactions rolled back, a checkpoint written.
    Fast,
    /// SIGQUIT: every process exits at once; the next start replays the WAL (crash recovery).
    Immediate,
}

impl Shutdown {
    fn signal(self) -> &'static str {
        match self {
            Shutdown::Fast => "INT",
            Shutdown::Immediate => "QUIT",
        }
    }
}

/// A running (or stopped) PostgreSQL server on its own data directory and port.
pub struct PostgresServer {
    bin: PathBuf,
    run_as: RunAs,
    /// Holds the data directory, the socket and the server's log; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PostgresServer {
    /// `initdb`, then starts the server and waits until it accepts connections.
    pub async fn start() -> PostgresServer {
        let bin = bin_dir();
        let run_as = run_as();
        let dir = tempfile::Builder::new().prefix("switchboard-postgres-").tempdir().expect("a temporary directory");
        if !matches!(run_as, RunAs::Current) {
            let status = Command::new("chown").arg("postgres:").arg(dir.path()).status();
            assert!(
                status.is_ok_and(|status| status.success()),
                "could not give {} to the postgres OS user (chown postgres:)",
                dir.path().display()
            );
        }
        let mut server = PostgresServer { bin, run_as, dir, port: free_port(), child: None };
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(server.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", server.bin.join("initdb").display()));
        assert!(
            output.status.success(),
            "initdb failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        server.spawn();
        server.wait_until_accepting(Duration::from_secs(60)).await;
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log (its stderr), for failure messages.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's programs, run as the user PostgreSQL accepts.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.run_as {
            RunAs::Current => Command::new(program),
            RunAs::Setpriv => {
                let mut command = Command::new("setpriv");
                command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
                command
            }
            RunAs::Runuser => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
        }
    }

    /// Starts the server (in the foreground, as this process's child) on the data directory
    /// and port it was made with. Returns at once: see [`PostgresServer::wait_until_accepting`].
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log()).expect("the server's log");
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.bin.join("postgres").display()));
        self.child = Some(child);
    }

    /// Polls `pg_isready` until the server accepts connections (after crash recovery, if
    /// any); returns how long it took.
    pub async fn wait_until_accepting(&mut self, deadline: Duration) -> Duration {
        let started = Instant::now();
        let pg_isready = self.bin.join("pg_isready");
        loop {
            let status = tokio::process::Command::new(&pg_isready)
                .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-t", "1", "-p"])
                .arg(self.port.to_string())
                .status()
                .await
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", pg_isready.display()));
            if status.success() {
                return started.elapsed();
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("PostgreSQL exited at start ({status}); its log: {}", self.tail_of_log());
                }
            }
            assert!(
                started.elapsed() < deadline,
                "PostgreSQL did not accept connections on port {} within {deadline:?}; its log: {}",
                self.port,
                self.tail_of_log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server as `pg_ctl stop -m fast|immediate` does (the signal to the
    /// postmaster) and polls until it has exited; returns how long that took.
    pub async fn stop(&mut self, how: Shutdown, deadline: Duration) -> Duration {
        let started = Instant::now();
        let pid = self.postmaster_pid().expect("a running server has a postmaster.pid");
        let status = Command::new("kill").arg(format!("-{}", how.signal())).arg(pid.to_string()).status();
        assert!(status.is_ok_and(|status| status.success()), "kill -{} {pid}", how.signal());
        let child = self.child.as_mut().expect("a running server");
        loop {
            if child.try_wait().expect("the server's status").is_some() {
                self.child = None;
                return started.elapsed();
            }
            assert!(started.elapsed() < deadline, "PostgreSQL did not exit within {deadline:?} of SIGINT/SIGQUIT");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The postmaster's process id, from the first line of `postmaster.pid`.
    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn tail_of_log(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PostgresServer {
    /// An immediate shutdown, then SIGKILL if it is not gone within 10 s: no server outlives
    /// its test (the directory is removed after it).
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = self.postmaster_pid();
        if let Some(pid) = pid {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.to_string()).status();
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(pid) = pid {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `SWITCHBOARD_TEST_POSTGRES_BIN`, or the highest `/usr/lib/postgresql/<version>/bin`
/// holding `initdb` and `postgres`.
fn bin_dir() -> PathBuf {
    let usable = |dir: &Path| ["initdb", "postgres", "pg_isready"].iter().all(|program| dir.join(program).is_file());
    if let Ok(dir) = std::env::var("SWITCHBOARD_TEST_POSTGRES_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            usable(&dir),
            "SWITCHBOARD_TEST_POSTGRES_BIN={} holds no initdb, postgres and pg_isready",
            dir.display()
        );
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let dir = entry.path().join("bin");
            usable(&dir).then_some((version, dir))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!(
            "this test runs a PostgreSQL server of its own and needs the server's programs \
             (initdb, postgres): none under /usr/lib/postgresql/*/bin. Install Debian's \
             `postgresql` package (scripts/test does) or set SWITCHBOARD_TEST_POSTGRES_BIN."
        )
    })
}

/// Root runs PostgreSQL as the `postgres` OS user; anyone else as themselves.
fn run_as() -> RunAs {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|line| line.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().next());
    if uid != Some("0") {
        return RunAs::Current;
    }
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if works("setpriv", &["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]) {
        RunAs::Setpriv
    } else if works("runuser", &["-u", "postgres", "--"]) {
        RunAs::Runuser
    } else {
        panic!(
            "this test runs as root, and PostgreSQL refuses to run as root: it runs PostgreSQL as \
             the `postgres` OS user, through `setpriv` or `runuser` (util-linux). Neither could \
             run a command as `postgres`: create that user (Debian's `postgresql` package does) \
             and install util-linux, or run the tests as another user."
        )
    }
}
