//! Issue 11, "done when": a GitHub organization, a GitLab group, a
//! PagerDuty account and a CDEvents emitter, each connected with the
//! command line only, send their own webhooks (signed as the vendors sign,
//! several out of order, some twice), and the figures are exactly the
//! hand-computed ones, on SQLite and PostgreSQL.

mod common;
mod sources_common;

use common::{Server, databases};
use serde_json::{Value, json};
use sources_common::*;

const ZERO: &str = "0000000000000000000000000000000000000000";
/// The pull request's two commits, pushed to its branch.
const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
/// The squash merge of the pull request on main, and main before it.
const M: &str = "cccccccccccccccccccccccccccccccccccccc03";
const P0: &str = "dddddddddddddddddddddddddddddddddddddd04";
/// GitLab's one commit.
const C1: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee05";

const GH_REPO: &str = "https://github.com/acme/checkout";
const GL_PROJECT: &str = "https://gitlab.com/acme/cart";

fn gh_repository() -> Value {
    json!({"id": 1, "name": "checkout", "full_name": "acme/checkout", "html_url": GH_REPO,
           "owner": {"login": "acme"}})
}

fn gh_push(before: &str, after: &str, r#ref: &str, commits: &[(&str, &str)]) -> Value {
    let commits: Vec<Value> = commits
        .iter()
        .map(|(id, at)| {
            json!({"id": id, "timestamp": at, "message": format!("commit {id}"),
                   "author": {"name": "Ada", "email": "ada@example.com"}, "distinct": true})
        })
        .collect();
    json!({"ref": r#ref, "before": before, "after": after, "created": before == ZERO,
           "deleted": false, "forced": false, "commits": commits,
           "head_commit": commits.last(), "repository": gh_repository()})
}

fn gh_deployment() -> Value {
    json!({"id": 1001, "sha": M, "ref": "main", "task": "deploy", "environment": "production",
           "created_at": "2024-03-04T11:50:00Z", "updated_at": "2024-03-04T11:50:00Z",
           "creator": {"login": "ada"}, "payload": {}})
}

fn gh_issue(action: &str, state: &str, closed_at: Option<&str>) -> Value {
    json!({"action": action, "repository": gh_repository(),
           "issue": {"number": 7, "title": "Checkout fails", "state": state,
                     "labels": [{"name": "Incident"}],
                     "created_at": "2024-03-04T13:00:00Z", "updated_at": "2024-03-04T14:00:00Z",
                     "closed_at": closed_at}})
}

fn gl_deployment(status: &str, at: &str) -> Value {
    gl_deployment_to(15, "production", status, at)
}

fn gl_deployment_to(id: i64, environment: &str, status: &str, at: &str) -> Value {
    json!({"object_kind": "deployment", "status": status, "status_changed_at": at,
           "deployment_id": id, "deployable_id": 796, "environment": environment,
           "environment_tier": environment, "short_sha": &C1[..8],
           "commit_url": format!("{GL_PROJECT}/-/commit/{C1}"), "ref": "main",
           "user": {"username": "ada"},
           "project": {"id": 30, "name": "cart", "path_with_namespace": "acme/cart",
                       "web_url": GL_PROJECT}})
}

fn pd_event(id: &str, kind: &str, at: &str) -> Vec<u8> {
    json!({"event": {"id": id, "event_type": kind, "resource_type": "incident",
                     "occurred_at": at,
                     "data": {"id": "Q1PAYMENTS", "type": "incident", "number": 9,
                              "title": "Payments API errors", "status": "triggered",
                              "created_at": "2024-03-05T11:00:00Z",
                              "service": {"id": "PSVC1", "summary": "Payments API",
                                          "type": "service_reference"}}}})
    .to_string()
    .into_bytes()
}

fn cdevent(id: &str, kind: &str, at: &str, subject: Value) -> Value {
    json!({"context": {"version": "0.4.1", "id": id, "source": "tekton/acme",
                       "type": format!("dev.cdevents.{kind}"), "timestamp": at},
           "subject": subject})
}

fn service_subject(env: &str) -> Value {
    json!({"id": "service/checkout", "source": "tekton/acme",
           "content": {"environment": {"id": env}, "artifactId": "pkg:oci/checkout@sha256:0123"}})
}

fn incident_subject() -> Value {
    json!({"id": "ce-inc-1", "source": "tekton/acme",
           "content": {"description": "Checkout latency", "environment": {"id": "production"},
                       "service": {"id": "service/checkout"}}})
}

fn ok(status: u16, v: &Value, what: &str) {
    assert!(status == 200 || status == 201, "{what}: {status} {v}");
    assert!(v.get("ignored").is_none(), "{what} was ignored: {v}");
}

#[tokio::test]
async fn four_native_sources_give_exact_figures() {
    for db in databases() {
        let s = Server::start(db);
        let token = s.acme();
        let gh = create_source(&s, &["--kind", "github"], "");
        let gl = create_source(&s, &["--kind", "gitlab"], "");
        let pd_secret = "pagerduty-made-this-secret";
        let pd = create_source(&s, &["--kind", "pagerduty", "--secret-stdin"], pd_secret);
        let ce = create_source(&s, &["--kind", "cdevents"], "");
        let ingest = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "tekton", "--scopes", "ingest",
        ]);
        let ingest = ingest["token"].as_str().unwrap().to_owned();
        // PagerDuty knows the cart service by its own id.
        s.cli.json(&[
            "service", "update", "--org", "acme", "cart", "--alias", "PSVC1",
        ]);

        // --- GitHub: checkout, by the repository's name -------------------
        let branch = gh_push(
            ZERO,
            B,
            "refs/heads/faster",
            &[(A, "2024-03-04T08:00:00Z"), (B, "2024-03-04T09:00:00Z")],
        );
        let (st, v) = github(&s, &gh, "push", "gh-1", branch.to_string().as_bytes()).await;
        ok(st, &v, "branch push");
        let pr = json!({"action": "closed", "number": 12, "repository": gh_repository(),
            "pull_request": {"number": 12, "merged": true, "merged_at": "2024-03-04T10:00:00Z",
                "created_at": "2024-03-03T10:00:00Z", "merge_commit_sha": M, "commits": 2,
                "head": {"sha": B, "ref": "faster"}, "base": {"sha": P0, "ref": "main", "repo": gh_repository()}}});
        let (st, v) = github(&s, &gh, "pull_request", "gh-2", pr.to_string().as_bytes()).await;
        ok(st, &v, "merged pull request");
        let main = gh_push(P0, M, "refs/heads/main", &[(M, "2024-03-04T10:00:00Z")]);
        let (st, v) = github(&s, &gh, "push", "gh-3", main.to_string().as_bytes()).await;
        ok(st, &v, "main push");
        // The status arrives before its deployment.
        let status = json!({"action": "created", "repository": gh_repository(), "deployment": gh_deployment(),
            "deployment_status": {"id": 2, "state": "success", "environment": "production",
                                  "created_at": "2024-03-04T12:00:00Z"}});
        let (st, v) = github(
            &s,
            &gh,
            "deployment_status",
            "gh-4",
            status.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "deployment status");
        let created = json!({"action": "created", "repository": gh_repository(), "deployment": gh_deployment()});
        let (st, v) = github(
            &s,
            &gh,
            "deployment",
            "gh-5",
            created.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "deployment");
        let (st, v) = github(
            &s,
            &gh,
            "deployment",
            "gh-5",
            created.to_string().as_bytes(),
        )
        .await;
        assert_eq!(
            (st, v["replayed"].clone()),
            (200, json!(true)),
            "a redelivery: {v}"
        );
        for (n, issue) in [
            gh_issue("labeled", "open", None),
            gh_issue("closed", "closed", Some("2024-03-04T14:00:00Z")),
        ]
        .iter()
        .enumerate()
        {
            let (st, v) = github(
                &s,
                &gh,
                "issues",
                &format!("gh-issue-{n}"),
                issue.to_string().as_bytes(),
            )
            .await;
            ok(st, &v, "incident issue");
        }
        let elsewhere = gh_push(ZERO, A, "refs/heads/main", &[(A, "2024-03-04T08:00:00Z")]);
        let mut elsewhere = elsewhere;
        elsewhere["repository"]["html_url"] = json!("https://github.com/acme/unknown-repo");
        elsewhere["repository"]["full_name"] = json!("acme/unknown-repo");
        let (st, v) = github(&s, &gh, "push", "gh-6", elsewhere.to_string().as_bytes()).await;
        assert_eq!(st, 200);
        assert!(
            v["ignored"]
                .as_str()
                .unwrap()
                .contains("github.com/acme/unknown-repo"),
            "{v}"
        );

        // --- GitLab: cart, its deployment's statuses out of order ---------
        let push = json!({"object_kind": "push", "event_name": "push", "before": ZERO, "after": C1,
            "ref": "refs/heads/main", "checkout_sha": C1, "total_commits_count": 1,
            "project": {"id": 30, "name": "cart", "path_with_namespace": "acme/cart", "web_url": GL_PROJECT},
            "commits": [{"id": C1, "message": "Cart", "timestamp": "2024-03-05T08:00:00Z",
                         "author": {"name": "Bo", "email": "bo@example.com"}}]});
        let (st, v) = gitlab(&s, &gl, "Push Hook", "gl-1", push.to_string().as_bytes()).await;
        ok(st, &v, "gitlab push");
        let success = gl_deployment("success", "2024-03-05 10:00:00 UTC");
        let (st, v) = gitlab(
            &s,
            &gl,
            "Deployment Hook",
            "gl-2",
            success.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "gitlab success");
        let running = gl_deployment("running", "2024-03-05 09:50:00 UTC");
        let (st, v) = gitlab(
            &s,
            &gl,
            "Deployment Hook",
            "gl-3",
            running.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "gitlab running");

        // In order, on staging: the start of `running` stays with `success`.
        for (n, (status, at)) in [
            ("running", "2024-03-05 09:00:00 UTC"),
            ("success", "2024-03-05 09:30:00 UTC"),
        ]
        .iter()
        .enumerate()
        {
            let body = gl_deployment_to(16, "staging", status, at);
            let (st, v) = gitlab(
                &s,
                &gl,
                "Deployment Hook",
                &format!("gl-staging-{n}"),
                body.to_string().as_bytes(),
            )
            .await;
            ok(st, &v, "gitlab staging");
        }

        // --- PagerDuty: cart, by alias; reopened, in scrambled order ------
        for (id, kind, at) in [
            ("e4", "incident.resolved", "2024-03-05T13:00:00Z"),
            ("e1", "incident.triggered", "2024-03-05T11:00:00Z"),
            ("e3", "incident.reopened", "2024-03-05T12:00:00Z"),
            ("e2", "incident.resolved", "2024-03-05T11:30:00Z"),
            ("e1", "incident.triggered", "2024-03-05T11:00:00Z"),
        ] {
            let (st, v) = pagerduty(&s, &pd, pd_secret, &pd_event(id, kind, at)).await;
            ok(st, &v, kind);
        }

        // --- CDEvents: checkout, in binary, structured and batch mode -----
        let deployed = cdevent(
            "ce-1",
            "service.deployed.0.1.1",
            "2024-03-06T10:00:00Z",
            service_subject("prod"),
        );
        let (st, v) = cdevents(
            &s,
            &ce,
            &ingest,
            "application/json",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "ce-1"),
                ("ce-source", "tekton/acme"),
                ("ce-type", "dev.cdevents.service.deployed.0.1.1"),
            ],
            deployed.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "service deployed (binary)");
        let rolledback = cdevent(
            "ce-2",
            "service.rolledback.0.1.1",
            "2024-03-06T15:00:00Z",
            service_subject("production"),
        );
        let structured = json!({"specversion": "1.0", "id": "ce-2", "source": "tekton/acme",
            "type": "dev.cdevents.service.rolledback.0.1.1", "datacontenttype": "application/json",
            "data": rolledback});
        let (st, v) = cdevents(
            &s,
            &ce,
            &ingest,
            "application/cloudevents+json",
            &[],
            structured.to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "service rolled back (structured)");
        let batch: Vec<Value> = [
            ("ce-3", "incident.detected.0.1.0", "2024-03-06T12:00:00Z"),
            ("ce-4", "incident.resolved.0.1.0", "2024-03-06T12:30:00Z"),
        ]
        .iter()
        .map(|(id, kind, at)| {
            json!({"specversion": "1.0", "id": id, "source": "tekton/acme",
                   "type": format!("dev.cdevents.{kind}"), "data": cdevent(id, kind, at, incident_subject())})
        })
        .collect();
        let (st, v) = cdevents(
            &s,
            &ce,
            &ingest,
            "application/cloudevents-batch+json",
            &[],
            json!(batch).to_string().as_bytes(),
        )
        .await;
        ok(st, &v, "incident detected and resolved (batch)");

        // --- What was stored ----------------------------------------------
        let (_, deployments) = s
            .get("/api/v1/orgs/acme/deployments?limit=50", &token)
            .await;
        let all = deployments["items"].as_array().unwrap().clone();
        let staging = all.iter().find(|d| d["environment"] == "staging").unwrap();
        assert_eq!(staging["started_at"], "2024-03-05T09:00:00Z");
        assert_eq!(staging["finished_at"], "2024-03-05T09:30:00Z");
        let deployments: Vec<Value> = all
            .into_iter()
            .filter(|d| d["environment"] == "production")
            .collect();
        assert_eq!(deployments.len(), 4, "{deployments:?}");
        let github_d = deployments
            .iter()
            .find(|d| d["source"] == "github")
            .unwrap();
        assert_eq!(github_d["external_id"], "github:deployment:1001");
        assert_eq!(
            github_d["result"], "success",
            "the later status wins whatever the order"
        );
        assert_eq!(github_d["finished_at"], "2024-03-04T12:00:00Z");
        assert_eq!(github_d["shipped"][0]["sha"], M);
        assert_eq!(
            github_d["shipped"][0]["lead_time_seconds"], 14_400,
            "timed from the request's first commit"
        );
        let gitlab_d = deployments
            .iter()
            .find(|d| d["source"] == "gitlab")
            .unwrap();
        assert_eq!(gitlab_d["result"], "success");
        assert_eq!(gitlab_d["finished_at"], "2024-03-05T10:00:00Z");
        assert_eq!(
            gitlab_d["started_at"], "2024-03-05T09:50:00Z",
            "a late `running` still starts it"
        );
        assert_eq!(gitlab_d["shipped"][0]["lead_time_seconds"], 7_200);
        let rework: Vec<&Value> = deployments.iter().filter(|d| d["rework"] == true).collect();
        assert_eq!(rework.len(), 1);
        assert_eq!(rework[0]["finished_at"], "2024-03-06T15:00:00Z");

        let (_, incidents) = s.get("/api/v1/orgs/acme/incidents?limit=50", &token).await;
        let incidents = incidents["items"].as_array().unwrap().clone();
        assert_eq!(incidents.len(), 3, "{incidents:?}");
        let pd_i = incidents.iter().find(|i| i["key"] == "Q1PAYMENTS").unwrap();
        assert_eq!(pd_i["started_at"], "2024-03-05T11:00:00Z");
        assert_eq!(
            pd_i["resolved_at"], "2024-03-05T13:00:00Z",
            "open again, then resolved last at 13:00"
        );
        let gh_i = incidents
            .iter()
            .find(|i| i["key"] == "acme/checkout#7")
            .unwrap();
        assert_eq!(gh_i["resolved_at"], "2024-03-04T14:00:00Z");

        // --- The figures, computed by hand ----------------------------------
        // Deployments: GitHub 03-04 12:00, GitLab 03-05 10:00, CDEvents
        // 03-06 10:00 and its rollback 03-06 15:00: 4, on 3 days.
        // Lead times: M 12:00 - 08:00 (A, the request's first commit) =
        // 14,400 s; C1 10:00 - 08:00 = 7,200 s: median 7,200, p75 14,400.
        // Failures: each incident links by time to the deployment before
        // it (GitHub's, GitLab's, CDEvents' 10:00): 3 of 4.
        // Recovery: 14:00-12:00, 13:00-10:00, 12:30-10:00 = 7,200,
        // 10,800, 9,000: median 9,000. Restore: 3,600, 7,200 (11:00 to the
        // last resolution at 13:00), 1,800: median 3,600. Rework: 1 of 4.
        let (st, f) = s
            .get(
                "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-04-01",
                &token,
            )
            .await;
        assert_eq!(st, 200, "{f}");
        assert_eq!(f["deployment_frequency"]["deployments"], 4, "{f}");
        assert_eq!(f["deployment_frequency"]["deployment_days"], 3);
        assert_eq!(f["lead_time_for_changes"]["changes"], 2);
        assert_eq!(f["lead_time_for_changes"]["median_seconds"], 7_200);
        assert_eq!(f["lead_time_for_changes"]["p75_seconds"], 14_400);
        assert_eq!(f["change_failure_rate"]["failed_deployments"], 3);
        assert_eq!(f["change_failure_rate"]["rate"], 0.75);
        assert_eq!(f["failed_deployment_recovery_time"]["incidents"], 3);
        assert_eq!(
            f["failed_deployment_recovery_time"]["median_seconds"],
            9_000
        );
        assert_eq!(f["time_to_restore_service"]["incidents"], 3);
        assert_eq!(f["time_to_restore_service"]["median_seconds"], 3_600);
        assert_eq!(f["time_to_restore_service"]["open_incidents"], 0);
        assert_eq!(f["rework_rate"]["rework_deployments"], 1);
        assert_eq!(f["rework_rate"]["rate"], 0.25);

        // The same after a reindex from the delivery log.
        s.cli.json(&["reindex", "--org", "acme"]);
        let (_, again) = s
            .get(
                "/api/v1/orgs/acme/dora?from=2024-03-01&to=2024-04-01",
                &token,
            )
            .await;
        assert_eq!(
            again, f,
            "a reindex reads every source's deliveries to the same figures"
        );

        // Mapped afterwards, the tool's "Redeliver" of the ignored push is
        // stored, not replayed.
        s.cli.json(&[
            "service",
            "update",
            "--org",
            "acme",
            "cart",
            "--alias",
            "github.com/acme/unknown-repo",
        ]);
        let (st, v) = github(&s, &gh, "push", "gh-6", elsewhere.to_string().as_bytes()).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["written"][0]["kind"], "changes", "{v}");
    }
}
