//! Switchboard's durable state and the one writer.
//!
//! This crate owns everything that touches the database: the schema (`migrations/`), the
//! `Store` (SQLite by default, PostgreSQL for scale-out), and the `Writer`, the single task
//! that owns the rules engine, applies commands in order, and commits each batch's changes
//! together with the events describing them (an outbox) before anyone hears about them.
//! It never speaks HTTP and never decides a rule: the engine decides, this crate remembers.
//!
//! The pieces, in the order data flows through them:
//! - `writer`: the bounded job channel, the batch loop, recovery and outage handling;
//! - `records`: the rows that represent the engine's current state of changed entities, and
//!   loading them back;
//! - `outbox`: each engine `Event` as the JSON object API.md describes;
//! - `host`: the host platform's events (`message.sent`, ...), derived from the engine's
//!   events and the stored replies, written by the writer in the batch's transaction;
//! - `host_store`: the feed's reads and the webhook delivery state of those events;
//! - `lease`: the writer lease of a PostgreSQL cluster (which node may commit, under which
//!   epoch), asked by the writer before every commit;
//! - `sql`: the only code that runs the writer's SQL, for both backends;
//! - `store`: connecting, migrating, and the reads the server needs beside the engine.
//!
//! Modules use each other one way only: `writer` → `lease` → `store` → `sql` → `records` → `outbox`
//! → `time`, where a module uses only modules to its right and the leaves `clock`, `error`
//! and `metrics`; `testing` sits above them all.

mod clock;
mod error;
mod host;
mod host_store;
mod lease;
mod metrics;
mod outbox;
mod records;
mod sql;
mod store;
mod time;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use crate::clock::{Clock, SystemClock};
pub use crate::error::{StoreError, WriteError};
pub use crate::host::{parse_webhook_id, webhook_id, HostEvent};
pub use crate::host_store::{AttemptRecord, DeliveryStatus, FeedBounds, RetryOutcome, WebhookDelivery, WebhookHealth};
pub use crate::lease::{
    Acquire, ClusterView, EpochRecord, Lease, LeaseKeeper, LeaseSettings, LeaseSql, NodeSeen, Role, LEASE_CHANNEL,
};
pub use crate::metrics::{Histogram, WriterMetrics};
pub use crate::outbox::{encode_event, message_id_json, OutboxEvent};
pub use crate::records::Direction;
pub use crate::records::MessageRow;
#[cfg(feature = "testing")]
pub use crate::store::Backend;
pub use crate::store::{Store, StoredAlert, StoredMessage};
pub use crate::time::rfc3339;
pub use crate::writer::{EventSink, NewMessage, Writer, WriterConfig, WriterHandle, WriterTask};
