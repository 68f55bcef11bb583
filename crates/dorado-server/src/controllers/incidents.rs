use super::{ListParams, list_request, native_write};
use crate::error::ApiError;
use crate::figures;
use crate::state::AppState;
use crate::views::{IncidentView, ListOf, WriteAnswer};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use dorado_hooks::Endpoint;

/// Records an incident, or updates the one with the same key in its service.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/incidents", tag = "incidents",
    params(("org" = String, Path, description = "Organization id or name")),
    request_body(content = serde_json::Value, description = "An incident", example = json!({
        "id": "INC-3", "service": "checkout", "title": "Checkout fails",
        "started_at": "2024-03-04T13:00:00Z", "deployment_id": "d1"})),
    responses((status = 201, description = "Created", body = WriteAnswer),
              (status = 200, description = "Updated, or a replay", body = WriteAnswer),
              (status = 400, description = "Invalid input; nothing stored"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the ingest scope"),
              (status = 404, description = "Unknown organization"),
              (status = 409, description = "Idempotency-Key reused with another body"),
              (status = 413, description = "Body over the limit")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteAnswer>), ApiError> {
    let limit = state.config.body_limit;
    native_write(
        &state,
        &org,
        Endpoint::NativeIncident,
        &headers,
        body,
        limit,
    )
    .await
}

/// Resolves an incident by key (`resolved_at` defaults to now).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/incidents/{key}/resolve", tag = "incidents",
    params(("org" = String, Path, description = "Organization id or name"),
           ("key" = String, Path, description = "The incident's key")),
    request_body(content = serde_json::Value, description = "Optional: `resolved_at`, and `service` where the key alone is ambiguous",
        example = json!({"resolved_at": "2024-03-04T14:30:00Z"})),
    responses((status = 200, description = "Resolved", body = WriteAnswer),
              (status = 400, description = "Invalid input; nothing stored"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the ingest scope"),
              (status = 404, description = "Unknown organization or incident"),
              (status = 409, description = "Idempotency-Key reused with another body")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Path((org, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteAnswer>), ApiError> {
    let limit = state.config.body_limit;
    native_write(
        &state,
        &org,
        Endpoint::NativeResolve { key },
        &headers,
        body,
        limit,
    )
    .await
}

/// Lists incidents, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/incidents", tag = "incidents",
    params(("org" = String, Path, description = "Organization id or name"), ListParams),
    responses((status = 200, body = ListOf<IncidentView>),
              (status = 400, description = "Bad filter"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope"),
              (status = 404, description = "Unknown organization or service")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListOf<IncidentView>>, ApiError> {
    let (org, q) = list_request(&state, &headers, &org, params).await?;
    let page = state.store.list_incidents(org.id, &q).await?;
    let mut list = ListOf::from_page(page, IncidentView::from_record);
    figures::enrich_incidents(&state.figures, &state.store, org.id, &mut list.items).await?;
    Ok(Json(list))
}
