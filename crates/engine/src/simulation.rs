//! Seeded random histories against the real engine, with every invariant of SPEC §8 checked
//! after every step.
//!
//! A history mixes everything the world can do: connects (with connection times spread over
//! the conflict window), disconnects, inbound messages and their retries, typing, replies,
//! initiations, unlocks, extensions, priority changes, leaving and rejoining the queue,
//! presence coming and going, supervisors' pins and unlocks, profiles switched off and on,
//! clock jumps (forward and back) and monitor ticks. Commands are chosen mostly among the
//! plausible ones (a holder typing to its own waiting client) and sometimes at random, so
//! that refusals are exercised too: a refused command, like a retried message, must leave
//! the engine exactly as it was.
//!
//! Message ids come in both of the API's forms, integers and string keys (UUID-like,
//! ULID-like, and the decimal twin of an integer id, which must count as another message),
//! so that idempotency and its restore after a crash are exercised for each.
//!
//! Everything is derived from the seed, so a failing seed replays exactly.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::command::{Command, PriorityActor, Reply};
use crate::conflict::Conflict;
use crate::event::{Event, ReleaseReason};
use crate::ids::{ClientId, ConflictId, ConversationKey, MessageId, MessageKey, ModeratorId, ProfileId, Timestamp};
use crate::model::{Client, Conversation, Moderator, ModeratorState, Profile};
use crate::rng::SeededRng;
use crate::stored::{EngineMeta, RestoredState};
use crate::violation::Violation;
use crate::{Config, ConflictStrategy, Engine};

/// The size of the simulated world and how thoroughly each step is checked.
#[derive(Clone, Debug)]
pub struct WorldSize {
    pub moderators: u64,
    pub profiles: u64,
    pub clients: u64,
    /// Every how many steps a refused command is checked to have changed nothing (cloning
    /// the engine costs more than the step itself). 1 checks every one.
    pub refusal_check_every: u64,
}

impl Default for WorldSize {
    fn default() -> Self {
        WorldSize { moderators: 8, profiles: 12, clients: 40, refusal_check_every: 1 }
    }
}

/// What a simulation run saw, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimulationStats {
    pub steps: u64,
    pub accepted: u64,
    pub refused: u64,
    pub duplicates: u64,
    pub events: u64,
    pub monitor_runs: u64,
    pub balancing_moves: u64,
    pub conflicts: u64,
    pub forced_reassignments: u64,
    pub restarts: u64,
    pub simulated_millis: u64,
}

impl SimulationStats {
    pub fn add(&mut self, other: &SimulationStats) {
        self.steps += other.steps;
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.duplicates += other.duplicates;
        self.events += other.events;
        self.monitor_runs += other.monitor_runs;
        self.balancing_moves += other.balancing_moves;
        self.conflicts += other.conflicts;
        self.forced_reassignments += other.forced_reassignments;
        self.restarts += other.restarts;
        self.simulated_millis += other.simulated_millis;
    }
}

/// A seed whose history broke an invariant: everything needed to replay and understand it.
#[derive(Clone, Debug)]
pub struct SimulationFailure {
    pub seed: u64,
    pub step: u64,
    pub violations: Vec<Violation>,
    /// The last commands before the failure, oldest first.
    pub recent_commands: Vec<String>,
}

impl fmt::Display for SimulationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "simulation seed {} broke an invariant at step {}:", self.seed, self.step)?;
        for violation in &self.violations {
            writeln!(f, "  {violation}")?;
        }
        writeln!(f, "last commands:")?;
        for command in &self.recent_commands {
            writeln!(f, "  {command}")?;
        }
        write!(
            f,
            "replay: SWITCHBOARD_SIM_SEED={} cargo test -p switchboard-engine --test simulation -- replay --ignored",
            self.seed
        )
    }
}

/// The engine configuration a seed runs under: the SPEC's rules with durations short enough
/// that leases expire, moderators go idle and balancing fires within a few thousand steps.
pub fn simulation_config(rng: &mut SeededRng) -> Config {
    Config {
        client_lock_ttl: Duration::from_secs(rng.between(10, 40)),
        profile_lock_ttl: Duration::from_secs(rng.between(60, 300)),
        max_lock_extension: Duration::from_secs(rng.between(30, 120)),
        inactivity_threshold: Duration::from_secs(rng.between(30, 120)),
        imbalance_threshold: rng.between(2, 3) as u32,
        anti_ping_pong: Duration::from_secs(rng.between(60, 300)),
        max_profiles_per_moderator: rng.between(1, 3) as u32,
        max_moves_per_tick: rng.between(1, 10) as u32,
        conflict_window: Duration::from_millis(rng.between(500, 2000)),
        conflict_strategy: if rng.chance(50) { ConflictStrategy::Timestamp } else { ConflictStrategy::Id },
        presence_timeout: Duration::from_secs(rng.between(30, 120)),
        max_self_priority: rng.between(0, 1) as i32,
        response_alert: Duration::from_secs(rng.between(30, 180)),
        orphan_alert_after: Duration::from_secs(rng.between(10, 60)),
        queue_stall_alert: Duration::from_secs(rng.between(60, 600)),
        integrity_slice: rng.between(2, 64) as usize,
        ..Config::default()
    }
}

pub struct Simulation {
    seed: u64,
    rng: SeededRng,
    world: WorldSize,
    engine: Engine,
    now: Timestamp,
    start: Timestamp,
    next_message_id: u64,
    /// The last command built carries a message id never sent before.
    fresh_message_sent: bool,
    /// The newest acknowledged inbound message of each conversation, by arrival.
    latest_inbound: BTreeMap<ConversationKey, Timestamp>,
    acknowledged: Vec<MessageId>,
    /// When balancing last moved each profile, from the events (invariant 7).
    last_balanced: BTreeMap<ProfileId, Timestamp>,
    recent_commands: VecDeque<String>,
    stats: SimulationStats,
    next_monitor_at: Timestamp,
    /// What a store would hold if it wrote only what `take_changes` reported.
    shadow: Shadow,
}

/// The records a store would hold, fed only by `Engine::take_changes`.
#[derive(Default)]
struct Shadow {
    moderators: BTreeMap<ModeratorId, Moderator>,
    profiles: BTreeMap<ProfileId, Profile>,
    clients: BTreeMap<ClientId, Client>,
    conversations: BTreeMap<ConversationKey, Conversation>,
    messages: BTreeMap<MessageId, ConversationKey>,
    conflicts: BTreeMap<ConflictId, Conflict>,
    meta: EngineMeta,
}

impl Shadow {
    fn absorb(&mut self, engine: &mut Engine) {
        let changes = engine.take_changes();
        fn store<K: Ord + Copy, V: Clone>(shadow: &mut BTreeMap<K, V>, ids: &[K], current: impl Fn(K) -> Option<V>) {
            for &id in ids {
                match current(id) {
                    Some(value) => shadow.insert(id, value),
                    None => shadow.remove(&id),
                };
            }
        }
        store(&mut self.moderators, &changes.moderators, |id| engine.moderator(id).cloned());
        store(&mut self.profiles, &changes.profiles, |id| engine.profile(id).cloned());
        store(&mut self.clients, &changes.clients, |id| engine.client(id).cloned());
        store(&mut self.conversations, &changes.conversations, |key| engine.conversation(key).cloned());
        store(&mut self.conflicts, &changes.conflicts, |id| engine.conflicts().find(|c| c.conflict_id == id).cloned());
        self.messages.extend(changes.messages.iter().cloned());
        if changes.meta_changed {
            self.meta = engine.meta();
        }
    }

    /// Differences between the shadow and the engine's records: each one a change that
    /// `take_changes` failed to report.
    fn differences(&self, engine: &Engine) -> Vec<String> {
        let mut differences = Vec::new();
        let moderators: BTreeMap<ModeratorId, Moderator> = engine.moderators().map(|m| (m.id, m.clone())).collect();
        if moderators != self.moderators {
            differences.push("moderators".to_owned());
        }
        let profiles: BTreeMap<ProfileId, Profile> = engine.profiles().map(|p| (p.id, p.clone())).collect();
        if profiles != self.profiles {
            differences.push("profiles".to_owned());
        }
        let conversations: BTreeMap<ConversationKey, Conversation> =
            engine.conversations().map(|(key, c)| (*key, c.clone())).collect();
        if conversations != self.conversations {
            differences.push("conversations".to_owned());
        }
        let conflicts: BTreeMap<ConflictId, Conflict> =
            engine.conflicts().map(|c| (c.conflict_id, c.clone())).collect();
        if conflicts != self.conflicts {
            differences.push("conflicts".to_owned());
        }
        if engine.meta() != self.meta {
            differences.push("meta".to_owned());
        }
        let clients: BTreeMap<ClientId, Client> = engine.clients().map(|c| (c.id, c.clone())).collect();
        if clients != self.clients {
            differences.push("clients".to_owned());
        }
        differences
    }

    fn restored_state(&self) -> RestoredState {
        RestoredState {
            moderators: self.moderators.values().cloned().collect(),
            profiles: self.profiles.values().cloned().collect(),
            clients: self.clients.values().cloned().collect(),
            conversations: self.conversations.iter().map(|(key, c)| (*key, c.clone())).collect(),
            messages: self.messages.iter().map(|(id, key)| (id.clone(), *key)).collect(),
            conflicts: self.conflicts.values().cloned().collect(),
            meta: self.meta.clone(),
        }
    }
}

/// Every how many steps, on average, the simulated service crashes and restarts from what
/// `take_changes` let a store keep.
const STEPS_PER_CRASH: u64 = 400;

/// How many commands a failure report shows.
const RECENT_COMMANDS_KEPT: usize = 30;

impl Simulation {
    pub fn new(seed: u64, world: WorldSize) -> Self {
        let mut rng = SeededRng::new(seed);
        let config = simulation_config(&mut rng);
        let mut engine = Engine::new(config);
        let start = Timestamp(1_700_000_000_000 + rng.below(1_000_000_000));
        for id in 1..=world.moderators {
            let _ = engine
                .handle(start, Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("m{id}") });
        }
        for id in 1..=world.profiles {
            let command = Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true };
            let _ = engine.handle(start, command);
        }
        for id in 1..=world.clients {
            let _ = engine.handle(start, Command::UpsertClient { client_id: ClientId(id), name: format!("c{id}") });
        }
        engine.drain_events();
        let mut shadow = Shadow::default();
        shadow.absorb(&mut engine);
        let next_monitor_at = start.plus(engine.config().monitor_interval);
        Simulation {
            seed,
            rng,
            world,
            engine,
            now: start,
            start,
            next_message_id: 1,
            fresh_message_sent: false,
            latest_inbound: BTreeMap::new(),
            acknowledged: Vec::new(),
            last_balanced: BTreeMap::new(),
            recent_commands: VecDeque::new(),
            stats: SimulationStats::default(),
            next_monitor_at,
            shadow,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Breaks one rule of the engine for this run (tests of the checks themselves).
    #[cfg(test)]
    pub(crate) fn with_fault(mut self, fault: crate::Fault) -> Self {
        self.engine.fault = Some(fault);
        self
    }

    /// Runs `steps` steps, checking every invariant after each.
    pub fn run(mut self, steps: u64) -> Result<SimulationStats, Box<SimulationFailure>> {
        for _ in 0..steps {
            self.step()?;
        }
        self.stats.simulated_millis = self.now.since(self.start).as_millis() as u64;
        Ok(self.stats)
    }

    pub fn step(&mut self) -> Result<(), Box<SimulationFailure>> {
        self.stats.steps += 1;
        self.move_clock();
        let command = if self.now >= self.next_monitor_at {
            self.next_monitor_at = self.now.plus(self.engine.config().monitor_interval);
            Command::RunMonitor
        } else {
            self.random_command()
        };
        self.remember(&command);
        let fresh_message = std::mem::take(&mut self.fresh_message_sent);
        let duplicate =
            matches!(&command, Command::InboundMessage { message_id, .. } if self.engine.is_message_known(message_id));
        let is_monitor = matches!(command, Command::RunMonitor);

        // Time-driven changes belong to no command; apply them first so that the comparison
        // below sees only what the command itself did.
        self.engine.advance(self.now);
        let check_unchanged = duplicate || self.stats.steps.is_multiple_of(self.world.refusal_check_every.max(1));
        let before = check_unchanged.then(|| self.engine.clone());
        let result = self.engine.handle(self.now, command.clone());
        let mut violations = Vec::new();
        match &result {
            Ok(_) => self.stats.accepted += 1,
            Err(_) => self.stats.refused += 1,
        }
        if let Some(before) = before {
            if (result.is_err() || duplicate) && self.engine != before {
                let what = if duplicate { "a retried message" } else { "a refused command" };
                violations.push(Violation {
                    invariant: 0,
                    description: format!("{what} changed the state: {command:?} -> {result:?}"),
                });
            }
        }
        if duplicate {
            self.stats.duplicates += 1;
        }
        if let (Ok(Reply::MessageAccepted { message_id, duplicate: answered, .. }), true) =
            (&result, fresh_message || duplicate)
        {
            // Exact comparison: a fresh id (the key "41" after the integer 41 included) is a
            // new message, and a known one is answered as the duplicate it is.
            if *answered != duplicate || (fresh_message && duplicate) {
                violations.push(Violation {
                    invariant: 8,
                    description: format!(
                        "message {message_id:?} (fresh: {fresh_message}, known: {duplicate}) was answered duplicate: {answered}"
                    ),
                });
            }
        }
        if let (Ok(_), Command::InboundMessage { message_id, client_id, profile_id, .. }) = (&result, &command) {
            if !duplicate {
                let key = ConversationKey { client_id: *client_id, profile_id: *profile_id };
                self.latest_inbound.insert(key, self.engine.now());
                self.acknowledged.push(message_id.clone());
            }
        }
        if is_monitor {
            self.stats.monitor_runs += 1;
        }
        violations.extend(self.observe_events());
        violations.extend(self.engine.check_invariants());
        violations.extend(self.check_messages());
        self.shadow.absorb(&mut self.engine);
        if self.rng.below(STEPS_PER_CRASH) == 0 {
            violations.extend(self.crash_and_restart());
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Box::new(SimulationFailure {
                seed: self.seed,
                step: self.stats.steps,
                violations,
                recent_commands: self.recent_commands.iter().cloned().collect(),
            }))
        }
    }

    /// The process dies and restarts from the shadow store: the shadow must equal the live
    /// records (nothing escaped `take_changes`), and restoring a consistent state must need
    /// no repair and give back the same records.
    fn crash_and_restart(&mut self) -> Vec<Violation> {
        self.stats.restarts += 1;
        let mut violations = Vec::new();
        for what in self.shadow.differences(&self.engine) {
            violations
                .push(Violation { invariant: 8, description: format!("a change to {what} escaped take_changes") });
        }
        let config = self.engine.config().clone();
        let (mut restored, repairs) = Engine::restore(config, self.engine.now(), self.shadow.restored_state());
        if !repairs.is_empty() {
            violations.push(Violation {
                invariant: 0,
                description: format!("restoring a consistent state repaired {repairs:?}"),
            });
        }
        restored.drain_events();
        for what in self.shadow.differences(&restored) {
            violations.push(Violation { invariant: 8, description: format!("restore changed {what}") });
        }
        self.shadow.absorb(&mut restored);
        self.engine = restored;
        violations
    }

    fn remember(&mut self, command: &Command) {
        if self.recent_commands.len() == RECENT_COMMANDS_KEPT {
            self.recent_commands.pop_front();
        }
        self.recent_commands.push_back(format!("t={} {command:?}", self.now.0));
    }

    fn move_clock(&mut self) {
        let millis = match self.rng.below(1000) {
            0..=4 => self.rng.between(60_000, 900_000),
            5..=9 => {
                // A clock that goes back: the engine must treat it as the present.
                self.now = Timestamp(self.now.0.saturating_sub(self.rng.between(1, 3000)));
                return;
            }
            10..=200 => 0,
            _ => self.rng.between(1, 4000),
        };
        self.now = self.now.plus(Duration::from_millis(millis));
    }

    /// Invariant 7 (no profile moved by balancing twice within `anti_ping_pong`), and counts.
    fn observe_events(&mut self) -> Vec<Violation> {
        let anti_ping_pong = self.engine.config().anti_ping_pong;
        let now = self.engine.now();
        let mut violations = Vec::new();
        for event in self.engine.drain_events() {
            self.stats.events += 1;
            match event {
                Event::ForcedReassignment { profile_id, reason, .. } => {
                    self.stats.forced_reassignments += 1;
                    if reason == ReleaseReason::Rebalance {
                        self.stats.balancing_moves += 1;
                        if let Some(&previous) = self.last_balanced.get(&profile_id) {
                            if !previous.is_older_than(anti_ping_pong, now) {
                                violations.push(Violation {
                                    invariant: 7,
                                    description: format!(
                                        "profile {profile_id} moved by balancing at {} and again at {}",
                                        previous.0, now.0
                                    ),
                                });
                            }
                        }
                        self.last_balanced.insert(profile_id, now);
                    }
                }
                Event::ConflictResolved { .. } => self.stats.conflicts += 1,
                _ => {}
            }
        }
        violations
    }

    /// Invariant 8: every acknowledged message is known once, and its conversation is either
    /// answered after it or still waiting.
    fn check_messages(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        if let Some(message_id) = self.acknowledged.last() {
            if !self.engine.is_message_known(message_id) {
                violations.push(Violation { invariant: 8, description: format!("message {message_id} was forgotten") });
            }
        }
        for (key, &received_at) in &self.latest_inbound {
            let conversation = self.engine.conversation(*key);
            let waiting = conversation.and_then(|c| c.waiting_since).is_some_and(|since| since <= received_at);
            let answered = conversation.and_then(|c| c.last_reply_at).is_some_and(|at| at >= received_at);
            if !waiting && !answered {
                violations.push(Violation {
                    invariant: 8,
                    description: format!(
                        "conversation {key:?} is neither waiting nor answered after its message at {}",
                        received_at.0
                    ),
                });
            }
        }
        violations
    }

    /// A message id never sent before: mostly integers, as most hosts send, and three in
    /// eight string keys. The form follows from the counter and the key from the seed, with
    /// no draw from `rng`, so every seed's history is otherwise the one it was before string
    /// ids existed.
    fn fresh_message_id(&mut self) -> MessageId {
        self.next_message_id += 1;
        self.fresh_message_sent = true;
        let number = self.next_message_id;
        let mut mix = SeededRng::new(self.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (high, low) = (mix.next_u64(), mix.next_u64());
        let key = match number % 8 {
            // UUID-like.
            3 => format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                high >> 32,
                (high >> 16) & 0xffff,
                high & 0xffff,
                low >> 48,
                low & 0xffff_ffff_ffff
            ),
            // The decimal twin of the integer id sent just before (`number - 1` is 4 mod 8).
            5 => (number - 1).to_string(),
            // ULID-like, with the rest of the alphabet.
            7 => format!("01J{high:016X}.{:04x}_{}:-", low >> 48, number),
            _ => return MessageId::Number(number),
        };
        MessageId::Key(MessageKey::parse(&key).expect("the simulation's keys are valid"))
    }

    fn any_moderator(&mut self) -> ModeratorId {
        ModeratorId(self.rng.between(1, self.world.moderators))
    }

    fn any_profile(&mut self) -> ProfileId {
        ProfileId(self.rng.between(1, self.world.profiles + 1))
    }

    fn any_client(&mut self) -> ClientId {
        ClientId(self.rng.between(1, self.world.clients + 1))
    }

    /// A moderator in one of `states`, or any moderator.
    fn moderator_in(&mut self, states: &[ModeratorState]) -> ModeratorId {
        let candidates: Vec<ModeratorId> =
            self.engine.moderators().filter(|m| states.contains(&m.state)).map(|m| m.id).collect();
        match self.rng.pick(&candidates) {
            Some(&id) if !self.rng.chance(10) => id,
            _ => self.any_moderator(),
        }
    }

    /// Mostly a (moderator, client, profile) where the moderator holds the profile and the
    /// client has a conversation with it; sometimes anything.
    fn plausible_work(&mut self) -> (ModeratorId, ClientId, ProfileId) {
        let holdings: Vec<(ModeratorId, ProfileId)> =
            self.engine.profiles().filter_map(|profile| profile.holder().map(|holder| (holder, profile.id))).collect();
        let Some(&(moderator_id, profile_id)) = self.rng.pick(&holdings) else {
            return (self.any_moderator(), self.any_client(), self.any_profile());
        };
        if self.rng.chance(8) {
            return (moderator_id, self.any_client(), profile_id);
        }
        let waiting = self.engine.waiting_conversations(profile_id);
        let client_id = match self.rng.pick(&waiting) {
            Some(key) => key.client_id,
            None => self.any_client(),
        };
        (moderator_id, client_id, profile_id)
    }

    fn random_command(&mut self) -> Command {
        use ModeratorState::*;
        let roll = self.rng.below(1000);
        match roll {
            0..=259 => {
                let retry = self.rng.chance(5) && !self.acknowledged.is_empty();
                let message_id = if retry {
                    self.acknowledged[self.rng.below(self.acknowledged.len() as u64) as usize].clone()
                } else {
                    self.fresh_message_id()
                };
                let (client_id, profile_id) = (self.any_client(), self.any_profile());
                Command::InboundMessage {
                    message_id,
                    client_id,
                    profile_id,
                    body: Arc::from("hello"),
                    sent_at: self.now,
                }
            }
            260..=399 => {
                let (moderator_id, client_id, profile_id) = self.plausible_work();
                Command::Typing { moderator_id, client_id, profile_id, lease_token: None }
            }
            400..=559 => {
                let (moderator_id, client_id, profile_id) = self.plausible_work();
                Command::SendMessage { moderator_id, client_id, profile_id, lease_token: None }
            }
            560..=589 => {
                let (moderator_id, _, profile_id) = self.plausible_work();
                let client_id = self.any_client();
                Command::Initiate { moderator_id, client_id, profile_id }
            }
            590..=679 => {
                let moderator_id = self.moderator_in(&[Offline, Paused, Away]);
                let spread = crate::ids::millis(self.engine.config().conflict_window) * 3 / 2;
                let connected_at = Timestamp(self.now.0.saturating_sub(self.rng.below(spread + 1)));
                Command::Connect { moderator_id, connected_at }
            }
            680..=704 => Command::Disconnect { moderator_id: self.moderator_in(&[Queued, Working, Paused, Away]) },
            705..=724 => Command::LeaveQueue { moderator_id: self.moderator_in(&[Queued]) },
            725..=744 => {
                let priority = self.rng.between(0, 4) as i32 - 2;
                let actor = if self.rng.chance(50) { PriorityActor::Moderator } else { PriorityActor::Supervisor };
                Command::SetPriority { moderator_id: self.moderator_in(&[Queued]), priority, actor }
            }
            745..=764 => {
                let (moderator_id, _, profile_id) = self.plausible_work();
                Command::ReleaseProfile { moderator_id, profile_id }
            }
            765..=779 => {
                let (moderator_id, client_id, _) = self.plausible_work();
                Command::ReleaseClient { moderator_id, client_id }
            }
            780..=799 => {
                let (moderator_id, client_id, profile_id) = self.plausible_work();
                let seconds = self.rng.between(0, 200) as u32;
                if self.rng.chance(50) {
                    Command::ExtendProfileLease { moderator_id, profile_id, seconds }
                } else {
                    Command::ExtendClientLock { moderator_id, client_id, seconds }
                }
            }
            800..=839 => Command::RunMonitor,
            840..=854 => Command::Rebalance,
            855..=869 => Command::SupervisorUnlockProfile { profile_id: self.any_profile() },
            870..=884 => {
                let moderator_id = self.moderator_in(&[Queued, Working]);
                Command::SupervisorPinProfile { profile_id: self.any_profile(), moderator_id }
            }
            885..=899 => {
                let mine: Vec<(ModeratorId, ConflictId)> = self
                    .engine
                    .conflicts()
                    .filter(|c| c.resolved_at.is_none())
                    .flat_map(|c| c.participants.iter().map(move |&m| (m, c.conflict_id)))
                    .collect();
                let (moderator_id, conflict_id) = match self.rng.pick(&mine) {
                    Some(&pair) => pair,
                    None => (self.any_moderator(), ConflictId(self.rng.between(1, 3))),
                };
                Command::ResolveConflict { moderator_id, conflict_id }
            }
            900..=914 => {
                let profile_id = self.any_profile();
                let active = self.rng.chance(70);
                Command::UpsertProfile { profile_id, name: format!("p{profile_id}"), active }
            }
            915..=959 => {
                let moderator_id = self.moderator_in(&[Queued, Working, Paused]);
                Command::RealtimePresence { moderator_id, connected: self.rng.chance(60) }
            }
            _ => Command::Heartbeat { moderator_id: self.moderator_in(&[Queued, Working, Paused, Away]) },
        }
    }
}

/// Runs `seeds` seeds of `steps` steps from `first_seed`; stops at the first failure.
pub fn run_seeds(
    first_seed: u64,
    seeds: u64,
    steps: u64,
    world: &WorldSize,
    mut progress: impl FnMut(u64, &SimulationStats),
) -> Result<SimulationStats, Box<SimulationFailure>> {
    let mut total = SimulationStats::default();
    for seed in first_seed..first_seed + seeds {
        let stats = Simulation::new(seed, world.clone()).run(steps)?;
        total.add(&stats);
        progress(seed, &total);
    }
    Ok(total)
}
