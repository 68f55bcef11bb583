//! Authentication and scopes over real HTTP (api.md, "Authentication").

mod common;

use base64::Engine as _;
use common::{Server, answer, databases};

use serde_json::json;

const DEPLOY: &str = r#"{"id":"d1","service":"checkout","finished_at":"2024-03-04T12:00:00Z","repo":"github.com/acme/checkout","commit_sha":"015e3d3b480e417aede5a1293bd61de9b0fd051d"}"#;

async fn count_deployments(s: &Server, token: &str) -> usize {
    let (_, v) = s.get("/api/v1/orgs/acme/deployments", token).await;
    v["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn missing_unknown_and_revoked_credentials_get_401_with_a_challenge() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        let path = s.url("/api/v1/orgs/acme/deployments");

        let r = s.http.post(&path).body(DEPLOY).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let challenges: Vec<_> = r.headers().get_all("www-authenticate").iter().collect();
        assert!(
            challenges
                .iter()
                .any(|h| h.to_str().unwrap().starts_with("Bearer"))
        );
        assert_eq!(r.headers()["content-type"], "application/problem+json");

        let (status, _) = s
            .post("/api/v1/orgs/acme/deployments", "dorado_nope", DEPLOY)
            .await;
        assert_eq!(status, 401);

        let t = s
            .cli
            .json(&["token", "create", "--org", "acme", "--name", "old"]);
        let old = t["token"].as_str().unwrap();
        s.cli
            .json(&["token", "revoke", "--org", "acme", &t["id"].to_string()]);
        let (status, body) = s.post("/api/v1/orgs/acme/deployments", old, DEPLOY).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            !body.to_string().contains(old),
            "an answer shows the secret"
        );

        assert_eq!(count_deployments(&s, &admin).await, 0);
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let db = databases().remove(0);
    let s = Server::start(db);
    s.acme();
    let t = s.cli.json(&[
        "token",
        "create",
        "--org",
        "acme",
        "--name",
        "brief",
        "--expires-in",
        "1s",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, _) = s
        .get("/api/v1/orgs/acme/services", t["token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403_and_stores_nothing() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        let reader = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "r", "--scopes", "read",
        ]);
        let reader = reader["token"].as_str().unwrap();
        let (status, body) = s
            .post("/api/v1/orgs/acme/deployments", reader, DEPLOY)
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("ingest"));
        let writer = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "w", "--scopes", "ingest",
        ]);
        let (status, _) = s
            .get(
                "/api/v1/orgs/acme/deployments",
                writer["token"].as_str().unwrap(),
            )
            .await;
        assert_eq!(status, 403);
        assert_eq!(count_deployments(&s, &admin).await, 0);
    }
}

#[tokio::test]
async fn another_organizations_paths_are_404_as_if_they_did_not_exist() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        s.cli.json(&["org", "create", "globex"]);
        s.cli
            .json(&["service", "create", "--org", "globex", "billing"]);
        let (status, _) = s
            .post("/api/v1/orgs/globex/deployments", &admin, DEPLOY)
            .await;
        assert_eq!(status, 404);
        let (status_other, other) = s.get("/api/v1/orgs/globex/deployments", &admin).await;
        let (status_none, none) = s.get("/api/v1/orgs/nowhere/deployments", &admin).await;
        assert_eq!((status_other, status_none), (404, 404));
        assert_eq!(other["title"], none["title"]);
        // A service of another organization, named in a body, is unknown here.
        let body = DEPLOY.replace("\"checkout\"", "\"billing\"");
        let (status, v) = s.post("/api/v1/orgs/acme/deployments", &admin, &body).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["errors"][0]["pointer"], "/service");
        assert_eq!(count_deployments(&s, &admin).await, 0);
    }
}

#[tokio::test]
async fn a_token_limited_to_a_service_sees_and_writes_only_that_service() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        let t = s.cli.json(&[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "c",
            "--service",
            "checkout",
        ]);
        let only = t["token"].as_str().unwrap();
        let (status, _) = s.post("/api/v1/orgs/acme/deployments", only, DEPLOY).await;
        assert_eq!(status, 201);
        let cart = DEPLOY.replace("\"checkout\"", "\"cart\"");
        let (status, _) = s.post("/api/v1/orgs/acme/deployments", only, &cart).await;
        assert_eq!(status, 400);
        let (status, _) = s
            .get("/api/v1/orgs/acme/deployments?service=cart", only)
            .await;
        assert_eq!(status, 404);
        let (_, services) = s.get("/api/v1/orgs/acme/services", only).await;
        assert_eq!(services["items"].as_array().unwrap().len(), 1);
        assert_eq!(services["items"][0]["name"], "checkout");
        assert_eq!(count_deployments(&s, &admin).await, 1);
    }
}

#[tokio::test]
async fn basic_auth_takes_a_token_as_password_or_a_users_email_and_password() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        s.cli.json_with_stdin(
            &["user", "create", "--org", "acme", "--email", "dev@acme.io"],
            "correct horse battery\n",
        );
        let path = s.url("/api/v1/orgs/acme/services");
        let r = s
            .http
            .get(&path)
            .basic_auth("anyone", Some(&admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = s
            .http
            .get(&path)
            .basic_auth("dev@acme.io", Some("correct horse battery"))
            .send()
            .await
            .unwrap();
        let (status, v) = answer(r).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let r = s
            .http
            .get(&path)
            .basic_auth("dev@acme.io", Some("wrong password"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let garbage = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        let r = s
            .http
            .get(&path)
            .header("authorization", format!("Basic {garbage}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = s
            .http
            .get(&path)
            .header("authorization", "Digest abc")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // A user writes too (scopes read and ingest).
        let r = s
            .http
            .post(s.url("/api/v1/orgs/acme/deployments"))
            .basic_auth("dev@acme.io", Some("correct horse battery"))
            .body(DEPLOY)
            .send()
            .await
            .unwrap();
        let (status, v) = answer(r).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["written"][0]["external_id"], json!("d1"));
    }
}

#[tokio::test]
async fn secrets_never_reach_the_log_or_an_answer() {
    for db in databases() {
        let url = db.url.clone();
        let s = Server::start_logging(&url, &[], "trace");
        let admin = s.acme();
        s.cli.json_with_stdin(
            &["user", "create", "--org", "acme", "--email", "dev@acme.io"],
            "hunter2-hunter2\n",
        );
        let path = s.url("/api/v1/orgs/acme/deployments");
        let (status, answer_body) = s
            .post("/api/v1/orgs/acme/deployments", &admin, DEPLOY)
            .await;
        assert_eq!(status, 201);
        let bad = s
            .http
            .post(&path)
            .bearer_auth(format!("{admin}x"))
            .body(DEPLOY)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
        let basic = s
            .http
            .get(&path)
            .basic_auth("dev@acme.io", Some("hunter2-hunter2"))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 200);
        let wrong = s
            .http
            .get(&path)
            .basic_auth("dev@acme.io", Some("hunter3-hunter3"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let (_, deliveries) = s.get("/api/v1/orgs/acme/deliveries", &admin).await;
        let tokens = s.cli.json(&["token", "list", "--org", "acme"]);
        // The server prints asynchronously; give its last lines a moment.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let log = s.log_text();
        assert!(log.contains("listening"), "the log was captured: {log}");
        for secret in [admin.as_str(), "hunter2-hunter2", "hunter3-hunter3"] {
            assert!(!log.contains(secret), "the log shows a secret");
            for shown in [&answer_body, &deliveries, &tokens] {
                assert!(
                    !shown.to_string().contains(secret),
                    "an answer shows a secret: {shown}"
                );
            }
        }
        drop(s);
        drop(db);
    }
}
