//! Changes (commits) and their parents: the graph that decides what a
//! deployment shipped.

use crate::apply::ApplyCtx;
use crate::cursor::Paging;
use crate::db::{Arg, Sql, opt_ts};
use crate::{ChangeRecord, ListQuery, Page, StoreError, Written};
use dorado_core::{ChangeBatch, DeliveryId, OrgId, RepoKey, Sha, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Writes every commit of the batch: a known commit keeps what the new
/// write leaves out, and gains the parents it did not have. The request a
/// commit merged is one whole: a write that brings one replaces the stored
/// one, field by field absent ones included; a write without one (a push
/// that brings the merge commit's parents) keeps it.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    b: &ChangeBatch,
) -> Result<Written, StoreError> {
    let received = ctx.received_at.millis();
    for c in &b.commits {
        let request = c.request.as_ref();
        sqlx::query(
            "INSERT INTO changes (org_id, repo, repo_key, sha, committed_at, authored_at,
                 occurred_at, author, message, delivery_id, created_at, updated_at,
                 request_opened_at, request_head, request_base, request_commits)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($5, $6, $10), $7, $8, $9, $10, $10,
                 $11, $12, $13, $14)
             ON CONFLICT (org_id, repo_key, sha) DO UPDATE SET
                 repo = excluded.repo,
                 committed_at = COALESCE(excluded.committed_at, changes.committed_at),
                 authored_at = COALESCE(excluded.authored_at, changes.authored_at),
                 occurred_at = COALESCE(excluded.committed_at, changes.committed_at,
                     excluded.authored_at, changes.authored_at, changes.occurred_at),
                 author = COALESCE(excluded.author, changes.author),
                 message = COALESCE(excluded.message, changes.message),
                 delivery_id = excluded.delivery_id,
                 updated_at = excluded.updated_at,
                 request_head = CASE WHEN excluded.request_opened_at IS NULL
                     THEN changes.request_head ELSE excluded.request_head END,
                 request_base = CASE WHEN excluded.request_opened_at IS NULL
                     THEN changes.request_base ELSE excluded.request_base END,
                 request_commits = CASE WHEN excluded.request_opened_at IS NULL
                     THEN changes.request_commits ELSE excluded.request_commits END,
                 request_opened_at = COALESCE(excluded.request_opened_at,
                     changes.request_opened_at)",
        )
        .bind(ctx.org.0)
        .bind(b.repo.as_str())
        .bind(b.repo_key.as_str())
        .bind(c.sha.as_str())
        .bind(c.committed_at.map(Timestamp::millis))
        .bind(c.authored_at.map(Timestamp::millis))
        .bind(c.author.as_deref())
        .bind(c.message.as_deref())
        .bind(ctx.delivery.0)
        .bind(received)
        .bind(request.map(|r| r.opened_at.millis()))
        .bind(request.and_then(|r| r.head.as_ref()).map(Sha::as_str))
        .bind(request.and_then(|r| r.base.as_ref()).map(Sha::as_str))
        .bind(request.and_then(|r| r.commits).map(i64::from))
        .execute(&mut *conn)
        .await?;
        for (ord, parent) in c.parents.iter().enumerate() {
            sqlx::query(
                "INSERT INTO change_parents (org_id, repo_key, sha, parent_sha, ord, delivery_id)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.org.0)
            .bind(b.repo_key.as_str())
            .bind(c.sha.as_str())
            .bind(parent.as_str())
            .bind(ord as i64)
            .bind(ctx.delivery.0)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(Written::Changes {
        repo_key: b.repo_key.clone(),
        commits: b.commits.len(),
    })
}

fn record_from(row: &AnyRow) -> Result<ChangeRecord, StoreError> {
    Ok(ChangeRecord {
        repo: row.try_get("repo")?,
        repo_key: RepoKey::from_trusted(row.try_get::<String, _>("repo_key")?),
        sha: Sha::from_trusted(row.try_get::<String, _>("sha")?),
        parents: Vec::new(),
        committed_at: opt_ts(row, "committed_at")?,
        authored_at: opt_ts(row, "authored_at")?,
        author: row.try_get("author")?,
        message: row.try_get("message")?,
        delivery_id: DeliveryId(row.try_get("delivery_id")?),
    })
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    q: &ListQuery,
) -> Result<Page<ChangeRecord>, StoreError> {
    let paging = Paging::new(q)?;
    let mut sql = Sql::new(
        "SELECT id, repo, repo_key, sha, committed_at, authored_at, occurred_at, author,
             message, delivery_id
         FROM changes WHERE org_id = ",
    );
    sql.bind(Arg::Int(org.0));
    if let Some(service) = q.service_id {
        // A service's changes are those of the repositories it deployed.
        sql.push(
            " AND repo_key IN (SELECT dc.repo_key FROM deployment_commits dc
                 JOIN deployments d ON d.id = dc.deployment_id
                 WHERE d.org_id = $1 AND d.service_id = ",
        )
        .bind(Arg::Int(service.0))
        .push(")");
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
        .collect::<Result<Vec<(ChangeRecord, i64, i64)>, StoreError>>()?;
    let mut parents = parents_of(
        conn,
        org,
        items.iter().map(|(c, _, _)| (&c.repo_key, &c.sha)),
    )
    .await?;
    for (c, _, _) in &mut items {
        let key = (c.repo_key.as_str().to_owned(), c.sha.as_str().to_owned());
        c.parents = parents.remove(&key).unwrap_or_default();
    }
    Ok(paging.page(items))
}

/// The parents of a page of changes, in one query, by (repo_key, sha): the
/// unique key of the parents' rows, so one probe per change (issue 3: no
/// index of parents by sha alone is kept).
async fn parents_of<'a>(
    conn: &mut AnyConnection,
    org: OrgId,
    changes: impl Iterator<Item = (&'a RepoKey, &'a Sha)>,
) -> Result<HashMap<(String, String), Vec<Sha>>, StoreError> {
    let mut keys: Vec<(&str, &str)> = changes.map(|(r, s)| (r.as_str(), s.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out: HashMap<(String, String), Vec<Sha>> = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    // A VALUES list joined to the unique index, as the import looks up
    // deployments: both backends name its columns column1 and column2.
    let mut sql = Sql::new("SELECT p.repo_key, p.sha, p.parent_sha FROM (VALUES ");
    for (i, (repo_key, sha)) in keys.iter().enumerate() {
        sql.push(if i > 0 { ", (" } else { "(" })
            .bind(Arg::Text((*repo_key).to_owned()))
            .push(", ")
            .bind(Arg::Text((*sha).to_owned()))
            .push(")");
    }
    sql.push(") AS k JOIN change_parents p ON p.org_id = ")
        .bind(Arg::Int(org.0))
        .push(" AND p.repo_key = k.column1 AND p.sha = k.column2 ORDER BY p.ord, p.id");
    for row in sql.fetch_all(conn).await? {
        let key = (row.try_get("repo_key")?, row.try_get("sha")?);
        let parent: String = row.try_get("parent_sha")?;
        out.entry(key).or_default().push(Sha::from_trusted(parent));
    }
    Ok(out)
}
