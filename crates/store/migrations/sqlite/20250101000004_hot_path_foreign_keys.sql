-- The rows written for every message (its conversation, the client's lock and lock holder)
-- keep only the foreign keys that carry an invariant: a conversation's holder is its
-- profile's (invariant 2), all locks on a client belong to one holder (invariant 3). The
-- others only said that a child row's client, profile or moderator exists; the one writer
-- writes whole entities, and the loader reports and drops any row naming a missing one.
-- SQLite cannot drop a constraint: the three tables are rebuilt. The new lock table first
-- references the new holder table, so no step leaves a lock without its holder.
CREATE TABLE client_lock_holders_rebuilt (
    client_id    INTEGER PRIMARY KEY,
    moderator_id INTEGER NOT NULL,
    UNIQUE (client_id, moderator_id)
);
INSERT INTO client_lock_holders_rebuilt (client_id, moderator_id) SELECT client_id, moderator_id FROM client_lock_holders;

CREATE TABLE client_locks_rebuilt (
    client_id    INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    moderator_id INTEGER NOT NULL,
    locked_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    lock_reason  TEXT    NOT NULL CHECK (lock_reason IN ('conversation', 'initiation', 'typing')),
    token        INTEGER NOT NULL,
    PRIMARY KEY (client_id, profile_id),
    FOREIGN KEY (client_id, moderator_id) REFERENCES client_lock_holders_rebuilt (client_id, moderator_id)
        DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO client_locks_rebuilt SELECT client_id, profile_id, moderator_id, locked_at, expires_at, lock_reason, token
    FROM client_locks;
DROP TABLE client_locks;
DROP TABLE client_lock_holders;
ALTER TABLE client_lock_holders_rebuilt RENAME TO client_lock_holders;
ALTER TABLE client_locks_rebuilt RENAME TO client_locks;

CREATE TABLE conversations_rebuilt (
    client_id                INTEGER NOT NULL,
    profile_id               INTEGER NOT NULL,
    waiting_since            INTEGER,
    last_inbound_message_id  INTEGER,
    last_inbound_body        TEXT,
    last_inbound_sent_at     INTEGER,
    last_inbound_received_at INTEGER,
    assigned_to              INTEGER,
    inbound_messages         INTEGER NOT NULL DEFAULT 0,
    last_reply_at            INTEGER,
    wait_alerted             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, profile_id),
    FOREIGN KEY (profile_id, assigned_to) REFERENCES moderator_profile_assignments (profile_id, moderator_id)
        DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO conversations_rebuilt SELECT client_id, profile_id, waiting_since, last_inbound_message_id,
    last_inbound_body, last_inbound_sent_at, last_inbound_received_at, assigned_to, inbound_messages,
    last_reply_at, wait_alerted FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_rebuilt RENAME TO conversations;
CREATE INDEX conversations_profile_assigned ON conversations (profile_id, assigned_to);
