//! Connecting, migrating, and the small helpers every query module shares.

use crate::{Backend, StoreError};
use dorado_core::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Row};
use std::time::Duration;

/// How long a SQLite connection waits for another process's write lock
/// (the CLI and the server may share a file) before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Opens the pool, applies the per-connection settings and migrates.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let (backend, url) = classify(url)?;
    let max = match backend {
        // SQLite serializes writers anyway; readers run beside them in WAL.
        Backend::Sqlite => 8,
        Backend::Postgres => 16,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| Box::pin(configure(conn, backend)))
        .connect(&url)
        .await?;
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.run(&pool).await?;
    if backend == Backend::Sqlite {
        // An import that another process runs now holds the write lock for
        // seconds at a time and builds its indexes itself at the end: a
        // store that cannot build them now works on without them.
        if let Err(e) = crate::import::restore_indexes(&pool).await {
            tracing::warn!(error = %e, "could not build the indexes an import deferred");
        }
    }
    Ok((pool, backend))
}

/// Picks the backend from the scheme; a SQLite file is created when missing.
fn classify(url: &str) -> Result<(Backend, String), StoreError> {
    let unsupported = || StoreError::UnsupportedUrl(url.to_owned());
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(unsupported());
    };
    let path = rest.trim_start_matches("//");
    let file = path.split('?').next().unwrap_or_default();
    // Every pooled connection to `:memory:` gets its own empty database.
    if file.is_empty() || file == ":memory:" || path.contains("mode=memory") {
        return Err(unsupported());
    }
    if path.contains("mode=") {
        return Ok((Backend::Sqlite, url.to_owned()));
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok((Backend::Sqlite, format!("{url}{sep}mode=rwc")))
}

/// SQLite settings are per connection; `synchronous=FULL` is what makes a
/// committed WAL transaction survive power loss.
async fn configure(conn: &mut AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    if backend != Backend::Sqlite {
        return Ok(());
    }
    let busy = format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}");
    sqlx::query(sqlx::AssertSqlSafe(busy))
        .execute(&mut *conn)
        .await?;
    for pragma in [
        // Only a new, empty database takes it (it comes before WAL mode,
        // which fixes the page size): 16 KiB pages make the B-trees of
        // commit shas shallower and a commit's WAL writes a quarter as
        // many (a bulk import of 6.3M events went from ~72 s to ~64 s).
        "PRAGMA page_size = 16384",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    ] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Begins a write transaction. On SQLite it takes the write lock up front:
/// a deferred transaction that reads first can fail with SQLITE_BUSY when it
/// later tries to write, without waiting for the busy timeout.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A stored value that the current code cannot read back.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "unreadable stored value: {what}"
    )))
}

pub(crate) fn ts(row: &AnyRow, col: &str) -> Result<Timestamp, StoreError> {
    let ms: i64 = row.try_get(col)?;
    Timestamp::from_millis(ms).ok_or_else(|| corrupt(format!("{col} = {ms}")))
}

pub(crate) fn opt_ts(row: &AnyRow, col: &str) -> Result<Option<Timestamp>, StoreError> {
    let ms: Option<i64> = row.try_get(col)?;
    ms.map(|ms| Timestamp::from_millis(ms).ok_or_else(|| corrupt(format!("{col} = {ms}"))))
        .transpose()
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

pub(crate) fn json(row: &AnyRow, col: &str) -> Result<serde_json::Value, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("{col}: {e}")))
}

/// A value for a query whose text is built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// SQL built at run time with `$n` placeholders (the only kind both backends
/// accept), kept next to its arguments so the numbers cannot drift.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `arg`.
    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// Appends `$a, $b, ...` for every value.
    pub(crate) fn bind_list(&mut self, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        for (i, arg) in args.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(arg);
        }
        self
    }

    pub(crate) async fn fetch_all(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        // Only placeholders carry values: the text holds no input.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.clone()));
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q.fetch_all(conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_a_backend() {
        let (b, u) = classify("sqlite://dorado.db").unwrap();
        assert_eq!(
            (b, u.as_str()),
            (Backend::Sqlite, "sqlite://dorado.db?mode=rwc")
        );
        let (_, u) = classify("sqlite:///tmp/x.db?cache=shared").unwrap();
        assert_eq!(u, "sqlite:///tmp/x.db?cache=shared&mode=rwc");
        let (_, u) = classify("sqlite://x.db?mode=ro").unwrap();
        assert_eq!(u, "sqlite://x.db?mode=ro");
        assert_eq!(classify("postgres://h/db").unwrap().0, Backend::Postgres);
        assert_eq!(classify("postgresql://h/db").unwrap().0, Backend::Postgres);
        for bad in ["mysql://h/db", "sqlite::memory:", "sqlite://", "dorado.db"] {
            assert!(
                matches!(classify(bad), Err(StoreError::UnsupportedUrl(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn every_sqlite_connection_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let (pool, backend) = connect(&url).await.unwrap();
        assert_eq!(backend, Backend::Sqlite);
        // Two connections at once: the settings are not only on the first.
        let mut a = pool.acquire().await.unwrap();
        let mut b = pool.acquire().await.unwrap();
        for conn in [&mut *a, &mut *b] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!((mode.as_str(), sync, fk, busy), ("wal", 2, 1, 10_000));
        }
    }
}
