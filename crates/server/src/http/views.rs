//! The engine's views written as API.md's JSON objects: snake_case fields, RFC 3339 UTC
//! times, durations as `*_seconds`. The only place that decides how an entity looks on the
//! wire; handlers compose these.

use serde_json::{json, Value};
use switchboard_engine::{
    BalanceMove, ClientLockView, ConflictView, ConversationKey, Engine, LoadReport, LockStatus, ModeratorId,
    ModeratorStatus, MonitorReport, ProfileId, ProfileLeaseView, QueueStatus, Timestamp,
};
use switchboard_store::{rfc3339, Direction, StoredAlert, StoredMessage};

fn time(timestamp: Option<Timestamp>) -> Value {
    timestamp.map_or(Value::Null, |timestamp| Value::String(rfc3339(timestamp)))
}

/// API.md's moderator status.
#[must_use]
pub fn status(status: &ModeratorStatus) -> Value {
    json!({
        "moderator_id": status.moderator_id.0,
        "state": status.state.as_str(),
        "profiles": status.profiles.iter().map(|id| id.0).collect::<Vec<_>>(),
        "load": status.load,
        "queue": status.queue.as_ref().map(|place| json!({
            "position": place.position,
            "estimated_wait_seconds": place.estimated_wait_seconds,
        })),
    })
}

/// API.md's queue status.
#[must_use]
pub fn queue_status(queue: &QueueStatus) -> Value {
    json!({
        "in_queue": queue.in_queue,
        "position": queue.position,
        "estimated_wait_seconds": queue.estimated_wait_seconds,
        "queued_at": time(queue.queued_at),
        "priority": queue.priority,
        "queue_length": queue.queue_length,
        "available_profiles": queue.available_profiles,
    })
}

/// A profile lock object.
#[must_use]
pub fn lease(lease: &ProfileLeaseView) -> Value {
    json!({
        "type": "profile",
        "profile_id": lease.profile_id.0,
        "moderator_id": lease.moderator_id.0,
        "lock_type": lease.lock_type.as_str(),
        "locked_at": rfc3339(lease.locked_at),
        "expires_at": time(lease.expires_at),
        "fencing_token": lease.token.0,
    })
}

/// A client lock object.
#[must_use]
pub fn client_lock(lock: &ClientLockView) -> Value {
    json!({
        "type": "client",
        "client_id": lock.client_id.0,
        "profile_id": lock.profile_id.0,
        "moderator_id": lock.moderator_id.0,
        "lock_reason": lock.lock_reason.as_str(),
        "locked_at": rfc3339(lock.locked_at),
        "expires_at": rfc3339(lock.expires_at),
        "fencing_token": lock.token.0,
    })
}

/// `GET /moderateur/locks/status`.
#[must_use]
pub fn lock_status(status: &LockStatus) -> Value {
    json!({
        "profile_locks": status.profile_locks.iter().map(lease).collect::<Vec<_>>(),
        "client_locks": status.client_locks.iter().map(client_lock).collect::<Vec<_>>(),
        "blocked_clients": status.blocked_clients.iter().map(|blocked| json!({
            "client_id": blocked.client_id.0,
            "profile_id": blocked.profile_id.0,
            "moderator_id": blocked.holder_id.0,
            "expires_at": rfc3339(blocked.expires_at),
        })).collect::<Vec<_>>(),
    })
}

/// A conflict record.
#[must_use]
pub fn conflict(conflict: &ConflictView) -> Value {
    let ids = |ids: &[ModeratorId]| ids.iter().map(|id| id.0).collect::<Vec<_>>();
    json!({
        "conflict_id": conflict.conflict_id.0,
        "participants": ids(&conflict.participants),
        "strategy": conflict.strategy,
        "winners": ids(&conflict.winners),
        "queued": ids(&conflict.queued),
        "created_at": rfc3339(conflict.created_at),
        "resolved": conflict.resolved_at.is_some(),
        "resolved_at": time(conflict.resolved_at),
        "resolved_by": conflict.resolved_by.map(|id| id.0),
    })
}

/// One conversation as the platform and the console see it.
#[must_use]
pub fn conversation(engine: &Engine, key: ConversationKey) -> Value {
    let conversation = engine.conversation(key);
    let lock = engine.client_lock_views(key.client_id).into_iter().find(|lock| lock.profile_id == key.profile_id);
    json!({
        "client_id": key.client_id.0,
        "profile_id": key.profile_id.0,
        "waiting": conversation.is_some_and(|c| c.waiting_since.is_some()),
        "waiting_since": time(conversation.and_then(|c| c.waiting_since)),
        "assigned_to": conversation.and_then(|c| c.assigned_to).map(|id| id.0),
        "inbound_messages": conversation.map_or(0, |c| c.inbound_messages),
        "last_reply_at": time(conversation.and_then(|c| c.last_reply_at)),
        "last_message": conversation.and_then(|c| c.last_inbound.as_ref()).map(|message| json!({
            "message_id": message.message_id.0,
            "body": &*message.body,
            "sent_at": rfc3339(message.sent_at),
        })),
        "lock": lock.as_ref().map(client_lock),
    })
}

/// A profile with its lease (and, for the holder's console, its conversations).
#[must_use]
pub fn profile(engine: &Engine, profile_id: ProfileId, with_conversations: bool) -> Value {
    let Some(profile) = engine.profile(profile_id) else {
        return json!({"profile_id": profile_id.0});
    };
    let mut value = json!({
        "profile_id": profile.id.0,
        "name": profile.name,
        "active": profile.active,
        "lock": engine.lease_view(profile_id).as_ref().map(lease),
        "waiting_conversations": profile.waiting.len(),
    });
    if with_conversations {
        let mut clients: Vec<_> = profile.waiting.iter().map(|&(_, client_id)| client_id).collect();
        if let Some(assignment) =
            profile.holder().and_then(|holder| engine.moderator(holder)).and_then(|m| m.assignments.get(&profile_id))
        {
            clients.extend(assignment.conversations.iter().copied());
        }
        clients.sort_unstable();
        clients.dedup();
        value["conversations"] = clients
            .into_iter()
            .map(|client_id| conversation(engine, ConversationKey { client_id, profile_id }))
            .collect();
    }
    value
}

/// `GET /api/supervisor/state`: everything, in id order so that two reads compare equal.
#[must_use]
pub fn supervisor_state(engine: &Engine) -> Value {
    let moderators: Vec<Value> = engine
        .moderators()
        .map(|moderator| {
            json!({
                "moderator_id": moderator.id.0,
                "name": moderator.name,
                "state": moderator.state.as_str(),
                "profiles": moderator.assignments.keys().map(|id| id.0).collect::<Vec<_>>(),
                "load": moderator.load,
                "priority": moderator.priority,
                "realtime_connected": moderator.realtime_connected,
                "connected_at": time(moderator.connected_at),
                "last_activity_at": time(moderator.last_activity_at),
                "last_seen_at": rfc3339(moderator.last_seen_at),
                "queue": moderator.queue.as_ref().map(|entry| json!({
                    "position": entry.position,
                    "queued_at": rfc3339(entry.queued_at),
                    "estimated_wait_seconds": entry.estimated_wait_seconds,
                })),
            })
        })
        .collect();
    let profiles: Vec<Value> = engine.profiles().map(|p| profile(engine, p.id, false)).collect();
    let mut client_ids: Vec<_> = engine
        .moderators()
        .flat_map(|moderator| moderator.assignments.values().flat_map(|a| a.locked_clients.iter().copied()))
        .collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    let client_locks: Vec<Value> =
        client_ids.into_iter().flat_map(|id| engine.client_lock_views(id)).map(|lock| client_lock(&lock)).collect();
    let mut conversations: Vec<ConversationKey> = engine.conversations().map(|(key, _)| *key).collect();
    conversations.sort_unstable();
    let queue: Vec<Value> = engine
        .queue_order()
        .map(|id| {
            let status = engine.queue_status(id);
            json!({"moderator_id": id.0, "position": status.position, "priority": status.priority,
                   "queued_at": time(status.queued_at), "estimated_wait_seconds": status.estimated_wait_seconds})
        })
        .collect();
    json!({
        "moderators": moderators,
        "profiles": profiles,
        "client_locks": client_locks,
        "queue": queue,
        "conversations": conversations.into_iter().map(|key| conversation(engine, key)).collect::<Vec<_>>(),
        "free_profiles": engine.free_profile_count(),
    })
}

/// `GET /api/supervisor/load-report`.
#[must_use]
pub fn load_report(report: &LoadReport) -> Value {
    json!({
        "moderators": report.moderators.iter().map(|m| json!({
            "moderator_id": m.moderator_id.0,
            "state": m.state.as_str(),
            "profiles": m.profiles.iter().map(|id| id.0).collect::<Vec<_>>(),
            "load": m.load,
            "replies": m.replies,
            "median_response_seconds": m.median_response_seconds,
            "p95_response_seconds": m.p95_response_seconds,
        })).collect::<Vec<_>>(),
        "totals": {
            "total_load": report.total_load,
            "working": report.working,
            "queued": report.queued,
            "mean_load": report.mean_load,
            "free_profiles": report.free_profiles,
            "orphan_profiles": report.orphan_profiles,
            "waiting_conversations": report.waiting_conversations,
        },
    })
}

/// A balancing move.
#[must_use]
pub fn balance_move(balance_move: &BalanceMove) -> Value {
    json!({
        "profile_id": balance_move.profile_id.0,
        "from_moderator_id": balance_move.from_moderator_id.0,
        "to_moderator_id": balance_move.to_moderator_id.0,
        "conversations": balance_move.conversations,
    })
}

/// `POST /api/supervisor/monitor/run`: what the monitor did.
#[must_use]
pub fn monitor_report(report: &MonitorReport) -> Value {
    json!({
        "expired_leases": report.expired_leases,
        "expired_client_locks": report.expired_client_locks,
        "disconnected": report.disconnected.iter().map(|id| id.0).collect::<Vec<_>>(),
        "set_away": report.set_away.iter().map(|id| id.0).collect::<Vec<_>>(),
        "orphan_profiles": report.orphan_profiles.iter().map(|id| id.0).collect::<Vec<_>>(),
        "assignments": report.assignments,
        "moves": report.moves.iter().map(balance_move).collect::<Vec<_>>(),
        "repairs": report.repairs,
        "alerts": report.alerts,
    })
}

/// A stored message.
#[must_use]
pub fn message(message: &StoredMessage) -> Value {
    json!({
        "id": message.id,
        "message_id": message.platform_message_id,
        "client_id": message.client_id.0,
        "profile_id": message.profile_id.0,
        "direction": match message.direction { Direction::Inbound => "inbound", Direction::Outbound => "outbound" },
        "moderator_id": message.moderator_id.map(|id| id.0),
        "body": message.body,
        "sent_at": rfc3339(message.sent_at),
        "recorded_at": rfc3339(message.recorded_at),
    })
}

/// A stored alert.
#[must_use]
pub fn alert(alert: &StoredAlert) -> Value {
    json!({
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "data": alert.data,
        "raised_at": rfc3339(alert.raised_at),
    })
}
