//! The store's cache of credentials and services, seen from outside: a
//! token revoked here is refused on the next request, one revoked by the
//! CLI or by another instance within a second (the store reads the cache
//! epoch every 100 ms), an expired one at once, and a service created by
//! another process is there for the next write that names it.

mod common;
mod pages_support;

use common::{Server, databases};
use dorado_core::Timestamp;
use dorado_store::Backend;
use pages_support::{Web, user};
use std::time::{Duration, Instant};

const SERVICES: &str = "/api/v1/orgs/acme/services";

fn deploy(id: &str, service: &str) -> String {
    format!(r#"{{"id":"{id}","service":"{service}","finished_at":"2024-03-04T12:00:00Z"}}"#)
}

fn token(s: &Server, name: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["token", "create", "--org", "acme", "--name", name];
    args.extend_from_slice(extra);
    let t = s.cli.json(&args);
    (
        t["token"].as_str().expect("a token").to_owned(),
        t["id"].to_string(),
    )
}

/// Asks `path` with `token` until it answers `status`, for at most a
/// second; answers how long that took.
async fn until_status(s: &Server, path: &str, token: &str, status: u16) -> Duration {
    let start = Instant::now();
    loop {
        let (got, body) = s.get(path, token).await;
        if got == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{path} still answers {got} after a second, not {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_token_revoked_by_the_cli_while_the_server_runs_is_refused_within_a_second() {
    for db in databases() {
        let s = Server::start(db);
        let admin = s.acme();
        let (secret, id) = token(&s, "ci2", &[]);
        // Used, so that the server has it cached.
        for _ in 0..3 {
            assert_eq!(s.get(SERVICES, &secret).await.0, 200);
        }
        s.cli.json(&["token", "revoke", "--org", "acme", &id]);
        until_status(&s, SERVICES, &secret, 401).await;
        assert_eq!(s.get(SERVICES, &admin).await.0, 200, "the others work on");
    }
}

#[tokio::test]
async fn a_token_revoked_in_the_pages_is_refused_on_the_very_next_request() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let (secret, id) = token(&s, "ci2", &[]);
        assert_eq!(s.get(SERVICES, &secret).await.0, 200);
        let email = user(&s, "acme", "admin@acme.io", true);
        let mut web = Web::new(&s);
        web.sign_in(&email).await;
        let csrf = web.csrf_of("/settings/tokens").await;
        let a = web
            .post(
                &format!("/settings/tokens/{id}/revoke"),
                &[("_csrf", &csrf)],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        let (status, body) = s.get(SERVICES, &secret).await;
        assert_eq!(status, 401, "{body}");
    }
}

#[tokio::test]
async fn a_token_is_refused_right_after_it_expires() {
    for db in databases() {
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
            "2s",
        ]);
        let secret = t["token"].as_str().unwrap();
        let expires = Timestamp::parse(t["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(s.get(SERVICES, secret).await.0, 200, "cached while valid");
        let wait = expires.millis() - Timestamp::now().millis();
        tokio::time::sleep(Duration::from_millis(wait.max(0) as u64 + 20)).await;
        // Nothing was written meanwhile: the cached expiry alone refuses.
        let (status, body) = s.get(SERVICES, secret).await;
        assert_eq!(status, 401, "{body}");
    }
}

#[tokio::test]
async fn a_service_made_by_another_process_reaches_the_next_write() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let path = "/api/v1/orgs/acme/deployments";
        let (status, body) = s.post(path, &t, &deploy("d1", "checkout")).await;
        assert_eq!(status, 201, "{body}");
        // The server now has acme's services cached; the CLI adds one.
        s.cli
            .json(&["service", "create", "--org", "acme", "billing"]);
        let (status, body) = s.post(path, &t, &deploy("d2", "billing")).await;
        assert_eq!(status, 201, "the very next write names it: {body}");
        let (status, body) = s.post(path, &t, &deploy("d3", "nothing")).await;
        assert_eq!(status, 400, "an unknown service stays unknown: {body}");

        // Aliases added by the CLI take the same path: sources_scenario.rs
        // maps a repository with `dorado service update --alias` and has
        // the very next GitHub delivery stored.
    }
}

#[tokio::test]
async fn two_servers_on_one_postgresql_follow_each_others_revocations() {
    let Some(db) = databases()
        .into_iter()
        .find(|d| d.backend == Backend::Postgres)
    else {
        eprintln!("no PostgreSQL: skipped");
        return;
    };
    let url = db.url.clone();
    let a = Server::start(db);
    let b = Server::start_on(&url, &[]);
    a.acme();
    let (secret, id) = token(&a, "ci2", &[]);
    for s in [&a, &b] {
        assert_eq!(s.get(SERVICES, &secret).await.0, 200, "cached on both");
    }
    let email = user(&a, "acme", "admin@acme.io", true);
    let mut web = Web::new(&a);
    web.sign_in(&email).await;
    let csrf = web.csrf_of("/settings/tokens").await;
    let r = web
        .post(
            &format!("/settings/tokens/{id}/revoke"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(a.get(SERVICES, &secret).await.0, 401, "A at once");
    let took = until_status(&b, SERVICES, &secret, 401).await;
    eprintln!("B refused the token revoked on A after {took:?}");

    // And a service created through B's process is written through A.
    let t = a.cli.json(&[
        "token", "create", "--org", "acme", "--name", "w", "--scopes", "ingest",
    ]);
    let t = t["token"].as_str().unwrap();
    let path = "/api/v1/orgs/acme/deployments";
    assert_eq!(a.post(path, t, &deploy("d1", "checkout")).await.0, 201);
    b.cli
        .json(&["service", "create", "--org", "acme", "billing"]);
    let (status, body) = a.post(path, t, &deploy("d2", "billing")).await;
    assert_eq!(status, 201, "{body}");
}
