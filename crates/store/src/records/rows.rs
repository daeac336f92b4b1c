//! The write direction: the row each engine entity is stored as, one function per table,
//! listing values in the column order of its descriptor (`tables.rs`). A row is a pure
//! function of the entity, so equal entities give equal rows and equal row hashes
//! (`shadow.rs`). Also the two rows the engine does not hold: a batch's messages, and the
//! ids the writer hands out for them and for the outbox.

use serde_json::{json, Value as Json};
use switchboard_engine::{
    Alert, Client, ClientId, Conflict, Conversation, ConversationKey, EngineMeta, MessageId, Moderator, ModeratorId,
    Profile, ProfileId, Timestamp,
};

use super::columns::{id, message_id_values, opt_id, opt_ts, ts, Direction, Value};
use crate::host::HostEventRow;
use crate::outbox::{alert_data, OutboxEvent};

/// A message to store with its batch.
#[derive(Clone, Debug)]
pub(crate) struct MessageRow {
    pub platform_message_id: Option<MessageId>,
    pub client_id: ClientId,
    pub profile_id: ProfileId,
    pub direction: Direction,
    pub moderator_id: Option<ModeratorId>,
    pub body: String,
    pub sent_at: Timestamp,
}

/// Ids the writer hands out itself (it is the only writer), so that it knows an outbox
/// event's id before COMMIT and ids follow commit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowIds {
    pub next_outbox_id: i64,
    pub next_message_id: i64,
}

fn ids_json(ids: impl IntoIterator<Item = u64>) -> String {
    Json::from(ids.into_iter().collect::<Vec<u64>>()).to_string()
}

pub(super) fn moderator_row(moderator: &Moderator) -> Vec<Value> {
    let given_back: Vec<Json> =
        moderator.given_back.iter().map(|(profile_id, until)| json!([profile_id.0, until.0])).collect();
    let response_times = json!({
        "recent_millis": moderator.response_times.recent_millis,
        "replies": moderator.response_times.replies,
    });
    vec![
        Value::Int(id(moderator.id.0)),
        Value::Text(moderator.name.clone()),
        Value::Text(moderator.state.as_str().to_owned()),
        Value::Int(i64::from(moderator.priority)),
        Value::Int(i64::from(moderator.load)),
        opt_ts(moderator.connected_at),
        opt_ts(moderator.last_activity_at),
        opt_ts(moderator.loaded_since),
        Value::Int(ts(moderator.last_seen_at)),
        Value::Bool(moderator.realtime_connected),
        opt_ts(moderator.last_assigned_at),
        Value::Text(Json::from(given_back).to_string()),
        Value::Text(response_times.to_string()),
    ]
}

pub(super) fn assignment_rows(moderator: &Moderator) -> impl Iterator<Item = (ProfileId, Vec<Value>)> + '_ {
    moderator.assignments.iter().map(move |(&profile_id, assignment)| {
        let row = vec![
            Value::Int(id(profile_id.0)),
            Value::Int(id(moderator.id.0)),
            // The seed's column; the engine keeps no queue position for a held profile.
            Value::OptInt(None),
            Value::Int(ts(assignment.assigned_at)),
            opt_ts(assignment.last_activity_check),
        ];
        (profile_id, row)
    })
}

pub(super) fn queue_row(moderator: &Moderator) -> Option<Vec<Value>> {
    let entry = moderator.queue.as_ref()?;
    Some(vec![
        Value::Int(id(moderator.id.0)),
        Value::Int(ts(entry.queued_at)),
        Value::Int(i64::from(moderator.priority)),
        Value::Int(i64::from(entry.position)),
        Value::Int(id(entry.estimated_wait_seconds)),
        Value::OptInt(entry.announced.map(|(position, _)| i64::from(position))),
        Value::OptInt(entry.announced.map(|(_, wait)| id(wait))),
    ])
}

pub(super) fn profile_row(profile: &Profile) -> Vec<Value> {
    vec![
        Value::Int(id(profile.id.0)),
        Value::Text(profile.name.clone()),
        Value::Bool(profile.active),
        opt_ts(profile.last_balanced_at),
        opt_ts(profile.last_typing_at),
        opt_ts(profile.orphan_since),
        Value::Bool(profile.orphan_alerted),
    ]
}

pub(super) fn profile_lock_row(profile: &Profile) -> Option<Vec<Value>> {
    let lease = profile.lease.as_ref()?;
    Some(vec![
        Value::Int(id(profile.id.0)),
        Value::Int(id(lease.moderator_id.0)),
        Value::Int(ts(lease.locked_at)),
        opt_ts(lease.expires_at),
        Value::Text(lease.lock_type.as_str().to_owned()),
        Value::Int(id(lease.token.0)),
    ])
}

pub(super) fn client_row(client: &Client) -> Vec<Value> {
    vec![Value::Int(id(client.id.0)), Value::Text(client.name.clone())]
}

/// The one moderator holding a locked client (none: the client is not locked).
pub(super) fn client_lock_holder_row(client: &Client) -> Option<Vec<Value>> {
    let set = client.lock.as_ref()?;
    Some(vec![Value::Int(id(client.id.0)), Value::Int(id(set.moderator_id.0))])
}

pub(super) fn client_lock_rows(client: &Client) -> impl Iterator<Item = (ProfileId, Vec<Value>)> + '_ {
    client.lock.iter().flat_map(move |set| {
        set.locks.iter().map(move |(&profile_id, lock)| {
            let row = vec![
                Value::Int(id(client.id.0)),
                Value::Int(id(profile_id.0)),
                Value::Int(id(set.moderator_id.0)),
                Value::Int(ts(lock.locked_at)),
                Value::Int(ts(lock.expires_at)),
                Value::Text(lock.reason.as_str().to_owned()),
                Value::Int(id(lock.token.0)),
            ];
            (profile_id, row)
        })
    })
}

pub(super) fn conversation_row(key: ConversationKey, conversation: &Conversation) -> Vec<Value> {
    let inbound = conversation.last_inbound.as_ref();
    let [message_id, message_key] = message_id_values(inbound.map(|m| &m.message_id));
    vec![
        Value::Int(id(key.client_id.0)),
        Value::Int(id(key.profile_id.0)),
        opt_ts(conversation.waiting_since),
        message_id,
        message_key,
        Value::OptText(inbound.map(|m| m.body.to_string())),
        opt_ts(inbound.map(|m| m.sent_at)),
        opt_ts(inbound.map(|m| m.received_at)),
        opt_id(conversation.assigned_to.map(|m| m.0)),
        Value::Int(i64::from(conversation.inbound_messages)),
        opt_ts(conversation.last_reply_at),
        Value::Bool(conversation.wait_alerted),
    ]
}

pub(super) fn conflict_row(conflict: &Conflict) -> Vec<Value> {
    vec![
        Value::Int(id(conflict.conflict_id.0)),
        Value::Text(ids_json(conflict.participants.iter().map(|m| m.0))),
        Value::Text(conflict.strategy.as_str().to_owned()),
        Value::Text(ids_json(conflict.winners.iter().map(|m| m.0))),
        Value::Text(ids_json(conflict.queued.iter().map(|m| m.0))),
        Value::Int(ts(conflict.created_at)),
        opt_ts(conflict.resolved_at),
        opt_id(conflict.resolved_by.map(|m| m.0)),
    ]
}

pub(super) fn message_row(message: &MessageRow, row_id: i64, now: Timestamp) -> Vec<Value> {
    let [message_id, message_key] = message_id_values(message.platform_message_id.as_ref());
    vec![
        Value::Int(row_id),
        message_id,
        message_key,
        Value::Int(id(message.client_id.0)),
        Value::Int(id(message.profile_id.0)),
        Value::Text(message.direction.as_str().to_owned()),
        opt_id(message.moderator_id.map(|m| m.0)),
        Value::Text(message.body.clone()),
        Value::Int(ts(message.sent_at)),
        Value::Int(ts(now)),
    ]
}

pub(super) fn alert_row(alert: &Alert) -> Vec<Value> {
    vec![
        Value::Int(id(alert.alert_id.0)),
        Value::Text(alert.kind.as_str().to_owned()),
        Value::Text(alert.severity.as_str().to_owned()),
        Value::Text(alert_data(&alert.subject).to_string()),
        Value::Int(ts(alert.raised_at)),
    ]
}

pub(super) fn outbox_row(event: &OutboxEvent, now: Timestamp) -> Vec<Value> {
    vec![
        Value::Int(event.id),
        Value::Text(event.channel.clone()),
        Value::Text(event.name.clone()),
        Value::Text(event.data.clone()),
        Value::Int(ts(now)),
    ]
}

/// A host event as committed: its webhook delivery due at once when webhooks are on, or
/// never scheduled (`none`) when they are off; the feed serves it either way.
pub(super) fn host_event_row(event: &HostEventRow, webhooks: bool) -> Vec<Value> {
    vec![
        Value::Int(event.sequence),
        Value::Text(event.kind.to_owned()),
        Value::Int(ts(event.occurred_at)),
        Value::Text(event.data.clone()),
        Value::Text(if webhooks { "pending" } else { "none" }.to_owned()),
        Value::Int(0),
        Value::OptInt(webhooks.then(|| ts(event.occurred_at))),
        Value::OptInt(None),
        Value::OptText(None),
        Value::OptInt(None),
    ]
}

pub(super) fn meta_row(meta: &EngineMeta) -> Vec<Value> {
    vec![
        Value::Int(1),
        Value::Int(id(meta.next_token)),
        Value::Int(id(meta.next_conflict_id)),
        Value::Int(id(meta.next_alert_id)),
        Value::Text(ids_json(meta.releases.iter().map(|at| at.0))),
    ]
}
