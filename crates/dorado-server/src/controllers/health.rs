use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process runs", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 once the figures are warmed up and while the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Warmed up, and the database answers", body = String),
              (status = 503, description = "Still warming the figures up, or the database does not answer", body = String)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if !state.figures.is_warm() {
        return (StatusCode::SERVICE_UNAVAILABLE, "warming up");
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
