//! What native sources need of the store: a deployment's states and an
//! incident's lifecycle in any order, and commits timed from the request
//! they merged (semantics.md, "Sources of data").

mod common;

use common::{Fixture, all, change, changes, deploy, fixtures, incident, ingest, resolve, t};
use dorado_core::engine::{Benchmark, Metrics, Query, derive, report};
use dorado_core::{
    Command, DeployResult, DeploymentWrite, Environment, IncidentTimes, IncidentWrite,
    MergedRequest, Scope, ServiceId, ServiceName, Sha, Timestamp,
};
use dorado_store::{DeploymentRecord, IncidentRecord, Written};

/// Every order of `items`.
fn orders<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in orders(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

/// The figures of `scope` over `[from, to)`, from the stored facts, as a
/// server computes them.
async fn metrics(f: &Fixture, scope: Scope, from: &str, to: &str) -> Metrics {
    let (facts, _) = f.store.load_facts(f.org).await.unwrap();
    let derived = derive(&facts, &Environment::production());
    let q = Query {
        org_id: f.org,
        scope,
        service: None,
        environment: Environment::production(),
        from: t(from),
        to: t(to),
        benchmark: Benchmark::Y2023,
    };
    report(&facts, &derived, &q).metrics
}

// --- deployments -----------------------------------------------------------

const CREATED: &str = "2024-03-04T10:00:00Z";
const RUNNING: &str = "2024-03-04T10:01:00Z";
const SUCCEEDED: &str = "2024-03-04T10:05:00Z";

/// A GitHub-like deployment's state as one event reports it.
fn state(service: ServiceId, ext: &str, result: DeployResult, at: &str) -> DeploymentWrite {
    let mut w = deploy(service, Some(ext), at);
    w.source = "github".into();
    w.result = result;
    w.started_at = Some(t(CREATED));
    w.finished_at = matches!(result, DeployResult::Success | DeployResult::Failure).then(|| t(at));
    w.state_at = Some(t(at));
    w.attributes = serde_json::json!({ "state": result.as_str() });
    w
}

async fn deployment(f: &Fixture, ext: &str) -> DeploymentRecord {
    let page = f.store.list_deployments(f.org, &all(0)).await.unwrap();
    page.items
        .into_iter()
        .find(|d| d.external_id.as_ref().is_some_and(|e| e.as_str() == ext))
        .unwrap_or_else(|| panic!("{}: no deployment {ext}", f.name()))
}

#[tokio::test]
async fn deployment_states_in_any_order_end_at_the_latest() {
    for f in fixtures().await {
        let name = f.name();
        let states = [
            (DeployResult::Pending, CREATED),
            (DeployResult::InProgress, RUNNING),
            (DeployResult::Success, SUCCEEDED),
        ];
        for (n, order) in orders(&states).into_iter().enumerate() {
            let ext = format!("gh-{n}");
            let mut success_delivery = None;
            for (i, (result, at)) in order.iter().enumerate() {
                let w = state(f.service, &ext, *result, at);
                let done = ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
                let Written::Deployment { created, .. } = done.outcome.written[0] else {
                    panic!("{name}: {done:?}");
                };
                assert_eq!(created, i == 0, "{name}: {order:?}");
                if *result == DeployResult::Success {
                    success_delivery = Some(done.delivery_id);
                }
            }
            let d = deployment(&f, &ext).await;
            assert_eq!(d.result, DeployResult::Success, "{name}: {order:?}");
            assert_eq!(
                (d.started_at, d.finished_at),
                (Some(t(CREATED)), Some(t(SUCCEEDED))),
                "{name}: {order:?}"
            );
            // An older state that came later left the row exactly as it
            // was: the success's delivery and attributes.
            assert_eq!(Some(d.delivery_id), success_delivery, "{name}: {order:?}");
            assert_eq!(d.attributes, serde_json::json!({"state": "success"}));
        }
        let m = metrics(&f, Scope::Organization, "2024-03-04", "2024-03-05").await;
        assert_eq!(m.deployment_frequency.deployments, 6, "{name}");
    }
}

#[tokio::test]
async fn at_one_instant_a_final_result_wins_and_otherwise_the_newer_write() {
    for f in fixtures().await {
        let name = f.name();
        let cases = [
            (
                DeployResult::Success,
                DeployResult::InProgress,
                DeployResult::Success,
            ),
            (
                DeployResult::InProgress,
                DeployResult::Success,
                DeployResult::Success,
            ),
            (
                DeployResult::Failure,
                DeployResult::Pending,
                DeployResult::Failure,
            ),
            (
                DeployResult::Failure,
                DeployResult::Success,
                DeployResult::Success,
            ),
            (
                DeployResult::Success,
                DeployResult::Aborted,
                DeployResult::Aborted,
            ),
            (
                DeployResult::Pending,
                DeployResult::InProgress,
                DeployResult::InProgress,
            ),
        ];
        for (n, (first, second, expected)) in cases.into_iter().enumerate() {
            let ext = format!("tie-{n}");
            for result in [first, second] {
                let w = state(f.service, &ext, result, SUCCEEDED);
                ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
            }
            let d = deployment(&f, &ext).await;
            assert_eq!(d.result, expected, "{name}: {first:?} then {second:?}");
        }
    }
}

#[tokio::test]
async fn writes_without_a_state_time_replace_and_keep_the_stored_one() {
    for f in fixtures().await {
        let name = f.name();
        // An API's deployment has no state time: any vendor state replaces it.
        let mut api = deploy(f.service, Some("d1"), SUCCEEDED);
        api.result = DeployResult::Failure;
        ingest(&f.store, f.org, vec![Command::Deployment(api.clone())]).await;
        let w = state(f.service, "d1", DeployResult::InProgress, CREATED);
        ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
        assert_eq!(deployment(&f, "d1").await.result, DeployResult::InProgress);

        // Success at 10:05, then the API replaces it: the API's word stands...
        let w = state(f.service, "d1", DeployResult::Success, SUCCEEDED);
        ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
        ingest(&f.store, f.org, vec![Command::Deployment(api)]).await;
        assert_eq!(deployment(&f, "d1").await.result, DeployResult::Failure);
        // ...and a vendor's state older than 10:05 is still stale,
        let w = state(f.service, "d1", DeployResult::InProgress, RUNNING);
        ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
        assert_eq!(
            deployment(&f, "d1").await.result,
            DeployResult::Failure,
            "{name}"
        );
        // while a newer one replaces it.
        let w = state(
            f.service,
            "d1",
            DeployResult::Success,
            "2024-03-04T10:06:00Z",
        );
        ingest(&f.store, f.org, vec![Command::Deployment(w)]).await;
        let d = deployment(&f, "d1").await;
        assert_eq!(
            (d.result, d.finished_at),
            (DeployResult::Success, Some(t("2024-03-04T10:06:00Z"))),
            "{name}"
        );
    }
}

// --- incidents -------------------------------------------------------------

const TRIGGERED: &str = "2024-03-04T10:00:00Z";
const RESOLVED: &str = "2024-03-04T11:00:00Z";
const REOPENED: &str = "2024-03-04T12:00:00Z";
const RESOLVED_AGAIN: &str = "2024-03-04T13:00:00Z";

#[derive(Debug, Clone, Copy)]
enum Event {
    Triggered(&'static str),
    Resolved(&'static str),
    Reopened(&'static str),
}

/// A PagerDuty-like event of incident `key`.
fn event(f: &Fixture, key: &str, e: Event) -> Command {
    let mut w: IncidentWrite = incident(Some(f.service), key);
    w.source = "pagerduty".into();
    w.times = IncidentTimes::Lifecycle;
    match e {
        Event::Triggered(at) => w.started_at = Some(t(at)),
        Event::Resolved(at) => w.resolved_at = Some(t(at)),
        Event::Reopened(at) => w.reopened_at = Some(t(at)),
    }
    Command::Incident(w)
}

async fn incident_of(f: &Fixture, key: &str) -> IncidentRecord {
    let page = f.store.list_incidents(f.org, &all(0)).await.unwrap();
    page.items
        .into_iter()
        .find(|i| i.key.as_str() == key)
        .unwrap_or_else(|| panic!("{}: no incident {key}", f.name()))
}

fn times(i: &IncidentRecord) -> (Option<Timestamp>, Option<Timestamp>) {
    (i.started_at, i.resolved_at)
}

#[tokio::test]
async fn a_reopened_incident_restores_from_its_first_start_to_its_last_resolution() {
    for f in fixtures().await {
        let name = f.name();
        let life = [
            Event::Triggered(TRIGGERED),
            Event::Resolved(RESOLVED),
            Event::Reopened(REOPENED),
            Event::Resolved(RESOLVED_AGAIN),
        ];
        let all_orders = orders(&life);
        assert_eq!(all_orders.len(), 24);
        for (n, order) in all_orders.iter().enumerate() {
            let key = format!("PD-{n}");
            for e in order {
                ingest(&f.store, f.org, vec![event(&f, &key, *e)]).await;
            }
            assert_eq!(
                times(&incident_of(&f, &key).await),
                (Some(t(TRIGGERED)), Some(t(RESOLVED_AGAIN))),
                "{name}: {order:?}"
            );
        }
        let m = metrics(&f, Scope::Organization, "2024-03-04", "2024-03-05").await;
        let ttr = m.time_to_restore_service;
        assert_eq!(
            (ttr.incidents, ttr.median_seconds, ttr.open_incidents),
            (24, Some(3 * 3600), 0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_incident_reopened_after_its_last_resolution_is_open() {
    for f in fixtures().await {
        let name = f.name();
        let life = [
            Event::Triggered(TRIGGERED),
            Event::Resolved(RESOLVED),
            Event::Reopened(REOPENED),
        ];
        for (n, order) in orders(&life).iter().enumerate() {
            let key = format!("PD-{n}");
            for e in order {
                ingest(&f.store, f.org, vec![event(&f, &key, *e)]).await;
            }
            assert_eq!(
                times(&incident_of(&f, &key).await),
                (Some(t(TRIGGERED)), None),
                "{name}: {order:?}"
            );
        }
        // Reopened at the instant it was resolved: open too.
        for e in [
            Event::Triggered(TRIGGERED),
            Event::Resolved(RESOLVED),
            Event::Reopened(RESOLVED),
        ] {
            ingest(&f.store, f.org, vec![event(&f, "PD-tie", e)]).await;
        }
        assert_eq!(incident_of(&f, "PD-tie").await.resolved_at, None, "{name}");
        let m = metrics(&f, Scope::Organization, "2024-03-04", "2024-03-05").await;
        let ttr = m.time_to_restore_service;
        assert_eq!((ttr.incidents, ttr.open_incidents), (0, 7), "{name}");
    }
}

#[tokio::test]
async fn resolve_commands_and_api_writes_replace_the_latest_resolution() {
    for f in fixtures().await {
        let name = f.name();
        let key = "PD-mixed";
        for e in [
            Event::Triggered(TRIGGERED),
            Event::Resolved(RESOLVED),
            Event::Reopened(REOPENED),
        ] {
            ingest(&f.store, f.org, vec![event(&f, key, e)]).await;
        }
        // The event API resolves the open incident at 14:00.
        let at = "2024-03-04T14:00:00Z";
        let mut r = resolve(Some(f.service), key, at);
        r.keep_existing = true;
        ingest(&f.store, f.org, vec![Command::ResolveIncident(r)]).await;
        assert_eq!(
            incident_of(&f, key).await.resolved_at,
            Some(t(at)),
            "{name}"
        );
        // A late vendor resolution at 13:00 does not move the later one.
        ingest(
            &f.store,
            f.org,
            vec![event(&f, key, Event::Resolved(RESOLVED_AGAIN))],
        )
        .await;
        assert_eq!(
            incident_of(&f, key).await.resolved_at,
            Some(t(at)),
            "{name}"
        );
        // An API write resolves it at 12:30, after the vendor's reopening
        // at 12:00: its time replaces the later 14:00, and it stays resolved.
        let mut w = incident(Some(f.service), key);
        w.resolved_at = Some(t("2024-03-04T12:30:00Z"));
        ingest(&f.store, f.org, vec![Command::Incident(w)]).await;
        assert_eq!(
            times(&incident_of(&f, key).await),
            (Some(t(TRIGGERED)), Some(t("2024-03-04T12:30:00Z"))),
            "{name}"
        );
        // The vendor's late reopening at 12:00 is older than that resolution.
        ingest(
            &f.store,
            f.org,
            vec![event(&f, key, Event::Reopened(REOPENED))],
        )
        .await;
        assert!(incident_of(&f, key).await.resolved_at.is_some(), "{name}");
        // A reopening after it opens the incident again.
        ingest(
            &f.store,
            f.org,
            vec![event(&f, key, Event::Reopened("2024-03-04T15:00:00Z"))],
        )
        .await;
        assert_eq!(incident_of(&f, key).await.resolved_at, None, "{name}");
        // A resolution before a stored reopening: the reopening goes.
        let key = "PD-early";
        for e in [
            Event::Triggered(TRIGGERED),
            Event::Resolved(RESOLVED),
            Event::Reopened(REOPENED),
        ] {
            ingest(&f.store, f.org, vec![event(&f, key, e)]).await;
        }
        let at = "2024-03-04T11:30:00Z";
        ingest(
            &f.store,
            f.org,
            vec![Command::ResolveIncident(resolve(Some(f.service), key, at))],
        )
        .await;
        assert_eq!(
            incident_of(&f, key).await.resolved_at,
            Some(t(at)),
            "{name}"
        );
        // A start earlier than the first one moves it back; a later one does not.
        for at in ["2024-03-04T09:00:00Z", "2024-03-04T09:30:00Z"] {
            ingest(&f.store, f.org, vec![event(&f, key, Event::Triggered(at))]).await;
        }
        assert_eq!(
            incident_of(&f, key).await.started_at,
            Some(t("2024-03-04T09:00:00Z")),
            "{name}"
        );
    }
}

// --- merged requests -------------------------------------------------------

/// A commit a pull request's merge event reports: no parents (the push
/// brings them), the merge time, and the request.
fn merged(sha: &str, at: &str, request: MergedRequest) -> dorado_core::ChangeWrite {
    let mut c = change(sha, &[], Some(at));
    c.request = Some(request);
    c
}

fn request(head: Option<&str>, base: Option<&str>, commits: Option<u32>) -> MergedRequest {
    MergedRequest {
        opened_at: t("2024-03-04T05:00:00Z"),
        head: head.map(|h| Sha::parse(h).unwrap()),
        base: base.map(|b| Sha::parse(b).unwrap()),
        commits,
    }
}

async fn service(f: &Fixture, name: &str) -> ServiceId {
    let name = ServiceName::parse(name).unwrap();
    f.store.create_service(f.org, &name).await.unwrap().id
}

/// The median lead time of `service`'s deployments on March 4th after 06:00.
async fn median_lead(f: &Fixture, service: ServiceId) -> Option<i64> {
    let m = metrics(
        f,
        Scope::Service(service),
        "2024-03-04T06:00:00Z",
        "2024-03-05",
    )
    .await;
    m.lead_time_for_changes.median_seconds
}

/// ```text
/// aa (00:00) - bb (01:00) ------ 5c (10:00, the squash of the request; 12:00 deployed)
///   \              \
///    f1 (02:00) --- f2 (03:00, the request's head, merging bb in)
/// ```
#[tokio::test]
async fn a_squash_merge_runs_from_the_requests_earliest_known_commit() {
    for f in fixtures().await {
        let name = f.name();
        let pushed = |repo: &str| {
            changes(
                repo,
                vec![
                    change("aa", &[], Some("2024-03-04T00:00:00Z")),
                    change("bb", &["aa"], Some("2024-03-04T01:00:00Z")),
                    change("f1", &["aa"], Some("2024-03-04T02:00:00Z")),
                    change("f2", &["f1", "bb"], Some("2024-03-04T03:00:00Z")),
                    change("5c", &["bb"], Some("2024-03-04T10:00:00Z")),
                ],
            )
        };
        let pr = |repo: &str, r: MergedRequest| {
            changes(repo, vec![merged("5c", "2024-03-04T10:00:00Z", r)])
        };
        // Both orders of the push and the merge event: a push that brings
        // the squash commit again keeps the request.
        for (n, pr_first) in [true, false].into_iter().enumerate() {
            let s = service(&f, &format!("shop{n}")).await;
            let repo = format!("https://github.com/acme/shop{n}");
            let mut d1 = deploy(s, Some("d1"), "2024-03-04T01:30:00Z");
            d1.commits = vec![common::commit(&repo, "bb")];
            let mut d2 = deploy(s, Some("d2"), "2024-03-04T12:00:00Z");
            d2.commits = vec![common::commit(&repo, "5c")];
            let mut writes = vec![
                pushed(&repo),
                pr(&repo, request(Some("f2"), Some("aa"), Some(2))),
            ];
            if !pr_first {
                writes.reverse();
            }
            writes.extend([Command::Deployment(d1), Command::Deployment(d2)]);
            for w in writes {
                ingest(&f.store, f.org, vec![w]).await;
            }
            // From f1, 02:00, to 12:00: not from 5c's own 10:00, nor from
            // bb at 01:00, f2's second parent.
            assert_eq!(median_lead(&f, s).await, Some(10 * 3600), "{name}: {n}");
        }

        // A merge event that brings another request replaces the stored one
        // whole: with neither base nor count, its head alone, f2 at 03:00.
        let repo = "https://github.com/acme/shop0";
        let s0 = ServiceId(f.service.0 + 1);
        ingest(
            &f.store,
            f.org,
            vec![pr(repo, request(Some("f2"), None, None))],
        )
        .await;
        assert_eq!(median_lead(&f, s0).await, Some(9 * 3600), "{name}");
    }
}

#[tokio::test]
async fn a_request_with_no_known_commit_runs_from_its_opening() {
    for f in fixtures().await {
        let name = f.name();
        let s = service(&f, "cart").await;
        let repo = "https://github.com/acme/cart";
        let mut d = deploy(s, Some("d1"), "2024-03-04T12:00:00Z");
        d.commits = vec![common::commit(repo, "5c")];
        let writes = [
            changes(
                repo,
                vec![merged(
                    "5c",
                    "2024-03-04T10:00:00Z",
                    request(Some("fe"), None, None),
                )],
            ),
            Command::Deployment(d),
        ];
        for w in writes {
            ingest(&f.store, f.org, vec![w]).await;
        }
        // Opened at 05:00, deployed at 12:00: 7 h, not the 2 h since 10:00.
        assert_eq!(median_lead(&f, s).await, Some(7 * 3600), "{name}");
        // Without a request it would have been 2 h: a commit written with
        // no request keeps the one stored.
        ingest(
            &f.store,
            f.org,
            vec![changes(
                repo,
                vec![change("5c", &[], Some("2024-03-04T10:00:00Z"))],
            )],
        )
        .await;
        assert_eq!(median_lead(&f, s).await, Some(7 * 3600), "{name}");
    }
}
