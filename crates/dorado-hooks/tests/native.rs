//! The native API: deployments, changes, incidents and resolves.

mod common;

use common::*;
use dorado_core::{Command, DeployResult, DeploymentKind, IncidentCause, ServiceId};
use dorado_hooks::Endpoint;
use serde_json::{Value, json};

const DEPLOY: Endpoint = Endpoint::NativeDeployment;
const CHANGES: Endpoint = Endpoint::NativeChanges;
const INCIDENT: Endpoint = Endpoint::NativeIncident;

fn deploy() -> Value {
    json!({"id": "d1", "service": "checkout", "repo": "https://github.com/acme/checkout", "commit_sha": SHA,
           "started_at": "2024-03-04T11:50:00Z", "finished_at": "2024-03-04T12:00:00Z"})
}

#[test]
fn a_deployment_with_defaults() {
    let d = deployment(&DEPLOY, &deploy().to_string());
    assert_eq!(d.service, ServiceId(2));
    assert_eq!(d.external_id.as_ref().map(|e| e.as_str()), Some("d1"));
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.result, DeployResult::Success);
    assert_eq!(d.finished_at, Some(ts("2024-03-04T12:00:00Z")));
    assert_eq!(d.commits[0].repo_key.as_str(), "github.com/acme/checkout");
    assert_eq!(d.shipped, None);
    assert_eq!((d.kind, d.rework), (DeploymentKind::Normal, false));
    assert_eq!(d.source, "native");

    let bare = deployment(&DEPLOY, r#"{"service": 3}"#);
    assert_eq!(bare.service, ServiceId(3));
    assert_eq!(bare.external_id, None);
    assert!(bare.commits.is_empty());
    assert_eq!(bare.finished_at, Some(now()));
    let running = deployment(&DEPLOY, r#"{"service": "3", "result": "running"}"#);
    assert_eq!(
        running.finished_at, None,
        "a running deployment has not finished"
    );
}

#[test]
fn several_repositories_and_an_explicit_shipped_list() {
    let body = json!({"service": "checkout", "commits": [{"repo": "acme/a", "sha": "aaa"}, {"repo": "acme/b", "sha": "bbb"}],
                      "shipped": [{"repo": "acme/a", "sha": "a0", "committed_at": "2024-03-04T08:00:00Z"}]});
    let d = deployment(&DEPLOY, &body.to_string());
    assert_eq!(d.commits.len(), 2);
    let shipped = d.shipped.unwrap();
    assert_eq!(shipped[0].sha.as_str(), "a0");
    assert_eq!(shipped[0].committed_at, Some(ts("2024-03-04T08:00:00Z")));
    let no_repo = json!({"service": "checkout", "commits": [{"repo": "acme/a", "sha": "aaa"}, {"repo": "acme/b", "sha": "bbb"}],
                         "shipped": [{"sha": "a0"}]});
    fails(
        &DEPLOY,
        &no_repo.to_string(),
        "/shipped/0/repo",
        "is required",
    );
    let one_repo = with(
        &deploy(),
        "shipped",
        Some(json!([{"sha": "a0"}, {"sha": "a1"}])),
    );
    let d = deployment(&DEPLOY, &one_repo);
    assert_eq!(
        d.shipped.unwrap()[1].repo_key.as_str(),
        "github.com/acme/checkout"
    );
    fails(
        &DEPLOY,
        &with(&deploy(), "commits", Some(json!([]))),
        "/commits",
        "not both",
    );
}

#[test]
fn rework_and_kinds() {
    for (kind, want) in [
        ("rollback", DeploymentKind::Rollback),
        ("HOTFIX", DeploymentKind::Hotfix),
    ] {
        let d = deployment(&DEPLOY, &with(&deploy(), "kind", Some(json!(kind))));
        assert_eq!((d.kind, d.rework), (want, true));
    }
    assert!(deployment(&DEPLOY, &with(&deploy(), "rework", Some(json!(true)))).rework);
    fails(
        &DEPLOY,
        &with(&deploy(), "kind", Some(json!("revert"))),
        "/kind",
        "expected normal, rollback or hotfix",
    );
    fails(
        &DEPLOY,
        &with(&deploy(), "rework", Some(json!(1))),
        "/rework",
        "true or false",
    );
}

#[test]
fn deployment_problems_are_all_named() {
    let body = json!({"service": "nope", "environment": "", "result": "maybe", "started_at": "2024-03-04T12:00:00Z",
                      "finished_at": "2024-03-04T11:00:00Z", "commits": [{"repo": "r"}, 5], "name": "n".repeat(1001)});
    let errs = errors(&DEPLOY, &body.to_string());
    for (pointer, detail) in [
        ("/service", "no service 'nope' in this organization"),
        ("/result", "'maybe' is not a result"),
        ("/finished_at", "is before started_at"),
        ("/commits/0/sha", "is required"),
        ("/commits/1", "must be an object"),
        ("/name", "at most 1000 characters"),
    ] {
        assert!(
            errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
            "{pointer} {detail}: {errs:?}"
        );
    }
    fails(
        &DEPLOY,
        r#"{"repo": "r", "commit_sha": "c"}"#,
        "/service",
        "is required",
    );
    fails(
        &DEPLOY,
        r#"{"service": 2, "commit_sha": "c"}"#,
        "/repo",
        "is required",
    );
    fails(
        &DEPLOY,
        r#"{"service": 2, "finished_at": "03/04/2024"}"#,
        "/finished_at",
        "'03/04/2024' is not a time; expected",
    );
    fails(
        &DEPLOY,
        r#"{"service": 2, "finished_at": 1709553600}"#,
        "/finished_at",
        "must be a time string",
    );
    // A blank optional field is an absent one, as DevLake's samples use it.
    assert_eq!(
        deployment(&DEPLOY, r#"{"service": 2, "id": "   "}"#).external_id,
        None
    );
    fails(
        &DEPLOY,
        r#"{"service": 99999999999999999999}"#,
        "/service",
        "is not a service id",
    );
    fails(
        &DEPLOY,
        r#"{"service": true}"#,
        "/service",
        "must be a service id or name",
    );
}

#[test]
fn changes_of_one_repository() {
    let body = json!({"repo": "https://github.com/acme/shop", "commits": [
        {"sha": "B2", "parents": ["a1"], "committed_at": "2024-05-01T09:00:00Z", "authored_at": "2024-05-01T08:00:00Z",
         "author": "dev@acme.io", "message": "fix"},
        {"sha": "a1"}]});
    let Command::Changes(batch) = one(&CHANGES, &body.to_string()) else {
        panic!()
    };
    assert_eq!(batch.repo_key.as_str(), "github.com/acme/shop");
    assert_eq!(batch.commits.len(), 2);
    assert_eq!(batch.commits[0].sha.as_str(), "b2");
    assert_eq!(batch.commits[0].parents[0].as_str(), "a1");
    assert_eq!(batch.commits[0].message.as_deref(), Some("fix"));
    assert!(batch.commits[1].parents.is_empty());

    fails(&CHANGES, r#"{"commits": []}"#, "/repo", "is required");
    fails(&CHANGES, r#"{"repo": "r"}"#, "/commits", "is required");
    fails(
        &CHANGES,
        r#"{"repo": "r", "commits": [{"sha": "a"}, {"parents": "b"}]}"#,
        "/commits/1/sha",
        "is required",
    );
    fails(
        &CHANGES,
        r#"{"repo": "r", "commits": [{"sha": "a", "parents": "b"}]}"#,
        "/commits/0/parents",
        "must be an array",
    );
    fails(
        &CHANGES,
        r#"{"repo": "r", "commits": [{"sha": "a", "parents": ["b\tc"]}]}"#,
        "/commits/0/parents/0",
        "printable characters",
    );
    let long = json!({"repo": "r", "commits": [{"sha": "a", "message": "m".repeat(10_001)}]});
    fails(
        &CHANGES,
        &long.to_string(),
        "/commits/0/message",
        "at most 10000 characters",
    );
}

#[test]
fn incidents_with_causes_and_fixes() {
    let i = incident(
        &INCIDENT,
        r#"{"id": "INC-3", "service": "checkout", "title": " down ", "deployment_id": "d1"}"#,
    );
    assert_eq!(i.key.as_str(), "INC-3");
    assert_eq!(i.service, Some(ServiceId(2)));
    assert_eq!(i.title.as_deref(), Some("down"));
    assert_eq!(i.started_at, Some(now()));
    assert_eq!(
        i.cause,
        Some(IncidentCause::Deployment(
            dorado_core::ExternalId::parse("d1").unwrap()
        ))
    );
    assert!(i.is_incident);
    let i = incident(
        &INCIDENT,
        &format!(r#"{{"key": "INC-4", "commit_sha": "{SHA}", "fixed_by": "d2"}}"#),
    );
    assert_eq!(i.service, None);
    assert!(matches!(i.cause, Some(IncidentCause::Commit(_))));
    assert_eq!(i.fixed_by.unwrap().as_str(), "d2");

    fails(&INCIDENT, r#"{"title": "t"}"#, "/id", "is required");
    fails(
        &INCIDENT,
        r#"{"id": "a", "key": "b"}"#,
        "/key",
        "give only one of id and key",
    );
    fails(
        &INCIDENT,
        r#"{"id": "a", "deployment_id": "d", "commit_sha": "c"}"#,
        "/commit_sha",
        "not both",
    );
    let backwards = r#"{"id": "a", "started_at": "2024-05-02", "resolved_at": "2024-05-01"}"#;
    fails(&INCIDENT, backwards, "/resolved_at", "is before started_at");
    fails(
        &INCIDENT,
        r#"{"id": "a", "service": "ghost"}"#,
        "/service",
        "no service 'ghost'",
    );
}

#[test]
fn resolve_takes_an_empty_body() {
    let ep = Endpoint::NativeResolve {
        key: "INC-3".into(),
    };
    for body in ["", "  \n", "{}", "null"] {
        let r = resolve(&ep, body);
        assert_eq!(r.key.as_str(), "INC-3");
        assert_eq!((r.service, r.resolved_at), (None, now()));
        assert!(!r.keep_existing && !r.create_missing);
    }
    let r = resolve(
        &ep,
        r#"{"resolved_at": "2024-05-01T10:00:00Z", "service": "cart"}"#,
    );
    assert_eq!(
        (r.service, r.resolved_at),
        (Some(ServiceId(3)), ts("2024-05-01T10:00:00Z"))
    );
    fails(&ep, "[]", "", "must be a JSON object");
    fails(
        &ep,
        r#"{"resolved_at": "soon"}"#,
        "/resolved_at",
        "'soon' is not a time",
    );
    let (line, col, _) = syntax(&ep, b"{");
    assert_eq!((line, col), (1, 1));
}

#[test]
fn bodies_that_are_not_json() {
    let (line, column, message) = syntax(&DEPLOY, b"");
    assert_eq!((line, column), (1, 0));
    assert!(message.contains("the body is empty"), "{message}");
    let (line, column, message) = syntax(&DEPLOY, b"{\n  \"service\": 2,\n  \"id\": 'x'\n}");
    assert_eq!((line, column, message.as_str()), (3, 9, "expected value"));
    let (line, _, message) = syntax(&DEPLOY, b"{\"service\": \"\xff\xfe\"}");
    assert_eq!(line, 1);
    assert!(
        message.contains("unicode") || message.contains("UTF-8"),
        "{message}"
    );
    let (_, _, message) = syntax(&DEPLOY, b"{} {}");
    assert_eq!(message, "trailing characters");
    // A byte order mark, as Windows editors write, is not an error.
    assert!(run(&DEPLOY, "\u{feff}{\"service\": 2}").is_ok());
    fails(&DEPLOY, "null", "", "must be a JSON object");
}
