//! The `switchboard` binary: parses the command line, sets up logging, and runs `serve`
//! (the default), `token`, `migrate` or `keys`; `demo` only names the load tool's demo and
//! exits with status 2.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use switchboard::auth::{parse_positive_id, Caller, Role, Tokens};
use switchboard::cli::{Cli, Commands};
use switchboard::config::{Settings, ENV_PREFIX, KEYS};
use switchboard::SystemClock;
use switchboard_engine::ModeratorId;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Commands::Demo { .. }) = cli.command {
        eprint!("{}", switchboard::cli::demo_moved_message());
        return ExitCode::from(2);
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let json = std::env::var("SWITCHBOARD_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Commands::Serve);
    if let Commands::Keys = command {
        let heading = "key (env SWITCHBOARD_<KEY>)";
        let key_width = KEYS.iter().map(|(key, _, _)| key.len()).chain([heading.len()]).max().unwrap_or(0);
        let default_width =
            KEYS.iter().map(|(_, default, _)| default.len()).chain(["default".len()]).max().unwrap_or(0);
        println!("{heading:<key_width$} {:<default_width$} meaning", "default");
        for (key, default, help) in KEYS {
            println!("{key:<key_width$} {default:<default_width$} {help}");
        }
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match command {
        Commands::Serve => serve(settings).await,
        Commands::Migrate => {
            switchboard::app::open_store(&settings).await?;
            println!("schema applied to {}", switchboard::app::redact(&settings.database_url));
            Ok(())
        }
        Commands::Token { role, moderator, ttl } => {
            let secret = match &settings.jwt_secret {
                Some(secret) => secret.clone(),
                None => {
                    let store = switchboard::app::open_store(&settings).await?;
                    switchboard::app::credentials(&store, &settings).await?.jwt_secret
                }
            };
            let caller = match Role::from(role) {
                Role::Platform => Caller::Platform,
                Role::Supervisor => Caller::Supervisor,
                Role::Moderator => {
                    let id = moderator
                        .and_then(|id| parse_positive_id(&id.to_string()))
                        .context("--moderator must be a positive integer of at most 9223372036854775807")?;
                    Caller::Moderator(ModeratorId(id))
                }
            };
            println!("{}", Tokens::new(&secret, Arc::new(SystemClock)).mint(caller, ttl)?);
            Ok(())
        }
        Commands::Keys | Commands::Demo { .. } => Ok(()),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set `listen` or {ENV_PREFIX}LISTEN)", settings.listen))?;
    let mut server = switchboard::start(settings, listener, Arc::new(SystemClock)).await?;
    println!("{}", server.banner());
    tokio::select! {
        () = switchboard::app::shutdown_signal() => {
            tracing::info!("shutdown signal received");
            server.shutdown().await
        }
        result = server.wait() => result,
    }
}
