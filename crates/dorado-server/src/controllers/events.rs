use super::native_write;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::WriteAnswer;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use dorado_hooks::Endpoint;

/// Takes one event or an array of them (GitDailies-style), all or nothing.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/events", tag = "events",
    params(("org" = String, Path, description = "Organization id or name")),
    request_body(content = serde_json::Value, description = "An event, or an array of events", example = json!([
        {"type": "deploy", "service": "checkout", "time": "2024-05-01T10:00:00Z", "id": "d-17",
         "environment": "production", "result": "success", "repo": "github.com/acme/shop",
         "commit_sha": "015e3d3b480e417aede5a1293bd61de9b0fd051d"},
        {"type": "incident_started", "service": "checkout", "id": "INC-9", "time": "2024-05-01T11:00:00Z", "title": "Errors"},
        {"type": "incident_resolved", "service": "checkout", "id": "INC-9", "time": "2024-05-01T12:00:00Z"}])),
    responses((status = 201, description = "Stored", body = WriteAnswer),
              (status = 200, description = "Stored (only updates), or a replay", body = WriteAnswer),
              (status = 400, description = "Invalid input; nothing stored"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the ingest scope"),
              (status = 404, description = "Unknown organization"),
              (status = 409, description = "Idempotency-Key reused with another body"),
              (status = 413, description = "Body over the batch limit")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteAnswer>), ApiError> {
    let limit = state.config.batch_body_limit;
    native_write(&state, &org, Endpoint::Events, &headers, body, limit).await
}
