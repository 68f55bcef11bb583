//! Native sources and their secrets, and the aliases by which sources know
//! services.
//!
//! A source's secret is kept as given, unlike a token's: GitHub and
//! PagerDuty sign each delivery with it (HMAC), so checking one needs the
//! secret itself, not a hash of it. It is shown once, at creation or
//! rotation, and never listed.

use crate::db::{corrupt, is_unique_violation, opt_ts, ts};
use crate::orgs::org_exists;
use crate::{NewSource, Source, StoreError};
use base64::Engine;
use dorado_core::source::alias_key;
use dorado_core::{OrgId, ServiceId, SourceId, SourceKind, Timestamp, ValidationError};
use rand::RngExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

const COLUMNS: &str = "id, org_id, kind, name, secret, previous_secret, previous_until, \
    deploy_workflows, created_at";
/// How long a rotated-out secret is still accepted (api.md).
const ROTATION_GRACE_MS: i64 = 24 * 3600 * 1000;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MAX_NAME: usize = 100;
const MAX_SECRET: usize = 1_000;

/// A new secret in the form the tool takes. GitLab's is a Standard
/// Webhooks key (`whsec_` and 32 random bytes in base64), which GitLab
/// accepts both as the hook's secret token and as its signing token, so one
/// secret serves both checks. PagerDuty makes its own signing secret, which
/// the user gives Dorado; CDEvents senders use ingest tokens.
fn new_secret(kind: SourceKind) -> Option<String> {
    let mut rng = rand::rng();
    match kind {
        SourceKind::Github => Some(
            (0..40)
                .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
                .collect(),
        ),
        SourceKind::Gitlab => {
            let bytes: [u8; 32] = rng.random();
            Some(format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ))
        }
        SourceKind::Pagerduty | SourceKind::Cdevents => None,
    }
}

fn source_from(row: &AnyRow) -> Result<Source, StoreError> {
    let kind: String = row.try_get("kind")?;
    let workflows: String = row.try_get("deploy_workflows")?;
    let secret: Option<String> = row.try_get("secret")?;
    Ok(Source {
        id: SourceId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        kind: SourceKind::parse(&kind).map_err(corrupt)?,
        name: row.try_get("name")?,
        deploy_workflows: serde_json::from_str(&workflows)
            .map_err(|e| corrupt(format!("deploy_workflows: {e}")))?,
        has_secret: secret.is_some(),
        previous_secret_until: opt_ts(row, "previous_until")?,
        created_at: ts(row, "created_at")?,
        last_accepted_at: None,
        last_refused_at: None,
    })
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && !name.chars().any(char::is_control)
        && !name.bytes().all(|b| b.is_ascii_digit())
        && !name.contains('/');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::single(
            "/name",
            format!(
                "must be 1 to {MAX_NAME} printable characters, without '/', and not all digits"
            ),
        )
        .into())
    }
}

fn check_secret(secret: &str) -> Result<(), StoreError> {
    if secret.trim().is_empty() || secret.len() > MAX_SECRET || secret.chars().any(char::is_control)
    {
        return Err(ValidationError::single(
            "/secret",
            format!("must be 1 to {MAX_SECRET} printable characters"),
        )
        .into());
    }
    Ok(())
}

fn check_workflows(workflows: &[String]) -> Result<(), StoreError> {
    for (i, w) in workflows.iter().enumerate() {
        if w.trim().is_empty() || w.chars().count() > MAX_NAME || w.chars().any(char::is_control) {
            return Err(ValidationError::single(
                format!("/deploy_workflows/{i}"),
                format!("must be 1 to {MAX_NAME} printable characters"),
            )
            .into());
        }
    }
    Ok(())
}

pub(crate) async fn create(
    pool: &AnyPool,
    org: OrgId,
    kind: SourceKind,
    name: Option<&str>,
    deploy_workflows: &[String],
    secret: Option<String>,
) -> Result<NewSource, StoreError> {
    if !org_exists(pool, org).await? {
        return Err(StoreError::NotFound(format!("organization {org}")));
    }
    check_workflows(deploy_workflows)?;
    let secret = match secret {
        Some(s) => {
            if !kind.has_secret() {
                return Err(ValidationError::single(
                    "/secret",
                    "a cdevents source has no secret: its senders use an ingest token",
                )
                .into());
            }
            check_secret(&s)?;
            Some(s.trim().to_owned())
        }
        None => new_secret(kind),
    };
    let workflows = serde_json::to_string(deploy_workflows).map_err(corrupt)?;
    let sql = format!(
        "INSERT INTO sources (org_id, kind, name, secret, deploy_workflows, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    // Without a name, the kind; a second source of that kind gets `-2`...
    let given = name.map(str::trim);
    for n in 1..=100 {
        let name = match given {
            Some(g) => g.to_owned(),
            None if n == 1 => kind.as_str().to_owned(),
            None => format!("{kind}-{n}"),
        };
        check_name(&name)?;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(org.0)
            .bind(kind.as_str())
            .bind(name.as_str())
            .bind(secret.as_deref())
            .bind(workflows.as_str())
            .bind(Timestamp::now().millis())
            .fetch_one(pool)
            .await;
        match inserted {
            Ok(row) => {
                return Ok(NewSource {
                    source: source_from(&row)?,
                    secret,
                });
            }
            Err(e) if is_unique_violation(&e) && given.is_none() => continue,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "the organization has a source named '{name}'"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict(format!(
        "the organization has too many {kind} sources: give a name"
    )))
}

/// The organization's sources that are not deleted, with the times of
/// their last accepted and refused deliveries.
pub(crate) async fn list(pool: &AnyPool, org: OrgId) -> Result<Vec<Source>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sources WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .fetch_all(pool)
        .await?;
    let mut sources = rows
        .iter()
        .map(source_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut conn = pool.acquire().await?;
    for s in &mut sources {
        with_last_deliveries(&mut conn, s).await?;
    }
    Ok(sources)
}

async fn with_last_deliveries(conn: &mut AnyConnection, s: &mut Source) -> Result<(), StoreError> {
    for accepted in [true, false] {
        // One probe of (source_id, accepted, received_at) each.
        let row = sqlx::query(
            "SELECT received_at FROM deliveries WHERE source_id = $1 AND accepted = $2
             ORDER BY received_at DESC LIMIT 1",
        )
        .bind(s.id.0)
        .bind(i16::from(accepted))
        .fetch_optional(&mut *conn)
        .await?;
        let at = row.map(|r| ts(&r, "received_at")).transpose()?;
        if accepted {
            s.last_accepted_at = at;
        } else {
            s.last_refused_at = at;
        }
    }
    Ok(())
}

/// A source that is not deleted, by id or name, with the times of its last
/// accepted and refused deliveries.
pub(crate) async fn find(
    pool: &AnyPool,
    org: OrgId,
    id_or_name: &str,
) -> Result<Option<Source>, StoreError> {
    let Some(row) = find_row(pool, org, id_or_name).await? else {
        return Ok(None);
    };
    let mut source = source_from(&row)?;
    let mut conn = pool.acquire().await?;
    with_last_deliveries(&mut conn, &mut source).await?;
    Ok(Some(source))
}

async fn find_row(
    pool: &AnyPool,
    org: OrgId,
    id_or_name: &str,
) -> Result<Option<AnyRow>, StoreError> {
    let key = id_or_name.trim();
    let by_id = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    let sql = format!(
        "SELECT {COLUMNS} FROM sources WHERE org_id = $1 AND deleted_at IS NULL AND {} = $2",
        if by_id { "id" } else { "name" }
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0);
    Ok(if by_id {
        let Ok(id) = key.parse::<i64>() else {
            return Ok(None);
        };
        query.bind(id).fetch_optional(pool).await?
    } else {
        query.bind(key).fetch_optional(pool).await?
    })
}

/// The deploy workflows of every source of the organization, deleted ones
/// included: a reindex reads their deliveries as they were read.
pub(crate) async fn configs(
    pool: &AnyPool,
    org: OrgId,
) -> Result<Vec<(SourceId, Vec<String>)>, StoreError> {
    let rows = sqlx::query("SELECT id, deploy_workflows FROM sources WHERE org_id = $1")
        .bind(org.0)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let workflows: String = r.try_get("deploy_workflows")?;
            let workflows = serde_json::from_str(&workflows)
                .map_err(|e| corrupt(format!("deploy_workflows: {e}")))?;
            Ok((SourceId(r.try_get("id")?), workflows))
        })
        .collect()
}

/// A source that is not deleted, by id or name, with the secrets a delivery
/// may be signed with at `now`: one read for each delivery.
pub(crate) async fn for_delivery(
    pool: &AnyPool,
    org: OrgId,
    id_or_name: &str,
    now: Timestamp,
) -> Result<Option<(Source, Vec<String>)>, StoreError> {
    let Some(row) = find_row(pool, org, id_or_name).await? else {
        return Ok(None);
    };
    Ok(Some((source_from(&row)?, secrets(&row, now)?)))
}

/// The current secret, and the one rotated out less than 24 hours ago.
fn secrets(row: &AnyRow, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    if let Some(s) = row.try_get::<Option<String>, _>("secret")? {
        out.push(s);
    }
    let until: Option<i64> = row.try_get("previous_until")?;
    if let Some(s) = row.try_get::<Option<String>, _>("previous_secret")?
        && until.is_some_and(|u| u > now.millis())
    {
        out.push(s);
    }
    Ok(out)
}

pub(crate) async fn rotate(
    pool: &AnyPool,
    org: OrgId,
    id: SourceId,
    secret: Option<String>,
) -> Result<NewSource, StoreError> {
    let kind: Option<String> = sqlx::query_scalar(
        "SELECT kind FROM sources WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL",
    )
    .bind(id.0)
    .bind(org.0)
    .fetch_optional(pool)
    .await?;
    let kind = kind.ok_or_else(|| StoreError::NotFound(format!("source {id}")))?;
    let kind = SourceKind::parse(&kind).map_err(corrupt)?;
    if !kind.has_secret() {
        return Err(ValidationError::single(
            "/secret",
            "a cdevents source has no secret to rotate: rotate its senders' ingest tokens",
        )
        .into());
    }
    let secret = match secret {
        Some(s) => {
            check_secret(&s)?;
            Some(s.trim().to_owned())
        }
        None => new_secret(kind),
    };
    let Some(secret) = secret else {
        return Err(ValidationError::single(
            "/secret",
            "PagerDuty makes the signing secret: give the subscription's secret",
        )
        .into());
    };
    let now = Timestamp::now().millis();
    // A source without a secret yet (PagerDuty before its secret was
    // given) has nothing to keep accepting.
    let sql = format!(
        "UPDATE sources SET previous_secret = secret,
             previous_until = CASE WHEN secret IS NULL THEN NULL ELSE $1 END, secret = $2
         WHERE id = $3 AND org_id = $4 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now + ROTATION_GRACE_MS)
        .bind(secret.as_str())
        .bind(id.0)
        .bind(org.0)
        .fetch_one(pool)
        .await?;
    Ok(NewSource {
        source: source_from(&row)?,
        secret: Some(secret),
    })
}

/// Stops accepting the source's deliveries; what it sent stays.
pub(crate) async fn delete(pool: &AnyPool, org: OrgId, id: SourceId) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE sources SET deleted_at = $1, secret = NULL, previous_secret = NULL
         WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL",
    )
    .bind(Timestamp::now().millis())
    .bind(id.0)
    .bind(org.0)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("source {id}")));
    }
    Ok(())
}

/// What the source's deliveries named that no service answered to, most
/// recently seen first, with how often: the set-up page offers to map them.
pub(crate) async fn unmapped(
    pool: &AnyPool,
    source: SourceId,
) -> Result<Vec<crate::UnmappedName>, StoreError> {
    let rows = sqlx::query(
        "SELECT unmapped, COUNT(*) AS deliveries, MAX(received_at) AS last_seen FROM deliveries
         WHERE source_id = $1 AND unmapped IS NOT NULL GROUP BY unmapped
         ORDER BY last_seen DESC LIMIT 200",
    )
    .bind(source.0)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::UnmappedName {
                name: r.try_get("unmapped")?,
                deliveries: r.try_get::<i64, _>("deliveries")?,
                last_seen: ts(r, "last_seen")?,
            })
        })
        .collect()
}

// --- aliases ---------------------------------------------------------------

pub(crate) async fn add_alias(
    conn: &mut AnyConnection,
    org: OrgId,
    service: ServiceId,
    alias: &str,
) -> Result<(), StoreError> {
    let key = alias_key(alias).map_err(|e| ValidationError::single("/alias", e))?;
    let taken: Option<i64> = sqlx::query_scalar(
        "SELECT service_id FROM service_aliases WHERE org_id = $1 AND alias_key = $2",
    )
    .bind(org.0)
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match taken {
        Some(s) if s == service.0 => return Ok(()),
        Some(s) => {
            return Err(StoreError::Conflict(format!(
                "'{alias}' is already an alias of service {s}"
            )));
        }
        None => {}
    }
    sqlx::query(
        "INSERT INTO service_aliases (org_id, service_id, alias, alias_key, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org.0)
    .bind(service.0)
    .bind(alias.trim())
    .bind(key.as_str())
    .bind(Timestamp::now().millis())
    .execute(&mut *conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => StoreError::Conflict(format!("'{alias}' is already an alias")),
        false => e.into(),
    })?;
    Ok(())
}

pub(crate) async fn remove_alias(
    conn: &mut AnyConnection,
    org: OrgId,
    service: ServiceId,
    alias: &str,
) -> Result<(), StoreError> {
    let key = alias_key(alias).map_err(|e| ValidationError::single("/alias", e))?;
    let done = sqlx::query(
        "DELETE FROM service_aliases WHERE org_id = $1 AND service_id = $2 AND alias_key = $3",
    )
    .bind(org.0)
    .bind(service.0)
    .bind(key.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "alias '{alias}' of service {service}"
        )));
    }
    Ok(())
}

/// Every alias of the organization: (service, alias as given, its key).
pub(crate) async fn aliases(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<Vec<(ServiceId, String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT service_id, alias, alias_key FROM service_aliases WHERE org_id = $1 ORDER BY id",
    )
    .bind(org.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                ServiceId(r.try_get("service_id")?),
                r.try_get("alias")?,
                r.try_get("alias_key")?,
            ))
        })
        .collect()
}
