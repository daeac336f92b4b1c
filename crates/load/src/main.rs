//! The `switchboard-load` binary: parses the command line, runs a simulation (default), a
//! fan-out measurement or a bulk ingestion against a running service, shows progress, and
//! prints the summary (and writes JSON with `--json FILE`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use switchboard_load::fanout::{self, FanoutConfig};
use switchboard_load::host_api::{self, HostApiConfig};
use switchboard_load::ingest::{self, IngestConfig};
use switchboard_load::memory::MemorySource;
use switchboard_load::simulation::default_first_message_id;
use switchboard_load::{LoadConfig, Simulation};

const AFTER_HELP: &str = "\
Example (a service started with SWITCHBOARD_JWT_SECRET=dev-secret):
  switchboard-load --url http://127.0.0.1:8080 --jwt-secret dev-secret \\
      --moderators 2000 --profiles 3000 --clients 50000 --rate 1000 --duration 60s \\
      --server-pid $(pgrep -n switchboard) --json run.json
  switchboard-load fanout --jwt-secret dev-secret --sockets 2000 --publish-rate 100
  switchboard-load ingest --jwt-secret dev-secret --messages 100000 --conversations 100000
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
    /// The host's side: triggers through the Pusher HTTP API, deliveries, presence churn,
    /// memory per socket (any Pusher-protocol server: needs only the app credentials).
    HostApi(HostApiArgs),
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
    /// Moderators 1..=N, each with its own socket on private-moderator.{id}.
    #[arg(long, default_value_t = 50)]
    moderators: u64,
    /// Profiles 1..=M.
    #[arg(long, default_value_t = 100)]
    profiles: u64,
    /// Clients 1..=K (a client waits for its reply before writing again).
    #[arg(long, default_value_t = 10_000)]
    clients: u64,
    /// Client messages per second, all clients together.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// How long clients send, like 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Mean time a moderator thinks between typing and replying (±50 %).
    #[arg(long, default_value = "1500ms", value_parser = humantime::parse_duration)]
    think_time: Duration,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Chance per conversation that a moderator first sits idle for --idle-time.
    #[arg(long, default_value_t = 0.02)]
    idle_probability: f64,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    idle_time: Duration,
    /// Chance per reply (or per idle second in the queue) of a break: disconnect or leave
    /// the queue, wait --break-time, connect again.
    #[arg(long, default_value_t = 0.01)]
    break_probability: f64,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    break_time: Duration,
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

#[derive(Debug, Args)]
struct FanoutArgs {
    #[command(flatten)]
    service: Service,
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
        moderators: args.moderators,
        profiles: args.profiles,
        clients: args.clients,
        rate_per_second: args.rate,
        think_time: args.think_time,
        seed: args.seed,
        idle_probability: args.idle_probability,
        idle_time: args.idle_time,
        break_probability: args.break_probability,
        break_time: args.break_time,
        register_directory: !args.skip_directory,
        first_message_id: default_first_message_id(),
        connect_concurrency: args.connect_concurrency,
        max_in_flight: args.max_in_flight,
        memory: Some(args.service.memory()),
    };
    eprintln!("registering the directory and connecting {} moderator sockets…", args.moderators);
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

async fn main_async(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => run(cli.run).await,
        Some(Command::Run(args)) => run(args).await,
        Some(Command::Fanout(args)) => {
            let report = fanout::run(FanoutConfig {
                url: args.service.url.clone(),
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
        assert_eq!((cli.run.moderators, cli.run.duration), (3, Duration::from_secs(2)));
        let cli = Cli::try_parse_from(["switchboard-load", "fanout", "--sockets", "10"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Fanout(FanoutArgs { sockets: 10, .. }))));
    }
}
