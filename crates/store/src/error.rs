//! The crate's two error types: `StoreError` for storage operations (open, migrate, load,
//! commit) and `WriteError` for what a caller of the writer is answered.

use switchboard_engine::Rejection;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// A stored value could not be read back (bad JSON, unknown enum text, out-of-range number).
    #[error("corrupt stored value in {table}.{column}: {detail}")]
    Corrupt { table: &'static str, column: &'static str, detail: String },
    /// A cluster's writer may not commit under `epoch` any more: its lease expired, was
    /// taken by another node, or passed its local deadline. Nothing was written.
    #[error("the writer lease of epoch {epoch} is no longer held: this node must not commit")]
    Fenced { epoch: i64 },
    /// The writer lease (several nodes on one database) needs PostgreSQL.
    #[error("the writer lease needs PostgreSQL; SQLite is one node")]
    LeaseNeedsPostgres,
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, column: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt { table, column, detail: detail.to_string() }
    }
}

/// Why the writer did not apply a command (or answer a read).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The engine refused the command; nothing changed.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// Storage is unreachable or the batch's commit failed; nothing was acknowledged (HTTP 503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// This node is a standby of a cluster: another node is the writer (its `advertise_url`,
    /// when known). Nothing was applied (HTTP 503; the server's HTTP layer relays requests to the
    /// writer before they reach a standby's writer task, so callers see this only while no
    /// writer is known).
    #[error("this node is a standby; the writer is {}", writer.as_deref().unwrap_or("not known yet (a takeover is in progress)"))]
    Standby { writer: Option<String> },
    /// The writer has stopped.
    #[error("the writer is shutting down")]
    ShuttingDown,
}
