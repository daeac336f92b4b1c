//! The writer lease on a real PostgreSQL (a cluster exists on PostgreSQL only): granting,
//! renewal, expiry on the database's clock, release, and fencing, which must refuse every
//! commit of an epoch that is no longer the lease's.

use std::time::{Duration, Instant};

use switchboard_engine::{Command, ProfileId, Reply};
use switchboard_store::testing::{ManualClock, RecordingSink};
use switchboard_store::{
    Acquire, Backend, Lease, LeaseSettings, LeaseSql, Role, Store, WriteError, Writer, WriterConfig,
};

use crate::common::{count, eventually, inbound_command, test_config, Db, START};

fn settings(node: &str, lease: Duration) -> LeaseSettings {
    LeaseSettings { node_name: node.to_owned(), advertise_url: format!("http://{node}"), lease }
}

async fn postgres() -> (Db, Store) {
    let db = Db::fresh(Backend::Postgres).await;
    let store = db.store().await;
    (db, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_lease_is_granted_once_with_the_next_epoch() {
    let (db, store) = postgres().await;
    let a = LeaseSql::new(&store, settings("a", Duration::from_secs(30))).expect("postgres");
    let b = LeaseSql::new(&store, settings("b", Duration::from_secs(30))).expect("postgres");
    assert_eq!(a.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 1 });
    assert_eq!(b.try_acquire().await.expect("ask"), Acquire::Held { advertise_url: Some("http://a".to_owned()) });
    let view = a.cluster().await.expect("view");
    assert_eq!((view.epoch, view.holder.as_deref(), view.live), (1, Some("a"), true));
    let expires = view.expires_at_ms.expect("an expiry");
    assert!((expires - view.now_ms - 30_000).abs() < 5_000, "expires ~30 s after the database's now: {view:?}");
    let mut nodes: Vec<String> = view.nodes.iter().map(|node| node.node_name.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, ["a", "b"]);
    assert_eq!(view.epochs.len(), 1);
    // The same name asking again is a restart of that node: it takes over from its previous
    // incarnation at once, under a new epoch that fences the old one.
    assert_eq!(a.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 2 });
    assert!(!a.renew(1).await.expect("renew"), "the previous incarnation's epoch is fenced");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_extends_only_the_holders_epoch() {
    let (db, store) = postgres().await;
    let a = LeaseSql::new(&store, settings("a", Duration::from_secs(30))).expect("postgres");
    let b = LeaseSql::new(&store, settings("b", Duration::from_secs(30))).expect("postgres");
    assert_eq!(a.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 1 });
    let before = a.cluster().await.expect("view").expires_at_ms.expect("expiry");
    assert!(
        eventually(Duration::from_secs(5), || async { a.cluster().await.expect("view").now_ms > before - 29_990 })
            .await
    );
    assert!(a.renew(1).await.expect("renew"));
    let after = a.cluster().await.expect("view").expires_at_ms.expect("expiry");
    assert!(after > before, "renewal moves the expiry: {before} -> {after}");
    assert!(!a.renew(2).await.expect("renew"), "an epoch never granted is not renewed");
    assert!(!b.renew(1).await.expect("renew"), "another node cannot renew the holder's epoch");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_with_epoch_plus_one_and_the_old_holder_cannot_renew() {
    let (db, store) = postgres().await;
    let a = LeaseSql::new(&store, settings("a", Duration::from_millis(400))).expect("postgres");
    let b = LeaseSql::new(&store, settings("b", Duration::from_secs(30))).expect("postgres");
    assert_eq!(a.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 1 });
    // Expiry is judged by the database's clock: b is refused until the database says so.
    let asked = Instant::now();
    let mut granted = None;
    while granted.is_none() && asked.elapsed() < Duration::from_secs(10) {
        if let Acquire::Granted { epoch } = b.try_acquire().await.expect("ask") {
            granted = Some(epoch);
        }
    }
    assert_eq!(granted, Some(2));
    assert!(asked.elapsed() >= Duration::from_millis(300), "taken before the lease could expire");
    assert!(!a.renew(1).await.expect("renew"), "the old holder's epoch is gone");
    let epochs = b.epochs(10).await.expect("epochs");
    assert_eq!(
        epochs.iter().map(|epoch| (epoch.epoch, epoch.holder.as_str())).collect::<Vec<_>>(),
        [(2, "b"), (1, "a")]
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_free_at_once() {
    let (db, store) = postgres().await;
    let a = LeaseSql::new(&store, settings("a", Duration::from_secs(30))).expect("postgres");
    let b = LeaseSql::new(&store, settings("b", Duration::from_secs(30))).expect("postgres");
    assert_eq!(a.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 1 });
    assert!(!b.release(1).await.expect("release"), "only the holder releases");
    assert!(a.release(1).await.expect("release"));
    assert!(!a.release(1).await.expect("release"), "released once");
    assert_eq!(b.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 2 });
    let epochs = b.epochs(10).await.expect("epochs");
    assert!(epochs[1].released_at_ms.is_some() && epochs[0].released_at_ms.is_none(), "{epochs:?}");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_a_released_lease_through_its_keeper() {
    let (db, store) = postgres().await;
    let lease = Duration::from_secs(30);
    let (first, first_keeper) = Lease::start(&store, settings("first", lease)).expect("postgres");
    assert!(
        eventually(Duration::from_secs(10), || async { matches!(first.role(), Role::Writer { epoch: 1, .. }) }).await
    );
    let (second, second_keeper) = Lease::start(&store, settings("second", lease)).expect("postgres");
    assert!(
        eventually(Duration::from_secs(10), || async {
            second.role() == Role::Standby { writer: Some("http://first".to_owned()) }
        })
        .await
    );
    let released = Instant::now();
    first_keeper.release().await;
    assert_eq!(first.role(), Role::Standby { writer: None });
    assert!(
        eventually(Duration::from_secs(10), || async { matches!(second.role(), Role::Writer { epoch: 2, .. }) }).await
    );
    println!("hand-over after release: {:?}", released.elapsed());
    second_keeper.release().await;
    store.close().await;
    db.cleanup().await;
}

/// A writer started with a lease serves once the lease is granted, counts its batches under
/// its epoch, and refuses to commit (503, engine dropped, standby) once the row names a newer
/// epoch, even while it still believes its own lease: the database's check is the fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_refuses_every_commit_of_an_old_epoch() {
    let (db, store) = postgres().await;
    let (lease, keeper) = Lease::start(&store, settings("old", Duration::from_secs(30))).expect("postgres");
    let config = WriterConfig { lease: Some(lease.clone()), ..test_config() };
    let clock = ManualClock::new(START);
    let (handle, task) =
        Writer::start(store.clone(), config, clock.clone(), RecordingSink::new()).await.expect("start the writer");
    assert!(eventually(Duration::from_secs(10), || async { lease.is_serving_writer() }).await);
    let profile = Command::UpsertProfile { profile_id: ProfileId(1), name: "profile 1".into(), active: true };
    handle.submit(profile).await.expect("accepted");
    let reply = handle.submit(inbound_command(1, 1, 1, "before", START)).await.expect("accepted");
    assert!(matches!(reply, Reply::MessageAccepted { .. }));
    let commits_before = count(&store, "SELECT commits FROM writer_epochs WHERE epoch = 1").await;
    assert!(commits_before >= 1, "the batch counted itself under epoch 1");

    // Another node takes the lease (as after an expiry the old writer did not notice).
    store.execute_raw("UPDATE writer_lease SET expires_at = clock_timestamp()").await.expect("expire");
    let thief = LeaseSql::new(&store, settings("new", Duration::from_secs(30))).expect("postgres");
    assert_eq!(thief.try_acquire().await.expect("ask"), Acquire::Granted { epoch: 2 });

    let refused = handle.submit(inbound_command(2, 1, 1, "after", START)).await;
    assert!(
        matches!(refused, Err(WriteError::Unavailable(_)) | Err(WriteError::Standby { .. })),
        "an old epoch commits nothing: {refused:?}"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM messages WHERE message_id = 2").await, 0);
    assert_eq!(count(&store, "SELECT commits FROM writer_epochs WHERE epoch = 1").await, commits_before);
    let standby_of_new = Role::Standby { writer: Some("http://new".to_owned()) };
    assert!(eventually(Duration::from_secs(10), || async { lease.role() == standby_of_new }).await);
    let standby = handle.submit(inbound_command(3, 1, 1, "standby", START)).await;
    assert_eq!(standby, Err(WriteError::Standby { writer: Some("http://new".to_owned()) }));
    task.shutdown().await;
    keeper.release().await;
    assert_eq!(count(&store, "SELECT epoch FROM writer_lease").await, 2, "the old node released nothing");
    store.close().await;
    db.cleanup().await;
}

/// A writer past its local deadline (paused, or its renewals failing) stops before the
/// database's expiry: it answers nothing and commits nothing, with no other node involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_renewals_fail_stops_at_its_local_deadline() {
    let (db, store) = postgres().await;
    let lease_length = Duration::from_millis(1_500);
    let (lease, keeper) = Lease::start(&store, settings("alone", lease_length)).expect("postgres");
    let config = WriterConfig { lease: Some(lease.clone()), ..test_config() };
    let (handle, task) = Writer::start(store.clone(), config, ManualClock::new(START), RecordingSink::new())
        .await
        .expect("start the writer");
    assert!(eventually(Duration::from_secs(10), || async { lease.is_serving_writer() }).await);
    // Renewals now fail (the row names another holder), so the deadline is not moved.
    store.execute_raw("UPDATE writer_lease SET holder = 'someone else'").await.expect("steal");
    assert!(eventually(Duration::from_secs(10), || async { !lease.is_serving_writer() }).await);
    let refused = handle.submit(inbound_command(9, 1, 1, "late", START)).await;
    assert!(matches!(refused, Err(WriteError::Standby { .. }) | Err(WriteError::Unavailable(_))), "{refused:?}");
    assert_eq!(count(&store, "SELECT count(*) FROM messages").await, 0);
    task.shutdown().await;
    keeper.release().await;
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_lease() {
    let db = Db::fresh(Backend::Sqlite).await;
    let store = db.store().await;
    assert!(Lease::start(&store, settings("a", Duration::from_secs(5))).is_err());
    store.close().await;
    db.cleanup().await;
}
