//! Rebuilds an organization's deployments, changes and incidents from its
//! delivery log, with the rules of the running version.

use crate::apply::{ApplyCtx, ReusedIds, ServiceCache, apply_all};
use crate::db::begin_write;
use crate::orgs::service_directory;
use crate::plan::{self, Unit};
use crate::{Backend, DeliveryRecord, ReindexReport, StoreError, deliveries};
use dorado_core::{Command, DeliveryId, OrgId, ServiceDirectory};
use sqlx::{Acquire, AnyPool};

/// Deliveries read from the log at a time.
const PAGE: i64 = 200;

pub(crate) async fn run<F>(
    pool: &AnyPool,
    backend: Backend,
    org: OrgId,
    mut parse: F,
) -> Result<ReindexReport, StoreError>
where
    F: FnMut(&DeliveryRecord, &ServiceDirectory) -> Result<Vec<Command>, String> + Send,
{
    let mut tx = begin_write(pool, backend).await?;
    let directory = service_directory(&mut tx, org).await?;
    let mut reuse = ReusedIds::load(&mut tx, org).await?;
    for sql in [
        "DELETE FROM deployment_commits WHERE deployment_id IN
             (SELECT id FROM deployments WHERE org_id = $1)",
        "DELETE FROM deployments WHERE org_id = $1",
        "DELETE FROM change_parents WHERE org_id = $1",
        "DELETE FROM changes WHERE org_id = $1",
        "DELETE FROM incidents WHERE org_id = $1",
        "DELETE FROM pipeline_tasks WHERE org_id = $1",
        "DELETE FROM pipelines WHERE org_id = $1",
    ] {
        sqlx::query(sql).bind(org.0).execute(&mut *tx).await?;
    }
    let mut services = ServiceCache::new();
    let mut report = ReindexReport::default();
    let mut after = DeliveryId(0);
    loop {
        let page = deliveries::accepted_after(&mut tx, org, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        report.deliveries += page.len() as u64;
        let mut parsed = Vec::with_capacity(page.len());
        for record in &page {
            match parse(record, &directory) {
                Ok(commands) => parsed.push((record, commands)),
                Err(why) => {
                    tracing::warn!(delivery = record.id.0, %why, "reindex skips a delivery the rules refuse");
                    report.skipped += 1;
                }
            }
        }
        // Runs of deliveries the planner takes are planned together; a
        // pipeline's delivery goes alone, in its place.
        let mut start = 0;
        while start < parsed.len() {
            let (record, commands) = &parsed[start];
            if !plan::plans(commands) {
                let mut savepoint = tx.begin().await?;
                let mut ctx =
                    ApplyCtx::new(backend, org, record.id, record.received_at, &mut services)
                        .reusing(&mut reuse);
                let applied = apply_all(&mut savepoint, &mut ctx, commands).await;
                match applied {
                    Ok(_) => savepoint.commit().await?,
                    Err(StoreError::Database(e)) => return Err(e.into()),
                    Err(_) => savepoint.rollback().await?,
                }
                report.record(record.id, applied.map(|_| ()));
                start += 1;
                continue;
            }
            let end = parsed[start..]
                .iter()
                .position(|(_, c)| !plan::plans(c))
                .map_or(parsed.len(), |p| start + p);
            let units: Vec<Unit> = parsed[start..end]
                .iter()
                .map(|(record, commands)| Unit {
                    org,
                    delivery: record.id,
                    received_at: record.received_at,
                    commands,
                })
                .collect();
            let results =
                plan::apply(&mut tx, backend, &mut services, Some(&mut reuse), &units).await?;
            for ((record, _), result) in parsed[start..end].iter().zip(results) {
                report.record(record.id, result.map(|_| ()));
            }
            start = end;
        }
    }
    crate::versions::bump(&mut tx, org, &crate::Touched::everything()).await?;
    tx.commit().await?;
    Ok(report)
}

impl ReindexReport {
    /// Counts a delivery replayed, or skipped for what the data refuses
    /// now (an incident to resolve that no longer exists, say), like a
    /// body the rules refuse.
    fn record(&mut self, delivery: DeliveryId, applied: Result<(), StoreError>) {
        match applied {
            Ok(()) => self.replayed += 1,
            Err(e) => {
                tracing::warn!(delivery = delivery.0, error = %e, "reindex skips a delivery");
                self.skipped += 1;
            }
        }
    }
}
