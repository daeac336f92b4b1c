//! Cost per command of the engine for a realistic mix, at 100, 10,000 and 100,000
//! moderators (with as many profiles and 100× clients), on one core.
//!
//! Run: `cargo bench -p switchboard-engine --bench engine`. Criterion prints the time per
//! command and the commands per second ("elem/s"). Only `Engine::handle`, the draining of its
//! events and `take_changes` (what the writer does per batch) are timed; choosing the next
//! command is not.
//!
//! The mix, per 1,000 commands: 250 inbound messages, 350 replies, 270 typing, 20
//! initiations, 30 lease extensions, 40 heartbeats or presence changes, 20 priority changes,
//! 5 connects or disconnects, 5 profiles given back, 10 queue leaves; plus a monitor run
//! every 15 simulated seconds. Each moderator acts about once every 2 seconds, as a person
//! does, so the simulated clock moves 2 s / (number of moderators) per command: a platform
//! with more moderators has proportionally more traffic, not slower moderators. The world
//! (`World::Steady`) has one profile per moderator, so that the moderators at work (about
//! half: connects and disconnects balance there) can hold every profile; each client writes
//! to three favourite profiles and has at most two unanswered conversations; a reply comes
//! from a moderator holding work, on the oldest waiting conversation of one of its profiles,
//! so answering keeps ahead of arrivals and the backlog has a level.
//!
//! Each scale is measured in its steady state: the warm-up runs at least 6 simulated minutes
//! (past every clock of the rules) and until the mean backlog and the mean number of working
//! moderators over the last 3 simulated minutes match the 3 minutes before (within 2 %, or 3
//! standard deviations of a count that size in a small world); the warm-up prints its verdict
//! and the figures it rests on.

mod workload;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use workload::Workload;

fn mixed_commands(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("engine/mixed");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    for moderators in [100, 10_000, 100_000] {
        // Built on first use, so that a filtered run sets up only the scale it measures.
        let mut workload: Option<Workload> = None;
        group.bench_with_input(BenchmarkId::from_parameter(moderators), &moderators, |bencher, &moderators| {
            let workload = workload.get_or_insert_with(|| {
                eprintln!(
                    "setting up {moderators} moderators, {} profiles, {} clients...",
                    moderators,
                    moderators * 100
                );
                let mut workload = Workload::new(moderators);
                // Reach a steady state before measuring (see `Workload::warm_up`).
                let warm_up = workload.warm_up();
                eprintln!("{moderators} moderators: {warm_up}");
                if !warm_up.steady {
                    eprintln!("{moderators} moderators: NO steady state within the warm-up's bound; measuring anyway");
                }
                workload
            });
            bencher.iter_custom(|iterations| workload.run(iterations));
        });
    }
    group.finish();
}

criterion_group!(benches, mixed_commands);
criterion_main!(benches);
