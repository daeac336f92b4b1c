//! A real server on 127.0.0.1, port 0, for the integration tests: the Pusher route, an
//! example `/broadcasting/auth` that allows `private-allowed.*` to the bearer token
//! `test-token` and refuses everything else, and a recorder of subscription changes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap};
use axum::Router;
use switchboard_pusher::{AuthDenied, PusherConfig, Realtime, SubscriptionChange};
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub const APP_KEY: &str = "278d425bdf160c739803";
pub const APP_SECRET: &str = "7ad3773142a6692b25b8";
pub const BEARER_TOKEN: &str = "test-token";

pub struct TestServer {
    pub address: SocketAddr,
    pub realtime: Realtime,
    pub changes: ChangeLog,
}

/// Every subscription change the hook saw, in order, and a way to await the next one.
#[derive(Clone, Default)]
pub struct ChangeLog {
    changes: Arc<Mutex<Vec<SubscriptionChange>>>,
    recorded: Arc<Notify>,
}

impl ChangeLog {
    fn record(&self, change: SubscriptionChange) {
        self.changes.lock().expect("not poisoned").push(change);
        self.recorded.notify_waiters();
    }

    pub fn all(&self) -> Vec<SubscriptionChange> {
        self.changes.lock().expect("not poisoned").clone()
    }

    /// Waits until the log holds a change matching `predicate`.
    pub async fn wait_for(&self, predicate: impl Fn(&SubscriptionChange) -> bool) {
        loop {
            let recorded = self.recorded.notified();
            tokio::pin!(recorded);
            recorded.as_mut().enable();
            if self.all().iter().any(&predicate) {
                return;
            }
            recorded.await;
        }
    }
}

pub fn config() -> PusherConfig {
    PusherConfig::new("1", APP_KEY, APP_SECRET)
}

pub async fn spawn_server(config: PusherConfig) -> TestServer {
    let changes = ChangeLog::default();
    let recorder = changes.clone();
    let realtime = Realtime::builder(config)
        .subscription_hook(Arc::new(move |change| recorder.record(change)))
        .build()
        .expect("a valid configuration");
    let app: Router = Router::new()
        .merge(realtime.router())
        .route("/broadcasting/auth", realtime.authorization_handler(example_authorization));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port on the loopback interface");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the test server runs");
    });
    TestServer { address, realtime, changes }
}

/// What the service will do with roles, reduced to one token and one channel family.
fn example_authorization(headers: &HeaderMap, channel: &str) -> Result<(), AuthDenied> {
    let expected = format!("Bearer {BEARER_TOKEN}");
    let presented = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if presented != Some(expected.as_str()) {
        return Err(AuthDenied::new("a valid bearer token is required"));
    }
    if channel.starts_with("private-allowed.") {
        Ok(())
    } else {
        Err(AuthDenied::new("this token may not subscribe to that channel"))
    }
}
