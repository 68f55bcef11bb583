//! Rebuilds an organization's deployments, changes and incidents from its
//! delivery log, with the rules of the running version.

use crate::apply::{ApplyCtx, ReusedIds, ServiceCache, apply_all};
use crate::db::begin_write;
use crate::orgs::service_directory;
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
        for record in &page {
            report.deliveries += 1;
            let commands = match parse(record, &directory) {
                Ok(commands) => commands,
                Err(why) => {
                    tracing::warn!(delivery = record.id.0, %why, "reindex skips a delivery the rules refuse");
                    report.skipped += 1;
                    continue;
                }
            };
            let mut savepoint = tx.begin().await?;
            let mut ctx = ApplyCtx::new(org, record.id, record.received_at, &mut services)
                .reusing(&mut reuse);
            match apply_all(&mut savepoint, &mut ctx, &commands).await {
                Ok(_) => {
                    savepoint.commit().await?;
                    report.replayed += 1;
                }
                // What the data refuses now (an incident to resolve that no
                // longer exists, say) is skipped like a body the rules refuse.
                Err(
                    e
                    @ (StoreError::NotFound(_) | StoreError::Invalid(_) | StoreError::Conflict(_)),
                ) => {
                    savepoint.rollback().await?;
                    tracing::warn!(delivery = record.id.0, error = %e, "reindex skips a delivery");
                    report.skipped += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
    crate::versions::bump(&mut tx, org, &crate::Touched::everything()).await?;
    tx.commit().await?;
    Ok(report)
}
