//! The checks bite: for each invariant of SPEC §8, the engine is built with that rule broken
//! (`Fault`) and the seeded simulation must report a violation of that invariant.

use crate::simulation::{Simulation, WorldSize};
use crate::Fault;

/// Runs seeds until one fails; returns the invariants its failure named.
fn invariants_broken_by(fault: Fault, world: WorldSize) -> Vec<u8> {
    for seed in 1..=60 {
        if let Err(failure) = Simulation::new(seed, world.clone()).with_fault(fault).run(3_000) {
            let mut invariants: Vec<u8> = failure.violations.iter().map(|v| v.invariant).collect();
            invariants.sort_unstable();
            invariants.dedup();
            return invariants;
        }
    }
    Vec::new()
}

fn assert_caught(fault: Fault, invariant: u8) {
    assert_caught_in(fault, invariant, WorldSize { refusal_check_every: 50, ..WorldSize::default() });
}

fn assert_caught_in(fault: Fault, invariant: u8, world: WorldSize) {
    let broken = invariants_broken_by(fault, world);
    assert!(
        broken.contains(&invariant),
        "breaking {fault:?} should violate invariant {invariant}, the simulation saw {broken:?}"
    );
}

#[test]
fn keeping_profiles_when_away_breaks_invariant_1() {
    assert_caught(Fault::KeepProfilesWhenAway, 1);
}

#[test]
fn leaving_conversations_behind_on_handover_breaks_invariant_2() {
    assert_caught(Fault::LeaveConversationsOnHandover, 2);
}

#[test]
fn ignoring_the_client_lock_breaks_invariant_3() {
    assert_caught(Fault::IgnoreClientLock, 3);
}

#[test]
fn skipping_queue_renumbering_breaks_invariant_4() {
    let crowded = WorldSize { moderators: 12, profiles: 4, clients: 20, refusal_check_every: 50 };
    assert_caught_in(Fault::SkipQueueRenumbering, 4, crowded);
}

#[test]
fn keeping_the_queue_entry_on_disconnect_breaks_invariant_5() {
    let crowded = WorldSize { moderators: 12, profiles: 4, clients: 20, refusal_check_every: 50 };
    assert_caught_in(Fault::KeepQueueEntryOnDisconnect, 5, crowded);
}

#[test]
fn not_offering_freed_profiles_to_the_queue_breaks_invariant_6() {
    let crowded = WorldSize { moderators: 12, profiles: 4, clients: 20, refusal_check_every: 50 };
    assert_caught_in(Fault::SkipQueueProcessing, 6, crowded);
}

#[test]
fn ignoring_anti_ping_pong_breaks_invariant_7() {
    assert_caught(Fault::IgnoreAntiPingPong, 7);
}

#[test]
fn forgetting_waiting_conversations_breaks_invariant_8() {
    assert_caught(Fault::ForgetWaitingOnRelease, 8);
}

#[test]
fn not_reporting_changes_for_storage_breaks_invariant_8() {
    assert_caught(Fault::DropModeratorChanges, 8);
}

#[test]
fn taking_a_key_of_digits_for_its_integer_breaks_invariant_8() {
    assert_caught(Fault::MessageKeysAsNumbers, 8);
}
