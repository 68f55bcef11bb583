//! The event API: one event or an array, with index pointers.

mod common;

use common::*;
use dorado_core::{Command, DeployResult, ServiceId};
use dorado_hooks::Endpoint;

const EVENTS: Endpoint = Endpoint::Events;

#[test]
fn the_four_events_of_api_md() {
    let body = format!(
        r#"[
        {{"type": "deploy", "service": "checkout", "time": "2024-05-01T10:00:00Z", "id": "d-17",
          "environment": "production", "result": "success", "repo": "github.com/acme/shop", "commit_sha": "{SHA}",
          "commits": [{{"sha": "c1", "committed_at": "2024-05-01T08:00:00Z"}}]}},
        {{"type": "incident_started", "service": "checkout", "id": "INC-9", "time": "2024-05-01T11:00:00Z", "title": "down"}},
        {{"type": "incident_resolved", "service": "checkout", "id": "INC-9", "time": "2024-05-01T12:00:00Z"}},
        {{"type": "change", "repo": "github.com/acme/shop", "sha": "c1", "parents": ["c0"], "committed_at": "2024-05-01T08:00:00Z"}}
    ]"#
    );
    let commands = ok(&EVENTS, &body);
    assert_eq!(commands.len(), 4);
    let Command::Deployment(d) = &commands[0] else {
        panic!()
    };
    assert_eq!(
        d.finished_at,
        Some(ts("2024-05-01T10:00:00Z")),
        "a deploy's time is its finish"
    );
    assert_eq!(d.external_id.as_ref().unwrap().as_str(), "d-17");
    assert_eq!(d.commits[0].sha.as_str(), SHA);
    let shipped = d.shipped.as_ref().unwrap();
    assert_eq!(shipped[0].repo_key.as_str(), "github.com/acme/shop");
    assert_eq!(shipped[0].committed_at, Some(ts("2024-05-01T08:00:00Z")));
    assert_eq!(d.source, "events");
    let Command::Incident(i) = &commands[1] else {
        panic!()
    };
    assert_eq!(
        (i.started_at, i.title.as_deref()),
        (Some(ts("2024-05-01T11:00:00Z")), Some("down"))
    );
    let Command::ResolveIncident(r) = &commands[2] else {
        panic!()
    };
    assert_eq!(r.resolved_at, ts("2024-05-01T12:00:00Z"));
    assert!(r.create_missing, "a resolve may come before its start");
    assert!(!r.keep_existing);
    let Command::Changes(c) = &commands[3] else {
        panic!()
    };
    assert_eq!(c.commits[0].parents[0].as_str(), "c0");
}

#[test]
fn one_object_and_defaults() {
    let d = deployment(&EVENTS, r#"{"type": "deploy", "service": 2}"#);
    assert_eq!(d.finished_at, Some(now()));
    assert_eq!(d.result, DeployResult::Success);
    assert!(d.commits.is_empty() && d.shipped.is_none());
    let i = incident(&EVENTS, r#"{"type": "incident_started", "id": "INC-1"}"#);
    assert_eq!((i.service, i.started_at), (None, Some(now())));
    let r = resolve(
        &EVENTS,
        r#"{"type": "incident_resolved", "id": "INC-1", "service": "cart"}"#,
    );
    assert_eq!((r.service, r.resolved_at), (Some(ServiceId(3)), now()));
    let Command::Changes(c) = one(
        &EVENTS,
        r#"{"type": "change", "repo": "r", "sha": "a", "time": "2024-05-01"}"#,
    ) else {
        panic!()
    };
    assert_eq!(
        c.commits[0].committed_at,
        Some(ts("2024-05-01T00:00:00Z")),
        "a change's time is its commit time"
    );
}

#[test]
fn gitdailies_names_for_the_types() {
    let d = deployment(&EVENTS, r#"{"type": "Deploy occurred", "service": 2}"#);
    assert_eq!(d.service, ServiceId(2));
    resolve(&EVENTS, r#"{"type": "Incident Ended", "id": "INC-1"}"#);
    incident(&EVENTS, r#"{"type": "incident-started", "id": "INC-1"}"#);
    fails(
        &EVENTS,
        r#"{"type": "incident"}"#,
        "/type",
        "expected deploy, incident_started, incident_resolved or change",
    );
    fails(&EVENTS, r#"{"service": 2}"#, "/type", "is required");
}

#[test]
fn problems_carry_the_index_of_their_event() {
    let body = r#"[
        {"type": "deploy", "service": "checkout"},
        {"type": "deploy", "service": "ghost", "time": "later"},
        "deploy",
        {"type": "incident_started"},
        {"type": "change", "repo": "r", "sha": "a", "commits": 1},
        {"type": "deploy", "service": 2, "commit_sha": "abc"}
    ]"#;
    let errs = errors(&EVENTS, body);
    for (pointer, detail) in [
        ("/1/service", "no service 'ghost'"),
        ("/1/time", "'later' is not a time"),
        ("/2", "must be an event object"),
        ("/3/id", "is required"),
        ("/5/repo", "is required"),
    ] {
        assert!(
            errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
            "{pointer}: {errs:?}"
        );
    }
    assert_eq!(errs.len(), 5, "{errs:?}");
}

#[test]
fn empty_and_wrong_shapes() {
    fails(&EVENTS, "[]", "", "must hold at least one event");
    fails(&EVENTS, "42", "", "must be an event object");
    let (line, column, message) = syntax(&EVENTS, b" \n ");
    assert_eq!((line, column), (1, 0));
    assert!(message.contains("an event object or an array"), "{message}");
    let both = r#"{"type": "deploy", "service": 2, "repo": "r", "commit_sha": "a", "commits": [], "shipped": []}"#;
    fails(
        &EVENTS,
        both,
        "/shipped",
        "give only one of commits and shipped",
    );
}

#[test]
fn a_big_bad_batch_reports_a_bounded_list() {
    let body = format!("[{}]", vec![r#"{"type": "deploy"}"#; 500].join(","));
    let errs = errors(&EVENTS, &body);
    assert_eq!(errs.len(), 101);
    assert_eq!(errs[0].0, "/0/service");
    assert_eq!(errs[100], (String::new(), "and 400 more problems".into()));
}
