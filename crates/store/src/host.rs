//! The host platform's vocabulary (API.md "Outbound events to the host platform"): which of
//! the engine's events, and which stored outbound messages, the host hears of, and the JSON
//! `data` of each. One `match` over a [`HostSource`] decides every type, so a new engine
//! event cannot reach the host without a decision here.
//!
//! The writer derives these in the batch's transaction (the `host_events` table), so a host
//! event never describes an uncommitted change and a committed one is never lost. The feed
//! and the webhooks read the same rows: the same `sequence`, the same `webhook-id`.
//!
//! Never here: SQL, HTTP, the realtime channels' shapes (that is `outbox.rs`).

use serde_json::{json, Value};
use switchboard_engine::{ClientId, Event, MessageId, ModeratorId, ProfileId, Timestamp};

use crate::outbox::{alert_json, message_id_json, message_json};
use crate::time::rfc3339;

/// A moderator's message as the writer stores it with `POST /moderateur/messages`.
#[derive(Clone, Debug)]
pub(crate) struct SentMessage {
    /// The `messages` row id the writer handed out: the outbound message's id.
    pub message_id: i64,
    pub client_id: ClientId,
    pub profile_id: ProfileId,
    pub moderator_id: ModeratorId,
    pub body: String,
    pub sent_at: Timestamp,
    /// The inbound message the conversation was waiting on when the reply was sent.
    pub in_reply_to: Option<MessageId>,
}

/// What a host event is derived from.
pub(crate) enum HostSource<'a> {
    Engine(&'a Event),
    Sent(&'a SentMessage),
}

/// A host event about to be written in a batch's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostEventRow {
    pub sequence: i64,
    pub kind: &'static str,
    pub occurred_at: Timestamp,
    /// The JSON object, as text.
    pub data: String,
}

/// The host event `source` stands for, as its type and `data`, or `None` when the host is
/// not told (queue positions, lease and client-lock status are the consoles' business).
pub(crate) fn host_event(source: HostSource<'_>) -> Option<(&'static str, Value)> {
    let event = match source {
        HostSource::Sent(sent) => {
            return Some((
                "message.sent",
                json!({
                    "message_id": sent.message_id,
                    "client_id": sent.client_id.0,
                    "profile_id": sent.profile_id.0,
                    "moderator_id": sent.moderator_id.0,
                    "body": sent.body,
                    "sent_at": rfc3339(sent.sent_at),
                    "in_reply_to": sent.in_reply_to.as_ref().map_or(Value::Null, message_id_json),
                }),
            ))
        }
        HostSource::Engine(event) => event,
    };
    match event {
        Event::ConversationAssigned { moderator_id, client_id, profile_id, message } => Some((
            "conversation.assigned",
            json!({
                "moderator_id": moderator_id.0,
                "client_id": client_id.0,
                "profile_id": profile_id.0,
                "message": message.as_ref().map_or(Value::Null, message_json),
            }),
        )),
        Event::ConversationReleased { moderator_id, client_id, profile_id, reason } => Some((
            "conversation.released",
            json!({
                "moderator_id": moderator_id.0,
                "client_id": client_id.0,
                "profile_id": profile_id.0,
                "reason": reason.as_str(),
            }),
        )),
        Event::ProfileAssigned { moderator_id, profile_id, reason } => Some((
            "profile.assigned",
            json!({"moderator_id": moderator_id.0, "profile_id": profile_id.0, "reason": reason.as_str()}),
        )),
        Event::ProfileUnassigned { moderator_id, profile_id, reason } => Some((
            "profile.unassigned",
            json!({"moderator_id": moderator_id.0, "profile_id": profile_id.0, "reason": reason.as_str()}),
        )),
        Event::ModeratorStateChanged { moderator_id, state } => {
            Some(("moderator.state_changed", json!({"moderator_id": moderator_id.0, "state": state.as_str()})))
        }
        Event::AlertRaised(alert) => Some(("alert.raised", alert_json(alert))),
        // The engine tells each participant; the host hears of the conflict once, from the
        // copy addressed to the first participant.
        Event::ConflictResolved { recipient_id, conflict_id, participants, strategy, winners, queued } => {
            (participants.first() == Some(recipient_id)).then(|| {
                (
                    "conflict.resolved",
                    json!({
                        "conflict_id": conflict_id.0,
                        "participants": participants.iter().map(|id| id.0).collect::<Vec<_>>(),
                        "strategy": strategy,
                        "winners": winners.iter().map(|id| id.0).collect::<Vec<_>>(),
                        "queued": queued.iter().map(|id| id.0).collect::<Vec<_>>(),
                    }),
                )
            })
        }
        // `ProfileUnassigned` already tells the host; the new holder's `profile.assigned` follows.
        Event::ForcedReassignment { .. }
        | Event::ModeratorQueuePositionChanged { .. }
        | Event::ProfileLockStatusChanged { .. }
        | Event::ClientLockStatusChanged { .. } => None,
    }
}

/// Collects a batch's host events in the order their sources happened, numbering them from
/// the writer's next sequence once the batch is known.
#[derive(Default)]
pub(crate) struct HostEvents {
    pending: Vec<(&'static str, Timestamp, String)>,
}

impl HostEvents {
    pub fn push(&mut self, source: HostSource<'_>, at: Timestamp) {
        if let Some((kind, data)) = host_event(source) {
            self.pending.push((kind, at, data.to_string()));
        }
    }

    pub fn extend<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>, at: Timestamp) {
        for event in events {
            self.push(HostSource::Engine(event), at);
        }
    }

    /// The rows, numbered from `first_sequence` on.
    pub fn into_rows(self, first_sequence: i64) -> Vec<HostEventRow> {
        self.pending
            .into_iter()
            .zip(first_sequence..)
            .map(|((kind, occurred_at, data), sequence)| HostEventRow { sequence, kind, occurred_at, data })
            .collect()
    }
}

/// A stored host event, as the feed and the webhooks send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEvent {
    /// Grows in commit order, without gaps: the feed's cursor.
    pub sequence: i64,
    /// `message.sent`, `conversation.assigned`, ...
    pub kind: String,
    pub occurred_at: Timestamp,
    /// The `data` JSON object, as text.
    pub data: String,
}

impl HostEvent {
    /// The Standard Webhooks `webhook-id`, also the feed's `id`: derived from the sequence
    /// only, so it is the same on every retry and after any restart.
    #[must_use]
    pub fn id(&self) -> String {
        webhook_id(self.sequence)
    }

    /// The webhook body `{"type", "timestamp", "data"}`, the same bytes on every attempt
    /// (the signature covers them).
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{{\"type\":{},\"timestamp\":{},\"data\":{}}}",
            Value::from(self.kind.as_str()),
            Value::from(rfc3339(self.occurred_at)),
            self.data
        )
    }
}

/// `evt_<sequence>`.
#[must_use]
pub fn webhook_id(sequence: i64) -> String {
    format!("evt_{sequence}")
}

/// `evt_12` or `12` back to the sequence.
#[must_use]
pub fn parse_webhook_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix("evt_").unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use switchboard_engine::{ConflictId, ModeratorState, ReleaseReason};

    use super::*;

    #[test]
    fn a_reply_is_message_sent_with_what_it_answers() {
        let sent = SentMessage {
            message_id: 12,
            client_id: ClientId(100),
            profile_id: ProfileId(10),
            moderator_id: ModeratorId(7),
            body: "bonjour".to_owned(),
            sent_at: Timestamp(0),
            in_reply_to: Some(MessageId::Number(41)),
        };
        let (kind, data) = host_event(HostSource::Sent(&sent)).expect("told");
        assert_eq!(kind, "message.sent");
        assert_eq!(
            data,
            json!({"message_id": 12, "client_id": 100, "profile_id": 10, "moderator_id": 7,
                   "body": "bonjour", "sent_at": "1970-01-01T00:00:00.000Z", "in_reply_to": 41})
        );
    }

    #[test]
    fn a_conflict_is_told_once_and_lock_status_never() {
        let copy = |recipient| Event::ConflictResolved {
            recipient_id: ModeratorId(recipient),
            conflict_id: ConflictId(5),
            participants: vec![ModeratorId(7), ModeratorId(8)],
            strategy: "timestamp",
            winners: vec![ModeratorId(7)],
            queued: vec![ModeratorId(8)],
        };
        let (first, second) = (copy(7), copy(8));
        let mut events = HostEvents::default();
        events.extend([&first, &second], Timestamp(0));
        let state = Event::ModeratorStateChanged { moderator_id: ModeratorId(7), state: ModeratorState::Working };
        let forced = Event::ForcedReassignment {
            moderator_id: ModeratorId(7),
            profile_id: ProfileId(1),
            reason: ReleaseReason::Inactivity,
            new_moderator_id: None,
        };
        events.extend([&forced, &state], Timestamp(0));
        let rows = events.into_rows(40);
        let kinds: Vec<(i64, &str)> = rows.iter().map(|row| (row.sequence, row.kind)).collect();
        assert_eq!(kinds, vec![(40, "conflict.resolved"), (41, "moderator.state_changed")]);
    }

    #[test]
    fn ids_and_bodies_are_stable() {
        let event = HostEvent {
            sequence: 3,
            kind: "moderator.state_changed".to_owned(),
            occurred_at: Timestamp(0),
            data: r#"{"moderator_id":7,"state":"working"}"#.to_owned(),
        };
        assert_eq!(event.id(), "evt_3");
        assert_eq!(parse_webhook_id("evt_3"), Some(3));
        assert_eq!(parse_webhook_id("3"), Some(3));
        assert_eq!(parse_webhook_id("evt_"), None);
        assert_eq!(parse_webhook_id("-3"), None);
        let body: Value = serde_json::from_str(&event.body()).expect("JSON");
        assert_eq!(
            body,
            json!({"type": "moderator.state_changed", "timestamp": "1970-01-01T00:00:00.000Z",
                   "data": {"moderator_id": 7, "state": "working"}})
        );
    }
}
