//! SPEC invariants 1 to 3 hold in the database itself: statements that would break them
//! fail at COMMIT whatever code runs them.

use switchboard_store::Store;

use crate::common::{both_backends, Db};

both_backends!(database_refuses_what_breaks_invariants_one_to_three, database_keeps_message_ids_exact);

/// Runs `statements` in one transaction: `Ok` if it committed, else the database's message.
async fn outcome(store: &Store, statements: &str) -> Result<(), String> {
    store.execute_raw(&format!("BEGIN; {statements}; COMMIT;")).await.map_err(|error| error.to_string())
}

async fn commits(store: &Store, statements: &str) -> bool {
    outcome(store, statements).await.is_ok()
}

/// Whether a constraint refused the transaction; a refusal for any other reason (a mistake
/// in the statement, a missing column) fails the test instead of passing for a refusal.
async fn refused(store: &Store, statements: &str) -> bool {
    match outcome(store, statements).await {
        Ok(()) => false,
        Err(message) => {
            assert!(message.contains("constraint"), "refused, but not by a constraint: {message}\n{statements}");
            true
        }
    }
}

async fn database_refuses_what_breaks_invariants_one_to_three(db: &Db) {
    let store = db.store().await;
    let (yes, no) = ("true", "false");
    let (yes, no) = if db.backend == switchboard_store::Backend::Sqlite { ("1", "0") } else { (yes, no) };
    let setup = format!(
        "INSERT INTO moderators (id, name, state, last_seen_at) VALUES (1, 'a', 'working', 0), (2, 'b', 'working', 0), (3, 'c', 'queued', 0);
         INSERT INTO profiles (id, name, active, orphan_alerted) VALUES (1, 'p', {yes}, {no}), (2, 'q', {yes}, {no});
         INSERT INTO clients (id, name) VALUES (7, 'c');
         INSERT INTO moderator_profile_assignments (profile_id, moderator_id, assigned_at) VALUES (1, 1, 0);
         INSERT INTO profile_locks (profile_id, moderator_id, locked_at, expires_at, lock_type, token) VALUES (1, 1, 0, 10, 'assignment', 1);
         INSERT INTO client_lock_holders (client_id, moderator_id) VALUES (7, 1);
         INSERT INTO client_locks (client_id, profile_id, moderator_id, locked_at, expires_at, lock_reason, token) VALUES (7, 1, 1, 0, 10, 'conversation', 2);
         INSERT INTO conversations (client_id, profile_id, assigned_to, wait_alerted) VALUES (7, 1, 1, {no})"
    );
    assert!(commits(&store, &setup).await, "a consistent state commits");

    // Invariant 1: one holder per profile, and holders are working.
    assert!(refused(&store, "INSERT INTO profile_locks (profile_id, moderator_id, locked_at, expires_at, lock_type, token) VALUES (1, 2, 0, 10, 'assignment', 3)").await);
    assert!(
        refused(
            &store,
            "INSERT INTO moderator_profile_assignments (profile_id, moderator_id, assigned_at) VALUES (1, 2, 0)"
        )
        .await
    );
    assert!(
        refused(
            &store,
            "INSERT INTO moderator_profile_assignments (profile_id, moderator_id, assigned_at) VALUES (2, 3, 0)"
        )
        .await,
        "a queued moderator holds nothing"
    );
    assert!(
        refused(&store, "UPDATE moderators SET state = 'away' WHERE id = 1").await,
        "a holder cannot stop working while holding"
    );
    assert!(
        commits(
            &store,
            "INSERT INTO moderator_profile_assignments (profile_id, moderator_id, assigned_at) VALUES (2, 2, 0)"
        )
        .await,
        "a working moderator can hold a free profile"
    );

    // Invariant 2: a conversation is in at most one assignment, the profile holder's.
    assert!(refused(&store, "UPDATE conversations SET assigned_to = 2 WHERE client_id = 7 AND profile_id = 1").await);
    assert!(
        refused(
            &store,
            &format!(
                "INSERT INTO conversations (client_id, profile_id, assigned_to, wait_alerted) VALUES (7, 1, 1, {no})"
            )
        )
        .await
    );

    // Invariant 3: all locks on a client belong to one moderator.
    assert!(refused(&store, "INSERT INTO client_locks (client_id, profile_id, moderator_id, locked_at, expires_at, lock_reason, token) VALUES (7, 2, 2, 0, 10, 'typing', 4)").await);
    assert!(refused(&store, "INSERT INTO client_lock_holders (client_id, moderator_id) VALUES (7, 2)").await);
    assert!(commits(&store, "INSERT INTO client_locks (client_id, profile_id, moderator_id, locked_at, expires_at, lock_reason, token) VALUES (7, 2, 1, 0, 10, 'typing', 4)").await, "more locks by the same holder are fine");

    // Invariant 8: a platform message id is stored once.
    let message = "INSERT INTO messages (id, message_id, client_id, profile_id, direction, body, sent_at, recorded_at) VALUES ({id}, 55, 7, 1, 'inbound', 'hi', 0, 0)";
    assert!(commits(&store, &message.replace("{id}", "1")).await);
    assert!(refused(&store, &message.replace("{id}", "2")).await);
    store.close().await;
}

/// Invariant 8 with string ids: each form is unique on its own, and a row holds exactly the
/// id its direction calls for.
async fn database_keeps_message_ids_exact(db: &Db) {
    let store = db.store().await;
    let (yes, no) = if db.backend == switchboard_store::Backend::Sqlite { ("1", "0") } else { ("true", "false") };
    let setup = format!(
        "INSERT INTO profiles (id, name, active, orphan_alerted) VALUES (1, 'p', {yes}, {no});
         INSERT INTO clients (id, name) VALUES (7, 'c')"
    );
    assert!(commits(&store, &setup).await);
    let row = |id: u32, direction: &str, message_id: &str, message_key: &str| {
        format!(
            "INSERT INTO messages (id, message_id, message_key, client_id, profile_id, direction, body, sent_at, recorded_at) \
             VALUES ({id}, {message_id}, {message_key}, 7, 1, '{direction}', 'hi', 0, 0)"
        )
    };
    assert!(commits(&store, &row(1, "inbound", "55", "NULL")).await);
    assert!(commits(&store, &row(2, "inbound", "NULL", "'55'")).await, "the string \"55\" is another id than 55");
    assert!(refused(&store, &row(3, "inbound", "NULL", "'55'")).await, "a string id is stored once");
    assert!(commits(&store, &row(3, "inbound", "NULL", "'055'")).await);
    assert!(refused(&store, &row(4, "inbound", "NULL", "NULL")).await, "an inbound row has an id");
    assert!(refused(&store, &row(4, "inbound", "56", "'56'")).await, "and only one");
    assert!(refused(&store, &row(4, "outbound", "NULL", "'56'")).await, "an outbound row has none");
    assert!(refused(&store, &row(4, "inbound", "NULL", "''")).await, "a string id is not empty");
    assert!(refused(&store, &row(4, "inbound", "NULL", &format!("'{}'", "x".repeat(129)))).await);
    assert!(commits(&store, &row(4, "outbound", "NULL", "NULL")).await);

    let conversation = |message_id: &str, message_key: &str| {
        format!(
            "INSERT INTO conversations (client_id, profile_id, last_inbound_message_id, last_inbound_message_key, wait_alerted) \
             VALUES (7, 1, {message_id}, {message_key}, {no})"
        )
    };
    assert!(refused(&store, &conversation("55", "'55'")).await, "a conversation's last message has one id");
    assert!(commits(&store, &conversation("NULL", "'55'")).await);
    store.close().await;
}
