use super::{ListParams, list_request, native_write};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{ChangeView, ListOf, WriteAnswer};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use dorado_hooks::Endpoint;

/// Records one repository's commits, in any order.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/changes", tag = "changes",
    params(("org" = String, Path, description = "Organization id or name")),
    request_body(content = serde_json::Value, description = "Commits of one repository", example = json!({
        "repo": "https://github.com/acme/shop",
        "commits": [{"sha": "a1", "parents": ["a0"], "committed_at": "2024-03-04T08:00:00Z",
                     "author": "dev@acme.io", "message": "Fix the cart"}]})),
    responses((status = 201, description = "Stored", body = WriteAnswer),
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
    native_write(&state, &org, Endpoint::NativeChanges, &headers, body, limit).await
}

/// Lists changes (commits), newest first; `service` keeps the repositories it deployed.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/changes", tag = "changes",
    params(("org" = String, Path, description = "Organization id or name"), ListParams),
    responses((status = 200, body = ListOf<ChangeView>),
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
) -> Result<Json<ListOf<ChangeView>>, ApiError> {
    let (org, q) = list_request(&state, &headers, &org, params).await?;
    let page = state.store.list_changes(org.id, &q).await?;
    Ok(Json(ListOf::from_page(page, ChangeView::from_record)))
}
