//! The benchmark's workload, shared by the criterion bench (`benches/engine.rs`) and the
//! `bench_mix` example (which runs it under callgrind, where instruction counts do not
//! wobble on a shared machine). See `benches/engine.rs` for the mix and its reasons.
//!
//! Two worlds: `World::Steady`, the one measured, and `World::Backlog`, the world every
//! recorded digest before 2026-12-04 was taken on (10 profiles per moderator, more than the
//! moderators can hold, so its backlog grows until clients stop writing). `bench_mix
//! --backlog-world --digest` still hashes the old world, so that an optimisation can be shown
//! to change no decision against the digests on record.

use std::hash::{DefaultHasher, Hasher};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::rng::SeededRng;
use switchboard_engine::{
    ClientId, Command, Config, Engine, MessageId, ModeratorId, ModeratorState, PriorityActor, ProfileId, Timestamp,
};

/// Commands generated per untimed chunk.
const CHUNK: u64 = 1_000;
/// The monitor's default interval (SPEC §9).
const MONITOR_INTERVAL_MICROS: u64 = 15_000_000;
/// How often one moderator acts, on average.
const MODERATOR_PACE_MICROS: u64 = 2_000_000;
/// The warm-up compares the world's shape window by window, each this much simulated time.
const WARM_UP_WINDOW_MICROS: u64 = 60_000_000;
/// The warm-up lasts at least this long in simulated time: past every clock of the rules
/// that shape the state (client locks 30 s, inactivity and presence 60 s, anti-ping-pong
/// 5 min), so that what they do once the world has run for a while is in the measurement.
const WARM_UP_MIN_MICROS: u64 = 360_000_000;
/// ... and at most this long, if the shape never settles.
const WARM_UP_MAX_MICROS: u64 = 7_200_000_000;
/// The backlog has settled when it moved by at most this much (in thousandths) across the
/// last three windows (the backlog world, whose backlog is near its cap when it settles).
const BACKLOG_TOLERANCE_MILLI: u64 = 10;
/// The steady world samples its backlog this many times per window and compares the
/// windows' means: one sample is one instant of a queue that moves by the conversation.
const SAMPLES_PER_WINDOW: u64 = 10;
/// The steady world's blocks of windows agree when their means differ by at most this much
/// (in thousandths of the larger) ...
const STEADY_TOLERANCE_MILLI: u64 = 20;
/// ... or by at most this many standard deviations of a count with that mean (the square
/// root of the mean), for the small worlds whose backlog is a few hundred conversations.
const STEADY_TOLERANCE_SIGMAS: f64 = 3.0;

/// Which world the workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// The measured world (since 2026-12-04): one profile per moderator, so that the
    /// moderators at work (about half of them: connects and disconnects balance there) can
    /// hold every profile (3 each); inbound messages at 250 per 1,000 commands and replies
    /// at 350, sent by a moderator that holds work on the oldest waiting conversation of one
    /// of its profiles, so that answering keeps ahead of arrivals and the backlog has a
    /// level to settle at. Half the moderators are connected at the start, the level that
    /// connects and disconnects keep.
    Steady,
    /// The world of every digest recorded before 2026-12-04: 10 profiles per moderator, at
    /// most 3 held, replies from a random moderator; orphan profiles pile up conversations
    /// until clients reach the mix's cap of two unanswered ones.
    #[allow(dead_code, reason = "`bench_mix --backlog-world` runs it, the criterion bench does not")]
    Backlog,
}

/// The figures that say what state the world is in; a steady state keeps them still.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub working: u64,
    pub queued: u64,
    pub free_profiles: u64,
    /// Conversations awaiting a reply, assigned or not.
    pub waiting: u64,
    /// Conversations awaiting a reply in working moderators' assignments.
    pub load: u64,
    pub locked_clients: u64,
}

impl Shape {
    /// The backlog is the one figure that accumulates: every other is bounded by the number
    /// of moderators and moves around its level from window to window (at 100 moderators,
    /// by a few moderators and a few hundred conversations of load). The mix has more
    /// profiles than moderators can hold (10 per moderator, at most 3 held), so the backlog
    /// grows until clients reach the mix's cap of two unanswered conversations; that level,
    /// held, is this world's steady state.
    fn backlog_like(&self, other: &Shape) -> bool {
        self.waiting.abs_diff(other.waiting) <= self.waiting.max(other.waiting) * BACKLOG_TOLERANCE_MILLI / 1000
    }
}

/// What a warm-up did: commands run, simulated time, whether and how it found a steady state.
#[derive(Clone, Debug)]
pub struct WarmUp {
    pub commands: u64,
    pub simulated_seconds: u64,
    pub steady: bool,
    /// How the verdict was reached, in words (printed).
    pub how: String,
    pub before_last: Shape,
    pub last: Shape,
}

impl std::fmt::Display for WarmUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steady = if self.steady { "steady" } else { "NOT steady" };
        write!(
            f,
            "warm-up: {} commands, {} simulated s, {steady}: {}",
            self.commands, self.simulated_seconds, self.how
        )?;
        write!(f, "\n  shapes at the end of the last two windows:\n  {:?}\n  {:?}", self.before_last, self.last)
    }
}

/// The mean backlog and working moderators over one window of the steady world's warm-up.
#[derive(Clone, Copy, Debug)]
struct WindowMeans {
    waiting: f64,
    working: f64,
}

/// How many windows make one block: the steady world compares the means of the last two
/// blocks, so that the verdict rests on 3 simulated minutes against the 3 before them.
const WINDOWS_PER_BLOCK: usize = 3;

/// Whether the means of two consecutive blocks of one figure agree: they differ by at most
/// `STEADY_TOLERANCE_MILLI` of the larger, or by `STEADY_TOLERANCE_SIGMAS` standard
/// deviations of a count of that mean (its square root), the noise of a small world.
/// Returns the verdict, the two means, the difference and the tolerance.
fn blocks_agree(windows: &[WindowMeans], figure: fn(&WindowMeans) -> f64) -> (bool, f64, f64, f64, f64) {
    let block = |slice: &[WindowMeans]| slice.iter().map(figure).sum::<f64>() / slice.len() as f64;
    let (before, last) = windows[windows.len() - 2 * WINDOWS_PER_BLOCK..].split_at(WINDOWS_PER_BLOCK);
    let (before, last) = (block(before), block(last));
    let high = before.max(last);
    let tolerance = (high * STEADY_TOLERANCE_MILLI as f64 / 1000.0).max(STEADY_TOLERANCE_SIGMAS * high.sqrt());
    let difference = (last - before).abs();
    (difference <= tolerance, before, last, difference, tolerance)
}

pub struct Workload {
    pub engine: Engine,
    world: World,
    rng: SeededRng,
    now: Timestamp,
    /// The simulated clock, finer than the engine's milliseconds.
    now_micros: u64,
    micros_per_command: u64,
    next_monitor_micros: u64,
    moderators: u64,
    profiles: u64,
    clients: u64,
    next_message_id: u64,
    commands: u64,
    body: Arc<str>,
    /// When set, every reply, event and batch of changes is folded into this hash, so that
    /// two builds of the engine can be shown to decide exactly alike (`bench_mix --digest`).
    pub digest: Option<DefaultHasher>,
    /// When set, the steady world's warm-up prints each window's means as it goes.
    pub trace_warm_up: bool,
}

impl Workload {
    /// The measured world (`World::Steady`).
    #[allow(dead_code, reason = "the criterion bench uses it, `bench_mix` does not")]
    pub fn new(moderators: u64) -> Self {
        Workload::with_world(moderators, World::Steady)
    }

    pub fn with_world(moderators: u64, world: World) -> Self {
        let profiles = match world {
            World::Steady => moderators,
            World::Backlog => moderators * 10,
        };
        let clients = moderators * 100;
        let mut workload = Workload {
            engine: Engine::new(Config::default()),
            world,
            rng: SeededRng::new(moderators),
            now: Timestamp(1_700_000_000_000),
            now_micros: 0,
            micros_per_command: (MODERATOR_PACE_MICROS / moderators).max(1),
            next_monitor_micros: 0,
            moderators,
            profiles,
            clients,
            next_message_id: 0,
            commands: 0,
            body: Arc::from("Hello, are you there?"),
            digest: None,
            trace_warm_up: false,
        };
        let now = workload.now;
        let engine = &mut workload.engine;
        for id in 1..=moderators {
            let _ =
                engine.handle(now, Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("m{id}") });
        }
        for id in 1..=profiles {
            let _ = engine.handle(
                now,
                Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true },
            );
        }
        for id in 1..=clients {
            let _ = engine.handle(now, Command::UpsertClient { client_id: ClientId(id), name: String::new() });
        }
        // Moderators arrive over time, 10 ms apart, as they would after a start.
        let mut now = now;
        for id in 1..=moderators {
            if world == World::Steady && id % 2 == 0 {
                continue;
            }
            now = Timestamp(now.0 + 10);
            let _ = engine.handle(now, Command::Connect { moderator_id: ModeratorId(id), connected_at: now });
            let _ = engine.handle(now, Command::RealtimePresence { moderator_id: ModeratorId(id), connected: true });
        }
        workload.now = now;
        workload.now_micros = now.0 * 1000;
        workload.next_monitor_micros = workload.now_micros + MONITOR_INTERVAL_MICROS;
        for _ in 0..moderators * 3 {
            let command = workload.inbound();
            workload.apply(command);
        }
        workload.engine.drain_events();
        workload.engine.take_changes();
        workload
    }

    fn apply(&mut self, command: Command) {
        self.commands += 1;
        self.now_micros += self.micros_per_command;
        self.now = Timestamp(self.now_micros / 1000);
        let reply = black_box(self.engine.handle(self.now, command));
        match &mut self.digest {
            None => self.engine.drain_events().for_each(|event| {
                black_box(event);
            }),
            Some(digest) => {
                digest.write(format!("{reply:?}").as_bytes());
                self.engine.drain_events().for_each(|event| digest.write(format!("{event:?}").as_bytes()));
            }
        }
    }

    fn inbound(&mut self) -> Command {
        self.next_message_id += 1;
        // A client with fewer than two unanswered conversations writes to a favourite profile.
        let mut client_id = ClientId(self.rng.between(1, self.clients));
        for _ in 0..8 {
            if self.engine.client(client_id).is_none_or(|client| client.waiting.len() < 2) {
                break;
            }
            client_id = ClientId(self.rng.between(1, self.clients));
        }
        let favourite = client_id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(self.rng.below(3));
        let profile_id = ProfileId(favourite % self.profiles + 1);
        Command::InboundMessage {
            message_id: MessageId::Number(self.next_message_id),
            client_id,
            profile_id,
            body: self.body.clone(),
            sent_at: self.now,
        }
    }

    fn any_moderator(&mut self) -> ModeratorId {
        ModeratorId(self.rng.between(1, self.moderators))
    }

    fn any_profile(&mut self) -> ProfileId {
        ProfileId(self.rng.between(1, self.profiles))
    }

    /// A random moderator's profile, if it holds one: O(log n), no scan.
    fn held_profile(&mut self) -> Option<(ModeratorId, ProfileId)> {
        let moderator_id = self.any_moderator();
        let moderator = self.engine.moderator(moderator_id)?;
        let held = moderator.assignments.len() as u64;
        if held == 0 {
            return None;
        }
        let index = self.rng.below(held) as usize;
        moderator.assignments.keys().nth(index).map(|&profile_id| (moderator_id, profile_id))
    }

    /// The steady world's worker: of up to four random moderators, the first that holds a
    /// profile; of its profiles (from a random one on), the first with a conversation
    /// waiting, and that conversation's client (the oldest waiting). O(log n), no scan.
    fn held_work(&mut self) -> Option<(ModeratorId, ClientId, ProfileId)> {
        for _ in 0..4 {
            let moderator_id = self.any_moderator();
            let held = self.engine.moderator(moderator_id).map_or(0, |moderator| moderator.assignments.len());
            if held == 0 {
                continue;
            }
            let start = self.rng.below(held as u64) as usize;
            let moderator = self.engine.moderator(moderator_id)?;
            let profiles = moderator.assignments.keys().cycle().skip(start).take(held);
            let mut first = None;
            for &profile_id in profiles {
                first.get_or_insert(profile_id);
                let waiting = self.engine.profile(profile_id).and_then(|profile| profile.waiting.first().copied());
                if let Some((_, client_id)) = waiting {
                    return Some((moderator_id, client_id, profile_id));
                }
            }
            let profile_id = first?;
            return Some((moderator_id, ClientId(self.rng.between(1, self.clients)), profile_id));
        }
        None
    }

    /// The holder, one of its profiles and a client waiting on it (or any client).
    fn work(&mut self) -> (ModeratorId, ClientId, ProfileId) {
        if self.world == World::Steady {
            return match self.held_work() {
                Some(work) => work,
                None => (self.any_moderator(), ClientId(self.rng.between(1, self.clients)), self.any_profile()),
            };
        }
        match self.held_profile() {
            Some((moderator_id, profile_id)) => {
                let client_id = self
                    .engine
                    .profile(profile_id)
                    .and_then(|profile| profile.waiting.first().map(|&(_, client_id)| client_id))
                    .unwrap_or_else(|| ClientId(self.rng.between(1, self.clients)));
                (moderator_id, client_id, profile_id)
            }
            None => (self.any_moderator(), ClientId(self.rng.between(1, self.clients)), self.any_profile()),
        }
    }

    fn next_command(&mut self) -> Command {
        if self.now_micros >= self.next_monitor_micros {
            self.next_monitor_micros = self.now_micros + MONITOR_INTERVAL_MICROS;
            return Command::RunMonitor;
        }
        // The steady world answers faster than clients write (see `World::Steady`).
        let (inbound_end, reply_end) = match self.world {
            World::Steady => (249, 599),
            World::Backlog => (299, 599),
        };
        match self.rng.below(1000) {
            draw if draw <= inbound_end => self.inbound(),
            draw if draw <= reply_end => {
                let (moderator_id, client_id, profile_id) = self.work();
                Command::SendMessage { moderator_id, client_id, profile_id, lease_token: None }
            }
            600..=869 => {
                let (moderator_id, client_id, profile_id) = self.work();
                Command::Typing { moderator_id, client_id, profile_id, lease_token: None }
            }
            870..=889 => {
                let (moderator_id, _, profile_id) = self.work();
                Command::Initiate { moderator_id, client_id: ClientId(self.rng.between(1, self.clients)), profile_id }
            }
            890..=919 => {
                let (moderator_id, _, profile_id) = self.work();
                Command::ExtendProfileLease { moderator_id, profile_id, seconds: 60 }
            }
            920..=939 => Command::Heartbeat { moderator_id: self.any_moderator() },
            940..=959 => Command::RealtimePresence { moderator_id: self.any_moderator(), connected: true },
            960..=979 => {
                let priority = self.rng.below(3) as i32 - 2;
                Command::SetPriority { moderator_id: self.any_moderator(), priority, actor: PriorityActor::Moderator }
            }
            980..=984 => {
                let moderator_id = self.any_moderator();
                let connected = self.engine.moderator(moderator_id).is_some_and(|m| m.state == ModeratorState::Working);
                if connected {
                    Command::Disconnect { moderator_id }
                } else {
                    Command::Connect { moderator_id, connected_at: self.now }
                }
            }
            985..=989 => {
                let (moderator_id, _, profile_id) = self.work();
                Command::ReleaseProfile { moderator_id, profile_id }
            }
            _ => Command::LeaveQueue { moderator_id: self.any_moderator() },
        }
    }

    pub fn shape(&self) -> Shape {
        let report = self.engine.load_report();
        Shape {
            working: u64::from(report.working),
            queued: u64::from(report.queued),
            free_profiles: u64::from(report.free_profiles),
            waiting: report.waiting_conversations,
            load: report.total_load,
            locked_clients: self.engine.clients().filter(|client| client.lock.is_some()).count() as u64,
        }
    }

    /// Runs the workload until it reaches a steady state, or `WARM_UP_MAX_MICROS` of
    /// simulated time. Simulated time, not a number of commands, is what matters: at 100,000
    /// moderators 200,000 commands are 4 simulated seconds, before any lock or inactivity
    /// clock has run once. The verdict and how it was reached are in the result.
    pub fn warm_up(&mut self) -> WarmUp {
        match self.world {
            World::Steady => self.warm_up_steady(),
            World::Backlog => self.warm_up_backlog(),
        }
    }

    /// The steady world: past `WARM_UP_MIN_MICROS`, and until the last three windows of
    /// `WARM_UP_WINDOW_MICROS` have the same mean backlog and the same mean number of working
    /// moderators as the three before them (`blocks_agree`), each window's mean over
    /// `SAMPLES_PER_WINDOW` samples. A backlog that still grows or shrinks by more than the
    /// tolerance in 3 minutes fails it.
    fn warm_up_steady(&mut self) -> WarmUp {
        let started_micros = self.now_micros;
        let started_commands = self.commands;
        let commands_per_sample = (WARM_UP_WINDOW_MICROS / SAMPLES_PER_WINDOW / self.micros_per_command).max(1);
        let mut windows: Vec<WindowMeans> = Vec::new();
        let mut shapes = vec![self.shape()];
        loop {
            let (mut waiting, mut working) = (0u64, 0u64);
            for _ in 0..SAMPLES_PER_WINDOW {
                self.run(commands_per_sample);
                let report = self.engine.load_report();
                waiting += report.waiting_conversations;
                working += u64::from(report.working);
            }
            let samples = SAMPLES_PER_WINDOW as f64;
            windows.push(WindowMeans { waiting: waiting as f64 / samples, working: working as f64 / samples });
            shapes.push(self.shape());
            let elapsed = self.now_micros - started_micros;
            if self.trace_warm_up {
                let means = windows[windows.len() - 1];
                eprintln!(
                    "  window ending at {} s: mean waiting {:.1}, mean working {:.1}",
                    elapsed / 1_000_000,
                    means.waiting,
                    means.working
                );
            }
            let verdict = (windows.len() >= 2 * WINDOWS_PER_BLOCK).then(|| {
                (blocks_agree(&windows, |means| means.waiting), blocks_agree(&windows, |means| means.working))
            });
            let steady =
                elapsed >= WARM_UP_MIN_MICROS && verdict.is_some_and(|(waiting, working)| waiting.0 && working.0);
            if steady || elapsed >= WARM_UP_MAX_MICROS {
                let how = match verdict {
                    Some((waiting, working)) => format!(
                        "mean waiting conversations {:.1} over the last {} simulated s, {:.1} over the {} s before (difference {:.1}, tolerance {:.1}); mean working moderators {:.1}, {:.1} (difference {:.1}, tolerance {:.1})",
                        waiting.2,
                        WINDOWS_PER_BLOCK as u64 * WARM_UP_WINDOW_MICROS / 1_000_000,
                        waiting.1,
                        WINDOWS_PER_BLOCK as u64 * WARM_UP_WINDOW_MICROS / 1_000_000,
                        waiting.3,
                        waiting.4,
                        working.2,
                        working.1,
                        working.3,
                        working.4
                    ),
                    None => "fewer than two blocks of windows".to_owned(),
                };
                return WarmUp {
                    commands: self.commands - started_commands,
                    simulated_seconds: elapsed / 1_000_000,
                    steady,
                    how,
                    before_last: shapes[shapes.len() - 2],
                    last: shapes[shapes.len() - 1],
                };
            }
        }
    }

    /// The backlog world: past `WARM_UP_MIN_MICROS`, and until three consecutive windows of
    /// `WARM_UP_WINDOW_MICROS` end with the same backlog (see `Shape::backlog_like`).
    fn warm_up_backlog(&mut self) -> WarmUp {
        let started_micros = self.now_micros;
        let started_commands = self.commands;
        let commands_per_window = (WARM_UP_WINDOW_MICROS / self.micros_per_command).max(1);
        // The last three windows' backlogs: alike in pairs, and the first like the last, so
        // that a slow drift (each window a little above the one before) is not taken for a rest.
        let mut shapes = vec![self.shape()];
        loop {
            self.run(commands_per_window);
            shapes.push(self.shape());
            if shapes.len() > 3 {
                shapes.remove(0);
            }
            let elapsed = self.now_micros - started_micros;
            let steady = elapsed >= WARM_UP_MIN_MICROS
                && shapes.len() == 3
                && shapes[0].backlog_like(&shapes[1])
                && shapes[1].backlog_like(&shapes[2])
                && shapes[0].backlog_like(&shapes[2]);
            if steady || elapsed >= WARM_UP_MAX_MICROS {
                let backlogs: Vec<u64> = shapes.iter().map(|shape| shape.waiting).collect();
                return WarmUp {
                    commands: self.commands - started_commands,
                    simulated_seconds: elapsed / 1_000_000,
                    steady,
                    how: format!(
                        "backlog at the end of the last windows {backlogs:?}, within {} % of each other or not",
                        BACKLOG_TOLERANCE_MILLI as f64 / 10.0
                    ),
                    before_last: shapes[shapes.len() - 2],
                    last: shapes[shapes.len() - 1],
                };
            }
        }
    }

    /// Applies `count` commands; returns the time spent inside the engine.
    pub fn run(&mut self, count: u64) -> Duration {
        let mut spent = Duration::ZERO;
        let mut done = 0;
        let mut chunk = Vec::with_capacity(CHUNK as usize);
        while done < count {
            let size = CHUNK.min(count - done);
            chunk.clear();
            for _ in 0..size {
                chunk.push(self.next_command());
                // Keep the generator's view of the world current: commands are decided on
                // the state they will meet, as a real caller's are.
                if chunk.len() % 64 == 0 {
                    let started = Instant::now();
                    for command in chunk.drain(..) {
                        self.apply(command);
                    }
                    spent += started.elapsed();
                }
            }
            let started = Instant::now();
            for command in chunk.drain(..) {
                self.apply(command);
            }
            let changes = black_box(self.engine.take_changes());
            if let Some(digest) = &mut self.digest {
                digest.write(format!("{changes:?}").as_bytes());
            }
            spent += started.elapsed();
            done += size;
        }
        spent
    }
}
