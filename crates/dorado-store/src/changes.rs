//! Changes (commits) and their parents: the graph that decides what a
//! deployment shipped.

use crate::cursor::Paging;
use crate::db::{Arg, Sql, opt_ts};
use crate::{ChangeRecord, ListQuery, Page, StoreError};
use dorado_core::{DeliveryId, OrgId, RepoKey, Sha};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

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
