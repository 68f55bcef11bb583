//! GitDailies-style events (seed 004) end to end: deploys, incidents started
//! and resolved, with and without `time`, and historical events in any
//! order, which must give what the same events give in time order.

mod common;

use common::{Server, databases};
use dorado_core::Timestamp;
use serde_json::{Value, json};

const SHA1: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";
const SHA2: &str = "a2e7da86cc392417b0d9f605b28038aae80b002f";
const SHA3: &str = "8f3c2a1e9b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39";

async fn items(s: &Server, org: &str, token: &str, what: &str) -> Vec<Value> {
    let (status, v) = s.get(&format!("/api/v1/orgs/{org}/{what}"), token).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

async fn event(s: &Server, org: &str, token: &str, e: &Value) -> Value {
    let (status, v) = s
        .post(&format!("/api/v1/orgs/{org}/events"), token, &e.to_string())
        .await;
    assert!(status == 200 || status == 201, "{e}: {status} {v}");
    v
}

fn seconds(v: &Value) -> i64 {
    Timestamp::parse(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .expect("RFC 3339")
        .seconds()
}

#[tokio::test]
async fn deploys_and_incidents_with_and_without_time() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();

        let v = event(
            &s,
            "acme",
            &t,
            &json!({"type": "deploy", "service": "checkout", "id": "d-1", "time": "2024-05-01T10:00:00Z",
                    "repo": "github.com/acme/checkout", "commit_sha": SHA1}),
        )
        .await;
        assert_eq!(v["written"][0]["kind"], "deployment");
        assert_eq!(v["written"][0]["created"], true);
        let d = &items(&s, "acme", &t, "deployments").await[0];
        assert_eq!(d["external_id"], "d-1");
        assert_eq!(d["source"], "events");
        assert_eq!(d["finished_at"], "2024-05-01T10:00:00Z");
        assert_eq!(d["result"], "success");
        assert_eq!(d["environment"], "production");
        assert_eq!(
            d["commits"],
            json!([{"repo": "github.com/acme/checkout", "sha": SHA1}])
        );

        // GitDailies' own wording, and no time: now.
        let before = Timestamp::now().seconds();
        event(
            &s,
            "acme",
            &t,
            &json!({"type": "Deploy occurred", "service": "checkout", "id": "d-2",
                    "repo": "github.com/acme/checkout", "commit_sha": SHA2}),
        )
        .await;
        let after = Timestamp::now().seconds();
        let all = items(&s, "acme", &t, "deployments").await;
        let d2 = all.iter().find(|d| d["external_id"] == "d-2").expect("d-2");
        assert!(
            (before..=after + 1).contains(&seconds(&d2["finished_at"])),
            "{d2}"
        );

        event(
            &s,
            "acme",
            &t,
            &json!({"type": "incident_started", "service": "checkout", "id": "INC-1",
                    "time": "2024-05-01T11:00:00Z", "title": "Checkout fails"}),
        )
        .await;
        let i = &items(&s, "acme", &t, "incidents").await[0];
        assert_eq!(i["key"], "INC-1");
        assert_eq!(i["title"], "Checkout fails");
        assert_eq!(i["started_at"], "2024-05-01T11:00:00Z");
        assert_eq!(i["resolved_at"], Value::Null);
        assert_eq!(i["is_incident"], true);
        assert_eq!(i["source"], "events");

        event(
            &s,
            "acme",
            &t,
            &json!({"type": "incident_resolved", "service": "checkout", "id": "INC-1",
                    "time": "2024-05-01T12:30:00+02:00"}),
        )
        .await;
        let i = &items(&s, "acme", &t, "incidents").await[0];
        assert_eq!(i["started_at"], "2024-05-01T11:00:00Z");
        assert_eq!(i["resolved_at"], "2024-05-01T10:30:00Z");

        // Started and resolved without time: both now.
        let before = Timestamp::now().seconds();
        event(
            &s,
            "acme",
            &t,
            &json!({"type": "incident_started", "service": "checkout", "id": "INC-2"}),
        )
        .await;
        event(
            &s,
            "acme",
            &t,
            &json!({"type": "Incident ended", "service": "checkout", "id": "INC-2"}),
        )
        .await;
        let after = Timestamp::now().seconds();
        let all = items(&s, "acme", &t, "incidents").await;
        assert_eq!(all.len(), 2);
        let i2 = all.iter().find(|i| i["key"] == "INC-2").expect("INC-2");
        let (started, resolved) = (seconds(&i2["started_at"]), seconds(&i2["resolved_at"]));
        assert!(
            before <= started && started <= resolved && resolved <= after + 1,
            "{i2}"
        );
    }
}

/// A month of history: (time order, event).
fn history() -> Vec<Value> {
    let deploy = |id: &str, time: &str, sha: &str, result: &str| {
        json!({"type": "deploy", "service": "checkout", "id": id, "time": time, "result": result,
               "repo": "https://github.com/acme/checkout", "commit_sha": sha})
    };
    vec![
        deploy("d-1", "2024-04-01T10:00:00Z", SHA1, "success"),
        deploy("d-2", "2024-04-03T10:00:00Z", SHA2, "failure"),
        json!({"type": "incident_started", "service": "checkout", "id": "INC-7",
               "time": "2024-04-03T10:30:00Z", "title": "Errors after d-2"}),
        json!({"type": "incident_resolved", "service": "checkout", "id": "INC-7",
               "time": "2024-04-03T12:00:00Z"}),
        deploy("d-3", "2024-04-05T10:00:00Z", SHA3, "success"),
        json!({"type": "incident_started", "service": "checkout", "id": "INC-8",
               "time": "2024-04-06T09:00:00Z", "title": "Slow"}),
        json!({"type": "incident_resolved", "service": "checkout", "id": "INC-8",
               "time": "2024-04-06T09:45:00Z"}),
    ]
}

/// A list without what differs between two organizations fed the same
/// events: row ids, service ids, delivery times.
fn comparable(mut list: Vec<Value>) -> Vec<Value> {
    for v in &mut list {
        if let Some(o) = v.as_object_mut() {
            for k in ["id", "service_id", "updated_at"] {
                o.remove(k);
            }
            if let Some(d) = o.get_mut("deployment").and_then(Value::as_object_mut) {
                d.remove("id");
            }
        }
    }
    list
}

#[tokio::test]
async fn historical_events_in_reverse_order_give_what_time_order_gives() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        s.cli.json(&["org", "create", "beta"]);
        s.cli
            .json(&["service", "create", "--org", "beta", "checkout"]);
        let b = s.cli.json(&[
            "token",
            "create",
            "--org",
            "beta",
            "--name",
            "ci",
            "--scopes",
            "ingest,read",
        ]);
        let b = b["token"].as_str().expect("a token").to_owned();

        // acme hears of each event as it happens; beta gets the history
        // newest first, each resolve before its start.
        for e in history() {
            event(&s, "acme", &t, &e).await;
        }
        for e in history().iter().rev() {
            event(&s, "beta", &b, e).await;
        }

        let deployments = comparable(items(&s, "beta", &b, "deployments").await);
        let incidents = comparable(items(&s, "beta", &b, "incidents").await);
        assert_eq!(
            deployments,
            comparable(items(&s, "acme", &t, "deployments").await)
        );
        assert_eq!(
            incidents,
            comparable(items(&s, "acme", &t, "incidents").await)
        );

        let ids: Vec<&Value> = deployments.iter().map(|d| &d["external_id"]).collect();
        assert_eq!(ids, ["d-3", "d-2", "d-1"], "newest first");
        assert_eq!(deployments[1]["result"], "failure");
        let inc8 = incidents
            .iter()
            .find(|i| i["key"] == "INC-8")
            .expect("INC-8");
        assert_eq!(inc8["title"], "Slow");
        assert_eq!(inc8["started_at"], "2024-04-06T09:00:00Z");
        assert_eq!(inc8["resolved_at"], "2024-04-06T09:45:00Z");
        let inc7 = incidents
            .iter()
            .find(|i| i["key"] == "INC-7")
            .expect("INC-7");
        assert_eq!(inc7["started_at"], "2024-04-03T10:30:00Z");
        assert_eq!(inc7["resolved_at"], "2024-04-03T12:00:00Z");

        // The figures too, where the server reports them.
        let q = "dora?from=2024-04-01&to=2024-05-01";
        let (sa, a) = s.get(&format!("/api/v1/orgs/acme/{q}"), &t).await;
        let (sb, mut fb) = s.get(&format!("/api/v1/orgs/beta/{q}"), &b).await;
        assert_eq!(sa, sb);
        if sa == 200 {
            fb["org_id"] = a["org_id"].clone();
            assert_eq!(fb, a);
        }

        // Also as one batch, newest first.
        s.cli.json(&["org", "create", "gamma"]);
        s.cli
            .json(&["service", "create", "--org", "gamma", "checkout"]);
        let g = s.cli.json(&[
            "token",
            "create",
            "--org",
            "gamma",
            "--name",
            "ci",
            "--scopes",
            "ingest,read",
        ]);
        let g = g["token"].as_str().expect("a token").to_owned();
        let batch = Value::Array(history().into_iter().rev().collect());
        event(&s, "gamma", &g, &batch).await;
        assert_eq!(
            comparable(items(&s, "gamma", &g, "deployments").await),
            deployments
        );
        assert_eq!(
            comparable(items(&s, "gamma", &g, "incidents").await),
            incidents
        );
    }
}
