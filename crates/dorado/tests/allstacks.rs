//! Allstacks' Custom CD webhook, drop-in: the payloads of seeds 000 and 001
//! as printed and corrected, the seed's own Python client, every required
//! field and limit, and the metrics query the seed verifies with.

mod common;

use common::{Server, databases};
use dorado_core::Timestamp;
use serde_json::{Value, json};
use std::process::Command;

const SHA: &str = "a2e7da86cc392417b0d9f605b28038aae80b002f";
const JOB: &str = "/webhook/company/acme/cicd_job";
const METRICS: &str = "/api/v1/organization/acme/metrics_v2/metrics/";

async fn deployments(s: &Server, token: &str) -> Vec<Value> {
    let (status, v) = s.get("/api/v1/orgs/acme/deployments", token).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

async fn service_id(s: &Server, token: &str, name: &str) -> i64 {
    let (status, v) = s.get("/api/v1/orgs/acme/services", token).await;
    assert_eq!(status, 200, "{v}");
    v["items"]
        .as_array()
        .and_then(|all| all.iter().find(|x| x["name"] == name))
        .and_then(|x| x["id"].as_i64())
        .unwrap_or_else(|| panic!("no service {name}: {v}"))
}

/// POSTs and returns the status, the Content-Type and the JSON answer.
async fn post(s: &Server, path: &str, token: &str, body: &str) -> (u16, String, Value) {
    let r = s
        .http
        .post(s.url(path))
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, v) = common::answer(r).await;
    (status, kind, v)
}

/// The seed's sample service is 2: `cart` in [`Server::acme`].
async fn acme_with_service_2(s: &Server) -> String {
    let t = s.acme();
    assert_eq!(
        service_id(s, &t, "cart").await,
        2,
        "the seeds' service_id 2 is cart"
    );
    t
}

#[tokio::test]
async fn seed_001_sample_as_printed_is_refused_at_its_first_fault_and_the_corrected_one_stored() {
    for db in databases() {
        let s = Server::start(db);
        let t = acme_with_service_2(&s).await;

        // Curly and single quotes, a missing and a trailing comma: the
        // first fault is the comma missing after "testuser@org.com".
        let printed = include_str!("fixtures/allstacks_001_sample.txt");
        let (status, kind, v) = post(&s, JOB, &t, printed).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(kind, "application/problem+json");
        assert_eq!(
            (v["line"].clone(), v["column"].clone()),
            (json!(6), json!(1))
        );
        assert_eq!(
            v["detail"],
            "malformed JSON at line 6, column 1: expected `,` or `}`"
        );
        // Seed 000's one-line example fails earlier: the no-break spaces
        // the web page indents with.
        let example = include_str!("fixtures/allstacks_000_example.txt");
        let (status, _, v) = post(&s, JOB, &t, example).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(
            (v["line"].clone(), v["column"].clone()),
            (json!(1), json!(3))
        );
        assert!(deployments(&s, &t).await.is_empty());
        let (_, log) = s.get("/api/v1/orgs/acme/deliveries", &t).await;
        assert_eq!(log["items"][1]["accepted"], false, "{log}");
        assert_eq!(log["items"][1]["status"], 400, "{log}");
        assert_eq!(log["items"][1]["body"], printed);

        let corrected = include_str!("fixtures/allstacks_001_corrected.json");
        let (status, kind, job) = post(&s, JOB, &t, corrected).await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(kind, "application/json");
        let stored = deployments(&s, &t).await;
        assert_eq!(stored.len(), 1);
        let d = &stored[0];
        assert_eq!(
            job,
            json!({
                "id": d["id"], "job_id": "1", "commit_sha": SHA, "service_id": 2,
                "job_start_time": 1704018030, "job_duration": 300, "status": "Succeeded",
                "repo_id": "12345", "repo_name": null, "triggered_by": "testuser@org.com",
                "job_type": "Production Deploy",
                "optional": [
                    {"key": "microservice", "value": ["frontend", "backend"], "type": "string"},
                    {"key": "lead_time", "value": 20, "type": "duration"},
                    {"key": "float_key", "value": 20.5, "type": "float"},
                    {"key": "qa_approved_on", "value": 1704018030, "type": "timestamp"},
                ],
            })
        );
        assert_eq!(d["service_id"], 2);
        assert_eq!(d["source"], "allstacks");
        assert_eq!(d["external_id"], Value::Null);
        assert_eq!(d["result"], "success");
        assert_eq!(d["environment"], "production");
        assert_eq!(d["started_at"], "2023-12-31T10:20:30Z");
        assert_eq!(d["finished_at"], "2023-12-31T10:25:30Z");
        assert_eq!(d["lead_time_seconds"], 20);
        assert_eq!(d["rework"], false);
        assert_eq!(d["commits"], json!([{"repo": "12345", "sha": SHA}]));
        assert_eq!(d["attributes"]["job_type"], "Production Deploy");

        // job_id is not unique: the same job again is a second row.
        let (status, _, again) = post(&s, JOB, &t, corrected).await;
        assert_eq!(status, 200, "{again}");
        assert_ne!(again["id"], job["id"]);
        assert_eq!(deployments(&s, &t).await.len(), 2);
    }
}

/// `python3` with `requests`, installed with pip when missing.
fn python_with_requests() -> &'static str {
    let has = || {
        Command::new("python3")
            .args(["-c", "import requests"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "requests"])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()) && has(),
            "the Allstacks seed's client needs python3 with requests (pip install requests)"
        );
    }
    "python3"
}

#[tokio::test]
async fn seed_000_python_client_works_unchanged_but_for_host_and_credentials() {
    let python = python_with_requests();
    for db in databases() {
        let s = Server::start(db);
        let t = acme_with_service_2(&s).await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let script = include_str!("fixtures/allstacks_dora_client.py")
            .replace("DORADO_BASE_URL", &s.base)
            .replace("\"DORADO_TOKEN\"", &format!("\"{t}\""));
        let path = dir.path().join("dora_client.py");
        std::fs::write(&path, script).expect("the script is written");
        let before = Timestamp::now().seconds();
        let out = Command::new(python)
            .arg(&path)
            .output()
            .expect("python3 runs");
        let after = Timestamp::now().seconds();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with("Successfully created DORA metrics job\n"),
            "{stdout}"
        );
        assert!(stdout.contains("'job_id': 'deploy-123'"), "{stdout}");

        let stored = deployments(&s, &t).await;
        assert_eq!(stored.len(), 1);
        let d = &stored[0];
        assert!(
            stdout.contains(&format!("{{'id': {}, ", d["id"])),
            "{stdout}"
        );
        assert_eq!(d["service_id"], 2);
        assert_eq!(d["source"], "allstacks");
        assert_eq!(d["result"], "success");
        assert_eq!(d["started_at"], d["finished_at"], "job_duration 0");
        let start = d["attributes"]["job_start_time"].as_i64().expect("seconds");
        assert!((before..=after).contains(&start), "{d}");
        let a = &d["attributes"];
        assert_eq!(a["job_id"], "deploy-123");
        assert_eq!(a["commit_sha"], SHA);
        assert_eq!(a["repo_id"], "12345");
        assert_eq!(a["triggered_by"], "developer@company.com");
        assert_eq!(a["job_type"], "Production Deploy");
        assert_eq!(
            a["optional"],
            json!([{"key": "microservice", "value": ["frontend", "backend"], "type": "string"}])
        );
    }
}

#[tokio::test]
async fn defaults_statuses_and_the_optional_fields_dorado_reads() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let base = json!({"job_id": "j1", "commit_sha": SHA.repeat(2)[..64].to_owned(),
            "service_id": checkout, "job_start_time": 1714557600, "job_duration": 60,
            "status": "Failed", "repo_name": "acme/checkout", "triggered_by": "  "});
        let (status, _, job) = post(&s, JOB, &t, &base.to_string()).await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(job["triggered_by"], "Custom CD Agent");
        assert_eq!(job["job_type"], "CUSTOM_CD_JOB");
        assert_eq!(job["repo_name"], "acme/checkout");
        assert_eq!(job["repo_id"], Value::Null);
        assert_eq!(job["optional"], json!([]));
        assert_eq!(job["commit_sha"], SHA.repeat(2)[..64]);
        let d = &deployments(&s, &t).await[0];
        assert_eq!(d["id"], job["id"]);
        assert_eq!(d["result"], "failure");
        assert_eq!(d["commits"][0]["repo"], "acme/checkout");

        let mut hold = base.clone();
        hold["status"] = json!("On Hold");
        hold["job_start_time"] = json!(1714557700);
        hold["job_type"] = json!("Hotfix to production");
        hold["optional"] = json!([
            {"key": "environment", "value": "Staging", "type": "string"},
            {"key": "ticket", "value": [1, 2], "type": "integer"},
        ]);
        let (status, _, job) = post(&s, JOB, &t, &hold.to_string()).await;
        assert_eq!(status, 200, "{job}");
        let d = &deployments(&s, &t).await[0];
        assert_eq!(d["id"], job["id"]);
        assert_eq!(d["result"], "pending");
        assert_eq!(d["environment"], "staging");
        assert_eq!(d["kind"], "hotfix");
        assert_eq!(d["rework"], true);

        let mut rework = base.clone();
        rework["status"] = json!("Succeeded");
        rework["job_start_time"] = json!(1714557800);
        rework["optional"] = json!([{"key": "rework", "value": "yes", "type": "string"}]);
        let (status, _, job) = post(&s, JOB, &t, &rework.to_string()).await;
        assert_eq!(status, 200, "{job}");
        let d = &deployments(&s, &t).await[0];
        assert_eq!(
            (d["result"].clone(), d["rework"].clone()),
            (json!("success"), json!(true))
        );
        assert_eq!(d["kind"], "normal");
        assert_eq!(deployments(&s, &t).await.len(), 3);
    }
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

fn with(v: &Value, key: &str, value: Value) -> Value {
    let mut v = v.clone();
    v[key] = value;
    v
}

#[tokio::test]
async fn every_required_field_and_limit_is_checked_and_a_refusal_stores_nothing() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        s.cli.json(&["org", "create", "other"]);
        let theirs = s
            .cli
            .json(&["service", "create", "--org", "other", "payments"]);
        let good = json!({"job_id": "j1", "commit_sha": SHA, "service_id": checkout,
            "job_start_time": 1704018030, "job_duration": 300, "status": "Succeeded", "repo_id": "12345"});
        let opt = |entries: Value| with(&good, "optional", entries);
        let field = |key: &str| json!({"key": key, "value": "v", "type": "string"});
        let many = |n: usize| Value::Array((0..n).map(|i| field(&format!("k{i}"))).collect());
        let cases: Vec<(Value, &str, String)> = vec![
            (without(&good, "job_id"), "/job_id", "is required".into()),
            (
                with(&good, "job_id", json!(" ")),
                "/job_id",
                "must not be empty".into(),
            ),
            (
                with(&good, "job_id", json!("j".repeat(1001))),
                "/job_id",
                "must be at most 1000 characters; it has 1001".into(),
            ),
            (
                without(&good, "commit_sha"),
                "/commit_sha",
                "is required".into(),
            ),
            (
                with(&good, "commit_sha", json!(&SHA[..39])),
                "/commit_sha",
                format!(
                    "'{}' is not a full commit sha: expected 40 or 64 hex characters",
                    &SHA[..39]
                ),
            ),
            (
                with(&good, "commit_sha", json!("g".repeat(40))),
                "/commit_sha",
                "is not a full commit sha".into(),
            ),
            (
                with(&good, "commit_sha", json!(format!("{SHA}a"))),
                "/commit_sha",
                "expected 40 or 64 hex characters".into(),
            ),
            (
                without(&good, "service_id"),
                "/service_id",
                "is required".into(),
            ),
            (
                with(&good, "service_id", json!(999_999)),
                "/service_id",
                "no service '999999' in this organization".into(),
            ),
            (
                with(&good, "service_id", theirs["id"].clone()),
                "/service_id",
                format!("no service '{}' in this organization", theirs["id"]),
            ),
            (
                with(&good, "service_id", json!(true)),
                "/service_id",
                "must be a service id or name".into(),
            ),
            (
                without(&good, "job_start_time"),
                "/job_start_time",
                "is required".into(),
            ),
            (
                with(&good, "job_start_time", json!("1704018030")),
                "/job_start_time",
                "must be a whole number".into(),
            ),
            (
                with(&good, "job_start_time", json!(1704018030.5)),
                "/job_start_time",
                "must be a whole number".into(),
            ),
            (
                with(&good, "job_start_time", json!(1704018030000_i64)),
                "/job_start_time",
                "it looks like milliseconds".into(),
            ),
            (
                without(&good, "job_duration"),
                "/job_duration",
                "is required".into(),
            ),
            (
                with(&good, "job_duration", json!(-1)),
                "/job_duration",
                "must not be negative".into(),
            ),
            (
                with(&good, "job_duration", json!("300")),
                "/job_duration",
                "must be a whole number".into(),
            ),
            (without(&good, "status"), "/status", "is required".into()),
            (
                with(&good, "status", json!("Done")),
                "/status",
                "'Done' is not a status; expected Succeeded, Failed or On Hold".into(),
            ),
            (
                without(&good, "repo_id"),
                "/repo_id",
                "is required (or give repo_name)".into(),
            ),
            (
                with(&without(&good, "repo_id"), "repo_name", json!(5)),
                "/repo_name",
                "must be a string".into(),
            ),
            (
                with(&good, "triggered_by", json!(7)),
                "/triggered_by",
                "must be a string".into(),
            ),
            (
                with(&good, "job_type", json!(["deploy"])),
                "/job_type",
                "must be a string".into(),
            ),
            (
                opt(json!({"key": "k"})),
                "/optional",
                "must be an array".into(),
            ),
            (
                opt(many(21)),
                "/optional",
                "must hold at most 20 fields; it has 21".into(),
            ),
            (
                opt(json!([{"key": "k", "value": vec!["v"; 21], "type": "string"}])),
                "/optional/0/value",
                "must hold at most 20 values; it has 21".into(),
            ),
            (
                opt(json!([{"value": "v", "type": "string"}])),
                "/optional/0/key",
                "is required".into(),
            ),
            (
                opt(json!([{"key": "k", "type": "string"}])),
                "/optional/0/value",
                "is required".into(),
            ),
            (
                opt(json!([{"key": "k", "value": "v"}])),
                "/optional/0/type",
                "is required".into(),
            ),
            (
                opt(json!([{"key": "k", "value": "v", "type": "date"}])),
                "/optional/0/type",
                "'date' is not a type; expected string, integer, float, duration or timestamp"
                    .into(),
            ),
            (
                opt(json!([{"key": "k", "value": 1, "type": "string"}])),
                "/optional/0/value",
                "must be a string, as the field's type is string".into(),
            ),
            (
                opt(json!([{"key": "k", "value": 1.5, "type": "integer"}])),
                "/optional/0/value",
                "must be an integer, as the field's type is integer".into(),
            ),
            (
                opt(json!([{"key": "k", "value": "1.5", "type": "float"}])),
                "/optional/0/value",
                "must be a number, as the field's type is float".into(),
            ),
            (
                opt(json!([{"key": "k", "value": "20", "type": "duration"}])),
                "/optional/0/value",
                "must be a whole number of seconds, 0 or more".into(),
            ),
            (
                opt(json!([{"key": "k", "value": -5, "type": "duration"}])),
                "/optional/0/value",
                "must be a whole number of seconds, 0 or more".into(),
            ),
            (
                opt(json!([{"key": "k", "value": 1704018030000_i64, "type": "timestamp"}])),
                "/optional/0/value",
                "must be an integer of seconds since the epoch".into(),
            ),
            (
                opt(json!([{"key": "k", "value": [1, "two"], "type": "integer"}])),
                "/optional/0/value/1",
                "must be an integer".into(),
            ),
            (
                opt(json!([field("k"), field("k")])),
                "/optional/1/key",
                "repeats the key 'k' of /optional/0".into(),
            ),
            (
                opt(json!([{"key": "environment", "value": 3, "type": "integer"}])),
                "/optional/0/type",
                "must be string for the field 'environment'".into(),
            ),
            (
                opt(json!([{"key": "lead_time", "value": [1, 2], "type": "duration"}])),
                "/optional/0/value",
                "must be a single value, not a list".into(),
            ),
            (
                opt(json!([{"key": "rework", "value": "maybe", "type": "string"}])),
                "/optional/0/value",
                "must be true or false".into(),
            ),
        ];
        let before = deployments(&s, &t).await;
        for (body, pointer, detail) in &cases {
            let (status, kind, v) = post(&s, JOB, &t, &body.to_string()).await;
            assert_eq!(status, 400, "{body}: {v}");
            assert_eq!(kind, "application/problem+json", "{body}");
            assert_eq!(v["title"], "Invalid input", "{v}");
            let errors = v["errors"].as_array().cloned().unwrap_or_default();
            assert!(
                errors.iter().any(|e| e["pointer"] == *pointer
                    && e["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains(detail.as_str()))),
                "{body}: wanted {pointer} {detail:?}, got {v}"
            );
            assert_eq!(deployments(&s, &t).await, before, "{body} stored something");
        }
        // The limits themselves are allowed.
        let edge = opt(Value::Array(
            (0..20)
                .map(|i| json!({"key": format!("k{i}"), "value": vec![i; 20], "type": "integer"}))
                .collect(),
        ));
        let (status, _, v) = post(&s, JOB, &t, &edge.to_string()).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["optional"].as_array().map(Vec::len), Some(20));
        assert_eq!(deployments(&s, &t).await.len(), 1);
    }
}

#[tokio::test]
async fn credentials_and_organizations_are_checked_as_on_the_native_api() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let good = json!({"job_id": "j1", "commit_sha": SHA, "service_id": checkout,
            "job_start_time": 1704018030, "job_duration": 300, "status": "Succeeded", "repo_id": "1"})
        .to_string();
        let r = s
            .http
            .post(s.url(JOB))
            .body(good.clone())
            .send()
            .await
            .expect("an answer");
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let (status, kind, v) = post(&s, "/webhook/company/nope/cicd_job", &t, &good).await;
        assert_eq!(
            (status, kind.as_str()),
            (404, "application/problem+json"),
            "{v}"
        );
        s.cli.json(&["org", "create", "other"]);
        let (status, _, v) = post(&s, "/webhook/company/other/cicd_job", &t, &good).await;
        assert_eq!(status, 404, "{v}");
        let reader = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "ro", "--scopes", "read",
        ]);
        let (status, _, v) =
            post(&s, JOB, reader["token"].as_str().unwrap_or_default(), &good).await;
        assert_eq!(status, 403, "{v}");
        // A token limited to cart may not name checkout.
        let limited = s.cli.json(&[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "c",
            "--service",
            "cart",
        ]);
        let (status, _, v) = post(
            &s,
            JOB,
            limited["token"].as_str().unwrap_or_default(),
            &good,
        )
        .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["errors"][0]["pointer"], "/service_id");
        assert!(deployments(&s, &t).await.is_empty());
        // The organization by id works as by name; basic auth with the token too.
        let r = s
            .http
            .post(s.url("/webhook/company/1/cicd_job"))
            .basic_auth("anyone", Some(&t))
            .body(good.clone())
            .send()
            .await
            .expect("an answer");
        assert_eq!(r.status(), 200);
        assert_eq!(deployments(&s, &t).await.len(), 1);
    }
}

async fn metrics(s: &Server, path: &str, body: &str) -> (u16, String, String) {
    let r = s
        .http
        .post(s.url(path))
        .basic_auth("dev@acme.io", Some("correct horse battery"))
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, r.text().await.expect("a body"))
}

#[tokio::test]
async fn the_seeds_metrics_query_lists_the_jobs() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let out = s.cli.run_with_stdin(
            &["user", "create", "--org", "acme", "--email", "dev@acme.io"],
            "correct horse battery\n",
        );
        assert!(out.status.success());
        let checkout = service_id(&s, &t, "checkout").await;
        let job = |id: &str, start: i64, job_type: Option<&str>| {
            let mut j = json!({"job_id": id, "commit_sha": SHA, "service_id": checkout,
                "job_start_time": start, "job_duration": 60, "status": "Succeeded", "repo_id": "1"});
            if let Some(kind) = job_type {
                j["job_type"] = json!(kind);
            }
            j.to_string()
        };
        let mut ids = Vec::new();
        for (id, start, kind) in [
            ("a,1", 1704018030, None),
            ("b", 1704018090, Some("Production Deploy")),
            ("c", 1704018060, None),
        ] {
            let (status, _, v) = post(&s, JOB, &t, &job(id, start, kind)).await;
            assert_eq!(status, 200, "{v}");
            ids.push(v["id"].as_i64().expect("an id"));
        }
        // Jobs of other sources are not Allstacks items.
        let native = json!({"service": "checkout", "repo": "r", "commit_sha": SHA});
        let (status, _) = s
            .post("/api/v1/orgs/acme/deployments", &t, &native.to_string())
            .await;
        assert_eq!(status, 201);

        let query = include_str!("fixtures/allstacks_000_metrics_query.json");
        let (status, kind, text) = metrics(&s, METRICS, query).await;
        assert_eq!((status, kind.as_str()), (200, "application/json"), "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        // CUSTOM_CD_JOB is the item type of every job, newest first.
        assert_eq!(
            v,
            json!({"data": [
                {"id": ids[1], "item_name": "b", "item_creation_date": "2023-12-31T10:21:30Z"},
                {"id": ids[2], "item_name": "c", "item_creation_date": "2023-12-31T10:21:00Z"},
                {"id": ids[0], "item_name": "a,1", "item_creation_date": "2023-12-31T10:20:30Z"},
            ]})
        );

        // A job type, as CSV, without the trailing slash.
        let mut q: Value = serde_json::from_str(query).expect("JSON");
        q["config"]["as_csv"] = json!(true);
        q["config"]["filters"]["default"]["item_type"] = json!("Production Deploy");
        let (status, kind, text) = metrics(&s, METRICS.trim_end_matches('/'), &q.to_string()).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "text/csv; charset=utf-8"),
            "{text}"
        );
        assert_eq!(
            text,
            format!(
                "id,item_name,item_creation_date\r\n{},b,2023-12-31T10:21:30Z\r\n",
                ids[1]
            )
        );
        q["config"]["filters"]["default"]["item_type"] = json!("CUSTOM_CD_JOB");
        let (_, _, text) = metrics(&s, METRICS, &q.to_string()).await;
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.contains(&format!("\r\n{},\"a,1\",2023-12-31T10:20:30Z\r\n", ids[0])),
            "{text}"
        );

        // Refusals are problem details.
        let (status, kind, text) = metrics(&s, METRICS, "{\"config\": ").await;
        assert_eq!(
            (status, kind.as_str()),
            (400, "application/problem+json"),
            "{text}"
        );
        let mut bad: Value = serde_json::from_str(query).expect("JSON");
        bad["config"]["views"][0]["dimensions"][1]["property"] = json!("colour");
        let (status, _, text) = metrics(&s, METRICS, &bad.to_string()).await;
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("/config/views/0/dimensions/1/property"),
            "{text}"
        );
        let r = s
            .http
            .post(s.url(METRICS))
            .body(query)
            .send()
            .await
            .expect("an answer");
        assert_eq!(r.status(), 401);
        let (status, _, _) =
            metrics(&s, "/api/v1/organization/other/metrics_v2/metrics/", query).await;
        assert_eq!(status, 404);
    }
}
