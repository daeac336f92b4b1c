//! Long simulation runs: seeded random histories with every invariant of SPEC §8 checked
//! after every step.
//!
//!     cargo run --release -p switchboard-engine --example simulate -- --steps 10000000
//!
//! Options: `--steps N` (total, default 10,000,000), `--steps-per-seed N` (default 10,000),
//! `--first-seed N` (default 1), `--crowded` (more moderators than profiles). Prints progress
//! every 5% and, on a violation, the failing seed with the command that replays it.

use std::process::ExitCode;
use std::time::Instant;

use switchboard_engine::simulation::{Simulation, SimulationStats, WorldSize};

struct Options {
    steps: u64,
    steps_per_seed: u64,
    first_seed: u64,
    world: WorldSize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options { steps: 10_000_000, steps_per_seed: 10_000, first_seed: 1, world: WorldSize::default() };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = arguments.next().ok_or(format!("{name} needs a number"))?;
            value.replace('_', "").parse().map_err(|_| format!("{name}: not a number: {value}"))
        };
        match argument.as_str() {
            "--steps" => options.steps = number("--steps")?,
            "--steps-per-seed" => options.steps_per_seed = number("--steps-per-seed")?.max(1),
            "--first-seed" => options.first_seed = number("--first-seed")?,
            "--crowded" => {
                options.world = WorldSize { moderators: 14, profiles: 5, clients: 25, refusal_check_every: 1 }
            }
            "--help" | "-h" => {
                println!("usage: simulate [--steps N] [--steps-per-seed N] [--first-seed N] [--crowded]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("simulate: {message}");
            return ExitCode::from(2);
        }
    };
    let seeds = options.steps.div_ceil(options.steps_per_seed);
    println!(
        "simulating {} steps: {seeds} seeds from {} x {} steps, world {:?}",
        options.steps, options.first_seed, options.steps_per_seed, options.world
    );
    let started = Instant::now();
    let mut total = SimulationStats::default();
    let mut next_report = 5;
    for index in 0..seeds {
        let seed = options.first_seed + index;
        let steps = options.steps_per_seed.min(options.steps - total.steps);
        match Simulation::new(seed, options.world.clone()).run(steps) {
            Ok(stats) => total.add(&stats),
            Err(failure) => {
                eprintln!("{failure}");
                eprintln!("(this seed ran {} steps per seed: pass SWITCHBOARD_SIM_STEPS={steps} to the replay)", steps);
                return ExitCode::FAILURE;
            }
        }
        let percent = total.steps * 100 / options.steps;
        if percent >= next_report {
            let rate = total.steps as f64 / started.elapsed().as_secs_f64();
            println!("{percent:>3}%  {} steps, {rate:.0} steps/s, seed {seed}", total.steps);
            next_report = percent + 5;
        }
    }
    println!("no invariant broken in {} steps ({:.1} s)", total.steps, started.elapsed().as_secs_f64());
    println!("{total:#?}");
    ExitCode::SUCCESS
}
