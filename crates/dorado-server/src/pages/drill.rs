//! Behind the figures: the deployments of a window with what each shipped
//! and what it caused, and the incidents with the deployment each is
//! linked to and why. The same lists and enrichment as the JSON API.

use super::format::{self, duration};
use super::scorecard::find_service;
use super::session::Me;
use super::window::{PRESETS, Window, WindowParams};
use super::{Nav, PageError, encode, render};
use crate::figures::{enrich_deployments, enrich_incidents};
use crate::state::AppState;
use crate::views::{DeploymentView, IncidentView};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use dorado_core::Timestamp;
use dorado_store::{ListQuery, Service};
use serde::Deserialize;
use std::collections::HashMap;

const PAGE: u32 = 50;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    service: Option<String>,
    cursor: Option<String>,
}

/// What both lists share: the window, the service filter, paging.
pub struct Listing {
    pub window: Window,
    pub presets: [i64; 4],
    pub services: Vec<String>,
    pub service: Option<String>,
    pub path: &'static str,
    pub next: Option<String>,
}

impl Listing {
    /// The list's own query with `window` changed to a preset.
    pub fn preset_link(&self, days: &i64) -> String {
        format!(
            "{}?{}{}",
            self.path,
            self.window.with_preset(days),
            self.scope()
        )
    }

    pub fn scope(&self) -> String {
        self.service
            .as_deref()
            .map_or_else(String::new, |s| format!("&service={}", encode(s)))
    }

    pub fn next_link(&self) -> Option<String> {
        self.next.as_deref().map(|c| {
            format!(
                "{}?{}{}&cursor={}",
                self.path,
                self.window.query(),
                self.scope(),
                encode(c)
            )
        })
    }

    pub fn is_service(&self, name: &str) -> bool {
        self.service.as_deref() == Some(name)
    }
}

async fn listing(
    state: &AppState,
    me: &Me,
    w: &WindowParams,
    p: &ListParams,
    path: &'static str,
) -> Result<(Listing, ListQuery, HashMap<i64, String>), PageError> {
    let window = Window::from_params(w);
    let all = state.store.list_services(me.org.id).await?;
    let chosen: Option<Service> = match p.service.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(find_service(state, me, s).await?),
        None => None,
    };
    let query = ListQuery {
        service_id: chosen.as_ref().map(|s| s.id),
        from: Some(window.from),
        to: Some(window.to),
        limit: PAGE,
        cursor: p.cursor.clone().filter(|c| !c.is_empty()),
    };
    let names = all.iter().map(|s| (s.id.0, s.name.to_string())).collect();
    let listing = Listing {
        window,
        presets: PRESETS,
        services: all.iter().map(|s| s.name.to_string()).collect(),
        service: chosen.map(|s| s.name.to_string()),
        path,
        next: None,
    };
    Ok((listing, query, names))
}

#[derive(Template)]
#[template(path = "deployments.html")]
struct DeploymentsPage {
    nav: Option<Nav>,
    list: Listing,
    rows: Vec<DeploymentRow>,
}

pub struct DeploymentRow {
    pub id: i64,
    pub name: String,
    pub service: String,
    pub environment: String,
    pub result: String,
    pub kind: String,
    pub rework: bool,
    pub source: String,
    pub started: String,
    pub finished: String,
    pub deployed: Vec<(String, String)>,
    pub shipped: Vec<ShippedRow>,
    /// The median lead time of what it shipped.
    pub lead: String,
    pub incidents: Vec<(String, String)>,
}

pub struct ShippedRow {
    pub repo: String,
    pub sha: String,
    pub committed: String,
    pub lead: String,
}

fn short(sha: &str) -> String {
    sha.chars().take(10).collect()
}

pub async fn deployments(
    me: Me,
    State(state): State<AppState>,
    Query(w): Query<WindowParams>,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let (mut list, query, names) = listing(&state, &me, &w, &p, "/deployments").await?;
    let page = state.store.list_deployments(me.org.id, &query).await?;
    list.next = page.next_cursor;
    let mut views: Vec<DeploymentView> = page
        .items
        .into_iter()
        .map(DeploymentView::from_record)
        .collect();
    enrich_deployments(&state.figures, &state.store, me.org.id, &mut views).await?;
    let rows = views
        .into_iter()
        .map(|d| {
            let mut leads: Vec<i64> = d
                .shipped
                .iter()
                .filter_map(|s| s.lead_time_seconds)
                .collect();
            leads.sort_unstable();
            let lead = leads
                .get(leads.len().saturating_sub(1) / 2)
                .copied()
                .or(d.lead_time_seconds)
                .map_or_else(|| "—".to_owned(), duration);
            DeploymentRow {
                id: d.id,
                name: d
                    .external_id
                    .clone()
                    .or(d.name.clone())
                    .unwrap_or_else(|| format!("#{}", d.id)),
                service: names.get(&d.service_id).cloned().unwrap_or_default(),
                environment: d.environment,
                result: d.result,
                kind: d.kind,
                rework: d.rework,
                source: d.source,
                started: format::moment_text(d.started_at.as_deref(), "—"),
                finished: format::moment_text(d.finished_at.as_deref(), "not finished"),
                deployed: d
                    .commits
                    .iter()
                    .map(|c| (c.repo.clone(), short(&c.sha)))
                    .collect(),
                shipped: d
                    .shipped
                    .iter()
                    .map(|s| ShippedRow {
                        repo: s.repo.clone(),
                        sha: short(&s.sha),
                        committed: format::moment_text(s.committed_at.as_deref(), "—"),
                        lead: s.lead_time_seconds.map_or_else(|| "—".into(), duration),
                    })
                    .collect(),
                lead,
                incidents: d
                    .incidents
                    .iter()
                    .map(|i| (i.key.clone(), link_word(&i.link).to_owned()))
                    .collect(),
            }
        })
        .collect();
    render(&DeploymentsPage {
        nav: Some(me.nav("deployments")),
        list,
        rows,
    })
}

fn link_word(link: &str) -> &'static str {
    match link {
        "explicit" => "named as its cause",
        _ => "by time",
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    nav: Option<Nav>,
    list: Listing,
    rows: Vec<IncidentRow>,
}

pub struct IncidentRow {
    pub key: String,
    pub title: String,
    pub service: String,
    pub started: String,
    pub resolved: String,
    pub restore: String,
    pub deployment: Option<String>,
    pub why: String,
    pub counted: bool,
}

pub async fn incidents(
    me: Me,
    State(state): State<AppState>,
    Query(w): Query<WindowParams>,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let (mut list, query, names) = listing(&state, &me, &w, &p, "/incidents").await?;
    let page = state.store.list_incidents(me.org.id, &query).await?;
    list.next = page.next_cursor;
    let mut views: Vec<IncidentView> = page
        .items
        .into_iter()
        .map(IncidentView::from_record)
        .collect();
    enrich_incidents(&state.figures, &state.store, me.org.id, &mut views).await?;
    let window_seconds = me.org.incident_link_window_seconds;
    let rows = views
        .into_iter()
        .map(|i| {
            let service = i
                .service_id
                .and_then(|s| names.get(&s).cloned())
                .unwrap_or_default();
            let restore = match (
                i.started_at
                    .as_deref()
                    .and_then(|t| Timestamp::parse(t).ok()),
                i.resolved_at
                    .as_deref()
                    .and_then(|t| Timestamp::parse(t).ok()),
            ) {
                (Some(s), Some(r)) if r >= s => duration((r.millis() - s.millis()) / 1000),
                (Some(_), None) => "still open".into(),
                _ => "—".into(),
            };
            IncidentRow {
                why: why(&i, &service, window_seconds),
                key: i.key,
                title: i.title.unwrap_or_default(),
                started: format::moment_text(i.started_at.as_deref(), "—"),
                resolved: format::moment_text(i.resolved_at.as_deref(), "—"),
                restore,
                deployment: i.deployment.as_ref().map(|d| {
                    d.external_id
                        .clone()
                        .unwrap_or_else(|| format!("#{}", d.id))
                }),
                counted: i.is_incident,
                service,
            }
        })
        .collect();
    render(&IncidentsPage {
        nav: Some(me.nav("incidents")),
        list,
        rows,
    })
}

/// Why an incident is linked to its deployment, or why to none
/// (semantics.md, "Linking incidents to deployments").
fn why(i: &IncidentView, service: &str, window_seconds: Option<i64>) -> String {
    let cause = i.cause.as_ref();
    let named = |key: &str| cause.and_then(|c| c.get(key)).and_then(|v| v.as_str());
    if !i.is_incident {
        return "An issue of another type: stored, not counted as an incident.".into();
    }
    if i.service_id.is_none() {
        return "Names no service, so it is linked to no deployment; it counts for the \
                organization's time to restore only."
            .into();
    }
    let within = window_seconds.map_or_else(String::new, |w| {
        format!(" within the organization's link window of {}", duration(w))
    });
    match (
        i.link.as_deref(),
        named("deployment_id"),
        named("commit_sha"),
    ) {
        (Some("explicit"), Some(d), _) => format!("The sender named deployment {d} as its cause."),
        (Some("explicit"), None, Some(sha)) => format!(
            "The sender named commit {}; this is the first production deployment of {service} \
             that deployed it.",
            short(sha)
        ),
        (Some("explicit"), None, None) => "Named explicitly by the sender.".into(),
        (Some(_), _, _) => format!(
            "By time: the last successful production deployment of {service} that finished \
             before the incident started{within}."
        ),
        (None, Some(d), _) => format!(
            "The sender named deployment {d}, which is not a successful production deployment \
             of {service}."
        ),
        (None, None, Some(sha)) => format!(
            "The sender named commit {}, which no successful production deployment of \
             {service} deployed.",
            short(sha)
        ),
        (None, None, None) if i.started_at.is_none() => {
            "Only its resolution has arrived: without a start it is linked to nothing.".into()
        }
        (None, None, None) => format!(
            "No successful production deployment of {service} finished before it started{within}."
        ),
    }
}
