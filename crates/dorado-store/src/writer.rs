//! Group commit. One fsync costs milliseconds, so one commit per request
//! would cap the service at a few hundred writes a second. Every write is
//! sent to one task that takes all the jobs queued meanwhile, runs each in
//! its own savepoint of one transaction, commits once, and only then
//! answers: a 2xx always means durably committed.

use crate::apply::{ApplyCtx, ServiceCache, apply_all};
use crate::db::{begin_write, sha256_hex};
use crate::versions::{self, Touched};
use crate::{Backend, Ingested, NewDelivery, StoreError, deliveries};
use dorado_core::Command;
use sqlx::{Acquire, AnyConnection, AnyPool};
use std::sync::{Arc, Mutex as SyncMutex};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Jobs waiting beyond this are refused at once (`StoreError::Overloaded`,
/// a 503 with `Retry-After`), so that a stalled database does not pile up
/// held connections.
pub(crate) const DEFAULT_QUEUE: usize = 4 * MAX_BATCH;
/// How often a job that lost a race with another instance runs again
/// before its request is answered 503.
const RACE_ATTEMPTS: usize = 4;
/// How often a batch that deadlocked with another instance's runs again
/// (each deadlock costs PostgreSQL's `deadlock_timeout`, 1 s by default).
const DEADLOCK_ATTEMPTS: usize = 8;

type Reply = oneshot::Sender<Result<Option<Ingested>, StoreError>>;

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

async fn run(
    pool: AnyPool,
    backend: Backend,
    lock: Arc<Mutex<()>>,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut services = ServiceCache::new();
    // `recv_many` returns 0 only once every sender is gone and the queue
    // is empty.
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let _write = lock.lock().await;
        let batch = std::mem::take(&mut jobs);
        let (pool, mut cache) = (pool.clone(), std::mem::take(&mut services));
        // A batch runs as its own task so that a panic in it (a bug) costs
        // that batch's answers, not every later write of the process.
        let task = tokio::spawn(async move {
            commit_batch(&pool, backend, &mut cache, batch).await;
            cache
        });
        match task.await {
            Ok(cache) => services = cache,
            Err(e) => tracing::error!(error = %e, "a write batch failed unanswered"),
        }
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

async fn commit_batch(
    pool: &AnyPool,
    backend: Backend,
    services: &mut ServiceCache,
    jobs: Vec<Job>,
) {
    let size = jobs.len();
    let (works, replies): (Vec<Work>, Vec<Reply>) =
        jobs.into_iter().map(|j| (j.work, j.reply)).unzip();
    let mut attempt = 1;
    loop {
        match attempt_batch(pool, backend, services, &works).await {
            Ok(answers) => {
                tracing::debug!(jobs = size, "write batch committed");
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
                return;
            }
            // Nothing was answered yet: the whole batch runs again, its
            // locks released so that the other instance could go on.
            Err(BatchFailed::Deadlock(e)) if attempt < DEADLOCK_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "a write batch deadlocked; running it again");
                attempt += 1;
            }
            Err(BatchFailed::Deadlock(e)) => {
                tracing::warn!(error = %e, "a write batch kept deadlocking; answered 503");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Overloaded));
                }
                return;
            }
            Err(BatchFailed::Broken(e)) => {
                tracing::error!(error = %e, jobs = size, "a write batch failed");
                return fail_all(replies, &e);
            }
        }
    }
}

enum BatchFailed {
    /// Another instance's transaction and this one waited for each other
    /// (PostgreSQL): rolling back this one lets the other finish.
    Deadlock(StoreError),
    /// The transaction itself failed; nothing of the batch is stored.
    Broken(sqlx::Error),
}

/// Each job in its own savepoint of one transaction, then one commit; the
/// jobs' answers, in order, once committed.
async fn attempt_batch(
    pool: &AnyPool,
    backend: Backend,
    services: &mut ServiceCache,
    works: &[Work],
) -> Result<Vec<Result<Option<Ingested>, StoreError>>, BatchFailed> {
    let mut tx = begin_write(pool, backend)
        .await
        .map_err(BatchFailed::Broken)?;
    let mut answers = Vec::with_capacity(works.len());
    for work in works {
        let mut attempt = 1;
        let answer = loop {
            let mut savepoint = tx.begin().await.map_err(BatchFailed::Broken)?;
            let result = run_job(&mut savepoint, services, work).await;
            match result {
                Ok(_) => savepoint.commit().await,
                Err(_) => savepoint.rollback().await,
            }
            .map_err(BatchFailed::Broken)?;
            match result {
                Err(e) if e.is_deadlock() => return Err(BatchFailed::Deadlock(e)),
                // Another instance committed the same keys meanwhile: run
                // again, and find its rows.
                Err(e) if e.lost_a_race() && attempt < RACE_ATTEMPTS => attempt += 1,
                Err(e) if e.lost_a_race() => {
                    tracing::warn!(error = %e, "a write kept losing races; answered 503");
                    break Err(StoreError::Overloaded);
                }
                result => break result,
            }
        };
        answers.push(answer);
    }
    match tx.commit().await {
        Ok(()) => Ok(answers),
        Err(e) if crate::error::is_deadlock(&e) => Err(BatchFailed::Deadlock(e.into())),
        Err(e) => Err(BatchFailed::Broken(e)),
    }
}

/// One job inside its savepoint. `Err` is the job's own refusal.
async fn run_job(
    conn: &mut AnyConnection,
    services: &mut ServiceCache,
    work: &Work,
) -> Result<Option<Ingested>, StoreError> {
    match work {
        Work::Ingest(delivery, commands) => {
            ingest(conn, services, delivery, commands).await.map(Some)
        }
        Work::Refused(delivery, status, reason) => {
            let sha = sha256_hex(delivery.body.as_bytes());
            deliveries::insert(conn, delivery, &sha, *status, Some(reason)).await?;
            Ok(None)
        }
    }
}

async fn ingest(
    conn: &mut AnyConnection,
    services: &mut ServiceCache,
    delivery: &NewDelivery,
    commands: &[Command],
) -> Result<Ingested, StoreError> {
    let body_sha256 = sha256_hex(delivery.body.as_bytes());
    if let Some(key) = &delivery.idempotency_key
        && let Some(earlier) = deliveries::find_accepted_by_key(conn, delivery.org_id, key).await?
    {
        if earlier.body_sha256 != body_sha256 {
            return Err(StoreError::Conflict(format!(
                "Idempotency-Key '{key}' was used with another body"
            )));
        }
        return Ok(Ingested {
            delivery_id: earlier.id,
            replayed: true,
            outcome: earlier.outcome,
        });
    }
    let id = deliveries::insert(conn, delivery, &body_sha256, 200, None).await?;
    let mut ctx = ApplyCtx::new(delivery.org_id, id, delivery.received_at, services);
    let mut outcome = apply_all(conn, &mut ctx, commands).await?;
    outcome.ignored = delivery.ignored.as_ref().map(|i| i.reason.clone());
    let status = if outcome.created() {
        delivery.created_status
    } else {
        200
    };
    deliveries::set_outcome(conn, id, &outcome, status).await?;
    let mut touched = Touched::default();
    for (command, written) in commands.iter().zip(&outcome.written) {
        touched.record(command, written);
    }
    versions::bump(conn, delivery.org_id, &touched).await?;
    Ok(Ingested {
        delivery_id: id,
        replayed: false,
        outcome,
    })
}
