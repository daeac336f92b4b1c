//! The `host_events` table beside the writer: the feed's reads, the webhook delivery state
//! (what is due, each attempt's outcome, supervisors' list and retry, health) and retention.
//!
//! The writer only inserts host events (in its batch's transaction); everything after that
//! is here, on the pool's other connections, so a slow receiver or a big backlog never
//! holds the writer. Updates touch only delivery columns, never what the writer wrote.

use sqlx::QueryBuilder;
use switchboard_engine::Timestamp;

use crate::error::StoreError;
use crate::host::HostEvent;
use crate::records::{timestamp, ts, RowExt};
use crate::store::{Pool, Store};

/// A webhook delivery's state (`host_events.webhook_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Committed while `webhook_url` was empty: in the feed only.
    NotScheduled,
    Pending,
    Delivered,
    /// Every attempt of the schedule failed; a supervisor may retry it.
    Failed,
}

impl DeliveryStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::NotScheduled => "none",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "none" => DeliveryStatus::NotScheduled,
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => return Err(StoreError::corrupt("host_events", "webhook_status", other)),
        })
    }
}

/// A host event with its webhook delivery state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub event: HostEvent,
    pub status: DeliveryStatus,
    /// Attempts made so far (reset by a supervisor's retry).
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    /// The receiver's HTTP status at the last attempt, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// One attempt's outcome, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub sequence: i64,
    /// When the attempt ended (the service's clock).
    pub at: Timestamp,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// `None`: delivered (a 2xx). Otherwise why not.
    pub error: Option<String>,
    /// After a failure: when to try again, or `None` when the schedule is spent (failed).
    pub retry_at: Option<Timestamp>,
}

/// What a supervisor's retry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Due now, with the whole retry schedule again.
    Scheduled,
    NotFound,
    AlreadyDelivered,
}

/// Webhook health for `/metrics` and the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookHealth {
    pub pending: u64,
    pub failed: u64,
    /// The oldest pending event's commit time.
    pub oldest_pending_at: Option<Timestamp>,
}

/// The oldest and newest stored sequence (`None` when no host event is stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedBounds {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

const EVENT_COLUMNS: &str = "sequence, type, occurred_at, data";
const DELIVERY_COLUMNS: &str =
    "sequence, type, occurred_at, data, webhook_status, attempts, next_attempt_at, last_status, last_error, delivered_at";

fn host_event(row: &impl RowExt) -> Result<HostEvent, StoreError> {
    Ok(HostEvent {
        sequence: row.int("sequence")?,
        kind: row.text("type")?,
        occurred_at: timestamp(row.int("occurred_at")?),
        data: row.text("data")?,
    })
}

fn delivery(row: &impl RowExt) -> Result<WebhookDelivery, StoreError> {
    Ok(WebhookDelivery {
        event: host_event(row)?,
        status: DeliveryStatus::parse(&row.text("webhook_status")?)?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: row.opt_int("next_attempt_at")?.map(timestamp),
        last_status: row.opt_int("last_status")?.and_then(|status| u16::try_from(status).ok()),
        last_error: row.opt_text("last_error")?,
        delivered_at: row.opt_int("delivered_at")?.map(timestamp),
    })
}

/// Runs `$body` with `$pool` and the backend's database type `$db`, on either backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $db:ident| $body:expr) => {
        match &*$store.pool {
            Pool::Sqlite($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            Pool::Postgres($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

impl Store {
    /// Up to `limit` host events with a sequence above `after`, in commit order.
    pub async fn host_events_after(&self, after: i64, limit: u32) -> Result<Vec<HostEvent>, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query =
                QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM host_events WHERE sequence > "));
            query.push_bind(after).push(" ORDER BY sequence LIMIT ").push_bind(i64::from(limit));
            let rows = query.build().fetch_all(pool).await?;
            rows.iter().map(host_event).collect()
        })
    }

    /// The stored window of the feed.
    pub async fn host_event_bounds(&self) -> Result<FeedBounds, StoreError> {
        on_pool!(self, |pool, Db| {
            let row = QueryBuilder::<Db>::new(
                "SELECT (SELECT min(sequence) FROM host_events) AS oldest, (SELECT max(sequence) FROM host_events) AS newest",
            )
            .build()
            .fetch_one(pool)
            .await?;
            Ok(FeedBounds { oldest: row.opt_int("oldest")?, newest: row.opt_int("newest")? })
        })
    }

    /// Pending deliveries due at `now`, oldest due first, at most `limit`.
    pub async fn due_webhook_deliveries(&self, now: Timestamp, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query = QueryBuilder::<Db>::new(format!(
                "SELECT {DELIVERY_COLUMNS} FROM host_events WHERE webhook_status = 'pending' AND next_attempt_at <= "
            ));
            query.push_bind(ts(now)).push(" ORDER BY next_attempt_at, sequence LIMIT ").push_bind(i64::from(limit));
            let rows = query.build().fetch_all(pool).await?;
            rows.iter().map(delivery).collect()
        })
    }

    /// When the first pending delivery due after `now` is due, if any.
    pub async fn next_webhook_due_after(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT min(next_attempt_at) AS due FROM host_events WHERE webhook_status = 'pending' AND next_attempt_at > ",
            );
            query.push_bind(ts(now));
            let row = query.build().fetch_one(pool).await?;
            Ok(row.opt_int("due")?.map(timestamp))
        })
    }

    /// Records attempts' outcomes in one transaction (one commit for many deliveries).
    pub async fn record_webhook_attempts(&self, attempts: &[AttemptRecord]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool, Db| {
            let mut transaction = pool.begin().await?;
            for attempt in attempts {
                let status = match (&attempt.error, attempt.retry_at) {
                    (None, _) => "delivered",
                    (Some(_), Some(_)) => "pending",
                    (Some(_), None) => "failed",
                };
                let mut query =
                    QueryBuilder::<Db>::new("UPDATE host_events SET attempts = attempts + 1, webhook_status = ");
                query
                    .push_bind(status)
                    .push(", next_attempt_at = ")
                    .push_bind(attempt.retry_at.map(ts))
                    .push(", last_status = ")
                    .push_bind(attempt.status.map(i64::from))
                    .push(", last_error = ")
                    .push_bind(attempt.error.as_deref())
                    .push(", delivered_at = ")
                    .push_bind(attempt.error.is_none().then(|| ts(attempt.at)))
                    .push(" WHERE sequence = ")
                    .push_bind(attempt.sequence)
                    .push(" AND webhook_status = 'pending'");
                query.build().execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
            Ok(())
        })
    }

    /// Deletes host events that occurred before `before`, except pending deliveries and the
    /// newest event (whose sequence the writer continues from after a restart). Returns how
    /// many were deleted.
    pub async fn prune_host_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query = QueryBuilder::<Db>::new("DELETE FROM host_events WHERE occurred_at < ");
            query
                .push_bind(ts(before))
                .push(" AND webhook_status <> 'pending' AND sequence < (SELECT max(sequence) FROM host_events)");
            Ok(query.build().execute(pool).await?.rows_affected())
        })
    }

    /// Deliveries in `status`, oldest first, at most `limit`.
    pub async fn webhook_deliveries(
        &self,
        status: DeliveryStatus,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query =
                QueryBuilder::<Db>::new(format!("SELECT {DELIVERY_COLUMNS} FROM host_events WHERE webhook_status = "));
            query.push_bind(status.as_str()).push(" ORDER BY sequence LIMIT ").push_bind(i64::from(limit));
            let rows = query.build().fetch_all(pool).await?;
            rows.iter().map(delivery).collect()
        })
    }

    /// A supervisor's retry: the delivery is due at `now` with the whole schedule again.
    pub async fn retry_webhook_delivery(&self, sequence: i64, now: Timestamp) -> Result<RetryOutcome, StoreError> {
        on_pool!(self, |pool, Db| {
            let mut query = QueryBuilder::<Db>::new(
                "UPDATE host_events SET webhook_status = 'pending', attempts = 0, next_attempt_at = ",
            );
            query.push_bind(ts(now)).push(" WHERE webhook_status <> 'delivered' AND sequence = ").push_bind(sequence);
            if query.build().execute(pool).await?.rows_affected() > 0 {
                return Ok(RetryOutcome::Scheduled);
            }
            let mut exists = QueryBuilder::<Db>::new("SELECT count(*) AS n FROM host_events WHERE sequence = ");
            exists.push_bind(sequence);
            let found = exists.build().fetch_one(pool).await?.int("n")? > 0;
            Ok(if found { RetryOutcome::AlreadyDelivered } else { RetryOutcome::NotFound })
        })
    }

    /// Pending and failed counts and the oldest pending event (partial indexes, no scan).
    pub async fn webhook_health(&self) -> Result<WebhookHealth, StoreError> {
        on_pool!(self, |pool, Db| {
            let row = QueryBuilder::<Db>::new(
                "SELECT (SELECT count(*) FROM host_events WHERE webhook_status = 'pending') AS pending, \
                        (SELECT count(*) FROM host_events WHERE webhook_status = 'failed') AS failed, \
                        (SELECT min(sequence) FROM host_events WHERE webhook_status = 'pending') AS oldest",
            )
            .build()
            .fetch_one(pool)
            .await?;
            let oldest_pending_at = match row.opt_int("oldest")? {
                Some(sequence) => {
                    let mut query = QueryBuilder::<Db>::new("SELECT occurred_at FROM host_events WHERE sequence = ");
                    query.push_bind(sequence);
                    query
                        .build()
                        .fetch_optional(pool)
                        .await?
                        .map(|row| row.int("occurred_at"))
                        .transpose()?
                        .map(timestamp)
                }
                None => None,
            };
            Ok(WebhookHealth {
                pending: u64::try_from(row.int("pending")?).unwrap_or(0),
                failed: u64::try_from(row.int("failed")?).unwrap_or(0),
                oldest_pending_at,
            })
        })
    }
}
