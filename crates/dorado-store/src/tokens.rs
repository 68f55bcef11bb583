//! API tokens. Only the SHA-256 of a secret is stored: the secrets are long
//! random strings, so a fast hash is enough and lookups stay one index probe.

use crate::cache::CachedToken;
use crate::db::{corrupt, opt_ts, sha256_hex, ts};
use crate::orgs::org_exists;
use crate::{NewToken, StoreError, TokenInfo};
use dorado_core::{OrgId, ServiceId, Timestamp, TokenId, TokenScopes, ValidationError};
use rand::RngExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

const PREFIX: &str = "dorado_";
const SECRET_CHARS: usize = 40;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const COLUMNS: &str =
    "id, org_id, name, scopes, service_id, expires_at, revoked_at, created_at, secret_hash";

fn new_secret() -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(PREFIX.len() + SECRET_CHARS);
    s.push_str(PREFIX);
    for _ in 0..SECRET_CHARS {
        s.push(char::from(BASE62[rng.random_range(0..BASE62.len())]));
    }
    s
}

fn info_from(row: &AnyRow) -> Result<TokenInfo, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(TokenInfo {
        id: TokenId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        scopes: TokenScopes::parse(&scopes).map_err(corrupt)?,
        service_id: row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId),
        expires_at: opt_ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) async fn create_token(
    conn: &mut AnyConnection,
    org: OrgId,
    name: &str,
    scopes: TokenScopes,
    expires_at: Option<Timestamp>,
    service: Option<ServiceId>,
) -> Result<NewToken, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(
            ValidationError::single("/name", "must be 1 to 100 printable characters").into(),
        );
    }
    if scopes == TokenScopes::default() {
        return Err(ValidationError::single("/scopes", "name at least one scope").into());
    }
    if !org_exists(&mut *conn, org).await? {
        return Err(StoreError::NotFound(format!("organization {org}")));
    }
    if let Some(service) = service {
        let row = sqlx::query("SELECT id FROM services WHERE id = $1 AND org_id = $2")
            .bind(service.0)
            .bind(org.0)
            .fetch_optional(&mut *conn)
            .await?;
        if row.is_none() {
            return Err(StoreError::NotFound(format!("service {service}")));
        }
    }
    let secret = new_secret();
    let sql = format!(
        "INSERT INTO tokens (org_id, name, secret_hash, scopes, service_id, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .bind(name)
        .bind(sha256_hex(secret.as_bytes()))
        .bind(scopes.to_string())
        .bind(service.map(|s| s.0))
        .bind(expires_at.map(Timestamp::millis))
        .bind(Timestamp::now().millis())
        .fetch_one(&mut *conn)
        .await?;
    Ok(NewToken {
        info: info_from(&row)?,
        secret,
    })
}

pub(crate) async fn list_tokens(pool: &AnyPool, org: OrgId) -> Result<Vec<TokenInfo>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE org_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org.0)
        .fetch_all(pool)
        .await?;
    rows.iter().map(info_from).collect()
}

pub(crate) async fn revoke_token(
    conn: &mut AnyConnection,
    org: OrgId,
    id: TokenId,
) -> Result<TokenInfo, StoreError> {
    // Revoking twice keeps the first time: it is when access ended.
    let sql = format!(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1)
         WHERE id = $2 AND org_id = $3 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(Timestamp::now().millis())
        .bind(id.0)
        .bind(org.0)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => info_from(&row),
        None => Err(StoreError::NotFound(format!("token {id}"))),
    }
}

/// The hash a secret is stored and looked up by.
pub(crate) fn secret_hash(secret: &str) -> String {
    sha256_hex(secret.trim().as_bytes())
}

/// The token whose stored hash equals `hash` (the index compares; the
/// caller compares again in constant time, see [`CachedToken::principal`]).
pub(crate) async fn find_by_hash(
    pool: &AnyPool,
    hash: &str,
) -> Result<Option<CachedToken>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE secret_hash = $1");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(CachedToken {
        secret_hash: row.try_get("secret_hash")?,
        info: info_from(&row)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_base62() {
        let a = new_secret();
        assert_eq!(a.len(), PREFIX.len() + SECRET_CHARS);
        assert!(a.starts_with(PREFIX));
        assert!(a[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, new_secret());
    }
}
