//! SPEC §4: who gets a free profile, which free profile a moderator gets, where a waiting
//! conversation goes, anti-ping-pong; and idempotent ingestion (invariant 8).

use super::*;
use crate::{AssignReason, MessageKey, ReleaseReason, RestoredState};

#[test]
fn a_freed_profile_goes_to_the_queue_head() {
    let mut world = World::with(spec(), 3, 1, 0);
    world.connect(1);
    world.connect(2);
    world.wait_seconds(1);
    world.connect(3);
    world.events();
    world.release(1, 1);
    assert_eq!(world.holder(1), Some(2));
    assert!(world.events().contains(&Event::ProfileAssigned {
        moderator_id: ModeratorId(2),
        profile_id: ProfileId(1),
        reason: AssignReason::Queue
    }));
}

#[test]
fn with_nobody_queued_the_least_busy_working_moderator_takes_a_profile_with_waiting_work() {
    let mut world = World::with(spec_with_max_profiles(2), 3, 5, 10);
    for moderator in 1..=3 {
        world.connect(moderator);
    }
    // Loads: moderator 1 has 2, moderator 2 has 1, moderator 3 has 0 but two profiles later.
    world.message(1, 1);
    world.message(2, 1);
    world.message(3, 2);
    world.message(4, 4); // profile 4 is free: goes to the least busy (moderator 3, load 0)
    assert_eq!(world.holder(4), Some(3));
    world.message(5, 5); // loads now 2, 1, 1: moderators 2 and 3 tie on load and profiles...
                         // ...moderator 3 has two profiles, moderator 2 one: fewer profiles first.
    assert_eq!(world.holder(5), Some(2));
}

#[test]
fn ties_in_load_and_profiles_go_to_the_longest_since_assigned_then_lowest_id() {
    let mut world = World::with(spec_with_max_profiles(2), 2, 4, 4);
    world.connect(2);
    world.wait_seconds(1);
    world.connect(1);
    world.message(1, 3);
    assert_eq!(world.holder(3), Some(2), "moderator 2 was assigned first, so it waited longest");
}

#[test]
fn a_free_profile_without_waiting_work_stays_free_when_nobody_is_queued() {
    let mut world = World::with(spec_with_max_profiles(3), 1, 2, 0);
    world.connect(1);
    assert_eq!(world.profiles_of(1), vec![1], "one profile per event");
    assert_eq!(world.holder(2), None);
}

#[test]
fn a_moderator_gets_the_free_profile_with_most_waiting_then_oldest_then_lowest_id() {
    // One profile each, so that rule 2 does not hand the other orphans to the first comer.
    let mut world = World::with(spec_with_max_profiles(1), 3, 4, 6);
    world.message(1, 4);
    world.message(2, 4);
    world.wait_seconds(1);
    world.message(3, 2);
    world.wait_seconds(1);
    world.message(4, 3);
    world.connect(1);
    assert_eq!(world.profiles_of(1), vec![4], "most waiting conversations");
    world.connect(2);
    assert_eq!(world.profiles_of(2), vec![2], "then the oldest waiting message");
    world.connect(3);
    assert_eq!(world.profiles_of(3), vec![3]);
}

#[test]
fn a_waiting_conversation_goes_to_the_holder_of_its_profile() {
    let mut world = World::with(spec(), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 2);
    assert_eq!(world.assigned_to(1, 2), world.holder(2));
    assert_eq!(world.load(world.holder(2).unwrap()), 1);
    let events = world.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConversationAssigned { client_id: ClientId(1), profile_id: ProfileId(2), message: Some(_), .. }
    )));
}

#[test]
fn answering_a_conversation_takes_it_off_the_moderators_load() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    world.message(1, 1);
    world.wait_seconds(7);
    let reply = world.reply(1, 1, 1).unwrap();
    assert_eq!(
        reply,
        Reply::MessageSent { client_id: ClientId(1), profile_id: ProfileId(1), response_millis: Some(7000) }
    );
    assert_eq!(world.load(1), 0);
    assert_eq!(world.engine.waiting_conversations(ProfileId(1)), vec![]);
}

#[test]
fn a_moderator_who_gave_a_profile_back_is_not_given_it_again_unless_nobody_else_can_take_it() {
    let mut world = World::with(spec(), 2, 2, 0);
    world.connect(1);
    world.connect(2);
    assert_eq!(world.holder(1), Some(1));
    world.release(1, 1);
    // Moderator 1 is queued again; profile 1 is free but it gave it back: it is not offered...
    // ...there is no other free profile and nobody else queued, so it gets it anyway.
    assert_eq!(world.holder(1), Some(1));

    let mut world = World::with(spec(), 3, 2, 0);
    world.connect(1);
    world.connect(2);
    world.connect(3);
    world.release(1, 1);
    // Moderator 3 was queued ahead of moderator 1: it takes profile 1 anyway (queue head).
    assert_eq!(world.holder(1), Some(3));
    world.release(2, 2);
    // Now moderators 1 and 2 are queued (1 first); profile 2 was given back by 2, so 1 gets it.
    assert_eq!(world.holder(2), Some(1));
}

#[test]
fn the_queue_head_skips_a_profile_it_gave_back_when_another_is_free() {
    let mut world = World::with(spec_with_max_profiles(1), 1, 2, 1);
    world.connect(1);
    world.message(1, 1); // profile 1 has waiting work: it is the better profile
    world.release(1, 1);
    assert_eq!(world.profiles_of(1), vec![2], "gave profile 1 back: offered profile 2 instead");
}

#[test]
fn a_profile_with_waiting_work_nobody_can_take_is_an_orphan() {
    let mut world = World::with(spec_with_max_profiles(1), 1, 2, 1);
    world.connect(1);
    world.message(1, 2);
    assert_eq!(world.holder(2), None);
    let report = world.monitor();
    assert_eq!(report.orphan_profiles, vec![ProfileId(2)]);
}

#[test]
fn a_retried_message_is_stored_once_and_changes_nothing() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    let message_id = world.message(1, 1);
    world.engine.drain_events();
    let before = world.engine.clone();
    let reply = world.ok(Command::InboundMessage {
        message_id: message_id.clone(),
        client_id: ClientId(1),
        profile_id: ProfileId(1),
        body: Arc::from("retry"),
        sent_at: world.now,
    });
    assert_eq!(
        reply,
        Reply::MessageAccepted { message_id, client_id: ClientId(1), profile_id: ProfileId(1), duplicate: true }
    );
    assert!(world.engine == before);
    let conversation =
        world.engine.conversation(ConversationKey { client_id: ClientId(1), profile_id: ProfileId(1) }).unwrap();
    assert_eq!(conversation.inbound_messages, 1);
}

#[test]
fn string_message_ids_are_compared_exactly_and_survive_a_restore() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    let key = |text: &str| MessageId::Key(MessageKey::parse(text).expect("a valid key"));
    let accepted = |world: &mut World, message_id: MessageId| match world.message_with_id(message_id, 1, 1) {
        Reply::MessageAccepted { duplicate, .. } => duplicate,
        other => panic!("unexpected {other:?}"),
    };
    assert!(!accepted(&mut world, MessageId::Number(5)));
    assert!(!accepted(&mut world, key("5")), "the key \"5\" is not the integer 5");
    assert!(!accepted(&mut world, key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F")));
    assert!(accepted(&mut world, key("5")));
    assert!(accepted(&mut world, MessageId::Number(5)));
    let conversation_key = ConversationKey { client_id: ClientId(1), profile_id: ProfileId(1) };
    let last = world.engine.conversation(conversation_key).and_then(|c| c.last_inbound.clone());
    assert_eq!(last.map(|summary| summary.message_id), Some(key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F")));

    // What a store keeps (the reported changes) rebuilds the idempotency of every form.
    let changes = world.engine.take_changes();
    let mut stored: Vec<MessageId> = changes.messages.iter().map(|(id, _)| id.clone()).collect();
    stored.sort();
    assert_eq!(stored, vec![MessageId::Number(5), key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F"), key("5")]);
    let state = RestoredState {
        moderators: world.engine.moderators().cloned().collect(),
        profiles: world.engine.profiles().cloned().collect(),
        clients: world.engine.clients().cloned().collect(),
        conversations: world.engine.conversations().map(|(key, c)| (*key, c.clone())).collect(),
        messages: changes.messages,
        conflicts: Vec::new(),
        meta: world.engine.meta(),
    };
    let (restored, _) = Engine::restore(world.engine.config().clone(), world.now, state);
    world.engine = restored;
    assert!(accepted(&mut world, key("5")));
    assert!(accepted(&mut world, key("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F")));
    assert!(!accepted(&mut world, key("05")));
}

#[test]
fn a_message_to_an_unknown_or_inactive_profile_is_refused_and_an_unknown_client_is_created() {
    let mut world = World::with(spec(), 0, 1, 0);
    let command = |profile| Command::InboundMessage {
        message_id: MessageId::Number(1),
        client_id: ClientId(77),
        profile_id: ProfileId(profile),
        body: Arc::from("hi"),
        sent_at: START,
    };
    assert_eq!(world.refused(command(9)), Rejection::UnknownProfile(ProfileId(9)));
    world.ok(Command::UpsertProfile { profile_id: ProfileId(1), name: "p".into(), active: false });
    assert_eq!(world.refused(command(1)), Rejection::ProfileInactive(ProfileId(1)));
    world.ok(Command::UpsertProfile { profile_id: ProfileId(1), name: "p".into(), active: true });
    world.ok(command(1));
    assert!(world.engine.client(ClientId(77)).is_some());
}

#[test]
fn deactivating_a_profile_frees_it_and_reactivating_offers_it_to_the_queue() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    world.wait_seconds(1);
    world.events();
    world.ok(Command::UpsertProfile { profile_id: ProfileId(1), name: "p".into(), active: false });
    assert_eq!(world.holder(1), None);
    assert!(world.events().contains(&Event::ProfileUnassigned {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Deactivated
    }));
    world.ok(Command::UpsertProfile { profile_id: ProfileId(1), name: "p".into(), active: true });
    assert_eq!(world.holder(1), Some(2), "moderator 2 was at the head of the queue");
}

#[test]
fn a_supervisor_pin_takes_the_profile_with_a_manual_lock_that_does_not_expire() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(1), moderator_id: ModeratorId(2) });
    assert_eq!(world.holder(1), Some(2));
    let lease = world.engine.lease_view(ProfileId(1)).unwrap();
    assert_eq!(lease.lock_type, crate::LockType::Manual);
    assert_eq!(lease.expires_at, None);
    world.ok(Command::RealtimePresence { moderator_id: ModeratorId(2), connected: true });
    world.wait_seconds(10_000);
    world.engine.advance(world.now);
    assert_eq!(world.holder(1), Some(2));
    let rejection =
        world.refused(Command::SupervisorPinProfile { profile_id: ProfileId(1), moderator_id: ModeratorId(9) });
    assert_eq!(rejection, Rejection::UnknownModerator(ModeratorId(9)));
}
