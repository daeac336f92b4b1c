//! SPEC §5: queue order, gap-free positions, estimates, priorities, announcements.

use super::*;

#[test]
fn the_queue_orders_by_priority_then_time_then_id() {
    let mut world = World::with(spec(), 5, 1, 0);
    world.connect(1);
    world.connect(3);
    world.connect(2); // same instant as 3: lower id first
    world.wait_seconds(1);
    world.connect(4);
    world.set_priority(4, 5, PriorityActor::Supervisor).unwrap();
    assert_eq!(world.queue(), vec![4, 2, 3]);
    assert_eq!((world.position(4), world.position(2), world.position(3)), (Some(1), Some(2), Some(3)));
}

#[test]
fn positions_stay_gap_free_when_someone_leaves() {
    let mut world = World::with(spec(), 4, 1, 0);
    for moderator in 1..=4 {
        world.connect(moderator);
        world.wait_seconds(1);
    }
    world.events();
    world.ok(Command::LeaveQueue { moderator_id: ModeratorId(2) });
    assert_eq!((world.position(3), world.position(4)), (Some(1), Some(2)));
    let events = world.events();
    let announced: Vec<(ModeratorId, Option<u32>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ModeratorQueuePositionChanged { moderator_id, position, .. } => Some((*moderator_id, *position)),
            _ => None,
        })
        .collect();
    assert_eq!(announced, vec![(ModeratorId(2), None), (ModeratorId(3), Some(1)), (ModeratorId(4), Some(2))]);
}

#[test]
fn the_estimated_wait_is_the_position_times_the_mean_release_interval() {
    let mut world = World::with(spec(), 4, 1, 0);
    world.connect(1);
    world.connect(2);
    world.connect(3);
    world.connect(4);
    assert_eq!(
        world.engine.queue_status(ModeratorId(3)).estimated_wait_seconds,
        Some(120),
        "60 s default × position 2"
    );
    world.wait_seconds(10);
    world.release(1, 1); // first release: default still applies
    world.wait_seconds(30);
    world.release(2, 1); // second release, 30 s later: mean interval 30 s
                         // Profile 1 went to 2, then to 3; the queue is now 4, 1, 2.
    let head = world.queue()[0];
    assert_eq!(world.engine.queue_status(ModeratorId(head)).estimated_wait_seconds, Some(30));
    assert_eq!(world.engine.queue_status(ModeratorId(world.queue()[1])).estimated_wait_seconds, Some(60));
}

#[test]
fn a_moderator_may_not_raise_its_own_priority_above_the_limit_but_a_supervisor_may() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    let rejection = world.refused(Command::SetPriority {
        moderator_id: ModeratorId(2),
        priority: 1,
        actor: PriorityActor::Moderator,
    });
    assert_eq!(rejection, Rejection::PriorityAboveSelfLimit { requested: 1, max: 0 });
    world.set_priority(2, -3, PriorityActor::Moderator).unwrap();
    let reply = world.set_priority(2, 10, PriorityActor::Supervisor).unwrap();
    let Reply::Queue(status) = reply else { panic!("{reply:?}") };
    assert_eq!((status.priority, status.position, status.queue_length), (10, Some(1), 1));
}

#[test]
fn each_change_of_position_or_estimate_is_announced_once_and_leaving_announces_null() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    let events = world.events();
    assert!(events.contains(&Event::ModeratorQueuePositionChanged {
        moderator_id: ModeratorId(2),
        position: Some(1),
        estimated_wait_seconds: Some(60),
        available_profiles: 0,
    }));
    world.monitor();
    assert!(
        !world.events().iter().any(|e| matches!(e, Event::ModeratorQueuePositionChanged { .. })),
        "nothing changed"
    );
    world.release(1, 1);
    let events = world.events();
    assert!(events.contains(&Event::ModeratorQueuePositionChanged {
        moderator_id: ModeratorId(2),
        position: None,
        estimated_wait_seconds: None,
        available_profiles: 0
    }));
}

#[test]
fn queue_status_reports_everything_the_console_shows() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    let status = world.engine.queue_status(ModeratorId(2));
    assert!(status.in_queue);
    assert_eq!(status.queued_at, Some(world.now));
    assert_eq!((status.queue_length, status.available_profiles), (1, 0));
}
