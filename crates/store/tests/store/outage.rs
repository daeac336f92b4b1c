//! Storage outage under load (PostgreSQL): the writer's connections are cut and the database
//! refuses new ones for a while. Requests get `Unavailable` while it is gone, the writer
//! recovers by itself, and no acknowledged write is lost.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Executor;
use switchboard_engine::Reply;
use switchboard_store::testing::{postgres_admin_connection, ManualClock};
use switchboard_store::{Backend, WriteError};

use crate::common::{eventually, inbound_command, Db, Service, START};

const SUBMITTERS: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_load_loses_no_acknowledged_write() {
    let db = Db::fresh(Backend::Postgres).await;
    let service = Arc::new(Service::start(&db, ManualClock::new(START)).await);
    service.directory(0, 3).await;

    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let unavailable = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let mut submitters = Vec::new();
    for submitter in 0..SUBMITTERS {
        let (service, acknowledged, unavailable, stop) =
            (service.clone(), acknowledged.clone(), unavailable.clone(), stop.clone());
        submitters.push(tokio::spawn(async move {
            let mut sequence = 0u64;
            // Bounded: at most this many attempts per submitter, whatever happens.
            while !stop.load(Ordering::Relaxed) && sequence < 200_000 {
                sequence += 1;
                let message_id = submitter * 1_000_000 + sequence;
                let command = inbound_command(message_id, 1 + sequence % 50, 1 + sequence % 3, "load", START);
                match service.handle.submit(command).await {
                    Ok(Reply::MessageAccepted { .. }) => {
                        acknowledged.lock().expect("lock").insert(message_id);
                    }
                    Ok(other) => panic!("unexpected reply {other:?}"),
                    Err(WriteError::Unavailable(_)) => {
                        *unavailable.lock().expect("lock") += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
        }));
    }
    let acknowledged_count = || acknowledged.lock().expect("lock").len();
    assert!(eventually(Duration::from_secs(30), || async { acknowledged_count() >= 200 }).await, "load is flowing");

    // The outage: no new connections, and every existing session of the database is cut.
    let name = db.postgres_name().to_owned();
    let mut admin = postgres_admin_connection().await;
    admin.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str()).await.expect("refuse");
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            .as_str(),
        )
        .await
        .expect("terminate");
    let during = eventually(Duration::from_secs(30), || async { *unavailable.lock().expect("lock") >= 50 }).await;
    assert!(during, "requests are answered Unavailable while the database is gone");
    assert!(!service.handle.metrics().storage_available);
    let acknowledged_during_outage = acknowledged_count();

    admin.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str()).await.expect("allow");
    let resumed =
        eventually(Duration::from_secs(30), || async { acknowledged_count() >= acknowledged_during_outage + 200 })
            .await;
    assert!(resumed, "the writer recovered by itself and acknowledges again");
    stop.store(true, Ordering::Relaxed);
    for submitter in submitters {
        submitter.await.expect("submitter");
    }
    assert!(service.handle.metrics().recoveries >= 1);

    let stored: BTreeSet<u64> = service
        .store
        .query_integers("SELECT message_id FROM messages WHERE message_id IS NOT NULL")
        .await
        .expect("messages")
        .into_iter()
        .map(|id| id as u64)
        .collect();
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let lost: Vec<&u64> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    let violations = service.handle.read(|engine| engine.check_invariants()).await.expect("read");
    assert!(violations.is_empty(), "{violations:?}");
    let engine_knows = service
        .handle
        .read(move |engine| {
            acknowledged.iter().all(|id| engine.is_message_known(&switchboard_engine::MessageId::Number(*id)))
        })
        .await
        .expect("read");
    assert!(engine_knows, "the rebuilt engine knows every acknowledged message");

    let Ok(service) = Arc::try_unwrap(service) else { panic!("submitters still hold the service") };
    service.stop().await;
    db.cleanup().await;
}
