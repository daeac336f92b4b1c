//! SPEC §6: simultaneous connections under both strategies.

use super::*;
use crate::{ConflictId, ConflictStrategy, ReleaseReason};

/// Three moderators connect within the window (at +0 ms, +300 ms, +600 ms) for two free
/// profiles, processed in the given order at one instant. Returns (who works, queue order,
/// conflicts recorded).
fn collide(strategy: ConflictStrategy, order: [u64; 3]) -> (Vec<u64>, Vec<u64>, usize) {
    let config = Config { conflict_strategy: strategy, ..spec() };
    let mut world = World::with(config, 3, 2, 0);
    world.wait_seconds(1);
    // Moderator 3 connected first, then 2, then 1: the two strategies disagree.
    let connected_at = |moderator: u64| START.plus(Duration::from_millis(300 * (3 - moderator)));
    for moderator in order {
        world.connect_at(moderator, connected_at(moderator));
    }
    let working = (1..=3).filter(|&m| world.state(m) == ModeratorState::Working).collect();
    (working, world.queue(), world.engine.conflicts().count())
}

#[test]
fn simultaneous_connections_have_the_same_outcome_whatever_order_they_are_processed_in() {
    let orders = [[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1]];
    for strategy in [ConflictStrategy::Timestamp, ConflictStrategy::Id] {
        let outcomes: Vec<(Vec<u64>, Vec<u64>)> =
            orders.iter().map(|&order| collide(strategy, order)).map(|(w, q, _)| (w, q)).collect();
        assert!(outcomes.windows(2).all(|pair| pair[0] == pair[1]), "{strategy:?}: {outcomes:?}");
    }
}

#[test]
fn the_timestamp_strategy_serves_the_earliest_connections_first() {
    let (working, queue, conflicts) = collide(ConflictStrategy::Timestamp, [1, 2, 3]);
    assert_eq!(working, vec![2, 3]);
    assert_eq!(queue, vec![1]);
    assert_eq!(conflicts, 1);
}

#[test]
fn equal_connection_times_under_the_timestamp_strategy_go_to_the_lower_id() {
    for order in [[1, 2, 3], [3, 2, 1], [2, 3, 1]] {
        let mut world = World::with(spec(), 3, 2, 0);
        world.wait_seconds(1);
        for moderator in order {
            world.connect_at(moderator, START.plus(Duration::from_millis(500)));
        }
        let working: Vec<u64> = (1..=3).filter(|&m| world.state(m) == ModeratorState::Working).collect();
        assert_eq!((working, world.queue()), (vec![1, 2], vec![3]), "processed in the order {order:?}");
    }
}

#[test]
fn the_id_strategy_serves_the_lowest_ids_first() {
    let (working, queue, _) = collide(ConflictStrategy::Id, [3, 2, 1]);
    assert_eq!(working, vec![1, 2]);
    assert_eq!(queue, vec![3]);
}

#[test]
fn an_outranking_later_connection_takes_the_profile_and_the_loser_queues_by_its_connection_time() {
    let mut world = World::with(spec(), 3, 1, 0);
    world.wait_seconds(1);
    world.connect_at(2, START.plus(Duration::from_millis(900)));
    world.connect_at(1, START.plus(Duration::from_millis(400)));
    assert_eq!(world.holder(1), Some(1));
    assert_eq!(world.queue(), vec![2]);
    assert_eq!(world.engine.queue_status(ModeratorId(2)).queued_at, Some(START.plus(Duration::from_millis(900))));
    let events = world.events();
    assert!(events.contains(&Event::ForcedReassignment {
        moderator_id: ModeratorId(2),
        profile_id: ProfileId(1),
        reason: ReleaseReason::Conflict,
        new_moderator_id: Some(ModeratorId(1)),
    }));
    let resolved: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::ConflictResolved { .. })).collect();
    assert_eq!(resolved.len(), 2, "each participant is told");
    assert!(matches!(resolved[0], Event::ConflictResolved { participants, winners, queued, strategy: "timestamp", .. }
        if participants == &vec![ModeratorId(1), ModeratorId(2)] && winners == &vec![ModeratorId(1)] && queued == &vec![ModeratorId(2)]));
    assert!(events.iter().any(|e| matches!(e, Event::AlertRaised(alert) if alert.kind == crate::AlertKind::Conflict)));
}

#[test]
fn connections_further_apart_than_the_window_do_not_collide() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.wait_seconds(5);
    world.connect_at(2, START.plus(Duration::from_millis(4500)));
    world.wait_seconds(2);
    world.connect(1);
    assert_eq!(world.holder(1), Some(2));
    assert_eq!(world.engine.conflicts().count(), 0);
}

#[test]
fn a_conflict_stays_open_until_a_participant_acknowledges_it() {
    let mut world = World::with(spec(), 3, 1, 0);
    world.connect(1);
    world.connect(2);
    let conflict = world.engine.conflicts().next().unwrap().conflict_id;
    assert_eq!(conflict, ConflictId(1));
    let rejection = world.refused(Command::ResolveConflict { moderator_id: ModeratorId(3), conflict_id: conflict });
    assert_eq!(rejection, Rejection::NotConflictParticipant { moderator_id: ModeratorId(3), conflict_id: conflict });
    world.refused(Command::ResolveConflict { moderator_id: ModeratorId(1), conflict_id: ConflictId(9) });
    let reply = world.ok(Command::ResolveConflict { moderator_id: ModeratorId(2), conflict_id: conflict });
    let Reply::Conflict(view) = reply else { panic!("{reply:?}") };
    assert_eq!((view.resolved_at, view.resolved_by), (Some(world.now), Some(ModeratorId(2))));
}

#[test]
fn extra_profiles_won_while_connecting_do_not_make_the_outcome_depend_on_processing_order() {
    // Four moderators connect 300 ms apart for three profiles, two of which have waiting
    // work; each may hold two profiles, so whoever is processed first also gets an extra one
    // through rule 2. Whatever the order, the three earliest must win and the latest queue.
    let mut outcomes = Vec::new();
    let mut orders = vec![vec![1u64, 2, 3, 4]];
    while let Some(order) = orders.pop() {
        let config = Config { max_profiles_per_moderator: 2, ..spec() };
        let mut world = World::with(config, 4, 3, 3);
        world.message(1, 1);
        world.message(2, 1);
        world.message(3, 2);
        world.wait_seconds(1);
        for &moderator in &order {
            world.connect_at(moderator, START.plus(Duration::from_millis(300 * (moderator - 1))));
        }
        let working: Vec<u64> = (1..=4).filter(|&m| world.state(m) == ModeratorState::Working).collect();
        outcomes.push((order.clone(), working, world.queue()));
        if outcomes.len() == 1 {
            // Enumerate the other 23 orders once.
            orders = permutations(&[1, 2, 3, 4]).into_iter().filter(|o| o != &order).collect();
        }
    }
    assert_eq!(outcomes.len(), 24);
    for (order, working, queue) in &outcomes {
        assert_eq!((working.clone(), queue.clone()), (vec![1, 2, 3], vec![4]), "processed in order {order:?}");
    }
}

fn permutations(items: &[u64]) -> Vec<Vec<u64>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (index, &first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(index);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

#[test]
fn acknowledging_a_conflict_runs_the_integrity_check() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    let conflict = world.engine.conflicts().next().unwrap().conflict_id;
    // A wrong load, as a hand-edited database could leave it: the check must find and fix it.
    world.engine.moderators.get_mut(&ModeratorId(1)).unwrap().load = 5;
    world.events();
    world
        .engine
        .handle(world.now, Command::ResolveConflict { moderator_id: ModeratorId(1), conflict_id: conflict })
        .unwrap();
    assert_eq!(world.load(1), 0);
    assert!(world
        .events()
        .iter()
        .any(|e| matches!(e, Event::AlertRaised(alert) if alert.kind == crate::AlertKind::InconsistencyRepaired)));
    assert!(world.engine.check_invariants().is_empty());
}
