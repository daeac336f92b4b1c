//! SPEC §7: activity and inactivity, balancing, overload, orphans, the integrity check,
//! alerts, response times, and the monitor's report.

use super::*;
use crate::{AlertKind, AssignReason, LockType, ReleaseReason};

fn present(world: &mut World, moderator: u64) {
    world.ok(Command::RealtimePresence { moderator_id: ModeratorId(moderator), connected: true });
}

fn alerts(events: &[Event]) -> Vec<AlertKind> {
    events.iter().filter_map(|e| if let Event::AlertRaised(alert) = e { Some(alert.kind) } else { None }).collect()
}

#[test]
fn a_working_moderator_with_waiting_work_and_no_activity_goes_away_and_loses_its_profiles() {
    let mut world = World::with(spec(), 2, 1, 1);
    world.connect(1);
    world.connect(2);
    present(&mut world, 1);
    present(&mut world, 2);
    world.message(1, 1);
    world.wait_seconds(59);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working);
    world.wait_seconds(1);
    world.events();
    let report = world.monitor();
    assert_eq!(report.set_away, vec![ModeratorId(1)]);
    assert_eq!(world.state(1), ModeratorState::Away);
    assert_eq!(world.holder(1), Some(2));
    assert_eq!(world.assigned_to(1, 1), Some(2), "the waiting conversation followed the profile");
    assert!(world.events().contains(&Event::ForcedReassignment {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Inactivity,
        new_moderator_id: Some(ModeratorId(2)),
    }));
}

#[test]
fn heartbeats_are_presence_not_activity() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    world.message(1, 1);
    for _ in 0..6 {
        world.wait_seconds(10);
        world.ok(Command::Heartbeat { moderator_id: ModeratorId(1) });
    }
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Away);
}

#[test]
fn typing_is_activity() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    present(&mut world, 1);
    world.message(1, 1);
    world.wait_seconds(50);
    world.typing(1, 1, 1).unwrap();
    world.wait_seconds(50);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working);
}

#[test]
fn silence_without_work_is_not_inactivity() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    present(&mut world, 1);
    world.wait_seconds(400);
    world.message(1, 1);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working, "the clock starts when work arrives");
}

/// Moderator 1 holds profiles 1 and 2 with `heavy` and 1 waiting conversations; moderator 2
/// holds profile 3 with none.
fn unbalanced(heavy: u64) -> World {
    let config = Config { max_profiles_per_moderator: 2, ..spec() };
    let mut world = World::with(config, 2, 3, 20);
    world.connect(1);
    present(&mut world, 1);
    for client in 1..=heavy {
        world.message(client, 1);
    }
    world.message(19, 2);
    world.connect(2);
    present(&mut world, 2);
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(3), moderator_id: ModeratorId(2) });
    world.wait_seconds(31);
    world
}

#[test]
fn balancing_moves_a_profile_from_the_most_to_the_least_loaded_moderator() {
    let mut world = unbalanced(3);
    assert_eq!((world.load(1), world.load(2)), (4, 0));
    world.events();
    let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
    assert_eq!(moves.len(), 1);
    // Moving profile 1 (3 conversations) would leave 1 vs 3; profile 2 (1) leaves 3 vs 1: both
    // reduce the difference of 4 to 2; the lower profile id wins the tie.
    assert_eq!((moves[0].profile_id, moves[0].to_moderator_id), (ProfileId(1), ModeratorId(2)));
    assert_eq!((world.load(1), world.load(2)), (1, 3));
    let events = world.events();
    assert!(events.contains(&Event::ForcedReassignment {
        moderator_id: ModeratorId(1),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Rebalance,
        new_moderator_id: Some(ModeratorId(2))
    }));
    assert!(events.contains(&Event::ProfileAssigned {
        moderator_id: ModeratorId(2),
        profile_id: ProfileId(1),
        reason: AssignReason::Rebalance
    }));
    assert_eq!(world.client_holder(1), Some(2), "the locks passed to the new holder");
}

#[test]
fn balancing_needs_a_difference_of_at_least_the_threshold() {
    let config = Config { max_profiles_per_moderator: 2, ..spec() };
    let mut world = World::with(config, 2, 2, 5);
    world.connect(1);
    world.message(1, 1);
    world.connect(2);
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(2), moderator_id: ModeratorId(2) });
    assert_eq!((world.load(1), world.load(2)), (1, 0));
    let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
    assert!(moves.is_empty());
}

#[test]
fn balancing_never_moves_the_same_profile_twice_within_anti_ping_pong() {
    let mut world = unbalanced(3);
    world.ok(Command::Rebalance);
    assert_eq!(world.holder(1), Some(2));
    // Make moderator 2 the heavy one through its pinned profile: moving profile 1 back
    // (3 conversations, loads 7 against 1) would now balance them, but not within five minutes.
    for client in 5..=8 {
        world.message(client, 3);
    }
    assert_eq!((world.load(1), world.load(2)), (1, 7));
    world.wait_seconds(31);
    let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
    assert!(moves.iter().all(|m| m.profile_id != ProfileId(1)), "{moves:?}");
    world.wait_seconds(300);
    for moderator in [1, 2] {
        present(&mut world, moderator);
    }
    let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
    assert!(moves.iter().any(|m| m.profile_id == ProfileId(1)), "allowed again after five minutes: {moves:?}");
}

#[test]
fn balancing_leaves_pinned_profiles_and_profiles_whose_holder_is_typing() {
    let mut world = unbalanced(3);
    world.typing(1, 1, 1).unwrap();
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(2), moderator_id: ModeratorId(1) });
    assert_eq!(world.engine.lease_view(ProfileId(2)).unwrap().lock_type, LockType::Manual);
    let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
    assert!(moves.is_empty(), "{moves:?}");
}

#[test]
fn a_moderator_far_above_the_mean_load_is_reported_overloaded() {
    let mut world = unbalanced(5);
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(1), moderator_id: ModeratorId(1) });
    world.events();
    world.monitor();
    let kinds = alerts(&world.events());
    assert!(kinds.contains(&AlertKind::ModeratorOverloaded), "{kinds:?}");
    world.monitor();
    assert!(!alerts(&world.events()).contains(&AlertKind::ModeratorOverloaded), "raised once, not every run");
}

#[test]
fn alerts_for_long_waits_orphans_and_a_stalled_queue() {
    let config = Config { max_profiles_per_moderator: 1, ..spec() };
    let mut world = World::with(config, 2, 2, 2);
    world.connect(1);
    present(&mut world, 1);
    world.connect(2);
    present(&mut world, 2);
    world.ok(Command::UpsertProfile { profile_id: ProfileId(3), name: "p3".into(), active: true });
    world.message(1, 3); // nobody has room: an orphan
    world.wait_seconds(59);
    world.typing(1, 2, 1).unwrap();
    world.monitor();
    assert!(!alerts(&world.events()).contains(&AlertKind::OrphanProfile), "not before orphan_alert_after");
    world.wait_seconds(1);
    world.monitor();
    assert!(alerts(&world.events()).contains(&AlertKind::OrphanProfile));
    world.wait_seconds(119);
    world.monitor();
    assert!(!alerts(&world.events()).contains(&AlertKind::ClientWaitingTooLong), "not before response_alert");
    world.wait_seconds(1);
    world.monitor();
    assert!(alerts(&world.events()).contains(&AlertKind::ClientWaitingTooLong));

    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    for moderator in [1, 2] {
        present(&mut world, moderator);
    }
    // Pinned, so that the lease does not expire and hand the profile over meanwhile.
    world.ok(Command::SupervisorPinProfile { profile_id: ProfileId(1), moderator_id: ModeratorId(1) });
    world.wait_seconds(599);
    world.monitor();
    assert!(!alerts(&world.events()).contains(&AlertKind::QueueStalled));
    world.wait_seconds(1);
    world.monitor();
    assert!(alerts(&world.events()).contains(&AlertKind::QueueStalled));
}

#[test]
fn response_times_give_median_and_p95_of_the_recent_replies() {
    let mut world = World::with(spec(), 1, 1, 20);
    world.connect(1);
    for client in 1..=20 {
        world.message(client, 1);
        world.wait_seconds(client);
        world.reply(1, client, 1).unwrap();
    }
    let report = world.engine.load_report();
    let me = &report.moderators[0];
    assert_eq!(me.replies, 20);
    assert_eq!(me.median_response_seconds, Some(10.0));
    assert_eq!(me.p95_response_seconds, Some(19.0));
}

#[test]
fn the_integrity_check_repairs_what_it_finds_and_records_each_repair() {
    let mut world = World::with(spec(), 3, 2, 1);
    world.connect(1);
    world.connect(2);
    world.connect(3);
    world.message(1, 1);
    // Corrupt the state the way a hand-edited database would: a second moderator listing a
    // profile it does not hold, a queue entry for an offline moderator, a wrong load.
    let stolen = world.engine.moderators[&ModeratorId(1)].assignments[&ProfileId(1)].clone();
    world.engine.moderators.get_mut(&ModeratorId(3)).unwrap().assignments.insert(ProfileId(1), stolen);
    world.engine.moderators.get_mut(&ModeratorId(2)).unwrap().load = 7;
    world
        .engine
        .moderators
        .get_mut(&ModeratorId(2))
        .unwrap()
        .assignments
        .get_mut(&ProfileId(2))
        .unwrap()
        .locked_clients
        .insert(ClientId(1));
    assert!(!world.engine.check_invariants().is_empty());
    world.events();
    let repairs = world.engine.integrity_check_full();
    assert!(repairs.len() >= 3, "{repairs:#?}");
    assert!(world.engine.check_invariants().is_empty(), "{:#?}", world.engine.check_invariants());
    assert_eq!(world.holder(1), Some(1));
    let kinds = alerts(&world.events());
    assert_eq!(kinds.iter().filter(|&&k| k == AlertKind::InconsistencyRepaired).count(), repairs.len());
}

#[test]
fn the_monitor_reports_what_it_did() {
    let mut world = World::with(spec(), 2, 1, 1);
    world.connect(1);
    world.connect(2);
    present(&mut world, 2);
    world.message(1, 1);
    world.wait_seconds(61);
    let report = world.monitor();
    assert_eq!(report.disconnected, vec![ModeratorId(1)]);
    assert!(report.assignments >= 1);
    assert_eq!(world.holder(1), Some(2));
}

#[test]
fn balancing_makes_at_most_max_moves_per_tick_moves_per_run() {
    let moves_in_one_run = |max_moves_per_tick| {
        let config = Config { max_profiles_per_moderator: 3, max_moves_per_tick, ..spec() };
        let mut world = World::with(config, 3, 5, 20);
        world.connect(1);
        present(&mut world, 1);
        for profile in 1..=3 {
            for client in 0..3 {
                world.message(profile * 3 + client, profile);
            }
        }
        world.connect(2);
        present(&mut world, 2);
        world.connect(3);
        present(&mut world, 3);
        assert_eq!((world.load(1), world.load(2), world.load(3)), (9, 0, 0));
        world.wait_seconds(31);
        let Reply::Moves(moves) = world.ok(Command::Rebalance) else { panic!() };
        moves.len()
    };
    // 9 / 0 / 0 needs two moves to reach 3 / 3 / 3.
    assert_eq!(moves_in_one_run(10), 2);
    assert_eq!(moves_in_one_run(1), 1, "the rest waits for the next run");
}
