//! Everything the DORA engine needs of one organization, read in one
//! consistent snapshot (one transaction) together with the data version it
//! belongs to.

use crate::StoreError;
use crate::db::{corrupt, flag, opt_ts};
use crate::incidents::cause_from;
use dorado_core::engine::{ChangeFact, DeploymentFact, Facts, IncidentFact};
use dorado_core::{
    DeployResult, DeploymentId, DeploymentKind, Environment, ExternalId, IncidentId, IncidentKey,
    OrgId, RepoKey, ServiceId, Sha, ShippedCommit,
};
use sqlx::{AnyPool, Row};
use std::collections::HashMap;

pub(crate) async fn load(pool: &AnyPool, org: OrgId) -> Result<(Facts, i64), StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT data_version, incident_link_window_seconds FROM organizations WHERE id = $1",
    )
    .bind(org.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("organization {org}")))?;
    let version: i64 = row.try_get("data_version")?;
    let link_window_seconds: Option<i64> = row.try_get("incident_link_window_seconds")?;

    let mut deployed: HashMap<i64, Vec<(RepoKey, Sha)>> = HashMap::new();
    for row in sqlx::query(
        "SELECT c.deployment_id, c.repo_key, c.sha FROM deployment_commits c
         JOIN deployments d ON d.id = c.deployment_id
         WHERE d.org_id = $1 ORDER BY c.deployment_id, c.ord",
    )
    .bind(org.0)
    .fetch_all(&mut *tx)
    .await?
    {
        deployed
            .entry(row.try_get("deployment_id")?)
            .or_default()
            .push((
                RepoKey::from_trusted(row.try_get::<String, _>("repo_key")?),
                Sha::from_trusted(row.try_get::<String, _>("sha")?),
            ));
    }

    let mut deployments = Vec::new();
    for row in sqlx::query(
        "SELECT id, external_id, service_id, environment, result, finished_at, shipped, kind,
                rework, lead_time_seconds
         FROM deployments WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(&mut *tx)
    .await?
    {
        let id: i64 = row.try_get("id")?;
        let shipped: Option<String> = row.try_get("shipped")?;
        let shipped = shipped
            .map(|text| serde_json::from_str::<Vec<ShippedCommit>>(&text))
            .transpose()
            .map_err(|e| corrupt(format!("deployments.shipped: {e}")))?
            .map(|list| {
                list.into_iter()
                    .map(|c| (c.repo_key, c.sha, c.committed_at))
                    .collect()
            });
        deployments.push(DeploymentFact {
            id: DeploymentId(id),
            external_id: row
                .try_get::<Option<String>, _>("external_id")?
                .map(ExternalId::from_trusted),
            service_id: ServiceId(row.try_get("service_id")?),
            environment: Environment::from_trusted(row.try_get::<String, _>("environment")?),
            result: DeployResult::parse(&row.try_get::<String, _>("result")?).map_err(corrupt)?,
            finished_at: opt_ts(&row, "finished_at")?,
            commits: deployed.remove(&id).unwrap_or_default(),
            shipped,
            kind: DeploymentKind::parse(&row.try_get::<String, _>("kind")?).map_err(corrupt)?,
            rework: flag(&row, "rework")?,
            lead_time_seconds: row.try_get("lead_time_seconds")?,
        });
    }

    let mut parents: HashMap<(String, String), Vec<Sha>> = HashMap::new();
    for row in sqlx::query(
        "SELECT repo_key, sha, parent_sha FROM change_parents WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(&mut *tx)
    .await?
    {
        parents
            .entry((row.try_get("repo_key")?, row.try_get("sha")?))
            .or_default()
            .push(Sha::from_trusted(row.try_get::<String, _>("parent_sha")?));
    }
    let mut changes = Vec::new();
    for row in sqlx::query(
        "SELECT repo_key, sha, committed_at, authored_at FROM changes WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(&mut *tx)
    .await?
    {
        let repo_key: String = row.try_get("repo_key")?;
        let sha: String = row.try_get("sha")?;
        let parents = parents
            .remove(&(repo_key.clone(), sha.clone()))
            .unwrap_or_default();
        changes.push(ChangeFact {
            repo_key: RepoKey::from_trusted(repo_key),
            sha: Sha::from_trusted(sha),
            parents,
            committed_at: opt_ts(&row, "committed_at")?,
            authored_at: opt_ts(&row, "authored_at")?,
        });
    }

    let mut incidents = Vec::new();
    for row in sqlx::query(
        "SELECT id, key, service_id, started_at, resolved_at, cause_kind, cause_value, fixed_by,
                is_incident
         FROM incidents WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(&mut *tx)
    .await?
    {
        incidents.push(IncidentFact {
            id: IncidentId(row.try_get("id")?),
            key: IncidentKey::from_trusted(row.try_get::<String, _>("key")?),
            service_id: row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId),
            started_at: opt_ts(&row, "started_at")?,
            resolved_at: opt_ts(&row, "resolved_at")?,
            cause: cause_from(&row)?,
            fixed_by: row
                .try_get::<Option<String>, _>("fixed_by")?
                .map(ExternalId::from_trusted),
            is_incident: flag(&row, "is_incident")?,
        });
    }
    tx.commit().await?;
    let facts = Facts {
        deployments,
        changes,
        incidents,
        link_window_seconds,
    };
    Ok((facts, version))
}
