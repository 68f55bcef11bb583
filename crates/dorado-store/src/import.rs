//! `dorado import`'s bulk path: a chunk of lines is one delivery, and each
//! line a unit of the planner (`crate::plan`), which the live writer and
//! `dorado reindex` share, so a line is refused alone and the rows are
//! those the lines posted one after the other would give. What is the
//! import's own is the transaction around many chunks, the SQLite settings
//! of its connection, the checkpoints and the deferred indexes.
//!
//! Each chunk's body is the lines it accepted, so `dorado reindex`
//! rebuilds the same rows.

use crate::apply::ServiceCache;
use crate::db::sha256_hex;
use crate::deliveries::{self, Logged};
use crate::plan::sql::{next_id, reserve_ids};
use crate::plan::{self, Unit};
use crate::versions::{self, Touched};
use crate::{Backend, NewDelivery, StoreError};
use dorado_core::{Command, DeliveryId, OrgId, ServiceId};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// One line of an import file, as read.
#[derive(Debug, Clone)]
pub struct ImportLine {
    /// The line as it was in the file: what the delivery log keeps.
    pub text: String,
    pub command: Command,
}

/// Lines stored as one delivery. The delivery's `body` becomes the text of
/// the lines the store accepts.
#[derive(Debug, Clone)]
pub struct ImportChunk {
    pub delivery: NewDelivery,
    pub lines: Vec<ImportLine>,
    /// The body and its digest when every line is accepted, made by
    /// [`ImportChunk::seal`] where the writer's time is not spent: the
    /// store uses them only when it refuses none of the lines.
    pub sealed: Option<SealedBody>,
}

/// The lines of a chunk joined with `\n`, and the SHA-256 of that text.
#[derive(Debug, Clone)]
pub struct SealedBody {
    body: String,
    sha256: String,
}

impl ImportChunk {
    /// Joins and hashes the lines ahead of the store (a reader thread
    /// does it while the store writes the chunk before).
    pub fn seal(&mut self) {
        let body = join_lines(self.lines.iter());
        let sha256 = sha256_hex(body.as_bytes());
        self.sealed = Some(SealedBody { body, sha256 });
    }
}

fn join_lines<'a>(lines: impl Iterator<Item = &'a ImportLine> + Clone) -> String {
    let mut body = String::with_capacity(lines.clone().map(|l| l.text.len() + 1).sum());
    for line in lines {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&line.text);
    }
    body
}

/// What became of one chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkImported {
    /// `None` when every line was refused (nothing is stored then).
    pub delivery_id: Option<DeliveryId>,
    pub imported: usize,
    /// Lines the data refuses (an incident key several services use, say),
    /// by position in the chunk, with why: exactly what the event API
    /// would answer for them.
    pub refused: Vec<(usize, String)>,
}

/// SQLite settings of an import's connection: a page cache that holds the
/// indexes the chunks write into (commit shas land all over theirs), and
/// statement journals (an upsert that could fail halfway keeps one) in
/// memory instead of in temporary files.
const SQLITE_PRAGMAS: [&str; 5] = [
    // 2 GiB: the unique indexes of commits and parents of a large import
    // stay in memory between commits.
    "PRAGMA cache_size = -2097152",
    // Pages beyond the cache (a table that a deferred index is built
    // from) are read from the file's mapping instead of copied by a read
    // each: up to 2 GiB, SQLite's own limit. Writes still go through the
    // WAL.
    "PRAGMA mmap_size = 2147418112",
    "PRAGMA temp_store = MEMORY",
    // Every id an import writes is one it checked (services) or made (the
    // delivery, reserved ids) in the same transaction: the lookups that
    // enforcing the foreign keys would add to each row find nothing new.
    "PRAGMA foreign_keys = OFF",
    // A checkpoint copies every page of the WAL into the database: the
    // importer has them done beside its writes instead (`Checkpoints`).
    "PRAGMA wal_autocheckpoint = 0",
];

/// PostgreSQL settings of an import's connection, each best effort (a
/// role that may not set one imports without it, slower).
const POSTGRES_SETTINGS: [&str; 2] = [
    // Checking a foreign key is a query per key per row inserted (half
    // the server's time on an import's chunk); every id an import writes
    // is one it checked (services) or made (the delivery, reserved ids)
    // in the same transaction, as on SQLite above. Only this session's
    // own writes skip the checks (the schema has no other triggers); the
    // other side of each key (a delete of the row it names, by another
    // session) is still checked there. Needs a superuser, or
    // `GRANT SET ON PARAMETER session_replication_role TO <role>`.
    "SET session_replication_role = replica",
    // A chunk's delivery holds its lines (megabytes): lz4 compresses them
    // several times faster than the default pglz. Reading them back is
    // the same; a server built without lz4 refuses, and keeps pglz.
    "SET default_toast_compression = lz4",
];

/// WAL pages (16 KiB in a database Dorado made, so 1.6 GB) above which the
/// importer lets the checkpoint catch up before its next transaction, so
/// that this one starts the WAL over: the WAL of an import stays around
/// this size instead of growing with it. A page that transaction after
/// transaction rewrites is copied once per round, not each time.
const WAL_ROUND_PAGES: i64 = 100_000;

/// Checkpoints of an import's WAL into the database file, on another
/// connection of the pool (so on another thread) while the importer
/// writes its next transaction: a PASSIVE checkpoint copies only what was
/// committed and never holds up a writer. Durability is not theirs: a
/// commit is durable in the WAL. Only on SQLite.
struct Checkpoints {
    pool: AnyPool,
    running: Option<tokio::task::JoinHandle<Option<i64>>>,
    /// The WAL's pages as the last checkpoint saw them.
    wal_pages: i64,
}

impl Checkpoints {
    /// After a commit: has the WAL copied meanwhile, or, when it has grown
    /// past a round, waits for that and copies the rest on `conn`, so that
    /// the next transaction starts the WAL over.
    async fn after_commit(&mut self, conn: &mut AnyConnection) {
        let done = self
            .running
            .take_if(|r| r.is_finished() || self.wal_pages >= WAL_ROUND_PAGES);
        if let Some(running) = done
            && let Ok(Some(pages)) = running.await
        {
            self.wal_pages = pages;
        }
        if self.wal_pages >= WAL_ROUND_PAGES {
            // Only what the last checkpoint left: the last transaction.
            let _ = checkpoint(conn).await;
            self.wal_pages = 0;
            return;
        }
        if self.running.is_none() {
            let pool = self.pool.clone();
            self.running = Some(tokio::spawn(async move {
                let mut conn = pool.acquire().await.ok()?;
                checkpoint(&mut conn).await.ok()
            }));
        }
    }

    /// Lets a checkpoint in flight end (the import's own connection
    /// closing copies the rest).
    async fn finish(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }
}

/// A PASSIVE checkpoint; the WAL's size in pages.
async fn checkpoint(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(1)?)
}

/// The secondary indexes of the fact tables that no statement of an import
/// reads, as the SQLite migrations create them (word for word, so that the
/// schema reads the same after a rebuild). A large import into SQLite
/// drops them and builds them again at the end ([`Importer::defer_indexes`]):
/// one sort per index instead of millions of inserts at random places of
/// it (a service's year lands all over the time indexes). Kept: the unique
/// indexes (the upserts and lookups probe them),
/// `deployment_commits_deployment` (a replaced deployment's commits are
/// deleted through it; its new rows come in id order, at its end) and the
/// small tables' indexes.
pub(crate) const DEFERRED_INDEXES: [(&str, &str); 4] = [
    (
        "changes_org_time",
        "CREATE INDEX IF NOT EXISTS changes_org_time ON changes (org_id, occurred_at, id)",
    ),
    (
        "deployments_org_time",
        "CREATE INDEX IF NOT EXISTS deployments_org_time ON deployments (org_id, occurred_at, id)",
    ),
    (
        "deployments_service_time",
        "CREATE INDEX IF NOT EXISTS deployments_service_time ON deployments (service_id, occurred_at, id)",
    ),
    (
        "deployments_service_env",
        "CREATE INDEX IF NOT EXISTS deployments_service_env ON deployments (service_id, environment, finished_at)",
    ),
];

/// Below this many lines an import keeps the indexes: a rebuild sorts
/// every row of the tables, stored ones too.
const DEFER_MIN_LINES: u64 = 200_000;
/// Rows already stored per line imported above which keeping the indexes
/// is cheaper than rebuilding them (an insert into a large index costs a
/// few rows' worth of sorting, not more).
const DEFER_MAX_STORED_PER_LINE: u64 = 4;

/// Builds the indexes an import deferred and never built (it was killed,
/// say), each in its own transaction. Run when a store opens: quick when
/// none is missing (a look at the schema).
pub(crate) async fn restore_indexes(pool: &AnyPool) -> Result<(), StoreError> {
    let present: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index'")
            .fetch_all(pool)
            .await?;
    for (name, create) in DEFERRED_INDEXES {
        if !present.iter().any(|p| p == name) {
            sqlx::query(create).execute(pool).await?;
        }
    }
    Ok(())
}

/// An import in progress: one connection of its own, closed at the end
/// (it leaves with the settings above, and a transaction left open is
/// rolled back with it), and the store's write lock held while a
/// transaction is open.
pub struct Importer {
    conn: PoolConnection<Any>,
    backend: Backend,
    org: OrgId,
    write_lock: Arc<Mutex<()>>,
    open: Option<OpenTransaction>,
    /// [`DEFERRED_INDEXES`] were dropped and are to be built again.
    deferred: bool,
    checkpoints: Option<Checkpoints>,
}

/// What a transaction of the importer carries until its commit.
struct OpenTransaction {
    _write: OwnedMutexGuard<()>,
    services: ServiceCache,
    /// What the lines name, refused ones too: touching more than was
    /// written costs a reader a reload, never a stale figure.
    touched: Touched,
    imported: bool,
}

impl Importer {
    pub(crate) async fn open(
        pool: &AnyPool,
        backend: Backend,
        org: OrgId,
        write_lock: Arc<Mutex<()>>,
    ) -> Result<Importer, StoreError> {
        let mut conn = pool.acquire().await?;
        // Its settings must not outlive the import in the pool.
        conn.close_on_drop();
        match backend {
            Backend::Sqlite => {
                for pragma in SQLITE_PRAGMAS {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
            }
            Backend::Postgres => {
                // Outside a transaction: a refusal aborts nothing.
                for setting in POSTGRES_SETTINGS {
                    if let Err(e) = sqlx::query(setting).execute(&mut *conn).await {
                        tracing::info!(%setting, error = %e, "the import goes on without a setting");
                    }
                }
            }
        }
        Ok(Importer {
            conn,
            backend,
            org,
            write_lock,
            open: None,
            deferred: false,
            checkpoints: (backend == Backend::Sqlite).then(|| Checkpoints {
                pool: pool.clone(),
                running: None,
                wal_pages: 0,
            }),
        })
    }

    /// Whether an import of about `lines` lines is better off without the
    /// [`DEFERRED_INDEXES`]: a large one, into SQLite, and large beside
    /// what is stored already (the highest ids given are a free estimate).
    pub async fn worth_deferring_indexes(&mut self, lines: u64) -> Result<bool, StoreError> {
        if self.backend != Backend::Sqlite || lines < DEFER_MIN_LINES {
            return Ok(false);
        }
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT SUM(seq) FROM sqlite_sequence WHERE name IN
                 ('changes', 'change_parents', 'deployments', 'deployment_commits')",
        )
        .fetch_one(&mut *self.conn)
        .await?;
        let stored = u64::try_from(stored.unwrap_or(0)).unwrap_or(0);
        Ok(stored <= lines.saturating_mul(DEFER_MAX_STORED_PER_LINE))
    }

    /// Drops the [`DEFERRED_INDEXES`] until [`Importer::finish`] builds
    /// them again (a store that opens meanwhile builds them too, so an
    /// import that never finishes leaves a usable database). Readers of
    /// the database scan instead of seeking meanwhile. Only on SQLite;
    /// a no-op elsewhere. Call it before the first write.
    pub async fn defer_indexes(&mut self) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite || self.deferred {
            return Ok(());
        }
        if self.open.is_some() {
            return Err(StoreError::Database(sqlx::Error::Protocol(
                "indexes are deferred before an import writes".into(),
            )));
        }
        let _write = self.write_lock.clone().lock_owned().await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *self.conn)
            .await?;
        let dropped = async {
            for (name, _) in DEFERRED_INDEXES {
                let drop = format!("DROP INDEX IF EXISTS {name}");
                sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut *self.conn)
                    .await?;
            }
            sqlx::query("COMMIT").execute(&mut *self.conn).await?;
            Ok::<_, StoreError>(())
        }
        .await;
        match dropped {
            Ok(()) => {
                self.deferred = true;
                Ok(())
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *self.conn).await;
                Err(e)
            }
        }
    }

    /// Commits what is pending, then builds the indexes
    /// [`Importer::defer_indexes`] dropped, one transaction each, so that
    /// the server's writes get in between. Call it on every way out of an
    /// import, a failed one too (after its error, nothing is committed
    /// here but the indexes).
    pub async fn finish(&mut self) -> Result<(), StoreError> {
        let committed = self.commit().await;
        if self.deferred {
            // The sorts of CREATE INDEX may use a helper thread: the other
            // core has nothing else to do by now.
            let _ = sqlx::query("PRAGMA threads = 2")
                .execute(&mut *self.conn)
                .await;
            for (_, create) in DEFERRED_INDEXES {
                let _write = self.write_lock.clone().lock_owned().await;
                sqlx::query(create).execute(&mut *self.conn).await?;
                if let Some(checkpoints) = self.checkpoints.as_mut() {
                    checkpoints.after_commit(&mut self.conn).await;
                }
            }
            self.deferred = false;
        }
        if let Some(checkpoints) = self.checkpoints.as_mut() {
            checkpoints.finish().await;
        }
        committed
    }

    /// Stores the chunks in one transaction, each as its own delivery, in
    /// order, exactly as the writer would store their lines one after the
    /// other: [`Importer::write`], then [`Importer::commit`].
    pub async fn import(
        &mut self,
        chunks: Vec<ImportChunk>,
    ) -> Result<Vec<ChunkImported>, StoreError> {
        let done = self.write(chunks).await?;
        self.commit().await?;
        Ok(done)
    }

    /// Writes the chunks, each as its own delivery, in the open transaction
    /// (begun when none is): nothing is visible to others, nor durable,
    /// until [`Importer::commit`]. After an error the transaction is rolled
    /// back, chunks written since the last commit included.
    pub async fn write(
        &mut self,
        chunks: Vec<ImportChunk>,
    ) -> Result<Vec<ChunkImported>, StoreError> {
        let written = self.write_open(chunks).await;
        if written.is_err() {
            self.rollback().await;
        }
        written
    }

    async fn write_open(
        &mut self,
        chunks: Vec<ImportChunk>,
    ) -> Result<Vec<ChunkImported>, StoreError> {
        let (backend, org) = (self.backend, self.org);
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.begin().await?,
        };
        for line in chunks.iter().flat_map(|c| &c.lines) {
            open.touched.record_command(&line.command);
        }
        // Kept before the chunks are written, so that an error still finds
        // the transaction to roll back.
        let mut services = std::mem::take(&mut open.services);
        self.open = Some(open);
        let mut done = Vec::with_capacity(chunks.len());
        let mut failed = None;
        for chunk in chunks {
            match import_chunk(&mut self.conn, backend, org, &mut services, chunk).await {
                Ok(chunk) => done.push(chunk),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(open) = self.open.as_mut() {
            open.services = services;
            open.imported |= done.iter().any(|c| c.imported > 0);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    async fn begin(&mut self) -> Result<OpenTransaction, StoreError> {
        let write = self.write_lock.clone().lock_owned().await;
        // As `db::begin_write`: on SQLite the write lock up front.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        sqlx::query(begin).execute(&mut *self.conn).await?;
        let services = sqlx::query("SELECT id FROM services WHERE org_id = $1")
            .bind(self.org.0)
            .fetch_all(&mut *self.conn)
            .await;
        let services = match services {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get(0).map(|id| (self.org, ServiceId(id))))
                .collect::<Result<_, _>>(),
            Err(e) => Err(e),
        };
        match services {
            Ok(services) => Ok(OpenTransaction {
                _write: write,
                services,
                touched: Touched::default(),
                imported: false,
            }),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *self.conn).await;
                Err(e.into())
            }
        }
    }

    /// Commits what was written since the last commit (nothing to do when
    /// nothing was), and lets the writer's batches in again.
    pub async fn commit(&mut self) -> Result<(), StoreError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let committed = async {
            if open.imported {
                versions::bump(&mut self.conn, self.org, &open.touched).await?;
            }
            sqlx::query("COMMIT").execute(&mut *self.conn).await?;
            Ok::<_, StoreError>(())
        }
        .await;
        match (&committed, self.checkpoints.as_mut()) {
            (Err(_), _) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *self.conn).await;
            }
            (Ok(()), Some(checkpoints)) => checkpoints.after_commit(&mut self.conn).await,
            (Ok(()), None) => {}
        }
        committed
    }

    /// Best effort: when it fails too, the connection is closed anyway
    /// when the importer goes, which rolls back.
    async fn rollback(&mut self) {
        if self.open.take().is_some() {
            let _ = sqlx::query("ROLLBACK").execute(&mut *self.conn).await;
        }
    }
}

async fn import_chunk(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    services: &mut ServiceCache,
    chunk: ImportChunk,
) -> Result<ChunkImported, StoreError> {
    let ImportChunk {
        mut delivery,
        lines,
        sealed,
    } = chunk;
    let id = DeliveryId(next_id(
        &mut reserve_ids(conn, backend, "deliveries", 1)
            .await?
            .into_iter(),
    )?);
    let mut refused = Vec::new();
    let mut units = Vec::with_capacity(lines.len());
    let mut line_of = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let command = std::slice::from_ref(&line.command);
        // The event API makes none of the others.
        if !plan::plans(command) {
            refused.push((i, "not an event of the event API".to_owned()));
            continue;
        }
        units.push(Unit {
            org,
            delivery: id,
            received_at: delivery.received_at,
            commands: command,
        });
        line_of.push(i);
    }
    let mut planned = plan::plan(conn, backend, services, None, &units).await?;
    let mut accepted = vec![false; lines.len()];
    for (&i, result) in line_of.iter().zip(planned.results.drain(..)) {
        match result {
            Ok(_) => accepted[i] = true,
            Err(e) => refused.push((i, e.to_string())),
        }
    }
    refused.sort_by_key(|r| r.0);
    let imported = accepted.iter().filter(|ok| **ok).count();
    if imported == 0 {
        return Ok(ChunkImported {
            delivery_id: None,
            imported,
            refused,
        });
    }
    let (body, sha) = match sealed {
        Some(SealedBody { body, sha256 }) if imported == lines.len() => (body, sha256),
        _ => {
            let kept = lines.iter().zip(&accepted).filter(|(_, ok)| **ok);
            let body = join_lines(kept.map(|(l, _)| l));
            let sha = sha256_hex(body.as_bytes());
            (body, sha)
        }
    };
    delivery.org_id = org;
    delivery.body = body;
    let logged = Logged {
        id,
        delivery: &delivery,
        body_sha256: sha,
        status: 200,
        error: None,
        outcome: None,
    };
    deliveries::insert_many(conn, backend, std::slice::from_ref(&logged)).await?;
    planned.store(conn, backend).await?;
    Ok(ChunkImported {
        delivery_id: Some(id),
        imported,
        refused,
    })
}
