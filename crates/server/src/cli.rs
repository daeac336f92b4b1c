//! The command line: `switchboard [serve]`, `switchboard token`, `switchboard migrate`,
//! `switchboard keys` (and `switchboard demo`, which only points to the load tool's demo),
//! and what each does. Parsing only; `main.rs` runs them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::Role;

const AFTER_HELP: &str = "\
Configuration: switchboard.toml in the working directory (or --config FILE), then
SWITCHBOARD_<KEY> environment variables, which win (SWITCHBOARD_INACTIVITY_THRESHOLD=2s).
Durations are written like 30s, 5m, 250ms. Run `switchboard keys` for every key.
Logs: RUST_LOG=debug for more, SWITCHBOARD_LOG_FORMAT=json for JSON lines.";

/// The one command that starts the demo (the load tool's), from a checkout of the workspace.
pub const DEMO_COMMAND: &str = "cargo run --release -p switchboard-load -- demo";

/// What `switchboard demo` prints before exiting with status 2.
#[must_use]
pub fn demo_moved_message() -> String {
    format!(
        "The demo is now part of the load tool, so that the service's binary does not carry the simulated\nplatform. From the repository, run:\n\n    {DEMO_COMMAND}\n"
    )
}

/// Switchboard: assigns chat profiles to moderators, in real time.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Configuration file to read instead of ./switchboard.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Commands>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Start the service (the default): HTTP API, Pusher WebSocket, monitor.
    /// Applies the schema first; generates secrets on first start.
    Serve,
    /// Print a bearer token signed with the service's secret (same configuration).
    Token {
        /// The token's role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The moderator the token acts as (required for --role moderator).
        #[arg(long, value_name = "ID", required_if_eq("role", "moderator"))]
        moderator: Option<u64>,
        /// How long the token is valid, like 12h, 30m or 7d.
        #[arg(long, default_value = "12h", value_parser = parse_ttl)]
        ttl: Duration,
    },
    /// The demo moved to the load tool, so that this binary does not carry the simulated
    /// platform: prints the command to run instead and exits with status 2.
    #[command(disable_help_flag = true)]
    Demo {
        /// Whatever the old `switchboard demo` took; ignored.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        ignored: Vec<String>,
    },
    /// Apply the database schema and exit.
    Migrate,
    /// List every configuration key with its default.
    Keys,
}

/// `--role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Moderator,
    Platform,
    Supervisor,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Moderator => Role::Moderator,
            RoleArg::Platform => Role::Platform,
            RoleArg::Supervisor => Role::Supervisor,
        }
    }
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = crate::config::parse_duration(text)?;
    if ttl.is_zero() {
        return Err("the ttl must be longer than zero".to_owned());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve_and_token_needs_a_moderator() {
        assert!(Cli::try_parse_from(["switchboard"]).expect("parses").command.is_none());
        assert!(Cli::try_parse_from(["switchboard", "token", "--role", "moderator"]).is_err());
        let cli =
            Cli::try_parse_from(["switchboard", "token", "--role", "moderator", "--moderator", "7", "--ttl", "1h"])
                .expect("parses");
        match cli.command {
            Some(Commands::Token { role, moderator, ttl }) => {
                assert_eq!((role, moderator, ttl), (RoleArg::Moderator, Some(7), Duration::from_secs(3600)));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["switchboard", "token", "--role", "platform", "--ttl", "0s"]).is_err());
    }

    #[test]
    fn the_old_demo_command_still_parses_with_its_old_flags() {
        for arguments in
            [&["switchboard", "demo"][..], &["switchboard", "demo", "--rate", "5", "--listen", "127.0.0.1:0"]]
        {
            let cli = Cli::try_parse_from(arguments).expect("parses");
            assert!(matches!(cli.command, Some(Commands::Demo { .. })), "{arguments:?}");
        }
        assert!(demo_moved_message().contains(DEMO_COMMAND));
    }
}
