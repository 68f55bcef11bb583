//! Native sources end to end (issue 11): made, listed, rotated and deleted
//! with the real command line; deliveries checked the vendor's way by the
//! real server, on SQLite and PostgreSQL, before anything is read or stored.

mod common;
mod sources_common;

use common::{Server, answer, databases};
use serde_json::{Value, json};
use sources_common::*;

async fn deliveries(s: &Server, token: &str) -> Vec<Value> {
    let (status, v) = s.get("/api/v1/orgs/acme/deliveries", token).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn listed(s: &Server) -> Vec<Value> {
    s.cli
        .json(&["source", "list", "--org", "acme"])
        .as_array()
        .cloned()
        .expect("an array")
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones
/// escaped.
fn form_encode(payload: &str) -> String {
    let mut out = String::from("payload=");
    for b in payload.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn sources_are_made_listed_rotated_and_deleted() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let gh = create_source(&s, &["--kind", "github", "--deploy-workflow", "Deploy"], "");
        let id = gh["id"].as_i64().expect("an id");
        assert_eq!(gh["kind"], "github");
        assert_eq!(gh["name"], "github");
        assert_eq!(gh["url"], format!("/api/v1/orgs/acme/sources/{id}/webhook"));
        assert_eq!(gh["deploy_workflows"], json!(["Deploy"]));
        assert_eq!(secret(&gh).len(), 40);
        let gh2 = create_source(&s, &["--kind", "GitHub"], "");
        assert_eq!(gh2["name"], "github-2");
        assert_ne!(secret(&gh2), secret(&gh));
        let gl = create_source(&s, &["--kind", "gitlab", "--name", "gitlab-group"], "");
        assert!(secret(&gl).starts_with("whsec_"), "{gl}");
        let pd = create_source(&s, &["--kind", "pagerduty"], "");
        assert_eq!(pd["secret"], Value::Null);
        assert_eq!(pd["has_secret"], false);
        let pd2 = create_source(
            &s,
            &["--kind", "pagerduty", "--secret-stdin"],
            "pd-secret\n",
        );
        assert_eq!(pd2["secret"], "pd-secret");
        let ce = create_source(&s, &["--kind", "cdevents"], "");
        assert_eq!(ce["secret"], Value::Null);

        let out = s
            .cli
            .run(&["source", "create", "--org", "acme", "--kind", "svn"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a source kind"));
        let out = s.cli.run(&[
            "source", "create", "--org", "acme", "--kind", "github", "--name", "github",
        ]);
        assert!(
            !out.status.success(),
            "a name is unique in its organization"
        );

        let list = listed(&s);
        assert_eq!(list.len(), 6);
        for item in &list {
            assert!(
                item.get("secret").is_none(),
                "a list never shows a secret: {item}"
            );
            assert_eq!(item["last_accepted_at"], Value::Null);
        }
        let text = String::from_utf8_lossy(&s.cli.run(&["source", "list", "--org", "acme"]).stdout)
            .into_owned();
        assert!(!text.contains(&secret(&gh)), "{text}");

        let rotated = s.cli.json(&["source", "rotate", "--org", "acme", "github"]);
        assert_eq!(rotated["id"], id);
        assert_ne!(secret(&rotated), secret(&gh));
        assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
        let out = s
            .cli
            .run(&["source", "rotate", "--org", "acme", &pd["id"].to_string()]);
        assert!(
            !out.status.success(),
            "PagerDuty's secret is PagerDuty's to make"
        );

        let gone = s
            .cli
            .json(&["source", "delete", "--org", "acme", "github-2"]);
        assert_eq!(gone, json!({"id": gh2["id"], "deleted": true}));
        assert_eq!(listed(&s).len(), 5);
        let (status, _) = github(&s, &gh2, "ping", "d-gone", b"{}").await;
        assert_eq!(status, 404, "a deleted source accepts nothing");
    }
}

#[tokio::test]
async fn github_deliveries_are_checked_before_anything_is_read() {
    for db in databases() {
        let s = Server::start(db);
        let token = s.acme();
        let gh = create_source(&s, &["--kind", "github"], "");
        let ping = br#"{"zen":"Design for failure.","hook_id":42,"hook":{"type":"Organization"}}"#;

        // Wrong, missing and malformed signatures: 401, and no trace.
        let (status, v) = github_signed(
            &s,
            &gh,
            "ping",
            "d-0",
            ping,
            "sha256=00",
            "application/json",
        )
        .await;
        assert_eq!(status, 401, "{v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .contains("X-Hub-Signature-256"),
            "{v}"
        );
        let wrong = format!("sha256={}", hmac_hex(b"not the secret", &[ping]));
        let (status, _) =
            github_signed(&s, &gh, "ping", "d-0", ping, &wrong, "application/json").await;
        assert_eq!(status, 401);
        let r = s
            .http
            .post(s.url(&path(&gh)))
            .header("X-GitHub-Event", "ping")
            .body(ping.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(answer(r).await.0, 401);
        // A secret is never read from the query string.
        let r = s
            .http
            .post(s.url(&format!("{}?secret={}", path(&gh), secret(&gh))))
            .header("X-GitHub-Event", "ping")
            .body(ping.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(answer(r).await.0, 401);
        assert!(deliveries(&s, &token).await.is_empty());

        // A ping is answered 2xx, ignored, and logged with the reason.
        let (status, v) = github(&s, &gh, "ping", "d-1", ping).await;
        assert_eq!(status, 200, "{v}");
        assert!(v["ignored"].is_string(), "{v}");
        assert_eq!(v["written"], json!([]));
        let (status, again) = github(&s, &gh, "ping", "d-1", ping).await;
        assert_eq!(status, 200);
        assert_eq!(
            again["replayed"], true,
            "a redelivery answers as the first did"
        );
        assert_eq!(again["delivery_id"], v["delivery_id"]);
        let log = deliveries(&s, &token).await;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0]["source_id"], gh["id"]);
        assert_eq!(log[0]["accepted"], true);
        assert_eq!(log[0]["ignored"], v["ignored"]);
        assert_eq!(log[0]["dialect"], "github");
        assert_eq!(log[0]["route"], format!("sources/{}/github/ping", gh["id"]));

        // Form-encoded bodies are signed as sent and read as JSON.
        let form = form_encode(std::str::from_utf8(ping).unwrap());
        let sig = format!(
            "sha256={}",
            hmac_hex(secret(&gh).as_bytes(), &[form.as_bytes()])
        );
        let (status, v) = github_signed(
            &s,
            &gh,
            "ping",
            "d-2",
            form.as_bytes(),
            &sig,
            "application/x-www-form-urlencoded",
        )
        .await;
        assert_eq!(status, 200, "{v}");

        // Signed but not JSON: refused with the reason, and logged so.
        let (status, v) = github(&s, &gh, "push", "d-3", b"{not json").await;
        assert_eq!(status, 400, "{v}");
        let log = deliveries(&s, &token).await;
        assert_eq!(log[0]["accepted"], false);
        assert_eq!(log[0]["status"], 400);
        let listed = listed(&s);
        assert!(listed[0]["last_accepted_at"].is_string(), "{listed:?}");
        assert!(listed[0]["last_refused_at"].is_string(), "{listed:?}");

        // After a rotation the old secret still signs, for 24 hours.
        let rotated = s.cli.json(&["source", "rotate", "--org", "acme", "github"]);
        let (status, _) = github(&s, &gh, "ping", "d-4", ping).await;
        assert_eq!(
            status, 200,
            "the old secret is accepted during the rotation"
        );
        let (status, _) = github(&s, &rotated, "ping", "d-5", ping).await;
        assert_eq!(status, 200, "the new secret is accepted");

        // GitHub's limit is 25 MB: larger bodies are refused unread.
        let big = vec![b' '; 25 * 1024 * 1024 + 1];
        let (status, _) = github(&s, &rotated, "push", "d-6", &big).await;
        assert_eq!(status, 413);
    }
}

#[tokio::test]
async fn pagerduty_signs_with_its_own_secret() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        // The published vector: PagerDuty's secret, given to Dorado.
        let vector_secret = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
        let pd = create_source(
            &s,
            &["--kind", "pagerduty", "--secret-stdin"],
            vector_secret,
        );
        let body = fixture("pagerduty_signature_vector_body.json");
        let header = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
        let post = |sig: &'static str| {
            s.http
                .post(s.url(&path(&pd)))
                .header("X-PagerDuty-Signature", sig)
                .body(body.clone())
                .send()
        };
        let (status, v) = answer(post(header).await.unwrap()).await;
        assert!(status == 200 || status == 201, "{status} {v}");
        let (status, _) = answer(post("v1=0123").await.unwrap()).await;
        assert_eq!(status, 401);

        // A source whose secret was not given yet refuses everything.
        let bare = create_source(&s, &["--kind", "pagerduty"], "");
        let (status, v) = pagerduty(&s, &bare, "anything", &body).await;
        assert_eq!(status, 401, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("no secret"), "{v}");
    }
}

#[tokio::test]
async fn cdevents_senders_use_an_ingest_token() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let ce = create_source(&s, &["--kind", "cdevents"], "");
        let body = fixture("cdevents_pipelinerun_finished.json");
        let (status, _) = cdevents(&s, &ce, "not-a-token", "application/json", &[], &body).await;
        assert_eq!(status, 401);
        let read = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "r", "--scopes", "read",
        ]);
        let read = read["token"].as_str().unwrap();
        let (status, _) = cdevents(&s, &ce, read, "application/json", &[], &body).await;
        assert_eq!(status, 403);
        s.cli.json(&["org", "create", "globex"]);
        let other = s
            .cli
            .json(&["token", "create", "--org", "globex", "--name", "g"]);
        let (status, _) = cdevents(
            &s,
            &ce,
            other["token"].as_str().unwrap(),
            "application/json",
            &[],
            &body,
        )
        .await;
        assert_eq!(
            status, 404,
            "another organization's token finds nothing here"
        );
        let ingest = s.cli.json(&[
            "token", "create", "--org", "acme", "--name", "i", "--scopes", "ingest",
        ]);
        let (status, v) = cdevents(
            &s,
            &ce,
            ingest["token"].as_str().unwrap(),
            "application/json",
            &[],
            &body,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert!(v["ignored"].is_string(), "a pipeline run is not read: {v}");
    }
}

/// GitHub's published vector passes the server's check: the body is then
/// read, and refused for not being JSON (400, not 401).
#[tokio::test]
async fn github_vector_passes_and_gitlab_checks_its_token() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let gh = create_source(
            &s,
            &["--kind", "github", "--secret-stdin"],
            "It's a Secret to Everybody\n",
        );
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let (status, v) =
            github_signed(&s, &gh, "push", "v-1", b"Hello, World!", sig, "text/plain").await;
        assert_eq!(
            status, 400,
            "the signature holds, the body is no payload: {v}"
        );

        let gl = create_source(&s, &["--kind", "gitlab"], "");
        let push = br#"{"object_kind":"tag_push","project":{"web_url":"https://gitlab.com/acme/checkout"}}"#;
        let (status, v) = gitlab(&s, &gl, "Tag Push Hook", "k-1", push).await;
        assert_eq!(status, 200, "{v}");
        assert!(v["ignored"].is_string(), "{v}");
        for (token, why) in [("wrong", "a wrong token"), ("", "no token")] {
            let mut req = s.http.post(s.url(&path(&gl))).body(push.to_vec());
            if !token.is_empty() {
                req = req.header("X-Gitlab-Token", token);
            }
            let (status, _) = answer(req.send().await.unwrap()).await;
            assert_eq!(status, 401, "{why}");
        }
        // A signature that does not hold is refused even with the right token.
        let r = s
            .http
            .post(s.url(&path(&gl)))
            .header("X-Gitlab-Token", secret(&gl))
            .header("webhook-id", "k-2")
            .header("webhook-timestamp", "1733300000")
            .header("webhook-signature", "v1,AAAA")
            .body(push.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(answer(r).await.0, 401);
    }
}
