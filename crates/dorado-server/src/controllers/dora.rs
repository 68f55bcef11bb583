//! `GET /dora` and `GET /dora/series`: the figures of semantics.md.

use crate::auth;
use crate::error::ApiError;
use crate::ingest;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use dorado_core::engine::{Benchmark, Bucket, DoraReport, Query as Question, SeriesBucket};
use dorado_core::{
    Environment, FieldError, Scope, ServiceRef, Timestamp, TokenScope, ValidationError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_WINDOW_DAYS: i64 = 30;
/// Enough for weekly buckets over twenty years, few enough to answer fast.
const MAX_BUCKETS: i64 = 1100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoraParams {
    /// Inclusive: a date (`2024-01-01`) or an RFC 3339 time; default `to` minus 30 days.
    from: Option<String>,
    /// Exclusive: a date or an RFC 3339 time; default now.
    to: Option<String>,
    /// One service (id or name); the whole organization by default.
    service: Option<String>,
    /// Default `production`.
    environment: Option<String>,
    /// `2023` (default) or `2021`.
    benchmark: Option<String>,
    /// Series only: `week` (Monday, UTC; default) or `month`.
    bucket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    #[schema(value_type = Vec<Object>)]
    pub buckets: Vec<SeriesBucket>,
}

/// The organization's (or one service's) DORA figures over a window.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/dora", tag = "metrics",
    params(("org" = String, Path, description = "Organization id or name"), DoraParams),
    responses((status = 200, description = "The metrics object of api.md; null where there is no data", body = Object),
              (status = 400, description = "Bad parameter"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope"),
              (status = 404, description = "Unknown organization or service")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn dora(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    params: Result<Query<DoraParams>, QueryRejection>,
) -> Result<Json<DoraReport>, ApiError> {
    let (question, _) = question(&state, &headers, &org, params).await?;
    let snapshot = state
        .figures
        .snapshot(&state.store, question.org_id)
        .await?;
    let derived = snapshot.derived(&question.environment).await?;
    Ok(Json(derived.report_blocking(question).await?))
}

/// The same figures per week or per calendar month.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/dora/series", tag = "metrics",
    params(("org" = String, Path, description = "Organization id or name"), DoraParams),
    responses((status = 200, description = "`{\"buckets\": [{from, to, <metric objects>}]}`", body = Series),
              (status = 400, description = "Bad parameter"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope"),
              (status = 404, description = "Unknown organization or service")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn dora_series(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    params: Result<Query<DoraParams>, QueryRejection>,
) -> Result<Json<Series>, ApiError> {
    let (question, bucket) = question(&state, &headers, &org, params).await?;
    let days = (question.to.millis() - question.from.millis()) / Timestamp::MS_PER_DAY;
    let buckets = match bucket {
        Bucket::Week => days / 7 + 2,
        Bucket::Month => days / 28 + 2,
    };
    if buckets > MAX_BUCKETS {
        return Err(ApiError::invalid(
            "bucket",
            format!(
                "the window holds {buckets} buckets; at most {MAX_BUCKETS}: choose a shorter window or monthly buckets"
            ),
        ));
    }
    let snapshot = state
        .figures
        .snapshot(&state.store, question.org_id)
        .await?;
    let derived = snapshot.derived(&question.environment).await?;
    Ok(Json(Series {
        buckets: derived.series_blocking(question, bucket).await?,
    }))
}

async fn question(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
    params: Result<Query<DoraParams>, QueryRejection>,
) -> Result<(Question, Bucket), ApiError> {
    let principal = auth::authenticate(state, headers).await?;
    auth::require(&principal, TokenScope::Read)?;
    let org = auth::caller_org(state, &principal, org).await?;
    let Query(p) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut errors = Vec::new();
    let time = |s: &Option<String>| {
        s.as_deref()
            .map(|s| Timestamp::parse(s).map_err(|e| e.to_string()))
            .transpose()
    };
    let to = noted(&mut errors, "to", time(&p.to)).unwrap_or_else(Timestamp::now);
    let from = noted(&mut errors, "from", time(&p.from));
    let environment = noted(
        &mut errors,
        "environment",
        p.environment.as_deref().map(Environment::parse).transpose(),
    )
    .unwrap_or_else(Environment::production);
    let benchmark = noted(
        &mut errors,
        "benchmark",
        p.benchmark.as_deref().map(Benchmark::parse).transpose(),
    )
    .unwrap_or_default();
    let bucket = noted(
        &mut errors,
        "bucket",
        p.bucket.as_deref().map(Bucket::parse).transpose(),
    )
    .unwrap_or(Bucket::Week);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(ValidationError { errors }));
    }
    let from = match from {
        Some(f) => f,
        None => to
            .plus_millis(-DEFAULT_WINDOW_DAYS * Timestamp::MS_PER_DAY)
            .ok_or_else(|| ApiError::invalid("to", "is too early for a 30-day window"))?,
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    let services = ingest::visible_services(state, &principal, &org).await?;
    let service = match (&p.service, principal.service_id) {
        (Some(s), _) => {
            let r = ServiceRef::parse(s).map_err(|e| ApiError::invalid("service", e))?;
            Some(
                ingest::resolve_service(state, &principal, &org, &r)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("service '{s}'")))?,
            )
        }
        // A token limited to one service sees that service's figures.
        (None, only) => only,
    };
    let question = Question {
        org_id: org.id,
        scope: service.map_or(Scope::Organization, Scope::Service),
        service: service.and_then(|id| services.name(id).cloned()),
        environment,
        from,
        to,
        benchmark,
    };
    Ok((question, bucket))
}

/// The value, or `None` after noting why the parameter was refused.
fn noted<T>(errors: &mut Vec<FieldError>, name: &str, r: Result<Option<T>, String>) -> Option<T> {
    r.unwrap_or_else(|e| {
        errors.push(FieldError::new(name, e));
        None
    })
}
