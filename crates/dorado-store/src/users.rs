//! People: argon2id password hashes, checked off the async threads.

use crate::db::{flag, is_unique_violation, ts};
use crate::orgs::org_exists;
use crate::{Principal, StoreError, User};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use dorado_core::{Email, OrgId, Timestamp, TokenScopes, UserId, ValidationError};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// Verified when the email is unknown, so that the answer takes as long as
/// for a known one. Made with `Argon2::default()` (checked by a test), since
/// the parameters in the string decide the cost.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZG9yYWRvLWR1bW15LXNhbHQ$CAKrPIHm+sgzMXjoInBzM+XhaJcv1jBupajzvXh9+wM";

fn user_from(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        email: Email::from_trusted(row.try_get::<String, _>("email")?),
        admin: flag(row, "admin")?,
        created_at: ts(row, "created_at")?,
    })
}

fn hashing_failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "password hashing failed: {e}"
    )))
}

pub(crate) async fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.is_empty() {
        return Err(ValidationError::single("/password", "must not be empty").into());
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(hashing_failed)
    })
    .await
    .map_err(hashing_failed)?
}

/// Whether `password` matches the PHC string; any unreadable hash is a no.
async fn verify(password: &str, hash: String) -> Result<bool, StoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(hashing_failed)
}

pub(crate) async fn create_user(
    pool: &AnyPool,
    org: OrgId,
    email: &Email,
    password_hash: &str,
    admin: bool,
) -> Result<User, StoreError> {
    if !org_exists(pool, org).await? {
        return Err(StoreError::NotFound(format!("organization {org}")));
    }
    let row = sqlx::query(
        "INSERT INTO users (org_id, email, password_hash, admin, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, org_id, email, admin, created_at",
    )
    .bind(org.0)
    .bind(email.as_str())
    .bind(password_hash)
    .bind(i16::from(admin))
    .bind(Timestamp::now().millis())
    .fetch_one(pool)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => StoreError::Conflict(format!("a user with the email '{email}' exists")),
        false => e.into(),
    })?;
    user_from(&row)
}

pub(crate) async fn authenticate_user(
    pool: &AnyPool,
    email: &str,
    password: &str,
) -> Result<Option<(User, Principal)>, StoreError> {
    let row = match Email::parse(email) {
        Ok(email) => sqlx::query(
            "SELECT id, org_id, email, admin, created_at, password_hash FROM users WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(pool)
        .await?,
        Err(_) => None,
    };
    let Some(row) = row else {
        verify(password, DUMMY_HASH.to_owned()).await?;
        return Ok(None);
    };
    if !verify(password, row.try_get("password_hash")?).await? {
        return Ok(None);
    }
    let user = user_from(&row)?;
    let principal = Principal {
        org_id: user.org_id,
        scopes: TokenScopes::DEFAULT,
        service_id: None,
        token_id: None,
        user_id: Some(user.id),
        admin: user.admin,
    };
    Ok(Some((user, principal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        let real = Argon2::default().hash_password(b"x").unwrap().to_string();
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
    }
}
