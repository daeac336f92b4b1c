//! The writer lease of a cluster on PostgreSQL: which node may commit, for how long, under
//! which epoch. One row (`writer_lease`, migration 8) names the holder, its `advertise_url`,
//! the epoch (one more at every grant) and the expiry, all timed on the database's clock
//! (`clock_timestamp()`), never on a node's.
//!
//! A [`LeaseKeeper`] task runs on every node: as a standby it asks for the lease every
//! `poll_every` (and at once when the holder releases it: `NOTIFY` on [`LEASE_CHANNEL`]);
//! as the writer it renews the lease every third of its length. It never trusts the lease
//! longer than the database could: the local deadline is the instant the renewal was *sent*
//! plus the lease minus a safety margin, on the monotonic clock, so a pause anywhere between
//! sending and hearing back only shortens it. The writer asks [`Lease::fence`] before every
//! commit and the commit itself proves the epoch under a row lock (`sql.rs`), so a writer
//! paused past its lease and resumed can never commit: either its deadline has passed, or
//! the row names a newer epoch.
//!
//! Never here: the batch SQL (`sql.rs`), HTTP (the server reads [`Lease::role`] and
//! [`Lease::cluster`]), forwarding to the writer (the server relays requests to the
//! writer's `advertise_url`; a standby's writer task refuses with [`WriteError::Standby`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgListener, PgPool};
use sqlx::Row;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::{StoreError, WriteError};
use crate::sql::Fence;
use crate::store::Store;

/// The PostgreSQL notification channel on which a released lease is announced.
pub const LEASE_CHANNEL: &str = "switchboard_writer_lease";
/// Shortest and longest pause between two requests of a standby.
const POLL_MIN: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);
/// Epochs listed by [`Lease::cluster`].
const RECENT_EPOCHS: i64 = 10;

/// Who this node is and how long a grant lasts.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// This node's name in the lease row (unique in the cluster; default host:port).
    pub node_name: String,
    /// How other nodes (and the standby's refusals) reach this node.
    pub advertise_url: String,
    /// How long a grant or renewal lasts on the database's clock.
    pub lease: Duration,
}

impl LeaseSettings {
    /// Renewal period: three renewals fit in one lease, so two can fail without loss.
    #[must_use]
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// What the local deadline keeps in hand against the database's expiry: drift between
    /// the two clocks over one lease, and the time a commit's fence check takes to run.
    #[must_use]
    pub fn safety_margin(&self) -> Duration {
        self.lease / 5
    }

    /// How often a standby asks for the lease (a released lease is taken at once on NOTIFY).
    #[must_use]
    pub fn poll_every(&self) -> Duration {
        (self.lease / 10).clamp(POLL_MIN, POLL_MAX)
    }

    /// The local deadline of a grant or renewal whose request left at `sent`.
    fn deadline(&self, sent: Instant) -> Instant {
        sent + self.lease.saturating_sub(self.safety_margin())
    }
}

/// This node's part in the cluster, as the keeper last established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not the writer. `writer`: the live holder's `advertise_url` last read, if any.
    Standby { writer: Option<String> },
    /// This node holds the lease of `epoch` and trusts it until `deadline`. `serving`: the
    /// writer has loaded the state under this epoch and takes commands.
    Writer { epoch: i64, deadline: Instant, serving: bool },
}

/// The lease row, a node's last request, a past grant: for `GET /api/supervisor/cluster`.
/// Times are milliseconds since the Unix epoch on the database's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    /// The database's present, to compare the other times with.
    pub now_ms: i64,
    pub epoch: i64,
    /// The last holder (the writer while `live`).
    pub holder: Option<String>,
    pub advertise_url: Option<String>,
    pub live: bool,
    pub acquired_at_ms: Option<i64>,
    pub renewed_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    /// Every node that asked for or renewed the lease, most recently seen first.
    pub nodes: Vec<NodeSeen>,
    /// The latest grants, newest first.
    pub epochs: Vec<EpochRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSeen {
    pub node_name: String,
    pub advertise_url: String,
    pub seen_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochRecord {
    pub epoch: i64,
    pub holder: String,
    pub acquired_at_ms: i64,
    pub released_at_ms: Option<i64>,
    /// Batches committed under this epoch (each fenced commit counts itself).
    pub commits: i64,
    pub last_commit_at_ms: Option<i64>,
}

/// What one request for the lease found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// Granted: this node now holds `epoch`.
    Granted { epoch: i64 },
    /// Someone else holds a live lease (`None`: nobody, but the request lost a race).
    Held { advertise_url: Option<String> },
}

/// The lease's SQL, one statement per operation, each in its own implicit transaction.
/// Public for the lease tests; the product goes through the keeper.
#[derive(Clone, Debug)]
pub struct LeaseSql {
    pool: PgPool,
    settings: Arc<LeaseSettings>,
}

fn lease_seconds(settings: &LeaseSettings) -> f64 {
    settings.lease.as_secs_f64()
}

const MILLIS: &str = "(extract(epoch FROM {}) * 1000)::BIGINT";

fn millis(column: &str) -> String {
    MILLIS.replace("{}", column)
}

impl LeaseSql {
    /// # Errors
    /// The store is not on PostgreSQL (SQLite is one node and has no lease).
    pub fn new(store: &Store, settings: LeaseSettings) -> Result<LeaseSql, StoreError> {
        let pool = store.postgres_pool().ok_or(StoreError::LeaseNeedsPostgres)?.clone();
        Ok(LeaseSql { pool, settings: Arc::new(settings) })
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Takes the lease if it is free or expired on the database's clock, or held under this
    /// node's own name (a restart of this node after a crash: the dead incarnation's epoch is
    /// fenced by the new one, so it need not expire first): epoch + 1, the grant logged in
    /// `writer_epochs`, this node's visit in `cluster_nodes`, one statement. The keeper asks
    /// only while a standby, so a writer never takes over from itself while serving.
    ///
    /// A row locked by a batch in flight (`FOR SHARE`, `sql.rs`) is skipped, not waited
    /// for: a grant that waited would start its local deadline at the request, seconds
    /// before the grant (a writer paused inside a transaction holds the lock until the
    /// server ends its session after `idle_in_transaction_session_timeout`), and be
    /// useless on arrival. The next poll asks again.
    ///
    /// # Errors
    /// The database failed.
    pub async fn try_acquire(&self) -> Result<Acquire, StoreError> {
        let row = sqlx::query(
            "WITH free AS ( \
               SELECT id FROM writer_lease WHERE id = 1 AND (expires_at <= clock_timestamp() OR holder = $1) \
               FOR UPDATE SKIP LOCKED), \
             taken AS ( \
               UPDATE writer_lease SET holder = $1, advertise_url = $2, epoch = epoch + 1, \
                 acquired_at = clock_timestamp(), renewed_at = clock_timestamp(), \
                 expires_at = clock_timestamp() + make_interval(secs => $3) \
               FROM free WHERE writer_lease.id = free.id \
               RETURNING epoch, holder, advertise_url, acquired_at), \
             logged AS ( \
               INSERT INTO writer_epochs (epoch, holder, advertise_url, acquired_at) \
               SELECT epoch, holder, advertise_url, acquired_at FROM taken), \
             seen AS ( \
               INSERT INTO cluster_nodes (node_name, advertise_url, seen_at) \
               VALUES ($1, $2, clock_timestamp()) \
               ON CONFLICT (node_name) DO UPDATE SET advertise_url = excluded.advertise_url, seen_at = excluded.seen_at) \
             SELECT (SELECT epoch FROM taken) AS taken, lease.advertise_url, \
               lease.expires_at > clock_timestamp() AS live \
             FROM writer_lease AS lease WHERE lease.id = 1",
        )
        .bind(&self.settings.node_name)
        .bind(&self.settings.advertise_url)
        .bind(lease_seconds(&self.settings))
        .fetch_one(&self.pool)
        .await?;
        if let Some(epoch) = row.try_get::<Option<i64>, _>("taken")? {
            return Ok(Acquire::Granted { epoch });
        }
        // The row as it was before this statement: the holder that beat us.
        let live: bool = row.try_get("live")?;
        let advertise_url = if live { row.try_get("advertise_url")? } else { None };
        Ok(Acquire::Held { advertise_url })
    }

    /// Extends the lease of `epoch` by one lease from now, if this node still holds it and it
    /// has not expired. False: it is lost (expired or taken); the caller must stop writing.
    ///
    /// # Errors
    /// The database failed (the lease may still be held: retry until the local deadline).
    pub async fn renew(&self, epoch: i64) -> Result<bool, StoreError> {
        let renewed: i64 = sqlx::query_scalar(
            "WITH renewed AS ( \
               UPDATE writer_lease SET renewed_at = clock_timestamp(), \
                 expires_at = clock_timestamp() + make_interval(secs => $3) \
               WHERE id = 1 AND epoch = $1 AND holder = $2 AND expires_at > clock_timestamp() \
               RETURNING epoch), \
             seen AS ( \
               INSERT INTO cluster_nodes (node_name, advertise_url, seen_at) \
               VALUES ($2, $4, clock_timestamp()) \
               ON CONFLICT (node_name) DO UPDATE SET advertise_url = excluded.advertise_url, seen_at = excluded.seen_at) \
             SELECT count(*) FROM renewed",
        )
        .bind(epoch)
        .bind(&self.settings.node_name)
        .bind(lease_seconds(&self.settings))
        .bind(&self.settings.advertise_url)
        .fetch_one(&self.pool)
        .await?;
        Ok(renewed == 1)
    }

    /// Gives the lease of `epoch` up now (it expires at once) and notifies the standbys
    /// listening on [`LEASE_CHANNEL`]. False: it was not held any more.
    ///
    /// # Errors
    /// The database failed (the lease then expires by itself).
    pub async fn release(&self, epoch: i64) -> Result<bool, StoreError> {
        let released: i64 = sqlx::query_scalar(
            "WITH released AS ( \
               UPDATE writer_lease SET expires_at = clock_timestamp() \
               WHERE id = 1 AND epoch = $1 AND holder = $2 AND expires_at > clock_timestamp() \
               RETURNING epoch), \
             ended AS ( \
               UPDATE writer_epochs SET released_at = clock_timestamp() \
               WHERE epoch IN (SELECT epoch FROM released)) \
             SELECT count(pg_notify($3, epoch::TEXT)) FROM released",
        )
        .bind(epoch)
        .bind(&self.settings.node_name)
        .bind(LEASE_CHANNEL)
        .fetch_one(&self.pool)
        .await?;
        Ok(released == 1)
    }

    /// The lease row, the nodes seen and the latest grants.
    ///
    /// # Errors
    /// The database failed.
    pub async fn cluster(&self) -> Result<ClusterView, StoreError> {
        let sql = format!(
            "SELECT {now} AS now_ms, epoch, holder, advertise_url, expires_at > clock_timestamp() AS live, \
               {acquired} AS acquired_ms, {renewed} AS renewed_ms, \
               CASE WHEN expires_at = '-infinity' THEN NULL ELSE {expires} END AS expires_ms \
             FROM writer_lease WHERE id = 1",
            now = millis("clock_timestamp()"),
            acquired = millis("acquired_at"),
            renewed = millis("renewed_at"),
            expires = millis("expires_at"),
        );
        let row = sqlx::query(&sql).fetch_one(&self.pool).await?;
        let nodes_sql = format!(
            "SELECT node_name, advertise_url, {seen} AS seen_ms FROM cluster_nodes ORDER BY seen_at DESC, node_name",
            seen = millis("seen_at")
        );
        let nodes = sqlx::query(&nodes_sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|node| {
                Ok(NodeSeen {
                    node_name: node.try_get("node_name")?,
                    advertise_url: node.try_get("advertise_url")?,
                    seen_at_ms: node.try_get("seen_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(ClusterView {
            now_ms: row.try_get("now_ms")?,
            epoch: row.try_get("epoch")?,
            holder: row.try_get("holder")?,
            advertise_url: row.try_get("advertise_url")?,
            live: row.try_get("live")?,
            acquired_at_ms: row.try_get("acquired_ms")?,
            renewed_at_ms: row.try_get("renewed_ms")?,
            expires_at_ms: row.try_get("expires_ms")?,
            nodes,
            epochs: self.epochs(RECENT_EPOCHS).await?,
        })
    }

    /// The latest `limit` grants, newest first (the batch log of the tests).
    ///
    /// # Errors
    /// The database failed.
    pub async fn epochs(&self, limit: i64) -> Result<Vec<EpochRecord>, StoreError> {
        let sql = format!(
            "SELECT epoch, holder, {acquired} AS acquired_ms, {released} AS released_ms, commits, \
               {last} AS last_commit_ms FROM writer_epochs ORDER BY epoch DESC LIMIT $1",
            acquired = millis("acquired_at"),
            released = millis("released_at"),
            last = millis("last_commit_at"),
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        let epochs = rows
            .iter()
            .map(|row| {
                Ok(EpochRecord {
                    epoch: row.try_get("epoch")?,
                    holder: row.try_get("holder")?,
                    acquired_at_ms: row.try_get("acquired_ms")?,
                    released_at_ms: row.try_get("released_ms")?,
                    commits: row.try_get("commits")?,
                    last_commit_at_ms: row.try_get("last_commit_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(epochs)
    }

    /// The fence a commit under `epoch` proves (`sql.rs`).
    pub(crate) fn fence(&self, epoch: i64) -> Fence {
        Fence { epoch, holder: self.settings.node_name.clone() }
    }
}

/// This node's view of the lease, shared by the keeper (which changes it), the writer
/// (which asks it before every commit) and the server (`/ready`, refusals). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lease {
    sql: LeaseSql,
    role: Arc<watch::Sender<Role>>,
}

impl Lease {
    /// Starts the keeper on `store` (PostgreSQL only). The node begins as a standby; the
    /// keeper asks for the lease at once.
    ///
    /// # Errors
    /// The store is not on PostgreSQL.
    pub fn start(store: &Store, settings: LeaseSettings) -> Result<(Lease, LeaseKeeper), StoreError> {
        let sql = LeaseSql::new(store, settings)?;
        let (role, _) = watch::channel(Role::Standby { writer: None });
        let lease = Lease { sql, role: Arc::new(role) };
        let (stop, stop_receiver) = watch::channel(false);
        let join = tokio::spawn(keep(lease.clone(), stop_receiver));
        Ok((lease.clone(), LeaseKeeper { lease, stop, join }))
    }

    pub fn settings(&self) -> &LeaseSettings {
        self.sql.settings()
    }

    /// The role as last established (a `Writer` whose deadline has passed is no writer:
    /// see [`Lease::is_writer`]).
    #[must_use]
    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Changes of [`Lease::role`].
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// This node holds a lease it may still trust and its writer serves under it.
    #[must_use]
    pub fn is_serving_writer(&self) -> bool {
        matches!(*self.role.borrow(), Role::Writer { deadline, serving: true, .. } if Instant::now() < deadline)
    }

    /// The lease row, the nodes seen and the latest grants.
    ///
    /// # Errors
    /// The database failed.
    pub async fn cluster(&self) -> Result<ClusterView, StoreError> {
        self.sql.cluster().await
    }

    /// The epoch this node holds and may still trust, if any.
    pub(crate) fn held_epoch(&self) -> Option<i64> {
        match *self.role.borrow() {
            Role::Writer { epoch, deadline, .. } if Instant::now() < deadline => Some(epoch),
            _ => None,
        }
    }

    /// What a commit under `epoch` must prove, or `Fenced` if this node may not commit under
    /// it: the lease is gone, of another epoch, or past its local deadline.
    pub(crate) fn fence(&self, epoch: i64) -> Result<Fence, StoreError> {
        match self.held_epoch() {
            Some(held) if held == epoch => Ok(self.sql.fence(epoch)),
            _ => Err(StoreError::Fenced { epoch }),
        }
    }

    /// The writer serves under `epoch` (`true`, after loading the state) or stopped (`false`).
    pub(crate) fn set_serving(&self, epoch: i64, now_serving: bool) {
        self.role.send_if_modified(|role| match role {
            Role::Writer { epoch: held, serving, .. } if *held == epoch && *serving != now_serving => {
                *serving = now_serving;
                true
            }
            _ => false,
        });
    }

    /// The database refused a commit under `epoch`: the lease is lost whatever the keeper
    /// believed; become a standby.
    pub(crate) fn lost(&self, epoch: i64) {
        self.role.send_if_modified(|role| match role {
            Role::Writer { epoch: held, .. } if *held == epoch => {
                *role = Role::Standby { writer: None };
                true
            }
            _ => false,
        });
    }

    /// What a standby answers a command with.
    pub(crate) fn standby_refusal(&self) -> WriteError {
        let writer = match &*self.role.borrow() {
            Role::Standby { writer } => writer.clone(),
            Role::Writer { .. } => None,
        };
        WriteError::Standby { writer }
    }
}

/// The running keeper. [`LeaseKeeper::release`] on graceful shutdown, after the writer has
/// stopped: the lease is handed over at once instead of expiring.
pub struct LeaseKeeper {
    lease: Lease,
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Stops asking for or renewing the lease, and releases it if this node holds it.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.join.await {
            warn!(%error, "the lease keeper ended abnormally");
        }
        let epoch = match self.lease.role() {
            Role::Writer { epoch, .. } => epoch,
            Role::Standby { .. } => return,
        };
        self.lease.role.send_replace(Role::Standby { writer: None });
        match self.lease.sql.release(epoch).await {
            Ok(true) => info!(epoch, "released the writer lease"),
            Ok(false) => warn!(epoch, "the writer lease was no longer held at release"),
            Err(error) => warn!(%error, epoch, "could not release the writer lease; it expires by itself"),
        }
    }
}

/// The keeper's loop: ask for the lease while a standby, renew it while the writer.
async fn keep(lease: Lease, mut stop: watch::Receiver<bool>) {
    let settings = lease.settings().clone();
    let mut listener: Option<PgListener> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        match lease.role() {
            Role::Standby { .. } => {
                if listener.is_none() {
                    listener = listen(&lease.sql.pool).await;
                }
                let sent = Instant::now();
                match lease.sql.try_acquire().await {
                    Ok(Acquire::Granted { epoch }) => {
                        info!(epoch, node = %settings.node_name, "acquired the writer lease");
                        let deadline = settings.deadline(sent);
                        lease.role.send_replace(Role::Writer { epoch, deadline, serving: false });
                        continue;
                    }
                    Ok(Acquire::Held { advertise_url }) => {
                        lease.role.send_if_modified(|role| {
                            let next = Role::Standby { writer: advertise_url };
                            let changed = *role != next;
                            *role = next;
                            changed
                        });
                    }
                    Err(error) => warn!(%error, "could not ask for the writer lease"),
                }
                let poll = tokio::time::sleep(settings.poll_every());
                tokio::select! {
                    changed = stop.changed() => if changed.is_err() { return },
                    () = poll => {}
                    notified = next_notification(&mut listener) => if !notified { listener = None },
                }
            }
            Role::Writer { epoch, deadline, .. } => {
                let renew_at = Instant::now() + settings.renew_every();
                let wake = tokio::time::sleep_until(renew_at.min(deadline).into());
                tokio::select! {
                    changed = stop.changed() => if changed.is_err() { return } else { continue },
                    () = wake => {}
                }
                renew(&lease, &settings, epoch).await;
            }
        }
    }
}

/// One renewal of `epoch`, demoting this node when the lease is lost or its deadline passed.
async fn renew(lease: &Lease, settings: &LeaseSettings, epoch: i64) {
    let Role::Writer { deadline, .. } = lease.role() else { return };
    let sent = Instant::now();
    if sent >= deadline {
        warn!(epoch, "the writer lease could not be renewed in time: this node stops writing");
        lease.lost(epoch);
        return;
    }
    // Never wait for an answer beyond the deadline: past it, the lease is not ours to trust.
    match tokio::time::timeout_at(deadline.into(), lease.sql.renew(epoch)).await {
        Ok(Ok(true)) => {
            let deadline = settings.deadline(sent);
            lease.role.send_if_modified(|role| match role {
                Role::Writer { epoch: held, deadline: current, .. } if *held == epoch => {
                    *current = deadline;
                    false
                }
                _ => false,
            });
        }
        Ok(Ok(false)) => {
            warn!(epoch, "the writer lease was lost (expired or taken): this node stops writing");
            lease.lost(epoch);
        }
        Ok(Err(error)) => {
            warn!(%error, epoch, "could not renew the writer lease; retrying until its deadline");
            tokio::time::sleep(settings.poll_every().min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        Err(_) => {
            warn!(epoch, "renewing the writer lease took past its deadline: this node stops writing");
            lease.lost(epoch);
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => {
            warn!(%error, "cannot listen for lease releases; polling only");
            return None;
        }
    };
    match listener.listen(LEASE_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            warn!(%error, "cannot listen for lease releases; polling only");
            None
        }
    }
}

/// Resolves when a release is announced (true) or the listener failed (false); never
/// without a listener.
async fn next_notification(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(listener) => listener.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}
