//! A seeded demonstration of the engine that prints its decisions readably: moderators
//! connecting at once, the queue, a client writing to two profiles, replies, a moderator
//! going silent, balancing, and the monitor's report.
//!
//!     cargo run --release -p switchboard-engine --example demo

use std::sync::Arc;
use std::time::Duration;

use switchboard_engine::{
    ClientId, Command, Config, Engine, Event, MessageId, ModeratorId, ProfileId, Reply, Timestamp,
};

struct Demo {
    engine: Engine,
    now: Timestamp,
    start: Timestamp,
    next_message_id: u64,
}

impl Demo {
    fn clock(&self) -> String {
        let seconds = self.now.since(self.start).as_secs_f64();
        format!("[t+{seconds:>6.1}s]")
    }

    fn wait(&mut self, seconds: f64) {
        self.now = self.now.plus(Duration::from_secs_f64(seconds));
    }

    fn say(&self, text: &str) {
        println!("\n{} {text}", self.clock());
    }

    fn run(&mut self, command: Command) -> Option<Reply> {
        let result = self.engine.handle(self.now, command);
        let reply = match result {
            Ok(reply) => Some(reply),
            Err(rejection) => {
                println!("           refused: {rejection}");
                None
            }
        };
        let events: Vec<Event> = self.engine.drain_events().collect();
        for event in events {
            if let Some(line) = describe(&event) {
                println!("           {line}");
            }
        }
        reply
    }

    fn message(&mut self, client: u64, profile: u64) {
        self.next_message_id += 1;
        self.run(Command::InboundMessage {
            message_id: MessageId::Number(self.next_message_id),
            client_id: ClientId(client),
            profile_id: ProfileId(profile),
            body: Arc::from(format!("message #{} from client {client}", self.next_message_id)),
            sent_at: self.now,
        });
    }
}

fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::ModeratorQueuePositionChanged {
            moderator_id, position: Some(position), estimated_wait_seconds, ..
        } => {
            format!(
                "moderator {moderator_id} is #{position} in the queue (about {}s)",
                estimated_wait_seconds.unwrap_or(0)
            )
        }
        Event::ModeratorQueuePositionChanged { moderator_id, position: None, .. } => {
            format!("moderator {moderator_id} left the queue")
        }
        Event::ProfileAssigned { moderator_id, profile_id, reason } => {
            format!("profile {profile_id} -> moderator {moderator_id} ({})", reason.as_str())
        }
        Event::ProfileUnassigned { moderator_id, profile_id, reason } => {
            format!("profile {profile_id} taken from moderator {moderator_id} ({})", reason.as_str())
        }
        Event::ForcedReassignment { moderator_id, profile_id, reason, new_moderator_id } => format!(
            "ALERT for moderator {moderator_id}: profile {profile_id} reassigned ({}) to {}",
            reason.as_str(),
            new_moderator_id.map_or("nobody yet".to_owned(), |id| format!("moderator {id}"))
        ),
        Event::ConversationAssigned { moderator_id, client_id, profile_id, .. } => {
            format!("conversation client {client_id} / profile {profile_id} -> moderator {moderator_id}")
        }
        Event::ConversationReleased { moderator_id, client_id, profile_id, reason } => {
            format!(
                "conversation client {client_id} / profile {profile_id} left moderator {moderator_id} ({})",
                reason.as_str()
            )
        }
        Event::ClientLockStatusChanged { recipient_id, client_id, locked: true, moderator_id, .. } => format!(
            "moderator {recipient_id} must wait: client {client_id} is being handled by moderator {}",
            moderator_id.map_or(0, |id| id.0)
        ),
        Event::ClientLockStatusChanged { recipient_id, client_id, locked: false, .. } => {
            format!("moderator {recipient_id}: client {client_id} is free again")
        }
        Event::ConflictResolved { recipient_id, winners, queued, strategy, .. } => {
            format!("conflict ({strategy}) told to moderator {recipient_id}: winners {winners:?}, queued {queued:?}")
        }
        Event::AlertRaised(alert) => format!("supervisors: {} alert {:?}", alert.kind.as_str(), alert.subject),
        Event::ProfileLockStatusChanged { .. } | Event::ModeratorStateChanged { .. } => return None,
    })
}

fn main() {
    let config = Config { max_profiles_per_moderator: 2, ..Config::default() };
    let start = Timestamp(1_700_000_000_000);
    let mut demo = Demo { engine: Engine::new(config), now: start, start, next_message_id: 0 };
    println!("Switchboard engine demonstration: 4 moderators, 3 profiles, 6 clients (SPEC defaults, 2 profiles each).");
    for id in 1..=4 {
        demo.engine
            .handle(start, Command::UpsertModerator { moderator_id: ModeratorId(id), name: format!("m{id}") })
            .ok();
    }
    for id in 1..=3 {
        demo.engine
            .handle(start, Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true })
            .ok();
    }
    for id in 1..=6 {
        demo.engine.handle(start, Command::UpsertClient { client_id: ClientId(id), name: format!("c{id}") }).ok();
    }
    demo.engine.drain_events();

    demo.say("Clients write before anyone is connected: the messages wait on free profiles.");
    demo.message(1, 1);
    demo.message(2, 1);
    demo.message(3, 2);

    demo.wait(1.0);
    demo.say("Four moderators connect within one second; moderator 4's connection is processed first.");
    let t = demo.now;
    demo.run(Command::Connect { moderator_id: ModeratorId(4), connected_at: t.plus(Duration::from_millis(900)) });
    demo.run(Command::Connect { moderator_id: ModeratorId(1), connected_at: t });
    demo.run(Command::Connect { moderator_id: ModeratorId(2), connected_at: t.plus(Duration::from_millis(300)) });
    demo.run(Command::Connect { moderator_id: ModeratorId(3), connected_at: t.plus(Duration::from_millis(600)) });
    for id in 1..=4 {
        demo.run(Command::RealtimePresence { moderator_id: ModeratorId(id), connected: true });
    }

    demo.wait(5.0);
    demo.say("Client 4 writes to profiles 2 and 3: only one moderator may handle a client at a time.");
    let holders: Vec<String> = (1..=3)
        .map(|p| format!("p{p}={:?}", demo.engine.profile(ProfileId(p)).and_then(|p| p.holder()).map(|m| m.0)))
        .collect();
    println!("           holders now: {}", holders.join(", "));
    demo.message(4, 2);
    demo.wait(0.5);
    demo.message(4, 3);

    demo.wait(8.0);
    let holder = demo
        .engine
        .conversation(switchboard_engine::ConversationKey { client_id: ClientId(4), profile_id: ProfileId(2) })
        .and_then(|c| c.assigned_to)
        .expect("assigned");
    demo.say(&format!(
        "Moderator {holder} answers client 4 on profile 2: the lock goes, the other conversation follows."
    ));
    demo.run(Command::SendMessage {
        moderator_id: holder,
        client_id: ClientId(4),
        profile_id: ProfileId(2),
        lease_token: None,
    });

    demo.wait(2.0);
    demo.say("A second moderator tries to open a conversation with a client already being approached.");
    let p1 = demo.engine.profile(ProfileId(1)).and_then(|p| p.holder()).expect("held");
    let p3 = demo.engine.profile(ProfileId(3)).and_then(|p| p.holder()).expect("held");
    demo.run(Command::Initiate { moderator_id: p1, client_id: ClientId(6), profile_id: ProfileId(1) });
    demo.run(Command::Initiate { moderator_id: p3, client_id: ClientId(6), profile_id: ProfileId(3) });

    demo.wait(61.0);
    demo.say("A minute of silence from moderators with clients waiting: the monitor runs.");
    if let Some(Reply::Monitor(report)) = demo.run(Command::RunMonitor) {
        println!(
            "           monitor: set away {:?}, {} assignments, {} moves, {} alerts",
            report.set_away,
            report.assignments,
            report.moves.len(),
            report.alerts
        );
    }

    demo.say("Final state:");
    for moderator in demo.engine.moderators() {
        println!(
            "           moderator {}: {:<7} profiles {:?} load {}",
            moderator.id,
            moderator.state.as_str(),
            moderator.assignments.keys().map(|p| p.0).collect::<Vec<_>>(),
            moderator.load
        );
    }
    let violations = demo.engine.check_invariants();
    println!(
        "\nInvariants of SPEC §8: {}",
        if violations.is_empty() { "all hold".to_owned() } else { format!("{violations:?}") }
    );
}
