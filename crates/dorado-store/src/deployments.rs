//! Deployments and the commits they deployed.

use crate::cursor::Paging;
use crate::db::{Arg, Sql, corrupt, flag, json, opt_ts, ts};
use crate::{DeploymentRecord, ListQuery, Page, StoreError};
use dorado_core::{
    DeliveryId, DeployResult, DeployedCommit, DeploymentId, DeploymentKind, Environment,
    ExternalId, OrgId, RepoKey, ServiceId, Sha,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

fn record_from(row: &AnyRow) -> Result<DeploymentRecord, StoreError> {
    let result: String = row.try_get("result")?;
    let kind: String = row.try_get("kind")?;
    let shipped: Option<String> = row.try_get("shipped")?;
    Ok(DeploymentRecord {
        id: DeploymentId(row.try_get("id")?),
        external_id: row
            .try_get::<Option<String>, _>("external_id")?
            .map(ExternalId::from_trusted),
        service_id: ServiceId(row.try_get("service_id")?),
        name: row.try_get("name")?,
        environment: Environment::from_trusted(row.try_get::<String, _>("environment")?),
        result: DeployResult::parse(&result).map_err(corrupt)?,
        kind: DeploymentKind::parse(&kind).map_err(corrupt)?,
        started_at: opt_ts(row, "started_at")?,
        finished_at: opt_ts(row, "finished_at")?,
        rework: flag(row, "rework")?,
        lead_time_seconds: row.try_get("lead_time_seconds")?,
        source: row.try_get("source")?,
        attributes: json(row, "attributes")?,
        commits: Vec::new(),
        shipped: shipped
            .map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("shipped: {e}"))))
            .transpose()?,
        delivery_id: DeliveryId(row.try_get("delivery_id")?),
        updated_at: ts(row, "updated_at")?,
    })
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    q: &ListQuery,
) -> Result<Page<DeploymentRecord>, StoreError> {
    let paging = Paging::new(q)?;
    let mut sql = Sql::new(
        "SELECT id, external_id, service_id, name, environment, result, kind, started_at,
             finished_at, occurred_at, rework, lead_time_seconds, source, attributes, shipped,
             delivery_id, updated_at
         FROM deployments WHERE org_id = ",
    );
    sql.bind(Arg::Int(org.0));
    if let Some(service) = q.service_id {
        sql.push(" AND service_id = ").bind(Arg::Int(service.0));
    }
    paging.finish_sql(&mut sql, "occurred_at", "id");
    let rows = sql.fetch_all(&mut *conn).await?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok((
                record_from(row)?,
                row.try_get("occurred_at")?,
                row.try_get("id")?,
            ))
        })
        .collect::<Result<Vec<(DeploymentRecord, i64, i64)>, StoreError>>()?;
    let ids: Vec<i64> = items.iter().map(|(d, _, _)| d.id.0).collect();
    let mut commits = commits_of(conn, &ids).await?;
    for (d, _, _) in &mut items {
        d.commits = commits.remove(&d.id.0).unwrap_or_default();
    }
    Ok(paging.page(items))
}

/// The commits of a page of deployments, in one query.
async fn commits_of(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<DeployedCommit>>, StoreError> {
    let mut out: HashMap<i64, Vec<DeployedCommit>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(
        "SELECT deployment_id, repo, repo_key, sha FROM deployment_commits WHERE deployment_id IN (",
    );
    sql.bind_list(ids.iter().map(|id| Arg::Int(*id)))
        .push(") ORDER BY deployment_id, ord");
    for row in sql.fetch_all(conn).await? {
        out.entry(row.try_get("deployment_id")?)
            .or_default()
            .push(DeployedCommit {
                repo: row.try_get("repo")?,
                repo_key: RepoKey::from_trusted(row.try_get::<String, _>("repo_key")?),
                sha: Sha::from_trusted(row.try_get::<String, _>("sha")?),
            });
    }
    Ok(out)
}
