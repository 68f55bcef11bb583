//! `dorado import` end to end: the real binary loads JSON lines into a
//! database a real server then reads, on SQLite and PostgreSQL.

mod common;

use common::{Server, databases};
use serde_json::{Value, json};

/// A small history in the event API's format, deliberately out of time
/// order (a deploy before the commits it ships, a resolve before its start).
/// Hand-computed over [2024-03-01, 2024-03-08), production:
/// - counted: checkout d-1 and d-2, cart c-1 (d-3 failed, s-1 is staging);
/// - d-1 ships c1 (lead 26 h) and c2 (2 h); d-2 ships c3 (1 h): median 2 h;
/// - INC-1 (11:00 to 13:00 on the 3rd) follows d-2 on checkout: one failed
///   deployment of three, restored in 2 h.
const HISTORY: &str = r#"{"type":"deploy","service":"checkout","id":"d-1","time":"2024-03-02T12:00:00Z","repo":"github.com/acme/shop","commit_sha":"2222222222222222222222222222222222222222"}
{"type":"change","repo":"github.com/acme/shop","sha":"2222222222222222222222222222222222222222","parents":["1111111111111111111111111111111111111111"],"committed_at":"2024-03-02T10:00:00Z"}
{"type":"change","repo":"github.com/acme/shop","sha":"1111111111111111111111111111111111111111","parents":[],"committed_at":"2024-03-01T10:00:00Z"}
{"type":"incident_resolved","service":"checkout","id":"INC-1","time":"2024-03-03T13:00:00Z"}
{"type":"change","repo":"github.com/acme/shop","sha":"3333333333333333333333333333333333333333","parents":["2222222222222222222222222222222222222222"],"committed_at":"2024-03-03T09:00:00Z"}
{"type":"deploy","service":"checkout","id":"d-2","time":"2024-03-03T10:00:00Z","repo":"github.com/acme/shop","commit_sha":"3333333333333333333333333333333333333333"}
{"type":"incident_started","service":"checkout","id":"INC-1","time":"2024-03-03T11:00:00Z","title":"Checkout is down"}
{"type":"deploy","service":"checkout","id":"d-3","time":"2024-03-04T10:00:00Z","result":"failure"}
{"type":"deploy","service":"checkout","id":"s-1","time":"2024-03-04T11:00:00Z","environment":"staging"}
{"type":"deploy","service":"cart","id":"c-1","time":"2024-03-05T08:00:00Z"}
"#;

const WINDOW: &str = "from=2024-03-01&to=2024-03-08";

async fn figures(s: &Server, token: &str, query: &str) -> Value {
    let (status, v) = s
        .get(&format!("/api/v1/orgs/acme/dora?{WINDOW}{query}"), token)
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn an_imported_history_answers_as_the_same_events_posted_live() {
    for (imported, live) in databases().into_iter().zip(databases()) {
        let a = Server::start(imported);
        let token_a = a.acme();
        // Chunks of three lines: the incident's resolve and its start, and
        // the deploy and its commits, land in different deliveries.
        let out = a
            .cli
            .json_with_stdin(&["import", "--org", "acme", "--chunk", "3", "-"], HISTORY);
        assert_eq!(
            out,
            serde_json::json!({"imported": 10, "rejected": 0, "refused": []})
        );

        let b = Server::start(live);
        let token_b = b.acme();
        let batch = format!("[{}]", HISTORY.trim().lines().collect::<Vec<_>>().join(","));
        let (status, v) = b.post("/api/v1/orgs/acme/events", &token_b, &batch).await;
        assert_eq!(status, 201, "{v}");

        for query in [
            "",
            "&service=checkout",
            "&service=cart",
            "&environment=staging",
        ] {
            let (fa, fb) = (
                figures(&a, &token_a, query).await,
                figures(&b, &token_b, query).await,
            );
            assert_eq!(fa, fb, "{query}");
        }
        let f = figures(&a, &token_a, "").await;
        assert_eq!(f["deployment_frequency"]["deployments"], 3);
        assert_eq!(f["lead_time_for_changes"]["changes"], 3);
        assert_eq!(f["lead_time_for_changes"]["median_seconds"], 7200);
        assert_eq!(f["change_failure_rate"]["failed_deployments"], 1);
        assert_eq!(f["time_to_restore_service"]["median_seconds"], 7200);
        assert_eq!(f["time_to_restore_service"]["open_incidents"], 0);

        // The import is in the delivery log, so a reindex rebuilds it.
        let out = a.cli.run(&["reindex"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(figures(&a, &token_a, "").await, f, "after reindex");
    }
}

#[tokio::test]
async fn refused_lines_are_named_with_their_reason_and_the_rest_is_stored() {
    for db in databases() {
        let s = Server::start(db);
        let token = s.acme();
        let lines = [
            r#"{"type":"deploy","service":"checkout","id":"ok-1","time":"2024-03-02T12:00:00Z"}"#,
            r#"{"type":"deploy","service":"checkout","#,
            r#"{"type":"deploy","service":"nowhere","id":"x","time":"2024-03-02T12:00:00Z"}"#,
            r#"{"type":"deploy","service":"checkout","id":"bad","time":"yesterday"}"#,
            r#"{"type":"deploy","service":"cart","id":"ok-2","time":"2024-03-03T12:00:00Z"}"#,
        ]
        .join("\n");
        let out = s
            .cli
            .json_with_stdin(&["import", "--org", "acme", "--allow-rejects", "-"], &lines);
        assert_eq!((&out["imported"], &out["rejected"]), (&json!(2), &json!(3)));
        let refused: Vec<(u64, &str)> = out["refused"]
            .as_array()
            .expect("the refused lines")
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            refused.iter().map(|r| r.0).collect::<Vec<_>>(),
            [2, 3, 4],
            "{out}"
        );
        assert!(refused[1].1.contains("nowhere"), "{out}");

        // Issue 17: without --allow-rejects a partial import fails, after
        // naming each line and the problem on standard error.
        let out = s
            .cli
            .run_with_stdin(&["import", "--org", "acme", "-"], &lines);
        assert!(!out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("imported 2 events"), "{text}");
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(errors.contains("3 lines refused"), "{errors}");
        assert!(errors.contains("--allow-rejects"), "{errors}");
        let one = r#"{"type":"deploy","service":"cart","id":"one","time":"2024-04-04T12:00:00Z"}"#;
        let single = s.cli.run_with_stdin(&["import", "--org", "acme", "-"], one);
        let single = String::from_utf8_lossy(&single.stdout);
        assert!(single.contains("imported 1 event into"), "{single}");
        for (line, word) in [(2, "line 2:"), (3, "nowhere"), (4, "/time")] {
            assert!(errors.contains(word), "line {line} in {errors}");
        }

        let (status, v) = s
            .get(
                "/api/v1/orgs/acme/deployments?from=2024-03-01&to=2024-03-08",
                &token,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let mut ids: Vec<&str> = v["items"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|d| d["external_id"].as_str())
            .collect();
        ids.sort();
        assert_eq!(ids, ["ok-1", "ok-2"], "imported twice, stored once each");
    }
}
