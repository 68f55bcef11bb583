use dorado_core::ValidationError;

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
    /// The database URL is not one Dorado can use.
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The writer task stopped (the server is shutting down).
    #[error("the store is shutting down")]
    Closed,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
