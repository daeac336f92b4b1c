//! The writer's behaviour through its handle: durability of each kind of change across a
//! restart, rejected commands, event delivery after commit, redelivery, and stored times.

use std::time::Duration;

use switchboard_engine::rng::SeededRng;
use switchboard_engine::Engine;
use switchboard_engine::{
    ClientId, Command, ConversationKey, MessageId, ModeratorId, ModeratorState, ProfileId, Rejection, Reply,
};
use switchboard_store::testing::ManualClock;
use switchboard_store::{Direction, WriteError};

use crate::common::{both_backends, eventually, fingerprint, key, Db, Service, START};

both_backends!(
    ingestion_is_idempotent_across_a_restart,
    string_message_ids_are_exact_and_idempotent_across_a_restart,
    a_database_of_integer_ids_upgrades_untouched,
    assignment_is_persisted_and_restored,
    rejected_command_leaves_the_database_unchanged,
    events_are_delivered_after_commit_in_order,
    failed_commit_answers_unavailable_and_delivers_nothing,
    restart_redelivers_undelivered_events_exactly_once,
    lease_expiry_continues_from_stored_times_after_restart,
    settings_keep_the_first_value,
    stored_state_matches_the_engine_after_a_random_history,
    a_command_and_its_read_share_one_commit,
);

async fn a_command_and_its_read_share_one_commit(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(0, 1).await;
    let before = service.handle.metrics().batches_committed;
    let command = crate::common::inbound_command(100, 7, 1, "hello", service.clock_now());
    let (accepted, waiting) = service
        .handle
        .submit_and_read(command, None, |engine, outcome| {
            let key = ConversationKey { client_id: ClientId(7), profile_id: ProfileId(1) };
            (outcome.is_ok(), engine.conversation(key).map(|conversation| conversation.inbound_messages))
        })
        .await
        .expect("committed");
    assert!(accepted);
    assert_eq!(waiting, Some(1), "the read sees the command's effect");
    assert_eq!(service.handle.metrics().batches_committed, before + 1, "one commit for both");
    assert_eq!(service.count("SELECT count(*) FROM messages WHERE message_id = 100").await, 1);

    // A refused command still runs its read, with the refusal.
    let refused = Command::Heartbeat { moderator_id: ModeratorId(99) };
    let outcome = service.handle.submit_and_read(refused, None, |_, outcome| outcome.is_err()).await;
    assert_eq!(outcome, Ok(true));
    service.stop().await;
}

async fn ingestion_is_idempotent_across_a_restart(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(0, 1).await;
    let first = service.inbound(100, 7, 1).await.expect("accepted");
    assert!(matches!(first, Reply::MessageAccepted { duplicate: false, .. }), "{first:?}");
    let again = service.inbound(100, 7, 1).await.expect("accepted");
    assert!(matches!(again, Reply::MessageAccepted { duplicate: true, .. }), "{again:?}");

    let service = service.restart(db).await;
    let after_restart = service.inbound(100, 7, 1).await.expect("accepted");
    assert!(matches!(after_restart, Reply::MessageAccepted { duplicate: true, .. }), "{after_restart:?}");
    let next = service.inbound(101, 7, 1).await.expect("accepted");
    assert!(matches!(next, Reply::MessageAccepted { duplicate: false, .. }), "{next:?}");

    assert_eq!(service.count("SELECT count(*) FROM messages WHERE message_id = 100").await, 1);
    let key = ConversationKey { client_id: ClientId(7), profile_id: ProfileId(1) };
    let history = service.store.messages(key, 10).await.expect("messages");
    let ids: Vec<Option<MessageId>> = history.iter().map(|message| message.platform_message_id.clone()).collect();
    assert_eq!(ids, vec![Some(MessageId::Number(100)), Some(MessageId::Number(101))], "oldest first, each once");
    assert!(history.iter().all(|message| message.direction == Direction::Inbound));
    assert_eq!(history[0].body, "message 100");
    let waiting = service.handle.read(move |engine| engine.conversation(key).map(|c| c.inbound_messages)).await;
    assert_eq!(waiting, Ok(Some(2)), "the conversation counts both messages after the restart");
    service.stop().await;
}

/// Whether the writer answered `duplicate: true`.
async fn duplicate(service: &Service, message_id: MessageId) -> bool {
    match service.inbound(message_id.clone(), 7, 1).await {
        Ok(Reply::MessageAccepted { message_id: answered, duplicate, .. }) => {
            assert_eq!(answered, message_id, "echoed in the form given");
            duplicate
        }
        other => panic!("{message_id:?}: {other:?}"),
    }
}

async fn string_message_ids_are_exact_and_idempotent_across_a_restart(db: &Db) {
    const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(0, 1).await;
    assert!(!duplicate(&service, MessageId::Number(100)).await);
    assert!(!duplicate(&service, key("100")).await, "the string \"100\" is not the integer 100");
    assert!(!duplicate(&service, key(UUID)).await);
    assert!(duplicate(&service, key(UUID)).await);
    assert!(duplicate(&service, key("100")).await);

    let service = service.restart(db).await;
    assert!(duplicate(&service, key(UUID)).await, "restored from message_key");
    assert!(duplicate(&service, key("100")).await);
    assert!(duplicate(&service, MessageId::Number(100)).await);
    assert!(!duplicate(&service, key("0100")).await, "compared exactly, not as numbers");
    assert!(!duplicate(&service, key("550E8400-E29B-41D4-A716-446655440000")).await, "nor case-insensitively");

    assert_eq!(service.count("SELECT count(*) FROM messages WHERE message_id = 100").await, 1);
    assert_eq!(service.count("SELECT count(*) FROM messages WHERE message_key = '100'").await, 1);
    assert_eq!(service.count(&format!("SELECT count(*) FROM messages WHERE message_key = '{UUID}'")).await, 1);
    let conversation = ConversationKey { client_id: ClientId(7), profile_id: ProfileId(1) };
    let history = service.store.messages(conversation, 10).await.expect("messages");
    let ids: Vec<Option<MessageId>> = history.iter().map(|message| message.platform_message_id.clone()).collect();
    let expected =
        [MessageId::Number(100), key("100"), key(UUID), key("0100"), key("550E8400-E29B-41D4-A716-446655440000")];
    assert_eq!(ids, expected.map(Some).to_vec(), "each once, in the form given");

    // The conversation's newest message (what ConversationAssigned carries) survives a restart as a string.
    assert!(!duplicate(&service, key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F")).await);
    let service = service.restart(db).await;
    let last = service
        .handle
        .read(move |engine| engine.conversation(conversation).and_then(|c| c.last_inbound.clone()))
        .await
        .expect("read");
    assert_eq!(last.map(|summary| summary.message_id), Some(key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F")));
    let stored = "SELECT count(*) FROM conversations \
                  WHERE last_inbound_message_key = '01J9ZQ3W5X6Y7Z8A9B0C1D2E3F' AND last_inbound_message_id IS NULL";
    assert_eq!(service.count(stored).await, 1);
    service.stop().await;
}

/// A database written before string ids existed (migrations up to 5) keeps its rows and
/// its idempotency once migration 6 runs.
async fn a_database_of_integer_ids_upgrades_untouched(db: &Db) {
    let old = switchboard_store::Store::open(&db.url).await.expect("open");
    old.migrate_up_to(20250101000005).await.expect("the old schema");
    let (yes, no) = if db.backend == switchboard_store::Backend::Sqlite { ("1", "0") } else { ("true", "false") };
    let rows = format!(
        "INSERT INTO profiles (id, name, active, orphan_alerted) VALUES (1, 'p', {yes}, {no});
         INSERT INTO clients (id, name) VALUES (7, 'c');
         INSERT INTO conversations (client_id, profile_id, waiting_since, last_inbound_message_id, last_inbound_body,
             last_inbound_sent_at, last_inbound_received_at, inbound_messages, wait_alerted)
             VALUES (7, 1, {at}, 55, 'hello', {at}, {at}, 1, {no});
         INSERT INTO messages (id, message_id, client_id, profile_id, direction, body, sent_at, recorded_at)
             VALUES (1, 55, 7, 1, 'inbound', 'hello', {at}, {at});",
        at = START.0
    );
    old.execute_raw(&rows).await.expect("rows of the old schema");
    old.close().await;

    let service = Service::start(db, ManualClock::new(START)).await;
    let conversation = ConversationKey { client_id: ClientId(7), profile_id: ProfileId(1) };
    let last = service
        .handle
        .read(move |engine| engine.conversation(conversation).and_then(|c| c.last_inbound.clone()))
        .await
        .expect("read");
    assert_eq!(
        last.map(|summary| (summary.message_id, summary.body.to_string())),
        Some((MessageId::Number(55), "hello".to_owned()))
    );
    assert!(duplicate(&service, MessageId::Number(55)).await, "the old row still makes 55 a duplicate");
    assert!(!duplicate(&service, key("55")).await);
    let history = service.store.messages(conversation, 10).await.expect("messages");
    let ids: Vec<(i64, Option<MessageId>, &str)> =
        history.iter().map(|m| (m.id, m.platform_message_id.clone(), m.body.as_str())).collect();
    assert_eq!(ids, vec![(1, Some(MessageId::Number(55)), "hello"), (2, Some(key("55")), "message 55")]);
    service.stop().await;
}

async fn assignment_is_persisted_and_restored(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(1, 1).await;
    service.inbound(1, 7, 1).await.expect("accepted");
    service.connect(1).await;
    let before = service
        .handle
        .read(|engine| {
            (engine.status(ModeratorId(1)), engine.lease_view(ProfileId(1)), engine.client_lock_views(ClientId(7)))
        })
        .await
        .expect("read");
    assert_eq!(before.0.state, ModeratorState::Working);
    assert_eq!(before.0.profiles, vec![ProfileId(1)]);
    assert_eq!(before.0.load, 1, "the waiting conversation went to the new holder");
    assert_eq!(before.1.as_ref().map(|lease| lease.moderator_id), Some(ModeratorId(1)));
    assert_eq!(before.2.len(), 1, "the client is locked for the holder");

    let service = service.restart(db).await;
    let after = service
        .handle
        .read(|engine| {
            (engine.status(ModeratorId(1)), engine.lease_view(ProfileId(1)), engine.client_lock_views(ClientId(7)))
        })
        .await
        .expect("read");
    assert_eq!(after, before, "status, lease (with its token) and client lock survive a restart");
    assert_eq!(service.count("SELECT count(*) FROM moderator_profile_assignments WHERE moderator_id = 1").await, 1);
    assert_eq!(service.count("SELECT count(*) FROM conversations WHERE assigned_to = 1").await, 1);
    let violations = service.handle.read(|engine| engine.check_invariants()).await.expect("read");
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        service.count("SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await,
        0,
        "nothing needed repair: the assignment's locked clients came back from client_locks"
    );
    service.stop().await;
}

async fn rejected_command_leaves_the_database_unchanged(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(2, 1).await;
    service.connect(1).await;
    let before = fingerprint(&service.store).await;
    let events_before = service.sink.events().len();

    let refused = service
        .submit(Command::Typing {
            moderator_id: ModeratorId(2),
            client_id: ClientId(9),
            profile_id: ProfileId(1),
            lease_token: None,
        })
        .await;
    assert!(matches!(refused, Err(WriteError::Rejected(_))), "{refused:?}");
    let refused = service.submit(Command::LeaveQueue { moderator_id: ModeratorId(2) }).await;
    assert_eq!(refused, Err(WriteError::Rejected(Rejection::NotInQueue(ModeratorId(2)))));

    assert_eq!(fingerprint(&service.store).await, before);
    assert_eq!(service.sink.events().len(), events_before, "no event for a rejected command");
    service.stop().await;
}

async fn events_are_delivered_after_commit_in_order(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(3, 2).await;
    for moderator in 1..=3 {
        service.clock.advance(Duration::from_secs(5));
        service.connect(moderator).await;
    }
    for message in 1..=5 {
        service.inbound(message, message, 1 + message % 2).await.expect("accepted");
    }
    let delivered = service.sink.events();
    assert!(!delivered.is_empty());
    let ids: Vec<i64> = delivered.iter().map(|event| event.id).collect();
    assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "gap-free, increasing ids: {ids:?}");
    assert!(delivered.iter().any(|event| event.name == "ProfileAssigned" && event.channel == "private-moderator.1"));
    assert!(delivered.iter().any(|event| event.name == "ModeratorQueuePositionChanged"
        && event.channel == "private-moderator.3"
        && event.data.contains("\"position\":1")));

    // Everything delivered is committed, with the same content: the sink saw only committed rows.
    let committed = service.count("SELECT count(*) FROM outbox").await;
    assert_eq!(committed, delivered.len() as i64, "the delivered set is the committed set");
    let last = delivered.last().map(|event| event.id).unwrap_or_default();
    assert_eq!(service.count("SELECT max(id) FROM outbox").await, last);
    for event in &delivered {
        let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON object");
        assert!(data.is_object(), "{}", event.data);
    }
    service.stop().await;
}

/// A storage failure injected at commit time: the caller hears `Unavailable`, no event
/// leaves, the engine is rebuilt from the database (so the failed change is not in memory
/// either), and the writer serves again once storage works.
async fn failed_commit_answers_unavailable_and_delivers_nothing(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(1, 1).await;
    let events_before = service.sink.events().len();
    let outbox_before = service.count("SELECT count(*) FROM outbox").await;
    let block = match db.backend {
        switchboard_store::Backend::Sqlite => {
            "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        }
        switchboard_store::Backend::Postgres => {
            "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
             CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_outbox();"
        }
    };
    service.store.execute_raw(block).await.expect("install the failing trigger");

    let connect = service.submit(Command::Connect { moderator_id: ModeratorId(1), connected_at: START }).await;
    assert!(matches!(connect, Err(WriteError::Unavailable(_))), "{connect:?}");
    assert_eq!(service.sink.events().len(), events_before, "no event for an uncommitted change");
    assert_eq!(service.count("SELECT count(*) FROM outbox").await, outbox_before);
    assert_eq!(service.count("SELECT count(*) FROM profile_locks").await, 0);
    assert!(service.handle.metrics().commits_failed >= 1);

    service.store.execute_raw("DROP TRIGGER refuse_outbox ON outbox").await.ok();
    service.store.execute_raw("DROP TRIGGER IF EXISTS refuse_outbox").await.ok();
    // The rebuilt engine does not remember the refused connect.
    let recovered = eventually(Duration::from_secs(10), || async {
        matches!(service.handle.read(|engine| engine.status(ModeratorId(1)).state).await, Ok(ModeratorState::Offline))
    })
    .await;
    assert!(recovered, "the writer serves again, without the failed change");
    let connect = service.submit(Command::Connect { moderator_id: ModeratorId(1), connected_at: START }).await;
    assert!(matches!(connect, Ok(Reply::Moderator(_))), "{connect:?}");
    assert_eq!(service.count("SELECT count(*) FROM profile_locks WHERE moderator_id = 1").await, 1);
    assert!(service.sink.events().iter().any(|event| event.name == "ProfileAssigned"));
    assert!(service.handle.metrics().recoveries >= 1);
    service.stop().await;
}

async fn restart_redelivers_undelivered_events_exactly_once(db: &Db) {
    let service = Service::start(db, ManualClock::new(START)).await;
    service.directory(2, 2).await;
    service.connect(1).await;
    service.clock.advance(Duration::from_secs(5));
    service.connect(2).await;
    let cut = service.count("SELECT max(id) FROM outbox").await;
    for message in 1..=4 {
        service.inbound(message, 10 + message, 1 + message % 2).await.expect("accepted");
    }
    let first_run = service.sink.events();
    service.stop().await;

    // A crash after COMMIT and before delivery leaves rows like these.
    let store = db.store().await;
    assert_eq!(
        crate::common::count(&store, "SELECT count(*) FROM outbox WHERE id > (SELECT up_to_id FROM outbox_delivered)")
            .await,
        0
    );
    store.execute_raw(&format!("UPDATE outbox_delivered SET up_to_id = {cut}")).await.expect("update");
    store.close().await;
    let expected: Vec<_> = first_run.into_iter().filter(|event| event.id > cut).collect();
    assert!(!expected.is_empty());

    let service = Service::start(db, ManualClock::new(START.plus(Duration::from_secs(10)))).await;
    assert_eq!(service.sink.events(), expected, "exactly the undelivered rows, oldest first");
    service.stop().await;

    let service = Service::start(db, ManualClock::new(START.plus(Duration::from_secs(10)))).await;
    assert!(service.sink.events().is_empty(), "nothing is delivered twice: {:?}", service.sink.events());
    service.stop().await;
}

async fn lease_expiry_continues_from_stored_times_after_restart(db: &Db) {
    let clock = ManualClock::new(START);
    let service = Service::start(db, clock.clone()).await;
    service.directory(1, 1).await;
    service.connect(1).await;
    let lease = service.handle.read(|engine| engine.lease_view(ProfileId(1))).await.expect("read").expect("held");
    let ttl = switchboard_engine::Config::default().profile_lock_ttl;
    assert_eq!(lease.expires_at, Some(START.plus(ttl)));
    service.stop().await;

    // Down for most of the lease: it is still held after the restart, with the stored expiry.
    clock.set(START.plus(ttl).minus(Duration::from_secs(10)));
    let service = Service::start(db, clock.clone()).await;
    let restored = service.handle.read(|engine| engine.lease_view(ProfileId(1))).await.expect("read");
    assert_eq!(restored.as_ref().map(|l| (l.token, l.expires_at)), Some((lease.token, lease.expires_at)));

    // Past the stored expiry: the lease expires (the restart did not renew it). The read's
    // batch first moves the engine to the clock's present.
    clock.set(START.plus(ttl).plus(Duration::from_secs(1)));
    let after = service.handle.read(|engine| engine.lease_view(ProfileId(1))).await.expect("read");
    assert_ne!(after.map(|l| l.token), Some(lease.token), "the old lease is gone");
    let expired = eventually(Duration::from_secs(10), || async {
        service
            .sink
            .events()
            .iter()
            .any(|event| event.name == "ProfileUnassigned" && event.data.contains("lease_expired"))
    })
    .await;
    assert!(expired, "ProfileUnassigned(lease_expired) is delivered: {:?}", service.sink.events());
    let old_token = format!("SELECT count(*) FROM profile_locks WHERE token = {}", lease.token.0);
    assert_eq!(service.count(&old_token).await, 0, "the expiry is committed");
    service.stop().await;
}

async fn settings_keep_the_first_value(db: &Db) {
    let store = db.store().await;
    assert_eq!(store.setting_or_insert("jwt_secret", "first").await.expect("setting"), "first");
    assert_eq!(store.setting_or_insert("jwt_secret", "second").await.expect("setting"), "first");
    store.ping().await.expect("ping");
    assert_eq!(store.backend(), db.backend);
    store.close().await;
}

/// The engine's records, in a stable order and text form.
fn records(engine: &Engine) -> Vec<String> {
    let mut records: Vec<String> = engine.moderators().map(|m| format!("{m:?}")).collect();
    records.extend(engine.profiles().map(|p| format!("{p:?}")));
    let mut clients: Vec<String> = engine.conversations().map(|(key, c)| format!("{key:?} {c:?}")).collect();
    let mut client_ids: Vec<ClientId> = engine.conversations().map(|(key, _)| key.client_id).collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    clients.extend(client_ids.into_iter().filter_map(|id| engine.client(id)).map(|c| format!("{c:?}")));
    clients.sort_unstable();
    records.extend(clients);
    records.extend(engine.conflicts().map(|c| format!("{c:?}")));
    records.push(format!("{:?}", engine.meta()));
    records
}

/// Whatever a random history did, the database holds exactly the engine's state: a restart
/// at the same instant rebuilds the same records and repairs nothing. (This checks that
/// every change reaches storage, including through the writer's skip-unchanged-rows path.)
async fn stored_state_matches_the_engine_after_a_random_history(db: &Db) {
    let clock = ManualClock::new(START);
    let mut service = Service::start(db, clock.clone()).await;
    service.directory(6, 8).await;
    let mut rng = SeededRng::new(7);
    let mut next_message = 1;
    for round in 0..3 {
        for _ in 0..150 {
            clock.advance(Duration::from_millis(rng.below(4_000)));
            let moderator_id = ModeratorId(1 + rng.below(6));
            let client_id = ClientId(1 + rng.below(20));
            let profile_id = ProfileId(1 + rng.below(8));
            let command = match rng.below(10) {
                0 => Command::Connect { moderator_id, connected_at: service.clock_now() },
                1 => Command::Disconnect { moderator_id },
                2..=4 => {
                    next_message += 1;
                    crate::common::inbound_command(next_message, client_id.0, profile_id.0, "hi", service.clock_now())
                }
                5 => Command::Typing { moderator_id, client_id, profile_id, lease_token: None },
                6 => Command::SendMessage { moderator_id, client_id, profile_id, lease_token: None },
                7 => Command::ReleaseProfile { moderator_id, profile_id },
                8 => Command::RunMonitor,
                _ => Command::Heartbeat { moderator_id },
            };
            match service.submit(command).await {
                Ok(_) | Err(WriteError::Rejected(_)) => {}
                Err(error) => panic!("round {round}: {error}"),
            }
        }
        let before = service.handle.read(records).await.expect("read");
        let repairs_before = service.count("SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await;
        service = service.restart(db).await;
        let after = service.handle.read(records).await.expect("read");
        let differences: Vec<(&String, &String)> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        assert!(
            differences.is_empty() && before.len() == after.len(),
            "round {round}: the restored engine differs from the one that wrote: {differences:#?}"
        );
        let repairs_after = service.count("SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await;
        assert_eq!(repairs_before, repairs_after, "round {round}: nothing to repair");
        let violations = service.handle.read(|engine| engine.check_invariants()).await.expect("read");
        assert!(violations.is_empty(), "{violations:?}");
    }
    let working = service.count("SELECT count(*) FROM moderators WHERE state = 'working'").await;
    let messages = service.count("SELECT count(*) FROM messages").await;
    assert!(working > 0 && messages > 100, "the history did something: {working} working, {messages} messages");
    service.stop().await;
}
