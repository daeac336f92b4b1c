//! `switchboard-load demo`: the service started in-process through the server library's
//! public [`switchboard::start`], on a throwaway SQLite database (unless a database URL is
//! given), with a populated directory and this crate's [`Simulation`] at a gentle rate, so
//! the console and the dashboard are alive within seconds of starting.
//!
//! It never bypasses the service's public interfaces: the simulation registers the
//! directory, connects the moderators and sends the clients' messages through the HTTP API
//! and the Pusher socket, like any host platform and console would.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard::app::redact;
use switchboard::{Server, Settings, SystemClock};
use tokio::net::TcpListener;

use crate::simulation::{LoadConfig, Progress, Simulation};
use crate::tokens::{Role, TokenMinter};

/// How long the tokens printed by the demo stay valid.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
/// How many simulated moderators the banner prints console links for.
pub const WATCHED_MODERATORS: u64 = 2;

/// What the demo populates and simulates.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Keep the data here instead of a throwaway SQLite file.
    pub database_url: Option<String>,
    /// The simulated platform and moderators; its service fields (`url`, `jwt_secret`,
    /// `app_key`, tokens) are filled in from the service the demo starts.
    pub simulation: LoadConfig,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { database_url: None, simulation: LoadConfig::gentle() }
    }
}

/// A running demo: the service and its simulated users.
pub struct Demo {
    pub server: Server,
    simulation: Option<Simulation>,
    options: DemoOptions,
    database_url: String,
    tokens: TokenMinter,
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
    let server = switchboard::start(settings, listener, Arc::new(SystemClock)).await?;
    let config = LoadConfig {
        url: server.base_url(),
        jwt_secret: Some(server.credentials.jwt_secret.clone()),
        app_key: Some(server.credentials.pusher_app_key.clone()),
        platform_token: None,
        supervisor_token: None,
        ..options.simulation.clone()
    };
    let tokens = TokenMinter::new(&server.credentials.jwt_secret, DEMO_TOKEN_TTL);
    let simulation = match Simulation::start(config).await {
        Ok(simulation) => simulation,
        Err(error) => {
            let _ = server.shutdown().await;
            return Err(error.context("the demo's simulation could not start"));
        }
    };
    Ok(Demo { server, simulation: Some(simulation), options, database_url, tokens, _directory: directory })
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
        self.tokens.mint(Role::Supervisor)
    }

    /// What to print: where to look, as whom.
    #[must_use]
    pub fn banner(&self) -> String {
        let base = self.server.base_url();
        let simulation = &self.options.simulation;
        let mut text = format!(
            "Switchboard demo: {} simulated moderators, {} profiles, {} clients writing about {} messages/s.\n  database: {}{}\n",
            simulation.moderators,
            simulation.profiles,
            simulation.clients,
            simulation.rate_per_second,
            redact(&self.database_url),
            if self.options.database_url.is_none() { " (throwaway, removed on exit)" } else { "" }
        );
        for id in 1..=WATCHED_MODERATORS.min(simulation.moderators) {
            if let Ok(token) = self.tokens.mint(Role::Moderator(id)) {
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
        let key = &self.server.credentials.pusher_app_key;
        text.push_str(&format!(
            "  Pusher app key: {key} (ws://{}/app/{key})\nPress Ctrl-C to stop.\n",
            self.server.addr
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
