//! A native source's webhook (api.md, "Native sources"): GitHub, GitLab,
//! PagerDuty and CDEvents emitters post here on their own. The delivery is
//! checked the vendor's way over the raw bytes before anything is parsed or
//! stored; a failed check is 401 and leaves no trace. A checked delivery is
//! read by the source's dialect and stored like any other write; an event
//! Dorado does not use is answered 2xx with `ignored` and logged, because
//! vendors disable hooks that keep failing.

use crate::auth;
use crate::error::ApiError;
use crate::ingest::{self, Arrival};
use crate::state::AppState;
use crate::views::WriteAnswer;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use dorado_core::{ServiceDirectory, SourceKind, Timestamp, TokenScope};
use dorado_hooks::sources::{self, SourceConfig, SourceDelivery, SourceOutcome, Unmapped, verify};
use dorado_hooks::{Context, Endpoint};
use dorado_store::{Ignored, Org, Principal, Source};

/// GitHub's own limit on a webhook payload: anything it sends fits.
pub const BODY_LIMIT: usize = 25 * 1024 * 1024;

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Receives one delivery of a source, authenticated the vendor's way.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/sources/{source}/webhook", tag = "sources",
    params(("org" = String, Path, description = "Organization id or name"),
           ("source" = String, Path, description = "Source id or name")),
    request_body(content = serde_json::Value, description = "The tool's own payload: GitHub (JSON or form-encoded), GitLab, PagerDuty v3, or CloudEvents carrying CDEvents (structured, binary or batch)"),
    responses((status = 201, description = "Stored", body = WriteAnswer),
              (status = 200, description = "Stored (only updates), a redelivery, or an event Dorado does not use (`ignored` says why)", body = WriteAnswer),
              (status = 400, description = "A body that cannot be the tool's payload; nothing stored"),
              (status = 401, description = "The signature, token or credential does not hold; nothing stored"),
              (status = 403, description = "The CDEvents token lacks the ingest scope"),
              (status = 404, description = "Unknown organization or source"),
              (status = 409, description = "A delivery id reused with another body"),
              (status = 413, description = "Body over 25 MB")))]
pub async fn webhook(
    State(state): State<AppState>,
    Path((org, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteAnswer>), ApiError> {
    let not_found = || ApiError::NotFound(format!("source '{source}'"));
    let org = state
        .store
        .find_org(&org)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("organization '{org}'")))?;
    let (source, secrets) = state
        .store
        .source_for_delivery(org.id, &source, Timestamp::now())
        .await?
        .ok_or_else(not_found)?;
    let body = ingest::body_bytes(body, BODY_LIMIT)?;
    let principal = check(&state, &org, &source, &secrets, &headers, &body).await?;
    let received_at = Timestamp::now();
    let event = match source.kind {
        SourceKind::Github => header(&headers, "x-github-event").unwrap_or_default(),
        SourceKind::Gitlab => header(&headers, "x-gitlab-event").unwrap_or_default(),
        SourceKind::Pagerduty | SourceKind::Cdevents => "",
    };
    let endpoint = Endpoint::Source {
        source: source.id.0,
        kind: source.kind,
        event: event.trim().to_owned(),
    };
    let arrival = Arrival {
        org: &org,
        principal: principal.as_ref(),
        endpoint: &endpoint,
        path_service: None,
        source: Some(source.id),
        received_at,
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    if source.kind == SourceKind::Github && event.trim().is_empty() {
        let e = ApiError::invalid(
            "X-GitHub-Event",
            "the header is missing: GitHub names every event in it",
        );
        ingest::refuse(&state, arrival.delivery(text, None, None), &e).await;
        return Err(e);
    }
    let config = SourceConfig {
        deploy_workflows: source.deploy_workflows.clone(),
    };
    let read_with = |services: &ServiceDirectory| {
        let ctx = Context {
            services,
            path_service: None,
            received_at,
            source: Some(&config),
        };
        sources::read(source.kind, event, &config, &ctx, &body)
    };
    let mut read = read_with(&services(&state, principal.as_ref(), &org, false).await?);
    // A repository mapped elsewhere a moment ago (the set-up's "map it,
    // then Redeliver" through the CLI) is looked for once more.
    let unmapped = |r: &Result<SourceDelivery, _>| match r {
        Ok(r) => matches!(&r.outcome, SourceOutcome::Ignored(i) if i.unmapped.is_some()),
        Err(_) => true,
    };
    if unmapped(&read) {
        read = read_with(&services(&state, principal.as_ref(), &org, true).await?);
    }
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            let e = ApiError::from(e);
            ingest::refuse(&state, arrival.delivery(text, None, None), &e).await;
            return Err(e);
        }
    };
    let mut key = delivery_key(&source, &headers, read.dedupe_key.as_deref());
    if let SourceOutcome::Ignored(i) = &read.outcome
        && i.unmapped.is_some()
    {
        // Once its repository is mapped, the tool's "Redeliver" must store
        // this delivery, not replay the ignored answer.
        key = None;
    }
    let (commands, ignored) = match read.outcome {
        SourceOutcome::Commands(c) => (c, None),
        SourceOutcome::Ignored(i) => (
            Vec::new(),
            Some(Ignored {
                reason: i.reason,
                unmapped: i.unmapped.map(|u| match u {
                    Unmapped::Repository(r) => r,
                    Unmapped::Service { id, .. } => id,
                }),
            }),
        ),
    };
    let done = ingest::store(&state, &arrival, text, key, commands, ignored).await?;
    let (status, answer) = WriteAnswer::from_ingested(&done);
    Ok((status, Json(answer)))
}

/// The services a delivery may name: the token's, or the organization's;
/// `fresh` as of this moment (see [`ingest::fresh_visible_services`]).
async fn services(
    state: &AppState,
    principal: Option<&Principal>,
    org: &Org,
    fresh: bool,
) -> Result<ServiceDirectory, ApiError> {
    match (principal, fresh) {
        (Some(p), false) => ingest::visible_services(state, p, org).await,
        (Some(p), true) => ingest::fresh_visible_services(state, p, org).await,
        (None, false) => Ok(state.store.service_directory(org.id).await?),
        (None, true) => Ok(state.store.fresh_service_directory(org.id).await?),
    }
}

/// The vendor's check. CDEvents senders present an ingest token of the
/// organization instead of signing, and get its principal back.
async fn check(
    state: &AppState,
    org: &Org,
    source: &Source,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Principal>, ApiError> {
    let unsigned = |e: verify::Unverified| ApiError::Unsigned(e.to_string());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    match source.kind {
        SourceKind::Github => {
            verify::github(&secrets, header(headers, "x-hub-signature-256"), body)
                .map_err(unsigned)?;
        }
        SourceKind::Gitlab => {
            let signed = verify::StandardSignature {
                id: header(headers, "webhook-id"),
                timestamp: header(headers, "webhook-timestamp"),
                signature: header(headers, "webhook-signature"),
            };
            verify::gitlab(&secrets, header(headers, "x-gitlab-token"), signed, body)
                .map_err(unsigned)?;
        }
        SourceKind::Pagerduty => {
            verify::pagerduty(&secrets, header(headers, "x-pagerduty-signature"), body)
                .map_err(unsigned)?;
        }
        SourceKind::Cdevents => {
            let principal = auth::authenticate(state, headers).await?;
            auth::require(&principal, TokenScope::Ingest)?;
            if principal.org_id != org.id {
                return Err(ApiError::NotFound(format!("organization '{}'", org.name)));
            }
            return Ok(Some(principal));
        }
    }
    Ok(None)
}

/// What makes a redelivery answer as the first delivery did: the tool's
/// delivery id from its header (GitHub's `X-GitHub-Delivery`, GitLab's
/// `Idempotency-Key`), else what the body says (PagerDuty's event id, a
/// CloudEvent's source and id). Scoped to the source, so that two hooks
/// never share a key.
fn delivery_key(source: &Source, headers: &HeaderMap, from_body: Option<&str>) -> Option<String> {
    let from_header = match source.kind {
        SourceKind::Github => header(headers, "x-github-delivery"),
        SourceKind::Gitlab => header(headers, "idempotency-key")
            .or_else(|| header(headers, "webhook-id"))
            .or_else(|| header(headers, "x-gitlab-event-uuid")),
        SourceKind::Pagerduty => None,
        SourceKind::Cdevents => None,
    };
    let key = from_header
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or(from_body)?;
    let scoped = format!("source:{}:{key}", source.id);
    if scoped.len() <= ingest::MAX_IDEMPOTENCY_KEY {
        return Some(scoped);
    }
    // A CloudEvent's source may be a long URI: a digest keeps the key
    // unique and short.
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    Some(format!(
        "source:{}:sha256:{}",
        source.id,
        hex::encode(digest)
    ))
}
