//! SPEC §2: moderator states and transitions, presence.

use super::*;
use crate::ReleaseReason;

#[test]
fn connecting_with_a_free_profile_starts_working() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    assert_eq!(world.state(1), ModeratorState::Working);
    assert_eq!(world.profiles_of(1), vec![1]);
}

#[test]
fn connecting_without_a_free_profile_joins_the_queue() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    assert_eq!(world.state(2), ModeratorState::Queued);
    assert_eq!(world.position(2), Some(1));
}

#[test]
fn disconnecting_goes_offline_and_frees_every_profile() {
    let mut world = World::with(spec_with_max_profiles(3), 1, 2, 1);
    world.connect(1);
    world.message(1, 2);
    assert_eq!(world.profiles_of(1), vec![1, 2]);
    world.disconnect(1);
    assert_eq!(world.state(1), ModeratorState::Offline);
    assert_eq!(world.holder(1), None);
    assert_eq!(world.holder(2), None);
    assert_eq!(world.client_holder(1), None, "its client locks went with it");
}

#[test]
fn losing_the_last_profile_returns_a_working_moderator_to_the_queue() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    world.release(1, 1);
    assert_eq!(world.state(1), ModeratorState::Queued);
    assert_eq!(world.holder(1), Some(2));
}

#[test]
fn leaving_the_queue_pauses_and_connecting_again_rejoins() {
    let mut world = World::with(spec(), 2, 1, 0);
    world.connect(1);
    world.connect(2);
    world.ok(Command::LeaveQueue { moderator_id: ModeratorId(2) });
    assert_eq!(world.state(2), ModeratorState::Paused);
    assert!(world.queue().is_empty());
    world.connect(2);
    assert_eq!(world.state(2), ModeratorState::Queued);
}

#[test]
fn leaving_the_queue_is_refused_to_a_moderator_not_in_it() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    let rejection = world.refused(Command::LeaveQueue { moderator_id: ModeratorId(1) });
    assert_eq!(rejection, Rejection::NotInQueue(ModeratorId(1)));
}

#[test]
fn a_moderator_without_realtime_connection_or_api_call_is_disconnected_after_presence_timeout() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    world.wait_seconds(59);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working, "59 s is within the 60 s presence timeout");
    world.wait_seconds(1);
    let report = world.monitor();
    assert_eq!(report.disconnected, vec![ModeratorId(1)]);
    assert_eq!(world.state(1), ModeratorState::Offline);
    assert!(world
        .events()
        .iter()
        .any(|e| matches!(e, Event::ProfileUnassigned { reason: ReleaseReason::PresenceLost, .. })));
}

#[test]
fn an_open_realtime_connection_is_presence() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    world.ok(Command::RealtimePresence { moderator_id: ModeratorId(1), connected: true });
    world.wait_seconds(3600);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working);
}

#[test]
fn an_api_call_is_presence() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.connect(1);
    world.wait_seconds(50);
    world.ok(Command::Heartbeat { moderator_id: ModeratorId(1) });
    world.wait_seconds(50);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Working);
}

#[test]
fn an_away_moderator_returns_to_the_queue_when_it_connects_again() {
    let mut world = World::with(spec(), 1, 1, 1);
    world.connect(1);
    world.ok(Command::RealtimePresence { moderator_id: ModeratorId(1), connected: true });
    world.message(1, 1);
    world.wait_seconds(61);
    world.monitor();
    assert_eq!(world.state(1), ModeratorState::Away);
    world.connect(1);
    assert_eq!(world.state(1), ModeratorState::Working, "back through the queue, and the profile was free");
}

#[test]
fn commands_for_unknown_moderators_are_refused() {
    let mut world = World::with(spec(), 0, 1, 0);
    let rejection = world.refused(Command::Connect { moderator_id: ModeratorId(9), connected_at: START });
    assert_eq!(rejection, Rejection::UnknownModerator(ModeratorId(9)));
}

#[test]
fn time_never_goes_back() {
    let mut world = World::with(spec(), 1, 1, 0);
    world.wait_seconds(100);
    world.connect(1);
    world.now = START;
    world.connect(1);
    assert_eq!(world.engine.now(), START.plus(Duration::from_secs(100)));
}
