//! The tables the writer writes, as descriptors: each table's name, its columns in the
//! order its rows list their values (`rows.rs` builds the rows in that order), and the key
//! an upsert conflicts on. `sql.rs` generates every insert and upsert from these; the
//! columns are those of the migrations (`migrations/`), which this never changes.

/// A table the writer writes: its columns in insert order, the key an upsert conflicts on.
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// Conflict target of an upsert; the other columns are overwritten. Empty: insert only.
    pub upsert_key: &'static [&'static str],
}

pub(super) static MODERATORS: Table = Table {
    name: "moderators",
    columns: &[
        "id",
        "name",
        "state",
        "priority",
        "load",
        "connected_at",
        "last_activity_at",
        "loaded_since",
        "last_seen_at",
        "realtime_connected",
        "last_assigned_at",
        "given_back",
        "response_times",
    ],
    upsert_key: &["id"],
};
pub(super) static ASSIGNMENTS: Table = Table {
    name: "moderator_profile_assignments",
    columns: &["profile_id", "moderator_id", "queue_position", "assigned_at", "last_activity_check"],
    upsert_key: &["profile_id"],
};
pub(super) static QUEUE: Table = Table {
    name: "moderator_queue",
    columns: &[
        "moderator_id",
        "queued_at",
        "priority",
        "position",
        "estimated_wait_time",
        "announced_position",
        "announced_wait_seconds",
    ],
    upsert_key: &["moderator_id"],
};
pub(super) static PROFILES: Table = Table {
    name: "profiles",
    columns: &["id", "name", "active", "last_balanced_at", "last_typing_at", "orphan_since", "orphan_alerted"],
    upsert_key: &["id"],
};
pub(super) static PROFILE_LOCKS: Table = Table {
    name: "profile_locks",
    columns: &["profile_id", "moderator_id", "locked_at", "expires_at", "lock_type", "token"],
    upsert_key: &["profile_id"],
};
pub(super) static CLIENTS: Table = Table { name: "clients", columns: &["id", "name"], upsert_key: &["id"] };
pub(super) static CLIENT_LOCK_HOLDERS: Table =
    Table { name: "client_lock_holders", columns: &["client_id", "moderator_id"], upsert_key: &["client_id"] };
pub(super) static CLIENT_LOCKS: Table = Table {
    name: "client_locks",
    columns: &["client_id", "profile_id", "moderator_id", "locked_at", "expires_at", "lock_reason", "token"],
    upsert_key: &["client_id", "profile_id"],
};
pub(super) static CONVERSATIONS: Table = Table {
    name: "conversations",
    columns: &[
        "client_id",
        "profile_id",
        "waiting_since",
        "last_inbound_message_id",
        "last_inbound_message_key",
        "last_inbound_body",
        "last_inbound_sent_at",
        "last_inbound_received_at",
        "assigned_to",
        "inbound_messages",
        "last_reply_at",
        "wait_alerted",
    ],
    upsert_key: &["client_id", "profile_id"],
};
pub(super) static CONFLICTS: Table = Table {
    name: "assignment_conflicts",
    columns: &["id", "participants", "strategy", "winners", "queued", "created_at", "resolved_at", "resolved_by"],
    upsert_key: &["id"],
};
pub(super) static MESSAGES: Table = Table {
    name: "messages",
    columns: &[
        "id",
        "message_id",
        "message_key",
        "client_id",
        "profile_id",
        "direction",
        "moderator_id",
        "body",
        "sent_at",
        "recorded_at",
    ],
    upsert_key: &[],
};
pub(super) static ALERTS: Table =
    Table { name: "alerts", columns: &["alert_id", "kind", "severity", "data", "raised_at"], upsert_key: &[] };
pub(super) static OUTBOX: Table =
    Table { name: "outbox", columns: &["id", "channel", "name", "data", "created_at"], upsert_key: &[] };
pub(super) static HOST_EVENTS: Table = Table {
    name: "host_events",
    columns: &[
        "sequence",
        "type",
        "occurred_at",
        "data",
        "webhook_status",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "delivered_at",
    ],
    upsert_key: &[],
};
pub(super) static ENGINE_META: Table = Table {
    name: "engine_meta",
    columns: &["id", "next_token", "next_conflict_id", "next_alert_id", "releases"],
    upsert_key: &["id"],
};
