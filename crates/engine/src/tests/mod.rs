//! Behaviour tests: one per rule of the SPEC, named after the behaviour, written through a
//! small `World` helper so that each reads like the SPEC's sentence.

mod assignment;
mod conflicts;
mod faults;
mod layout;
mod locks;
mod monitor;
mod queue;
mod states;

use std::sync::Arc;
use std::time::Duration;

use crate::{
    ClientId, Command, Config, ConversationKey, Engine, Event, MessageId, ModeratorId, ModeratorState, PriorityActor,
    ProfileId, Rejection, Reply, Timestamp,
};

/// A small world with a clock, for behaviour tests. Ids are plain numbers.
pub(crate) struct World {
    pub engine: Engine,
    pub now: Timestamp,
    next_message_id: u64,
}

pub(crate) const START: Timestamp = Timestamp(1_700_000_000_000);

impl World {
    pub fn new(config: Config) -> Self {
        World { engine: Engine::new(config), now: START, next_message_id: 0 }
    }

    /// `moderators` moderators 1..=n, `profiles` profiles 1..=n, clients 1..=`clients`.
    pub fn with(config: Config, moderators: u64, profiles: u64, clients: u64) -> Self {
        let mut world = World::new(config);
        for id in 1..=moderators {
            world.ok(Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("moderator {id}") });
        }
        for id in 1..=profiles {
            world.ok(Command::UpsertProfile { profile_id: ProfileId(id), name: format!("profile {id}"), active: true });
        }
        for id in 1..=clients {
            world.ok(Command::UpsertClient { client_id: ClientId(id), name: format!("client {id}") });
        }
        world.engine.drain_events();
        world
    }

    pub fn wait(&mut self, duration: Duration) {
        self.now = self.now.plus(duration);
    }

    pub fn wait_seconds(&mut self, seconds: u64) {
        self.wait(Duration::from_secs(seconds));
    }

    pub fn handle(&mut self, command: Command) -> Result<Reply, Rejection> {
        let result = self.engine.handle(self.now, command);
        let violations = self.engine.check_invariants();
        assert!(violations.is_empty(), "invariants broken: {violations:#?}");
        result
    }

    pub fn ok(&mut self, command: Command) -> Reply {
        let description = format!("{command:?}");
        self.handle(command).unwrap_or_else(|rejection| panic!("{description} was refused: {rejection}"))
    }

    /// The command is refused, and refusing it changed nothing.
    pub fn refused(&mut self, command: Command) -> Rejection {
        self.engine.advance(self.now);
        self.engine.drain_events();
        let before = self.engine.clone();
        let description = format!("{command:?}");
        let rejection = self.handle(command).expect_err(&format!("{description} should be refused"));
        assert!(self.engine == before, "refusing {description} changed the state");
        rejection
    }

    pub fn events(&mut self) -> Vec<Event> {
        self.engine.drain_events().collect()
    }

    pub fn connect(&mut self, moderator: u64) {
        let now = self.now;
        self.ok(Command::Connect { moderator_id: ModeratorId(moderator), connected_at: now });
    }

    pub fn connect_at(&mut self, moderator: u64, connected_at: Timestamp) {
        self.ok(Command::Connect { moderator_id: ModeratorId(moderator), connected_at });
    }

    pub fn disconnect(&mut self, moderator: u64) {
        self.ok(Command::Disconnect { moderator_id: ModeratorId(moderator) });
    }

    /// Client `client` writes to profile `profile`; returns the message id.
    pub fn message(&mut self, client: u64, profile: u64) -> MessageId {
        self.next_message_id += 1;
        let message_id = MessageId::Number(self.next_message_id);
        self.message_with_id(message_id.clone(), client, profile);
        message_id
    }

    /// Client `client` writes to profile `profile` a message the platform numbered `message_id`.
    pub fn message_with_id(&mut self, message_id: MessageId, client: u64, profile: u64) -> Reply {
        self.ok(Command::InboundMessage {
            body: Arc::from(format!("message {message_id}")),
            message_id,
            client_id: ClientId(client),
            profile_id: ProfileId(profile),
            sent_at: self.now,
        })
    }

    pub fn typing(&mut self, moderator: u64, client: u64, profile: u64) -> Result<Reply, Rejection> {
        self.handle(Command::Typing {
            moderator_id: ModeratorId(moderator),
            client_id: ClientId(client),
            profile_id: ProfileId(profile),
            lease_token: None,
        })
    }

    pub fn reply(&mut self, moderator: u64, client: u64, profile: u64) -> Result<Reply, Rejection> {
        self.handle(Command::SendMessage {
            moderator_id: ModeratorId(moderator),
            client_id: ClientId(client),
            profile_id: ProfileId(profile),
            lease_token: None,
        })
    }

    pub fn release(&mut self, moderator: u64, profile: u64) {
        self.ok(Command::ReleaseProfile { moderator_id: ModeratorId(moderator), profile_id: ProfileId(profile) });
    }

    pub fn monitor(&mut self) -> crate::MonitorReport {
        match self.ok(Command::RunMonitor) {
            Reply::Monitor(report) => report,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    pub fn set_priority(&mut self, moderator: u64, priority: i32, actor: PriorityActor) -> Result<Reply, Rejection> {
        self.handle(Command::SetPriority { moderator_id: ModeratorId(moderator), priority, actor })
    }

    pub fn holder(&self, profile: u64) -> Option<u64> {
        self.engine.profile(ProfileId(profile)).and_then(|p| p.holder()).map(|id| id.0)
    }

    pub fn profiles_of(&self, moderator: u64) -> Vec<u64> {
        self.engine.status(ModeratorId(moderator)).profiles.iter().map(|p| p.0).collect()
    }

    pub fn state(&self, moderator: u64) -> ModeratorState {
        self.engine.status(ModeratorId(moderator)).state
    }

    pub fn load(&self, moderator: u64) -> u32 {
        self.engine.status(ModeratorId(moderator)).load
    }

    pub fn queue(&self) -> Vec<u64> {
        self.engine.queue_order().map(|id| id.0).collect()
    }

    pub fn position(&self, moderator: u64) -> Option<u32> {
        self.engine.status(ModeratorId(moderator)).queue.map(|place| place.position)
    }

    pub fn assigned_to(&self, client: u64, profile: u64) -> Option<u64> {
        self.engine
            .conversation(ConversationKey { client_id: ClientId(client), profile_id: ProfileId(profile) })
            .and_then(|c| c.assigned_to)
            .map(|id| id.0)
    }

    pub fn client_holder(&self, client: u64) -> Option<u64> {
        self.engine.client(ClientId(client)).and_then(|c| c.lock_holder()).map(|id| id.0)
    }
}

/// The SPEC's defaults.
pub(crate) fn spec() -> Config {
    Config::default()
}

/// The SPEC's defaults with a given number of profiles per moderator.
pub(crate) fn spec_with_max_profiles(max: u32) -> Config {
    Config { max_profiles_per_moderator: max, ..Config::default() }
}
