//! GitHub as a native source: octokit's payload examples read into the
//! commands semantics.md asks for, the variants GitHub's documentation
//! describes, the deliveries that are ignored and why, and bodies that
//! must be refused field by field (or at least never panic).

mod common;

use common::pointers;

use dorado_core::source::alias_key;
use dorado_core::{
    ChangeBatch, Command, DeployResult, DeploymentWrite, IncidentTimes, IncidentWrite,
    MergedRequest, ServiceDirectory, ServiceId, ServiceName, Sha, SourceKind, Timestamp,
};
use dorado_hooks::sources::{Ignored, SourceConfig, SourceDelivery, SourceOutcome, Unmapped};
use dorado_hooks::{Context, HookError};
use serde_json::{Value, json};

const HELLO: ServiceId = ServiceId(2);
const OCTO: ServiceId = ServiceId(3);
const DEPLOY_SHA: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
const RUN_SHA: &str = "3484a3fb816e0859fd6e1cea078d76385ff50625";
const ZEROS: &str = "0000000000000000000000000000000000000000";

/// Services named after the fixtures' repositories (`Codertocat/Hello-World`
/// and `octo-org/octo-repo`), matched by the repository's last segment.
fn services() -> ServiceDirectory {
    ServiceDirectory::new([
        (HELLO, ServiceName::parse("Hello-World").unwrap()),
        (OCTO, ServiceName::parse("octo-repo").unwrap()),
    ])
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/samples/native/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/samples/native/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn read_in(
    dir: &ServiceDirectory,
    config: &SourceConfig,
    event: &str,
    body: &[u8],
) -> Result<SourceDelivery, HookError> {
    let ctx = Context {
        services: dir,
        path_service: None,
        received_at: ts("2024-06-01T00:00:00Z"),
        source: Some(config),
    };
    dorado_hooks::sources::read(SourceKind::Github, event, config, &ctx, body)
}

fn read_with(
    config: &SourceConfig,
    event: &str,
    body: &Value,
) -> Result<SourceDelivery, HookError> {
    read_in(&services(), config, event, body.to_string().as_bytes())
}

fn commands_with(config: &SourceConfig, event: &str, body: &Value) -> Vec<Command> {
    match read_with(config, event, body) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Commands(c),
            dedupe_key,
        }) => {
            assert_eq!(dedupe_key, None, "X-GitHub-Delivery is the dedupe key");
            c
        }
        other => panic!("{event} should give commands, got {other:?}"),
    }
}

fn one(event: &str, body: &Value) -> Command {
    let mut c = commands_with(&SourceConfig::default(), event, body);
    assert_eq!(c.len(), 1, "{c:?}");
    c.remove(0)
}

fn deployment(event: &str, body: &Value) -> DeploymentWrite {
    match one(event, body) {
        Command::Deployment(d) => d,
        other => panic!("not a deployment: {other:?}"),
    }
}

fn changes(event: &str, body: &Value) -> ChangeBatch {
    match one(event, body) {
        Command::Changes(c) => c,
        other => panic!("not changes: {other:?}"),
    }
}

fn incident(body: &Value) -> IncidentWrite {
    match one("issues", body) {
        Command::Incident(i) => i,
        other => panic!("not an incident: {other:?}"),
    }
}

fn ignored_with(config: &SourceConfig, event: &str, body: &Value) -> Ignored {
    match read_with(config, event, body) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Ignored(i),
            ..
        }) => i,
        other => panic!("{event} should be ignored, got {other:?}"),
    }
}

fn ignored(event: &str, body: &Value) -> Ignored {
    ignored_with(&SourceConfig::default(), event, body)
}

fn errors(event: &str, body: &Value) -> Vec<(String, String)> {
    match read_with(&SourceConfig::default(), event, body) {
        Err(HookError::Invalid(v)) => v
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect(),
        other => panic!("{event} should refuse {body} field by field, got {other:?}"),
    }
}

fn fails(event: &str, body: &Value, pointer: &str, detail: &str) {
    let errs = errors(event, body);
    assert!(
        errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
        "expected {pointer}: ...{detail}..., got {errs:?}"
    );
}

/// `body` with the value at `pointer` replaced (`None`: removed).
fn set(body: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut v = body.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(map), Some(x)) => {
            map.insert(key.to_owned(), x);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(x)) => items[key.parse::<usize>().unwrap()] = x,
        (other, _) => panic!("{parent} is not a container: {other}"),
    }
    v
}

fn sha(s: &str) -> Sha {
    Sha::parse(s).unwrap()
}

// ----- deployment and deployment_status -----

#[test]
fn the_deployment_fixture_is_a_pending_deployment() {
    let d = deployment("deployment", &fixture("github_deployment.json"));
    assert_eq!(d.service, HELLO);
    assert_eq!(
        d.external_id.as_ref().map(|e| e.as_str()),
        Some("github:deployment:145988746")
    );
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.result, DeployResult::Pending);
    assert_eq!(d.started_at, Some(ts("2019-05-15T15:20:53Z")));
    assert_eq!(d.finished_at, None);
    assert_eq!(d.state_at, Some(ts("2019-05-15T15:20:53Z")));
    assert_eq!(d.source, "github");
    assert_eq!(d.commits.len(), 1);
    assert_eq!(d.commits[0].sha, sha(DEPLOY_SHA));
    assert_eq!(
        d.commits[0].repo,
        "https://github.com/Codertocat/Hello-World"
    );
    assert_eq!(
        d.commits[0].repo_key.as_str(),
        "github.com/codertocat/hello-world"
    );
    assert_eq!(d.shipped, None);
    assert!(!d.rework);
    assert_eq!(d.attributes["ref"], "master");
    assert_eq!(d.attributes["task"], "deploy");
    assert_eq!(d.attributes["creator"], "Codertocat");
    assert_eq!(
        d.attributes["url"],
        "https://api.github.com/repos/Codertocat/Hello-World/deployments/145988746"
    );
}

#[test]
fn the_deployment_status_fixture_is_a_success() {
    let d = deployment(
        "deployment_status",
        &fixture("github_deployment_status.json"),
    );
    assert_eq!(d.service, HELLO);
    assert_eq!(
        d.external_id.as_ref().map(|e| e.as_str()),
        Some("github:deployment:145988746")
    );
    assert_eq!(d.commits[0].sha, sha(DEPLOY_SHA));
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.result, DeployResult::Success);
    assert_eq!(d.started_at, Some(ts("2019-05-15T15:20:53Z")));
    assert_eq!(d.finished_at, Some(ts("2019-05-15T15:20:55Z")));
    assert_eq!(d.state_at, Some(ts("2019-05-15T15:20:55Z")));
    assert_eq!(d.source, "github");
    assert_eq!(d.attributes["state"], "success");
}

#[test]
fn each_deployment_status_state() {
    let base = fixture("github_deployment_status.json");
    let done = Some(ts("2019-05-15T15:20:55Z"));
    for (state, result, finished) in [
        ("success", DeployResult::Success, done),
        ("failure", DeployResult::Failure, done),
        ("error", DeployResult::Failure, done),
        ("queued", DeployResult::InProgress, None),
        ("pending", DeployResult::InProgress, None),
        ("in_progress", DeployResult::InProgress, None),
    ] {
        let body = set(&base, "/deployment_status/state", Some(json!(state)));
        let d = deployment("deployment_status", &body);
        assert_eq!((d.result, d.finished_at), (result, finished), "{state}");
        assert_eq!(d.state_at, done, "{state}");
    }
    let inactive = set(&base, "/deployment_status/state", Some(json!("inactive")));
    let i = ignored("deployment_status", &inactive);
    assert!(
        i.reason.contains("inactive status changes nothing"),
        "{i:?}"
    );
    assert_eq!(i.unmapped, None);
    let unknown = set(&base, "/deployment_status/state", Some(json!("exploded")));
    assert!(
        ignored("deployment_status", &unknown)
            .reason
            .contains("'exploded'")
    );
}

#[test]
fn environments_of_deployments_and_statuses() {
    let base = fixture("github_deployment.json");
    let env = |body: &Value, event: &str| deployment(event, body).environment.as_str().to_owned();

    let staging = set(&base, "/deployment/environment", Some(json!("Staging")));
    assert_eq!(env(&staging, "deployment"), "staging");
    let live = set(&base, "/deployment/environment", Some(json!("Live")));
    assert_eq!(env(&live, "deployment"), "production");
    // GitHub's own flag names a production environment of any name.
    let eu = set(&base, "/deployment/environment", Some(json!("prod-eu")));
    assert_eq!(env(&eu, "deployment"), "prod-eu");
    let flagged = set(&eu, "/deployment/production_environment", Some(json!(true)));
    assert_eq!(env(&flagged, "deployment"), "production");
    let unflagged = set(
        &eu,
        "/deployment/production_environment",
        Some(json!(false)),
    );
    assert_eq!(env(&unflagged, "deployment"), "prod-eu");

    // A status names the environment it moved the deployment to.
    let status = fixture("github_deployment_status.json");
    let moved = set(&status, "/deployment_status/environment", Some(json!("qa")));
    assert_eq!(env(&moved, "deployment_status"), "qa");
    let no_status_env = set(&status, "/deployment_status/environment", None);
    let staging = set(
        &no_status_env,
        "/deployment/environment",
        Some(json!("staging")),
    );
    assert_eq!(env(&staging, "deployment_status"), "staging");
    let flagged = set(&status, "/deployment/environment", Some(json!("prod-eu")));
    let flagged = set(
        &flagged,
        "/deployment_status/environment",
        Some(json!("prod-eu")),
    );
    let flagged = set(
        &flagged,
        "/deployment/production_environment",
        Some(json!(true)),
    );
    assert_eq!(env(&flagged, "deployment_status"), "production");
}

#[test]
fn only_created_deployments_are_read() {
    let body = set(
        &fixture("github_deployment.json"),
        "/action",
        Some(json!("deleted")),
    );
    assert!(ignored("deployment", &body).reason.contains("'deleted'"));
}

// ----- workflow_run -----

fn deploy_workflows(names: &[&str]) -> SourceConfig {
    SourceConfig {
        deploy_workflows: names.iter().map(|n| (*n).to_owned()).collect(),
    }
}

#[test]
fn a_completed_deploy_workflow_run_is_a_deployment() {
    let body = fixture("github_workflow_run_completed.json");
    let c = commands_with(&deploy_workflows(&["Test"]), "workflow_run", &body);
    let [Command::Deployment(d)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(d.service, OCTO);
    assert_eq!(
        d.external_id.as_ref().map(|e| e.as_str()),
        Some("github:run:289782451")
    );
    assert_eq!(d.commits[0].sha, sha(RUN_SHA));
    assert_eq!(
        d.commits[0].repo_key.as_str(),
        "github.com/octo-org/octo-repo"
    );
    assert_eq!(d.result, DeployResult::Success);
    assert_eq!(d.environment.as_str(), "production");
    assert_eq!(d.started_at, Some(ts("2020-10-05T16:33:49Z")));
    assert_eq!(d.finished_at, Some(ts("2020-10-05T16:33:49Z")));
    assert_eq!(d.state_at, Some(ts("2020-10-05T16:33:49Z")));
    assert_eq!(d.source, "github");
    assert_eq!(d.name.as_deref(), Some("test"));
    assert_eq!(d.attributes["run_attempt"], 1);
    assert_eq!(d.attributes["head_branch"], "master");

    // The workflow's file name names it too.
    let by_file = commands_with(&deploy_workflows(&["test.yml"]), "workflow_run", &body);
    assert_eq!(by_file, c);
    let named = set(&body, "/workflow_run/name", Some(json!("Ship it")));
    let named = set(&named, "/workflow/name", Some(json!("Ship it")));
    let by_name = commands_with(&deploy_workflows(&["ship it"]), "workflow_run", &named);
    assert_eq!(by_name.len(), 1);
}

#[test]
fn conclusions_other_than_success_are_failures() {
    let config = deploy_workflows(&["test"]);
    let body = fixture("github_workflow_run_completed.json");
    for conclusion in [
        json!("failure"),
        json!("cancelled"),
        json!("timed_out"),
        Value::Null,
    ] {
        let failed = set(&body, "/workflow_run/conclusion", Some(conclusion.clone()));
        let c = commands_with(&config, "workflow_run", &failed);
        let [Command::Deployment(d)] = c.as_slice() else {
            panic!("{c:?}")
        };
        assert_eq!(d.result, DeployResult::Failure, "{conclusion}");
    }
    let later = set(
        &body,
        "/workflow_run/updated_at",
        Some(json!("2020-10-05T16:40:00Z")),
    );
    let c = commands_with(&config, "workflow_run", &later);
    let [Command::Deployment(d)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(d.finished_at, Some(ts("2020-10-05T16:40:00Z")));
    assert_eq!(d.state_at, Some(ts("2020-10-05T16:40:00Z")));
}

#[test]
fn other_workflows_and_unfinished_runs_are_ignored() {
    let body = fixture("github_workflow_run_completed.json");
    let i = ignored_with(&deploy_workflows(&["deploy"]), "workflow_run", &body);
    assert!(i.reason.contains("'test'"), "{i:?}");
    assert!(i.reason.contains("--deploy-workflow"), "{i:?}");
    assert!(
        ignored("workflow_run", &body)
            .reason
            .contains("not a deploy workflow")
    );

    let running = set(&body, "/action", Some(json!("in_progress")));
    let i = ignored_with(&deploy_workflows(&["test"]), "workflow_run", &running);
    assert!(i.reason.contains("only a completed run"), "{i:?}");
}

// ----- push -----

fn push(before: &str, commits: Value) -> Value {
    json!({
        "ref": "refs/heads/main", "before": before, "after": "c3", "created": before == ZEROS,
        "deleted": false, "forced": false, "commits": commits,
        "repository": {"full_name": "Codertocat/Hello-World", "html_url": "https://github.com/Codertocat/Hello-World"}
    })
}

fn commit(id: &str, at: &str) -> Value {
    json!({"id": id, "distinct": true, "message": format!("commit {id}"), "timestamp": at,
           "author": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat"}})
}

fn three() -> Value {
    json!([
        commit("c1", "2024-05-01T10:00:00-07:00"),
        commit("c2", "2024-05-01T18:00:00Z"),
        commit("c3", "2024-05-01T19:00:00Z")
    ])
}

#[test]
fn a_push_chains_its_commits_from_before() {
    let before = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let batch = changes("push", &push(before, three()));
    assert_eq!(batch.repo, "https://github.com/Codertocat/Hello-World");
    assert_eq!(batch.repo_key.as_str(), "github.com/codertocat/hello-world");
    let parents: Vec<(&str, Vec<&str>)> = batch
        .commits
        .iter()
        .map(|c| (c.sha.as_str(), c.parents.iter().map(Sha::as_str).collect()))
        .collect();
    assert_eq!(
        parents,
        [("c1", vec![before]), ("c2", vec!["c1"]), ("c3", vec!["c2"])]
    );
    let first = &batch.commits[0];
    assert_eq!(first.committed_at, Some(ts("2024-05-01T17:00:00Z")));
    assert_eq!(first.author.as_deref(), Some("Monalisa Octocat"));
    assert_eq!(first.message.as_deref(), Some("commit c1"));
    assert_eq!(first.request, None);

    // A branch created by the push has no commit before it.
    let created = changes("push", &push(ZEROS, three()));
    assert!(created.commits[0].parents.is_empty());
    assert_eq!(created.commits[1].parents, [sha("c1")]);

    // After a forced push `before` is the head that was thrown away.
    let forced = set(&push(before, three()), "/forced", Some(json!(true)));
    let forced = changes("push", &forced);
    assert!(forced.commits[0].parents.is_empty());
    assert_eq!(forced.commits[2].parents, [sha("c2")]);
}

#[test]
fn long_messages_are_cut_short_not_refused() {
    let long = "x".repeat(20_000);
    let body = set(
        &push(ZEROS, three()),
        "/commits/0/message",
        Some(json!(long)),
    );
    let batch = changes("push", &body);
    assert_eq!(
        batch.commits[0].message.as_ref().map(String::len),
        Some(10_000)
    );
}

#[test]
fn deletions_and_empty_pushes_store_nothing() {
    let i = ignored("push", &fixture("github_push_tag_deleted.json"));
    assert!(i.reason.contains("deleted 'refs/tags/simple-tag'"), "{i:?}");
    let tag = json!({"ref": "refs/tags/v1", "before": ZEROS, "after": DEPLOY_SHA, "created": true,
                     "deleted": false, "forced": false, "commits": [],
                     "repository": {"html_url": "https://github.com/Codertocat/Hello-World"}});
    assert!(ignored("push", &tag).reason.contains("no commits"));
}

// ----- pull_request -----

fn pull_request(action: &str, merged: bool) -> Value {
    json!({
        "action": action, "number": 7,
        "pull_request": {
            "number": 7, "state": "closed", "merged": merged,
            "created_at": "2024-05-01T09:00:00Z",
            "merged_at": if merged { json!("2024-05-02T12:00:00Z") } else { Value::Null },
            "closed_at": "2024-05-02T12:00:00Z",
            "merge_commit_sha": if merged { json!("a0b1c2") } else { Value::Null },
            "commits": 3,
            "head": {"ref": "feature", "sha": "hh1", "repo": {"full_name": "someone/Fork", "html_url": "https://github.com/someone/Fork"}},
            "base": {"ref": "main", "sha": "bb1", "repo": {"full_name": "Codertocat/Hello-World", "html_url": "https://github.com/Codertocat/Hello-World"}}
        },
        "repository": {"full_name": "Codertocat/Hello-World", "html_url": "https://github.com/Codertocat/Hello-World"}
    })
}

#[test]
fn a_merged_pull_request_is_its_merge_commit() {
    let batch = changes("pull_request", &pull_request("closed", true));
    assert_eq!(batch.repo_key.as_str(), "github.com/codertocat/hello-world");
    let [c] = batch.commits.as_slice() else {
        panic!("{batch:?}")
    };
    assert_eq!(c.sha, sha("a0b1c2"));
    assert!(c.parents.is_empty());
    assert_eq!(c.committed_at, Some(ts("2024-05-02T12:00:00Z")));
    assert_eq!(
        c.request,
        Some(MergedRequest {
            opened_at: ts("2024-05-01T09:00:00Z"),
            head: Some(sha("hh1")),
            base: Some(sha("bb1")),
            commits: Some(3),
        })
    );
    // Without its base repository, the payload's repository.
    let bare = set(&pull_request("closed", true), "/pull_request/base", None);
    let bare = set(&bare, "/pull_request/head", None);
    let batch = changes("pull_request", &bare);
    assert_eq!(batch.repo_key.as_str(), "github.com/codertocat/hello-world");
    let request = batch.commits[0].request.clone().unwrap();
    assert_eq!((request.head, request.base), (None, None));
}

#[test]
fn other_pull_request_events_are_ignored() {
    let i = ignored("pull_request", &pull_request("closed", false));
    assert!(
        i.reason.contains("#7 was closed without being merged"),
        "{i:?}"
    );
    let i = ignored("pull_request", &pull_request("opened", false));
    assert!(i.reason.contains("'opened'"), "{i:?}");
}

// ----- issues -----

fn issue(action: &str, labels: &[&str], state: &str) -> Value {
    let closed = state == "closed";
    json!({
        "action": action,
        "issue": {
            "number": 12, "title": "Checkout is down", "state": state,
            "html_url": "https://github.com/Codertocat/Hello-World/issues/12",
            "labels": labels.iter().map(|l| json!({"name": l, "color": "f00"})).collect::<Vec<_>>(),
            "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T13:00:00Z",
            "closed_at": if closed { json!("2024-05-01T12:00:00Z") } else { Value::Null },
            "user": {"login": "octocat"}
        },
        "repository": {"full_name": "Codertocat/Hello-World", "html_url": "https://github.com/Codertocat/Hello-World"}
    })
}

#[test]
fn an_incident_issue_opens_closes_and_reopens() {
    let opened = incident(&issue("opened", &["bug", "Incident"], "open"));
    assert_eq!(opened.service, Some(HELLO));
    assert_eq!(opened.key.as_str(), "Codertocat/Hello-World#12");
    assert_eq!(opened.title.as_deref(), Some("Checkout is down"));
    assert_eq!(opened.started_at, Some(ts("2024-05-01T10:00:00Z")));
    assert_eq!((opened.resolved_at, opened.reopened_at), (None, None));
    assert!(opened.is_incident);
    assert_eq!(opened.times, IncidentTimes::Lifecycle);
    assert_eq!(opened.source, "github");
    assert_eq!(opened.cause, None);

    let closed = incident(&issue("closed", &["INCIDENT"], "closed"));
    assert_eq!(closed.resolved_at, Some(ts("2024-05-01T12:00:00Z")));
    assert_eq!(closed.started_at, Some(ts("2024-05-01T10:00:00Z")));

    let reopened = incident(&issue("reopened", &["incident"], "open"));
    assert_eq!(reopened.reopened_at, Some(ts("2024-05-01T13:00:00Z")));
    assert_eq!(reopened.resolved_at, None);

    let labeled = incident(&issue("labeled", &["incident"], "open"));
    assert!(labeled.is_incident);
}

#[test]
fn removing_the_label_makes_it_no_incident() {
    let mut body = issue("unlabeled", &["bug"], "open");
    body["label"] = json!({"name": "Incident"});
    let i = incident(&body);
    assert!(!i.is_incident);
    assert_eq!(i.key.as_str(), "Codertocat/Hello-World#12");

    // Another label removed from an incident leaves it one.
    let mut other = issue("unlabeled", &["incident"], "open");
    other["label"] = json!({"name": "bug"});
    assert!(incident(&other).is_incident);

    let deleted = incident(&issue("deleted", &["incident"], "open"));
    assert!(!deleted.is_incident);
}

#[test]
fn issues_without_the_label_are_ignored() {
    let i = ignored("issues", &issue("opened", &["bug"], "open"));
    assert!(i.reason.contains("#12 has no label 'incident'"), "{i:?}");
    let mut unlabeled = issue("unlabeled", &[], "open");
    unlabeled["label"] = json!({"name": "bug"});
    ignored("issues", &unlabeled);
    let no_labels = set(&issue("opened", &[], "open"), "/issue/labels", None);
    ignored("issues", &no_labels);
}

// ----- mapping -----

#[test]
fn an_unmapped_repository_is_ignored_and_named() {
    let dir = ServiceDirectory::new([(ServiceId(9), ServiceName::parse("other").unwrap())]);
    let body = fixture_bytes("github_deployment.json");
    let read = read_in(&dir, &SourceConfig::default(), "deployment", &body).unwrap();
    let SourceOutcome::Ignored(i) = read.outcome else {
        panic!("{read:?}")
    };
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Repository(
            "github.com/codertocat/hello-world".into()
        ))
    );
    assert!(
        i.reason
            .contains("--alias github.com/codertocat/hello-world"),
        "{i:?}"
    );
    for (event, body) in [
        ("push", push(ZEROS, three())),
        ("pull_request", pull_request("closed", true)),
        ("issues", issue("opened", &["incident"], "open")),
    ] {
        let read = read_in(
            &dir,
            &SourceConfig::default(),
            event,
            body.to_string().as_bytes(),
        );
        assert!(
            matches!(
                &read,
                Ok(SourceDelivery {
                    outcome: SourceOutcome::Ignored(Ignored {
                        unmapped: Some(_),
                        ..
                    }),
                    ..
                })
            ),
            "{event}: {read:?}"
        );
    }
}

#[test]
fn a_repository_found_by_its_alias() {
    let mut dir = ServiceDirectory::new([
        (ServiceId(5), ServiceName::parse("shop").unwrap()),
        (HELLO, ServiceName::parse("Hello-World").unwrap()),
    ]);
    dir.add_alias(
        alias_key("https://github.com/Codertocat/Hello-World.git").unwrap(),
        ServiceId(5),
    );
    let body = fixture_bytes("github_deployment_status.json");
    let read = read_in(&dir, &SourceConfig::default(), "deployment_status", &body).unwrap();
    let SourceOutcome::Commands(c) = read.outcome else {
        panic!("{read:?}")
    };
    let [Command::Deployment(d)] = c.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(d.service, ServiceId(5), "the alias wins over the name");
}

#[test]
fn full_name_stands_in_for_a_missing_html_url() {
    let body = set(&push(ZEROS, three()), "/repository/html_url", None);
    let batch = changes("push", &body);
    assert_eq!(batch.repo_key.as_str(), "github.com/codertocat/hello-world");
}

// ----- what is not read -----

#[test]
fn pings_and_other_events_are_ignored() {
    let ping = json!({"zen": "Design for failure.", "hook_id": 1, "hook": {"type": "Repository", "events": ["push"]}});
    let i = ignored("ping", &ping);
    assert!(i.reason.starts_with("ping: the hook works"), "{i:?}");
    assert_eq!(i.unmapped, None);

    let i = ignored("check_suite", &fixture("github_check_suite_completed.json"));
    assert_eq!(
        i.reason,
        "GitHub event 'check_suite' is not one Dorado reads"
    );
    let i = ignored("star", &json!([1, 2]));
    assert!(i.reason.contains("'star'"), "{i:?}");
    assert!(ignored("", &json!({})).reason.contains("X-GitHub-Event"));
}

#[test]
fn form_encoded_bodies_are_read() {
    let json = fixture("github_deployment.json").to_string();
    let mut body = b"payload=".to_vec();
    for b in json.bytes() {
        if b.is_ascii_alphanumeric() {
            body.push(b);
        } else {
            body.extend(format!("%{b:02X}").bytes());
        }
    }
    let read = read_in(&services(), &SourceConfig::default(), "deployment", &body).unwrap();
    assert!(
        matches!(read.outcome, SourceOutcome::Commands(ref c) if c.len() == 1),
        "{read:?}"
    );
}

// ----- refused bodies -----

#[test]
fn malformed_deployments_are_refused_with_pointers() {
    let base = fixture("github_deployment.json");
    fails(
        "deployment",
        &set(&base, "/deployment/sha", None),
        "/deployment/sha",
        "is required",
    );
    fails(
        "deployment",
        &set(&base, "/deployment/created_at", Some(json!("yesterday"))),
        "/deployment/created_at",
        "",
    );
    fails(
        "deployment",
        &set(&base, "/deployment", None),
        "/deployment",
        "is required",
    );
    fails(
        "deployment",
        &set(&base, "/deployment/id", Some(json!({}))),
        "/deployment/id",
        "",
    );
    let errs = errors(
        "deployment",
        &set(
            &set(&base, "/deployment/sha", Some(json!(7))),
            "/deployment/environment",
            None,
        ),
    );
    assert_eq!(errs.len(), 2, "every problem at once: {errs:?}");

    let status = fixture("github_deployment_status.json");
    fails(
        "deployment_status",
        &set(
            &status,
            "/deployment_status/created_at",
            Some(json!(1557933655)),
        ),
        "/deployment_status/created_at",
        "time string",
    );
    fails(
        "deployment_status",
        &set(&status, "/deployment_status/state", None),
        "/deployment_status/state",
        "is required",
    );
    fails(
        "deployment_status",
        &set(
            &status,
            "/deployment_status/created_at",
            Some(json!("2019-05-15T15:00:00Z")),
        ),
        "/deployment_status/created_at",
        "is before",
    );
    fails(
        "deployment",
        &set(&base, "/repository", None),
        "/repository",
        "is required",
    );
    fails(
        "deployment",
        &set(&base, "/repository/html_url", Some(json!(3))),
        "/repository/html_url",
        "string",
    );
}

#[test]
fn malformed_pushes_runs_requests_and_issues_are_refused() {
    fails(
        "push",
        &set(&push(ZEROS, three()), "/commits/1/id", None),
        "/commits/1/id",
        "is required",
    );
    fails(
        "push",
        &set(
            &push(ZEROS, three()),
            "/commits/2/timestamp",
            Some(json!("soon")),
        ),
        "/commits/2/timestamp",
        "",
    );
    fails(
        "push",
        &set(&push(ZEROS, three()), "/commits", Some(json!("c1"))),
        "/commits",
        "array",
    );
    fails(
        "push",
        &set(&push(ZEROS, three()), "/commits/0", Some(json!(1))),
        "/commits/0",
        "object",
    );
    fails("push", &json!([]), "", "JSON object");

    let config = deploy_workflows(&["test"]);
    let run = fixture("github_workflow_run_completed.json");
    let refused = |body: &Value, pointer: &str| match read_with(&config, "workflow_run", body) {
        Err(HookError::Invalid(v)) => assert!(
            v.errors.iter().any(|e| e.pointer == pointer),
            "{pointer}: {v:?}"
        ),
        other => panic!("{pointer}: {other:?}"),
    };
    refused(
        &set(&run, "/workflow_run/head_sha", None),
        "/workflow_run/head_sha",
    );
    refused(
        &set(&run, "/workflow_run/updated_at", Some(json!("x"))),
        "/workflow_run/updated_at",
    );
    refused(&set(&run, "/workflow_run/id", None), "/workflow_run/id");

    let pr = pull_request("closed", true);
    fails(
        "pull_request",
        &set(&pr, "/pull_request/merge_commit_sha", None),
        "/pull_request/merge_commit_sha",
        "is required",
    );
    fails(
        "pull_request",
        &set(&pr, "/pull_request/commits", Some(json!(-1))),
        "/pull_request/commits",
        "count",
    );
    fails(
        "pull_request",
        &set(
            &pr,
            "/pull_request/merged_at",
            Some(json!("2024-04-01T00:00:00Z")),
        ),
        "/pull_request/merged_at",
        "is before",
    );

    let i = issue("opened", &["incident"], "open");
    fails(
        "issues",
        &set(&i, "/issue/number", None),
        "/issue/number",
        "is required",
    );
    fails(
        "issues",
        &set(&i, "/issue/created_at", Some(json!(""))),
        "/issue/created_at",
        "",
    );
    fails(
        "issues",
        &set(&i, "/repository/full_name", None),
        "/repository/full_name",
        "is required",
    );
}

// ----- no panic -----

const EVENTS: [&str; 7] = [
    "push",
    "deployment",
    "deployment_status",
    "workflow_run",
    "pull_request",
    "issues",
    "ping",
];

fn never_panics(event: &str, body: &[u8]) {
    let config = deploy_workflows(&["test", "deploy"]);
    let outcome = std::panic::catch_unwind(|| read_in(&services(), &config, event, body));
    assert!(
        outcome.is_ok(),
        "{event} panicked on {}",
        String::from_utf8_lossy(body)
    );
}

#[test]
fn no_body_panics() {
    let samples = [
        ("deployment", fixture("github_deployment.json")),
        (
            "deployment_status",
            fixture("github_deployment_status.json"),
        ),
        (
            "workflow_run",
            fixture("github_workflow_run_completed.json"),
        ),
        ("push", fixture("github_push_tag_deleted.json")),
        (
            "push",
            push("6113728f27ae82c7b1a177c8d03f9e96e0adf246", three()),
        ),
        ("pull_request", pull_request("closed", true)),
        ("issues", issue("closed", &["incident"], "closed")),
    ];
    let junk = [
        json!(null),
        json!(-1),
        json!(1.5),
        json!(18446744073709551615u64),
        json!(""),
        json!("\u{0}é"),
        json!([]),
        json!({}),
        json!(true),
    ];
    for (event, body) in &samples {
        let text = body.to_string();
        // Cut anywhere, even inside a character.
        for cut in (0..text.len()).step_by(97) {
            never_panics(event, &text.as_bytes()[..cut]);
        }
        let mut paths = Vec::new();
        pointers(body, String::new(), &mut paths);
        for p in &paths {
            for j in &junk {
                let mut v = body.clone();
                if let Some(slot) = v.pointer_mut(p) {
                    *slot = j.clone();
                }
                never_panics(event, v.to_string().as_bytes());
            }
        }
    }
    for event in EVENTS {
        for body in [
            &b""[..],
            b"   ",
            b"null",
            b"[]",
            b"\"push\"",
            b"{",
            b"payload=",
            b"payload=%7B%22",
            b"\xff\xfe",
            b"{\"commits\": [null, 1, {\"id\": []}], \"deleted\": \"maybe\"}",
        ] {
            never_panics(event, body);
        }
        for (_, body) in &samples {
            never_panics(event, body.to_string().as_bytes());
        }
    }
}
