//! Issue 12, first slice: writes under pressure. Two instances on one
//! PostgreSQL racing the same keys answer no 5xx and store no duplicate; a
//! full write queue answers 503 with `Retry-After` at once, and every 2xx
//! is stored.

mod common;

use common::{Server, answer, databases};
use dorado_store::Backend;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SHA: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";

fn deployment(id: &str) -> String {
    json!({"id": id, "service": "checkout", "environment": "production", "result": "success",
           "finished_at": "2024-03-04T12:00:00Z", "repo": "github.com/acme/checkout",
           "commit_sha": SHA})
    .to_string()
}

async fn post(
    http: reqwest::Client,
    url: String,
    token: String,
    body: String,
    key: Option<String>,
) -> (u16, Value) {
    let mut req = http.post(url).bearer_auth(token).body(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    answer(req.send().await.expect("the server answers")).await
}

async fn all_deployments(s: &Server, token: &str) -> Vec<Value> {
    let (status, v) = s
        .get("/api/v1/orgs/acme/deployments?limit=500", token)
        .await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn two_instances_racing_the_same_keys_answer_no_server_error() {
    let Some(db) = databases()
        .into_iter()
        .find(|d| d.backend == Backend::Postgres)
    else {
        eprintln!("PostgreSQL is not reachable: only SQLite, whose writers cannot race");
        return;
    };
    let a = Server::start(db);
    let token = a.acme();
    let b = Server::start_on(&a.cli.url, &[]);
    for round in 0..8 {
        let mut tasks = Vec::new();
        for n in 0..24 {
            let server = if n % 2 == 0 { &a } else { &b };
            let url = server.url("/api/v1/orgs/acme/deployments");
            // Half post the same external id, half the same Idempotency-Key
            // with the same body (a retried request reaching both).
            let (body, key) = if n % 4 < 2 {
                (deployment(&format!("same-{round}")), None)
            } else {
                (
                    deployment(&format!("keyed-{round}")),
                    Some(format!("key-{round}")),
                )
            };
            tasks.push(post(server.http.clone(), url, token.clone(), body, key));
        }
        let answers = join_all(tasks).await;
        for (status, v) in &answers {
            assert!(
                *status == 200 || *status == 201,
                "round {round}: {status} {v}"
            );
        }
        let created = answers
            .iter()
            .filter(|(s, v)| *s == 201 && v["replayed"] == false)
            .count();
        assert!(created >= 1, "round {round}: someone created it");
    }
    let stored = all_deployments(&a, &token).await;
    assert_eq!(
        stored.len(),
        16,
        "one deployment per external id, no duplicate"
    );
}

/// Runs every request at once, each on its own task.
async fn join_all<T: Send + 'static>(
    tasks: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("the request task finished"));
    }
    out
}

#[tokio::test]
async fn a_full_write_queue_answers_503_at_once_and_loses_nothing() {
    let db = databases()
        .into_iter()
        .find(|d| d.backend == Backend::Sqlite)
        .expect("SQLite is always there");
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let s = Server::start_with(db, &["--write-queue", "2"]);
    let token = s.acme();
    // Another process holds the database's write lock for three seconds,
    // as a large import's index build does.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE')\n\
             print('locked', flush=True)\n\
             time.sleep(3)\n\
             c.execute('COMMIT')\n",
            &path,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let started = Instant::now();
    let url = s.url("/api/v1/orgs/acme/deployments");
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (http, url, token) = (s.http.clone(), url.clone(), token.clone());
            async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .body(deployment(&format!("d-{n}")))
                    .send()
                    .await
                    .expect("the server answers");
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let (status, v) = answer(r).await;
                (status, v, retry_after, started.elapsed())
            }
        })
        .collect();
    let answers = join_all(tasks).await;
    holder.wait().unwrap();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    let stored: Vec<_> = answers.iter().filter(|a| a.0 == 201).collect();
    assert_eq!(refused.len() + stored.len(), 20, "{answers:?}");
    assert!(
        refused.len() >= 10,
        "a queue of 2 refuses most of 20: {answers:?}"
    );
    assert!(
        !stored.is_empty(),
        "what was queued is stored after the lock"
    );
    for (_, v, retry_after, elapsed) in &refused {
        assert_eq!(retry_after.as_deref(), Some("1"), "{v}");
        assert!(
            *elapsed < Duration::from_millis(2_500),
            "answered at once, not after the lock: {elapsed:?}"
        );
    }
    let ids: Vec<String> = all_deployments(&s, &token)
        .await
        .iter()
        .map(|d| d["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), stored.len(), "every 2xx is stored, nothing else");
}
