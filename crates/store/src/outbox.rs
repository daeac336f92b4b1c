//! The outbox: each engine `Event` encoded once, as the row the writer commits with the
//! change and the `OutboxEvent` the sink receives after COMMIT.
//!
//! `data` is the JSON object of API.md's event table: snake_case field names, ids as
//! numbers (message ids as the platform gave them), times as RFC 3339 UTC strings, durations in whole seconds. One `match` over
//! `Event` decides every field, so a new event cannot be stored without a decision here.

use serde_json::{json, Value};
use switchboard_engine::{Alert, AlertSubject, Event, MessageId, MessageSummary, Timestamp};

use crate::time::rfc3339;

/// A committed event on its way to the realtime channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The outbox row's id: grows with commit order, so a consumer can de-duplicate and resume.
    pub id: i64,
    /// e.g. `private-moderator.7`.
    pub channel: String,
    /// The bare class name, e.g. `ModeratorQueuePositionChanged` (the server adds its namespace).
    pub name: String,
    /// The JSON object, as text.
    pub data: String,
}

/// The channel, name and JSON object of one event.
pub fn encode_event(event: &Event) -> (String, &'static str, Value) {
    (event.channel().name(), event.name(), event_data(event))
}

/// A batch's events as its outbox rows, numbered from `first_id` on (the writer hands out
/// the ids, so that it knows them before COMMIT and they follow commit order).
pub(crate) fn outbox_events(events: &[Event], first_id: i64) -> Vec<OutboxEvent> {
    events
        .iter()
        .zip(first_id..)
        .map(|(event, row_id)| {
            let (channel, name, data) = encode_event(event);
            OutboxEvent { id: row_id, channel, name: name.to_owned(), data: data.to_string() }
        })
        .collect()
}

fn time(at: Timestamp) -> Value {
    Value::String(rfc3339(at))
}

fn optional_time(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, time)
}

/// A message id as API.md's JSON, in the form the platform gave it: an integer stays a
/// number, a string stays a string. The one encoding of a message id, for events, replies,
/// views and webhooks alike, so that no two places can disagree on it.
pub fn message_id_json(message_id: &MessageId) -> Value {
    match message_id {
        MessageId::Number(number) => Value::from(*number),
        MessageId::Key(key) => Value::from(key.as_str()),
    }
}

pub(crate) fn message_json(summary: &MessageSummary) -> Value {
    json!({
        "message_id": message_id_json(&summary.message_id),
        "body": &*summary.body,
        "sent_at": time(summary.sent_at),
        "received_at": time(summary.received_at),
    })
}

/// The `data` object of an alert (also stored in `alerts.data`).
pub(crate) fn alert_data(subject: &AlertSubject) -> Value {
    match subject {
        AlertSubject::Conversation { client_id, profile_id, moderator_id, waiting_seconds } => json!({
            "client_id": client_id.0,
            "profile_id": profile_id.0,
            "moderator_id": moderator_id.map(|id| id.0),
            "waiting_seconds": waiting_seconds,
        }),
        AlertSubject::Profile { profile_id, waiting_conversations, orphan_seconds } => json!({
            "profile_id": profile_id.0,
            "waiting_conversations": waiting_conversations,
            "orphan_seconds": orphan_seconds,
        }),
        AlertSubject::Moderator { moderator_id, load, mean_load_milli, oldest_waiting_seconds } => json!({
            "moderator_id": moderator_id.0,
            "load": load,
            "mean_load": *mean_load_milli as f64 / 1000.0,
            "oldest_waiting_seconds": oldest_waiting_seconds,
        }),
        AlertSubject::Queue { queue_length, stalled_seconds } => json!({
            "queue_length": queue_length,
            "stalled_seconds": stalled_seconds,
        }),
        AlertSubject::Repair { description } => json!({ "description": description }),
        AlertSubject::Conflict { conflict_id, participants } => json!({
            "conflict_id": conflict_id.0,
            "participants": participants.iter().map(|id| id.0).collect::<Vec<_>>(),
        }),
    }
}

pub(crate) fn alert_json(alert: &Alert) -> Value {
    json!({
        "alert_id": alert.alert_id.0,
        "kind": alert.kind.as_str(),
        "severity": alert.severity.as_str(),
        "data": alert_data(&alert.subject),
        "raised_at": time(alert.raised_at),
    })
}

fn event_data(event: &Event) -> Value {
    match event {
        Event::ModeratorQueuePositionChanged { moderator_id, position, estimated_wait_seconds, available_profiles } => {
            json!({
                "moderator_id": moderator_id.0,
                "position": position,
                "estimated_wait_seconds": estimated_wait_seconds,
                "available_profiles": available_profiles,
            })
        }
        Event::ProfileLockStatusChanged {
            profile_id,
            locked,
            lock_type,
            moderator_id,
            duration_seconds,
            expires_at,
        } => {
            json!({
                "profile_id": profile_id.0,
                "locked": locked,
                "lock_type": lock_type.map(|lock_type| lock_type.as_str()),
                "moderator_id": moderator_id.map(|id| id.0),
                "duration_seconds": duration_seconds,
                "expires_at": optional_time(*expires_at),
            })
        }
        Event::ProfileAssigned { moderator_id, profile_id, reason } => json!({
            "moderator_id": moderator_id.0,
            "profile_id": profile_id.0,
            "reason": reason.as_str(),
        }),
        Event::ProfileUnassigned { moderator_id, profile_id, reason } => json!({
            "moderator_id": moderator_id.0,
            "profile_id": profile_id.0,
            "reason": reason.as_str(),
        }),
        Event::ForcedReassignment { moderator_id, profile_id, reason, new_moderator_id } => json!({
            "moderator_id": moderator_id.0,
            "profile_id": profile_id.0,
            "reason": reason.as_str(),
            "new_moderator_id": new_moderator_id.map(|id| id.0),
        }),
        Event::ConversationAssigned { moderator_id, client_id, profile_id, message: summary } => json!({
            "moderator_id": moderator_id.0,
            "client_id": client_id.0,
            "profile_id": profile_id.0,
            "message": summary.as_ref().map_or(Value::Null, message_json),
        }),
        Event::ConversationReleased { moderator_id, client_id, profile_id, reason } => json!({
            "moderator_id": moderator_id.0,
            "client_id": client_id.0,
            "profile_id": profile_id.0,
            "reason": reason.as_str(),
        }),
        Event::ClientLockStatusChanged { recipient_id: _, client_id, profile_id, locked, moderator_id, expires_at } => {
            json!({
                "client_id": client_id.0,
                "profile_id": profile_id.0,
                "locked": locked,
                "moderator_id": moderator_id.map(|id| id.0),
                "expires_at": optional_time(*expires_at),
            })
        }
        Event::ConflictResolved { recipient_id: _, conflict_id, participants, strategy, winners, queued } => json!({
            "conflict_id": conflict_id.0,
            "participants": participants.iter().map(|id| id.0).collect::<Vec<_>>(),
            "strategy": strategy,
            "winners": winners.iter().map(|id| id.0).collect::<Vec<_>>(),
            "queued": queued.iter().map(|id| id.0).collect::<Vec<_>>(),
        }),
        Event::AlertRaised(raised) => alert_json(raised),
        Event::ModeratorStateChanged { moderator_id, state } => json!({
            "moderator_id": moderator_id.0,
            "state": state.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard_engine::{ClientId, MessageKey, ModeratorId, ProfileId, ReleaseReason};

    use super::*;

    #[test]
    fn forced_reassignment_has_api_fields() {
        let event = Event::ForcedReassignment {
            moderator_id: ModeratorId(7),
            profile_id: ProfileId(3),
            reason: ReleaseReason::Inactivity,
            new_moderator_id: None,
        };
        let (channel, name, data) = encode_event(&event);
        assert_eq!(channel, "private-moderator.7");
        assert_eq!(name, "ForcedReassignment");
        assert_eq!(data, json!({"moderator_id": 7, "profile_id": 3, "reason": "inactivity", "new_moderator_id": null}));
    }

    #[test]
    fn lock_status_times_are_rfc3339_and_durations_seconds() {
        let expires_at = Timestamp(0).plus(Duration::from_secs(500));
        let event = Event::ProfileLockStatusChanged {
            profile_id: ProfileId(3),
            locked: true,
            lock_type: Some(switchboard_engine::LockType::Assignment),
            moderator_id: Some(ModeratorId(7)),
            duration_seconds: Some(500),
            expires_at: Some(expires_at),
        };
        let (channel, _, data) = encode_event(&event);
        assert_eq!(channel, "private-profile.3");
        assert_eq!(data["expires_at"], "1970-01-01T00:08:20.000Z");
        assert_eq!(data["duration_seconds"], 500);
        assert_eq!(data["lock_type"], "assignment");
    }

    #[test]
    fn message_ids_are_echoed_in_the_form_given() {
        let assigned = |message_id: MessageId| Event::ConversationAssigned {
            moderator_id: ModeratorId(7),
            client_id: ClientId(1),
            profile_id: ProfileId(3),
            message: Some(MessageSummary {
                message_id,
                body: "hi".into(),
                sent_at: Timestamp(0),
                received_at: Timestamp(0),
            }),
        };
        let number = encode_event(&assigned(MessageId::Number(5))).2;
        assert_eq!(number["message"]["message_id"], json!(5));
        let key = MessageId::Key(MessageKey::parse("5").expect("a key"));
        assert_eq!(encode_event(&assigned(key)).2["message"]["message_id"], json!("5"));
        let ulid = MessageId::Key(MessageKey::parse("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F").expect("a key"));
        assert_eq!(message_id_json(&ulid), json!("01J9ZQ3W5X6Y7Z8A9B0C1D2E3F"));
    }
}
