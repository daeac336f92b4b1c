-- Switchboard's schema (PostgreSQL). Times are milliseconds since the Unix epoch (BIGINT);
-- JSON columns are TEXT. Ids are the host platform's (u64 stored bit-for-bit in BIGINT).
-- Foreign keys are DEFERRABLE INITIALLY DEFERRED: the writer rewrites a batch's rows in any
-- order and the database checks the result once, at COMMIT.

CREATE TABLE moderators (
    id                 BIGINT PRIMARY KEY,
    name               TEXT    NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('offline', 'queued', 'working', 'paused', 'away')),
    priority           BIGINT NOT NULL DEFAULT 0,
    load               BIGINT NOT NULL DEFAULT 0,
    connected_at       BIGINT,
    last_activity_at   BIGINT,
    loaded_since       BIGINT,
    last_seen_at       BIGINT NOT NULL,
    realtime_connected BOOLEAN NOT NULL DEFAULT false,
    last_assigned_at   BIGINT,
    given_back         TEXT    NOT NULL DEFAULT '[]',
    response_times     TEXT    NOT NULL DEFAULT '{"recent_millis":[],"replies":0}',
    -- Target of the assignments' (moderator_id, holder_state) key: invariant 1.
    UNIQUE (id, state)
);

CREATE TABLE profiles (
    id               BIGINT PRIMARY KEY,
    name             TEXT    NOT NULL,
    active           BOOLEAN NOT NULL,
    last_balanced_at BIGINT,
    last_typing_at   BIGINT,
    orphan_since     BIGINT,
    orphan_alerted   BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE clients (
    id   BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);

-- The seed's assignment table. One row per held profile (PRIMARY KEY profile_id: a profile
-- has at most one holder, invariant 1), and the holder is `working`: holder_state can only
-- be 'working' and must match the moderator's state (composite foreign key).
CREATE TABLE moderator_profile_assignments (
    profile_id          BIGINT PRIMARY KEY REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id        BIGINT NOT NULL,
    holder_state        TEXT    NOT NULL DEFAULT 'working' CHECK (holder_state = 'working'),
    locked_clients      TEXT    NOT NULL DEFAULT '[]',
    queue_position      BIGINT,
    assigned_at         BIGINT NOT NULL,
    last_activity_check BIGINT,
    UNIQUE (profile_id, moderator_id),
    FOREIGN KEY (moderator_id, holder_state) REFERENCES moderators (id, state) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX moderator_profile_assignments_moderator ON moderator_profile_assignments (moderator_id);

-- One row per conversation, so a conversation is in at most one assignment; `assigned_to`
-- references the assignment of *this* profile, so that assignment is the holder's (invariant 2).
CREATE TABLE conversations (
    client_id                BIGINT NOT NULL REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    profile_id               BIGINT NOT NULL REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    waiting_since            BIGINT,
    last_inbound_message_id  BIGINT,
    last_inbound_body        TEXT,
    last_inbound_sent_at     BIGINT,
    last_inbound_received_at BIGINT,
    assigned_to              BIGINT,
    inbound_messages         BIGINT NOT NULL DEFAULT 0,
    last_reply_at            BIGINT,
    wait_alerted             BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (client_id, profile_id),
    FOREIGN KEY (profile_id, assigned_to) REFERENCES moderator_profile_assignments (profile_id, moderator_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX conversations_assigned_to ON conversations (assigned_to) WHERE assigned_to IS NOT NULL;

-- Inbound (client to profile, platform message_id unique: invariant 8) and outbound rows.
CREATE TABLE messages (
    id           BIGINT PRIMARY KEY,
    message_id   BIGINT UNIQUE,
    client_id    BIGINT NOT NULL,
    profile_id   BIGINT NOT NULL,
    direction    TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    moderator_id BIGINT,
    body         TEXT    NOT NULL,
    sent_at      BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    CHECK ((direction = 'inbound') = (message_id IS NOT NULL))
);
CREATE INDEX messages_conversation ON messages (client_id, profile_id, id);

-- One lease per profile (PRIMARY KEY profile_id): invariant 1.
CREATE TABLE profile_locks (
    profile_id   BIGINT PRIMARY KEY REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id BIGINT NOT NULL REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    locked_at    BIGINT NOT NULL,
    expires_at   BIGINT,
    lock_type    TEXT    NOT NULL CHECK (lock_type IN ('assignment', 'manual')),
    token        BIGINT NOT NULL,
    CHECK ((lock_type = 'manual') = (expires_at IS NULL))
);

-- Invariant 3: one row per locked client naming its single holder; every client lock
-- references (client_id, moderator_id) here, so all locks on a client share one moderator.
CREATE TABLE client_lock_holders (
    client_id    BIGINT PRIMARY KEY REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id BIGINT NOT NULL REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    UNIQUE (client_id, moderator_id)
);

CREATE TABLE client_locks (
    client_id    BIGINT NOT NULL,
    profile_id   BIGINT NOT NULL REFERENCES profiles (id) DEFERRABLE INITIALLY DEFERRED,
    moderator_id BIGINT NOT NULL,
    locked_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    lock_reason  TEXT    NOT NULL CHECK (lock_reason IN ('conversation', 'initiation', 'typing')),
    token        BIGINT NOT NULL,
    PRIMARY KEY (client_id, profile_id),
    FOREIGN KEY (client_id, moderator_id) REFERENCES client_lock_holders (client_id, moderator_id)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE moderator_queue (
    moderator_id            BIGINT PRIMARY KEY REFERENCES moderators (id) DEFERRABLE INITIALLY DEFERRED,
    queued_at               BIGINT NOT NULL,
    priority                BIGINT NOT NULL,
    position                BIGINT NOT NULL CHECK (position >= 0),
    estimated_wait_time     BIGINT NOT NULL,
    announced_position      BIGINT,
    announced_wait_seconds  BIGINT
);

CREATE TABLE assignment_conflicts (
    id           BIGINT PRIMARY KEY,
    participants TEXT    NOT NULL,
    strategy     TEXT    NOT NULL CHECK (strategy IN ('timestamp', 'id')),
    winners      TEXT    NOT NULL,
    queued       TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT,
    resolved_by  BIGINT
);

CREATE TABLE alerts (
    alert_id  BIGINT PRIMARY KEY,
    kind      TEXT    NOT NULL,
    severity  TEXT    NOT NULL,
    data      TEXT    NOT NULL,
    raised_at BIGINT NOT NULL
);
CREATE INDEX alerts_kind ON alerts (kind);

-- Events written with the change that caused them, delivered after COMMIT (API.md).
CREATE TABLE outbox (
    id           BIGINT PRIMARY KEY,
    channel      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    data         TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The engine's counters (fencing tokens, conflict and alert ids) and recent release times.
CREATE TABLE engine_meta (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    next_token       BIGINT NOT NULL,
    next_conflict_id BIGINT NOT NULL,
    next_alert_id    BIGINT NOT NULL,
    releases         TEXT    NOT NULL
);
