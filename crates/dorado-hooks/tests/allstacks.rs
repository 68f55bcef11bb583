//! Allstacks' cicd_job, checked against seeds 000 and 001.

mod common;

use common::*;
use dorado_core::{DeployResult, DeploymentKind, ServiceId};
use dorado_hooks::Endpoint;
use serde_json::{Value, json};

const JOB: Endpoint = Endpoint::AllstacksJob;
const SAMPLE_001: &str = include_str!("samples/allstacks_001_sample.txt");
const CORRECTED_001: &str = include_str!("samples/allstacks_001_corrected.json");
const EXAMPLE_000: &str = include_str!("samples/allstacks_000_example.txt");

fn base() -> Value {
    json!({"job_id": "deploy-123", "commit_sha": SHA, "service_id": 2, "job_start_time": 1704018030,
           "job_duration": 300, "status": "Succeeded", "repo_id": "12345"})
}

fn optional(entries: Value) -> String {
    with(&base(), "optional", Some(entries))
}

#[test]
fn seed_001_sample_as_written_is_a_syntax_error_at_its_first_fault() {
    // The missing comma after "testuser@org.com" comes before the curly and
    // single quotes and the trailing comma.
    let (line, column, message) = syntax(&JOB, SAMPLE_001.as_bytes());
    assert_eq!((line, column), (6, 1), "{message}");
    assert_eq!(message, "expected `,` or `}`");
}

#[test]
fn seed_000_example_is_a_syntax_error_too() {
    // Its first fault is the no-break space the web page indents with.
    let (line, column, message) = syntax(&JOB, EXAMPLE_000.as_bytes());
    assert_eq!(
        (line, column, message.as_str()),
        (1, 3, "key must be a string")
    );
}

#[test]
fn seed_001_corrected_sample_parses() {
    let d = deployment(&JOB, CORRECTED_001);
    assert_eq!(d.service, ServiceId(2));
    assert_eq!(d.external_id, None);
    assert_eq!(d.result, DeployResult::Success);
    assert_eq!(d.started_at, Some(ts("2023-12-31T10:20:30Z")));
    assert_eq!(d.finished_at, Some(ts("2023-12-31T10:25:30Z")));
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.commits.len(), 1);
    assert_eq!(d.commits[0].sha.as_str(), SHA);
    assert_eq!(d.commits[0].repo, "12345");
    assert_eq!(d.lead_time_seconds, Some(20));
    assert!(!d.rework);
    assert_eq!(d.source, "allstacks");
    let a = &d.attributes;
    assert_eq!(a["job_id"], "1");
    assert_eq!(a["triggered_by"], "testuser@org.com");
    assert_eq!(a["job_type"], "Production Deploy");
    assert_eq!(a["status"], "Succeeded");
    assert_eq!(a["job_duration"], 300);
    assert_eq!(a["repo_id"], "12345");
    assert_eq!(a["optional"].as_array().unwrap().len(), 4);
    assert_eq!(
        a["optional"][0],
        json!({"key": "microservice", "value": ["frontend", "backend"], "type": "string"})
    );
    assert_eq!(a["optional"][2]["value"], 20.5);
}

#[test]
fn defaults_and_statuses() {
    let d = deployment(&JOB, &base().to_string());
    assert_eq!(d.attributes["triggered_by"], "Custom CD Agent");
    assert_eq!(d.attributes["job_type"], "CUSTOM_CD_JOB");
    assert_eq!(d.attributes["optional"], json!([]));
    let blank = with(&base(), "triggered_by", Some(json!("  ")));
    assert_eq!(
        deployment(&JOB, &blank).attributes["triggered_by"],
        "Custom CD Agent"
    );
    for (status, result) in [
        ("Succeeded", DeployResult::Success),
        ("Failed", DeployResult::Failure),
        ("On Hold", DeployResult::Pending),
        ("on hold", DeployResult::Pending),
        ("FAILED", DeployResult::Failure),
    ] {
        let d = deployment(&JOB, &with(&base(), "status", Some(json!(status))));
        assert_eq!(d.result, result, "{status}");
        assert_eq!(d.attributes["status"], status);
    }
    fails(
        &JOB,
        &with(&base(), "status", Some(json!("success"))),
        "/status",
        "expected Succeeded, Failed or On Hold",
    );
}

#[test]
fn every_required_field_is_named_when_missing() {
    for key in [
        "job_id",
        "commit_sha",
        "service_id",
        "job_start_time",
        "job_duration",
        "status",
    ] {
        fails(
            &JOB,
            &with(&base(), key, None),
            &format!("/{key}"),
            "is required",
        );
    }
    fails(
        &JOB,
        &with(&base(), "repo_id", None),
        "/repo_id",
        "is required (or give repo_name)",
    );
    let all = errors(&JOB, "{}");
    assert_eq!(all.len(), 7, "{all:?}");
}

#[test]
fn repo_name_or_repo_id() {
    let named = with(
        &with_value("repo_id", None),
        "repo_name",
        Some(json!("acme/shop")),
    );
    let d = deployment(&JOB, &named);
    assert_eq!(d.commits[0].repo_key.as_str(), "acme/shop");
    assert_eq!(d.attributes["repo_name"], "acme/shop");
    assert!(d.attributes.get("repo_id").is_none());
    let numeric = with(&base(), "repo_id", Some(json!(12345)));
    assert_eq!(deployment(&JOB, &numeric).attributes["repo_id"], "12345");
}

fn with_value(key: &str, v: Option<Value>) -> Value {
    serde_json::from_str(&with(&base(), key, v)).unwrap()
}

#[test]
fn field_types_and_limits() {
    fails(
        &JOB,
        &with(&base(), "commit_sha", Some(json!(&SHA[..39]))),
        "/commit_sha",
        "expected 40 or 64 hex characters",
    );
    fails(
        &JOB,
        &with(&base(), "commit_sha", Some(json!("g".repeat(40)))),
        "/commit_sha",
        "not a full commit sha",
    );
    assert!(
        run(
            &JOB,
            &with(&base(), "commit_sha", Some(json!("A".repeat(64))))
        )
        .is_ok()
    );
    fails(
        &JOB,
        &with(&base(), "service_id", Some(json!(9))),
        "/service_id",
        "no service '9' in this organization",
    );
    assert_eq!(
        deployment(&JOB, &with(&base(), "service_id", Some(json!("3")))).service,
        ServiceId(3)
    );
    fails(
        &JOB,
        &with(&base(), "job_start_time", Some(json!("1704018030"))),
        "/job_start_time",
        "whole number",
    );
    fails(
        &JOB,
        &with(&base(), "job_start_time", Some(json!(1704018030000_i64))),
        "/job_start_time",
        "looks like milliseconds",
    );
    fails(
        &JOB,
        &with(&base(), "job_duration", Some(json!(-1))),
        "/job_duration",
        "must not be negative",
    );
    fails(
        &JOB,
        &with(&base(), "job_duration", Some(json!(1.5))),
        "/job_duration",
        "whole number",
    );
    fails(
        &JOB,
        &with(&base(), "job_id", Some(json!({"a": 1}))),
        "/job_id",
        "must be a string",
    );
    fails(
        &JOB,
        &with(&base(), "job_type", Some(json!("x".repeat(1001)))),
        "/job_type",
        "at most 1000 characters",
    );
}

#[test]
fn optional_fields_are_checked_against_their_type() {
    let entry = |i: usize| json!({"key": format!("k{i}"), "value": i, "type": "integer"});
    let twenty: Vec<Value> = (0..20).map(entry).collect();
    assert!(run(&JOB, &optional(json!(twenty))).is_ok());
    let twenty_one: Vec<Value> = (0..21).map(entry).collect();
    fails(
        &JOB,
        &optional(json!(twenty_one)),
        "/optional",
        "at most 20 fields; it has 21",
    );

    let values = |n: usize| json!([{"key": "k", "type": "string", "value": vec!["v"; n]}]);
    assert!(run(&JOB, &optional(values(20))).is_ok());
    fails(
        &JOB,
        &optional(values(21)),
        "/optional/0/value",
        "at most 20 values; it has 21",
    );

    for (ty, bad) in [
        ("string", json!(5)),
        ("integer", json!("5")),
        ("integer", json!(5.5)),
        ("float", json!("5.5")),
        ("duration", json!(-3)),
        ("duration", json!(2.5)),
        ("timestamp", json!("2024-01-01")),
        ("timestamp", json!(99_999_999_999_999_i64)),
    ] {
        let body = optional(json!([{"key": "k", "type": ty, "value": bad}]));
        fails(
            &JOB,
            &body,
            "/optional/0/value",
            &format!("as the field's type is {ty}"),
        );
    }
    let body = optional(json!([{"key": "k", "type": "integer", "value": [1, "two", 3]}]));
    fails(&JOB, &body, "/optional/0/value/1", "must be an integer");
    fails(
        &JOB,
        &optional(json!([{"key": "k", "type": "bool", "value": true}])),
        "/optional/0/type",
        "not a type",
    );
    fails(
        &JOB,
        &optional(json!([{"type": "string", "value": "v"}])),
        "/optional/0/key",
        "is required",
    );
    fails(
        &JOB,
        &optional(json!([{"key": "k", "type": "string"}])),
        "/optional/0/value",
        "is required",
    );
    fails(
        &JOB,
        &optional(json!([{"key": "k", "value": "v"}])),
        "/optional/0/type",
        "is required",
    );
    fails(
        &JOB,
        &optional(json!(["k"])),
        "/optional/0",
        "must be an object",
    );
    fails(
        &JOB,
        &optional(json!({"key": "k"})),
        "/optional",
        "must be an array",
    );
    let dup = json!([{"key": "k", "type": "string", "value": "a"}, {"key": "k", "type": "string", "value": "b"}]);
    fails(
        &JOB,
        &optional(dup),
        "/optional/1/key",
        "repeats the key 'k' of /optional/0",
    );
    assert!(
        run(
            &JOB,
            &optional(json!([{"key": "k", "type": "Float", "value": 3}]))
        )
        .is_ok()
    );
}

#[test]
fn optional_fields_that_dorado_reads() {
    let d = deployment(
        &JOB,
        &optional(json!([{"key": "environment", "type": "string", "value": "Staging"}])),
    );
    assert_eq!(d.environment.as_str(), "staging");
    let d = deployment(
        &JOB,
        &optional(json!([{"key": "rework", "type": "string", "value": "yes"}])),
    );
    assert!(d.rework);
    assert_eq!(d.kind, DeploymentKind::Normal);
    let d = deployment(
        &JOB,
        &optional(json!([{"key": "rework", "type": "integer", "value": 0}])),
    );
    assert!(!d.rework);
    fails(
        &JOB,
        &optional(json!([{"key": "rework", "type": "string", "value": "maybe"}])),
        "/optional/0/value",
        "true or false",
    );
    fails(
        &JOB,
        &optional(json!([{"key": "lead_time", "type": "integer", "value": 5}])),
        "/optional/0/type",
        "must be duration",
    );
    fails(
        &JOB,
        &optional(json!([{"key": "environment", "type": "string", "value": ["a", "b"]}])),
        "/optional/0/value",
        "single value",
    );
    let d = deployment(
        &JOB,
        &optional(json!([{"key": "lead_time", "type": "duration", "value": 3600}])),
    );
    assert_eq!(d.lead_time_seconds, Some(3600));
}

#[test]
fn hotfix_and_rollback_job_types_are_rework() {
    for (job_type, kind) in [
        ("Production Hotfix", DeploymentKind::Hotfix),
        ("ROLLBACK", DeploymentKind::Rollback),
        ("Production Deploy", DeploymentKind::Normal),
    ] {
        let d = deployment(&JOB, &with(&base(), "job_type", Some(json!(job_type))));
        assert_eq!(d.kind, kind);
        assert_eq!(d.rework, kind != DeploymentKind::Normal);
    }
}
