//! Set-up pages for admins: services and their webhooks, API tokens, and
//! the delivery log (every request received, accepted or refused, and why).

use super::format::{self, moment};
use super::hooks::base_url;
use super::scorecard::find_service;
use super::session::{Me, Posted};
use super::{Nav, PageError, encode, render};
use crate::state::AppState;
use crate::webhook_urls::{WebhookUrl, webhook_urls};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dorado_core::{ServiceName, Timestamp, TokenId, TokenScopes};
use dorado_store::{ListQuery, Service, StoreError};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    nav: Option<Nav>,
    services: Vec<Service>,
    name: String,
    error: Option<String>,
}

pub async fn services(me: Me, State(state): State<AppState>) -> Result<Response, PageError> {
    me.require_admin()?;
    services_page(&state, me, String::new(), None).await
}

async fn services_page(
    state: &AppState,
    me: Me,
    name: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let mut services = state.store.list_services(me.org.id).await?;
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = render(&ServicesPage {
        nav: Some(me.nav("services")),
        services,
        name,
        error,
    })?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct NewService {
    #[serde(default)]
    name: String,
}

pub async fn create_service(
    State(state): State<AppState>,
    Posted(me, form): Posted<NewService>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let name = form.name.trim().to_owned();
    let parsed = match ServiceName::parse(&name) {
        Ok(n) => n,
        Err(why) => return services_page(&state, me, name, Some(why)).await,
    };
    match state.store.create_service(me.org.id, &parsed).await {
        Ok(s) => Ok(Redirect::to(&format!(
            "/settings/services/{}?created=1",
            encode(s.name.as_str())
        ))
        .into_response()),
        Err(StoreError::Conflict(why)) => services_page(&state, me, name, Some(why)).await,
        Err(StoreError::Invalid(v)) => {
            let why = v
                .errors
                .iter()
                .map(|e| e.detail.clone())
                .collect::<Vec<_>>();
            services_page(&state, me, name, Some(why.join("; "))).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "service_setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    service: Service,
    hooks: Vec<WebhookUrl>,
    created: bool,
    base: String,
}

#[derive(Deserialize)]
pub struct Created {
    created: Option<String>,
}

pub async fn service_setup(
    me: Me,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(c): Query<Created>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let service = find_service(&state, &me, &name).await?;
    let base = base_url(state.pages.public_url.as_deref(), &headers);
    render(&SetupPage {
        hooks: webhook_urls(&me.org, &service, &base),
        nav: Some(me.nav("services")),
        service,
        created: c.created.is_some(),
        base,
    })
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Option<Nav>,
    tokens: Vec<TokenRow>,
    services: Vec<String>,
    /// The secret of the token just created: shown this once.
    secret: Option<String>,
    revoked: Option<String>,
    error: Option<String>,
    form: NewToken,
}

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub service: String,
    pub created: String,
    pub expires: String,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

#[derive(Deserialize, Default)]
pub struct NewToken {
    #[serde(default)]
    name: String,
    scope_ingest: Option<String>,
    scope_read: Option<String>,
    scope_admin: Option<String>,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    service: String,
}

impl NewToken {
    fn expires_is(&self, days: &str) -> bool {
        self.expires == days
    }

    fn service_is(&self, name: &str) -> bool {
        self.service == name
    }
}

#[derive(Deserialize)]
pub struct Revoked {
    revoked: Option<String>,
}

pub async fn tokens(
    me: Me,
    State(state): State<AppState>,
    Query(r): Query<Revoked>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let form = NewToken {
        scope_ingest: Some("on".into()),
        expires: "90".into(),
        ..NewToken::default()
    };
    tokens_page(&state, me, form, None, r.revoked, None).await
}

async fn tokens_page(
    state: &AppState,
    me: Me,
    form: NewToken,
    secret: Option<String>,
    revoked: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let services = state.store.list_services(me.org.id).await?;
    let names: HashMap<i64, String> = services
        .iter()
        .map(|s| (s.id.0, s.name.to_string()))
        .collect();
    let now = Timestamp::now();
    let mut list = state.store.list_tokens(me.org.id).await?;
    list.sort_by_key(|t| std::cmp::Reverse(t.id.0));
    let tokens = list
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.0,
            name: t.name,
            scopes: t.scopes.names().join(", "),
            service: t.service_id.map_or_else(
                || "all services".into(),
                |s| names.get(&s.0).cloned().unwrap_or_default(),
            ),
            created: format::day(t.created_at.millis()),
            expires: t
                .expires_at
                .map_or_else(|| "never".into(), |e| format::day(e.millis())),
            status: match (t.revoked_at, t.expires_at) {
                (Some(_), _) => "revoked",
                (None, Some(e)) if e <= now => "expired",
                _ => "active",
            },
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut names: Vec<String> = names.into_values().collect();
    names.sort();
    let page = render(&TokensPage {
        nav: Some(me.nav("tokens")),
        tokens,
        services: names,
        secret,
        revoked,
        error,
        form,
    })?;
    Ok((status, page).into_response())
}

pub async fn create_token(
    State(state): State<AppState>,
    Posted(me, form): Posted<NewToken>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let scopes: Vec<&str> = [
        ("ingest", &form.scope_ingest),
        ("read", &form.scope_read),
        ("admin", &form.scope_admin),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(s, _)| s)
    .collect();
    let scopes = match TokenScopes::parse(&scopes.join(",")) {
        Ok(s) => s,
        Err(_) => {
            let error = Some("Choose at least one scope.".into());
            return tokens_page(&state, me, form, None, None, error).await;
        }
    };
    let expires_at = match form.expires.parse::<i64>() {
        Ok(days @ 1..=3650) => Timestamp::now().plus_millis(days * Timestamp::MS_PER_DAY),
        _ => None,
    };
    let service = match form.service.as_str() {
        "" => None,
        name => Some(find_service(&state, &me, name).await?.id),
    };
    let created = state
        .store
        .create_token(me.org.id, &form.name, scopes, expires_at, service)
        .await;
    match created {
        Ok(t) => {
            let form = NewToken {
                scope_ingest: Some("on".into()),
                expires: "90".into(),
                ..NewToken::default()
            };
            tokens_page(&state, me, form, Some(t.secret), None, None).await
        }
        Err(StoreError::Invalid(v)) => {
            let why = v
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.pointer.trim_start_matches('/'), e.detail));
            let error = Some(why.collect::<Vec<_>>().join("; "));
            tokens_page(&state, me, form, None, None, error).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted(me, Nothing {}): Posted<Nothing>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    state.store.revoke_token(me.org.id, TokenId(id)).await?;
    Ok(Redirect::to(&format!("/settings/tokens?revoked={id}")).into_response())
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    nav: Option<Nav>,
    rows: Vec<DeliveryRow>,
    services: Vec<String>,
    service: String,
    show: String,
    next: Option<String>,
}

impl DeliveriesPage {
    fn link(&self, show: &str) -> String {
        format!(
            "/settings/deliveries?show={show}&service={}",
            encode(&self.service)
        )
    }
}

pub struct DeliveryRow {
    pub id: i64,
    pub received: String,
    pub service: String,
    pub dialect: String,
    pub route: String,
    pub status: u16,
    pub accepted: bool,
    pub error: String,
    pub sender: String,
    pub body: String,
}

#[derive(Deserialize)]
pub struct DeliveryParams {
    service: Option<String>,
    show: Option<String>,
    cursor: Option<String>,
}

/// Rows a page of the log shows, and the store pages a filtered view reads
/// at most before it shows what it found (its "Older" link goes on from
/// there): the store has no filter on the outcome, and rows carry bodies.
const PAGE: u32 = 50;
const MAX_SCANNED_PAGES: usize = 6;
const BODY_SHOWN: usize = 4_000;

pub async fn deliveries(
    me: Me,
    State(state): State<AppState>,
    Query(p): Query<DeliveryParams>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let services = state.store.list_services(me.org.id).await?;
    let names: HashMap<i64, String> = services
        .iter()
        .map(|s| (s.id.0, s.name.to_string()))
        .collect();
    let service = match p.service.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(find_service(&state, &me, s).await?),
        None => None,
    };
    let tokens: HashMap<i64, String> = state
        .store
        .list_tokens(me.org.id)
        .await?
        .into_iter()
        .map(|t| (t.id.0, t.name))
        .collect();
    let show = match p.show.as_deref() {
        Some("refused") => "refused",
        Some("accepted") => "accepted",
        _ => "all",
    };
    // The store lists all deliveries; a filtered view reads pages until it
    // has a page's worth, so paging stays exact.
    let mut query = ListQuery {
        service_id: service.as_ref().map(|s| s.id),
        limit: PAGE,
        cursor: p.cursor.filter(|c| !c.is_empty()),
        ..ListQuery::default()
    };
    let mut rows = Vec::new();
    let mut next = None;
    for _ in 0..MAX_SCANNED_PAGES {
        let page = state.store.list_deliveries(me.org.id, &query).await?;
        rows.extend(page.items.into_iter().filter(|d| match show {
            "refused" => !d.accepted,
            "accepted" => d.accepted,
            _ => true,
        }));
        next = page.next_cursor;
        if rows.len() >= PAGE as usize || next.is_none() {
            break;
        }
        query.cursor = next.clone();
    }
    let rows = rows
        .into_iter()
        .map(|d| DeliveryRow {
            id: d.id.0,
            received: moment(d.received_at),
            service: d
                .service_id
                .and_then(|s| names.get(&s.0).cloned())
                .unwrap_or_else(|| "—".into()),
            dialect: d.dialect,
            route: d.route,
            status: d.status,
            accepted: d.accepted,
            error: d.error.unwrap_or_default(),
            sender: match (d.token_id, d.user_id) {
                (Some(t), _) => format!(
                    "token {}",
                    tokens
                        .get(&t.0)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", t.0))
                ),
                (None, Some(u)) => format!("user #{}", u.0),
                _ => "—".into(),
            },
            body: shorten(&d.body),
        })
        .collect();
    let mut service_names: Vec<String> = names.into_values().collect();
    service_names.sort();
    render(&DeliveriesPage {
        nav: Some(me.nav("deliveries")),
        rows,
        services: service_names,
        service: service.map(|s| s.name.to_string()).unwrap_or_default(),
        show: show.into(),
        next: next.map(|c| {
            format!(
                "/settings/deliveries?show={show}&service={}&cursor={}",
                encode(&p.service.unwrap_or_default()),
                encode(&c)
            )
        }),
    })
}

fn shorten(body: &str) -> String {
    if body.len() <= BODY_SHOWN {
        return body.to_owned();
    }
    let mut end = BODY_SHOWN;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}
