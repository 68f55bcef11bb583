//! Group commit. One fsync costs milliseconds, so one commit per request
//! would cap the service at a few hundred writes a second. Every write is
//! sent to one task that takes all the jobs queued meanwhile, plans them
//! together ([`batch`]), writes them in one transaction, commits once, and
//! only then answers: a 2xx always means durably committed.

mod batch;

use crate::apply::ServiceCache;
use crate::{Backend, Ingested, NewDelivery, StoreError};
use dorado_core::Command;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};
use std::sync::{Arc, Mutex as SyncMutex};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Jobs waiting beyond this are refused at once (`StoreError::Overloaded`,
/// a 503 with `Retry-After`), so that a stalled database does not pile up
/// held connections.
pub(crate) const DEFAULT_QUEUE: usize = 4 * MAX_BATCH;
/// How often a batch that lost a race with another instance's (the same
/// new key written by both, a deadlock) runs again before its requests
/// are answered 503. Each run looks the keys up again, and so finds what
/// the other one committed. A deadlock costs PostgreSQL's
/// `deadlock_timeout` (1 s by default).
const RACE_ATTEMPTS: usize = 8;

type Answer = Result<Option<Ingested>, StoreError>;
type Reply = oneshot::Sender<Answer>;

enum Work {
    Ingest(NewDelivery, Vec<Command>),
    Refused(NewDelivery, u16, String),
}

struct Job {
    work: Work,
    reply: Reply,
}

pub(crate) struct Writer {
    sender: SyncMutex<Option<mpsc::Sender<Job>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(
        pool: AnyPool,
        backend: Backend,
        lock: Arc<Mutex<()>>,
        queue: usize,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(queue);
        let task = tokio::spawn(run(pool, backend, lock, receiver));
        Self {
            sender: SyncMutex::new(Some(sender)),
            task: Mutex::new(Some(task)),
        }
    }

    async fn submit(&self, work: Work) -> Result<Option<Ingested>, StoreError> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender.try_send(Job { work, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })?;
        // Dropping this future after the send does not cancel the job: it
        // commits anyway, and its answer is dropped.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) async fn ingest(
        &self,
        delivery: NewDelivery,
        commands: Vec<Command>,
    ) -> Result<Ingested, StoreError> {
        self.submit(Work::Ingest(delivery, commands))
            .await?
            .ok_or_else(|| StoreError::Database(sqlx::Error::Protocol("no answer".into())))
    }

    pub(crate) async fn refused(
        &self,
        delivery: NewDelivery,
        status: u16,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.submit(Work::Refused(delivery, status, reason.to_owned()))
            .await
            .map(|_| ())
    }

    /// Refuses new jobs, lets the queued ones commit, and waits for the task.
    pub(crate) async fn close(&self) {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        drop(sender);
        if let Some(task) = self.task.lock().await.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the store's writer task failed");
        }
    }
}

/// Writes `requests` as one batch, bypassing the queue.
#[cfg(feature = "testing")]
pub(crate) async fn write_batch(
    pool: &AnyPool,
    backend: Backend,
    lock: &Mutex<()>,
    requests: Vec<(NewDelivery, Vec<Command>)>,
) -> Vec<Result<Ingested, StoreError>> {
    let _write = lock.lock().await;
    let (jobs, answers): (Vec<Job>, Vec<_>) = requests
        .into_iter()
        .map(|(delivery, commands)| {
            let (reply, answer) = oneshot::channel();
            let work = Work::Ingest(delivery, commands);
            (Job { work, reply }, answer)
        })
        .unzip();
    let mut conn = WriterConnection::new(pool.clone(), backend);
    commit_batch(&mut conn, &mut ServiceCache::new(), jobs).await;
    let mut out = Vec::with_capacity(answers.len());
    for answer in answers {
        out.push(match answer.await {
            Ok(Ok(Some(ingested))) => Ok(ingested),
            Ok(Ok(None)) | Err(_) => Err(StoreError::Closed),
            Ok(Err(e)) => Err(e),
        });
    }
    out
}

async fn run(
    pool: AnyPool,
    backend: Backend,
    lock: Arc<Mutex<()>>,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut services = ServiceCache::new();
    let mut connection = Some(WriterConnection::new(pool.clone(), backend));
    // `recv_many` returns 0 only once every sender is gone and the queue
    // is empty.
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let _write = lock.lock().await;
        let batch = std::mem::take(&mut jobs);
        let mut cache = std::mem::take(&mut services);
        let mut conn = connection
            .take()
            .unwrap_or_else(|| WriterConnection::new(pool.clone(), backend));
        // A batch runs as its own task so that a panic in it (a bug) costs
        // that batch's answers, not every later write of the process.
        let task = tokio::spawn(async move {
            commit_batch(&mut conn, &mut cache, batch).await;
            (conn, cache)
        });
        match task.await {
            Ok((conn, cache)) => (connection, services) = (Some(conn), cache),
            Err(e) => tracing::error!(error = %e, "a write batch failed unanswered"),
        }
    }
}

/// The writer's own connection, kept from batch to batch: its page cache
/// stays warm (a pooled one would come back with a cache another write
/// made stale), and no batch waits for the pool.
struct WriterConnection {
    pool: AnyPool,
    backend: Backend,
    conn: Option<PoolConnection<Any>>,
}

impl WriterConnection {
    fn new(pool: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            backend,
            conn: None,
        }
    }

    async fn get(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
        if self.conn.is_none() {
            let mut conn = self.pool.acquire().await?;
            // Its settings must not outlive it in the pool.
            conn.close_on_drop();
            if self.backend == Backend::Sqlite {
                // A multi-row upsert keeps a statement journal, in memory
                // rather than in a temporary file.
                sqlx::query("PRAGMA temp_store = MEMORY")
                    .execute(&mut *conn)
                    .await?;
            }
            self.conn = Some(conn);
        }
        self.conn
            .as_deref_mut()
            .ok_or_else(|| sqlx::Error::Protocol("no connection".into()))
    }

    /// After a failure the connection may be broken: the next batch takes
    /// another.
    fn discard(&mut self) {
        self.conn = None;
    }
}

/// The error every job of a failed batch gets (a `sqlx::Error` is not Clone).
fn batch_failed(e: &sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolClosed => StoreError::Closed,
        e => StoreError::Database(sqlx::Error::Protocol(format!("the write failed: {e}"))),
    }
}

fn fail_all(jobs: impl IntoIterator<Item = Reply>, e: &sqlx::Error) {
    for reply in jobs {
        let _ = reply.send(Err(batch_failed(e)));
    }
}

async fn commit_batch(conn: &mut WriterConnection, services: &mut ServiceCache, jobs: Vec<Job>) {
    let size = jobs.len();
    let (works, replies): (Vec<Work>, Vec<Reply>) =
        jobs.into_iter().map(|j| (j.work, j.reply)).unzip();
    let mut attempt = 1;
    loop {
        let backend = conn.backend;
        let attempt_result = match conn.get().await {
            Ok(c) => attempt_batch(c, backend, services, &works).await,
            Err(e) => Err(BatchFailed::Broken(e)),
        };
        match attempt_result {
            Ok(answers) => {
                tracing::debug!(jobs = size, "write batch committed");
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
                return;
            }
            // Nothing was answered yet: the whole batch runs again, its
            // locks released so that the other instance could go on.
            Err(BatchFailed::Race(e)) if attempt < RACE_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "a write batch lost a race; running it again");
                attempt += 1;
            }
            Err(BatchFailed::Race(e)) => {
                tracing::warn!(error = %e, "a write batch kept losing races; answered 503");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Overloaded));
                }
                return;
            }
            Err(BatchFailed::Broken(e)) => {
                conn.discard();
                tracing::error!(error = %e, jobs = size, "a write batch failed");
                return fail_all(replies, &e);
            }
        }
    }
}

enum BatchFailed {
    /// Another instance committed the same new keys first, or its
    /// transaction and this one waited for each other (PostgreSQL):
    /// rolling back this one lets the other finish, and the next run finds
    /// its rows.
    Race(StoreError),
    /// The transaction itself failed; nothing of the batch is stored.
    Broken(sqlx::Error),
}

/// The batch in one transaction, then one commit; the jobs' answers, in
/// order, once committed.
async fn attempt_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    works: &[Work],
) -> Result<Vec<Answer>, BatchFailed> {
    // As `db::begin_write`: on SQLite the write lock up front.
    let begun = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => conn.begin().await,
    };
    let mut tx = begun.map_err(BatchFailed::Broken)?;
    let answers = match batch::write(&mut tx, backend, services, works).await {
        Ok(answers) => answers,
        Err(e) => {
            // Dropping the transaction rolls it back too; this says so to
            // the database at once, so that the other instance goes on.
            let _ = tx.rollback().await;
            return Err(match e {
                e if e.lost_a_race() => BatchFailed::Race(e),
                StoreError::Database(e) => BatchFailed::Broken(e),
                e => BatchFailed::Broken(sqlx::Error::Protocol(e.to_string())),
            });
        }
    };
    match tx.commit().await {
        Ok(()) => Ok(answers),
        Err(e) if crate::error::is_deadlock(&e) => Err(BatchFailed::Race(e.into())),
        Err(e) => Err(BatchFailed::Broken(e)),
    }
}
