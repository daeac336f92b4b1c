//! A `redis-server` of the test's own for the cluster tests (`fanout.rs`, `cluster.rs`): on a
//! free port, keeping nothing on disk, killed when its handle is dropped (as a crash would:
//! no goodbye to its clients) and startable again on the same port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually;
use super::nodes::free_port;

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts it and waits until it answers PING.
    pub async fn start() -> RedisServer {
        let mut server = RedisServer { child: None, port: free_port(), dir: tempfile::tempdir().expect("a dir") };
        server.restart().await;
        server
    }

    /// Starts it again on the same port (after [`RedisServer::kill`]) and waits for it.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start redis-server ({error}): install it (`apt-get install -y redis-server`)")
            });
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        eventually("redis-server to answer PING", Duration::from_secs(20), || {
            let address = address.clone();
            async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
                stream.write_all(b"PING\r\n").await.ok()?;
                let mut answer = [0u8; 7];
                stream.read_exact(&mut answer).await.ok()?;
                (&answer == b"+PONG\r\n").then_some(())
            }
        })
        .await;
    }

    /// `redis_url` for the nodes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: its connections drop at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
