//! The one write path every endpoint shares: authenticate, read the body
//! with the endpoint's dialect, validate, store in one transaction, answer.
//! Refusals of an authenticated caller are logged in the delivery log (with
//! the reason, so a sender can debug their script) and store nothing else.

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use dorado_core::{
    Command, ServiceDirectory, ServiceId, ServiceRef, SourceId, Timestamp, TokenScope,
};
use dorado_hooks::{Context, Endpoint};
use dorado_store::{Ignored, Ingested, NewDelivery, Org, Principal};

/// Headers that carry a sender's idempotency key, in order of preference:
/// the standard one, then what common webhook senders use.
const IDEMPOTENCY_HEADERS: [&str; 5] = [
    "idempotency-key",
    "x-idempotency-key",
    "x-github-delivery",
    "x-gitlab-event-uuid",
    "x-request-id",
];

pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    for name in IDEMPOTENCY_HEADERS {
        if let Some(value) = headers.get(name) {
            let key = value
                .to_str()
                .map_err(|_| ApiError::invalid(name, "must be printable ASCII"))?
                .trim();
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                return Err(ApiError::invalid(
                    name,
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                ));
            }
            return Ok(Some(key.to_owned()));
        }
    }
    Ok(None)
}

/// The body as read by axum under the route's limit.
pub fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit }
        } else {
            ApiError::Syntax {
                line: 1,
                column: 0,
                message: format!("the body could not be read: {rejection}"),
            }
        }
    })
}

/// A write, from a caller already known to belong to `org`.
pub struct Write<'a> {
    pub principal: &'a Principal,
    pub org: &'a Org,
    pub endpoint: Endpoint,
    /// The service a path names (DevLake's connection id).
    pub path_service: Option<ServiceId>,
    pub headers: &'a HeaderMap,
    pub body: Result<Bytes, BytesRejection>,
    pub body_limit: usize,
}

pub async fn ingest(state: &AppState, w: Write<'_>) -> Result<Ingested, ApiError> {
    auth::require(w.principal, TokenScope::Ingest)?;
    let received_at = Timestamp::now();
    let arrival = Arrival {
        org: w.org,
        principal: Some(w.principal),
        endpoint: &w.endpoint,
        path_service: w.path_service,
        source: None,
        received_at,
    };
    let body = match body_bytes(w.body, w.body_limit) {
        Ok(b) => b,
        Err(e) => {
            refuse(state, arrival.delivery(String::new(), None, None), &e).await;
            return Err(e);
        }
    };
    // Bodies that are not UTF-8 are refused by the dialect; the log keeps
    // what can be shown of them.
    let text = String::from_utf8_lossy(&body).into_owned();
    let key = match idempotency_key(w.headers) {
        Ok(k) => k,
        Err(e) => {
            refuse(state, arrival.delivery(text, None, None), &e).await;
            return Err(e);
        }
    };
    let parse = |services: &ServiceDirectory| {
        let ctx = Context {
            services,
            path_service: w.path_service,
            received_at,
            source: None,
        };
        dorado_hooks::parse(&w.endpoint, &ctx, &body)
    };
    let mut parsed = parse(&visible_services(state, w.principal, w.org).await?);
    if parsed.is_err() {
        // It may name a service created elsewhere a moment ago.
        parsed = parse(&fresh_visible_services(state, w.principal, w.org).await?);
    }
    let commands = match parsed {
        Ok(c) => c,
        Err(e) => {
            let e = ApiError::from(e);
            refuse(state, arrival.delivery(text, key, None), &e).await;
            return Err(e);
        }
    };
    store(state, &arrival, text, key, commands, None).await
}

/// A request that reached a writing endpoint: what its delivery records.
pub struct Arrival<'a> {
    pub org: &'a Org,
    /// The token or user that sent it; a native source's signed deliveries
    /// have none.
    pub principal: Option<&'a Principal>,
    pub endpoint: &'a Endpoint,
    /// The service a path names (DevLake's connection id).
    pub path_service: Option<ServiceId>,
    pub source: Option<SourceId>,
    pub received_at: Timestamp,
}

impl Arrival<'_> {
    pub fn delivery(
        &self,
        body: String,
        key: Option<String>,
        service_id: Option<ServiceId>,
    ) -> NewDelivery {
        NewDelivery {
            org_id: self.org.id,
            service_id: service_id
                .or(self.path_service)
                .or(self.principal.and_then(|p| p.service_id)),
            token_id: self.principal.and_then(|p| p.token_id),
            user_id: self.principal.and_then(|p| p.user_id),
            dialect: self.endpoint.dialect().to_owned(),
            route: self.endpoint.to_string(),
            idempotency_key: key,
            body,
            received_at: self.received_at,
            source_id: self.source,
            ignored: None,
            created_status: created_status(self.endpoint),
        }
    }
}

/// What the endpoint answers when a write created something: DevLake's and
/// Allstacks' senders expect 200 whatever happened, the others get 201.
fn created_status(endpoint: &Endpoint) -> u16 {
    match endpoint.dialect() {
        "devlake" | "allstacks" => 200,
        _ => 201,
    }
}

/// Stores a read body's commands with its delivery, in one transaction, or
/// logs why the store refused them. `ignored`: an accepted delivery that
/// stores nothing, and why.
pub async fn store(
    state: &AppState,
    arrival: &Arrival<'_>,
    text: String,
    key: Option<String>,
    mut commands: Vec<Command>,
    ignored: Option<Ignored>,
) -> Result<Ingested, ApiError> {
    if let Some(only) = arrival.principal.and_then(|p| p.service_id) {
        confine_to_service(&mut commands, only);
    }
    let service = commands.iter().find_map(command_service);
    let mut delivery = arrival.delivery(text, key, service);
    delivery.ignored = ignored;
    match state.store.ingest(delivery.clone(), commands).await {
        Ok(done) => Ok(done),
        Err(e) => {
            let e = ApiError::from(e);
            // An overloaded writer could not log the refusal either.
            if e.status() != axum::http::StatusCode::SERVICE_UNAVAILABLE {
                delivery.ignored = None;
                refuse(state, delivery, &e).await;
            }
            Err(e)
        }
    }
}

/// The organization's services that the caller may name: all of them, or
/// only its own for a token limited to one service, so that any other
/// reads exactly as an unknown service.
pub async fn visible_services(
    state: &AppState,
    principal: &Principal,
    org: &Org,
) -> Result<ServiceDirectory, ApiError> {
    let all = state.store.service_directory(org.id).await?;
    Ok(restricted(all, principal))
}

/// [`visible_services`] as of this moment, for a request about to refuse
/// a service it names. The store caches the directory and follows other
/// processes' changes within 100 ms; a service that the CLI or another
/// instance created just before must still not be refused. One read more,
/// on that path only.
pub async fn fresh_visible_services(
    state: &AppState,
    principal: &Principal,
    org: &Org,
) -> Result<ServiceDirectory, ApiError> {
    let all = state.store.fresh_service_directory(org.id).await?;
    Ok(restricted(all, principal))
}

fn restricted(all: ServiceDirectory, principal: &Principal) -> ServiceDirectory {
    match principal.service_id {
        None => all,
        Some(only) => all.restricted_to(only),
    }
}

/// The service the caller names, if it is one it may see (see
/// [`fresh_visible_services`] for why a miss looks twice).
pub async fn resolve_service(
    state: &AppState,
    principal: &Principal,
    org: &Org,
    wanted: &ServiceRef,
) -> Result<Option<ServiceId>, ApiError> {
    let found = visible_services(state, principal, org)
        .await?
        .resolve(wanted);
    if found.is_some() {
        return Ok(found);
    }
    Ok(fresh_visible_services(state, principal, org)
        .await?
        .resolve(wanted))
}

/// A token limited to one service writes its incidents there, even when
/// the body names no service.
fn confine_to_service(commands: &mut [Command], only: ServiceId) {
    for c in commands {
        match c {
            Command::Incident(i) if i.service.is_none() => i.service = Some(only),
            Command::ResolveIncident(r) if r.service.is_none() => r.service = Some(only),
            _ => {}
        }
    }
}

fn command_service(c: &Command) -> Option<ServiceId> {
    match c {
        Command::Deployment(d) => Some(d.service),
        Command::Incident(i) => i.service,
        Command::ResolveIncident(r) => r.service,
        Command::PipelineTask(t) => Some(t.service),
        Command::FinishPipeline(f) => Some(f.service),
        Command::Changes(_) => None,
    }
}

pub async fn refuse(state: &AppState, delivery: NewDelivery, error: &ApiError) {
    let status = error.status().as_u16();
    if let Err(e) = state
        .store
        .record_refused(delivery, status, &error.detail())
        .await
    {
        tracing::warn!(error = %e, "could not log a refused delivery");
    }
}
