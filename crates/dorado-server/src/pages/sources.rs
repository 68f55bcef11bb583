//! Native sources for admins (api.md, "Native sources"): make one, read its
//! URL and the vendor's set-up steps, rotate or delete it, watch what it
//! sends, and map what it names that no service answers to. What
//! `dorado source` and `dorado service update --alias` do, in a browser.

use super::admin::Nothing;
use super::format::moment;
use super::hooks::base_url;
use super::scorecard::find_service;
use super::session::{Me, Posted};
use super::{Nav, PageError, encode, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dorado_core::{ServiceName, SourceKind};
use dorado_hooks::sources;
use dorado_store::{DeliveryRecord, Source, StoreError, UnmappedName};
use serde::Deserialize;

/// As many deliveries as the source page lists.
const RECENT: i64 = 20;

/// A source as both pages show it; never its secret.
pub struct SourceView {
    pub id: i64,
    pub kind: &'static str,
    pub label: &'static str,
    pub name: String,
    pub url: String,
    pub workflows: String,
    pub has_secret: bool,
    /// Until when the secret rotated out last still works, if it does.
    pub previous_until: Option<String>,
    pub last_accepted: String,
    pub last_refused: String,
}

fn label(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Github => "GitHub",
        SourceKind::Gitlab => "GitLab",
        SourceKind::Pagerduty => "PagerDuty",
        SourceKind::Cdevents => "CDEvents",
    }
}

fn view(me: &Me, base: &str, s: &Source) -> SourceView {
    let now = dorado_core::Timestamp::now();
    SourceView {
        id: s.id.0,
        kind: s.kind.as_str(),
        label: label(s.kind),
        name: s.name.clone(),
        url: format!(
            "{base}/api/v1/orgs/{}/sources/{}/webhook",
            me.org.name, s.id
        ),
        workflows: s.deploy_workflows.join(", "),
        has_secret: s.has_secret,
        previous_until: s.previous_secret_until.filter(|u| *u > now).map(moment),
        last_accepted: s.last_accepted_at.map_or_else(|| "never".into(), moment),
        last_refused: s.last_refused_at.map_or_else(|| "never".into(), moment),
    }
}

/// The message a person can act on for a store refusal; anything else is
/// the error page.
fn refusal(e: StoreError) -> Result<(StatusCode, String), PageError> {
    match e {
        StoreError::Conflict(why) => Ok((StatusCode::CONFLICT, why)),
        StoreError::Invalid(v) => {
            let why = v
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.pointer.trim_start_matches('/'), e.detail));
            Ok((StatusCode::BAD_REQUEST, why.collect::<Vec<_>>().join("; ")))
        }
        e => Err(e.into()),
    }
}

// --- the list ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    nav: Option<Nav>,
    sources: Vec<SourceView>,
    kinds: Vec<(&'static str, &'static str)>,
    form: NewSourceForm,
    deleted: Option<i64>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewSourceForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    workflows: String,
    #[serde(default)]
    secret: String,
}

impl NewSourceForm {
    fn kind_is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

#[derive(Deserialize)]
pub struct Deleted {
    deleted: Option<String>,
}

pub async fn list(
    me: Me,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(d): Query<Deleted>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let deleted = d.deleted.and_then(|id| id.parse().ok());
    let form = NewSourceForm {
        kind: "github".into(),
        ..NewSourceForm::default()
    };
    list_page(&state, me, &headers, form, deleted, None).await
}

async fn list_page(
    state: &AppState,
    me: Me,
    headers: &HeaderMap,
    form: NewSourceForm,
    deleted: Option<i64>,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let base = base_url(state.pages.public_url.as_deref(), headers);
    let sources = state.store.list_sources(me.org.id).await?;
    let (status, error) = match error {
        Some((status, why)) => (status, Some(why)),
        None => (StatusCode::OK, None),
    };
    let page = render(&SourcesPage {
        sources: sources.iter().map(|s| view(&me, &base, s)).collect(),
        nav: Some(me.nav("sources")),
        kinds: SourceKind::ALL
            .iter()
            .map(|k| (k.as_str(), label(*k)))
            .collect(),
        form,
        deleted,
        error,
    })?;
    Ok((status, page).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted(me, form): Posted<NewSourceForm>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let kind = match SourceKind::parse(&form.kind) {
        Ok(k) => k,
        Err(why) => {
            let error = Some((StatusCode::BAD_REQUEST, why));
            return list_page(&state, me, &headers, form, None, error).await;
        }
    };
    let name = Some(form.name.trim()).filter(|n| !n.is_empty());
    let workflows: Vec<String> = form
        .workflows
        .split(['\n', ','])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let given = Some(form.secret.trim().to_owned()).filter(|s| !s.is_empty());
    let made_here = given.is_none();
    let created = state
        .store
        .create_source(me.org.id, kind, name, &workflows, given)
        .await;
    match created {
        Ok(made) => {
            let shown = Shown {
                // A secret the admin pasted is not echoed back.
                secret: made.secret.filter(|_| made_here),
                notice: Some(format!("Source {} created.", made.source.name)),
                ..Shown::default()
            };
            source_page(&state, me, &headers, made.source, shown).await
        }
        Err(e) => {
            let error = Some(refusal(e)?);
            list_page(&state, me, &headers, form, None, error).await
        }
    }
}

// --- one source --------------------------------------------------------------

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    nav: Option<Nav>,
    source: SourceView,
    shown: Shown,
    deliveries: Vec<DeliveryRow>,
    unmapped: Vec<UnmappedRow>,
    services: Vec<String>,
}

/// What one answer adds to the page: a secret just made (shown this once),
/// a notice of what was done, or why it was not.
#[derive(Default)]
struct Shown {
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

pub struct DeliveryRow {
    pub received: String,
    /// `accepted`, `ignored` or `refused`.
    pub outcome: &'static str,
    pub status: u16,
    pub reason: String,
    pub link: String,
}

pub struct UnmappedRow {
    pub name: String,
    pub what: &'static str,
    pub deliveries: i64,
    pub last_seen: String,
    /// The service "create" would make, when the name gives a valid one.
    pub suggested: Option<String>,
}

#[derive(Deserialize)]
pub struct Done {
    mapped: Option<String>,
    made: Option<String>,
}

pub async fn show(
    me: Me,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let source = find(&state, &me, &id).await?;
    // Only a service of the organization is named back: the query is
    // anyone's to write.
    let names = service_names(&state, &me).await?;
    let known = |n: Option<String>| n.filter(|n| names.contains(n));
    let notice = match (known(done.made), known(done.mapped)) {
        (Some(s), _) => Some(format!(
            "Service {s} created and mapped: what this source sends about it counts from now on."
        )),
        (None, Some(s)) => Some(format!(
            "Mapped to {s}: what this source sends about it counts from now on."
        )),
        _ => None,
    };
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    source_page(&state, me, &headers, source, shown).await
}

async fn find(state: &AppState, me: &Me, id: &str) -> Result<Source, PageError> {
    state
        .store
        .find_source(me.org.id, id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("{} has no source '{id}'", me.org.name)))
}

async fn service_names(state: &AppState, me: &Me) -> Result<Vec<String>, PageError> {
    let mut names: Vec<String> = state
        .store
        .list_services(me.org.id)
        .await?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    names.sort();
    Ok(names)
}

async fn source_page(
    state: &AppState,
    me: Me,
    headers: &HeaderMap,
    source: Source,
    shown: Shown,
) -> Result<Response, PageError> {
    let base = base_url(state.pages.public_url.as_deref(), headers);
    let records = state
        .store
        .recent_deliveries_of_source(me.org.id, source.id, RECENT)
        .await?;
    let directory = state.store.service_directory(me.org.id).await?;
    let unmapped = state
        .store
        .unmapped_of_source(source.id)
        .await?
        .into_iter()
        .filter(|u| !sources::maps_now(source.kind, &directory, &u.name))
        .map(|u| unmapped_row(source.kind, u))
        .collect();
    let status = if shown.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = render(&SourcePage {
        source: view(&me, &base, &source),
        deliveries: records.iter().map(delivery_row).collect(),
        unmapped,
        services: service_names(state, &me).await?,
        nav: Some(me.nav("sources")),
        shown,
    })?;
    Ok((status, page).into_response())
}

fn delivery_row(d: &DeliveryRecord) -> DeliveryRow {
    let outcome = match (d.accepted, &d.ignored) {
        (false, _) => "refused",
        (true, Some(_)) => "ignored",
        (true, None) => "accepted",
    };
    DeliveryRow {
        received: moment(d.received_at),
        outcome,
        status: d.status,
        reason: d
            .error
            .clone()
            .or_else(|| d.ignored.clone())
            .unwrap_or_default(),
        // The log has no filter by source; the outcome filter keeps the
        // row on its first page longest.
        link: format!(
            "/settings/deliveries?show={}#delivery-{}",
            if d.accepted { "accepted" } else { "refused" },
            d.id.0
        ),
    }
}

/// Whether a name the source saw maps to a service now (an alias or a
/// service added since), by the rules its deliveries are read with.
fn unmapped_row(kind: SourceKind, u: UnmappedName) -> UnmappedRow {
    UnmappedRow {
        what: match kind {
            SourceKind::Github | SourceKind::Gitlab => "repository",
            SourceKind::Pagerduty => "PagerDuty service",
            SourceKind::Cdevents => "CDEvents subject",
        },
        suggested: suggested_name(&u.name).map(|n| n.to_string()),
        deliveries: u.deliveries,
        last_seen: moment(u.last_seen),
        name: u.name,
    }
}

/// A service name from the last path segment (`payments-api` for
/// `github.com/acme/payments-api`): other characters become `-`, and it
/// starts with a letter or digit and is not all digits, as names must.
fn suggested_name(seen: &str) -> Option<ServiceName> {
    let cleaned: String = sources::last_segment(seen)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(100)
        .collect();
    let cleaned = cleaned.trim_end_matches(['-', '.', '_']);
    if !cleaned.is_empty() && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return ServiceName::parse(&format!("service-{cleaned}")).ok();
    }
    ServiceName::parse(cleaned).ok()
}

// --- what one source's page posts ----------------------------------------------

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    secret: String,
}

pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted(me, form): Posted<RotateForm>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let source = find(&state, &me, &id).await?;
    let given = Some(form.secret.trim().to_owned()).filter(|s| !s.is_empty());
    let made_here = given.is_none();
    match state.store.rotate_source(me.org.id, source.id, given).await {
        Ok(made) => {
            let notice = match (made_here, source.has_secret) {
                (true, _) => "A new secret is made: the old one is accepted for 24 hours more.",
                (false, true) => {
                    "The secret is replaced: the old one is accepted for 24 hours more."
                }
                (false, false) => "The secret is saved: deliveries signed with it are accepted.",
            };
            let shown = Shown {
                secret: made.secret.filter(|_| made_here),
                notice: Some(notice.into()),
                error: None,
            };
            // Read again: the rotated row carries no delivery times.
            let source = find(&state, &me, &id).await?;
            source_page(&state, me, &headers, source, shown).await
        }
        Err(e) => {
            let (_, why) = refusal(e)?;
            let shown = Shown {
                error: Some(why),
                ..Shown::default()
            };
            source_page(&state, me, &headers, source, shown).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(me, Nothing {}): Posted<Nothing>,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let source = find(&state, &me, &id).await?;
    state.store.delete_source(me.org.id, source.id).await?;
    Ok(Redirect::to(&format!("/settings/sources?deleted={}", source.id)).into_response())
}

#[derive(Deserialize)]
pub struct MapForm {
    #[serde(default)]
    name: String,
    /// Empty to create a service named after `name`.
    #[serde(default)]
    service: String,
}

/// Maps a name the source saw to an existing service (`/map`) or to a new
/// one named after it (`/new-service`), as an alias.
pub async fn map(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted(me, form): Posted<MapForm>,
) -> Result<Response, PageError> {
    alias(state, headers, id, me, form, false).await
}

pub async fn new_service(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted(me, form): Posted<MapForm>,
) -> Result<Response, PageError> {
    alias(state, headers, id, me, form, true).await
}

async fn alias(
    state: AppState,
    headers: HeaderMap,
    id: String,
    me: Me,
    form: MapForm,
    create: bool,
) -> Result<Response, PageError> {
    me.require_admin()?;
    let source = find(&state, &me, &id).await?;
    // Only what this source saw: this is no general alias editor.
    let seen = state.store.unmapped_of_source(source.id).await?;
    if !seen.iter().any(|u| u.name == form.name) {
        return Err(PageError::BadRequest(format!(
            "source {} has not seen '{}'",
            source.name, form.name
        )));
    }
    let service = if create {
        let Some(name) = suggested_name(&form.name) else {
            let why = format!("'{}' gives no valid service name: map it to one", form.name);
            return refused(&state, me, &headers, source, why).await;
        };
        match state.store.create_service(me.org.id, &name).await {
            Ok(s) => s,
            Err(e) => {
                let (_, why) = refusal(e)?;
                return refused(&state, me, &headers, source, why).await;
            }
        }
    } else {
        find_service(&state, &me, &form.service).await?
    };
    let aliases = [form.name.clone()];
    if let Err(e) = state
        .store
        .update_aliases(me.org.id, service.id, &aliases, &[])
        .await
    {
        let (_, why) = refusal(e)?;
        return refused(&state, me, &headers, source, why).await;
    }
    let param = if create { "made" } else { "mapped" };
    Ok(Redirect::to(&format!(
        "/settings/sources/{}?{param}={}",
        source.id,
        encode(service.name.as_str())
    ))
    .into_response())
}

async fn refused(
    state: &AppState,
    me: Me,
    headers: &HeaderMap,
    source: Source,
    why: String,
) -> Result<Response, PageError> {
    let shown = Shown {
        error: Some(why),
        ..Shown::default()
    };
    source_page(state, me, headers, source, shown).await
}

#[cfg(test)]
mod tests {
    use super::suggested_name;

    #[test]
    fn a_service_is_named_after_the_last_segment() {
        let name = |s: &str| suggested_name(s).map(|n| n.to_string());
        assert_eq!(
            name("github.com/acme/payments-api").as_deref(),
            Some("payments-api")
        );
        assert_eq!(name("service/check out!").as_deref(), Some("check-out"));
        assert_eq!(name("PXYZ123").as_deref(), Some("PXYZ123"));
        assert_eq!(name("apps/_web/").as_deref(), Some("web"));
        assert_eq!(name("group/2024").as_deref(), Some("service-2024"));
        assert_eq!(name("a/!!!"), None);
    }
}
