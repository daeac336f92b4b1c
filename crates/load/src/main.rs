//! The `switchboard-load` binary: parses the command line, runs a simulation (default), a
//! fan-out measurement or a bulk ingestion against a running service, shows progress, and
//! prints the summary (and writes JSON with `--json FILE`); or `demo`, which starts the
//! service itself with the simulation at a gentle rate until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use switchboard_load::demo::{self, DemoOptions};
use switchboard_load::fanout::{self, FanoutConfig};
use switchboard_load::host_api::{self, HostApiConfig};
use switchboard_load::ingest::{self, IngestConfig};
use switchboard_load::memory::MemorySource;
use switchboard_load::simulation::default_first_message_id;
use switchboard_load::webhooks::{self, WebhooksConfig};
use switchboard_load::{LoadConfig, Simulation};

const AFTER_HELP: &str = "\
Example (a service started with SWITCHBOARD_JWT_SECRET=dev-secret):
  switchboard-load --url http://127.0.0.1:8080 --jwt-secret dev-secret \\
      --moderators 2000 --profiles 3000 --clients 50000 --rate 1000 --duration 60s \\
      --server-pid $(pgrep -n switchboard) --json run.json
  switchboard-load fanout --jwt-secret dev-secret --sockets 2000 --publish-rate 100
  switchboard-load ingest --jwt-secret dev-secret --messages 100000 --conversations 100000
  switchboard-load demo     (the service itself, simulated users, console links; Ctrl-C stops)
  switchboard-load webhooks --moderators 10 --concurrency 64 --duration 20s --backlog 12000
  switchboard-load host-api --app-id 1 --app-key KEY --app-secret SECRET --sockets 10000 --churn-sockets 100

Latency is measured from just before POST /api/messages to the ConversationAssigned event
received on the moderator's socket, matched by message id. Raise `ulimit -n` for thousands
of sockets.";

/// Drives a running Switchboard through its HTTP API and Pusher WebSocket, and measures it.
#[derive(Debug, Parser)]
#[command(name = "switchboard-load", version, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate moderators and clients (the default).
    Run(RunArgs),
    /// WebSocket deliveries per second: many sockets on a few moderator channels.
    Fanout(FanoutArgs),
    /// Ingest many messages as fast as possible; the server's memory before and after.
    Ingest(IngestArgs),
    /// Start the service in-process on a throwaway SQLite database with a populated
    /// directory and gently simulated moderators and clients; prints console and dashboard
    /// links with tokens. Ctrl-C stops it.
    Demo(DemoArgs),
    /// The host's side: triggers through the Pusher HTTP API, deliveries, presence churn,
    /// memory per socket (any Pusher-protocol server: needs only the app credentials).
    HostApi(HostApiArgs),
    /// The host events' webhooks, in-process against a local receiver: the writer's
    /// replies/s with webhooks off and on, deliveries/s, reply-commit-to-receiver latency,
    /// and the drain of a backlog built during a receiver outage.
    Webhooks(WebhooksArgs),
}

#[derive(Debug, Args)]
struct WebhooksArgs {
    /// Moderators replying, each on a profile of its own.
    #[arg(long, default_value_t = 10)]
    moderators: u64,
    /// Replies in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long the off and the on phases each send replies.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Replies sent while the receiver is out (default: 10 minutes at 20 replies/s).
    #[arg(long, default_value_t = 12_000)]
    backlog: u64,
    /// Three empty PostgreSQL databases (off, on, outage) instead of throwaway SQLite files.
    #[arg(long, num_args = 3, value_names = ["OFF", "ON", "OUTAGE"])]
    database_urls: Option<Vec<String>>,
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct HostApiArgs {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SWITCHBOARD_URL")]
    url: String,
    #[arg(long, env = "SWITCHBOARD_PUSHER_APP_ID")]
    app_id: String,
    #[arg(long, env = "SWITCHBOARD_PUSHER_APP_KEY")]
    app_key: String,
    #[arg(long, env = "SWITCHBOARD_PUSHER_APP_SECRET", hide_env_values = true)]
    app_secret: String,
    #[arg(long, default_value_t = 10_000)]
    sockets: u64,
    #[arg(long, default_value_t = 100)]
    channels: u64,
    /// Triggers per second; 0 for as fast as --publish-concurrency allows.
    #[arg(long, default_value_t = 0.0)]
    publish_rate: f64,
    #[arg(long, default_value_t = 64)]
    publish_concurrency: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Sockets joining and leaving presence channels in a loop after the triggers.
    #[arg(long, default_value_t = 100)]
    churn_sockets: u64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    churn_duration: Duration,
    /// The server's process id, to read its memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
struct Service {
    /// Base URL of the running service.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SWITCHBOARD_URL")]
    url: String,
    /// The service's `jwt_secret`: every token is minted from it.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// The Pusher app key (learnt from /broadcasting/auth when omitted).
    #[arg(long, env = "SWITCHBOARD_PUSHER_APP_KEY")]
    app_key: Option<String>,
    /// The server's process id, to read its memory from /proc (else /metrics).
    #[arg(long)]
    server_pid: Option<u32>,
}

impl Service {
    fn memory(&self) -> MemorySource {
        match self.server_pid {
            Some(pid) => MemorySource::Pid(pid),
            None => MemorySource::Metrics { base_url: self.url.trim_end_matches('/').to_owned() },
        }
    }

    fn secret(&self) -> anyhow::Result<String> {
        self.jwt_secret.clone().context("--jwt-secret (or SWITCHBOARD_JWT_SECRET) is required")
    }
}

#[derive(Debug, Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    service: Service,
    /// A platform token (minted from --jwt-secret when omitted).
    #[arg(long, env = "SWITCHBOARD_PLATFORM_TOKEN", hide_env_values = true)]
    platform_token: Option<String>,
    /// A supervisor token (minted from --jwt-secret when omitted).
    #[arg(long, env = "SWITCHBOARD_SUPERVISOR_TOKEN", hide_env_values = true)]
    supervisor_token: Option<String>,
    #[command(flatten)]
    simulation: SimulationArgs,
    /// How long clients send, like 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time after the clients stop for assignments and replies in flight to arrive.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Do not PUT the moderators, profiles and clients first (already registered).
    #[arg(long)]
    skip_directory: bool,
    /// Socket handshakes in flight during start-up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Client messages in flight at once at most.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Who is simulated and how they behave; each flag left out keeps the default of the
/// subcommand (`run`: `LoadConfig::default()`, `demo`: `LoadConfig::gentle()`).
#[derive(Debug, Args, Clone, Default)]
struct SimulationArgs {
    /// Moderators 1..=N, each with its own socket on private-moderator.{id} [run: 50, demo: 12].
    #[arg(long)]
    moderators: Option<u64>,
    /// Profiles 1..=M [run: 100, demo: 30].
    #[arg(long)]
    profiles: Option<u64>,
    /// Clients 1..=K; a client waits for its reply before writing again [run: 10000, demo: 200].
    #[arg(long)]
    clients: Option<u64>,
    /// Client messages per second, all clients together [run: 50, demo: 2].
    #[arg(long)]
    rate: Option<f64>,
    /// Mean time a moderator thinks between typing and replying, ±50 % [run: 1500ms, demo: 4s].
    #[arg(long, value_parser = humantime::parse_duration)]
    think_time: Option<Duration>,
    /// Seed of every random choice [run: 1, demo: 7].
    #[arg(long)]
    seed: Option<u64>,
    /// Chance per conversation that a moderator first sits idle for --idle-time [run: 0.02, demo: 0.05].
    #[arg(long)]
    idle_probability: Option<f64>,
    /// [run: 5s, demo: 15s]
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_time: Option<Duration>,
    /// Chance per reply (or per idle second in the queue) of a break: disconnect or leave
    /// the queue, wait --break-time, connect again [run: 0.01, demo: 0.03].
    #[arg(long)]
    break_probability: Option<f64>,
    /// [run: 5s, demo: 20s]
    #[arg(long, value_parser = humantime::parse_duration)]
    break_time: Option<Duration>,
}

impl SimulationArgs {
    /// `base` with every flag that was given.
    fn apply(&self, base: LoadConfig) -> LoadConfig {
        LoadConfig {
            moderators: self.moderators.unwrap_or(base.moderators),
            profiles: self.profiles.unwrap_or(base.profiles),
            clients: self.clients.unwrap_or(base.clients),
            rate_per_second: self.rate.unwrap_or(base.rate_per_second),
            think_time: self.think_time.unwrap_or(base.think_time),
            seed: self.seed.unwrap_or(base.seed),
            idle_probability: self.idle_probability.unwrap_or(base.idle_probability),
            idle_time: self.idle_time.unwrap_or(base.idle_time),
            break_probability: self.break_probability.unwrap_or(base.break_probability),
            break_time: self.break_time.unwrap_or(base.break_time),
            ..base
        }
    }
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the demo's data in this database instead of a throwaway SQLite file.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Where the service listens (127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    simulation: SimulationArgs,
}

#[derive(Debug, Args)]
struct FanoutArgs {
    #[command(flatten)]
    service: Service,
    /// A node the sockets connect to (repeat for each node of a cluster; sockets are spread
    /// over them in turn). Default: --url.
    #[arg(long = "socket-url", value_name = "URL")]
    socket_urls: Vec<String>,
    /// Subscribed sockets in all.
    #[arg(long, default_value_t = 2000)]
    sockets: u64,
    /// Moderator channels the sockets are spread over.
    #[arg(long, default_value_t = 1)]
    channels: u64,
    /// Client messages per second (one event each, on one channel).
    #[arg(long, default_value_t = 100.0)]
    publish_rate: f64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Ids of the fan-out moderators and profiles start above this.
    #[arg(long, default_value_t = 900_000)]
    id_base: u64,
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct IngestArgs {
    #[command(flatten)]
    service: Service,
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Distinct (client, profile) conversations the messages are spread over.
    #[arg(long, default_value_t = 100_000)]
    conversations: u64,
    #[arg(long, default_value_t = 100)]
    profiles: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Client ids start above this.
    #[arg(long, default_value_t = 10_000_000)]
    client_base: u64,
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn write_json(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = LoadConfig {
        url: args.service.url.clone(),
        jwt_secret: args.service.jwt_secret.clone(),
        platform_token: args.platform_token.clone(),
        supervisor_token: args.supervisor_token.clone(),
        app_key: args.service.app_key.clone(),
        register_directory: !args.skip_directory,
        connect_concurrency: args.connect_concurrency,
        max_in_flight: args.max_in_flight,
        memory: Some(args.service.memory()),
        ..args.simulation.apply(LoadConfig::default())
    };
    eprintln!("registering the directory and connecting {} moderator sockets…", config.moderators);
    let simulation = Simulation::start(config).await?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(args.duration.as_secs().max(1)) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let interrupted = loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break true,
        }
        let progress = simulation.progress();
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!(
            "sent {} accepted {} assigned {} replies {} errors {} p99 {:.1} ms",
            progress.sent, progress.accepted, progress.assigned, progress.replies, progress.errors, progress.p99_ms
        ));
        if started.elapsed() >= args.duration {
            break false;
        }
    };
    bar.finish_and_clear();
    if interrupted {
        eprintln!("interrupted: stopping and reporting what was measured");
    }
    let report = simulation.stop(args.drain).await;
    println!("{}", report.summary());
    write_json(args.json.as_ref(), &report.to_json()?)
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (use --listen 127.0.0.1:0 for any free port)", args.listen))?;
    let options =
        DemoOptions { database_url: args.database_url, simulation: args.simulation.apply(LoadConfig::gentle()) };
    // The demo is the service as `serve` configures it (switchboard.toml, SWITCHBOARD_*),
    // with its own database and listener.
    let settings = switchboard::Settings::load(None)?;
    eprintln!("starting the service and connecting {} simulated moderators…", options.simulation.moderators);
    let demo = demo::start(settings, listener, options).await?;
    println!("{}", demo.banner());
    switchboard::app::shutdown_signal().await;
    eprintln!("stopping the demo");
    demo.stop().await
}

async fn main_async(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => run(cli.run).await,
        Some(Command::Run(args)) => run(args).await,
        Some(Command::Demo(args)) => demo(args).await,
        Some(Command::Fanout(args)) => {
            let report = fanout::run(FanoutConfig {
                url: args.service.url.clone(),
                socket_urls: args.socket_urls.clone(),
                jwt_secret: args.service.secret()?,
                app_key: args.service.app_key.clone(),
                sockets: args.sockets,
                channels: args.channels.max(1),
                publish_rate: args.publish_rate,
                duration: args.duration,
                id_base: args.id_base,
                connect_concurrency: args.connect_concurrency,
            })
            .await?;
            println!("{}", report.summary());
            write_json(args.json.as_ref(), &serde_json::to_string_pretty(&report)?)
        }
        Some(Command::HostApi(args)) => {
            let report = host_api::run(HostApiConfig {
                url: args.url.clone(),
                app_id: args.app_id.clone(),
                app_key: args.app_key.clone(),
                app_secret: args.app_secret.clone(),
                sockets: args.sockets,
                channels: args.channels,
                publish_rate: args.publish_rate,
                publish_concurrency: args.publish_concurrency,
                duration: args.duration,
                connect_concurrency: args.connect_concurrency,
                churn_sockets: args.churn_sockets,
                churn_duration: args.churn_duration,
                memory: args.server_pid.map(MemorySource::Pid),
            })
            .await?;
            println!("{}", report.summary());
            write_json(args.json.as_ref(), &serde_json::to_string_pretty(&report)?)
        }
        Some(Command::Webhooks(args)) => {
            let database_urls = match args.database_urls {
                Some(urls) => Some(
                    <[String; 3]>::try_from(urls).map_err(|_| anyhow::anyhow!("--database-urls takes three URLs"))?,
                ),
                None => None,
            };
            let report = webhooks::run(WebhooksConfig {
                moderators: args.moderators.max(1),
                concurrency: args.concurrency,
                duration: args.duration,
                backlog: args.backlog,
                database_urls,
            })
            .await?;
            println!("{}", report.summary());
            write_json(args.json.as_ref(), &serde_json::to_string_pretty(&report)?)
        }
        Some(Command::Ingest(args)) => {
            let report = ingest::run(IngestConfig {
                url: args.service.url.clone(),
                jwt_secret: args.service.secret()?,
                messages: args.messages,
                conversations: args.conversations,
                profiles: args.profiles,
                concurrency: args.concurrency,
                first_message_id: default_first_message_id(),
                client_base: args.client_base,
                memory: Some(args.service.memory()),
            })
            .await?;
            println!("{}", report.summary());
            write_json(args.json.as_ref(), &serde_json::to_string_pretty(&report)?)
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["switchboard-load", "--moderators", "3", "--rate", "5", "--duration", "2s"])
            .expect("parses");
        assert!(cli.command.is_none());
        assert_eq!((cli.run.simulation.moderators, cli.run.duration), (Some(3), Duration::from_secs(2)));
        assert_eq!(cli.run.simulation.apply(LoadConfig::default()).moderators, 3);
        assert_eq!(cli.run.simulation.apply(LoadConfig::default()).profiles, LoadConfig::default().profiles);
        let cli = Cli::try_parse_from(["switchboard-load", "demo", "--rate", "5", "--listen", "127.0.0.1:0"])
            .expect("parses");
        let Some(Command::Demo(args)) = cli.command else { panic!("not the demo: {cli:?}") };
        let config = args.simulation.apply(LoadConfig::gentle());
        assert_eq!((config.rate_per_second, config.moderators), (5.0, LoadConfig::gentle().moderators));
        let cli = Cli::try_parse_from(["switchboard-load", "fanout", "--sockets", "10"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Fanout(FanoutArgs { sockets: 10, .. }))));
    }
}
