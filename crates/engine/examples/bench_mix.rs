//! The benchmark's command mix without criterion, for instruction counts under callgrind
//! (repeatable on a shared machine, unlike wall-clock time):
//!
//!     cargo build --release -p switchboard-engine --example bench_mix
//!     valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*bench_mix::measured*' \
//!         target/release/examples/bench_mix 100 20000
//!
//! Arguments: moderators (default 100), measured commands (default 20,000), warm-up
//! commands (default: until the steady state, as in the bench; see `Workload::warm_up`).
//! `--digest` hashes every reply, event and batch of changes instead, to show that an
//! optimisation changed no decision; its warm-up defaults to 200,000 commands, the length
//! every recorded digest was taken with. `--backlog-world` runs `World::Backlog`, the world
//! of the digests recorded before 2026-12-04 (c5beac0f1ec858bc at 100 moderators,
//! 269c48c870560e80 at 1,000); the default is the measured `World::Steady`.

#[path = "../benches/workload/mod.rs"]
mod workload;

use std::hash::{DefaultHasher, Hasher};
use std::time::Instant;

use workload::{Workload, World};

fn main() {
    let digest = std::env::args().any(|argument| argument == "--digest");
    let world =
        if std::env::args().any(|argument| argument == "--backlog-world") { World::Backlog } else { World::Steady };
    let numbers: Vec<u64> =
        std::env::args().skip(1).filter_map(|argument| argument.replace('_', "").parse().ok()).collect();
    let moderators = numbers.first().copied().unwrap_or(100);
    let commands = numbers.get(1).copied().unwrap_or(20_000);
    let warm_up = numbers.get(2).copied().or(digest.then_some(200_000));

    let started = Instant::now();
    let mut workload = Workload::with_world(moderators, world);
    workload.trace_warm_up = std::env::args().any(|argument| argument == "--trace-warm-up");
    if digest {
        workload.digest = Some(DefaultHasher::new());
    }
    match warm_up {
        Some(commands) => {
            workload.run(commands);
        }
        None => eprintln!("{}", workload.warm_up()),
    }
    eprintln!("set up and warmed up {moderators} moderators ({world:?} world) in {:?}", started.elapsed());
    let shape_before = workload.shape();
    measured(&mut workload, moderators, commands);
    // The same shape after the measured commands as before them: they ran in the steady state.
    eprintln!(
        "shape before the measured commands {shape_before:?}\nshape after                        {:?}",
        workload.shape()
    );
    if let Some(digest) = workload.digest {
        println!("digest {:016x}", digest.finish());
    }
}

/// The part callgrind counts (`--toggle-collect='*bench_mix::measured*'`). It must not be a
/// bare call of `Workload::run`, or the linker may fold it into `run` and the warm-up counts too.
#[inline(never)]
fn measured(workload: &mut Workload, moderators: u64, commands: u64) {
    let spent = workload.run(commands);
    println!(
        "{moderators} moderators: {commands} commands in {spent:?}, {:.3} µs/command",
        spent.as_secs_f64() * 1e6 / commands as f64
    );
}
