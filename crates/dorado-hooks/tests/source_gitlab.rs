//! GitLab as a native source: pushes, merged merge requests, incident
//! issues, deployments and deploy pipelines, from GitLab's own payloads.

mod common;

use common::pointers;

use dorado_core::source::alias_key;
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentTimes, IncidentWrite,
    MergedRequest, RepoKey, ServiceDirectory, ServiceId, ServiceName, Sha, SourceKind, Timestamp,
};
use dorado_hooks::sources::{Ignored, SourceConfig, SourceDelivery, SourceOutcome, Unmapped};
use dorado_hooks::{Context, HookError};
use serde_json::{Value, json};

const PUSH: &str = include_str!("samples/native/gitlab_push.json");
const DEPLOYMENT: &str = include_str!("samples/native/gitlab_deployment.json");
const PIPELINE: &str = include_str!("samples/native/gitlab_pipeline.json");

const DIASPORA: ServiceId = ServiceId(10);
const WEBHOOKS: ServiceId = ServiceId(11);
const GITLAB_TEST: ServiceId = ServiceId(12);
const STOREFRONT: ServiceId = ServiceId(13);

/// Services named as the fixtures' projects, and one known only by an alias.
fn directory() -> ServiceDirectory {
    let mut dir = ServiceDirectory::new([
        (DIASPORA, ServiceName::parse("diaspora").unwrap()),
        (
            WEBHOOKS,
            ServiceName::parse("test-deployment-webhooks").unwrap(),
        ),
        (GITLAB_TEST, ServiceName::parse("gitlab-test").unwrap()),
        (STOREFRONT, ServiceName::parse("storefront").unwrap()),
    ]);
    dir.add_alias(
        alias_key("https://gitlab.example.com/acme/shop-web").unwrap(),
        STOREFRONT,
    );
    dir
}

fn now() -> Timestamp {
    ts("2024-06-01T00:00:00Z")
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn sha(s: &str) -> Sha {
    Sha::parse(s).unwrap()
}

fn deploy_config(names: &[&str]) -> SourceConfig {
    SourceConfig {
        deploy_workflows: names.iter().map(|n| n.to_string()).collect(),
    }
}

fn read_with(config: &SourceConfig, event: &str, body: &[u8]) -> Result<SourceDelivery, HookError> {
    let dir = directory();
    let ctx = Context {
        services: &dir,
        path_service: None,
        received_at: now(),
        source: Some(config),
    };
    dorado_hooks::sources::read(SourceKind::Gitlab, event, config, &ctx, body)
}

fn read(event: &str, body: &str) -> Result<SourceDelivery, HookError> {
    read_with(&SourceConfig::default(), event, body.as_bytes())
}

fn commands_with(config: &SourceConfig, event: &str, body: &str) -> Vec<Command> {
    match read_with(config, event, body.as_bytes()) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Commands(c),
            dedupe_key: None,
        }) => c,
        other => panic!("expected commands for {body}, got {other:?}"),
    }
}

fn commands(event: &str, body: &str) -> Vec<Command> {
    commands_with(&SourceConfig::default(), event, body)
}

fn one(event: &str, body: &str) -> Command {
    let mut c = commands(event, body);
    assert_eq!(c.len(), 1, "{c:?}");
    c.remove(0)
}

fn changes(event: &str, body: &str) -> ChangeBatch {
    match one(event, body) {
        Command::Changes(b) => b,
        other => panic!("not changes: {other:?}"),
    }
}

fn deployment_with(config: &SourceConfig, event: &str, body: &str) -> DeploymentWrite {
    let mut c = commands_with(config, event, body);
    assert_eq!(c.len(), 1, "{c:?}");
    match c.remove(0) {
        Command::Deployment(d) => d,
        other => panic!("not a deployment: {other:?}"),
    }
}

fn deployment(body: &str) -> DeploymentWrite {
    deployment_with(&SourceConfig::default(), "Deployment Hook", body)
}

fn incident(body: &str) -> IncidentWrite {
    match one("Issue Hook", body) {
        Command::Incident(i) => i,
        other => panic!("not an incident: {other:?}"),
    }
}

fn ignored_with(config: &SourceConfig, event: &str, body: &str) -> Ignored {
    match read_with(config, event, body.as_bytes()) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Ignored(i),
            dedupe_key: None,
        }) => i,
        other => panic!("expected {body} to be ignored, got {other:?}"),
    }
}

fn ignored(event: &str, body: &str) -> Ignored {
    ignored_with(&SourceConfig::default(), event, body)
}

fn errors(event: &str, body: &str) -> Vec<(String, String)> {
    match read(event, body) {
        Err(HookError::Invalid(v)) => v
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect(),
        other => panic!("expected {body} to be refused field by field, got {other:?}"),
    }
}

fn fails(event: &str, body: &str, pointer: &str, detail: &str) {
    let errs = errors(event, body);
    assert!(
        errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
        "expected {pointer}: ...{detail}... for {body}, got {errs:?}"
    );
}

fn fixture(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The fixture with the value at `pointer` replaced (`None`: removed).
fn patched(base: &str, edits: &[(&str, Option<Value>)]) -> String {
    let mut v = fixture(base);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let holder = v.pointer_mut(parent).unwrap();
        match (holder, value) {
            (Value::Object(m), Some(x)) => {
                m.insert(key.to_owned(), x.clone());
            }
            (Value::Object(m), None) => {
                m.remove(key);
            }
            (Value::Array(a), Some(x)) => a[key.parse::<usize>().unwrap()] = x.clone(),
            (Value::Array(a), None) => {
                a.remove(key.parse::<usize>().unwrap());
            }
            (other, _) => panic!("{pointer} is inside {other}"),
        }
    }
    v.to_string()
}

fn repo(url: &str) -> (String, RepoKey) {
    (url.to_owned(), RepoKey::parse(url).unwrap())
}

// ---- push ----

#[test]
fn the_push_sample_is_a_chain_of_commits_from_before() {
    let (repo, repo_key) = repo("http://example.com/mike/diaspora");
    let expected = ChangeBatch {
        repo,
        repo_key,
        commits: vec![
            ChangeWrite {
                sha: sha("b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"),
                parents: vec![sha("95790bf891e76fee5e1747ab589903a6a1f80f22")],
                committed_at: Some(ts("2011-12-12T12:27:31Z")),
                authored_at: None,
                author: Some("Jordi Mallach".into()),
                message: Some(
                    "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information"
                        .into(),
                ),
                request: None,
            },
            ChangeWrite {
                sha: sha("da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
                parents: vec![sha("b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327")],
                committed_at: Some(ts("2012-01-03T21:36:29Z")),
                authored_at: None,
                author: Some("GitLab dev user".into()),
                message: Some("fixed readme".into()),
                request: None,
            },
        ],
    };
    assert_eq!(changes("Push Hook", PUSH), expected);
    assert_eq!(
        expected.repo_key.as_str(),
        "example.com/mike/diaspora",
        "mapped to diaspora by the last segment"
    );
    // The body decides, whatever the header says or whether it is sent.
    assert_eq!(changes("", PUSH), expected);
    assert_eq!(changes("System Hook", PUSH), expected);
}

fn push_of(before: &str, after: &str, ids: &[&str], total: Option<usize>) -> String {
    let commits: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "message": "m", "timestamp": "2024-01-01 10:00:00 UTC", "author": {"name": "A"}}))
        .collect();
    let mut body = json!({
        "object_kind": "push", "before": before, "after": after, "ref": "refs/heads/main",
        "project": {"web_url": "https://gitlab.example.com/acme/shop-web", "path_with_namespace": "acme/shop-web"},
        "commits": commits,
    });
    if let Some(t) = total {
        body["total_commits_count"] = json!(t);
    }
    body.to_string()
}

fn hex(n: usize) -> String {
    format!("{n:040x}")
}

fn parents(batch: &ChangeBatch) -> Vec<(String, Vec<String>)> {
    batch
        .commits
        .iter()
        .map(|c| {
            (
                c.sha.to_string(),
                c.parents.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_push_listed_newest_first_is_read_oldest_first() {
    // The hook settings' "Test" button sends the branch's last commits
    // newest first, with `before` the oldest of them.
    let (a, b, c) = (hex(0xa), hex(0xb), hex(0xc));
    let batch = changes("Push Hook", &push_of(&a, &c, &[&c, &b, &a], Some(3)));
    assert_eq!(
        parents(&batch),
        vec![
            (a.clone(), vec![]),
            (b.clone(), vec![a.clone()]),
            (c.clone(), vec![b.clone()])
        ]
    );
    // The order GitLab really sends is kept as it is.
    let p = hex(0x9);
    let batch = changes("Push Hook", &push_of(&p, &c, &[&a, &b, &c], Some(3)));
    assert_eq!(
        parents(&batch),
        vec![
            (a.clone(), vec![p]),
            (b, vec![a.clone()]),
            (c, vec![hex(0xb)])
        ]
    );
}

#[test]
fn a_new_branch_and_a_truncated_push_give_the_first_commit_no_parent() {
    let (a, b) = (hex(0xa), hex(0xb));
    let zeros = "0".repeat(40);
    let batch = changes("Push Hook", &push_of(&zeros, &b, &[&a, &b], Some(2)));
    assert_eq!(
        parents(&batch),
        vec![(a.clone(), vec![]), (b.clone(), vec![a.clone()])]
    );

    // Past 20 commits GitLab sends the newest 20 only.
    let ids: Vec<String> = (1..=20).map(hex).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let batch = changes(
        "Push Hook",
        &push_of(&hex(0xfff), &ids[19], &refs, Some(25)),
    );
    assert!(batch.commits[0].parents.is_empty());
    assert_eq!(batch.commits[1].parents, vec![sha(&ids[0])]);
    // With every commit listed, `before` is the first one's parent.
    let batch = changes(
        "Push Hook",
        &push_of(&hex(0xfff), &ids[19], &refs, Some(20)),
    );
    assert_eq!(batch.commits[0].parents, vec![sha(&hex(0xfff))]);
}

#[test]
fn pushes_that_store_nothing_are_ignored() {
    let zeros = "0".repeat(40);
    let deleted = patched(
        PUSH,
        &[
            ("/after", Some(json!(zeros))),
            ("/checkout_sha", Some(Value::Null)),
            ("/commits", Some(json!([]))),
        ],
    );
    let i = ignored("Push Hook", &deleted);
    assert!(i.reason.contains("deletes a branch"), "{i:?}");
    assert_eq!(i.unmapped, None);

    let empty = patched(PUSH, &[("/commits", Some(json!([])))]);
    assert!(
        ignored("Push Hook", &empty)
            .reason
            .contains("no new commits")
    );
    let absent = patched(PUSH, &[("/commits", None)]);
    assert!(
        ignored("Push Hook", &absent)
            .reason
            .contains("no new commits")
    );

    let tag = patched(
        PUSH,
        &[
            ("/object_kind", Some(json!("tag_push"))),
            ("/event_name", Some(json!("tag_push"))),
            ("/ref", Some(json!("refs/tags/v1.0.0"))),
        ],
    );
    assert!(ignored("Tag Push Hook", &tag).reason.contains("tag push"));
}

#[test]
fn a_push_to_an_unmapped_project_names_its_repository() {
    let body = patched(
        PUSH,
        &[(
            "/project/web_url",
            Some(json!("https://gitlab.example.com/Acme/Unknown")),
        )],
    );
    let i = ignored("Push Hook", &body);
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Repository(
            "gitlab.example.com/acme/unknown".into()
        ))
    );
    assert!(i.reason.contains("--alias gitlab.example.com/acme/unknown"));
}

#[test]
fn the_repository_falls_back_to_other_urls_and_maps_by_alias() {
    let alias = "https://gitlab.example.com/acme/shop-web";
    let by_http = patched(
        PUSH,
        &[
            ("/project/web_url", None),
            ("/project/git_http_url", Some(json!(format!("{alias}.git")))),
        ],
    );
    let batch = changes("Push Hook", &by_http);
    assert_eq!(batch.repo, format!("{alias}.git"));
    assert_eq!(batch.repo_key.as_str(), "gitlab.example.com/acme/shop-web");

    let by_homepage = patched(
        PUSH,
        &[
            ("/project", None),
            ("/repository/homepage", Some(json!(alias))),
        ],
    );
    assert_eq!(
        changes("Push Hook", &by_homepage).repo_key.as_str(),
        "gitlab.example.com/acme/shop-web"
    );

    let none = patched(PUSH, &[("/project", None), ("/repository", None)]);
    fails("Push Hook", &none, "/project/web_url", "is required");
}

#[test]
fn a_malformed_push_is_refused_with_pointers() {
    let body = patched(
        PUSH,
        &[
            ("/commits/0/id", None),
            ("/commits/1/timestamp", Some(json!("yesterday"))),
            ("/commits/1/message", Some(json!(7))),
        ],
    );
    let errs = errors("Push Hook", &body);
    assert!(
        errs.contains(&("/commits/0/id".into(), "is required".into())),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|(p, d)| p == "/commits/1/timestamp" && d.contains("'yesterday' is not a time")),
        "{errs:?}"
    );
    assert!(errs.contains(&("/commits/1/message".into(), "must be a string".into())));
    fails(
        "Push Hook",
        &patched(PUSH, &[("/commits", Some(json!({"id": "x"})))]),
        "/commits",
        "must be an array",
    );
    fails(
        "Push Hook",
        &patched(PUSH, &[("/commits/0", Some(json!("abc")))]),
        "/commits/0",
        "must be an object",
    );
    fails(
        "Push Hook",
        &patched(PUSH, &[("/before", Some(json!(12)))]),
        "/before",
        "must be a string",
    );
}

#[test]
fn long_texts_are_cut_not_refused() {
    let body = patched(
        PUSH,
        &[
            ("/commits/0/message", Some(json!("m".repeat(20_000)))),
            ("/commits/0/author/name", Some(json!("é".repeat(2_000)))),
        ],
    );
    let batch = changes("Push Hook", &body);
    assert_eq!(batch.commits[0].message.as_ref().unwrap().len(), 10_000);
    assert_eq!(
        batch.commits[0].author.as_ref().unwrap().chars().count(),
        1_000
    );
}

// ---- deployment ----

fn webhooks_commit() -> DeployedCommit {
    let (repo, repo_key) = repo("http://10.126.0.2:3000/root/test-deployment-webhooks");
    DeployedCommit {
        repo,
        repo_key,
        sha: sha("279484c09fbe69ededfced8c1bb6e6d24616b468"),
    }
}

#[test]
fn the_deployment_sample_is_a_finished_staging_deployment() {
    let finished = ts("2021-04-28T19:50:00Z");
    let expected = DeploymentWrite {
        service: WEBHOOKS,
        external_id: Some(ExternalId::parse("gitlab:deployment:15").unwrap()),
        name: None,
        environment: Environment::parse("staging").unwrap(),
        result: DeployResult::Success,
        started_at: None,
        finished_at: Some(finished),
        commits: vec![webhooks_commit()],
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "gitlab".into(),
        attributes: json!({
            "status": "success",
            "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
            "user": "root",
        }),
        state_at: Some(finished),
    };
    assert_eq!(
        commands("Deployment Hook", DEPLOYMENT),
        vec![Command::Deployment(expected)]
    );
}

fn deployment_in(status: &str) -> DeploymentWrite {
    deployment(&patched(DEPLOYMENT, &[("/status", Some(json!(status)))]))
}

#[test]
fn each_deployment_status_is_one_state() {
    let at = ts("2021-04-28T19:50:00Z");
    let running = deployment_in("running");
    assert_eq!(running.result, DeployResult::InProgress);
    assert_eq!((running.started_at, running.finished_at), (Some(at), None));
    assert_eq!(running.state_at, Some(at));

    let failed = deployment_in("failed");
    assert_eq!(failed.result, DeployResult::Failure);
    assert_eq!((failed.started_at, failed.finished_at), (None, Some(at)));

    let canceled = deployment_in("canceled");
    assert_eq!(canceled.result, DeployResult::Aborted);
    assert_eq!(canceled.finished_at, Some(at));

    for other in ["created", "blocked", "Something-New"] {
        let d = deployment_in(other);
        assert_eq!(d.result, DeployResult::Pending, "{other}");
        assert_eq!((d.started_at, d.finished_at), (None, None), "{other}");
        assert_eq!(d.state_at, Some(at), "{other}");
        assert_eq!(d.attributes["status"], json!(other));
    }
    // Every state of one deployment is written under one id.
    assert_eq!(running.external_id, failed.external_id);
}

#[test]
fn deployment_environments_follow_the_tier_then_the_name() {
    let tier = patched(
        DEPLOYMENT,
        &[
            ("/environment", Some(json!("eu-west"))),
            ("/environment_tier", Some(json!("production"))),
        ],
    );
    assert!(deployment(&tier).environment.is_production());
    let prod = patched(
        DEPLOYMENT,
        &[
            ("/environment", Some(json!("Prod"))),
            ("/environment_tier", Some(json!("other"))),
        ],
    );
    assert!(deployment(&prod).environment.is_production());
    let review = patched(
        DEPLOYMENT,
        &[
            ("/environment", Some(json!("review/feature-x"))),
            ("/environment_tier", None),
        ],
    );
    assert_eq!(deployment(&review).environment.as_str(), "review/feature-x");
}

#[test]
fn deployment_times_shas_and_attributes_have_fallbacks() {
    // Without status_changed_at, a finished deployment finishes "now".
    let no_time = deployment(&patched(DEPLOYMENT, &[("/status_changed_at", None)]));
    assert_eq!((no_time.finished_at, no_time.state_at), (Some(now()), None));
    let utc = deployment(&patched(
        DEPLOYMENT,
        &[("/status_changed_at", Some(json!("2021-04-28 19:50:00 UTC")))],
    ));
    assert_eq!(utc.finished_at, Some(ts("2021-04-28T19:50:00Z")));

    let short = deployment(&patched(DEPLOYMENT, &[("/commit_url", None)]));
    assert_eq!(short.commits[0].sha.as_str(), "279484c0");
    let odd_url = deployment(&patched(
        DEPLOYMENT,
        &[("/commit_url", Some(json!("http://x/commit/")))],
    ));
    assert_eq!(odd_url.commits[0].sha.as_str(), "279484c0");
    let none = deployment(&patched(
        DEPLOYMENT,
        &[("/commit_url", None), ("/short_sha", None)],
    ));
    assert!(none.commits.is_empty());

    // An API-made deployment has no job, and a newer GitLab may add a ref.
    let api = deployment(&patched(
        DEPLOYMENT,
        &[
            ("/deployable_url", Some(Value::Null)),
            ("/ref", Some(json!("main"))),
        ],
    ));
    assert_eq!(
        api.attributes,
        json!({"status": "success", "user": "root", "ref": "main"})
    );
}

#[test]
fn a_deployment_of_an_unmapped_project_is_ignored() {
    let body = patched(
        DEPLOYMENT,
        &[(
            "/project/web_url",
            Some(json!("http://10.126.0.2:3000/root/other")),
        )],
    );
    let i = ignored("Deployment Hook", &body);
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Repository("10.126.0.2:3000/root/other".into()))
    );
}

#[test]
fn a_malformed_deployment_is_refused_with_pointers() {
    let body = patched(
        DEPLOYMENT,
        &[
            ("/deployment_id", None),
            ("/status", Some(json!(3))),
            (
                "/status_changed_at",
                Some(json!("2021-13-45 99:00:00 +0200")),
            ),
            ("/environment", None),
            ("/environment_tier", None),
        ],
    );
    let errs = errors("Deployment Hook", &body);
    for (p, d) in [
        ("/deployment_id", "is required"),
        ("/status", "must be a string"),
        ("/status_changed_at", "is not a time"),
        ("/environment", "is required"),
    ] {
        assert!(
            errs.iter().any(|(ep, ed)| ep == p && ed.contains(d)),
            "{p}: {errs:?}"
        );
    }
}

// ---- merge request ----

fn merge_request(action: &str) -> Value {
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"name": "Administrator", "username": "root"},
        "project": {
            "name": "Gitlab Test",
            "web_url": "http://example.com/gitlabhq/gitlab-test",
            "git_http_url": "http://example.com/gitlabhq/gitlab-test.git",
            "path_with_namespace": "gitlabhq/gitlab-test",
        },
        "repository": {"homepage": "http://example.com/gitlabhq/gitlab-test"},
        "object_attributes": {
            "id": 99, "iid": 1, "target_branch": "master", "source_branch": "ms-viewport",
            "title": "MS-Viewport",
            "created_at": "2013-12-03T17:23:34Z",
            "updated_at": "2013-12-04 09:00:00 UTC",
            "state": if action == "merge" { "merged" } else { "opened" },
            "merge_commit_sha": "7d8ba6d8d5b8a2b74b0d2c39d35d8f46b0f4e8e1",
            "last_commit": {
                "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                "message": "fixed readme",
                "timestamp": "2012-01-03T23:36:29+02:00",
                "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"}
            },
            "action": action,
        }
    })
}

#[test]
fn a_merged_merge_request_is_its_merge_commit_remembering_the_request() {
    let (repo, repo_key) = repo("http://example.com/gitlabhq/gitlab-test");
    let expected = ChangeBatch {
        repo,
        repo_key,
        commits: vec![ChangeWrite {
            sha: sha("7d8ba6d8d5b8a2b74b0d2c39d35d8f46b0f4e8e1"),
            parents: vec![],
            committed_at: Some(ts("2013-12-04T09:00:00Z")),
            authored_at: None,
            author: None,
            message: None,
            request: Some(MergedRequest {
                opened_at: ts("2013-12-03T17:23:34Z"),
                head: Some(sha("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")),
                base: None,
                commits: None,
            }),
        }],
    };
    let body = merge_request("merge").to_string();
    assert_eq!(
        commands("Merge Request Hook", &body),
        vec![Command::Changes(expected)]
    );
    let mut v = merge_request("merge");
    v["object_attributes"]["merged_at"] = json!("2013-12-04T08:59:00Z");
    let merged = changes("Merge Request Hook", &v.to_string());
    assert_eq!(
        merged.commits[0].committed_at,
        Some(ts("2013-12-04T08:59:00Z"))
    );
}

#[test]
fn a_fast_forward_merge_is_the_last_commit() {
    let mut v = merge_request("merge");
    v["object_attributes"]["merge_commit_sha"] = Value::Null;
    let batch = changes("Merge Request Hook", &v.to_string());
    let c = &batch.commits[0];
    assert_eq!(c.sha.as_str(), "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(c.request.as_ref().unwrap().head.as_ref(), Some(&c.sha));

    v["object_attributes"]["squash_commit_sha"] = json!("5555555555555555555555555555555555555555");
    let squashed = changes("Merge Request Hook", &v.to_string());
    assert_eq!(
        squashed.commits[0].sha.as_str(),
        "5555555555555555555555555555555555555555"
    );

    v["object_attributes"]["squash_commit_sha"] = Value::Null;
    v["object_attributes"]["last_commit"] = Value::Null;
    fails(
        "Merge Request Hook",
        &v.to_string(),
        "/object_attributes/merge_commit_sha",
        "names no commit",
    );
}

#[test]
fn other_merge_request_actions_are_ignored() {
    for action in [
        "open",
        "update",
        "close",
        "reopen",
        "approved",
        "unapproved",
        "approval",
        "unapproval",
    ] {
        let i = ignored("Merge Request Hook", &merge_request(action).to_string());
        assert!(i.reason.contains("only merges"), "{action}: {i:?}");
    }
    let mut no_action = merge_request("merge");
    no_action["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("action");
    ignored("Merge Request Hook", &no_action.to_string());
}

#[test]
fn a_merge_of_an_unmapped_project_is_ignored_and_a_bad_one_refused() {
    let mut v = merge_request("merge");
    v["project"]["web_url"] = json!("http://example.com/gitlabhq/elsewhere");
    let i = ignored("Merge Request Hook", &v.to_string());
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Repository(
            "example.com/gitlabhq/elsewhere".into()
        ))
    );

    let mut bad = merge_request("merge");
    bad["object_attributes"]["created_at"] = Value::Null;
    bad["object_attributes"]["last_commit"]["id"] = json!(["x"]);
    let errs = errors("Merge Request Hook", &bad.to_string());
    assert!(errs.contains(&("/object_attributes/created_at".into(), "is required".into())));
    assert!(errs.contains(&(
        "/object_attributes/last_commit/id".into(),
        "must be a string".into()
    )));
}

// ---- issues of type incident ----

fn issue(action: &str, state: &str, kind: &str) -> Value {
    json!({
        "object_kind": "issue",
        "event_type": "issue",
        "project": {
            "web_url": "http://example.com/gitlabhq/gitlab-test",
            "path_with_namespace": "gitlabhq/gitlab-test",
        },
        "object_attributes": {
            "id": 301, "iid": 23,
            "title": "Checkout is down",
            "created_at": "2013-12-03T17:15:43Z",
            "updated_at": "2013-12-03 18:00:00 UTC",
            "closed_at": if state == "closed" { json!("2013-12-03 17:45:00 UTC") } else { Value::Null },
            "type": kind,
            "url": "http://example.com/gitlabhq/gitlab-test/-/issues/23",
            "state": state,
            "action": action,
            "severity": "high",
        }
    })
}

#[test]
fn an_opened_incident_starts_at_its_creation() {
    let expected = IncidentWrite {
        service: Some(GITLAB_TEST),
        key: IncidentKey::parse("gitlabhq/gitlab-test#23").unwrap(),
        title: Some("Checkout is down".into()),
        started_at: Some(ts("2013-12-03T17:15:43Z")),
        resolved_at: None,
        cause: None,
        fixed_by: None,
        is_incident: true,
        source: "gitlab".into(),
        attributes: json!({
            "url": "http://example.com/gitlabhq/gitlab-test/-/issues/23",
            "severity": "high",
            "state": "opened",
        }),
        times: IncidentTimes::Lifecycle,
        reopened_at: None,
    };
    let body = issue("open", "opened", "Incident").to_string();
    assert_eq!(
        commands("Issue Hook", &body),
        vec![Command::Incident(expected)]
    );
}

#[test]
fn closing_resolves_and_reopening_opens_again() {
    let closed = incident(&issue("close", "closed", "Incident").to_string());
    assert_eq!(closed.resolved_at, Some(ts("2013-12-03T17:45:00Z")));
    assert_eq!(closed.started_at, Some(ts("2013-12-03T17:15:43Z")));
    assert_eq!(closed.reopened_at, None);
    assert_eq!(closed.times, IncidentTimes::Lifecycle);

    // An edit of a closed incident still says when it was resolved.
    let edited = incident(&issue("update", "closed", "Incident").to_string());
    assert_eq!(edited.resolved_at, Some(ts("2013-12-03T17:45:00Z")));
    let mut no_closed_at = issue("close", "closed", "Incident");
    no_closed_at["object_attributes"]["closed_at"] = Value::Null;
    assert_eq!(
        incident(&no_closed_at.to_string()).resolved_at,
        Some(ts("2013-12-03T18:00:00Z"))
    );

    let reopened = incident(&issue("reopen", "opened", "Incident").to_string());
    assert_eq!(reopened.reopened_at, Some(ts("2013-12-03T18:00:00Z")));
    assert_eq!(reopened.resolved_at, None);
    assert_eq!(reopened.key, closed.key);
}

#[test]
fn incidents_are_known_by_either_type_field_and_as_work_items() {
    for kind in ["INCIDENT", "incident", "Incident"] {
        let i = incident(&issue("open", "opened", kind).to_string());
        assert!(i.is_incident, "{kind}");
    }
    let mut old = issue("open", "opened", "Issue");
    old["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    old["object_attributes"]["issue_type"] = json!("incident");
    assert_eq!(
        incident(&old.to_string()).key.as_str(),
        "gitlabhq/gitlab-test#23"
    );

    let mut item = issue("close", "closed", "Incident");
    item["object_kind"] = json!("work_item");
    item["event_type"] = json!("work_item");
    let w = match one("Work Item Hook", &item.to_string()) {
        Command::Incident(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(w.resolved_at, Some(ts("2013-12-03T17:45:00Z")));
}

#[test]
fn issues_that_are_not_incidents_are_ignored() {
    for kind in ["Issue", "Task", "Epic"] {
        let i = ignored("Issue Hook", &issue("open", "opened", kind).to_string());
        assert!(i.reason.contains("not an incident"), "{i:?}");
    }
    let mut untyped = issue("open", "opened", "Issue");
    untyped["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    ignored("Issue Hook", &untyped.to_string());
}

#[test]
fn an_incident_of_an_unmapped_project_is_ignored_and_a_bad_one_refused() {
    let mut v = issue("open", "opened", "Incident");
    v["project"]["web_url"] = json!("http://example.com/gitlabhq/other");
    assert_eq!(
        ignored("Issue Hook", &v.to_string()).unmapped,
        Some(Unmapped::Repository("example.com/gitlabhq/other".into()))
    );

    let mut bad = issue("open", "opened", "Incident");
    bad["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("iid");
    bad["object_attributes"]["created_at"] = json!("someday");
    bad["project"]
        .as_object_mut()
        .unwrap()
        .remove("path_with_namespace");
    let errs = errors("Issue Hook", &bad.to_string());
    assert!(errs.contains(&("/object_attributes/iid".into(), "is required".into())));
    assert!(errs.contains(&("/project/path_with_namespace".into(), "is required".into())));
    assert!(
        errs.iter()
            .any(|(p, _)| p == "/object_attributes/created_at")
    );
}

// ---- pipelines ----

const PIPELINE_NAME: &str = "Pipeline for branch: master";

#[test]
fn the_pipeline_sample_is_a_deployment_when_named_as_one() {
    let (repo, repo_key) = repo("http://192.168.64.1:3005/gitlab-org/gitlab-test");
    let finished = ts("2016-08-12T15:26:29Z");
    let expected = DeploymentWrite {
        service: GITLAB_TEST,
        external_id: Some(ExternalId::parse("gitlab:pipeline:31").unwrap()),
        name: Some(PIPELINE_NAME.into()),
        environment: Environment::production(),
        result: DeployResult::Success,
        started_at: Some(ts("2016-08-12T15:23:28Z")),
        finished_at: Some(finished),
        commits: vec![DeployedCommit {
            repo,
            repo_key,
            sha: sha("bcbb5ec396a2c0f828686f14fac9b80b780504f2"),
        }],
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "gitlab".into(),
        attributes: json!({
            "ref": "master",
            "url": "http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
            "pipeline_source": "merge_request_event",
        }),
        state_at: Some(finished),
    };
    let config = deploy_config(&["pipeline for branch: MASTER"]);
    assert_eq!(
        commands_with(&config, "Pipeline Hook", PIPELINE),
        vec![Command::Deployment(expected)]
    );
}

#[test]
fn a_pipeline_not_named_as_a_deploy_pipeline_is_ignored() {
    let i = ignored("Pipeline Hook", PIPELINE);
    assert!(i.reason.contains("--deploy-workflow NAME"), "{i:?}");
    assert!(i.reason.contains(PIPELINE_NAME));
    let other = ignored_with(&deploy_config(&["deploy"]), "Pipeline Hook", PIPELINE);
    assert!(other.reason.contains("--deploy-workflow NAME"));

    // Without workflow:name the ref is no name: it would make every
    // pipeline of a branch a deployment.
    let unnamed = patched(PIPELINE, &[("/object_attributes/name", Some(Value::Null))]);
    let config = deploy_config(&["master"]);
    let i = ignored_with(&config, "Pipeline Hook", &unnamed);
    assert!(i.reason.contains("workflow:name"), "{i:?}");
    assert!(i.reason.contains("--deploy-workflow NAME"));
}

#[test]
fn only_finished_deploy_pipelines_are_deployments() {
    let config = deploy_config(&[PIPELINE_NAME]);
    let with_status = |s: &str| patched(PIPELINE, &[("/object_attributes/status", Some(json!(s)))]);
    let failed = deployment_with(&config, "Pipeline Hook", &with_status("failed"));
    assert_eq!(failed.result, DeployResult::Failure);
    let canceled = deployment_with(&config, "Pipeline Hook", &with_status("canceled"));
    assert_eq!(canceled.result, DeployResult::Aborted);
    assert_eq!(canceled.finished_at, Some(ts("2016-08-12T15:26:29Z")));
    for s in [
        "created",
        "pending",
        "running",
        "manual",
        "skipped",
        "scheduled",
    ] {
        let i = ignored_with(&config, "Pipeline Hook", &with_status(s));
        assert!(i.reason.contains("has not finished"), "{s}: {i:?}");
    }
    // A finished pipeline without its finish time finishes "now".
    let no_end = patched(PIPELINE, &[("/object_attributes/finished_at", None)]);
    let d = deployment_with(&config, "Pipeline Hook", &no_end);
    assert_eq!((d.finished_at, d.state_at), (Some(now()), None));
}

#[test]
fn a_deploy_pipeline_of_an_unmapped_project_is_ignored_and_a_bad_one_refused() {
    let config = deploy_config(&[PIPELINE_NAME]);
    let elsewhere = patched(
        PIPELINE,
        &[(
            "/project/web_url",
            Some(json!("https://gitlab.example.com/x/y")),
        )],
    );
    assert_eq!(
        ignored_with(&config, "Pipeline Hook", &elsewhere).unmapped,
        Some(Unmapped::Repository("gitlab.example.com/x/y".into()))
    );
    let bad = patched(
        PIPELINE,
        &[
            ("/object_attributes/sha", None),
            ("/object_attributes/id", Some(json!(1.5))),
            (
                "/object_attributes/created_at",
                Some(json!("2016-08-12 25:00:00 UTC")),
            ),
        ],
    );
    match read_with(&config, "Pipeline Hook", bad.as_bytes()) {
        Err(HookError::Invalid(v)) => {
            let ptrs: Vec<&str> = v.errors.iter().map(|e| e.pointer.as_str()).collect();
            for p in [
                "/object_attributes/sha",
                "/object_attributes/id",
                "/object_attributes/created_at",
            ] {
                assert!(ptrs.contains(&p), "{p}: {ptrs:?}");
            }
        }
        other => panic!("{other:?}"),
    }
}

// ---- everything else ----

#[test]
fn other_events_are_ignored_by_name() {
    let note = json!({"object_kind": "note", "project": {"web_url": "http://example.com/a/b"}});
    let i = ignored("Note Hook", &note.to_string());
    assert_eq!(i.reason, "GitLab event 'Note Hook' is not one Dorado reads");
    assert_eq!(
        ignored("", &note.to_string()).reason,
        "GitLab event 'note' is not one Dorado reads"
    );
    let member = json!({"event_name": "user_add_to_group", "group_id": 100});
    assert!(
        ignored("Member Hook", &member.to_string())
            .reason
            .contains("'Member Hook'")
    );
    assert!(ignored("", "{}").reason.contains("(unnamed)"));
    for kind in [
        "build",
        "wiki_page",
        "release",
        "feature_flag",
        "emoji",
        "milestone",
    ] {
        ignored("", &json!({"object_kind": kind}).to_string());
    }
}

#[test]
fn the_body_decides_over_the_header() {
    // A push whose header says otherwise is read as a push.
    assert_eq!(changes("Issue Hook", PUSH).commits.len(), 2);
    // A body without object_kind is read by its header.
    let bare = patched(PUSH, &[("/object_kind", None), ("/event_name", None)]);
    assert_eq!(changes("Push Hook", &bare).commits.len(), 2);
    assert!(ignored("Note Hook", &bare).reason.contains("'Note Hook'"));
}

#[test]
fn bodies_that_are_no_gitlab_payload_are_refused() {
    for (body, pointer) in [("[]", ""), ("7", ""), ("\"push\"", "")] {
        fails("Push Hook", body, pointer, "must be a JSON object");
    }
    assert!(matches!(
        read("Push Hook", ""),
        Err(HookError::Syntax { .. })
    ));
    assert!(matches!(
        read("Push Hook", "{\"object_kind\":"),
        Err(HookError::Syntax { .. })
    ));
    fails(
        "Push Hook",
        r#"{"object_kind": "push", "commits": [{"id": "a"}]}"#,
        "/project/web_url",
        "is required",
    );
}

// ---- robustness ----

/// Reads a body, and checks what any answer must satisfy.
fn check(config: &SourceConfig, body: &[u8]) {
    let result = std::panic::catch_unwind(|| read_with(config, "Push Hook", body));
    let Ok(result) = result else {
        panic!("panicked on {:?}", String::from_utf8_lossy(body));
    };
    match result {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Commands(c),
            ..
        }) => assert!(!c.is_empty()),
        Ok(SourceDelivery {
            outcome: SourceOutcome::Ignored(i),
            ..
        }) => assert!(!i.reason.is_empty()),
        Err(HookError::Invalid(v)) => assert!(!v.errors.is_empty()),
        Err(HookError::Syntax { line, .. }) => assert!(line >= 1),
    }
}

fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(1e308),
        json!(""),
        json!(" "),
        json!("é"),
        json!("\u{0}"),
        json!("😀".repeat(300)),
        json!("x".repeat(20_000)),
        json!("0".repeat(40)),
        json!("2024-01-01 10:00:00 +99"),
        json!("éééééééé +1"),
        json!("2024-01-01 é UTC"),
        json!("merge"),
        json!("INCIDENT"),
        json!("closed"),
        json!([]),
        json!([null, 1]),
        json!({}),
    ]
}

fn samples() -> Vec<String> {
    let mut issue_closed = issue("close", "closed", "Incident");
    issue_closed["object_kind"] = json!("work_item");
    vec![
        PUSH.to_owned(),
        DEPLOYMENT.to_owned(),
        PIPELINE.to_owned(),
        merge_request("merge").to_string(),
        issue("reopen", "opened", "Incident").to_string(),
        issue_closed.to_string(),
    ]
}

#[test]
fn every_field_replaced_by_odd_values_never_panics() {
    let config = deploy_config(&[PIPELINE_NAME]);
    for body in samples() {
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        for p in &ptrs {
            for odd in odd_values() {
                let mut m = v.clone();
                *m.pointer_mut(p).unwrap() = odd;
                check(&config, m.to_string().as_bytes());
            }
        }
    }
}

#[test]
fn truncated_and_garbled_bodies_never_panic() {
    let config = deploy_config(&[PIPELINE_NAME]);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for body in samples() {
        let bytes = body.as_bytes();
        for end in 0..bytes.len() {
            check(&config, &bytes[..end]);
        }
        for _ in 0..200 {
            let mut b = bytes.to_vec();
            for _ in 0..(1 + next() % 4) {
                let at = (next() % b.len() as u64) as usize;
                const JSONISH: &[u8] = b"{}[]\",:0-.eE \\/\x00\xff";
                b[at] = JSONISH[(next() % JSONISH.len() as u64) as usize];
            }
            check(&config, &b);
        }
    }
    for junk in [
        &b"\xEF\xBB\xBF{}"[..],
        b"\xff\xfe",
        b"null",
        b"{\"object_kind\":null}",
    ] {
        check(&config, junk);
    }
}
