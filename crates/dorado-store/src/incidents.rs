//! Incidents: upserted by (service, key), in whatever order their start and
//! resolve arrive.

use crate::cursor::Paging;
use crate::db::{Arg, Sql, corrupt, flag, json, opt_ts, ts};
use crate::{IncidentRecord, ListQuery, Page, StoreError};
use dorado_core::{
    DeliveryId, ExternalId, IncidentCause, IncidentId, IncidentKey, OrgId, ServiceId, Sha,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

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
