//! Deployments and the commits they deployed.

use crate::apply::{ApplyCtx, Table, move_id};
use crate::cursor::Paging;
use crate::db::{Arg, Sql, corrupt, flag, json, opt_ts, ts};
use crate::{DeploymentRecord, ListQuery, Page, StoreError, Written};
use dorado_core::{
    DeliveryId, DeployResult, DeployedCommit, DeploymentId, DeploymentKind, DeploymentWrite,
    Environment, ExternalId, OrgId, RepoKey, ServiceId, Sha, Timestamp,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

fn to_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("json: {e}")))
}

/// A final result: nothing a vendor reports at the same instant replaces it.
fn is_final(result: DeployResult) -> bool {
    matches!(
        result,
        DeployResult::Success | DeployResult::Failure | DeployResult::Aborted
    )
}

/// Whether a stored state, reached at `stored_at` (`None`: written by an
/// API, which has no order), stands against a write of a state reached at
/// `at`. Vendors send one deployment's states as separate events in any
/// order, so the later state wins, and at one instant a final result wins
/// over `in_progress` or `pending` (GitHub stamps a status and the next one
/// within the same second). Otherwise the newer write wins.
fn stored_state_stands(
    stored_at: Option<i64>,
    stored: DeployResult,
    at: Option<Timestamp>,
    result: DeployResult,
) -> bool {
    let (Some(stored_at), Some(at)) = (stored_at, at.map(Timestamp::millis)) else {
        return false;
    };
    stored_at > at || (stored_at == at && is_final(stored) && !is_final(result))
}

/// Creates the deployment, or replaces every field and the commits of the
/// one with the same external id in the same service, unless the stored
/// one reports a later state (see [`stored_state_stands`]). A write
/// without `state_at` keeps the stored one: a vendor's stale event that
/// arrives after an API's replacement still loses to the vendor's newer
/// states.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    w: &DeploymentWrite,
) -> Result<Written, StoreError> {
    ctx.check_service(conn, w.service).await?;
    let stored = match &w.external_id {
        Some(ext) => {
            sqlx::query(
                "SELECT id, state_at, result FROM deployments
                 WHERE service_id = $1 AND external_id = $2",
            )
            .bind(w.service.0)
            .bind(ext.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }
        None => None,
    };
    let existing: Option<i64> = stored.as_ref().map(|r| r.try_get("id")).transpose()?;
    if let (Some(row), Some(id)) = (&stored, existing) {
        let result: String = row.try_get("result")?;
        let result = DeployResult::parse(&result).map_err(corrupt)?;
        if stored_state_stands(row.try_get("state_at")?, result, w.state_at, w.result) {
            // A late `running` still tells when the deployment started.
            if let Some(started) = w.started_at {
                sqlx::query(
                    "UPDATE deployments SET started_at = $1,
                         occurred_at = COALESCE(finished_at, $1, created_at)
                     WHERE id = $2 AND started_at IS NULL",
                )
                .bind(started.millis())
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            return Ok(Written::Deployment {
                id: DeploymentId(id),
                service_id: w.service,
                external_id: w.external_id.clone(),
                created: false,
            });
        }
    }
    let shipped = w.shipped.as_ref().map(to_text).transpose()?;
    let attributes = to_text(&w.attributes)?;
    let id = match existing {
        Some(id) => {
            // A vendor's later state keeps the start an earlier one gave
            // (GitLab's `success` does not repeat `running`'s time); an
            // API write replaces it.
            sqlx::query(
                "UPDATE deployments SET name = $1, environment = $2, result = $3, kind = $4,
                     started_at = CASE WHEN $15 IS NULL THEN $5 ELSE COALESCE($5, started_at) END,
                     finished_at = $6,
                     occurred_at = COALESCE($6,
                         CASE WHEN $15 IS NULL THEN $5 ELSE COALESCE($5, started_at) END,
                         created_at),
                     rework = $7, lead_time_seconds = $8, source = $9, attributes = $10,
                     shipped = $11, delivery_id = $12, updated_at = $13,
                     state_at = COALESCE($15, state_at)
                 WHERE id = $14",
            )
            .bind(w.name.as_deref())
            .bind(w.environment.as_str())
            .bind(w.result.as_str())
            .bind(w.kind.as_str())
            .bind(w.started_at.map(Timestamp::millis))
            .bind(w.finished_at.map(Timestamp::millis))
            .bind(i16::from(w.rework))
            .bind(w.lead_time_seconds)
            .bind(w.source.as_str())
            .bind(attributes)
            .bind(shipped)
            .bind(ctx.delivery.0)
            .bind(ctx.received_at.millis())
            .bind(id)
            .bind(w.state_at.map(Timestamp::millis))
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM deployment_commits WHERE deployment_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            let received = ctx.received_at.millis();
            let fresh: i64 = sqlx::query_scalar(
                "INSERT INTO deployments (org_id, service_id, external_id, name, environment,
                     result, kind, started_at, finished_at, occurred_at, rework,
                     lead_time_seconds, source, attributes, shipped, delivery_id,
                     created_at, updated_at, state_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($9, $8, $15), $10, $11,
                     $12, $13, $14, $16, $15, $15, $17)
                 RETURNING id",
            )
            .bind(ctx.org.0)
            .bind(w.service.0)
            .bind(w.external_id.as_ref().map(ExternalId::as_str))
            .bind(w.name.as_deref())
            .bind(w.environment.as_str())
            .bind(w.result.as_str())
            .bind(w.kind.as_str())
            .bind(w.started_at.map(Timestamp::millis))
            .bind(w.finished_at.map(Timestamp::millis))
            .bind(i16::from(w.rework))
            .bind(w.lead_time_seconds)
            .bind(w.source.as_str())
            .bind(attributes)
            .bind(shipped)
            .bind(received)
            .bind(ctx.delivery.0)
            .bind(w.state_at.map(Timestamp::millis))
            .fetch_one(&mut *conn)
            .await?;
            let n = ctx.anonymous_deployments;
            if w.external_id.is_none() {
                ctx.anonymous_deployments += 1;
            }
            let old = ctx
                .reuse
                .as_mut()
                .and_then(|r| r.deployment(w.service, w.external_id.as_ref(), ctx.delivery, n));
            match old {
                Some(old) => {
                    move_id(conn, Table::Deployments, fresh, old).await?;
                    old
                }
                None => fresh,
            }
        }
    };
    for (ord, c) in w.commits.iter().enumerate() {
        sqlx::query(
            "INSERT INTO deployment_commits (deployment_id, ord, repo, repo_key, sha)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(ord as i64)
        .bind(c.repo.as_str())
        .bind(c.repo_key.as_str())
        .bind(c.sha.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(Written::Deployment {
        id: DeploymentId(id),
        service_id: w.service,
        external_id: w.external_id.clone(),
        created: existing.is_none(),
    })
}

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
