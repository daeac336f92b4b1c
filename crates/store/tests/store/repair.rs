//! Start-up repair: a database made inconsistent on purpose (by statements the schema still
//! allows) is repaired when the writer starts, each repair is recorded as an alert, the
//! invariants hold, and the repaired state is what is stored (a second start repairs nothing).

use std::time::Duration;

use switchboard_store::testing::ManualClock;

use crate::common::{both_backends, count, Db, Service, START};

both_backends!(inconsistent_database_is_repaired_at_start);

async fn inconsistent_database_is_repaired_at_start(db: &Db) {
    let clock = ManualClock::new(START);
    let service = Service::start(db, clock.clone()).await;
    service.directory(5, 3).await;
    for moderator in 1..=3 {
        clock.advance(Duration::from_secs(5));
        service.connect(moderator).await;
    }
    service.inbound(1, 5, 1).await.expect("accepted"); // client 5 -> profile 1 -> moderator 1
    service.inbound(2, 7, 2).await.expect("accepted"); // client 7 -> profile 2 -> moderator 2
    service.inbound(3, 9, 3).await.expect("accepted"); // client 9 -> profile 3 -> moderator 3
    let violations = service.handle.read(|engine| engine.check_invariants()).await.expect("read");
    assert!(violations.is_empty(), "consistent before tampering: {violations:?}");
    assert_eq!(
        service
            .count("SELECT count(*) FROM moderator_profile_assignments WHERE moderator_id = 1 AND profile_id = 1")
            .await,
        1
    );
    assert_eq!(service.count("SELECT count(*) FROM client_locks WHERE client_id = 7 AND moderator_id = 2").await, 1);
    assert_eq!(
        service
            .count("SELECT count(*) FROM moderator_profile_assignments WHERE moderator_id = 3 AND profile_id = 3")
            .await,
        1
    );
    assert_eq!(service.count("SELECT count(*) FROM moderators WHERE id = 4 AND state = 'offline'").await, 1);
    service.stop().await;

    let store = db.store().await;
    let alerts_before = count(&store, "SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await;
    let tamper = [
        // Two holders for one profile: the lease names moderator 2, the assignment moderator 1.
        "UPDATE profile_locks SET moderator_id = 2 WHERE profile_id = 1",
        // A queue entry of an offline moderator.
        "INSERT INTO moderator_queue (moderator_id, queued_at, priority, position, estimated_wait_time) VALUES (4, 1700000000000, 0, 2, 60)",
        // A client lock of a moderator (3) who does not hold the profile (2, held by 2).
        "BEGIN; UPDATE client_lock_holders SET moderator_id = 3 WHERE client_id = 7; UPDATE client_locks SET moderator_id = 3 WHERE client_id = 7; COMMIT",
        // A working moderator (5, offline until now) who holds no profile.
        "UPDATE moderators SET state = 'working' WHERE id = 5",
    ];
    for statement in tamper {
        store.execute_raw(statement).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    store.close().await;

    clock.advance(Duration::from_secs(1));
    let service = Service::start(db, clock.clone()).await;
    let violations = service.handle.read(|engine| engine.check_invariants()).await.expect("read");
    assert!(violations.is_empty(), "the invariants hold after the repair: {violations:?}");
    let alerts = service.store.alerts(100).await.expect("alerts");
    let repairs: Vec<String> = alerts
        .iter()
        .filter(|alert| alert.kind == "inconsistency_repaired")
        .map(|alert| alert.data["description"].as_str().unwrap_or_default().to_owned())
        .collect();
    eprintln!("repairs recorded: {repairs:#?}");
    assert!(repairs.len() as i64 - alerts_before >= 4, "each of the four problems is recorded: {repairs:#?}");
    let recorded = |needle: &str| repairs.iter().any(|description| description.contains(needle));
    assert!(recorded("profile 1 was leased to moderator 2"), "{repairs:#?}");
    assert!(recorded("moderator 4 (offline) had a queue entry"), "{repairs:#?}");
    assert!(recorded("client 7 was locked by moderator 3 under profile 2"), "{repairs:#?}");
    assert!(recorded("moderator 5 was working without a profile; queued"), "{repairs:#?}");
    assert!(
        service
            .sink
            .events()
            .iter()
            .any(|event| event.name == "AlertRaised" && event.data.contains("inconsistency_repaired")),
        "the repairs are announced to supervisors"
    );

    // The stored state is consistent again.
    let checks = [
        "SELECT count(*) FROM profile_locks l LEFT JOIN moderator_profile_assignments a ON a.profile_id = l.profile_id AND a.moderator_id = l.moderator_id WHERE a.profile_id IS NULL",
        "SELECT count(*) FROM moderator_profile_assignments a LEFT JOIN profile_locks l ON l.profile_id = a.profile_id WHERE l.profile_id IS NULL",
        "SELECT count(*) FROM moderator_queue q JOIN moderators m ON m.id = q.moderator_id WHERE m.state <> 'queued'",
        "SELECT count(*) FROM client_locks c LEFT JOIN moderator_profile_assignments a ON a.profile_id = c.profile_id AND a.moderator_id = c.moderator_id WHERE a.profile_id IS NULL",
    ];
    for check in checks {
        assert_eq!(service.count(check).await, 0, "{check}");
    }
    assert_eq!(service.count("SELECT count(*) FROM moderator_queue WHERE moderator_id = 4").await, 0);
    let repaired_alerts = service.count("SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await;
    service.stop().await;

    // What was committed needs no further repair.
    let service = Service::start(db, clock.clone()).await;
    assert_eq!(
        service.count("SELECT count(*) FROM alerts WHERE kind = 'inconsistency_repaired'").await,
        repaired_alerts,
        "a second start finds nothing to repair"
    );
    service.stop().await;
}
