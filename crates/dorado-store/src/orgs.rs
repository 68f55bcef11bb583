//! Organizations and their services.

use crate::db::{is_unique_violation, ts};
use crate::{Org, Service, StoreError};
use dorado_core::{
    OrgId, OrgName, ServiceDirectory, ServiceId, ServiceName, Timestamp, ValidationError,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

const ORG_COLUMNS: &str = "id, name, incident_link_window_seconds, created_at";

fn org_from(row: &AnyRow) -> Result<Org, StoreError> {
    Ok(Org {
        id: OrgId(row.try_get("id")?),
        name: OrgName::from_trusted(row.try_get::<String, _>("name")?),
        incident_link_window_seconds: row.try_get("incident_link_window_seconds")?,
        created_at: ts(row, "created_at")?,
    })
}

fn service_from(row: &AnyRow) -> Result<Service, StoreError> {
    Ok(Service {
        id: ServiceId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: ServiceName::from_trusted(row.try_get::<String, _>("name")?),
        created_at: ts(row, "created_at")?,
        aliases: Vec::new(),
    })
}

pub(crate) async fn create_org(
    conn: &mut AnyConnection,
    name: &OrgName,
) -> Result<Org, StoreError> {
    let row = sqlx::query(
        "INSERT INTO organizations (name, created_at) VALUES ($1, $2)
         RETURNING id, name, incident_link_window_seconds, created_at",
    )
    .bind(name.as_str())
    .bind(Timestamp::now().millis())
    .fetch_one(conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => StoreError::Conflict(format!("an organization named '{name}' exists")),
        false => e.into(),
    })?;
    org_from(&row)
}

pub(crate) async fn list_orgs(pool: &AnyPool) -> Result<Vec<Org>, StoreError> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(org_from).collect()
}

/// How a path or argument names an organization: by id when it is all
/// digits, else by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrgKey<'a> {
    Id(OrgId),
    Name(&'a str),
    /// All digits, but no id can be that large.
    Nothing,
}

impl<'a> OrgKey<'a> {
    pub(crate) fn of(id_or_name: &'a str) -> Self {
        let key = id_or_name.trim();
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            key.parse::<i64>()
                .map_or(OrgKey::Nothing, |id| OrgKey::Id(OrgId(id)))
        } else {
            OrgKey::Name(key)
        }
    }
}

pub(crate) async fn find_org(pool: &AnyPool, key: OrgKey<'_>) -> Result<Option<Org>, StoreError> {
    let row = match key {
        OrgKey::Nothing => return Ok(None),
        OrgKey::Id(id) => {
            let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.0)
                .fetch_optional(pool)
                .await?
        }
        OrgKey::Name(name) => {
            let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE name = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(name)
                .fetch_optional(pool)
                .await?
        }
    };
    row.as_ref().map(org_from).transpose()
}

pub(crate) async fn set_incident_link_window(
    conn: &mut AnyConnection,
    org: OrgId,
    seconds: Option<i64>,
) -> Result<Org, StoreError> {
    if seconds.is_some_and(|s| s <= 0) {
        return Err(ValidationError::single(
            "/incident_link_window_seconds",
            "must be a positive number of seconds",
        )
        .into());
    }
    // The window changes every time link: all figures are stale at once.
    let row = sqlx::query(
        "UPDATE organizations SET incident_link_window_seconds = $1, data_version = data_version + 1
         WHERE id = $2
         RETURNING id, name, incident_link_window_seconds, created_at, data_version",
    )
    .bind(seconds)
    .bind(org.0)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("organization {org}")))?;
    let version: i64 = row.try_get("data_version")?;
    crate::versions::stamp(conn, org, version, &crate::Touched::everything()).await?;
    org_from(&row)
}

pub(crate) async fn org_exists<'e, E>(db: E, org: OrgId) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT id FROM organizations WHERE id = $1")
        .bind(org.0)
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}

pub(crate) async fn create_service(
    conn: &mut AnyConnection,
    org: OrgId,
    name: &ServiceName,
) -> Result<Service, StoreError> {
    if !org_exists(&mut *conn, org).await? {
        return Err(StoreError::NotFound(format!("organization {org}")));
    }
    let row = sqlx::query(
        "INSERT INTO services (org_id, name, created_at) VALUES ($1, $2, $3)
         RETURNING id, org_id, name, created_at",
    )
    .bind(org.0)
    .bind(name.as_str())
    .bind(Timestamp::now().millis())
    .fetch_one(conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => StoreError::Conflict(format!("the organization has a service named '{name}'")),
        false => e.into(),
    })?;
    service_from(&row)
}

pub(crate) async fn list_services(pool: &AnyPool, org: OrgId) -> Result<Vec<Service>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, org_id, name, created_at FROM services WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(pool)
    .await?;
    let mut services = rows
        .iter()
        .map(service_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut conn = pool.acquire().await?;
    for (service, alias, _) in crate::sources::aliases(&mut conn, org).await? {
        if let Some(s) = services.iter_mut().find(|s| s.id == service) {
            s.aliases.push(alias);
        }
    }
    Ok(services)
}

pub(crate) async fn service_by_id(
    pool: &AnyPool,
    id: ServiceId,
) -> Result<Option<Service>, StoreError> {
    let row = sqlx::query("SELECT id, org_id, name, created_at FROM services WHERE id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(service_from).transpose()
}

pub(crate) async fn service_directory(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<ServiceDirectory, StoreError> {
    let rows = sqlx::query("SELECT id, name FROM services WHERE org_id = $1")
        .bind(org.0)
        .fetch_all(&mut *conn)
        .await?;
    let services = rows
        .iter()
        .map(|r| -> Result<_, StoreError> {
            let name: String = r.try_get("name")?;
            Ok((ServiceId(r.try_get("id")?), ServiceName::from_trusted(name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut dir = ServiceDirectory::new(services);
    for (service, _, key) in crate::sources::aliases(conn, org).await? {
        dir.add_alias(key, service);
    }
    Ok(dir)
}

/// Whether the service belongs to the organization: commands carry ids that
/// a dialect resolved, but one organization's write must never land in
/// another's service.
pub(crate) async fn service_in_org(
    conn: &mut AnyConnection,
    org: OrgId,
    service: ServiceId,
) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT id FROM services WHERE id = $1 AND org_id = $2")
        .bind(service.0)
        .bind(org.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

pub(crate) async fn data_version(pool: &AnyPool, org: OrgId) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT data_version FROM organizations WHERE id = $1")
        .bind(org.0)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(StoreError::NotFound(format!("organization {org}"))),
    }
}
