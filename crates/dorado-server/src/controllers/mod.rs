//! One module per domain, each with its handlers and their OpenAPI
//! annotations; `crate::router` puts them together.

pub mod allstacks;
pub mod changes;
pub mod deliveries;
pub mod deployments;
pub mod devlake;
pub mod dora;
pub mod events;
pub mod health;
pub mod incidents;
pub mod prometheus;
pub mod services;
pub mod sources;

use crate::auth;
use crate::error::ApiError;
use crate::ingest::{self, Write};
use crate::state::AppState;
use crate::views::WriteAnswer;
use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode};
use dorado_core::{ServiceRef, Timestamp, TokenScope};
use dorado_hooks::Endpoint;
use dorado_store::{ListQuery, Org, Principal};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters and paging shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// A service id or name.
    service: Option<String>,
    /// Inclusive: a date (`2024-01-01`) or an RFC 3339 time.
    from: Option<String>,
    /// Exclusive: a date or an RFC 3339 time.
    to: Option<String>,
    /// Items per page: 1 to 500, 50 by default.
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// A caller allowed to read `org`, and the list filter it asked for.
pub async fn list_request(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<(Org, ListQuery), ApiError> {
    let principal = auth::authenticate(state, headers).await?;
    auth::require(&principal, TokenScope::Read)?;
    let org = auth::caller_org(state, &principal, org).await?;
    let Query(p) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut errors = Vec::new();
    let mut time = |name: &str, v: &Option<String>| match v {
        None => None,
        Some(s) => match Timestamp::parse(s) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(dorado_core::FieldError::new(name, e.to_string()));
                None
            }
        },
    };
    let from = time("from", &p.from);
    let to = time("to", &p.to);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(dorado_core::ValidationError { errors }));
    }
    if let Some(limit) = p.limit
        && !(1..=500).contains(&limit)
    {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    let service_id = match &p.service {
        None => principal.service_id,
        Some(s) => Some(service_filter(state, &principal, &org, s).await?),
    };
    let query = ListQuery {
        service_id,
        from,
        to,
        limit: p.limit.unwrap_or(0),
        cursor: p.cursor,
    };
    Ok((org, query))
}

/// The service a `service=` filter names; 404 when it is not the caller's.
async fn service_filter(
    state: &AppState,
    principal: &Principal,
    org: &Org,
    s: &str,
) -> Result<dorado_core::ServiceId, ApiError> {
    let not_found = || ApiError::NotFound(format!("service '{s}'"));
    let r = ServiceRef::parse(s).map_err(|e| ApiError::invalid("service", e))?;
    ingest::resolve_service(state, principal, org, &r)
        .await?
        .ok_or_else(not_found)
}

/// Native and event writes: answer 201 when anything was created, else 200.
pub async fn native_write(
    state: &AppState,
    org: &str,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    body_limit: usize,
) -> Result<(StatusCode, Json<WriteAnswer>), ApiError> {
    let principal = auth::authenticate(state, headers).await?;
    let org = auth::caller_org(state, &principal, org).await?;
    let done = ingest::ingest(
        state,
        Write {
            principal: &principal,
            org: &org,
            endpoint,
            path_service: None,
            headers,
            body,
            body_limit,
        },
    )
    .await?;
    let (status, answer) = WriteAnswer::from_ingested(&done);
    Ok((status, Json(answer)))
}
