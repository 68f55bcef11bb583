//! Incidents: upserted by (service, key), in whatever order their start and
//! resolve arrive.

use crate::apply::{ApplyCtx, Table, move_id};
use crate::cursor::Paging;
use crate::db::{Arg, Sql, corrupt, flag, json, opt_ts, ts};
use crate::{IncidentRecord, ListQuery, Page, StoreError, Written};
use dorado_core::{
    DeliveryId, ExternalId, IncidentCause, IncidentId, IncidentKey, IncidentResolve, IncidentTimes,
    IncidentWrite, OrgId, ServiceId, Sha, Timestamp, ValidationError,
};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

fn cause_columns(cause: Option<&IncidentCause>) -> (Option<&'static str>, Option<&str>) {
    match cause {
        Some(IncidentCause::Deployment(ext)) => (Some("deployment"), Some(ext.as_str())),
        Some(IncidentCause::Commit(sha)) => (Some("commit"), Some(sha.as_str())),
        None => (None, None),
    }
}

/// A later write adds to the attributes an earlier one stored (a start's
/// title and a resolve's fields both stay) instead of replacing them.
fn merge_attributes(old: Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
            Value::Object(old)
        }
        (old, Value::Null) => old,
        (_, new) => new.clone(),
    }
}

fn to_text(value: &Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("attributes: {e}")))
}

/// An incident's times, in epoch millis, as its columns hold them.
///
/// `resolved_at`, which everything reads, is always `last_resolved_at`
/// unless a reopening at or after it exists (then NULL: open), so a row
/// tells its whole state. Rows written before migration 0004, and by
/// `dorado import` (whose event lines only replace), leave
/// `last_resolved_at` and `reopened_at` behind; they are read so that
/// `resolved_at` is the truth: when it is set it is the latest resolution,
/// and a reopening not before it was superseded by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Times {
    started: Option<i64>,
    resolved: Option<i64>,
    last_resolved: Option<i64>,
    reopened: Option<i64>,
}

impl Times {
    fn read(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Times {
            started: row.try_get("started_at")?,
            resolved: row.try_get("resolved_at")?,
            last_resolved: row.try_get("last_resolved_at")?,
            reopened: row.try_get("reopened_at")?,
        })
    }

    fn latest_resolution(&self) -> Option<i64> {
        self.resolved.or(self.last_resolved)
    }

    fn latest_reopening(&self) -> Option<i64> {
        self.reopened
            .filter(|&o| self.resolved.is_none_or(|r| o < r))
    }

    /// The times once `w` is applied.
    fn with(self, w: &IncidentWrite) -> Self {
        let ms = |t: Option<Timestamp>| t.map(Timestamp::millis);
        let (started, resolved, reopened) =
            (ms(w.started_at), ms(w.resolved_at), ms(w.reopened_at));
        match w.times {
            // Each event of a vendor's lifecycle adds what it saw: the
            // first start, the last resolution, the last reopening.
            IncidentTimes::Lifecycle => Self::settled(
                earliest(self.started, started),
                latest(self.latest_resolution(), resolved),
                latest(self.latest_reopening(), reopened),
            ),
            IncidentTimes::Replace | IncidentTimes::ArrivalStart => {
                let started = match w.times {
                    IncidentTimes::ArrivalStart => self.started.or(started),
                    _ => started.or(self.started),
                };
                match resolved {
                    Some(r) => self.resolved_at(r, started, reopened),
                    None => Self::settled(
                        started,
                        self.latest_resolution(),
                        reopened.or(self.latest_reopening()),
                    ),
                }
            }
        }
    }

    /// A resolution that replaces the latest one (the APIs, resolve
    /// commands): it is the last resolution now, and a stored reopening at
    /// or after it would contradict the sender, so it goes.
    fn resolved_at(self, at: i64, started: Option<i64>, reopened: Option<i64>) -> Self {
        let stored = self.latest_reopening().filter(|&o| o < at);
        Self::settled(started, Some(at), reopened.or(stored))
    }

    fn settled(started: Option<i64>, last: Option<i64>, reopened: Option<i64>) -> Self {
        let resolved = match (last, reopened) {
            (Some(l), Some(o)) if o >= l => None,
            (l, _) => l,
        };
        Times {
            started,
            resolved,
            last_resolved: last,
            reopened,
        }
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

/// Creates the incident, or updates the stored one: fields the write leaves
/// out keep their value, so a start that arrives after its resolve does not
/// reopen it; times combine as [`Times::with`] says.
pub(crate) async fn apply_write(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    w: &IncidentWrite,
) -> Result<Written, StoreError> {
    if let Some(service) = w.service {
        ctx.check_service(conn, service).await?;
    }
    let existing = sqlx::query(
        "SELECT id, attributes, started_at, resolved_at, last_resolved_at, reopened_at
         FROM incidents WHERE org_id = $1 AND COALESCE(service_id, 0) = $2 AND key = $3",
    )
    .bind(ctx.org.0)
    .bind(w.service.map_or(0, |s| s.0))
    .bind(w.key.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let (cause_kind, cause_value) = cause_columns(w.cause.as_ref());
    let Some(row) = existing else {
        let times = Times::default().with(w);
        let id = insert(
            conn,
            ctx,
            w.service,
            &w.key,
            w,
            times,
            cause_kind,
            cause_value,
        )
        .await?;
        return Ok(written(id, w.service, &w.key, true));
    };
    let id: i64 = row.try_get("id")?;
    let attributes = merge_attributes(json(&row, "attributes")?, &w.attributes);
    let times = Times::read(&row)?.with(w);
    sqlx::query(
        "UPDATE incidents SET title = COALESCE($1, title),
             started_at = $2, resolved_at = $3, occurred_at = COALESCE($2, $3, created_at),
             cause_kind = COALESCE($4, cause_kind), cause_value = COALESCE($5, cause_value),
             fixed_by = COALESCE($6, fixed_by), is_incident = $7, source = $8,
             attributes = $9, delivery_id = $10, updated_at = $11,
             last_resolved_at = $13, reopened_at = $14
         WHERE id = $12",
    )
    .bind(w.title.as_deref())
    .bind(times.started)
    .bind(times.resolved)
    .bind(cause_kind)
    .bind(cause_value)
    .bind(w.fixed_by.as_ref().map(ExternalId::as_str))
    .bind(i16::from(w.is_incident))
    .bind(w.source.as_str())
    .bind(to_text(&attributes)?)
    .bind(ctx.delivery.0)
    .bind(ctx.received_at.millis())
    .bind(id)
    .bind(times.last_resolved)
    .bind(times.reopened)
    .execute(&mut *conn)
    .await?;
    Ok(written(id, w.service, &w.key, false))
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    service: Option<ServiceId>,
    key: &IncidentKey,
    w: &IncidentWrite,
    times: Times,
    cause_kind: Option<&str>,
    cause_value: Option<&str>,
) -> Result<i64, StoreError> {
    let fresh: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (org_id, service_id, key, title, started_at, resolved_at,
             occurred_at, cause_kind, cause_value, fixed_by, is_incident, source, attributes,
             delivery_id, created_at, updated_at, last_resolved_at, reopened_at)
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($5, $6, $14), $7, $8, $9, $10, $11, $12,
             $13, $14, $14, $15, $16)
         RETURNING id",
    )
    .bind(ctx.org.0)
    .bind(service.map(|s| s.0))
    .bind(key.as_str())
    .bind(w.title.as_deref())
    .bind(times.started)
    .bind(times.resolved)
    .bind(cause_kind)
    .bind(cause_value)
    .bind(w.fixed_by.as_ref().map(ExternalId::as_str))
    .bind(i16::from(w.is_incident))
    .bind(w.source.as_str())
    .bind(to_text(&w.attributes)?)
    .bind(ctx.delivery.0)
    .bind(ctx.received_at.millis())
    .bind(times.last_resolved)
    .bind(times.reopened)
    .fetch_one(&mut *conn)
    .await?;
    match ctx.reuse.as_mut().and_then(|r| r.incident(service, key)) {
        Some(old) => {
            move_id(conn, Table::Incidents, fresh, old).await?;
            Ok(old)
        }
        None => Ok(fresh),
    }
}

fn written(id: i64, service: Option<ServiceId>, key: &IncidentKey, created: bool) -> Written {
    Written::Incident {
        id: IncidentId(id),
        service_id: service,
        key: key.clone(),
        created,
    }
}

/// Resolves by key; see `IncidentResolve` for `keep_existing` and
/// `create_missing`. The resolution replaces the latest one, as a
/// `Replace` write's does ([`Times::resolved_at`]); an incident opened
/// again has no resolution to keep.
pub(crate) async fn apply_resolve(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    r: &IncidentResolve,
) -> Result<Written, StoreError> {
    let rows = match r.service {
        Some(service) => {
            ctx.check_service(conn, service).await?;
            sqlx::query(
                "SELECT id, service_id, started_at, resolved_at, last_resolved_at, reopened_at
                 FROM incidents
                 WHERE org_id = $1 AND COALESCE(service_id, 0) = $2 AND key = $3",
            )
            .bind(ctx.org.0)
            .bind(service.0)
            .bind(r.key.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, service_id, started_at, resolved_at, last_resolved_at, reopened_at
                 FROM incidents
                 WHERE org_id = $1 AND key = $2 ORDER BY id LIMIT 2",
            )
            .bind(ctx.org.0)
            .bind(r.key.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
    };
    if rows.len() > 1 {
        return Err(ValidationError::single(
            "/service",
            format!(
                "several services have an incident '{}': name the service",
                r.key
            ),
        )
        .into());
    }
    let Some(row) = rows.first() else {
        if !r.create_missing {
            return Err(StoreError::NotFound(format!("incident '{}'", r.key)));
        }
        let w = IncidentWrite {
            service: r.service,
            key: r.key.clone(),
            title: None,
            started_at: None,
            resolved_at: Some(r.resolved_at),
            cause: None,
            fixed_by: None,
            is_incident: true,
            source: r.source.clone(),
            attributes: Value::Object(Default::default()),
            times: Default::default(),
            reopened_at: None,
        };
        let times = Times::default().with(&w);
        let id = insert(conn, ctx, r.service, &r.key, &w, times, None, None).await?;
        return Ok(written(id, r.service, &r.key, true));
    };
    let id: i64 = row.try_get("id")?;
    let service = row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId);
    let stored = Times::read(row)?;
    if !(r.keep_existing && stored.resolved.is_some()) {
        let times = stored.resolved_at(r.resolved_at.millis(), stored.started, None);
        sqlx::query(
            "UPDATE incidents SET resolved_at = $1,
                 occurred_at = COALESCE(started_at, $1, created_at),
                 last_resolved_at = $2, reopened_at = $3,
                 delivery_id = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(times.resolved)
        .bind(times.last_resolved)
        .bind(times.reopened)
        .bind(ctx.delivery.0)
        .bind(ctx.received_at.millis())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(written(id, service, &r.key, false))
}

/// The `cause_kind` and `cause_value` columns, read back.
pub(crate) fn cause_from(row: &AnyRow) -> Result<Option<IncidentCause>, StoreError> {
    let kind: Option<String> = row.try_get("cause_kind")?;
    let value: Option<String> = row.try_get("cause_value")?;
    Ok(match (kind.as_deref(), value) {
        (Some("deployment"), Some(v)) => {
            Some(IncidentCause::Deployment(ExternalId::from_trusted(v)))
        }
        (Some("commit"), Some(v)) => Some(IncidentCause::Commit(Sha::from_trusted(v))),
        (None, _) => None,
        (Some(other), _) => return Err(corrupt(format!("cause_kind = {other}"))),
    })
}

fn record_from(row: &AnyRow) -> Result<IncidentRecord, StoreError> {
    let cause = cause_from(row)?;
    Ok(IncidentRecord {
        id: IncidentId(row.try_get("id")?),
        key: IncidentKey::from_trusted(row.try_get::<String, _>("key")?),
        service_id: row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId),
        title: row.try_get("title")?,
        started_at: opt_ts(row, "started_at")?,
        resolved_at: opt_ts(row, "resolved_at")?,
        cause,
        fixed_by: row
            .try_get::<Option<String>, _>("fixed_by")?
            .map(ExternalId::from_trusted),
        is_incident: flag(row, "is_incident")?,
        source: row.try_get("source")?,
        attributes: json(row, "attributes")?,
        delivery_id: DeliveryId(row.try_get("delivery_id")?),
        updated_at: ts(row, "updated_at")?,
    })
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
    q: &ListQuery,
) -> Result<Page<IncidentRecord>, StoreError> {
    let paging = Paging::new(q)?;
    let mut sql = Sql::new(
        "SELECT id, key, service_id, title, started_at, resolved_at, occurred_at, cause_kind,
             cause_value, fixed_by, is_incident, source, attributes, delivery_id, updated_at
         FROM incidents WHERE org_id = ",
    );
    sql.bind(Arg::Int(org.0));
    if let Some(service) = q.service_id {
        sql.push(" AND service_id = ").bind(Arg::Int(service.0));
    }
    paging.finish_sql(&mut sql, "occurred_at", "id");
    let items = sql
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok((
                record_from(row)?,
                row.try_get("occurred_at")?,
                row.try_get("id")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(paging.page(items))
}
