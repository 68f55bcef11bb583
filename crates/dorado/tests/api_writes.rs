//! Writes over real HTTP: what is stored is what the sender meant, bad
//! input is refused whole with a reason, and a 2xx is durable.

mod common;

use common::{Server, databases};
use serde_json::{Value, json};

const SHA1: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";
const SHA2: &str = "a2e7da86cc392417b0d9f605b28038aae80b002f";

async fn items(s: &Server, token: &str, what: &str) -> Vec<Value> {
    let (status, v) = s.get(&format!("/api/v1/orgs/acme/{what}"), token).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

/// Deployments, incidents and changes: what a refused request must not touch.
async fn stored(s: &Server, token: &str) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    (
        items(s, token, "deployments").await,
        items(s, token, "incidents").await,
        items(s, token, "changes").await,
    )
}

#[tokio::test]
async fn a_deployment_is_stored_as_sent_and_upserted_by_its_id() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let body = json!({
            "id": "d1", "service": "checkout", "environment": "Production", "result": "SUCCESS",
            "started_at": "2024-03-04T11:50:00Z", "finished_at": "2024-03-04T13:00:00+01:00",
            "repo": "https://github.com/acme/checkout", "commit_sha": SHA1,
        });
        let (status, v) = s
            .post("/api/v1/orgs/acme/deployments", &t, &body.to_string())
            .await;
        assert_eq!(status, 201, "{v}");
        let id = v["written"][0]["id"].clone();
        let d = &items(&s, &t, "deployments").await[0];
        assert_eq!(d["id"], id);
        assert_eq!(d["external_id"], "d1");
        assert_eq!(d["environment"], "production");
        assert_eq!(d["result"], "success");
        assert_eq!(d["started_at"], "2024-03-04T11:50:00Z");
        assert_eq!(d["finished_at"], "2024-03-04T12:00:00Z");
        assert_eq!(d["source"], "native");
        assert_eq!(d["rework"], false);
        assert_eq!(
            d["commits"],
            json!([{"repo": "https://github.com/acme/checkout", "sha": SHA1}])
        );

        // Posting the same id again replaces it, commits included.
        let again = json!({
            "id": "d1", "service": "checkout", "result": "failure",
            "finished_at": "2024-03-04T12:30:00Z",
            "commits": [{"repo": "github.com/acme/a", "sha": SHA2}, {"repo": "github.com/acme/b", "sha": SHA1}],
        });
        let (status, v) = s
            .post("/api/v1/orgs/acme/deployments", &t, &again.to_string())
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["written"][0]["id"], id);
        assert_eq!(v["written"][0]["created"], false);
        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["result"], "failure");
        assert_eq!(all[0]["finished_at"], "2024-03-04T12:30:00Z");
        assert_eq!(all[0]["commits"].as_array().unwrap().len(), 2);

        // Without an id, every post is a new deployment.
        let anon = json!({"service": "checkout", "finished_at": "2024-03-05T12:00:00Z", "repo": "r", "commit_sha": SHA1});
        for _ in 0..2 {
            let (status, _) = s
                .post("/api/v1/orgs/acme/deployments", &t, &anon.to_string())
                .await;
            assert_eq!(status, 201);
        }
        assert_eq!(items(&s, &t, "deployments").await.len(), 3);
    }
}

#[tokio::test]
async fn changes_and_incidents_round_trip() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let changes = json!({"repo": "https://github.com/acme/shop", "commits": [
            {"sha": SHA2, "parents": [SHA1], "committed_at": "2024-03-04T08:00:00Z", "author": "dev@acme.io", "message": "Fix"},
            {"sha": SHA1, "parents": [], "authored_at": "2024-03-03T08:00:00Z"},
        ]});
        let (status, v) = s
            .post("/api/v1/orgs/acme/changes", &t, &changes.to_string())
            .await;
        assert_eq!(status, 201, "{v}");
        let listed = items(&s, &t, "changes").await;
        assert_eq!(listed.len(), 2);
        let newest = &listed[0];
        assert_eq!(newest["sha"], SHA2);
        assert_eq!(newest["parents"], json!([SHA1]));
        assert_eq!(newest["committed_at"], "2024-03-04T08:00:00Z");

        let inc = json!({"id": "INC-3", "service": "checkout", "title": "Checkout fails",
                         "started_at": "2024-03-04T13:00:00Z", "deployment_id": "d1"});
        let (status, v) = s
            .post("/api/v1/orgs/acme/incidents", &t, &inc.to_string())
            .await;
        assert_eq!(status, 201, "{v}");
        let (status, v) = s
            .post(
                "/api/v1/orgs/acme/incidents/INC-3/resolve",
                &t,
                r#"{"resolved_at":"2024-03-04T14:30:00Z"}"#,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let i = &items(&s, &t, "incidents").await[0];
        assert_eq!(i["key"], "INC-3");
        assert_eq!(i["title"], "Checkout fails");
        assert_eq!(i["started_at"], "2024-03-04T13:00:00Z");
        assert_eq!(i["resolved_at"], "2024-03-04T14:30:00Z");

        let (status, v) = s
            .post("/api/v1/orgs/acme/incidents/NOPE/resolve", &t, "")
            .await;
        assert_eq!(status, 404, "{v}");
    }
}

#[tokio::test]
async fn an_event_batch_is_stored_all_or_nothing() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let good = json!([
            {"type": "deploy", "service": "checkout", "time": "2024-05-01T10:00:00Z", "id": "d-17",
             "environment": "production", "result": "success", "repo": "github.com/acme/shop", "commit_sha": SHA1},
            {"type": "incident_resolved", "service": "checkout", "id": "INC-9", "time": "2024-05-01T12:00:00Z"},
            {"type": "incident_started", "service": "checkout", "id": "INC-9", "time": "2024-05-01T11:00:00Z", "title": "Errors"},
        ]);
        let mut bad = good.clone();
        bad[2]["time"] = json!("yesterday");
        let before = stored(&s, &t).await;
        let (status, v) = s
            .post("/api/v1/orgs/acme/events", &t, &bad.to_string())
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["errors"][0]["pointer"], "/2/time");
        assert_eq!(
            stored(&s, &t).await,
            before,
            "a refused batch stored something"
        );

        let (status, v) = s
            .post("/api/v1/orgs/acme/events", &t, &good.to_string())
            .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["written"].as_array().unwrap().len(), 3);
        let i = &items(&s, &t, "incidents").await[0];
        assert_eq!(
            i["started_at"], "2024-05-01T11:00:00Z",
            "resolve before start"
        );
        assert_eq!(i["resolved_at"], "2024-05-01T12:00:00Z");
        let d = &items(&s, &t, "deployments").await[0];
        assert_eq!(d["finished_at"], "2024-05-01T10:00:00Z");
        assert_eq!(d["source"], "events");
    }
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_and_refuse_another_body() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let body = json!({"service": "checkout", "finished_at": "2024-03-05T12:00:00Z", "repo": "r", "commit_sha": SHA1}).to_string();
        let post = |key: &'static str, body: String| {
            s.http
                .post(s.url("/api/v1/orgs/acme/deployments"))
                .bearer_auth(&t)
                .header("Idempotency-Key", key)
                .body(body)
                .send()
        };
        let first = common::answer(post("k-1", body.clone()).await.unwrap()).await;
        let again = common::answer(post("k-1", body.clone()).await.unwrap()).await;
        assert_eq!(first.0, 201);
        assert_eq!(again.0, 201);
        assert_eq!(first.1["written"], again.1["written"]);
        assert_eq!(again.1["replayed"], true);
        let other = body.replace("2024-03-05", "2024-03-06");
        let conflict = common::answer(post("k-1", other).await.unwrap()).await;
        assert_eq!(conflict.0, 409, "{}", conflict.1);
        assert_eq!(items(&s, &t, "deployments").await.len(), 1);
        // GitHub's delivery header works the same way.
        let gh = s
            .http
            .post(s.url("/api/v1/orgs/acme/deployments"))
            .bearer_auth(&t)
            .header("X-GitHub-Delivery", "72d3162e")
            .body(body.clone());
        assert_eq!(gh.try_clone().unwrap().send().await.unwrap().status(), 201);
        assert_eq!(gh.send().await.unwrap().status(), 201);
        assert_eq!(items(&s, &t, "deployments").await.len(), 2);
    }
}

#[tokio::test]
async fn bad_input_names_the_field_or_the_line_and_stores_nothing() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let before = stored(&s, &t).await;
        let cases: &[(&str, &str, u16, &str)] = &[
            (
                "deployments",
                "{\n  \"service\": \"checkout\",\n  \"repo\": 'x'\n}",
                400,
                "line 3",
            ),
            ("deployments", "", 400, "line 1"),
            ("deployments", "[]", 400, ""),
            (
                "deployments",
                r#"{"service":"checkout","finished_at":"soon","repo":"r","commit_sha":"abc"}"#,
                400,
                "/finished_at",
            ),
            (
                "deployments",
                r#"{"service":"nope","repo":"r","commit_sha":"abc"}"#,
                400,
                "/service",
            ),
            (
                "deployments",
                r#"{"service":"checkout","result":"maybe","repo":"r","commit_sha":"abc"}"#,
                400,
                "/result",
            ),
            (
                "changes",
                r#"{"repo":"r","commits":[{"sha":"a\tb"}]}"#,
                400,
                "/commits/0/sha",
            ),
            (
                "incidents",
                r#"{"service":"checkout","title":"x"}"#,
                400,
                "/",
            ),
            ("events", r#"{"type":"party"}"#, 400, "/type"),
        ];
        for (what, body, want, mention) in cases {
            let r = s
                .http
                .post(s.url(&format!("/api/v1/orgs/acme/{what}")))
                .bearer_auth(&t)
                .header("content-type", "text/plain")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            let (status, v) = common::answer(r).await;
            assert_eq!(status, *want, "{what} {body}: {v}");
            assert!(
                v.to_string().contains(mention),
                "{what} {body}: {v} does not mention {mention}"
            );
            assert_eq!(v["status"], *want);
        }
        assert_eq!(
            stored(&s, &t).await,
            before,
            "a refused request stored something"
        );
        // The refusals are in the delivery log, with their reasons.
        let log = items(&s, &t, "deliveries").await;
        assert_eq!(log.len(), cases.len());
        assert!(
            log.iter()
                .all(|d| d["accepted"] == false && d["error"].is_string())
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    for db in databases() {
        let s = Server::start_with(db, &["--body-limit", "2048"]);
        let t = s.acme();
        let big = json!({"service": "checkout", "repo": "r", "commit_sha": SHA1, "name": "x".repeat(4096)});
        let (status, v) = s
            .post("/api/v1/orgs/acme/deployments", &t, &big.to_string())
            .await;
        assert_eq!(status, 413, "{v}");
        assert!(items(&s, &t, "deployments").await.is_empty());
        // The batch limit of /events is its own.
        let batch = json!([{"type": "deploy", "service": "checkout", "repo": "r", "commit_sha": SHA1, "note": "x".repeat(1500)},
                           {"type": "deploy", "service": "checkout", "repo": "r", "commit_sha": SHA2, "note": "y".repeat(1500)}]);
        let (status, v) = s
            .post("/api/v1/orgs/acme/events", &t, &batch.to_string())
            .await;
        assert_eq!(status, 201, "{v}");
    }
}

/// Issue 12: an incident posted again without `started_at` keeps its
/// start; one posted first without it starts when the request arrived.
#[tokio::test]
async fn an_incident_posted_again_without_a_start_keeps_its_start() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let post = |body: Value| {
            let (s, t) = (&s, &t);
            async move {
                let (status, v) = s
                    .post("/api/v1/orgs/acme/incidents", t, &body.to_string())
                    .await;
                assert!(status == 200 || status == 201, "{status} {v}");
            }
        };
        post(
            json!({"id": "INC-1", "service": "checkout", "title": "Down",
                    "started_at": "2024-03-04T13:00:00Z"}),
        )
        .await;
        post(json!({"id": "INC-1", "service": "checkout", "title": "Down, still"})).await;
        let (status, v) = s
            .post(
                "/api/v1/orgs/acme/events",
                &t,
                &json!({"type": "incident_started", "service": "checkout", "id": "INC-1"})
                    .to_string(),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let incidents = items(&s, &t, "incidents").await;
        let one = incidents.iter().find(|i| i["key"] == "INC-1").unwrap();
        assert_eq!(one["started_at"], "2024-03-04T13:00:00Z", "{one}");
        assert_eq!(one["title"], "Down, still");

        let before = dorado_core::Timestamp::now();
        post(json!({"id": "INC-2", "service": "checkout"})).await;
        let incidents = items(&s, &t, "incidents").await;
        let two = incidents.iter().find(|i| i["key"] == "INC-2").unwrap();
        let started = dorado_core::Timestamp::parse(two["started_at"].as_str().unwrap()).unwrap();
        assert!(started.seconds() >= before.seconds(), "{two}");
        // A start given again still moves it, as the sender says.
        post(json!({"id": "INC-1", "service": "checkout", "started_at": "2024-03-04T12:30:00Z"}))
            .await;
        let incidents = items(&s, &t, "incidents").await;
        let one = incidents.iter().find(|i| i["key"] == "INC-1").unwrap();
        assert_eq!(one["started_at"], "2024-03-04T12:30:00Z");
    }
}

/// Issue 17: the delivery log holds the status each request was answered.
#[tokio::test]
async fn the_delivery_log_records_the_status_sent() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let body = json!({"id": "d1", "service": "checkout", "repo": "github.com/acme/checkout",
                          "commit_sha": SHA1, "finished_at": "2024-03-04T12:00:00Z"})
        .to_string();
        let mut sent = Vec::new();
        for _ in 0..2 {
            let (status, v) = s.post("/api/v1/orgs/acme/deployments", &t, &body).await;
            sent.push((v["delivery_id"].as_i64().unwrap(), status));
        }
        assert_eq!(sent.iter().map(|x| x.1).collect::<Vec<_>>(), [201, 200]);
        let (_, log) = s.get("/api/v1/orgs/acme/deliveries", &t).await;
        for (id, status) in sent {
            let d = log["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["id"] == id)
                .unwrap();
            assert_eq!(d["status"], status, "{d}");
        }
    }
}

/// Issue 17: body limits take sizes such as `1KiB`, not only bytes.
#[tokio::test]
async fn body_limits_take_sizes() {
    let db = databases().remove(0);
    let s = Server::start_with(db, &["--body-limit", "1KiB"]);
    let t = s.acme();
    let small = json!({"id": "d1", "service": "checkout"}).to_string();
    let (status, v) = s.post("/api/v1/orgs/acme/deployments", &t, &small).await;
    assert_eq!(status, 201, "{v}");
    let big = json!({"id": "d2", "service": "checkout", "name": "x".repeat(1100)}).to_string();
    let (status, _) = s.post("/api/v1/orgs/acme/deployments", &t, &big).await;
    assert_eq!(status, 413);
}
