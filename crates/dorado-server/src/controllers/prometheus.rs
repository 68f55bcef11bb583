//! `GET /metrics`: the caller's DORA figures over the last 30 days as
//! Prometheus gauges, plus the server's own request counters and latency
//! histograms. The figures are the organization's data, so a read token is
//! required (Prometheus sends it with `authorization: {credentials: ...}`
//! or `bearer_token`), and only the caller's organization is shown.

use crate::auth;
use crate::error::ApiError;
use crate::ingest::visible_services;
use crate::state::AppState;
use crate::telemetry;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dorado_core::engine::{Benchmark, Query};
use dorado_core::{Environment, Scope, ServiceId, Timestamp, TokenScope};
use serde_json::Value;
use std::fmt::Write;

/// Each gauge: its name, what it means, and where it is in the metrics JSON.
const GAUGES: [(&str, &str, &str); 14] = [
    (
        "dorado_deployments",
        "Counted deployments",
        "/deployment_frequency/deployments",
    ),
    (
        "dorado_deployment_days",
        "Distinct UTC days with a counted deployment",
        "/deployment_frequency/deployment_days",
    ),
    (
        "dorado_deployments_per_day",
        "Counted deployments per day",
        "/deployment_frequency/per_day",
    ),
    (
        "dorado_deployment_days_per_week_median",
        "Median deployment days per week",
        "/deployment_frequency/median_days_per_week",
    ),
    (
        "dorado_lead_time_changes",
        "Changes with a lead time",
        "/lead_time_for_changes/changes",
    ),
    (
        "dorado_lead_time_median_seconds",
        "Median lead time for changes",
        "/lead_time_for_changes/median_seconds",
    ),
    (
        "dorado_lead_time_p90_seconds",
        "90th percentile lead time for changes",
        "/lead_time_for_changes/p90_seconds",
    ),
    (
        "dorado_change_failure_rate",
        "Share of counted deployments with a linked incident",
        "/change_failure_rate/rate",
    ),
    (
        "dorado_failed_deployments",
        "Counted deployments with a linked incident",
        "/change_failure_rate/failed_deployments",
    ),
    (
        "dorado_failed_deployment_recovery_median_seconds",
        "Median failed deployment recovery time",
        "/failed_deployment_recovery_time/median_seconds",
    ),
    (
        "dorado_time_to_restore_median_seconds",
        "Median time to restore service",
        "/time_to_restore_service/median_seconds",
    ),
    (
        "dorado_open_incidents",
        "Incidents started in the window and not resolved",
        "/time_to_restore_service/open_incidents",
    ),
    (
        "dorado_rework_rate",
        "Share of counted deployments that are rework",
        "/rework_rate/rate",
    ),
    (
        "dorado_rework_deployments",
        "Counted deployments that are rework",
        "/rework_rate/rework_deployments",
    ),
];

const LEVELS: [&str; 5] = [
    "deployment_frequency",
    "lead_time_for_changes",
    "change_failure_rate",
    "failed_deployment_recovery_time",
    "time_to_restore_service",
];

/// Prometheus text: the DORA figures of the last 30 days and the server's own metrics.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = auth::authenticate(&state, &headers).await?;
    auth::require(&principal, TokenScope::Read)?;
    let org = auth::caller_org(&state, &principal, &principal.org_id.to_string()).await?;
    let services = visible_services(&state, &principal, &org).await?;
    let snapshot = state.figures.snapshot(&state.store, org.id).await?;
    let environment = Environment::production();
    let derived = snapshot.derived(&environment).await?;
    let to = Timestamp::now();
    let from = to
        .plus_millis(-30 * Timestamp::MS_PER_DAY)
        .ok_or_else(|| ApiError::Internal("the clock is out of range".into()))?;
    let mut scopes: Vec<(Scope, Option<ServiceId>)> = Vec::new();
    if principal.service_id.is_none() {
        scopes.push((Scope::Organization, None));
    }
    let mut ids: Vec<ServiceId> = state
        .store
        .list_services(org.id)
        .await?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| services.name(*id).is_some())
        .collect();
    ids.sort();
    scopes.extend(ids.into_iter().map(|id| (Scope::Service(id), Some(id))));

    let mut samples: Vec<(String, Value)> = Vec::with_capacity(scopes.len());
    for (scope, id) in scopes {
        let q = Query {
            org_id: org.id,
            scope,
            service: id.and_then(|id| services.name(id).cloned()),
            environment: environment.clone(),
            from,
            to,
            benchmark: Benchmark::default(),
        };
        let r = derived.report(&q);
        let mut labels = format!("org=\"{}\"", escape(org.name.as_str()));
        if let Some(name) = &q.service {
            let _ = write!(labels, ",service=\"{}\"", escape(name.as_str()));
        }
        let value = serde_json::to_value(&r.metrics)
            .map_err(|e| ApiError::Internal(format!("metrics do not serialize: {e}")))?;
        samples.push((labels, value));
    }

    let mut out = String::new();
    for (name, help, pointer) in GAUGES {
        let _ = writeln!(
            out,
            "# HELP {name} {help}, last 30 days, production.\n# TYPE {name} gauge"
        );
        for (labels, value) in &samples {
            if let Some(n) = value.pointer(pointer).and_then(Value::as_f64) {
                let _ = writeln!(out, "{name}{{{labels}}} {n}");
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP dorado_level The benchmark level (2023) of each figure, last 30 days, production.\n# TYPE dorado_level gauge"
    );
    for (labels, value) in &samples {
        for metric in LEVELS {
            if let Some(level) = value
                .pointer(&format!("/{metric}/level"))
                .and_then(Value::as_str)
            {
                let _ = writeln!(
                    out,
                    "dorado_level{{{labels},metric=\"{metric}\",level=\"{level}\"}} 1"
                );
            }
        }
    }
    if let Some(handle) = telemetry::handle() {
        out.push_str(&handle.render());
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
