use super::{ListParams, list_request, native_write};
use crate::error::ApiError;
use crate::figures;
use crate::state::AppState;
use crate::views::{DeploymentView, ListOf, WriteAnswer};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use dorado_hooks::Endpoint;

/// Records a deployment, or replaces the one with the same `id` in its service.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/deployments", tag = "deployments",
    params(("org" = String, Path, description = "Organization id or name")),
    request_body(content = serde_json::Value, description = "A deployment", example = json!({
        "id": "d1", "service": "checkout", "environment": "production", "result": "success",
        "started_at": "2024-03-04T11:50:00Z", "finished_at": "2024-03-04T12:00:00Z",
        "repo": "https://github.com/acme/checkout", "commit_sha": "015e3d3b480e417aede5a1293bd61de9b0fd051d"})),
    responses((status = 201, description = "Created", body = WriteAnswer),
              (status = 200, description = "Updated, or a replay of the same Idempotency-Key", body = WriteAnswer),
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
        Endpoint::NativeDeployment,
        &headers,
        body,
        limit,
    )
    .await
}

/// Lists deployments, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/deployments", tag = "deployments",
    params(("org" = String, Path, description = "Organization id or name"), ListParams),
    responses((status = 200, body = ListOf<DeploymentView>),
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
) -> Result<Json<ListOf<DeploymentView>>, ApiError> {
    let (org, q) = list_request(&state, &headers, &org, params).await?;
    let page = state.store.list_deployments(org.id, &q).await?;
    let mut list = ListOf::from_page(page, DeploymentView::from_record);
    figures::enrich_deployments(&state.figures, &state.store, org.id, &mut list.items).await?;
    Ok(Json(list))
}
