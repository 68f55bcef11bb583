//! The delivery log: every request, accepted or refused, with its body.

use crate::cursor::Paging;
use crate::db::{Arg, Sql, corrupt, flag, ts};
use crate::plan::sql::{LOOKUP, Table, Val, fetch, push_list};
use crate::{Backend, DeliveryRecord, ListQuery, NewDelivery, Outcome, Page, StoreError};
use dorado_core::{DeliveryId, OrgId, ServiceId, SourceId, TokenId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

const COLUMNS: &str = "id, org_id, service_id, token_id, user_id, dialect, route, \
    idempotency_key, received_at, accepted, status, error, source_id, ignored, body";

/// An accepted delivery found by its idempotency key.
pub(crate) struct Earlier {
    pub id: DeliveryId,
    pub body_sha256: String,
    pub outcome: Outcome,
}

pub(crate) async fn find_accepted_by_key(
    conn: &mut AnyConnection,
    org: OrgId,
    key: &str,
) -> Result<Option<Earlier>, StoreError> {
    let row = sqlx::query(
        "SELECT id, body_sha256, outcome FROM deliveries
         WHERE org_id = $1 AND idempotency_key = $2 AND accepted = 1",
    )
    .bind(org.0)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(Earlier::from_row).transpose()
}

impl Earlier {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let outcome: Option<String> = row.try_get("outcome")?;
        let outcome = match outcome {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| corrupt(format!("outcome: {e}")))?
            }
            None => Outcome::default(),
        };
        Ok(Earlier {
            id: DeliveryId(row.try_get("id")?),
            body_sha256: row.try_get("body_sha256")?,
            outcome,
        })
    }
}

/// The accepted deliveries of `org` with these idempotency keys, by key.
pub(crate) async fn find_accepted_by_keys(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    keys: &[&str],
) -> Result<HashMap<String, Earlier>, StoreError> {
    let mut found = HashMap::new();
    for part in keys.chunks(LOOKUP) {
        let mut sql = String::from(
            "SELECT id, idempotency_key, body_sha256, outcome FROM deliveries
             WHERE org_id = ? AND accepted = 1 AND idempotency_key IS NOT NULL
                 AND idempotency_key IN (",
        );
        push_list(&mut sql, part.len());
        sql.push(')');
        let mut values = vec![Val::Int(Some(org.0))];
        values.extend(part.iter().map(|k| Val::Text(Some(*k))));
        for row in fetch(conn, backend, &sql, &values).await? {
            found.insert(row.try_get("idempotency_key")?, Earlier::from_row(&row)?);
        }
    }
    Ok(found)
}

/// A delivery the writer's batch logs, its id reserved.
pub(crate) struct Logged<'a> {
    pub id: DeliveryId,
    pub delivery: &'a NewDelivery,
    pub body_sha256: String,
    pub status: u16,
    /// Why it was refused; `None` for an accepted one.
    pub error: Option<&'a str>,
    /// What an accepted one wrote, as JSON.
    pub outcome: Option<String>,
}

/// Logs a batch's deliveries with a few multi-row statements.
pub(crate) async fn insert_many(
    conn: &mut AnyConnection,
    backend: Backend,
    logged: &[Logged<'_>],
) -> Result<(), StoreError> {
    let mut values = Vec::with_capacity(logged.len() * DELIVERY.per_row);
    for l in logged {
        let d = l.delivery;
        let accepted = l.error.is_none();
        let ignored = d.ignored.as_ref().filter(|_| accepted);
        values.extend([
            Val::Int(Some(l.id.0)),
            Val::Int(Some(d.org_id.0)),
            Val::Int(d.service_id.map(|s| s.0)),
            Val::Int(d.token_id.map(|t| t.0)),
            Val::Int(d.user_id.map(|u| u.0)),
            Val::Text(Some(d.dialect.as_str())),
            Val::Text(Some(d.route.as_str())),
            Val::Text(d.idempotency_key.as_deref()),
            Val::Text(Some(l.body_sha256.as_str())),
            Val::Text(Some(d.body.as_str())),
            Val::Int(Some(d.received_at.millis())),
            Val::Small(i16::from(accepted)),
            Val::Int(Some(i64::from(l.status))),
            Val::Text(l.error),
            Val::Int(d.source_id.map(|s| s.0)),
            Val::Text(ignored.map(|i| i.reason.as_str())),
            Val::Text(ignored.and_then(|i| i.unmapped.as_deref())),
            Val::Text(l.outcome.as_deref()),
        ]);
    }
    DELIVERY.write(conn, backend, &values).await
}

const DELIVERY: Table = Table {
    head: "INSERT INTO deliveries (id, org_id, service_id, token_id, user_id, dialect, route,
               idempotency_key, body_sha256, body, received_at, accepted, status, error,
               source_id, ignored, unmapped, outcome)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 18,
    tail: "",
};

/// Logs a request; `error` is set for refused ones.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    d: &NewDelivery,
    body_sha256: &str,
    status: u16,
    error: Option<&str>,
) -> Result<DeliveryId, StoreError> {
    let accepted = error.is_none();
    let ignored = d.ignored.as_ref().filter(|_| accepted);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (org_id, service_id, token_id, user_id, dialect, route,
             idempotency_key, body_sha256, body, received_at, accepted, status, error,
             source_id, ignored, unmapped)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
    )
    .bind(d.org_id.0)
    .bind(d.service_id.map(|s| s.0))
    .bind(d.token_id.map(|t| t.0))
    .bind(d.user_id.map(|u| u.0))
    .bind(d.dialect.as_str())
    .bind(d.route.as_str())
    .bind(d.idempotency_key.as_deref())
    .bind(body_sha256)
    .bind(d.body.as_str())
    .bind(d.received_at.millis())
    .bind(i16::from(accepted))
    .bind(i32::from(status))
    .bind(error)
    .bind(d.source_id.map(|s| s.0))
    .bind(ignored.map(|i| i.reason.as_str()))
    .bind(ignored.and_then(|i| i.unmapped.as_deref()))
    .fetch_one(&mut *conn)
    .await?;
    Ok(DeliveryId(id))
}

/// What an accepted delivery wrote, and the status it was answered with.
pub(crate) async fn set_outcome(
    conn: &mut AnyConnection,
    id: DeliveryId,
    outcome: &Outcome,
    status: u16,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(outcome).map_err(|e| corrupt(format!("outcome: {e}")))?;
    sqlx::query("UPDATE deliveries SET outcome = $1, status = $2 WHERE id = $3")
        .bind(text)
        .bind(i32::from(status))
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn record_from(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let status: i64 = row.try_get("status")?;
    Ok(DeliveryRecord {
        id: DeliveryId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        service_id: row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId),
        token_id: row.try_get::<Option<i64>, _>("token_id")?.map(TokenId),
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        dialect: row.try_get("dialect")?,
        route: row.try_get("route")?,
        idempotency_key: row.try_get("idempotency_key")?,
        received_at: ts(row, "received_at")?,
        accepted: flag(row, "accepted")?,
        status: u16::try_from(status).map_err(|_| corrupt(format!("status = {status}")))?,
        error: row.try_get("error")?,
        source_id: row.try_get::<Option<i64>, _>("source_id")?.map(SourceId),
        ignored: row.try_get("ignored")?,
        body: row.try_get("body")?,
    })
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    q: &ListQuery,
) -> Result<Page<DeliveryRecord>, StoreError> {
    let paging = Paging::new(q)?;
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM deliveries WHERE org_id = "));
    sql.bind(Arg::Int(org.0));
    if let Some(service) = q.service_id {
        sql.push(" AND service_id = ").bind(Arg::Int(service.0));
    }
    paging.finish_sql(&mut sql, "received_at", "id");
    let rows = sql.fetch_all(conn).await?;
    let items = rows
        .iter()
        .map(|row| {
            let record = record_from(row)?;
            let (time, id) = (record.received_at.millis(), record.id.0);
            Ok((record, time, id))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(paging.page(items))
}

/// The organization's accepted deliveries after `after`, oldest first: what
/// `reindex` replays, a page at a time so that bodies need not all fit in
/// memory at once.
pub(crate) async fn accepted_after(
    conn: &mut AnyConnection,
    org: OrgId,
    after: DeliveryId,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries
         WHERE org_id = $1 AND accepted = 1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .bind(after.0)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(record_from).collect()
}

/// A native source's latest deliveries, newest first (its set-up page).
pub(crate) async fn recent_of_source(
    conn: &mut AnyConnection,
    org: OrgId,
    source: SourceId,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries WHERE org_id = $1 AND source_id = $2
         ORDER BY received_at DESC, id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .bind(source.0)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(record_from).collect()
}
