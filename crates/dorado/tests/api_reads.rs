//! Lists, health, the OpenAPI document and shutdown, over real HTTP.

mod common;

use common::{Server, databases};
use serde_json::{Value, json};

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_service_and_time() {
    for db in databases() {
        let s = Server::start(db);
        let t = s.acme();
        let mut events = Vec::new();
        for day in 1..=9 {
            let service = if day % 3 == 0 { "cart" } else { "checkout" };
            events.push(json!({"type": "deploy", "service": service, "id": format!("d{day}"),
                "time": format!("2024-05-0{day}T10:00:00Z"), "repo": "r", "commit_sha": format!("{day:040x}")}));
        }
        let (status, v) = s
            .post(
                "/api/v1/orgs/acme/events",
                &t,
                &Value::from(events).to_string(),
            )
            .await;
        assert_eq!(status, 201, "{v}");

        let mut seen = Vec::new();
        let mut path = "/api/v1/orgs/acme/deployments?limit=4".to_owned();
        loop {
            let (status, page) = s.get(&path, &t).await;
            assert_eq!(status, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 4);
            seen.extend(
                items
                    .iter()
                    .map(|d| d["external_id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/orgs/acme/deployments?limit=4&cursor={c}"),
                None => break,
            }
        }
        let want: Vec<String> = (1..=9).rev().map(|d| format!("d{d}")).collect();
        assert_eq!(seen, want);

        let (_, cart) = s
            .get("/api/v1/orgs/acme/deployments?service=cart", &t)
            .await;
        let ids: Vec<_> = cart["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["external_id"].clone())
            .collect();
        assert_eq!(ids, vec![json!("d9"), json!("d6"), json!("d3")]);

        let (_, window) = s
            .get(
                "/api/v1/orgs/acme/deployments?from=2024-05-02&to=2024-05-04T10:00:00Z",
                &t,
            )
            .await;
        let ids: Vec<_> = window["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["external_id"].clone())
            .collect();
        assert_eq!(
            ids,
            vec![json!("d3"), json!("d2")],
            "from inclusive, to exclusive"
        );

        for bad in [
            "from=someday",
            "limit=0",
            "limit=abc",
            "cursor=%%%",
            "service=nope",
        ] {
            let (status, v) = s
                .get(&format!("/api/v1/orgs/acme/deployments?{bad}"), &t)
                .await;
            assert!(status == 400 || status == 404, "{bad}: {status} {v}");
        }
        let (_, log) = s.get("/api/v1/orgs/acme/deliveries", &t).await;
        assert_eq!(log["items"][0]["accepted"], true);
        assert_eq!(log["items"][0]["route"], "events");
        assert!(log["items"][0]["body"].as_str().unwrap().contains("d9"));
    }
}

#[tokio::test]
async fn health_openapi_and_docs_are_served() {
    let s = Server::start(databases().remove(0));
    let get = |p: &str| s.http.get(s.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    // Ready once the figures are warmed up: at once with nothing stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = get("/readyz").await.unwrap().status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v1/orgs/{org}/deployments"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/orgs/{org}/events"]["post"].is_object());
    let docs = get("/docs/").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    // Issue 17: no outside validator is asked about the document.
    let init = get("/docs/swagger-initializer.js").await.unwrap();
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
    assert!(init.contains("/openapi.json"), "{init}");
    // Issue 17: a known route asked with another method answers why.
    let wrong = get("/api/v1/orgs/acme/events").await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");
    let body: Value = wrong.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("GET"), "{body}");
    let missing = get("/nope").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_after_what_it_committed() {
    for db in databases() {
        let url = db.url.clone();
        let mut s = Server::start(db);
        let t = s.acme();
        let body = json!({"id": "last", "service": "checkout", "repo": "r", "commit_sha": "abc"});
        let (status, _) = s
            .post("/api/v1/orgs/acme/deployments", &t, &body.to_string())
            .await;
        assert_eq!(status, 201);
        let exit = s.terminate();
        assert!(exit.success(), "{exit:?}");
        // What was answered 2xx is in the database after the stop.
        let again = Server::start_on(&url, &[]);
        let (_, v) = again.get("/api/v1/orgs/acme/deployments", &t).await;
        assert_eq!(v["items"][0]["external_id"], "last");
        drop(again);
        drop(s);
    }
}
