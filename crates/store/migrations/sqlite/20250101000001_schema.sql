-- Switchboard's schema (SQLite). Times are milliseconds since the Unix epoch (INTEGER);
-- JSON columns are TEXT. Ids are the host platform's (u64 stored bit-for-bit in INTEGER).
-- Foreign keys are DEFERRABLE INITIALLY DEFERRED: the writer rewrites a batch's rows in any
-- order and the database checks the result once, at COMMIT.

CREATE TABLE moderators (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('offline', 'queued', 'working', 'paused', 'away')),
    priority           INTEGER NOT NULL DEFAULT 0,
    load               INTEGER NOT NULL DEFAULT 0,
    connected_at       INTEGER,
    last_activity_at   INTEGER,
    loaded_since       INTEGER,
    last_seen_at       INTEGER NOT NULL,
    realtime_connected INTEGER NOT NULL DEFAULT 0,
    last_assigned_at   INTEGER,
    given_back         TEXT    NOT NULL DEFAULT '[]',
    response_times     TEXT    NOT NULL DEFAULT '{"recent_millis":[],"replies":0}',
    -- Target of the assignments' (moderator_id, holder_state) key: invariant 1.
    UNIQUE (id, state)
);

CREATE TABLE profiles (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    active           INTEGER NOT NULL,
    last_balanced_at INTEGER,
    last_typing_at   INTEGER,
    orphan_since     INTEGER,
    orphan_alerted   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE clients (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

-- The seed's assignment table. One row per held profile (PRIMARY KEY profile_id: a profile
-- has at most one holder, invariant 1), and the holder is `working`: holder_state can only
-- be 'working' and must match the moderator's state (composite foreign key).
CREATE TABLE moderator_profile_assignments (
    profile_id          INTEGER PRIMARY KEY REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id        INTEGER NOT NULL,
    holder_state        TEXT    NOT NULL DEFAULT 'working' CHECK (holder_state = 'working'),
    locked_clients      TEXT    NOT NULL DEFAULT '[]',
    queue_position      INTEGER,
    assigned_at         INTEGER NOT NULL,
    last_activity_check INTEGER,
    UNIQUE (profile_id, moderator_id),
    FOREIGN KEY (moderator_id, holder_state) REFERENCES moderators (id, state) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX moderator_profile_assignments_moderator ON moderator_profile_assignments (moderator_id);

-- One row per conversation, so a conversation is in at most one assignment; `assigned_to`
-- references the assignment of *this* profile, so that assignment is the holder's (invariant 2).
CREATE TABLE conversations (
    client_id                INTEGER NOT NULL REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    profile_id               INTEGER NOT NULL REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
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
CREATE INDEX conversations_assigned_to ON conversations (assigned_to) WHERE assigned_to IS NOT NULL;

-- Inbound (client to profile, platform message_id unique: invariant 8) and outbound rows.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER UNIQUE,
    client_id    INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    direction    TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    moderator_id INTEGER,
    body         TEXT    NOT NULL,
    sent_at      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    CHECK ((direction = 'inbound') = (message_id IS NOT NULL))
);
CREATE INDEX messages_conversation ON messages (client_id, profile_id, id);

-- One lease per profile (PRIMARY KEY profile_id): invariant 1.
CREATE TABLE profile_locks (
    profile_id   INTEGER PRIMARY KEY REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id INTEGER NOT NULL REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    locked_at    INTEGER NOT NULL,
    expires_at   INTEGER,
    lock_type    TEXT    NOT NULL CHECK (lock_type IN ('assignment', 'manual')),
    token        INTEGER NOT NULL,
    CHECK ((lock_type = 'manual') = (expires_at IS NULL))
);

-- Invariant 3: one row per locked client naming its single holder; every client lock
-- references (client_id, moderator_id) here, so all locks on a client share one moderator.
CREATE TABLE client_lock_holders (
    client_id    INTEGER PRIMARY KEY REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id INTEGER NOT NULL REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    UNIQUE (client_id, moderator_id)
);

CREATE TABLE client_locks (
    client_id    INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id INTEGER NOT NULL,
    locked_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    lock_reason  TEXT    NOT NULL CHECK (lock_reason IN ('conversation', 'initiation', 'typing')),
    token        INTEGER NOT NULL,
    PRIMARY KEY (client_id, profile_id),
    FOREIGN KEY (client_id, moderator_id) REFERENCES client_lock_holders (client_id, moderator_id)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE moderator_queue (
    moderator_id            INTEGER PRIMARY KEY REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    queued_at               INTEGER NOT NULL,
    priority                INTEGER NOT NULL,
    position                INTEGER NOT NULL CHECK (position >= 0),
    estimated_wait_time     INTEGER NOT NULL,
    announced_position      INTEGER,
    announced_wait_seconds  INTEGER
);

CREATE TABLE assignment_conflicts (
    id           INTEGER PRIMARY KEY,
    participants TEXT    NOT NULL,
    strategy     TEXT    NOT NULL CHECK (strategy IN ('timestamp', 'id')),
    winners      TEXT    NOT NULL,
    queued       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolved_by  INTEGER
);

CREATE TABLE alerts (
    alert_id  INTEGER PRIMARY KEY,
    kind      TEXT    NOT NULL,
    severity  TEXT    NOT NULL,
    data      TEXT    NOT NULL,
    raised_at INTEGER NOT NULL
);
CREATE INDEX alerts_kind ON alerts (kind);

-- Events written with the change that caused them, delivered after COMMIT (API.md).
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    channel      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    data         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The engine's counters (fencing tokens, conflict and alert ids) and recent release times.
CREATE TABLE engine_meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    next_token       INTEGER NOT NULL,
    next_conflict_id INTEGER NOT NULL,
    next_alert_id    INTEGER NOT NULL,
    releases         TEXT    NOT NULL
);
