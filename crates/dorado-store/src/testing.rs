//! Throw-away databases for integration tests (feature `testing`).
//!
//! Every suite runs against both backends: `TestDatabase::all()` gives a
//! SQLite file in a temporary directory and a fresh PostgreSQL database on
//! `DORADO_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without a reachable PostgreSQL, CI (env `CI` set) fails loudly and a
//! developer's run goes on with SQLite alone, after a warning.

use crate::{Backend, Store};
use rand::RngExt;
use sqlx::{Connection, Executor};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDatabase {
    /// What `Store::connect` takes.
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// (server URL, database name) of a PostgreSQL database to drop.
    drop_pg: Option<(String, String)>,
}

impl TestDatabase {
    /// A new SQLite file in a temporary directory, removed on drop.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let url = format!("sqlite://{}", dir.path().join("dorado.db").display());
        TestDatabase {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            drop_pg: None,
        }
    }

    /// A new, empty PostgreSQL database, dropped on drop; `None` (after a
    /// warning) when the server cannot be reached, except under CI where
    /// that is a failure.
    pub async fn postgres() -> Option<TestDatabase> {
        let server = std::env::var("DORADO_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let name = format!("dorado_test_{:016x}", rand::rng().random::<u64>());
        match create_database(&server, &name).await {
            Ok(()) => Some(TestDatabase {
                url: with_database(&server, &name),
                backend: Backend::Postgres,
                _dir: None,
                drop_pg: Some((server, name)),
            }),
            Err(e) if std::env::var_os("CI").is_some() => panic!(
                "PostgreSQL at {server} is needed for the tests under CI and could not be used: {e}. \
                 Start it or set DORADO_TEST_POSTGRES_URL."
            ),
            Err(e) => {
                eprintln!(
                    "warning: PostgreSQL at {server} is not reachable ({e}); \
                     testing with SQLite only. Set DORADO_TEST_POSTGRES_URL to test both."
                );
                None
            }
        }
    }

    /// SQLite, and PostgreSQL when it can be had (see [`Self::postgres`]).
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![Self::sqlite()];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// A store on this database (migrated, writer started).
    pub async fn connect(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

async fn create_database(server: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await?;
    // The name is ours (hex digits): nothing to escape.
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    conn.close().await
}

/// `postgres://u@h:5432/postgres?x=y` with the database `name` instead.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.drop_pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with its own runtime does the async work.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "d"),
            "postgres://postgres@127.0.0.1:5432/d"
        );
        assert_eq!(with_database("postgres://h", "d"), "postgres://h/d");
        assert_eq!(
            with_database("postgres://u:p@h/x?sslmode=disable", "d"),
            "postgres://u:p@h/d?sslmode=disable"
        );
    }
}
