//! DevLake's incoming webhook, checked against seeds 002 and 003 and
//! DevLake 1.0's camelCase payload.

mod common;

use common::*;
use dorado_core::{DeployResult, ServiceDirectory, ServiceId};
use dorado_hooks::{Context, Endpoint, HookError, parse};
use serde_json::{Value, json};

const DEPLOY: Endpoint = Endpoint::DevlakeDeployment;
const ISSUE: Endpoint = Endpoint::DevlakeIssue;

#[test]
fn seed_002_single_repo_sample() {
    let d = deployment(&DEPLOY, include_str!("samples/devlake_002_single.json"));
    assert_eq!(d.service, ServiceId(2));
    assert_eq!(d.external_id, None);
    assert_eq!(
        d.result,
        DeployResult::Failure,
        "the top-level result is the result"
    );
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.started_at, Some(ts("2020-01-01T12:00:00Z")));
    assert_eq!(d.finished_at, Some(ts("2020-01-02T13:00:00Z")));
    assert_eq!(d.commits.len(), 1);
    assert_eq!(
        d.commits[0].repo,
        "https://github.com/apache/incubator-devlake/"
    );
    assert_eq!(
        d.commits[0].repo_key.as_str(),
        "github.com/apache/incubator-devlake"
    );
    assert_eq!(
        d.commits[0].sha.as_str(),
        "015e3d3b480e417aede5a1293bd61de9b0fd051d"
    );
    assert!(
        d.name
            .as_deref()
            .unwrap()
            .starts_with("optional-deployment-name.")
    );
    let a = &d.attributes;
    assert_eq!(a["pipeline_id"], "optional-pipeline-id");
    assert_eq!(a["repo_id"], "optional-repo-id");
    assert_eq!(a["ref_name"], "optional-release-v0.17");
    assert_eq!(a["commit_msg"], "optional-commit-message");
    assert_eq!(a["create_time"], "2020-01-01T11:00:00Z");
    assert_eq!(d.source, "devlake");
}

#[test]
fn seed_002_multi_repo_sample() {
    let d = deployment(&DEPLOY, include_str!("samples/devlake_002_multi.json"));
    let shas: Vec<&str> = d.commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, ["c1", "c2"]);
    assert_eq!(d.commits[1].repo_key.as_str(), "repo-2");
    assert_eq!(d.result, DeployResult::Failure);
    assert_eq!(
        d.attributes["deployment_commits"][0]["commit_msg"],
        "optional-msg-1"
    );
    assert_eq!(
        d.attributes["deployment_commits"][1]["ref_name"],
        "optional-release-v0.17"
    );
}

#[test]
fn seed_002_authenticated_sample() {
    // Its commit_sha is a placeholder with spaces; users paste it as is to
    // try the webhook, so it is read as a revision name.
    let text = include_str!("samples/devlake_002_auth.json");
    let d = deployment(&DEPLOY, text);
    assert_eq!(d.commits[0].sha.as_str(), "the sha of deployment commit1");
    assert_eq!(d.commits[0].repo, "the repo URL of the deployment commit");
    assert_eq!(
        d.name.as_deref(),
        Some("deployment for the sha of deployment commit1")
    );
    let d = deployment(&DEPLOY, &text.replace("the sha of deployment commit1", SHA));
    assert_eq!(
        d.name.as_deref(),
        Some(format!("deployment for {SHA}").as_str())
    );
    assert_eq!(d.result, DeployResult::Success);
    assert_eq!(d.environment.as_str(), "production");
}

#[test]
fn seed_002_circleci_sample_with_date_z_offset() {
    let d = deployment(&DEPLOY, include_str!("samples/devlake_002_circleci.json"));
    assert_eq!(d.started_at, Some(ts("2024-05-01T10:00:00Z")));
    assert_eq!(d.finished_at, Some(now()), "no end_time: the time received");
    assert_eq!(
        d.name.as_deref(),
        Some("deployment for 8f3c2a1e9b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39")
    );
}

#[test]
fn devlake_1_0_camel_case_payload() {
    let d = deployment(&DEPLOY, include_str!("samples/devlake_10_deployment.json"));
    assert_eq!(
        d.external_id.as_ref().map(|e| e.as_str()),
        Some("deploy-42")
    );
    assert_eq!(d.result, DeployResult::Failure);
    assert_eq!(d.environment.as_str(), "staging");
    assert_eq!(d.started_at, Some(ts("2024-05-01T08:00:00.500Z")));
    assert_eq!(d.finished_at, Some(ts("2024-05-01T10:10:00Z")));
    assert_eq!(d.name.as_deref(), Some("release-1.2"));
    assert_eq!(d.commits.len(), 2);
    assert_eq!(
        d.commits[0].sha.as_str(),
        "015e3d3b480e417aede5a1293bd61de9b0fd051d"
    );
    assert_eq!(d.commits[1].repo_key.as_str(), "github.com/acme/api");
    let a = &d.attributes;
    assert_eq!(a["display_title"], "Release 1.2");
    assert_eq!(a["original_environment"], "stage-eu");
    assert_eq!(a["create_time"], "2024-05-01T09:55:00Z");
    let c0 = &a["deployment_commits"][0];
    assert_eq!(c0["repo_id"], "github:GithubRepo:1:42");
    assert_eq!(c0["commit_msg"], "fix checkout");
    assert_eq!(c0["started_date"], "2024-05-01T08:00:00Z");
    assert_eq!(c0["result"], "SUCCESS");
    assert_eq!(a["deployment_commits"][1], json!({}));
}

#[test]
fn deployment_problems_are_named() {
    let errs = errors(&DEPLOY, r#"{"start_time": "yesterday"}"#);
    assert!(
        errs.contains(&("/repo_url".into(), "is required".into())),
        "{errs:?}"
    );
    assert!(
        errs.contains(&("/commit_sha".into(), "is required".into())),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|(p, d)| p == "/start_time" && d.contains("'yesterday' is not a time"))
    );
    fails(
        &DEPLOY,
        r#"{"deploymentCommits": []}"#,
        "/deploymentCommits",
        "at least one commit",
    );
    fails(
        &DEPLOY,
        r#"{"deploymentCommits": [{"repoUrl": "r"}]}"#,
        "/deploymentCommits/0/commitSha",
        "is required",
    );
    let both = r#"{"repo_url": "r", "commit_sha": "c", "start_time": "2020-01-01", "startedDate": "2020-01-01"}"#;
    fails(
        &DEPLOY,
        both,
        "/startedDate",
        "give only one of start_time and startedDate",
    );
    let backwards = r#"{"repo_url": "r", "commit_sha": "c", "start_time": "2020-01-02", "end_time": "2020-01-01"}"#;
    fails(&DEPLOY, backwards, "/end_time", "is before the start time");
    fails(
        &DEPLOY,
        r#"{"repo_url": "r", "commit_sha": "c", "result": "MAYBE"}"#,
        "/result",
        "not a result",
    );
    fails(&DEPLOY, "[1]", "", "must be a JSON object");
}

#[test]
fn deployment_results_and_environments_read_in_any_case() {
    let body = |result: &str, env: &str| {
        json!({"repo_url": "r", "commit_sha": "c", "start_time": "2020-01-01T00:00:00Z",
               "result": result, "environment": env})
        .to_string()
    };
    for (r, want) in [
        ("ABORT", DeployResult::Aborted),
        ("MANUAL", DeployResult::Pending),
        ("success", DeployResult::Success),
    ] {
        assert_eq!(deployment(&DEPLOY, &body(r, "TESTING")).result, want);
    }
    assert_eq!(
        deployment(&DEPLOY, &body("SUCCESS", "Development"))
            .environment
            .as_str(),
        "development"
    );
}

#[test]
fn seed_002_issue_sample_omits_original_status() {
    let i = incident(&ISSUE, include_str!("samples/devlake_002_issue.json"));
    assert_eq!(i.service, Some(ServiceId(2)));
    assert_eq!(i.key.as_str(), "DLK-1234");
    assert_eq!(i.title.as_deref(), Some("a feature from DLK"));
    assert!(i.is_incident);
    assert_eq!(i.started_at, Some(ts("2020-01-01T12:00:00Z")));
    assert_eq!(i.resolved_at, None);
    assert_eq!(i.attributes["status"], "TODO");
    assert_eq!(i.attributes["creator_name"], "Nick name 1");
    assert!(
        i.attributes.get("description").is_none(),
        "blank strings are left out"
    );
    assert_eq!(i.source, "devlake");
}

#[test]
fn seed_003_issue_sample_is_stored_but_not_an_incident() {
    let i = incident(&ISSUE, include_str!("samples/devlake_003_issue.json"));
    assert!(!i.is_incident, "type BUG");
    assert_eq!(i.attributes["type"], "BUG");
    assert_eq!(i.attributes["board_key"], "DLK");
    assert_eq!(i.attributes["original_status"], "created");
    assert_eq!(i.attributes["parent_issue_key"], "DLK-1200");
    assert_eq!(i.attributes["story_point"], 0);
    assert_eq!(i.resolved_at, None);
}

fn issue() -> Value {
    json!({"issue_key": "INC-7", "title": "checkout down", "type": "incident", "status": "DONE",
           "created_date": "2024-05-01T10:00:00+0000", "resolution_date": "2024-05-01T11:30:00+0000"})
}

#[test]
fn issues_resolve_by_resolution_date_and_read_camel_case() {
    let i = incident(&ISSUE, &issue().to_string());
    assert!(i.is_incident, "INCIDENT in any case");
    assert_eq!(i.resolved_at, Some(ts("2024-05-01T11:30:00Z")));
    let camel = json!({"issueKey": "INC-8", "title": "t", "type": "INCIDENT", "status": "TODO",
                       "originalStatus": "open", "createdDate": "2024-05-01T10:00:00Z", "storyPoint": 2.5});
    let i = incident(&ISSUE, &camel.to_string());
    assert_eq!(i.key.as_str(), "INC-8");
    assert_eq!(i.attributes["original_status"], "open");
    assert_eq!(i.attributes["story_point"], 2.5);
}

#[test]
fn issue_problems_are_named() {
    for key in ["issue_key", "title", "created_date"] {
        fails(
            &ISSUE,
            &with(&issue(), key, None),
            &format!("/{key}"),
            "is required",
        );
    }
    fails(
        &ISSUE,
        &with(&issue(), "status", Some(json!("CLOSED"))),
        "/status",
        "expected TODO, DONE or IN_PROGRESS",
    );
    fails(
        &ISSUE,
        &with(
            &issue(),
            "resolution_date",
            Some(json!("2024-04-01T00:00:00Z")),
        ),
        "/resolution_date",
        "is before created_date",
    );
    fails(
        &ISSUE,
        &with(&issue(), "story_point", Some(json!("3"))),
        "/story_point",
        "must be a number",
    );
    fails(
        &ISSUE,
        &with(&issue(), "title", Some(json!("t".repeat(1001)))),
        "/title",
        "at most 1000 characters",
    );
    fails(
        &ISSUE,
        &with(&issue(), "description", Some(json!("d".repeat(10_001)))),
        "/description",
        "at most 10000",
    );
    fails(
        &ISSUE,
        &with(&issue(), "issue_key", Some(json!(""))),
        "/issue_key",
        "must not be empty",
    );
    let both = with(&issue(), "issueKey", Some(json!("INC-9")));
    fails(
        &ISSUE,
        &both,
        "/issue_key",
        "give only one of issueKey and issue_key",
    );
}

#[test]
fn close_ignores_any_body_and_keeps_an_earlier_resolution() {
    let close = Endpoint::DevlakeClose {
        key: "DLK-1234".into(),
    };
    for body in ["", "{}", "not json at all", "null"] {
        let r = resolve(&close, body);
        assert_eq!(r.key.as_str(), "DLK-1234");
        assert_eq!(r.service, Some(ServiceId(2)));
        assert_eq!(r.resolved_at, now());
        assert!(r.keep_existing);
        assert!(!r.create_missing);
        assert_eq!(r.source, "devlake");
    }
    fails(
        &Endpoint::DevlakeClose { key: " ".into() },
        "",
        "",
        "the incident key in the path must not be empty",
    );
}

#[test]
fn a_devlake_body_needs_the_path_service() {
    let dir = ServiceDirectory::default();
    let ctx = Context {
        services: &dir,
        path_service: None,
        received_at: now(),
        source: None,
    };
    let body = include_str!("samples/devlake_002_single.json");
    match parse(&DEPLOY, &ctx, body.as_bytes()) {
        Err(HookError::Invalid(v)) => assert_eq!(v.errors[0].pointer, ""),
        other => panic!("{other:?}"),
    }
}
