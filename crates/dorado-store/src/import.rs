//! `dorado import`'s bulk path. The writer applies a command with several
//! statements (a lookup, an insert or update, then its commits or parents);
//! at millions of events that is the whole cost. Here a chunk of lines is
//! resolved in memory first, exactly as the writer would apply them one
//! after the other, and then written with a few multi-row statements per
//! table:
//! - deployments: the chunk's keys are looked up in one query; a key given
//!   twice keeps its first id and its last write; new rows get ids reserved
//!   up front, in line order, so they number as the writer would number them;
//! - changes: a commit given twice is merged the way `ON CONFLICT ... DO
//!   UPDATE` would merge it, so one statement never names a key twice
//!   (PostgreSQL refuses that), then the same upsert as the writer's runs;
//! - incidents, a few per chunk but with the subtlest rules (a resolve
//!   before its start, a key without a service), are replayed against the
//!   stored rows of the chunk's keys and written back whole.
//!
//! Each chunk is one delivery, whose body is the lines it accepted, so
//! `dorado reindex` rebuilds the same rows through the writer's rules.

use crate::db::sha256_hex;
use crate::versions::{self, Touched};
use crate::{Backend, NewDelivery, StoreError, deliveries};
use dorado_core::{
    ChangeBatch, Command, DeliveryId, DeploymentWrite, ExternalId, IncidentCause, IncidentResolve,
    IncidentTimes, IncidentWrite, OrgId, ServiceId, Timestamp, ValidationError,
};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row};
use std::collections::{HashMap, HashSet};
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

/// Placeholders per statement: SQLite's limit is 32,766, PostgreSQL's 65,535.
const MAX_PARAMS: usize = 32_000;
/// Rows per statement: beyond this a statement only grows harder to plan.
const MAX_ROWS: usize = 1_000;
/// Keys per lookup query.
const LOOKUP: usize = 500;

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
    services: HashSet<ServiceId>,
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
        if backend == Backend::Sqlite {
            for pragma in SQLITE_PRAGMAS {
                sqlx::query(pragma).execute(&mut *conn).await?;
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
        let services = std::mem::take(&mut open.services);
        self.open = Some(open);
        let mut done = Vec::with_capacity(chunks.len());
        let mut failed = None;
        for chunk in chunks {
            match import_chunk(&mut self.conn, backend, org, &services, chunk).await {
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
                .map(|r| r.try_get(0).map(ServiceId))
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
    services: &HashSet<ServiceId>,
    chunk: ImportChunk,
) -> Result<ChunkImported, StoreError> {
    let ImportChunk {
        mut delivery,
        lines,
        sealed,
    } = chunk;
    let received = delivery.received_at.millis();
    let mut refused = Vec::new();
    let mut accepted = vec![true; lines.len()];
    for (i, line) in lines.iter().enumerate() {
        let why = match &line.command {
            Command::Deployment(_)
            | Command::Changes(_)
            | Command::Incident(_)
            | Command::ResolveIncident(_) => foreign_service(&line.command, services)
                .map(|s| StoreError::NotFound(format!("service {s}")).to_string()),
            // The event API makes none of the others; this path knows only
            // the tables of its events.
            _ => Some("not an event of the event API".to_owned()),
        };
        if let Some(why) = why {
            accepted[i] = false;
            refused.push((i, why));
        }
    }

    let keys: HashSet<&str> = lines
        .iter()
        .zip(&accepted)
        .filter(|(_, ok)| **ok)
        .filter_map(|(l, _)| match &l.command {
            Command::Incident(w) => Some(w.key.as_str()),
            Command::ResolveIncident(r) => Some(r.key.as_str()),
            _ => None,
        })
        .collect();
    let mut incidents = Incidents::load(conn, backend, org, keys).await?;
    for (i, line) in lines.iter().enumerate() {
        if !accepted[i] {
            continue;
        }
        let applied = match &line.command {
            Command::Incident(w) => {
                incidents.write(w, received)?;
                Ok(())
            }
            Command::ResolveIncident(r) => incidents.resolve(r, received),
            _ => Ok(()),
        };
        if let Err(e) = applied {
            accepted[i] = false;
            refused.push((i, e.to_string()));
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

    let kept = || {
        lines
            .iter()
            .zip(&accepted)
            .filter(|(_, ok)| **ok)
            .map(|(l, _)| l)
    };
    let (body, sha) = match sealed {
        Some(SealedBody { body, sha256 }) if imported == lines.len() => (body, sha256),
        _ => {
            let body = join_lines(kept());
            let sha = sha256_hex(body.as_bytes());
            (body, sha)
        }
    };
    delivery.org_id = org;
    delivery.body = body;
    let id = deliveries::insert(conn, &delivery, &sha, 200, None).await?;
    let shared = Shared {
        backend,
        org: org.0,
        delivery: id.0,
        received,
    };

    let commands: Vec<&Command> = kept().map(|l| &l.command).collect();
    write_deployments(conn, backend, &shared, &commands).await?;
    write_changes(conn, &shared, &commands).await?;
    incidents.store(conn, backend, &shared).await?;
    Ok(ChunkImported {
        delivery_id: Some(id),
        imported,
        refused,
    })
}

/// A service the organization does not have (a dialect resolves only the
/// organization's own, so this is a safety net, as in the writer).
fn foreign_service(command: &Command, services: &HashSet<ServiceId>) -> Option<ServiceId> {
    let service = match command {
        Command::Deployment(w) => Some(w.service),
        Command::Incident(w) => w.service,
        Command::ResolveIncident(r) => r.service,
        _ => None,
    };
    service.filter(|s| !services.contains(s))
}

/// What every row of a chunk shares.
struct Shared {
    backend: Backend,
    org: i64,
    delivery: i64,
    received: i64,
}

// --- deployments ---------------------------------------------------------

async fn write_deployments(
    conn: &mut AnyConnection,
    backend: Backend,
    shared: &Shared,
    commands: &[&Command],
) -> Result<(), StoreError> {
    let writes: Vec<&DeploymentWrite> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Deployment(w) => Some(w),
            _ => None,
        })
        .collect();
    if writes.is_empty() {
        return Ok(());
    }
    let keys: Vec<(i64, &str)> = {
        let mut seen = HashSet::new();
        writes
            .iter()
            .filter_map(|w| Some((w.service.0, w.external_id.as_ref()?.as_str())))
            .filter(|k| seen.insert(*k))
            .collect()
    };
    let stored = stored_deployments(conn, backend, &keys).await?;

    // One slot per deployment the chunk ends with: a key given again
    // replaces the write but keeps the slot, hence the id.
    struct Slot<'a> {
        write: &'a DeploymentWrite,
        stored: Option<(i64, i64)>,
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(writes.len());
    let mut slot_of: HashMap<(i64, &str), usize> = HashMap::new();
    for w in writes {
        let key = w.external_id.as_ref().map(|e| (w.service.0, e.as_str()));
        match key.and_then(|k| slot_of.get(&k)) {
            Some(&s) => slots[s].write = w,
            None => {
                if let Some(k) = key {
                    slot_of.insert(k, slots.len());
                }
                let stored = key.and_then(|k| stored.get(&k).copied());
                slots.push(Slot { write: w, stored });
            }
        }
    }
    let fresh = slots.iter().filter(|s| s.stored.is_none()).count();
    let mut ids = reserve_ids(conn, backend, "deployments", fresh)
        .await?
        .into_iter();
    let mut rows = Vec::with_capacity(slots.len());
    for slot in &slots {
        let (id, created) = match slot.stored {
            Some(stored) => stored,
            None => (next_id(&mut ids)?, shared.received),
        };
        rows.push((id, created, slot.write));
    }

    let replaced: Vec<Val> = slots
        .iter()
        .filter_map(|s| s.stored.map(|(id, _)| Val::Int(Some(id))))
        .collect();
    for part in replaced.chunks(MAX_ROWS) {
        let mut sql = String::from("DELETE FROM deployment_commits WHERE deployment_id IN (");
        push_list(&mut sql, part.len());
        sql.push(')');
        execute(conn, backend, &sql, part).await?;
    }

    let mut values = Vec::with_capacity(rows.len() * DEPLOYMENT.per_row);
    for &(id, created, w) in &rows {
        let started = w.started_at.map(Timestamp::millis);
        let finished = w.finished_at.map(Timestamp::millis);
        values.extend([
            Val::Int(Some(id)),
            Val::Int(Some(shared.org)),
            Val::Int(Some(w.service.0)),
            Val::Text(w.external_id.as_ref().map(ExternalId::as_str)),
            Val::Text(w.name.as_deref()),
            Val::Text(Some(w.environment.as_str())),
            Val::Text(Some(w.result.as_str())),
            Val::Text(Some(w.kind.as_str())),
            Val::Int(started),
            Val::Int(finished),
            Val::Int(Some(finished.or(started).unwrap_or(created))),
            Val::Small(i16::from(w.rework)),
            Val::Int(w.lead_time_seconds),
            Val::Text(Some(w.source.as_str())),
            Val::Owned(Some(json_text(&w.attributes)?)),
            Val::Owned(w.shipped.as_ref().map(json_text).transpose()?),
            Val::Int(Some(created)),
            Val::Int(Some(shared.delivery)),
            Val::Int(Some(shared.received)),
        ]);
    }
    DEPLOYMENT.write(conn, shared, &values).await?;

    let mut values = Vec::new();
    for &(id, _, w) in &rows {
        for (ord, c) in w.commits.iter().enumerate() {
            values.extend([
                Val::Int(Some(id)),
                Val::Int(Some(ord as i64)),
                Val::Text(Some(c.repo.as_str())),
                Val::Text(Some(c.repo_key.as_str())),
                Val::Text(Some(c.sha.as_str())),
            ]);
        }
    }
    DEPLOYMENT_COMMIT.write(conn, shared, &values).await
}

/// `(id, created_at)` of the stored deployments with these keys.
async fn stored_deployments<'k>(
    conn: &mut AnyConnection,
    backend: Backend,
    keys: &[(i64, &'k str)],
) -> Result<HashMap<(i64, &'k str), (i64, i64)>, StoreError> {
    let mut found = HashMap::new();
    let wanted: HashMap<(i64, &str), &'k str> = keys.iter().map(|&(s, e)| ((s, e), e)).collect();
    for part in keys.chunks(LOOKUP) {
        // A VALUES list joined to the unique index: one probe per key, the
        // same plan on SQLite and PostgreSQL (both name the columns column1
        // and column2).
        let mut sql =
            String::from("SELECT d.id, d.service_id, d.external_id, d.created_at FROM (VALUES ");
        for i in 0..part.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?)");
        }
        sql.push_str(
            ") AS k JOIN deployments d ON d.service_id = k.column1 AND d.external_id = k.column2",
        );
        let values: Vec<Val> = part
            .iter()
            .flat_map(|&(s, e)| [Val::Int(Some(s)), Val::Text(Some(e))])
            .collect();
        for row in fetch(conn, backend, &sql, &values).await? {
            let service: i64 = row.try_get(1)?;
            let ext: &str = row.try_get(2)?;
            if let Some(&e) = wanted.get(&(service, ext)) {
                found.insert((service, e), (row.try_get(0)?, row.try_get(3)?));
            }
        }
    }
    Ok(found)
}

const DEPLOYMENT: Table = Table {
    head: "INSERT INTO deployments (id, org_id, service_id, external_id, name, environment,
               result, kind, started_at, finished_at, occurred_at, rework, lead_time_seconds,
               source, attributes, shipped, created_at, delivery_id, updated_at) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 19,
    tail: " ON CONFLICT (id) DO UPDATE SET name = excluded.name,
               environment = excluded.environment, result = excluded.result,
               kind = excluded.kind, started_at = excluded.started_at,
               finished_at = excluded.finished_at, occurred_at = excluded.occurred_at,
               rework = excluded.rework, lead_time_seconds = excluded.lead_time_seconds,
               source = excluded.source, attributes = excluded.attributes,
               shipped = excluded.shipped, delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at",
};

const DEPLOYMENT_COMMIT: Table = Table {
    head: "INSERT INTO deployment_commits (deployment_id, ord, repo, repo_key, sha) VALUES ",
    row: "(?, ?, ?, ?, ?)",
    per_row: 5,
    tail: "",
};

// --- changes -------------------------------------------------------------

/// One commit of the chunk, merged over every time the chunk gives it.
struct ChangeRow<'a> {
    repo: &'a str,
    repo_key: &'a str,
    sha: &'a str,
    committed_at: Option<i64>,
    authored_at: Option<i64>,
    author: Option<&'a str>,
    message: Option<&'a str>,
}

async fn write_changes(
    conn: &mut AnyConnection,
    shared: &Shared,
    commands: &[&Command],
) -> Result<(), StoreError> {
    let batches = commands.iter().filter_map(|c| match c {
        Command::Changes(b) => Some(b),
        _ => None,
    });
    let mut rows: Vec<ChangeRow> = Vec::new();
    let mut row_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut parents: Vec<(&str, &str, &str, i64)> = Vec::new();
    for ChangeBatch {
        repo,
        repo_key,
        commits,
    } in batches
    {
        for c in commits {
            let committed_at = c.committed_at.map(Timestamp::millis);
            let authored_at = c.authored_at.map(Timestamp::millis);
            let key = (repo_key.as_str(), c.sha.as_str());
            match row_of.get(&key) {
                // What the upsert does to a stored row, done to the row
                // the chunk built so far: the later write wins where it
                // says something, the earlier one stays where it does not.
                Some(&i) => {
                    let row = &mut rows[i];
                    row.repo = repo;
                    row.committed_at = committed_at.or(row.committed_at);
                    row.authored_at = authored_at.or(row.authored_at);
                    row.author = c.author.as_deref().or(row.author);
                    row.message = c.message.as_deref().or(row.message);
                }
                None => {
                    row_of.insert(key, rows.len());
                    rows.push(ChangeRow {
                        repo,
                        repo_key: key.0,
                        sha: key.1,
                        committed_at,
                        authored_at,
                        author: c.author.as_deref(),
                        message: c.message.as_deref(),
                    });
                }
            }
            for (ord, parent) in c.parents.iter().enumerate() {
                parents.push((key.0, key.1, parent.as_str(), ord as i64));
            }
        }
    }
    // In the order the chunk first names each commit, as the writer would
    // number them (and a file lists a repository's commits in time order,
    // so the time index grows at one end).
    let mut values = Vec::with_capacity(rows.len() * CHANGE.per_row);
    for r in &rows {
        values.extend([
            Val::Int(Some(shared.org)),
            Val::Text(Some(r.repo)),
            Val::Text(Some(r.repo_key)),
            Val::Text(Some(r.sha)),
            Val::Int(r.committed_at),
            Val::Int(r.authored_at),
            Val::Int(Some(
                r.committed_at.or(r.authored_at).unwrap_or(shared.received),
            )),
            Val::Text(r.author),
            Val::Text(r.message),
            Val::Int(Some(shared.delivery)),
            Val::Int(Some(shared.received)),
            Val::Int(Some(shared.received)),
        ]);
    }
    CHANGE.write(conn, shared, &values).await?;

    // By sha: both indexes of parents lead with it (after the repository),
    // and a sha is random, so in line order each insert would land on
    // another page; sorted, a chunk walks them once. A stable sort keeps
    // the parents of one commit in the order given, which their ids record.
    parents.sort_by_key(|p| (p.1, p.0));
    let mut values = Vec::with_capacity(parents.len() * CHANGE_PARENT.per_row);
    for (repo_key, sha, parent, ord) in parents {
        values.extend([
            Val::Int(Some(shared.org)),
            Val::Text(Some(repo_key)),
            Val::Text(Some(sha)),
            Val::Text(Some(parent)),
            Val::Int(Some(ord)),
            Val::Int(Some(shared.delivery)),
        ]);
    }
    CHANGE_PARENT.write(conn, shared, &values).await
}

/// The writer's upsert of a commit, many rows at a time.
const CHANGE: Table = Table {
    head: "INSERT INTO changes (org_id, repo, repo_key, sha, committed_at, authored_at,
               occurred_at, author, message, delivery_id, created_at, updated_at) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 12,
    tail: " ON CONFLICT (org_id, repo_key, sha) DO UPDATE SET
               repo = excluded.repo,
               committed_at = COALESCE(excluded.committed_at, changes.committed_at),
               authored_at = COALESCE(excluded.authored_at, changes.authored_at),
               occurred_at = COALESCE(excluded.committed_at, changes.committed_at,
                   excluded.authored_at, changes.authored_at, changes.occurred_at),
               author = COALESCE(excluded.author, changes.author),
               message = COALESCE(excluded.message, changes.message),
               delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at",
};

const CHANGE_PARENT: Table = Table {
    head: "INSERT INTO change_parents (org_id, repo_key, sha, parent_sha, ord, delivery_id) VALUES ",
    row: "(?, ?, ?, ?, ?, ?)",
    per_row: 6,
    tail: " ON CONFLICT DO NOTHING",
};

// --- incidents -----------------------------------------------------------

/// An incident row as the chunk leaves it.
struct Incident {
    /// `None` for a row the chunk creates, until ids are reserved.
    id: Option<i64>,
    service: Option<i64>,
    key: String,
    title: Option<String>,
    started_at: Option<i64>,
    resolved_at: Option<i64>,
    occurred_at: i64,
    cause_kind: Option<String>,
    cause_value: Option<String>,
    fixed_by: Option<String>,
    is_incident: bool,
    source: String,
    attributes: String,
    created_at: i64,
    updated_at: i64,
    changed: bool,
}

/// The stored incidents of the chunk's keys and what the chunk does to them.
#[derive(Default)]
struct Incidents {
    rows: Vec<Incident>,
    /// By `(service or 0, key)`: the unique index's slot.
    slot: HashMap<(i64, String), usize>,
    /// Every row of a key, in id order (new rows come last, as their ids will).
    by_key: HashMap<String, Vec<usize>>,
}

impl Incidents {
    async fn load(
        conn: &mut AnyConnection,
        backend: Backend,
        org: OrgId,
        keys: HashSet<&str>,
    ) -> Result<Self, StoreError> {
        let mut me = Self::default();
        let keys: Vec<&str> = keys.into_iter().collect();
        for part in keys.chunks(LOOKUP) {
            let mut sql = String::from(
                "SELECT id, service_id, key, title, started_at, resolved_at, occurred_at,
                     cause_kind, cause_value, fixed_by, is_incident, source, attributes,
                     created_at, updated_at
                 FROM incidents WHERE org_id = ? AND key IN (",
            );
            push_list(&mut sql, part.len());
            sql.push_str(") ORDER BY id");
            let mut values = vec![Val::Int(Some(org.0))];
            values.extend(part.iter().map(|k| Val::Text(Some(*k))));
            for row in fetch(conn, backend, &sql, &values).await? {
                me.add(Incident {
                    id: Some(row.try_get("id")?),
                    service: row.try_get("service_id")?,
                    key: row.try_get("key")?,
                    title: row.try_get("title")?,
                    started_at: row.try_get("started_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                    occurred_at: row.try_get("occurred_at")?,
                    cause_kind: row.try_get("cause_kind")?,
                    cause_value: row.try_get("cause_value")?,
                    fixed_by: row.try_get("fixed_by")?,
                    is_incident: row.try_get::<i64, _>("is_incident")? != 0,
                    source: row.try_get("source")?,
                    attributes: row.try_get("attributes")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    changed: false,
                });
            }
        }
        Ok(me)
    }

    fn add(&mut self, row: Incident) {
        let at = self.rows.len();
        self.slot
            .insert((row.service.unwrap_or(0), row.key.clone()), at);
        self.by_key.entry(row.key.clone()).or_default().push(at);
        self.rows.push(row);
    }

    /// `incidents::apply_write`, on the rows in memory.
    fn write(&mut self, w: &IncidentWrite, received: i64) -> Result<(), StoreError> {
        let (cause_kind, cause_value) = cause_columns(w.cause.as_ref());
        let started = w.started_at.map(Timestamp::millis);
        let resolved = w.resolved_at.map(Timestamp::millis);
        let slot = (w.service.map_or(0, |s| s.0), w.key.as_str().to_owned());
        let Some(&at) = self.slot.get(&slot) else {
            self.add(Incident {
                id: None,
                service: w.service.map(|s| s.0),
                key: slot.1,
                title: w.title.clone(),
                started_at: started,
                resolved_at: resolved,
                occurred_at: started.or(resolved).unwrap_or(received),
                cause_kind: cause_kind.map(str::to_owned),
                cause_value: cause_value.map(str::to_owned),
                fixed_by: w.fixed_by.as_ref().map(|f| f.as_str().to_owned()),
                is_incident: w.is_incident,
                source: w.source.clone(),
                attributes: json_text(&w.attributes)?,
                created_at: received,
                updated_at: received,
                changed: true,
            });
            return Ok(());
        };
        let row = &mut self.rows[at];
        // As `incidents::Times::with`: a start that is only the arrival
        // time fills a missing start and moves no known one.
        let started = match w.times {
            IncidentTimes::ArrivalStart => row.started_at.or(started),
            _ => started,
        };
        row.occurred_at = started
            .or(row.started_at)
            .or(resolved)
            .or(row.resolved_at)
            .unwrap_or(row.created_at);
        row.title = w.title.clone().or(row.title.take());
        row.started_at = started.or(row.started_at);
        row.resolved_at = resolved.or(row.resolved_at);
        if let Some(kind) = cause_kind {
            row.cause_kind = Some(kind.to_owned());
        }
        if let Some(value) = cause_value {
            row.cause_value = Some(value.to_owned());
        }
        if let Some(f) = &w.fixed_by {
            row.fixed_by = Some(f.as_str().to_owned());
        }
        row.is_incident = w.is_incident;
        row.source = w.source.clone();
        // Merging an empty object changes nothing (and the stored text is
        // serde_json's own, so it would be written back byte for byte).
        if !w.attributes.as_object().is_some_and(|o| o.is_empty()) {
            let old: Value = serde_json::from_str(&row.attributes)
                .map_err(|e| crate::db::corrupt(format!("attributes: {e}")))?;
            row.attributes = json_text(&merge_attributes(old, &w.attributes))?;
        }
        row.updated_at = received;
        row.changed = true;
        Ok(())
    }

    /// `incidents::apply_resolve`, on the rows in memory; `Err` refuses the line.
    fn resolve(&mut self, r: &IncidentResolve, received: i64) -> Result<(), StoreError> {
        let key = r.key.as_str();
        let found: Vec<usize> = match r.service {
            Some(s) => self
                .slot
                .get(&(s.0, key.to_owned()))
                .copied()
                .into_iter()
                .collect(),
            None => self.by_key.get(key).cloned().unwrap_or_default(),
        };
        if found.len() > 1 {
            return Err(ValidationError::single(
                "/service",
                format!("several services have an incident '{key}': name the service"),
            )
            .into());
        }
        let resolved_at = r.resolved_at.millis();
        let Some(&at) = found.first() else {
            if !r.create_missing {
                return Err(StoreError::NotFound(format!("incident '{key}'")));
            }
            self.add(Incident {
                id: None,
                service: r.service.map(|s| s.0),
                key: key.to_owned(),
                title: None,
                started_at: None,
                resolved_at: Some(resolved_at),
                occurred_at: resolved_at,
                cause_kind: None,
                cause_value: None,
                fixed_by: None,
                is_incident: true,
                source: r.source.clone(),
                attributes: "{}".into(),
                created_at: received,
                updated_at: received,
                changed: true,
            });
            return Ok(());
        };
        let row = &mut self.rows[at];
        if !(r.keep_existing && row.resolved_at.is_some()) {
            row.resolved_at = Some(resolved_at);
            row.occurred_at = row.started_at.unwrap_or(resolved_at);
            row.updated_at = received;
            row.changed = true;
        }
        Ok(())
    }

    async fn store(
        mut self,
        conn: &mut AnyConnection,
        backend: Backend,
        shared: &Shared,
    ) -> Result<(), StoreError> {
        let fresh = self.rows.iter().filter(|r| r.id.is_none()).count();
        let mut ids = reserve_ids(conn, backend, "incidents", fresh)
            .await?
            .into_iter();
        for row in self.rows.iter_mut().filter(|r| r.id.is_none()) {
            row.id = Some(next_id(&mut ids)?);
        }
        let mut values = Vec::new();
        for r in self.rows.iter().filter(|r| r.changed) {
            values.extend([
                Val::Int(r.id),
                Val::Int(Some(shared.org)),
                Val::Int(r.service),
                Val::Text(Some(&r.key)),
                Val::Text(r.title.as_deref()),
                Val::Int(r.started_at),
                Val::Int(r.resolved_at),
                Val::Int(Some(r.occurred_at)),
                Val::Text(r.cause_kind.as_deref()),
                Val::Text(r.cause_value.as_deref()),
                Val::Text(r.fixed_by.as_deref()),
                Val::Small(i16::from(r.is_incident)),
                Val::Text(Some(&r.source)),
                Val::Text(Some(&r.attributes)),
                Val::Int(Some(r.created_at)),
                Val::Int(Some(r.updated_at)),
                Val::Int(Some(shared.delivery)),
            ]);
        }
        INCIDENT.write(conn, shared, &values).await
    }
}

const INCIDENT: Table = Table {
    head: "INSERT INTO incidents (id, org_id, service_id, key, title, started_at, resolved_at,
               occurred_at, cause_kind, cause_value, fixed_by, is_incident, source, attributes,
               created_at, updated_at, delivery_id) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 17,
    tail: " ON CONFLICT (id) DO UPDATE SET title = excluded.title,
               started_at = excluded.started_at, resolved_at = excluded.resolved_at,
               occurred_at = excluded.occurred_at, cause_kind = excluded.cause_kind,
               cause_value = excluded.cause_value, fixed_by = excluded.fixed_by,
               is_incident = excluded.is_incident, source = excluded.source,
               attributes = excluded.attributes, delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at",
};

/// As `incidents::cause_columns`.
fn cause_columns(cause: Option<&IncidentCause>) -> (Option<&'static str>, Option<&str>) {
    match cause {
        Some(IncidentCause::Deployment(ext)) => (Some("deployment"), Some(ext.as_str())),
        Some(IncidentCause::Commit(sha)) => (Some("commit"), Some(sha.as_str())),
        None => (None, None),
    }
}

/// As `incidents::merge_attributes`: a later write adds to what an earlier
/// one stored.
fn merge_attributes(old: Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
            Value::Object(old)
        }
        (old, Value::Null) => old,
        (_, new) => new.clone(),
    }
}

// --- statements ----------------------------------------------------------

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| crate::db::corrupt(format!("json: {e}")))
}

/// Ids for `n` new rows of `table`, ascending, so that rows number in the
/// order the chunk creates them, as the writer's inserts would.
async fn reserve_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(match backend {
        // AUTOINCREMENT keeps the highest id ever given in sqlite_sequence
        // and raises it when a larger id is inserted; the write transaction
        // (BEGIN IMMEDIATE) keeps every other writer out meanwhile.
        Backend::Sqlite => {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                    .bind(table)
                    .fetch_optional(&mut *conn)
                    .await?;
            let first = last.unwrap_or(0) + 1;
            (first..first + n as i64).collect()
        }
        // Taken from the identity's sequence, so that other instances
        // sharing the database never get them.
        Backend::Postgres => {
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
            )
            .bind(table)
            .bind(n as i64)
            .fetch_all(&mut *conn)
            .await?;
            ids.sort_unstable();
            ids
        }
    })
}

fn next_id(ids: &mut impl Iterator<Item = i64>) -> Result<i64, StoreError> {
    ids.next()
        .ok_or_else(|| StoreError::Database(sqlx::Error::Protocol("too few ids reserved".into())))
}

/// A value to bind; text is borrowed from the commands where it can be.
#[derive(Debug, Clone)]
enum Val<'a> {
    Int(Option<i64>),
    Small(i16),
    Text(Option<&'a str>),
    Owned(Option<String>),
}

/// A multi-row INSERT: `head`, then `row` (`per_row` placeholders) once
/// per row, then `tail`.
struct Table {
    head: &'static str,
    row: &'static str,
    per_row: usize,
    tail: &'static str,
}

impl Table {
    /// On SQLite, `OR FAIL`: a statement that could fail halfway otherwise
    /// keeps a journal to undo its own rows, page by page; here a failure
    /// rolls the whole transaction back anyway.
    fn head(&self, backend: Backend) -> std::borrow::Cow<'static, str> {
        match (backend, self.head.strip_prefix("INSERT INTO ")) {
            (Backend::Sqlite, Some(rest)) => format!("INSERT OR FAIL INTO {rest}").into(),
            _ => self.head.into(),
        }
    }

    async fn write(
        &self,
        conn: &mut AnyConnection,
        shared: &Shared,
        values: &[Val<'_>],
    ) -> Result<(), StoreError> {
        let backend = shared.backend;
        let mut parts = self.parts(values).into_iter();
        let Some(first) = parts.next() else {
            return Ok(());
        };
        let mut query = bound(backend, &self.sql(backend, first), first);
        loop {
            // Polled first, the statement goes to SQLite's thread (or to
            // PostgreSQL) with its arguments; the next one's are encoded
            // meanwhile, here.
            let (done, next) = tokio::join!(biased; query.execute(&mut *conn), async {
                parts
                    .next()
                    .map(|part| bound(backend, &self.sql(backend, part), part))
            });
            done?;
            match next {
                Some(next) => query = next,
                None => return Ok(()),
            }
        }
    }

    /// The statements' rows: as many as fit, then the rest in powers of
    /// two, so that a few texts, each prepared once and cached, serve
    /// every chunk (a statement of thousands of placeholders takes long to
    /// prepare).
    fn parts<'v, 'a>(&self, values: &'v [Val<'a>]) -> Vec<&'v [Val<'a>]> {
        let rows_per = (MAX_PARAMS / self.per_row).min(MAX_ROWS);
        let mut parts = Vec::new();
        let mut rest = values;
        while !rest.is_empty() {
            let rows = rest.len() / self.per_row;
            let take = if rows >= rows_per {
                rows_per
            } else {
                1 << rows.ilog2()
            };
            let (part, after) = rest.split_at(take * self.per_row);
            parts.push(part);
            rest = after;
        }
        parts
    }

    fn sql(&self, backend: Backend, part: &[Val<'_>]) -> String {
        let rows = part.len() / self.per_row;
        let head = self.head(backend);
        let mut sql =
            String::with_capacity(head.len() + rows * (self.row.len() + 2) + self.tail.len());
        sql.push_str(&head);
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push_str(self.row);
        }
        sql.push_str(self.tail);
        sql
    }
}

/// `?, ?, ...`: `n` placeholders.
fn push_list(sql: &mut String, n: usize) {
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('?');
    }
}

/// `sql` for `backend`: `?` placeholders on SQLite, `$1, $2...` on
/// PostgreSQL, which knows no other kind. SQLite is given `?` because sqlx
/// looks every numbered placeholder up by name, a linear search in SQLite:
/// quadratic in a statement of thousands of them.
fn placeholders(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + sql.len() / 2);
            let mut n = 0usize;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

fn bound<'q>(
    backend: Backend,
    sql: &str,
    values: &'q [Val<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    // Only placeholders carry values: the text holds no input.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(placeholders(backend, sql)));
    for v in values {
        q = match v {
            Val::Int(i) => q.bind(*i),
            Val::Small(i) => q.bind(*i),
            Val::Text(t) => q.bind(*t),
            Val::Owned(t) => q.bind(t.as_deref()),
        };
    }
    q
}

async fn execute(
    conn: &mut AnyConnection,
    backend: Backend,
    sql: &str,
    values: &[Val<'_>],
) -> Result<(), StoreError> {
    bound(backend, sql, values).execute(&mut *conn).await?;
    Ok(())
}

async fn fetch(
    conn: &mut AnyConnection,
    backend: Backend,
    sql: &str,
    values: &[Val<'_>],
) -> Result<Vec<AnyRow>, StoreError> {
    Ok(bound(backend, sql, values).fetch_all(&mut *conn).await?)
}
