//! Who is asking: a token (bearer, or the password of basic auth) or a
//! user's email and password (basic auth). The answers follow api.md:
//! 401 for missing or bad credentials, 403 for a missing scope, and 404 for
//! an organization or service that is not the caller's, so that a caller
//! cannot learn what exists elsewhere.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use base64::Engine;
use dorado_core::{Timestamp, TokenScope};
use dorado_store::{Org, Principal};

const TOKEN_PREFIX: &str = "dorado_";

enum Credential {
    Token(String),
    Password { email: String, password: String },
}

fn credential(headers: &HeaderMap) -> Result<Credential, ApiError> {
    let missing = ApiError::Unauthorized(
        "credentials are required: send `Authorization: Bearer TOKEN` or basic auth",
    );
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(missing)?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not readable text"))?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(ApiError::Unauthorized("the bearer token is empty"));
        }
        return Ok(Credential::Token(rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let bad = || ApiError::Unauthorized("basic auth must be base64 of `user:password`");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = text.split_once(':').ok_or_else(bad)?;
        if password.starts_with(TOKEN_PREFIX) {
            return Ok(Credential::Token(password.to_owned()));
        }
        return Ok(Credential::Password {
            email: user.to_owned(),
            password: password.to_owned(),
        });
    }
    Err(ApiError::Unauthorized(
        "unsupported Authorization scheme: use Bearer or Basic",
    ))
}

/// Checks the request's credentials.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let principal = match credential(headers)? {
        Credential::Token(secret) => {
            state
                .store
                .authenticate_token(&secret, Timestamp::now())
                .await?
        }
        Credential::Password { email, password } => state
            .store
            .authenticate_user(&email, &password)
            .await?
            .map(|(_, principal)| principal),
    };
    principal.ok_or(ApiError::Unauthorized(
        "the credentials are unknown, expired or revoked",
    ))
}

/// 403 unless the caller holds `scope`.
pub fn require(principal: &Principal, scope: TokenScope) -> Result<(), ApiError> {
    if principal.scopes.contains(scope) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this credential lacks the '{}' scope",
            scope.as_str()
        )))
    }
}

/// The organization a path names (by id or name), when it is the caller's.
pub async fn caller_org(
    state: &AppState,
    principal: &Principal,
    org: &str,
) -> Result<Org, ApiError> {
    let not_found = || ApiError::NotFound(format!("organization '{org}'"));
    let found = state.store.find_org(org).await?.ok_or_else(not_found)?;
    if found.id != principal.org_id {
        return Err(not_found());
    }
    Ok(found)
}
