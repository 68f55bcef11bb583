use super::{ListParams, list_request};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{DeliveryView, ListOf};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;

/// The delivery log: every request received, accepted or refused (with why), newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/deliveries", tag = "deliveries",
    params(("org" = String, Path, description = "Organization id or name"), ListParams),
    responses((status = 200, body = ListOf<DeliveryView>),
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
) -> Result<Json<ListOf<DeliveryView>>, ApiError> {
    let (org, q) = list_request(&state, &headers, &org, params).await?;
    let page = state.store.list_deliveries(org.id, &q).await?;
    Ok(Json(ListOf::from_page(page, DeliveryView::from_record)))
}
