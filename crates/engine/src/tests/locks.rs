//! SPEC §3: profile leases and client locks.

use super::*;
use crate::{FencingToken, LockReason, LockType, ReleaseReason};

#[test]
fn an_assigned_profile_is_leased_and_the_lease_expires_without_activity() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    world.ok(Command::RealtimePresence { moderator_id: ModeratorId(1), connected: true });
    let lease = world.engine.lease_view(ProfileId(1)).expect("leased");
    assert_eq!(lease.lock_type, LockType::Assignment);
    assert_eq!(lease.expires_at, Some(world.now.plus(Duration::from_secs(500))));
    world.events();
    world.wait_seconds(500);
    world.engine.advance(world.now);
    let events = world.events();
    assert!(events.iter().any(|e| matches!(e, Event::ForcedReassignment { reason: ReleaseReason::LeaseExpired, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::ProfileLockStatusChanged { locked: false, .. })));
}

#[test]
fn activity_of_the_holder_renews_its_lease() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    world.wait_seconds(400);
    world.typing(1, 1, 1).unwrap();
    world.wait_seconds(400);
    world.engine.advance(world.now);
    assert_eq!(world.holder(1), Some(1), "typing at 400 s pushed the expiry to 900 s");
}

#[test]
fn extending_a_lease_is_capped_at_max_lock_extension() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    let reply = world.ok(Command::ExtendProfileLease {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        seconds: 50_000,
    });
    let Reply::ProfileLease(lease) = reply else { panic!("{reply:?}") };
    assert_eq!(lease.expires_at, Some(world.now.plus(Duration::from_secs(500 + 600))));
    let reply =
        world.ok(Command::ExtendProfileLease { moderator_id: ModeratorId(1), profile_id: ProfileId(1), seconds: 1 });
    let Reply::ProfileLease(again) = reply else { panic!("{reply:?}") };
    assert_eq!(again.expires_at, lease.expires_at, "already at the cap");
}

#[test]
fn only_the_holder_may_extend_or_give_back_a_profile() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    let rejection = world.refused(Command::ExtendProfileLease {
        moderator_id: ModeratorId(2),
        profile_id: ProfileId(1),
        seconds: 10,
    });
    assert_eq!(rejection, Rejection::NotProfileHolder { moderator_id: ModeratorId(2), profile_id: ProfileId(1) });
    world.refused(Command::ReleaseProfile { moderator_id: ModeratorId(2), profile_id: ProfileId(1) });
    world.refused(Command::ExtendProfileLease { moderator_id: ModeratorId(1), profile_id: ProfileId(1), seconds: 0 });
}

#[test]
fn giving_a_profile_back_frees_it_with_reason_released() {
    let mut world = World::with(spec(), 1, 2, 0);
    world.connect(1);
    world.events();
    world.release(1, 1);
    let events = world.events();
    assert!(events.contains(&Event::ProfileUnassigned {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Released
    }));
    assert!(!events.iter().any(|e| matches!(e, Event::ForcedReassignment { .. })), "giving back is not forced");
}

#[test]
fn a_supervisor_can_force_a_profile_free() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    world.wait_seconds(1);
    world.events();
    world.ok(Command::SupervisorUnlockProfile { profile_id: ProfileId(1) });
    assert!(world.events().contains(&Event::ForcedReassignment {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Supervisor,
        new_moderator_id: Some(ModeratorId(2)),
    }));
}

#[test]
fn every_lease_change_emits_profile_lock_status_changed() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    let events = world.events();
    assert!(events.contains(&Event::ProfileLockStatusChanged {
        profile_id: ProfileId(1),
        locked: true,
        lock_type: Some(LockType::Assignment),
        moderator_id: Some(ModeratorId(1)),
        duration_seconds: Some(500),
        expires_at: Some(world.now.plus(Duration::from_secs(500))),
    }));
    world.wait_seconds(10);
    world.ok(Command::ExtendProfileLease { moderator_id: ModeratorId(1), profile_id: ProfileId(1), seconds: 30 });
    assert!(world.events().iter().any(|e| matches!(e, Event::ProfileLockStatusChanged { locked: true, .. })));
}

#[test]
fn a_client_handled_by_one_moderator_cannot_be_typed_to_by_another() {
    let mut world = World::with(spec_with_max_profiles(1), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    assert_eq!(world.client_holder(1), Some(1));
    let rejection = world.refused(Command::Typing {
        moderator_id: ModeratorId(2),
        client_id: ClientId(1),
        profile_id: ProfileId(2),
        lease_token: None,
    });
    assert!(matches!(rejection, Rejection::ClientLocked { holder: ModeratorId(1), .. }), "{rejection:?}");
}

#[test]
fn a_conversation_waits_while_its_client_is_locked_and_is_processed_when_the_lock_goes() {
    // The client writes to two profiles held by two moderators: only one may handle it.
    let mut world = World::with(spec_with_max_profiles(1), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    world.wait_seconds(1);
    world.message(1, 2);
    assert_eq!(world.assigned_to(1, 1), Some(1));
    assert_eq!(world.assigned_to(1, 2), None, "pending behind moderator 1's lock");
    let events = world.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ClientLockStatusChanged {
            recipient_id: ModeratorId(2),
            locked: true,
            moderator_id: Some(ModeratorId(1)),
            ..
        }
    )));
    world.reply(1, 1, 1).unwrap();
    assert_eq!(world.assigned_to(1, 2), Some(2), "processed at once when the lock was released");
    let events = world.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ClientLockStatusChanged { recipient_id: ModeratorId(2), locked: false, .. })));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConversationAssigned { moderator_id: ModeratorId(2), profile_id: ProfileId(2), .. }
    )));
}

#[test]
fn an_expired_client_lock_lets_the_waiting_moderator_take_the_client() {
    let mut world = World::with(spec_with_max_profiles(1), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    world.message(1, 2);
    world.wait_seconds(30);
    world.engine.advance(world.now);
    // The older conversation goes first: the lock returns to moderator 1 for profile 1...
    assert_eq!(world.client_holder(1), Some(1));
    world.reply(1, 1, 1).unwrap();
    // ...and once answered, moderator 2 gets the client.
    assert_eq!(world.assigned_to(1, 2), Some(2));
}

#[test]
fn an_uncontested_conversation_lock_is_renewed_in_place_at_expiry() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    world.message(1, 1);
    world.events();
    world.wait_seconds(31);
    world.engine.advance(world.now);
    assert_eq!(world.assigned_to(1, 1), Some(1));
    assert!(world.events().iter().all(|e| !matches!(e, Event::ConversationReleased { .. })), "no churn");
}

#[test]
fn typing_renews_the_holders_client_lock() {
    let mut world = World::with(spec_with_max_profiles(1), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    world.message(1, 2);
    world.wait_seconds(25);
    world.typing(1, 1, 1).unwrap();
    world.wait_seconds(25);
    world.engine.advance(world.now);
    let lock = &world.engine.client_lock_views(ClientId(1))[0];
    assert_eq!(lock.expires_at, world.now.plus(Duration::from_secs(5)));
    assert_eq!(world.assigned_to(1, 2), None);
}

#[test]
fn locks_are_released_when_the_moderator_loses_the_profile() {
    let mut world = World::with(spec(), 2, 1, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    world.wait_seconds(1);
    world.events();
    world.release(1, 1);
    let events = world.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConversationReleased { moderator_id: ModeratorId(1), reason: ReleaseReason::Released, .. }
    )));
    assert_eq!(world.client_holder(1), Some(2), "moderator 1's lock went; the new holder locked the client");
}

#[test]
fn fencing_tokens_grow_with_every_grant_and_a_stale_one_is_refused() {
    let mut world = World::with(spec(), 2, 1, 1);
    world.connect(1);
    let first = world.engine.lease_view(ProfileId(1)).unwrap().token;
    world.connect(2);
    world.release(1, 1);
    let second = world.engine.lease_view(ProfileId(1)).unwrap().token;
    assert!(second > first);
    world.connect(1);
    let rejection = world.refused(Command::Typing {
        moderator_id: ModeratorId(2),
        client_id: ClientId(1),
        profile_id: ProfileId(1),
        lease_token: Some(FencingToken(first.0)),
    });
    assert_eq!(rejection, Rejection::StaleLease { profile_id: ProfileId(1) });
    world.ok(Command::Typing {
        moderator_id: ModeratorId(2),
        client_id: ClientId(1),
        profile_id: ProfileId(1),
        lease_token: Some(second),
    });
}

#[test]
fn a_second_moderator_approaching_the_same_client_is_refused_as_double_initiation() {
    let mut world = World::with(spec(), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    let reply =
        world.ok(Command::Initiate { moderator_id: ModeratorId(1), client_id: ClientId(1), profile_id: ProfileId(1) });
    let Reply::ClientLock(lock) = reply else { panic!("{reply:?}") };
    assert_eq!(lock.lock_reason, LockReason::Initiation);
    let rejection = world.refused(Command::Initiate {
        moderator_id: ModeratorId(2),
        client_id: ClientId(1),
        profile_id: ProfileId(2),
    });
    assert!(matches!(rejection, Rejection::DoubleInitiation { holder: ModeratorId(1), .. }));
    // Sending the first-contact message ends the initiation lock.
    world.reply(1, 1, 1).unwrap();
    world.ok(Command::Initiate { moderator_id: ModeratorId(2), client_id: ClientId(1), profile_id: ProfileId(2) });
}

#[test]
fn extending_a_client_lock_needs_holding_it_and_is_capped() {
    let mut world = World::with(spec(), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 1);
    world.refused(Command::ExtendClientLock { moderator_id: ModeratorId(2), client_id: ClientId(1), seconds: 10 });
    let reply =
        world.ok(Command::ExtendClientLock { moderator_id: ModeratorId(1), client_id: ClientId(1), seconds: 10_000 });
    let Reply::ClientLocks(locks) = reply else { panic!("{reply:?}") };
    assert_eq!(locks[0].expires_at, world.now.plus(Duration::from_secs(30 + 600)));
}

#[test]
fn giving_a_client_back_lets_another_moderator_take_it() {
    let mut world = World::with(spec_with_max_profiles(1), 2, 2, 1);
    world.connect(1);
    world.connect(2);
    world.message(1, 2);
    world.wait_seconds(1);
    world.message(1, 1);
    assert_eq!(world.client_holder(1), Some(2));
    world.ok(Command::ReleaseClient { moderator_id: ModeratorId(2), client_id: ClientId(1) });
    // The older conversation (profile 2) still goes first, back to moderator 2: the rule is
    // oldest waiting first, whoever asked.
    assert_eq!(world.client_holder(1), Some(2));
    world.refused(Command::ReleaseClient { moderator_id: ModeratorId(1), client_id: ClientId(1) });
}
