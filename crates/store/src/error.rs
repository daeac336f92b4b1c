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
    /// The writer has stopped.
    #[error("the writer is shutting down")]
    ShuttingDown,
}
