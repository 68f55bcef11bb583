//! The sources pages against the real server on SQLite and PostgreSQL:
//! what an admin does in a browser, over plain HTTP (make a source, read
//! its secret once, wire the tool, map what it names), checked against what
//! the command line says is stored.

mod common;
mod pages_support;

use common::{Server, answer, databases};
use hmac::{Hmac, KeyInit, Mac};
use pages_support::{Web, csrf, user};
use serde_json::{Value, json};
use sha2::Sha256;

/// The text between `start` and the next `end`, after `start`.
fn between<'h>(html: &'h str, start: &str, end: &str) -> Option<&'h str> {
    let from = html.find(start)? + start.len();
    Some(&html[from..from + html[from..].find(end)?])
}

/// The secret a page shows once, if it shows one.
fn shown_secret(html: &str) -> Option<String> {
    between(html, r#"<pre id="source-secret"><code>"#, "</code>").map(str::to_owned)
}

fn sources(s: &Server) -> Vec<Value> {
    let v = s.cli.json(&["source", "list", "--org", "acme"]);
    v.as_array().cloned().expect("an array")
}

fn service(s: &Server, name: &str) -> Option<Value> {
    let v = s.cli.json(&["service", "list", "--org", "acme"]);
    let list = v.as_array().cloned().expect("an array");
    list.into_iter().find(|x| x["name"] == name)
}

fn aliases(s: &Server, name: &str) -> Vec<String> {
    let svc = service(s, name).unwrap_or_else(|| panic!("no service {name}"));
    // `service list` shows aliases only where a service has some.
    svc["aliases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// A push of one commit to `repo`, signed as GitHub signs it.
async fn push(
    s: &Server,
    url: &str,
    secret: &str,
    repo: &str,
    delivery: &str,
    sha: &str,
) -> (u16, Value) {
    let body = json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "repository": {"html_url": format!("https://github.com/{repo}"), "full_name": repo},
        "commits": [{
            "id": sha, "timestamp": "2024-05-01T10:00:00Z",
            "message": "Pay faster", "author": {"name": "Ann"},
        }],
    })
    .to_string();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let r = s
        .http
        .post(url)
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    answer(r).await
}

fn unmapped_listed(html: &str, name: &str) -> bool {
    html.contains(&format!(r#"<tr class="unmapped" data-name="{name}">"#))
}

#[tokio::test]
async fn an_admin_makes_a_github_source_and_maps_what_it_sends() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        user(&s, "acme", "ann@acme.io", true);
        let mut web = Web::new(&s);
        web.sign_in("ann@acme.io").await;

        let list = web.get("/settings/sources").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(list.body.contains("No sources yet"), "{}", list.body);
        assert!(
            list.body
                .contains(r#"<a href="/settings/sources" aria-current="page">Sources</a>"#),
            "the settings menu lists it"
        );

        // Made from the form: the secret is shown this once, with the URL
        // and GitHub's steps.
        let token = csrf(&list.body);
        let form = [
            ("_csrf", token.as_str()),
            ("kind", "github"),
            ("name", ""),
            ("workflows", "Deploy\r\nRelease, Ship"),
            ("secret", ""),
        ];
        let made = web.post("/settings/sources", &form).await;
        assert_eq!(made.status, 200, "{}", made.body);
        let secret = shown_secret(&made.body).expect("the secret is shown");
        assert_eq!(secret.len(), 40, "{secret}");
        let stored = sources(&s);
        assert_eq!(stored.len(), 1);
        let id = stored[0]["id"].as_i64().unwrap();
        assert_eq!(stored[0]["kind"], "github");
        assert_eq!(stored[0]["name"], "github");
        assert_eq!(stored[0]["has_secret"], true);
        assert_eq!(
            stored[0]["deploy_workflows"],
            json!(["Deploy", "Release", "Ship"])
        );
        let url = format!("{}/api/v1/orgs/acme/sources/{id}/webhook", s.base);
        assert_eq!(
            between(
                &made.body,
                r#"<code class="url" id="source-url">"#,
                "</code>"
            ),
            Some(url.as_str())
        );
        for step in [
            "Settings → Webhooks → Add webhook",
            "<code>application/json</code>",
            "<em>Pushes</em>",
            "<em>Deployments</em>",
            "<em>Deployment statuses</em>",
            "<em>Workflow runs</em>",
            "<em>Pull requests</em>",
            "<em>Issues</em>",
            "Deploy, Release, Ship",
        ] {
            assert!(made.body.contains(step), "the steps name {step}");
        }

        // Never again: not on the list, not on the source's page.
        let list = web.get("/settings/sources").await;
        assert!(list.body.contains(&url), "{}", list.body);
        assert!(list.body.contains("Deploy, Release, Ship"));
        assert!(!list.body.contains(&secret), "the list shows the secret");
        let page_path = format!("/settings/sources/{id}");
        let page = web.get(&page_path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains(&secret), "the page shows the secret");
        assert_eq!(shown_secret(&page.body), None);
        assert!(page.body.contains("<em>Workflow runs</em>"));
        assert!(page.body.contains("Nothing received yet"));

        // A repository no service answers to: accepted, ignored, listed.
        let repo = "github.com/acme/payments-api";
        let (status, v) = push(
            &s,
            &url,
            &secret,
            "acme/payments-api",
            "0b6f-1",
            &"a".repeat(40),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert!(
            v["ignored"]
                .as_str()
                .unwrap()
                .contains("maps to no service"),
            "{v}"
        );
        let page = web.get(&page_path).await;
        assert!(unmapped_listed(&page.body, repo), "{}", page.body);
        assert!(page.body.contains("Create service payments-api"));
        assert!(page.body.contains("200 ignored"), "the delivery is listed");
        assert!(page.body.contains("maps to no service"), "with its reason");
        assert!(sources(&s)[0]["last_accepted_at"].is_string());

        // Create a service for it, in one click.
        let token = csrf(&page.body);
        let a = web
            .post(
                &format!("{page_path}/new-service"),
                &[("_csrf", &token), ("name", repo)],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(
            a.location.as_deref(),
            Some(format!("{page_path}?made=payments-api").as_str())
        );
        assert_eq!(aliases(&s, "payments-api"), vec![repo.to_owned()]);
        let page = web.get(a.location.as_deref().unwrap()).await;
        assert!(
            page.body
                .contains("Service payments-api created and mapped")
        );
        assert!(!unmapped_listed(&page.body, repo), "still listed");
        assert!(
            page.body
                .contains("Everything this source has named maps to a service")
        );

        // Map a second repository to a service that exists.
        let repo2 = "github.com/acme/storefront";
        let (status, v) = push(
            &s,
            &url,
            &secret,
            "acme/storefront",
            "0b6f-2",
            &"b".repeat(40),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let page = web.get(&page_path).await;
        assert!(unmapped_listed(&page.body, repo2), "{}", page.body);
        assert!(
            page.body
                .contains(r#"<option value="checkout">checkout</option>"#)
        );
        let token = csrf(&page.body);
        // Only what this source has seen can be mapped here.
        let a = web
            .post(
                &format!("{page_path}/map"),
                &[
                    ("_csrf", &token),
                    ("name", "github.com/acme/other"),
                    ("service", "cart"),
                ],
            )
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(aliases(&s, "cart").is_empty());
        let a = web
            .post(
                &format!("{page_path}/map"),
                &[("_csrf", &token), ("name", repo2), ("service", "checkout")],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(
            a.location.as_deref(),
            Some(format!("{page_path}?mapped=checkout").as_str())
        );
        assert_eq!(aliases(&s, "checkout"), vec![repo2.to_owned()]);
        let page = web.get(a.location.as_deref().unwrap()).await;
        assert!(page.body.contains("Mapped to checkout"), "{}", page.body);
        assert!(!unmapped_listed(&page.body, repo2));

        // What the repository sends now counts.
        let (status, v) = push(
            &s,
            &url,
            &secret,
            "acme/storefront",
            "0b6f-3",
            &"c".repeat(40),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert!(v.get("ignored").is_none(), "{v}");
        assert!(!v["written"].as_array().unwrap().is_empty(), "{v}");
    }
}

#[tokio::test]
async fn only_admins_reach_the_sources_pages() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let made = s
            .cli
            .json(&["source", "create", "--org", "acme", "--kind", "github"]);
        let id = made["id"].as_i64().unwrap();
        user(&s, "acme", "bob@acme.io", false);
        let mut web = Web::new(&s);
        web.sign_in("bob@acme.io").await;
        let page = web.get("/scorecard").await;
        assert!(!page.body.contains("/settings/sources"), "no menu entry");
        let token = csrf(&page.body);
        for path in [
            "/settings/sources".to_owned(),
            format!("/settings/sources/{id}"),
        ] {
            assert_eq!(web.get(&path).await.status, 403, "{path}");
        }
        let a = web
            .post(
                "/settings/sources",
                &[("_csrf", &token), ("kind", "gitlab")],
            )
            .await;
        assert_eq!(a.status, 403);
        let a = web
            .post(
                &format!("/settings/sources/{id}/delete"),
                &[("_csrf", &token)],
            )
            .await;
        assert_eq!(a.status, 403);
        let a = web
            .post(
                &format!("/settings/sources/{id}/rotate"),
                &[("_csrf", &token)],
            )
            .await;
        assert_eq!(a.status, 403);
        let stored = sources(&s);
        assert_eq!(stored.len(), 1, "nothing made, nothing deleted");
        assert_eq!(
            stored[0]["previous_secret_until"],
            Value::Null,
            "nothing rotated"
        );

        // Signed out, the pages ask to sign in.
        let mut anon = Web::new(&s);
        let a = anon.get(&format!("/settings/sources/{id}")).await;
        assert_eq!(a.status, 303);
        assert!(a.location.unwrap().starts_with("/signin?next="));
    }
}

#[tokio::test]
async fn pagerduty_takes_its_secret_later_and_sources_rotate_and_go() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        user(&s, "acme", "ann@acme.io", true);
        let mut web = Web::new(&s);
        web.sign_in("ann@acme.io").await;
        let token = web.csrf_of("/settings/sources").await;

        // A form error keeps what was typed.
        let a = web
            .post(
                "/settings/sources",
                &[
                    ("_csrf", &token),
                    ("kind", "cdevents"),
                    ("name", "tekton"),
                    ("secret", "x"),
                ],
            )
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(
            a.body.contains("cdevents source has no secret"),
            "{}",
            a.body
        );
        assert!(a.body.contains(r#"value="tekton""#));
        assert!(sources(&s).is_empty());

        let a = web
            .post(
                "/settings/sources",
                &[("_csrf", &token), ("kind", "pagerduty"), ("name", "pd")],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(shown_secret(&a.body), None, "PagerDuty makes the secret");
        assert!(a.body.contains("No signing secret yet"));
        for step in [
            "Generic Webhooks (v3)",
            "incident.triggered",
            "incident.resolved",
            "incident.reopened",
        ] {
            assert!(a.body.contains(step), "the steps name {step}");
        }
        let pd = sources(&s)[0].clone();
        assert_eq!(pd["has_secret"], false);
        let path = format!("/settings/sources/{}", pd["id"]);
        let a = web
            .post(
                &format!("{path}/rotate"),
                &[("_csrf", &token), ("secret", "")],
            )
            .await;
        assert_eq!(a.status, 400, "an empty secret is refused");
        let a = web
            .post(
                &format!("{path}/rotate"),
                &[("_csrf", &token), ("secret", " pd-signing-secret ")],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("The secret is saved"), "{}", a.body);
        assert!(
            !a.body.contains("pd-signing-secret"),
            "a given secret is not echoed"
        );
        assert!(!a.body.contains("No signing secret yet"));
        assert_eq!(sources(&s)[0]["has_secret"], true);

        // GitHub: a rotation shows the new secret once; the old one works a day more.
        let a = web
            .post(
                "/settings/sources",
                &[("_csrf", &token), ("kind", "github"), ("name", "gh")],
            )
            .await;
        let first = shown_secret(&a.body).expect("a secret");
        let gh = sources(&s).into_iter().find(|x| x["name"] == "gh").unwrap();
        let path = format!("/settings/sources/{}", gh["id"]);
        let a = web
            .post(&format!("{path}/rotate"), &[("_csrf", &token)])
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let second = shown_secret(&a.body).expect("the new secret");
        assert_ne!(first, second);
        assert!(a.body.contains("still accepted until"));
        let gh = sources(&s).into_iter().find(|x| x["name"] == "gh").unwrap();
        assert!(gh["previous_secret_until"].is_string(), "{gh}");
        assert!(!web.get(&path).await.body.contains(&second));

        // Deleting stops it; the list says so.
        let a = web
            .post(&format!("{path}/delete"), &[("_csrf", &token)])
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        let to = a.location.unwrap();
        assert_eq!(to, format!("/settings/sources?deleted={}", gh["id"]));
        let list = web.get(&to).await;
        assert!(
            list.body
                .contains(&format!("Source {} is deleted", gh["id"]))
        );
        let names: Vec<Value> = sources(&s).iter().map(|x| x["name"].clone()).collect();
        assert_eq!(names, vec![json!("pd")]);
        assert_eq!(web.get(&path).await.status, 404);
    }
}
