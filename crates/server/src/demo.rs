//! `switchboard demo`: the service as `serve` starts it, on a throwaway SQLite database
//! (unless a database URL is given), with a populated directory and simulated moderators
//! and clients (`switchboard-load`'s simulation, in-process, at a gentle rate, through the
//! service's own HTTP API and Pusher socket), so the console and the dashboard are alive
//! within seconds of starting.
//!
//! It never bypasses the API: the simulation is an ordinary client of the service it starts.

use std::time::Duration;

use anyhow::Context as _;
use switchboard_engine::ModeratorId;
use switchboard_load::simulation::default_first_message_id;
use switchboard_load::{LoadConfig, Progress, Simulation};
use tokio::net::TcpListener;

use crate::app::{redact, Server};
use crate::auth::Caller;
use crate::config::Settings;

/// How long the tokens printed by the demo stay valid.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
/// How many simulated moderators the banner prints console links for.
pub const WATCHED_MODERATORS: u64 = 2;

/// What the demo populates and simulates.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Keep the data here instead of a throwaway SQLite file.
    pub database_url: Option<String>,
    pub moderators: u64,
    pub profiles: u64,
    pub clients: u64,
    /// Client messages per second, all clients together.
    pub rate_per_second: f64,
    /// Mean time a simulated moderator thinks before replying.
    pub think_time: Duration,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            database_url: None,
            moderators: 12,
            profiles: 30,
            clients: 200,
            rate_per_second: 2.0,
            think_time: Duration::from_secs(4),
            seed: 7,
        }
    }
}

/// A running demo: the service and its simulated users.
pub struct Demo {
    pub server: Server,
    simulation: Option<Simulation>,
    options: DemoOptions,
    database_url: String,
    /// Removed (with the database) when the demo is dropped.
    _directory: Option<tempfile::TempDir>,
}

/// Starts the service on `listener` with `settings` (its database replaced as the options
/// say), registers the directory and starts the simulation. Returns once the simulated
/// moderators are connected and the clients have begun writing.
///
/// # Errors
/// The temporary directory, the service or the simulation could not start.
pub async fn start(mut settings: Settings, listener: TcpListener, options: DemoOptions) -> anyhow::Result<Demo> {
    let directory = match &options.database_url {
        Some(url) => {
            settings.database_url = url.clone();
            None
        }
        None => {
            let directory = tempfile::Builder::new()
                .prefix("switchboard-demo-")
                .tempdir()
                .context("cannot create a temporary directory for the demo database")?;
            settings.database_url = format!("sqlite://{}", directory.path().join("demo.db").display());
            Some(directory)
        }
    };
    let database_url = settings.database_url.clone();
    let server = crate::start(settings, listener).await?;
    let config = LoadConfig {
        url: server.base_url(),
        jwt_secret: Some(server.credentials.jwt_secret.clone()),
        app_key: Some(server.credentials.pusher_app_key.clone()),
        moderators: options.moderators,
        profiles: options.profiles,
        clients: options.clients,
        rate_per_second: options.rate_per_second,
        think_time: options.think_time,
        seed: options.seed,
        idle_probability: 0.05,
        idle_time: Duration::from_secs(15),
        break_probability: 0.03,
        break_time: Duration::from_secs(20),
        register_directory: true,
        first_message_id: default_first_message_id(),
        connect_concurrency: 8,
        max_in_flight: 16,
        ..LoadConfig::default()
    };
    let simulation = match Simulation::start(config).await {
        Ok(simulation) => simulation,
        Err(error) => {
            let _ = server.shutdown().await;
            return Err(error.context("the demo's simulation could not start"));
        }
    };
    Ok(Demo { server, simulation: Some(simulation), options, database_url, _directory: directory })
}

impl Demo {
    /// The simulation's figures so far (assignments received, replies, errors).
    #[must_use]
    pub fn progress(&self) -> Progress {
        self.simulation.as_ref().map(Simulation::progress).unwrap_or_default()
    }

    /// A supervisor token for the dashboard.
    ///
    /// # Errors
    /// Signing failed (it does not with HS256).
    pub fn supervisor_token(&self) -> anyhow::Result<String> {
        self.server.token(Caller::Supervisor, DEMO_TOKEN_TTL)
    }

    /// What to print: where to look, as whom.
    #[must_use]
    pub fn banner(&self) -> String {
        let base = self.server.base_url();
        let options = &self.options;
        let mut text = format!(
            "Switchboard demo: {} simulated moderators, {} profiles, {} clients writing about {} messages/s.\n  database: {}{}\n",
            options.moderators,
            options.profiles,
            options.clients,
            options.rate_per_second,
            redact(&self.database_url),
            if options.database_url.is_none() { " (throwaway, removed on exit)" } else { "" }
        );
        for id in 1..=WATCHED_MODERATORS.min(options.moderators) {
            if let Ok(token) = self.server.token(Caller::Moderator(ModeratorId(id)), DEMO_TOKEN_TTL) {
                text.push_str(&format!(
                    "  moderator console, as simulated moderator {id}:\n    {base}/?token={token}\n    (token: {token})\n"
                ));
            }
        }
        if let Ok(token) = self.supervisor_token() {
            text.push_str(&format!(
                "  supervisor dashboard:\n    {base}/supervisor?token={token}\n    (supervisor token: {token})\n"
            ));
        }
        text.push_str(&format!(
            "  Pusher app key: {} (ws://{}/app/{})\nPress Ctrl-C to stop.\n",
            self.server.credentials.pusher_app_key, self.server.addr, self.server.credentials.pusher_app_key
        ));
        text
    }

    /// Stops the simulated users, then the service (gracefully, as `serve` does).
    ///
    /// # Errors
    /// The HTTP server failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(simulation) = self.simulation.take() {
            let _ = simulation.stop(Duration::ZERO).await;
        }
        self.server.shutdown().await
    }
}
