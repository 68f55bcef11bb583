//! DevLake's incoming webhook, drop-in: the curl commands of seeds 002 and
//! 003 as written, run by the real `curl` (no Content-Type, `-X 'POST'`,
//! `date '+%Y-%m-%dT%H:%M:%S%z'` offsets), with only the host and the
//! credentials changed; DevLake's envelope on success and on every refusal.

mod common;

use common::{Server, databases};
use dorado_core::Timestamp;
use serde_json::{Value, json};
use std::process::Command;

const SHA1: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";
const SHA2: &str = "a2e7da86cc392417b0d9f605b28038aae80b002f";
const SUCCESS: &str = r#"{"code":0,"success":true,"message":"success","causes":null,"data":null}"#;

const PREFIXES: [&str; 4] = [
    "/api/rest/plugins/webhook",
    "/api/plugins/webhook",
    "/rest/plugins/webhook",
    "/plugins/webhook",
];

fn success() -> Value {
    serde_json::from_str(SUCCESS).expect("JSON")
}

async fn items(s: &Server, token: &str, what: &str) -> Vec<Value> {
    let (status, v) = s.get(&format!("/api/v1/orgs/acme/{what}"), token).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

async fn stored(s: &Server, token: &str) -> (Vec<Value>, Vec<Value>) {
    (
        items(s, token, "deployments").await,
        items(s, token, "incidents").await,
    )
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

/// A seed's command with the host and the credentials changed, as a user
/// would change them: DevLake's samples use `-u` for credentials, so the
/// token goes in as the password of basic auth.
fn adapt(sample: &str, base: &str, token: &str, service: i64) -> String {
    let auth = format!("-u 'x:{token}'");
    let mut cmd = sample
        .replace("<devlake-host>", base)
        // With its slash: a server on port 4000x would otherwise match again
        // once substituted (regression: a flake seen under CI).
        .replace("http://127.0.0.1:4000/", &format!("{base}/"))
        .replace("/webhook/1/", &format!("/webhook/{service}/"));
    if cmd.contains("-u 'username:password'") {
        cmd = cmd.replace("-u 'username:password'", &auth);
    } else {
        cmd = cmd.replace("-X 'POST'", &format!("-X 'POST' {auth}"));
    }
    cmd
}

/// Runs a script with `sh`, its last command a curl, and returns the status
/// and the body of curl's answer.
fn sh(script: &str, env: &[(&str, &str)]) -> (u16, String) {
    // Only how curl reports changes: silent, and the status on a last line.
    let script = format!("{} -s -w '\\n%{{http_code}}'", script.trim_end());
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .envs(env.iter().copied())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl printed the status");
    let body = body.lines().last().unwrap_or_default().to_owned();
    (status.trim().parse().expect("a status"), body)
}

fn run_sample(s: &Server, token: &str, service: i64, sample: &str) -> (u16, String) {
    sh(&adapt(sample, &s.base, token, service), &[])
}

#[tokio::test]
async fn seed_002_deployment_samples_as_written() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;

        let single = include_str!("fixtures/devlake_002_deploy_single.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, single),
            (200, SUCCESS.to_owned())
        );
        let d = &items(&s, &t, "deployments").await[0];
        assert_eq!(d["service_id"], checkout);
        assert_eq!(d["source"], "devlake");
        assert_eq!(d["external_id"], Value::Null);
        assert_eq!(
            d["name"],
            "optional-deployment-name. If you do not post a name, DevLake will generate one for you."
        );
        assert_eq!(d["environment"], "production");
        assert_eq!(d["result"], "failure");
        assert_eq!(d["started_at"], "2020-01-01T12:00:00Z");
        assert_eq!(d["finished_at"], "2020-01-02T13:00:00Z");
        assert_eq!(
            d["commits"],
            json!([{"repo": "https://github.com/apache/incubator-devlake/", "sha": SHA1}])
        );
        let a = &d["attributes"];
        assert_eq!(a["pipeline_id"], "optional-pipeline-id");
        assert_eq!(a["repo_id"], "optional-repo-id");
        assert_eq!(a["ref_name"], "optional-release-v0.17");
        assert_eq!(a["commit_msg"], "optional-commit-message");
        assert_eq!(a["create_time"], "2020-01-01T11:00:00Z");

        let multi = include_str!("fixtures/devlake_002_deploy_multi.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, multi),
            (200, SUCCESS.to_owned())
        );
        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 2, "no id: a new deployment each time");
        let m = all
            .iter()
            .find(|d| d["commits"].as_array().is_some_and(|c| c.len() == 2))
            .expect("the multi-repository deployment");
        assert_eq!(
            m["commits"],
            json!([{"repo": "repo-1", "sha": "c1"}, {"repo": "repo-2", "sha": "c2"}])
        );
        assert_eq!(m["result"], "failure");
        assert_eq!(m["finished_at"], "2020-01-02T13:00:00Z");
        assert_eq!(
            m["attributes"]["deployment_commits"][1]["commit_msg"],
            "optional-msg-2"
        );

        // Its placeholder sha has spaces: users paste it to try the hook.
        let auth = include_str!("fixtures/devlake_002_deploy_auth.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, auth),
            (200, SUCCESS.to_owned())
        );
        let all = items(&s, &t, "deployments").await;
        let a = all
            .iter()
            .find(|d| d["commits"][0]["sha"] == "the sha of deployment commit1")
            .expect("the authenticated sample's deployment");
        assert_eq!(
            a["commits"][0]["repo"],
            "the repo URL of the deployment commit"
        );
        assert_eq!(a["name"], "deployment for the sha of deployment commit1");
        assert_eq!(a["result"], "success");
        assert_eq!(a["environment"], "production");
        assert_eq!(a["started_at"], "2020-01-01T12:00:00Z");
        assert_eq!(a["finished_at"], "2020-01-02T12:00:00Z");
    }
}

#[tokio::test]
async fn seed_002_circleci_script_with_date_offsets() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let script = adapt(
            include_str!("fixtures/devlake_002_circleci_deploy.sh"),
            &s.base,
            &t,
            checkout,
        );
        // UTC prints +0000; a zone east of it, +0530.
        for (tz, offset, sha) in [("UTC", "+0000", SHA1), ("IST-5:30", "+0530", SHA2)] {
            let before = Timestamp::now().seconds();
            let (status, body) = sh(
                &script,
                &[
                    ("TZ", tz),
                    ("CIRCLE_SHA1", sha),
                    ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/checkout.git"),
                ],
            );
            let after = Timestamp::now().seconds();
            assert_eq!((status, body.as_str()), (200, SUCCESS), "TZ={tz}");
            let all = items(&s, &t, "deployments").await;
            let d = all
                .iter()
                .find(|d| d["commits"][0]["sha"] == sha)
                .expect("the script's deployment");
            assert_eq!(d["commits"][0]["repo"], "git@github.com:acme/checkout.git");
            assert_eq!(d["name"], format!("deployment for {sha}"));
            assert_eq!(d["result"], "success");
            let at = |f: &str| {
                Timestamp::parse(d[f].as_str().expect("a time"))
                    .expect("RFC 3339")
                    .seconds()
            };
            // date prints whole seconds: the start is within the run.
            assert!(
                (before - 1..=after).contains(&at("started_at")),
                "TZ={tz}: {d}"
            );
            // No end_time: the time received.
            assert!(
                (at("started_at")..=after + 1).contains(&at("finished_at")),
                "TZ={tz}: {d}"
            );
            let (_, log) = s.get("/api/v1/orgs/acme/deliveries", &t).await;
            let body = log["items"][0]["body"].as_str().unwrap_or_default();
            assert!(body.contains(offset), "TZ={tz} sent {body}");
        }
    }
}

#[tokio::test]
async fn seed_002_and_003_issue_samples_open_and_close_incidents() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let cart = service_id(&s, &t, "cart").await;

        let issue = include_str!("fixtures/devlake_002_issue.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, issue),
            (200, SUCCESS.to_owned())
        );
        let i = &items(&s, &t, "incidents").await[0];
        assert_eq!(i["key"], "DLK-1234");
        assert_eq!(i["service_id"], checkout);
        assert_eq!(i["title"], "a feature from DLK");
        assert_eq!(i["is_incident"], true);
        assert_eq!(i["source"], "devlake");
        assert_eq!(i["started_at"], "2020-01-01T12:00:00Z");
        assert_eq!(i["resolved_at"], Value::Null);
        assert_eq!(i["attributes"]["creator_name"], "Nick name 1");
        assert_eq!(i["attributes"]["status"], "TODO");

        let before = Timestamp::now().seconds();
        let close = include_str!("fixtures/devlake_002_issue_close.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, close),
            (200, SUCCESS.to_owned())
        );
        let after = Timestamp::now().seconds();
        let i = &items(&s, &t, "incidents").await[0];
        let resolved = Timestamp::parse(i["resolved_at"].as_str().expect("resolved"))
            .expect("RFC 3339")
            .seconds();
        assert!((before - 1..=after + 1).contains(&resolved), "{i}");

        // Seed 003: a BUG of board DLK, in the other service; stored, not an incident.
        let issue = include_str!("fixtures/devlake_003_issue.sh");
        assert_eq!(run_sample(&s, &t, cart, issue), (200, SUCCESS.to_owned()));
        let all = items(&s, &t, "incidents").await;
        assert_eq!(all.len(), 2, "keys are unique per service");
        let bug = all
            .iter()
            .find(|i| i["service_id"] == cart)
            .expect("the bug");
        assert_eq!(bug["is_incident"], false);
        assert_eq!(bug["attributes"]["board_key"], "DLK");
        assert_eq!(bug["attributes"]["type"], "BUG");
        assert_eq!(bug["attributes"]["parent_issue_key"], "DLK-1200");
        assert_eq!(bug["resolved_at"], Value::Null);

        let close = include_str!("fixtures/devlake_003_issue_close.sh");
        assert_eq!(run_sample(&s, &t, cart, close), (200, SUCCESS.to_owned()));
        let all = items(&s, &t, "incidents").await;
        let bug = all.iter().find(|i| i["service_id"] == cart).expect("bug");
        assert!(bug["resolved_at"].is_string(), "{bug}");
        // Closing again keeps the first resolution date.
        let first = bug["resolved_at"].clone();
        assert_eq!(run_sample(&s, &t, cart, close), (200, SUCCESS.to_owned()));
        let all = items(&s, &t, "incidents").await;
        let bug = all.iter().find(|i| i["service_id"] == cart).expect("bug");
        assert_eq!(bug["resolved_at"], first);
    }
}

async fn post_raw(s: &Server, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut r = s.http.post(s.url(path)).body(body.to_owned());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    common::answer(r.send().await.expect("the server answers")).await
}

#[tokio::test]
async fn every_prefix_and_connection_form_is_served() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let connections = [
            format!("/{checkout}"),
            format!("/connections/{checkout}"),
            "/connections/by-name/checkout".to_owned(),
        ];
        let mut n = 0;
        for prefix in PREFIXES {
            for conn in &connections {
                n += 1;
                let base = format!("{prefix}{conn}");
                let deploy = json!({"id": format!("d{n}"), "repo_url": "https://github.com/acme/checkout",
                                    "commit_sha": SHA1, "end_time": "2024-05-01T10:00:00Z"});
                let (status, v) = post_raw(
                    &s,
                    &format!("{base}/deployments"),
                    Some(&t),
                    &deploy.to_string(),
                )
                .await;
                assert_eq!((status, v), (200, success()), "{base}");
                let issue = json!({"issue_key": format!("I-{n}"), "title": "t", "type": "incident",
                                   "created_date": "2024-05-01T11:00:00+0000"});
                let (status, v) =
                    post_raw(&s, &format!("{base}/issues"), Some(&t), &issue.to_string()).await;
                assert_eq!(status, 200, "{base}: {v}");
                let close = if n % 2 == 0 {
                    format!("{base}/issue/I-{n}/close")
                } else {
                    format!("{base}/issue/BOARD/I-{n}/close")
                };
                let (status, v) = post_raw(&s, &close, Some(&t), "").await;
                assert_eq!(status, 200, "{close}: {v}");
            }
        }
        let (deployments, incidents) = stored(&s, &t).await;
        assert_eq!(deployments.len(), 12);
        assert_eq!(incidents.len(), 12);
        assert!(deployments.iter().all(|d| d["service_id"] == checkout));
        assert!(
            incidents
                .iter()
                .all(|i| i["resolved_at"].is_string() && i["is_incident"] == true),
            "{incidents:?}"
        );

        // DevLake 1.0's camelCase payload; its id makes a repeat an update.
        let v10 = json!({"id": "deploy-42", "result": "FAILURE", "environment": "STAGING",
            "startedDate": "2024-05-01T10:00:00.500+02:00", "finishedDate": "2024-05-01 10:10:00",
            "deploymentCommits": [{"repoUrl": "https://github.com/acme/shop", "commitSha": SHA2.to_uppercase()}]});
        let path = format!("/api/rest/plugins/webhook/{checkout}/deployments");
        for result in ["FAILURE", "SUCCESS"] {
            let mut body = v10.clone();
            body["result"] = json!(result);
            let (status, v) = post_raw(&s, &path, Some(&t), &body.to_string()).await;
            assert_eq!(status, 200, "{v}");
        }
        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 13);
        let d = all
            .iter()
            .find(|d| d["external_id"] == "deploy-42")
            .expect("deploy-42");
        assert_eq!(d["result"], "success");
        assert_eq!(d["environment"], "staging");
        assert_eq!(d["started_at"], "2024-05-01T08:00:00.500Z");
        assert_eq!(d["finished_at"], "2024-05-01T10:10:00Z");
        assert_eq!(
            d["commits"],
            json!([{"repo": "https://github.com/acme/shop", "sha": SHA2}])
        );
    }
}

/// DevLake's envelope of a refusal.
fn refused(status: u16, v: &Value, want: u16, message: &str) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["code"], want, "{v}");
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(v["data"], Value::Null, "{v}");
    let m = v["message"].as_str().unwrap_or_default();
    assert!(m.contains(message), "{m:?} lacks {message:?}");
}

#[tokio::test]
async fn refusals_are_devlake_envelopes_and_store_nothing() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let cart = service_id(&s, &t, "cart").await;
        let good = json!({"repo_url": "r", "commit_sha": SHA1}).to_string();
        let at = |svc: &str, what: &str| format!("/api/rest/plugins/webhook/{svc}/{what}");
        let deploy = at(&checkout.to_string(), "deployments");
        let before = stored(&s, &t).await;

        let (status, v) = post_raw(&s, &deploy, Some(&t), "{\"repo_url\": \"r\",\n}").await;
        refused(status, &v, 400, "malformed JSON at line 2, column 1");
        assert_eq!(v["causes"], Value::Null);

        let (status, v) = post_raw(&s, &deploy, Some(&t), r#"{"repo_url": "r"}"#).await;
        refused(status, &v, 400, "commit_sha");
        assert_eq!(v["causes"][0]["pointer"], "/commit_sha", "{v}");
        assert_eq!(v["causes"][0]["detail"], "is required", "{v}");

        let (status, v) = post_raw(
            &s,
            &deploy,
            Some(&t),
            r#"{"repo_url": "r", "commit_sha": "a", "start_time": "noon"}"#,
        )
        .await;
        refused(status, &v, 400, "start_time");

        let (status, v) = post_raw(
            &s,
            &at(&checkout.to_string(), "issues"),
            Some(&t),
            r#"{"title": "x"}"#,
        )
        .await;
        refused(status, &v, 400, "issue_key");

        let r = s
            .http
            .post(s.url(&deploy))
            .body(good.clone())
            .send()
            .await
            .expect("an answer");
        assert!(r.headers().contains_key("www-authenticate"));
        let (status, v) = common::answer(r).await;
        refused(status, &v, 401, "credentials");
        let (status, v) = post_raw(&s, &deploy, Some("dorado_nope"), &good).await;
        refused(status, &v, 401, "unknown");

        // Unknown, non-numeric and other organizations' services are all 404.
        for svc in ["999999", "checkout", "-1"] {
            let (status, v) = post_raw(&s, &at(svc, "deployments"), Some(&t), &good).await;
            refused(status, &v, 404, "not found");
        }
        let (status, v) = post_raw(
            &s,
            "/api/rest/plugins/webhook/connections/by-name/nope/deployments",
            Some(&t),
            &good,
        )
        .await;
        refused(status, &v, 404, "service 'nope' not found");
        s.cli.json(&["org", "create", "other"]);
        let theirs = s
            .cli
            .json(&["service", "create", "--org", "other", "payments"]);
        let theirs = theirs["id"].as_i64().expect("an id");
        let (status, v) =
            post_raw(&s, &at(&theirs.to_string(), "deployments"), Some(&t), &good).await;
        refused(status, &v, 404, "not found");
        let other = s
            .cli
            .json(&["token", "create", "--org", "other", "--name", "x"]);
        let other = other["token"].as_str().expect("a token");
        let (status, v) = post_raw(&s, &deploy, Some(other), &good).await;
        refused(status, &v, 404, "not found");

        // A token limited to cart sees checkout as missing.
        let limited = s.cli.json(&[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "cart-ci",
            "--service",
            "cart",
        ]);
        let limited = limited["token"].as_str().expect("a token");
        let (status, v) = post_raw(&s, &deploy, Some(limited), &good).await;
        refused(status, &v, 404, "not found");

        let reader = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "ro", "--scopes", "read",
        ]);
        let reader = reader["token"].as_str().expect("a token");
        let (status, v) = post_raw(&s, &deploy, Some(reader), &good).await;
        refused(status, &v, 403, "ingest");

        let (status, v) = post_raw(
            &s,
            &at(&checkout.to_string(), "issue/NOPE-1/close"),
            Some(&t),
            "",
        )
        .await;
        refused(status, &v, 404, "not found");

        assert_eq!(stored(&s, &t).await, before, "a refusal stored something");

        // The limited token writes to its own service, by id and by name.
        let (status, v) = post_raw(
            &s,
            &at(&cart.to_string(), "deployments"),
            Some(limited),
            &good,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let (status, v) = post_raw(
            &s,
            "/plugins/webhook/connections/by-name/cart/deployments",
            Some(limited),
            &good,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|d| d["service_id"] == cart));
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_a_repeat_with_its_key_is_replayed() {
    for db in databases() {
        let s = Server::start_with(db, &["--body-limit", "300"]);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let path = format!("/api/rest/plugins/webhook/{checkout}/deployments");
        let big = json!({"repo_url": "r", "commit_sha": SHA1, "name": "n".repeat(400)});
        let (status, v) = post_raw(&s, &path, Some(&t), &big.to_string()).await;
        refused(status, &v, 413, "limit of 300 bytes");
        assert!(items(&s, &t, "deployments").await.is_empty());

        let body = json!({"repo_url": "r", "commit_sha": SHA1}).to_string();
        for _ in 0..2 {
            let r = s
                .http
                .post(s.url(&path))
                .bearer_auth(&t)
                .header("Idempotency-Key", "build-7")
                .body(body.clone())
                .send()
                .await
                .expect("an answer");
            let (status, v) = common::answer(r).await;
            assert_eq!((status, v), (200, success()));
        }
        assert_eq!(
            items(&s, &t, "deployments").await.len(),
            1,
            "the repeat stored nothing new"
        );
    }
}

/// `dorado service urls` prints commands that work as pasted.
#[tokio::test]
async fn service_urls_print_commands_that_work() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let urls = s.cli.json(&[
            "service",
            "urls",
            "--org",
            "acme",
            "checkout",
            "--base-url",
            &format!("{}/", s.base),
        ]);
        let checkout = service_id(&s, &t, "checkout").await;
        let keys: Vec<&str> = urls
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "allstacks/cicd_job",
                "devlake/cicd_pipeline/finish",
                "devlake/cicd_tasks",
                "devlake/deployments",
                "devlake/issue/close",
                "devlake/issues",
                "events",
                "native/deployments"
            ]
        );
        assert_eq!(
            urls["devlake/deployments"]["url"],
            format!("{}/api/rest/plugins/webhook/{checkout}/deployments", s.base)
        );
        assert_eq!(
            urls["devlake/issue/close"]["url"],
            format!(
                "{}/api/rest/plugins/webhook/{checkout}/issue/{{issueKey}}/close",
                s.base
            )
        );
        assert_eq!(
            urls["allstacks/cicd_job"]["url"],
            format!("{}/webhook/company/acme/cicd_job", s.base)
        );
        for key in [
            "devlake/deployments",
            "devlake/issues",
            "devlake/issue/close",
            "devlake/cicd_tasks",
            "devlake/cicd_pipeline/finish",
            "allstacks/cicd_job",
            "events",
            "native/deployments",
        ] {
            let curl = urls[key]["curl"].as_str().expect("a command");
            assert!(
                curl.contains("$DORADO_TOKEN") && !curl.contains(&t),
                "{curl}"
            );
            let (status, body) = sh(curl, &[("DORADO_TOKEN", &t)]);
            assert!((200..300).contains(&status), "{key}: {status} {body}");
        }
        let (deployments, incidents) = stored(&s, &t).await;
        let mut sources: Vec<&str> = deployments
            .iter()
            .map(|d| d["source"].as_str().unwrap_or_default())
            .collect();
        sources.sort_unstable();
        // The DevLake deployment, and the pipeline that became one.
        assert_eq!(
            sources,
            ["allstacks", "devlake", "devlake", "events", "native"]
        );
        assert!(deployments.iter().all(|d| d["service_id"] == checkout));
        assert_eq!(incidents.len(), 1);
        assert!(incidents[0]["resolved_at"].is_string(), "{incidents:?}");

        // People get the same, in words.
        let out = s.cli.run(&["service", "urls", "--org", "acme", "checkout"]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("http://127.0.0.1:8080/webhook/company/acme/cicd_job"),
            "{text}"
        );
        assert!(text.contains("$DORADO_TOKEN"), "{text}");
    }
}

/// Seed 003's CircleCI scripts use another placeholder host.
fn adapt_circleci(sample: &str, s: &Server, token: &str, service: i64) -> String {
    adapt(
        &sample.replace("https://sample-url.com", &s.base),
        &s.base,
        token,
        service,
    )
}

#[tokio::test]
async fn seed_003_pipelines_become_deployments_when_they_have_deployment_tasks() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;

        // The seed's own task and finish: a TEST task only, so no deployment.
        let task = include_str!("fixtures/devlake_003_task.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, task),
            (200, SUCCESS.to_owned())
        );
        let finish = include_str!("fixtures/devlake_003_finish.sh");
        assert_eq!(
            run_sample(&s, &t, checkout, finish),
            (200, SUCCESS.to_owned())
        );
        assert!(items(&s, &t, "deployments").await.is_empty());

        // The CircleCI config: build, deploy, close pipeline.
        let env = [
            ("CIRCLE_SHA1", SHA2),
            ("CIRCLE_WORKFLOW_JOB_ID", "job-build"),
            ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
            ("CIRCLE_BRANCH", "main"),
            ("TZ", "UTC"),
        ];
        let build = adapt_circleci(
            include_str!("fixtures/devlake_003_circleci_build.sh"),
            &s,
            &t,
            checkout,
        );
        assert_eq!(sh(&build, &env), (200, SUCCESS.to_owned()));
        let mut deploy_env = env;
        deploy_env[1] = ("CIRCLE_WORKFLOW_JOB_ID", "job-deploy");
        let deploy = adapt_circleci(
            include_str!("fixtures/devlake_003_circleci_deploy.sh"),
            &s,
            &t,
            checkout,
        );
        assert_eq!(sh(&deploy, &deploy_env), (200, SUCCESS.to_owned()));
        assert!(
            items(&s, &t, "deployments").await.is_empty(),
            "not before the finish"
        );
        let close = adapt_circleci(
            include_str!("fixtures/devlake_003_circleci_close.sh"),
            &s,
            &t,
            checkout,
        );
        assert_eq!(sh(&close, &env), (200, SUCCESS.to_owned()));

        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 1, "{all:?}");
        let d = &all[0];
        let today = Timestamp::now().to_string()[..10].to_owned();
        assert_eq!(d["external_id"], format!("pipeline:{today}{SHA2}"));
        assert_eq!(d["result"], "success");
        assert_eq!(d["environment"], "production");
        assert_eq!(d["source"], "devlake");
        assert_eq!(
            d["commits"],
            json!([{"repo": "git@github.com:acme/shop.git", "sha": SHA2}])
        );
        assert!(d["finished_at"].as_str().unwrap().starts_with(&today));
    }
}

#[tokio::test]
async fn a_pipelines_result_and_times_do_not_depend_on_the_order_of_its_requests() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let base = format!("/api/rest/plugins/webhook/{checkout}");
        let task = |name: &str, kind: &str, result: &str, status: &str, start: &str, end: &str| {
            json!({"pipeline_name": "P1", "name": name, "result": result, "status": status, "type": kind,
                   "environment": "PRODUCTION", "started_date": start, "finished_date": end,
                   "repo_id": "github.com/acme/shop", "commit_sha": SHA1})
            .to_string()
        };
        let deploy = task(
            "deploy",
            "DEPLOYMENT",
            "SUCCESS",
            "DONE",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:20:00Z",
        );
        let test_failed = task(
            "test",
            "TEST",
            "FAILURE",
            "DONE",
            "2024-05-01T09:00:00Z",
            "2024-05-01T09:10:00Z",
        );
        // The finish first, then the tasks: the deployment follows them.
        let (status, v) =
            post_raw(&s, &format!("{base}/cicd_pipeline/P1/finish"), Some(&t), "").await;
        assert_eq!(status, 200, "{v}");
        let (status, _) = post_raw(&s, &format!("{base}/cicd_tasks"), Some(&t), &deploy).await;
        assert_eq!(status, 200);
        let d = &items(&s, &t, "deployments").await[0];
        assert_eq!(d["result"], "success");
        assert_eq!(d["started_at"], "2024-05-01T10:00:00Z");
        assert_eq!(d["finished_at"], "2024-05-01T10:20:00Z");
        let (status, _) = post_raw(&s, &format!("{base}/cicd_tasks"), Some(&t), &test_failed).await;
        assert_eq!(status, 200);
        let all = items(&s, &t, "deployments").await;
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0]["result"], "failure",
            "a failed task fails the pipeline"
        );

        // A task still running at the finish aborts it.
        let running = task(
            "lint",
            "LINT",
            "IN_PROGRESS",
            "IN_PROGRESS",
            "2024-05-01T09:00:00Z",
            "2024-05-01T09:00:00Z",
        );
        let (status, _) = post_raw(&s, &format!("{base}/cicd_tasks"), Some(&t), &running).await;
        assert_eq!(status, 200);
        assert_eq!(items(&s, &t, "deployments").await[0]["result"], "aborted");

        // Bad tasks are refused with DevLake's envelope and store nothing.
        let before = stored(&s, &t).await;
        let (status, v) = post_raw(
            &s,
            &format!("{base}/cicd_tasks"),
            Some(&t),
            r#"{"pipeline_name":"P1","name":"x","result":"MAYBE"}"#,
        )
        .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["success"], false);
        assert!(v.to_string().contains("/result"), "{v}");
        assert_eq!(stored(&s, &t).await, before);
    }
}

/// Issue 12: an issue posted again open (TODO, no resolution date) after it
/// was resolved is open again; resolved again, its time to restore runs
/// from its start to the last resolution.
#[tokio::test]
async fn an_issue_posted_again_open_is_open_again() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let checkout = service_id(&s, &t, "checkout").await;
        let path = format!("/api/plugins/webhook/{checkout}/issues");
        let issue = |status: &str, resolved: Option<&str>| {
            let mut v = json!({"issue_key": "INC-7", "title": "Checkout down", "type": "INCIDENT",
                               "status": status, "created_date": "2024-05-01T10:00:00Z"});
            if let Some(r) = resolved {
                v["resolution_date"] = json!(r);
            }
            v.to_string()
        };
        let post = |body: String| {
            let (s, path, t) = (&s, &path, &t);
            async move { post_raw(s, path, Some(t), &body).await }
        };
        let one = || async { items(&s, &t, "incidents").await.remove(0) };

        assert_eq!(
            post(issue("DONE", Some("2024-05-01T11:00:00Z"))).await.0,
            200
        );
        assert_eq!(one().await["resolved_at"], "2024-05-01T11:00:00Z");
        // A post that names no status leaves the resolution as it is.
        let no_status = json!({"issue_key": "INC-7", "title": "Checkout down, again?",
                               "type": "INCIDENT", "created_date": "2024-05-01T10:00:00Z"});
        assert_eq!(post(no_status.to_string()).await.0, 200);
        assert_eq!(one().await["resolved_at"], "2024-05-01T11:00:00Z");

        assert_eq!(post(issue("TODO", None)).await.0, 200);
        assert_eq!(one().await["resolved_at"], Value::Null, "open again");
        let (_, f) = s
            .get("/api/v1/orgs/acme/dora?from=2024-05-01&to=2024-06-01", &t)
            .await;
        assert_eq!(f["time_to_restore_service"]["open_incidents"], 1, "{f}");

        assert_eq!(
            post(issue("DONE", Some("2024-05-01T13:00:00Z"))).await.0,
            200
        );
        let i = one().await;
        assert_eq!(i["started_at"], "2024-05-01T10:00:00Z");
        assert_eq!(i["resolved_at"], "2024-05-01T13:00:00Z");
        let (_, f) = s
            .get("/api/v1/orgs/acme/dora?from=2024-05-01&to=2024-06-01", &t)
            .await;
        assert_eq!(
            f["time_to_restore_service"]["median_seconds"], 10_800,
            "{f}"
        );
        assert_eq!(f["time_to_restore_service"]["open_incidents"], 0);
    }
}
