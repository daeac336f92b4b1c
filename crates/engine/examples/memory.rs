//! Memory per entity, measured: the engine's resident memory grows by each phase (profiles,
//! clients, moderators connected, then waiting conversations), read from `/proc/self/statm`.
//!
//!     cargo run --release -p switchboard-engine --example memory -- 100000
//!
//! Argument: moderators (default 100,000), with 10× profiles, 100× clients (as in the bench)
//! and one waiting conversation (one inbound message) per client. Everything an entity
//! costs is counted: its record, its slot and handle, and its entries in the indexes and
//! deadlines. Memory the allocator keeps for reuse is included, as it would be in the server.

use std::sync::Arc;

use switchboard_engine::{ClientId, Command, Config, Engine, MessageId, ModeratorId, ProfileId, Timestamp};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("resident pages");
    pages * 4096
}

fn phase(label: &str, count: u64, before: &mut u64) {
    let now = resident_bytes();
    let per = (now.saturating_sub(*before)) as f64 / count as f64;
    println!("{label:<40} {count:>10}  {per:>8.0} bytes each  (RSS {:.1} MiB)", now as f64 / 1048576.0);
    *before = now;
}

fn main() {
    let moderators: u64 =
        std::env::args().nth(1).and_then(|argument| argument.replace('_', "").parse().ok()).unwrap_or(100_000);
    let profiles = moderators * 10;
    let clients = moderators * 100;
    let mut engine = Engine::new(Config::default());
    let now = Timestamp(1_700_000_000_000);
    let mut rss = resident_bytes();

    for id in 1..=profiles {
        let command = Command::UpsertProfile { profile_id: ProfileId(id), name: format!("p{id}"), active: true };
        let _ = engine.handle(now, command);
    }
    engine.drain_events();
    engine.take_changes();
    phase("profiles (free)", profiles, &mut rss);

    for id in 1..=clients {
        let _ = engine.handle(now, Command::UpsertClient { client_id: ClientId(id), name: String::new() });
    }
    engine.drain_events();
    engine.take_changes();
    phase("clients", clients, &mut rss);

    // Connected one by one while profiles are free, each takes one at once: nobody queues
    // (a queue of 100,000 renumbered on every assignment would measure announcements).
    for id in 1..=moderators {
        let moderator_id = ModeratorId(id);
        let _ = engine.handle(now, Command::UpsertModerator { moderator_id, name: format!("m{id}") });
        let _ = engine.handle(now, Command::Connect { moderator_id, connected_at: now });
        let _ = engine.handle(now, Command::RealtimePresence { moderator_id, connected: true });
        if id % 1000 == 0 {
            engine.drain_events();
            engine.take_changes();
        }
    }
    engine.drain_events();
    engine.take_changes();
    phase("moderators (connected, one profile each)", moderators, &mut rss);

    let body: Arc<str> = Arc::from("Hello, are you there?");
    for id in 1..=clients {
        let command = Command::InboundMessage {
            message_id: MessageId::Number(id),
            client_id: ClientId(id),
            profile_id: ProfileId(id % profiles + 1),
            body: body.clone(),
            sent_at: now,
        };
        let _ = engine.handle(now, command);
        if id % 1000 == 0 {
            engine.drain_events();
            engine.take_changes();
        }
    }
    engine.drain_events();
    engine.take_changes();
    phase("waiting conversations (10 % assigned, locked)", clients, &mut rss);
    println!("next deadline {:?}", engine.next_deadline());
}
