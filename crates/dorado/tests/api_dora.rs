//! The figures over real HTTP, against a hand-computed scenario.

mod common;

use common::{Server, databases};
use serde_json::json;

const C1: &str = "c100000000000000000000000000000000000001";
const C2: &str = "c200000000000000000000000000000000000002";
const C3: &str = "c300000000000000000000000000000000000003";

/// Three commits in a line; D1 ships c1, D2 ships c2 and c3; a staging and
/// a failed deployment do not count; one incident after D2, linked by time.
async fn scenario(s: &Server, t: &str) {
    let changes = json!({"repo": "https://github.com/acme/shop.git", "commits": [
        {"sha": C3, "parents": [C2], "committed_at": "2024-03-03T00:00:00Z"},
        {"sha": C1, "parents": [], "committed_at": "2024-03-01T00:00:00Z"},
        {"sha": C2, "parents": [C1], "committed_at": "2024-03-02T00:00:00Z"},
    ]});
    let (status, v) = s
        .post("/api/v1/orgs/acme/changes", t, &changes.to_string())
        .await;
    assert_eq!(status, 201, "{v}");
    let events = json!([
        {"type": "deploy", "service": "checkout", "id": "D2", "time": "2024-03-04T00:00:00Z", "repo": "github.com/acme/shop", "commit_sha": C3},
        {"type": "deploy", "service": "checkout", "id": "D3", "time": "2024-03-05T00:00:00Z", "repo": "github.com/acme/shop", "commit_sha": C3, "environment": "staging"},
        {"type": "deploy", "service": "checkout", "id": "D4", "time": "2024-03-06T00:00:00Z", "repo": "github.com/acme/shop", "commit_sha": C3, "result": "failure"},
        {"type": "incident_resolved", "service": "checkout", "id": "INC-1", "time": "2024-03-04T03:00:00Z"},
        {"type": "incident_started", "service": "checkout", "id": "INC-1", "time": "2024-03-04T02:00:00Z"},
        {"type": "deploy", "service": "checkout", "id": "D1", "time": "2024-03-01T06:00:00Z", "repo": "https://github.com/Acme/Shop", "commit_sha": C1},
    ]);
    let (status, v) = s
        .post("/api/v1/orgs/acme/events", t, &events.to_string())
        .await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn dora_figures_match_the_hand_computed_scenario() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        scenario(&s, &t).await;
        let (status, v) = s
            .get("/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-03-08", &t)
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v,
            json!({
                "org_id": 1, "service": null, "environment": "production", "benchmark": "2023",
                "from": "2024-03-01T00:00:00Z", "to": "2024-03-08T00:00:00Z",
                "deployment_frequency": {"deployments": 2, "deployment_days": 2, "per_day": 0.29,
                    "median_days_per_week": 1, "median_days_per_month": 2, "level": "high"},
                "lead_time_for_changes": {"changes": 3, "median_seconds": 86400, "p75_seconds": 172800,
                    "p90_seconds": 172800, "level": "high"},
                "change_failure_rate": {"deployments": 2, "failed_deployments": 1, "rate": 0.5, "level": "low"},
                "failed_deployment_recovery_time": {"incidents": 1, "median_seconds": 10800, "level": "high"},
                "time_to_restore_service": {"incidents": 1, "median_seconds": 3600, "open_incidents": 0, "level": "high"},
                "rework_rate": {"deployments": 2, "rework_deployments": 0, "rate": 0.0},
            })
        );

        // The command line prints the same object.
        let cli = s.cli.json(&[
            "report",
            "--org",
            "acme",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-08",
        ]);
        assert_eq!(cli, v);
        let table = s.cli.run(&[
            "report",
            "--org",
            "acme",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-08",
        ]);
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(
            table.contains("Change failure rate")
                && table.contains("50.0%")
                && table.contains("low"),
            "{table}"
        );
        // Issue 17: one of a thing is singular.
        assert!(
            table.contains("over 1 incident") && !table.contains(" 1 incidents"),
            "{table}"
        );

        // One service, the 2021 benchmark, and an empty window: nulls, not zeros.
        let (_, v) = s.get("/api/v1/orgs/acme/dora?from=2023-01-01&to=2023-02-01&service=checkout&benchmark=2021", &t).await;
        assert_eq!(v["service"], "checkout");
        assert_eq!(v["benchmark"], "2021");
        assert_eq!(v["deployment_frequency"]["deployments"], 0);
        assert_eq!(v["deployment_frequency"]["level"], json!(null));
        assert_eq!(v["lead_time_for_changes"]["median_seconds"], json!(null));
        assert_eq!(v["change_failure_rate"]["rate"], json!(null));

        // The lists show what the engine derived.
        let (_, list) = s
            .get(
                "/api/v1/orgs/acme/deployments?from=2024-03-04&to=2024-03-05",
                &t,
            )
            .await;
        let d2 = &list["items"][0];
        assert_eq!(d2["external_id"], "D2");
        let mut leads: Vec<_> = d2["shipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["sha"].clone(), c["lead_time_seconds"].clone()))
            .collect();
        leads.sort_by_key(|(sha, _)| sha.to_string());
        assert_eq!(
            leads,
            vec![(json!(C2), json!(172800)), (json!(C3), json!(86400))]
        );
        assert_eq!(d2["incidents"], json!([{"key": "INC-1", "link": "time"}]));
        let (_, incidents) = s.get("/api/v1/orgs/acme/incidents", &t).await;
        assert_eq!(incidents["items"][0]["deployment"]["external_id"], "D2");
        assert_eq!(incidents["items"][0]["link"], "time");

        // Weekly series: two weeks overlap the window, clipped to it.
        let (status, series) = s
            .get(
                "/api/v1/orgs/acme/dora/series?from=2024-03-01&to=2024-03-08&bucket=week",
                &t,
            )
            .await;
        assert_eq!(status, 200, "{series}");
        let buckets = series["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0]["from"], "2024-03-01T00:00:00Z");
        assert_eq!(buckets[0]["to"], "2024-03-04T00:00:00Z");
        assert_eq!(buckets[0]["deployment_frequency"]["deployments"], 1);
        assert_eq!(buckets[1]["deployment_frequency"]["deployments"], 1);

        for bad in [
            "from=soon",
            "benchmark=2022",
            "environment=",
            "from=2024-03-08&to=2024-03-01",
        ] {
            let (status, v) = s.get(&format!("/api/v1/orgs/acme/dora?{bad}"), &t).await;
            assert_eq!(status, 400, "{bad}: {v}");
        }
    }
}

#[tokio::test]
async fn figures_follow_new_writes_and_the_link_window() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        scenario(&s, &t).await;
        let path = "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-03-08";
        let (_, before) = s.get(path, &t).await;
        assert_eq!(before["change_failure_rate"]["failed_deployments"], 1);
        // A 1-hour window: the incident (2 h after D2) is no longer linked.
        s.cli
            .json(&["org", "update", "acme", "--incident-link-window", "1h"]);
        let (_, after) = s.get(path, &t).await;
        assert_eq!(after["change_failure_rate"]["failed_deployments"], 0);
        assert_eq!(
            after["failed_deployment_recovery_time"]["median_seconds"],
            json!(null)
        );
        // A hotfix is rework.
        let hotfix = json!({"id": "D5", "service": "checkout", "kind": "hotfix", "finished_at": "2024-03-07T00:00:00Z",
                            "repo": "github.com/acme/shop", "commit_sha": C3});
        let (status, _) = s
            .post("/api/v1/orgs/acme/deployments", &t, &hotfix.to_string())
            .await;
        assert_eq!(status, 201);
        let (_, later) = s.get(path, &t).await;
        assert_eq!(
            later["rework_rate"],
            json!({"deployments": 3, "rework_deployments": 1, "rate": 0.3333})
        );
    }
}

#[tokio::test]
async fn prometheus_shows_the_callers_figures_of_the_last_30_days_and_request_metrics() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        s.cli.json(&["org", "create", "globex"]);
        let now = json!([
            {"type": "deploy", "service": "checkout", "id": "now-1", "repo": "r", "commit_sha": C1},
            {"type": "deploy", "service": "checkout", "id": "now-2", "repo": "r", "commit_sha": C2},
        ]);
        let (status, _) = s
            .post("/api/v1/orgs/acme/events", &t, &now.to_string())
            .await;
        assert_eq!(status, 201);
        let r = s.http.get(s.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = s
            .http
            .get(s.url("/metrics"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = r.text().await.unwrap();
        for line in [
            "dorado_deployments{org=\"acme\"} 2",
            "dorado_deployments{org=\"acme\",service=\"checkout\"} 2",
            "dorado_deployments{org=\"acme\",service=\"cart\"} 0",
            "dorado_change_failure_rate{org=\"acme\"} 0",
            "# TYPE dorado_http_requests_total counter",
            "# TYPE dorado_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains("globex"), "another organization shows");
        // Lead time has no data: no sample, rather than a made-up zero.
        assert!(!text.contains("dorado_lead_time_median_seconds{"), "{text}");
    }
}

/// The figures every question of `answers` compares.
const QUESTIONS: [&str; 5] = [
    "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-03-15",
    "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-03-15&service=checkout",
    "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-03-15&service=cart",
    "/api/v1/orgs/acme/dora/series?from=2024-03-01&to=2024-03-15&bucket=week",
    "/api/v1/orgs/acme/deployments?limit=100",
];

async fn answers(s: &Server, t: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for q in QUESTIONS {
        let (status, v) = s.get(q, t).await;
        assert_eq!(status, 200, "{q}: {v}");
        out.push(v);
    }
    out
}

/// Regression for the incremental figures: an instance that derived the
/// figures before a write reloads only what the write touched (on its own
/// writes and on another instance's), and must answer exactly as an
/// instance that loads everything afresh, whatever the write touched: a
/// service, a repository deployed by two services, incidents without a
/// service, the link window.
#[tokio::test]
async fn figures_after_each_write_equal_a_fresh_load_on_every_instance() {
    for db in databases() {
        let url = db.url.clone();
        let a = Server::start(db);
        let t = a.acme();
        let b = Server::start_on(&url, &[]);
        scenario(&a, &t).await;
        let writes: Vec<(&str, serde_json::Value)> = vec![
            // cart deploys the same repository: the commits ship for it too.
            (
                "events",
                json!({"type": "deploy", "service": "cart", "id": "K1", "time": "2024-03-05T00:00:00Z",
                              "repo": "github.com/acme/shop", "commit_sha": C2}),
            ),
            // A later commit arrives after the deployment that names it.
            (
                "events",
                json!({"type": "deploy", "service": "checkout", "id": "D6", "time": "2024-03-09T00:00:00Z",
                              "repo": "github.com/acme/shop", "commit_sha": "c400000000000000000000000000000000000004"}),
            ),
            (
                "changes",
                json!({"repo": "github.com/acme/shop", "commits": [
                {"sha": "c400000000000000000000000000000000000004", "parents": [C3], "committed_at": "2024-03-08T00:00:00Z"}]}),
            ),
            (
                "events",
                json!({"type": "incident_started", "id": "ORG-1", "time": "2024-03-10T00:00:00Z"}),
            ),
            (
                "events",
                json!({"type": "incident_started", "service": "cart", "id": "INC-9", "time": "2024-03-06T00:00:00Z"}),
            ),
            (
                "events",
                json!({"type": "incident_resolved", "id": "INC-9", "time": "2024-03-06T05:00:00Z"}),
            ),
            (
                "events",
                json!({"type": "incident_resolved", "id": "ORG-1", "time": "2024-03-10T01:00:00Z"}),
            ),
        ];
        let mut last = Vec::new();
        for (i, (route, body)) in writes.iter().enumerate() {
            // Both instances hold derived figures before each write.
            let before_a = answers(&a, &t).await;
            assert_eq!(answers(&b, &t).await, before_a, "write {i}");
            let (status, v) = a
                .post(&format!("/api/v1/orgs/acme/{route}"), &t, &body.to_string())
                .await;
            assert!(status == 200 || status == 201, "write {i}: {status} {v}");
            let fresh = Server::start_on(&url, &[]);
            let want = answers(&fresh, &t).await;
            assert_ne!(want, before_a, "write {i} changes some answer");
            assert_eq!(answers(&a, &t).await, want, "the writer after write {i}");
            assert_eq!(
                answers(&b, &t).await,
                want,
                "the other instance after write {i}"
            );
            last = want;
        }
        // What the writes gave, by hand: cart's K1 ships c1 and c2 (its
        // first deployment of the repository) and is linked to INC-9.
        assert_eq!(last[2]["deployment_frequency"]["deployments"], 1);
        assert_eq!(last[2]["lead_time_for_changes"]["changes"], 2);
        assert_eq!(last[2]["change_failure_rate"]["failed_deployments"], 1);
        assert_eq!(last[2]["time_to_restore_service"]["median_seconds"], 18000);
        // D6 ships c4, committed a day before: checkout has 4 lead times.
        assert_eq!(last[1]["lead_time_for_changes"]["changes"], 4);
        // ORG-1 counts at organization scope only.
        assert_eq!(last[0]["time_to_restore_service"]["incidents"], 3);
        assert_eq!(last[1]["time_to_restore_service"]["incidents"], 1);

        link_window_reaches_every_instance(&a, &b, &url, &t, &last).await;
    }
}

async fn link_window_reaches_every_instance(
    a: &Server,
    b: &Server,
    url: &str,
    t: &str,
    before: &[serde_json::Value],
) {
    a.cli
        .json(&["org", "update", "acme", "--incident-link-window", "1h"]);
    let want = answers(&Server::start_on(url, &[]), t).await;
    assert_ne!(want, before);
    assert_eq!(answers(a, t).await, want);
    assert_eq!(answers(b, t).await, want);
}
