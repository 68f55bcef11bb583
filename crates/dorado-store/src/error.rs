use dorado_core::ValidationError;
use sqlx::error::DatabaseError as _;

/// Everything the store can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist (or belongs to another organization,
    /// which callers must not be able to tell apart).
    #[error("{0} not found")]
    NotFound(String),
    /// A name or key is already taken, or an idempotency key was reused
    /// with another body.
    #[error("{0}")]
    Conflict(String),
    /// The input is well formed but does not fit what is stored (an
    /// incident key that several services use, say).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The request's token was revoked (on any instance) or expired
    /// between its authentication and its write, which then does not
    /// happen: a revocation takes effect at once for writes, whatever any
    /// instance's cache holds.
    #[error("the credentials are unknown, expired or revoked")]
    Unauthorized,
    /// The database URL is not one Dorado can use.
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The writer task stopped (the server is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// The write queue is full: the sender should retry shortly.
    #[error("too many writes are waiting; retry shortly")]
    Overloaded,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether a write lost a race with another instance's transaction on
    /// the same keys (PostgreSQL: a unique violation after the other
    /// committed, a deadlock, a serialization failure): the write is right
    /// to run again, and then finds what the other one stored.
    pub(crate) fn lost_a_race(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        e.is_unique_violation() || self.is_deadlock()
    }

    /// A deadlock or a serialization failure (PostgreSQL): this transaction
    /// holds what the other waits for, so only rolling it back ends it.
    pub(crate) fn is_deadlock(&self) -> bool {
        matches!(self, StoreError::Database(e) if is_deadlock(e))
    }

    /// Whether SQLite refused because another connection held its write
    /// lock past the busy timeout (a large import building its indexes,
    /// say): a moment's condition worth a retry, not a fault.
    pub fn is_busy(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        let Some(e) = e.try_downcast_ref::<sqlx::sqlite::SqliteError>() else {
            return false;
        };
        // The extended result code; SQLITE_BUSY (5) and SQLITE_LOCKED (6)
        // are its low byte.
        e.code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6))
    }
}

/// PostgreSQL's deadlock (40P01) and serialization failure (40001).
pub(crate) fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}
