use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{ListOf, ServiceView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use dorado_core::TokenScope;

/// Lists the organization's services (only its own for a token limited to one).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/services", tag = "services",
    params(("org" = String, Path, description = "Organization id or name")),
    responses((status = 200, body = ListOf<ServiceView>),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope"),
              (status = 404, description = "Unknown organization")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ListOf<ServiceView>>, ApiError> {
    let principal = auth::authenticate(&state, &headers).await?;
    auth::require(&principal, TokenScope::Read)?;
    let org = auth::caller_org(&state, &principal, &org).await?;
    let items = state
        .store
        .list_services(org.id)
        .await?
        .into_iter()
        .filter(|s| principal.service_id.is_none_or(|only| only == s.id))
        .map(ServiceView::from_record)
        .collect();
    Ok(Json(ListOf {
        items,
        next_cursor: None,
    }))
}
