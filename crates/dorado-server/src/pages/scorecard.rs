//! The scorecard of the organization and of each service: the figures of
//! `GET /dora` for the chosen window, their trends, and (for the
//! organization) a table of its services.

use super::cards::{Card, cards};
use super::format::LevelView;
use super::session::Me;
use super::window::{PRESETS, Window, WindowParams};
use super::{Nav, PageError, encode, render};
use crate::figures::{Derivation, Snapshot};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use dorado_core::engine::{Metrics, Query as Question};
use dorado_core::{Environment, Scope};
use dorado_store::Service;
use serde::Deserialize;
use std::cmp::Ordering;

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let signed_in = state
        .pages
        .session(&headers)
        .is_some_and(|s| s.user.is_some());
    Redirect::to(if signed_in { "/scorecard" } else { "/signin" }).into_response()
}

#[derive(Template)]
#[template(path = "scorecard.html")]
struct ScorecardPage {
    nav: Option<Nav>,
    window: Window,
    presets: [i64; 4],
    /// The service shown, or `None` for the whole organization.
    service: Option<Service>,
    title: String,
    cards: Vec<Card>,
    rows: Vec<Row>,
    sort: Sort,
    /// What to do next when there is nothing to show.
    empty: Option<Empty>,
    /// The page's own path, for the window picker's links.
    path: String,
    /// `&service=...` for the drill-down links, or nothing.
    scope_query: String,
}

impl ScorecardPage {
    fn start_iso(&self) -> String {
        self.window.from.to_string()
    }

    fn end_iso(&self) -> String {
        self.window.to.to_string()
    }

    fn sort_link(&self, key: &str) -> String {
        let dir = if self.sort.key == key && !self.sort.descending {
            "desc"
        } else {
            "asc"
        };
        format!("{}?{}&sort={key}&dir={dir}", self.path, self.window.query())
    }

    fn sort_mark(&self, key: &str) -> &'static str {
        match (self.sort.key == key, self.sort.descending) {
            (false, _) => "",
            (true, false) => "▲",
            (true, true) => "▼",
        }
    }

    fn aria_sort(&self, key: &str) -> &'static str {
        match (self.sort.key == key, self.sort.descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }
}

pub struct Empty {
    pub title: String,
    pub text: String,
    /// A button: its label and where it leads.
    pub action: Option<(String, String)>,
}

/// One service in the organization's table.
pub struct Row {
    pub name: String,
    pub href: String,
    pub deployments: u64,
    pub per_day: String,
    pub frequency: Option<LevelView>,
    pub lead: String,
    pub lead_level: Option<LevelView>,
    pub cfr: String,
    pub cfr_level: Option<LevelView>,
    pub recovery: String,
    pub recovery_level: Option<LevelView>,
    pub restore: String,
    pub restore_level: Option<LevelView>,
    pub rework: String,
    metrics: Metrics,
}

#[derive(Debug, Deserialize)]
pub struct SortParams {
    sort: Option<String>,
    dir: Option<String>,
}

pub struct Sort {
    pub key: String,
    pub descending: bool,
}

const SORT_KEYS: [&str; 7] = [
    "name",
    "frequency",
    "lead",
    "cfr",
    "recovery",
    "restore",
    "rework",
];

pub async fn organization(
    me: Me,
    State(state): State<AppState>,
    Query(w): Query<WindowParams>,
    Query(s): Query<SortParams>,
) -> Result<Response, PageError> {
    let window = Window::from_params(&w);
    let services = state.store.list_services(me.org.id).await?;
    let (snapshot, derived) = derive(&state, &me).await?;
    let sort = Sort {
        key: s
            .sort
            .filter(|k| SORT_KEYS.contains(&k.as_str()))
            .unwrap_or_else(|| "name".into()),
        descending: s.dir.as_deref() == Some("desc"),
    };
    let mut rows: Vec<Row> = services
        .iter()
        .map(|svc| row(&me, &derived, &window, svc))
        .collect();
    sort_rows(&mut rows, &sort);
    let (cards, counted) = figures(&me, &derived, &window, Scope::Organization, None);
    let empty = if services.is_empty() {
        Some(no_services(&me))
    } else if counted == 0 {
        Some(nothing_counted(&me, &snapshot, &window, None))
    } else {
        None
    };
    render(&ScorecardPage {
        nav: Some(me.nav("scorecard")),
        title: me.org.name.to_string(),
        presets: PRESETS,
        service: None,
        cards,
        rows,
        sort,
        empty,
        path: "/scorecard".into(),
        scope_query: String::new(),
        window,
    })
}

pub async fn service(
    me: Me,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(w): Query<WindowParams>,
) -> Result<Response, PageError> {
    let window = Window::from_params(&w);
    let svc = find_service(&state, &me, &name).await?;
    let (snapshot, derived) = derive(&state, &me).await?;
    let scope = Scope::Service(svc.id);
    let (cards, counted) = figures(&me, &derived, &window, scope, Some(&svc));
    let empty = (counted == 0).then(|| nothing_counted(&me, &snapshot, &window, Some(&svc)));
    render(&ScorecardPage {
        nav: Some(me.nav("scorecard")),
        title: svc.name.to_string(),
        presets: PRESETS,
        path: format!("/services/{}", encode(svc.name.as_str())),
        scope_query: format!("&service={}", encode(svc.name.as_str())),
        service: Some(svc),
        cards,
        rows: Vec::new(),
        sort: Sort {
            key: "name".into(),
            descending: false,
        },
        empty,
        window,
    })
}

/// One of the signed-in user's services, by name or id; 404 otherwise.
pub async fn find_service(state: &AppState, me: &Me, name: &str) -> Result<Service, PageError> {
    state
        .store
        .list_services(me.org.id)
        .await?
        .into_iter()
        .find(|s| s.name.as_str() == name || s.id.0.to_string() == name)
        .ok_or_else(|| PageError::NotFound(format!("{} has no service '{name}'", me.org.name)))
}

/// The organization's snapshot and what is derived from it for
/// production, exactly as `GET /dora` gets them.
async fn derive(
    state: &AppState,
    me: &Me,
) -> Result<(std::sync::Arc<Snapshot>, std::sync::Arc<Derivation>), PageError> {
    let snapshot = state.figures.snapshot(&state.store, me.org.id).await?;
    let derived = snapshot.derived(&Environment::production()).await?;
    Ok((snapshot, derived))
}

fn question(me: &Me, window: &Window, scope: Scope, svc: Option<&Service>) -> Question {
    Question {
        org_id: me.org.id,
        scope,
        service: svc.map(|s| s.name.clone()),
        environment: Environment::production(),
        from: window.from,
        to: window.to,
        benchmark: window.benchmark,
    }
}

/// The cards of one scope, and how many deployments counted in the window.
fn figures(
    me: &Me,
    derived: &Derivation,
    window: &Window,
    scope: Scope,
    svc: Option<&Service>,
) -> (Vec<Card>, u64) {
    let q = question(me, window, scope, svc);
    let r = derived.report(&q);
    let trend = derived.series(&q, window.bucket);
    let counted = r.metrics.deployment_frequency.deployments
        + r.metrics.time_to_restore_service.incidents
        + r.metrics.time_to_restore_service.open_incidents;
    (cards(&r.metrics, &trend, window), counted)
}

fn row(me: &Me, derived: &Derivation, window: &Window, svc: &Service) -> Row {
    let q = question(me, window, Scope::Service(svc.id), Some(svc));
    let m = derived.report(&q).metrics;
    let level = |l: Option<dorado_core::engine::Level>| l.map(LevelView::of);
    let secs = |s: Option<i64>| s.map_or_else(|| "—".into(), super::format::duration);
    let rate = |r: Option<f64>| r.map_or_else(|| "—".into(), super::format::percent);
    Row {
        name: svc.name.to_string(),
        href: format!("/services/{}?{}", encode(svc.name.as_str()), window.query()),
        deployments: m.deployment_frequency.deployments,
        per_day: m
            .deployment_frequency
            .per_day
            .map_or_else(|| "—".into(), |d| format!("{d:.2}")),
        frequency: level(m.deployment_frequency.level),
        lead: secs(m.lead_time_for_changes.median_seconds),
        lead_level: level(m.lead_time_for_changes.level),
        cfr: rate(m.change_failure_rate.rate),
        cfr_level: level(m.change_failure_rate.level),
        recovery: secs(m.failed_deployment_recovery_time.median_seconds),
        recovery_level: level(m.failed_deployment_recovery_time.level),
        restore: secs(m.time_to_restore_service.median_seconds),
        restore_level: level(m.time_to_restore_service.level),
        rework: rate(m.rework_rate.rate),
        metrics: m,
    }
}

/// Sorts by the chosen figure; rows without one go last either way, and
/// ties keep name order.
fn sort_rows(rows: &mut [Row], sort: &Sort) {
    let key = |m: &Metrics| -> Option<f64> {
        match sort.key.as_str() {
            "frequency" => m.deployment_frequency.per_day,
            "lead" => m.lead_time_for_changes.median_seconds.map(|s| s as f64),
            "cfr" => m.change_failure_rate.rate,
            "recovery" => m
                .failed_deployment_recovery_time
                .median_seconds
                .map(|s| s as f64),
            "restore" => m.time_to_restore_service.median_seconds.map(|s| s as f64),
            "rework" => m.rework_rate.rate,
            _ => None,
        }
    };
    rows.sort_by(|a, b| {
        let by_name = a.name.cmp(&b.name);
        if sort.key == "name" {
            return if sort.descending {
                by_name.reverse()
            } else {
                by_name
            };
        }
        let ord = match (key(&a.metrics), key(&b.metrics)) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if sort.descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        ord.then(by_name)
    });
}

fn no_services(me: &Me) -> Empty {
    if me.admin {
        Empty {
            title: "Start by creating a service".into(),
            text: format!(
                "{} has no services yet. A service is what you deploy: create one, and Dorado \
                 shows the webhook URLs and curl commands to paste into your CI pipeline.",
                me.org.name
            ),
            action: Some(("Create a service".into(), "/settings/services".into())),
        }
    } else {
        Empty {
            title: "No services yet".into(),
            text: format!(
                "{} has no services yet. Ask an admin of {} to create one and point your CI \
                 pipeline at its webhook; the figures appear here with the first deployment.",
                me.org.name, me.org.name
            ),
            action: None,
        }
    }
}

fn nothing_counted(me: &Me, snapshot: &Snapshot, window: &Window, svc: Option<&Service>) -> Empty {
    let ever = snapshot.has_deployments(svc.map(|s| s.id));
    let whose = svc.map_or_else(|| me.org.name.to_string(), |s| s.name.to_string());
    if !ever {
        let (text, action) = match (me.admin, svc) {
            (true, Some(s)) => (
                format!(
                    "Nothing was received for {whose} yet. Paste one of its curl commands into \
                     your deployment pipeline; the figures appear with the first production \
                     deployment."
                ),
                Some((
                    "Show the webhooks".to_owned(),
                    format!("/settings/services/{}", encode(s.name.as_str())),
                )),
            ),
            (true, None) => (
                "Point your CI pipeline at a service's webhook: each service's set-up page has \
                 curl commands ready to paste."
                    .to_owned(),
                Some((
                    "Set up services".to_owned(),
                    "/settings/services".to_owned(),
                )),
            ),
            (false, _) => (
                format!(
                    "Nothing was received for {whose} yet. Once your pipeline sends its \
                     deployments (an admin has the webhook URLs), the figures appear here."
                ),
                None,
            ),
        };
        return Empty {
            title: "No deployments yet".into(),
            text,
            action,
        };
    }
    let widest = window.with_preset(&365);
    let path = svc.map_or_else(
        || "/scorecard".to_owned(),
        |s| format!("/services/{}", encode(s.name.as_str())),
    );
    let hint = if me.admin {
        " If your pipeline sent some, the delivery log shows whether they were refused, and why."
    } else {
        ""
    };
    Empty {
        title: "Nothing in this window".into(),
        text: format!(
            "No successful production deployment of {whose} finished and no incident started \
             {}.{hint}",
            window.label()
        ),
        action: Some(("Show the last 365 days".into(), format!("{path}?{widest}"))),
    }
}
