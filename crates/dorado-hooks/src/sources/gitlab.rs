//! GitLab's project and group webhooks (semantics.md, "Sources of data"):
//! pushes, merged merge requests, issues of type incident, deployments, and
//! finished pipelines that the source names as deploy pipelines.
//!
//! The body's `object_kind` says what an event is: the `X-Gitlab-Event`
//! header is only a fallback, since system hooks and test deliveries name
//! themselves differently there.

use super::{SourceConfig, SourceDelivery, SourceOutcome, service_of_repo, str_at};
use crate::Context;
use crate::json::{Attributes, Errors, MAX_SHORT, Obj, quote};
use crate::native::{all, default_finish};
use dorado_core::source::vendor_environment;
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentTimes, IncidentWrite,
    MergedRequest, RepoKey, ServiceId, Sha,
};
use serde_json::Value;

const SOURCE: &str = "gitlab";
/// How many commits of a push GitLab sends at most.
const PUSH_LIMIT: usize = 20;

pub(crate) fn read(
    event: &str,
    body: &Value,
    config: &SourceConfig,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<SourceDelivery> {
    let root = Obj::new(body, String::new(), crate::native::OBJECT, errs)?;
    let kind = kind_of(event, body);
    let outcome = match kind.as_str() {
        "push" => push(&root, body, ctx, errs),
        "tag_push" => Some(SourceOutcome::ignored(
            "a GitLab tag push stores nothing: its commits arrive with the branch pushes",
        )),
        "merge_request" => merge_request(&root, body, ctx, errs),
        "issue" | "work_item" => issue(&root, body, ctx, errs),
        "deployment" => deployment(&root, body, ctx, errs),
        "pipeline" => pipeline(&root, body, config, ctx, errs),
        _ => {
            let shown = match event.trim() {
                "" if kind.is_empty() => "(unnamed)",
                "" => kind.as_str(),
                header => header,
            };
            Some(SourceOutcome::ignored(format!(
                "GitLab event {} is not one Dorado reads",
                quote(shown)
            )))
        }
    }?;
    Some(SourceDelivery {
        outcome,
        dedupe_key: None,
    })
}

/// The event's kind in the body's own words; system hooks name pushes only
/// by `event_name`, and a body naming neither is read by its header.
fn kind_of(event: &str, body: &Value) -> String {
    if let Some(kind) = str_at(body, "/object_kind").or_else(|| str_at(body, "/event_name")) {
        return kind.to_ascii_lowercase();
    }
    let header = event.trim().to_ascii_lowercase();
    match header.as_str() {
        "push hook" => "push",
        "tag push hook" => "tag_push",
        "merge request hook" => "merge_request",
        "issue hook" | "confidential issue hook" | "work item hook" => "issue",
        "deployment hook" => "deployment",
        "pipeline hook" => "pipeline",
        _ => "",
    }
    .to_owned()
}

fn ignored(reason: impl Into<String>) -> Option<SourceOutcome> {
    Some(SourceOutcome::ignored(reason))
}

/// A push (semantics.md): the pushed commits, each the parent of the next.
fn push(root: &Obj, body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceOutcome> {
    let after = str_at(body, "/after");
    if after.is_some_and(super::is_zero) {
        return ignored("the push deletes a branch, which stores nothing");
    }
    let list = root.field("commits");
    let items = if list.is_present() {
        list.items(errs)?
    } else {
        Vec::new()
    };
    if items.is_empty() {
        return ignored("the push brings no new commits");
    }
    let repo = repository(body, errs);
    if let Err(ignored) = mapped(ctx, repo.as_ref()) {
        return Some(ignored);
    }
    let before = root.field("before");
    let before = match str_at(body, "/before") {
        Some(b) if super::is_zero(b) => None,
        _ => before.parse(errs, Sha::parse),
    };
    let read = items
        .iter()
        .map(|f| f.object(errs).and_then(|o| super::pushed_commit(&o, errs)))
        .collect();
    let commits = all(read);
    let (repo, repo_key) = repo?;
    let mut commits = commits?;
    // GitLab lists a push's commits oldest first (its push data builder
    // keeps the newest 20 "ASC"), but the "Test" button of a hook's
    // settings sends the branch's last commits newest first. Either way
    // `after` is the newest, so a list that starts with it is turned round.
    if commits.len() > 1
        && let Some(after) = after
        && commits[0].sha.as_str().eq_ignore_ascii_case(after)
        && !commits[commits.len() - 1]
            .sha
            .as_str()
            .eq_ignore_ascii_case(after)
    {
        commits.reverse();
    }
    // Of a longer push GitLab sends only the newest 20 commits, the first
    // of which then descends from a commit not in the list. Only a full
    // list counts as cut short: GitLab's own documented sample counts 4
    // commits and lists 2 of a chain from `before`.
    let cut = commits.len() >= PUSH_LIMIT
        && body
            .pointer("/total_commits_count")
            .and_then(Value::as_u64)
            .is_some_and(|total| total > commits.len() as u64);
    super::chain(&mut commits, if cut { None } else { before });
    Some(SourceOutcome::Commands(vec![Command::Changes(
        ChangeBatch {
            repo,
            repo_key,
            commits,
        },
    )]))
}

/// A merged merge request: its merge commit, remembering the request.
fn merge_request(
    root: &Obj,
    body: &Value,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<SourceOutcome> {
    let action = str_at(body, "/object_attributes/action");
    if !action.is_some_and(|a| a.eq_ignore_ascii_case("merge")) {
        return ignored(format!(
            "a merge request's {} changes nothing: only merges are read",
            action.map_or_else(|| "event".to_owned(), |a| format!("action {}", quote(a)))
        ));
    }
    let attrs = root.field("object_attributes").required().object(errs)?;
    let repo = repository(body, errs);
    if let Err(ignored) = mapped(ctx, repo.as_ref()) {
        return Some(ignored);
    }
    let last = attrs.field("last_commit");
    let head = if last.is_present() {
        last.object(errs)
            .and_then(|o| o.field("id").parse(errs, Sha::parse))
    } else {
        None
    };
    // A fast-forward merge makes no merge commit; a squashed one may name
    // only its squash commit; without either, the request's last commit is
    // what landed.
    let merge = attrs.field("merge_commit_sha").parse(errs, Sha::parse);
    let squash = attrs.field("squash_commit_sha").parse(errs, Sha::parse);
    let opened_at = attrs.field("created_at").required().time(errs);
    let merged_at = attrs.field("merged_at");
    let committed_at = if merged_at.is_present() {
        merged_at.time(errs)
    } else {
        attrs.field("updated_at").time(errs)
    };
    let Some(sha) = merge.or(squash).or_else(|| head.clone()) else {
        errs.add(
            attrs.ptr("merge_commit_sha"),
            "is required: the merge names no commit (no merge_commit_sha nor last_commit.id)",
        );
        return None;
    };
    let (repo, repo_key) = repo?;
    let request = MergedRequest {
        opened_at: opened_at?,
        head,
        base: None,
        commits: None,
    };
    Some(SourceOutcome::Commands(vec![Command::Changes(
        ChangeBatch {
            repo,
            repo_key,
            commits: vec![ChangeWrite {
                sha,
                parents: Vec::new(),
                committed_at,
                authored_at: None,
                // The merge commit's own author and message arrive with the
                // push, and a write only fills in what is missing.
                author: None,
                message: None,
                request: Some(request),
            }],
        },
    )]))
}

/// An issue (or, from GitLab 17, a work item) of type incident.
fn issue(root: &Obj, body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceOutcome> {
    let attrs = root.field("object_attributes").required().object(errs)?;
    // GitLab has named the type `issue_type` ("incident") and, since work
    // items, `type` ("Incident").
    let incident = ["/object_attributes/type", "/object_attributes/issue_type"]
        .iter()
        .any(|p| str_at(body, p).is_some_and(|t| t.eq_ignore_ascii_case("incident")));
    if !incident {
        return ignored(
            "the issue is not an incident: only GitLab issues of type incident are read",
        );
    }
    let repo = repository(body, errs);
    let service = match mapped(ctx, repo.as_ref()) {
        Ok(service) => service,
        Err(ignored) => return Some(ignored),
    };
    let path = match str_at(body, "/project/path_with_namespace") {
        Some(path) => Some(path),
        None => {
            errs.add("/project/path_with_namespace", "is required");
            None
        }
    };
    let iid = attrs.field("iid").required().key(MAX_SHORT, errs);
    let key = match (path, iid) {
        (Some(path), Some(iid)) => IncidentKey::parse(&format!("{path}#{iid}"))
            .map_err(|e| {
                errs.add(
                    "/project/path_with_namespace",
                    format!("makes no incident key with the iid: the key {e}"),
                )
            })
            .ok(),
        _ => None,
    };
    let title = attrs.field("title").clipped(MAX_SHORT, errs);
    let started_at = attrs.field("created_at").time(errs);
    let updated_at = attrs.field("updated_at").time(errs);
    let closed_at = attrs.field("closed_at").time(errs);
    let closed =
        str_at(body, "/object_attributes/state").is_some_and(|s| s.eq_ignore_ascii_case("closed"));
    let reopen =
        str_at(body, "/object_attributes/action").is_some_and(|a| a.eq_ignore_ascii_case("reopen"));
    let resolved_at = closed.then(|| closed_at.or(updated_at).unwrap_or(ctx.received_at));
    let reopened_at = reopen.then(|| updated_at.unwrap_or(ctx.received_at));
    let mut attributes = Attributes::default();
    attributes.put("url", str_at(body, "/object_attributes/url"));
    attributes.put("severity", str_at(body, "/object_attributes/severity"));
    attributes.put("state", str_at(body, "/object_attributes/state"));
    repo?;
    Some(SourceOutcome::Commands(vec![Command::Incident(
        IncidentWrite {
            service,
            key: key?,
            title,
            started_at,
            resolved_at,
            cause: None,
            fixed_by: None,
            is_incident: true,
            source: SOURCE.into(),
            attributes: attributes.into_value(),
            times: IncidentTimes::Lifecycle,
            reopened_at,
        },
    )]))
}

/// A deployment hook: one state of one deployment, in any order.
fn deployment(root: &Obj, body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceOutcome> {
    let repo = repository(body, errs);
    let service = match mapped(ctx, repo.as_ref()) {
        Ok(service) => service,
        Err(ignored) => return Some(ignored),
    };
    let external_id = root
        .field("deployment_id")
        .required()
        .parse_key(errs, |id| {
            ExternalId::parse(&format!("gitlab:deployment:{id}"))
        });
    let status = root.field("status").required().text(MAX_SHORT, errs);
    let at = root.field("status_changed_at").time(errs);
    let environment = environment(root, body, errs);
    let sha = deployed_sha(body, errs);
    let status = status?;
    let result = match status.to_ascii_lowercase().as_str() {
        "running" => DeployResult::InProgress,
        "success" => DeployResult::Success,
        "failed" => DeployResult::Failure,
        "canceled" | "cancelled" => DeployResult::Aborted,
        _ => DeployResult::Pending,
    };
    let started_at = (result == DeployResult::InProgress).then_some(at).flatten();
    let finished_at = match result {
        DeployResult::InProgress | DeployResult::Pending => None,
        _ => at.or_else(|| default_finish(result, ctx)),
    };
    let mut attributes = Attributes::default();
    attributes.put("status", Some(status));
    attributes.put("deployable_url", str_at(body, "/deployable_url"));
    attributes.put(
        "user",
        str_at(body, "/user/username").or_else(|| str_at(body, "/user/name")),
    );
    attributes.put("ref", str_at(body, "/ref"));
    let (repo, repo_key) = repo?;
    let commits = match sha {
        Some(sha) => vec![DeployedCommit {
            repo,
            repo_key,
            sha,
        }],
        None => Vec::new(),
    };
    Some(SourceOutcome::Commands(vec![Command::Deployment(
        DeploymentWrite {
            service: service?,
            external_id: Some(external_id?),
            name: None,
            environment: environment?,
            result,
            started_at,
            finished_at,
            commits,
            shipped: None,
            kind: DeploymentKind::Normal,
            rework: false,
            lead_time_seconds: None,
            source: SOURCE.into(),
            attributes: attributes.into_value(),
            state_at: at,
        },
    )]))
}

/// GitLab's `production` tier is production whatever the environment's
/// name; other environments go by their name.
fn environment(root: &Obj, body: &Value, errs: &mut Errors) -> Option<Environment> {
    if str_at(body, "/environment_tier").is_some_and(|t| t.eq_ignore_ascii_case("production")) {
        return Some(Environment::production());
    }
    root.field("environment")
        .required()
        .parse(errs, vendor_environment)
}

/// The deployed commit: the full sha ends `commit_url`; `short_sha` is
/// what is left when the URL does not end in one.
fn deployed_sha(body: &Value, errs: &mut Errors) -> Option<Sha> {
    let from_url = str_at(body, "/commit_url").and_then(|url| {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let last = path.trim_end_matches('/').rsplit('/').next()?;
        Sha::parse_full_hex(last).ok()
    });
    if from_url.is_some() {
        return from_url;
    }
    let short = str_at(body, "/short_sha")?;
    Sha::parse(short)
        .map_err(|e| errs.add("/short_sha", e))
        .ok()
}

/// A finished pipeline the source names as a deploy pipeline.
fn pipeline(
    root: &Obj,
    body: &Value,
    config: &SourceConfig,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<SourceOutcome> {
    let attrs = root.field("object_attributes").required().object(errs)?;
    // Only `workflow:name` names a pipeline (GitLab 16.1 and later): the ref
    // is no name, since a branch's every pipeline, tests included, would
    // then be a deployment.
    let Some(name) = str_at(body, "/object_attributes/name") else {
        return ignored(
            "the pipeline has no name: name deploy pipelines with workflow:name in .gitlab-ci.yml and mark the name with --deploy-workflow NAME",
        );
    };
    if !config.is_deploy_workflow(name) {
        return ignored(format!(
            "the pipeline {} is not a deploy pipeline of this source: mark it as one with --deploy-workflow NAME",
            quote(name)
        ));
    }
    let status = str_at(body, "/object_attributes/status").unwrap_or_default();
    let result = match status.to_ascii_lowercase().as_str() {
        "success" => DeployResult::Success,
        "failed" => DeployResult::Failure,
        "canceled" | "cancelled" => DeployResult::Aborted,
        _ => {
            return ignored(format!(
                "the deploy pipeline {} has not finished (status {}): its finish is read",
                quote(name),
                quote(status)
            ));
        }
    };
    let repo = repository(body, errs);
    let service = match mapped(ctx, repo.as_ref()) {
        Ok(service) => service,
        Err(ignored) => return Some(ignored),
    };
    let external_id = attrs.field("id").required().parse_key(errs, |id| {
        ExternalId::parse(&format!("gitlab:pipeline:{id}"))
    });
    let sha = attrs.field("sha").required().parse(errs, Sha::parse);
    let started_at = attrs.field("created_at").time(errs);
    let finished = attrs.field("finished_at").time(errs);
    let mut attributes = Attributes::default();
    attributes.put("ref", str_at(body, "/object_attributes/ref"));
    attributes.put("url", str_at(body, "/object_attributes/url"));
    attributes.put("pipeline_source", str_at(body, "/object_attributes/source"));
    let (repo, repo_key) = repo?;
    Some(SourceOutcome::Commands(vec![Command::Deployment(
        DeploymentWrite {
            service: service?,
            external_id: Some(external_id?),
            name: Some(name.chars().take(MAX_SHORT).collect()),
            environment: Environment::production(),
            result,
            started_at,
            finished_at: finished.or(Some(ctx.received_at)),
            commits: vec![DeployedCommit {
                repo,
                repo_key,
                sha: sha?,
            }],
            shipped: None,
            kind: DeploymentKind::Normal,
            rework: false,
            lead_time_seconds: None,
            source: SOURCE.into(),
            attributes: attributes.into_value(),
            state_at: finished,
        },
    )]))
}

/// Where GitLab names the project's repository, best first.
const REPO_AT: [&str; 4] = [
    "/project/web_url",
    "/project/git_http_url",
    "/project/homepage",
    "/repository/homepage",
];

/// The project's repository, as GitLab wrote it and as the engine matches it.
fn repository(body: &Value, errs: &mut Errors) -> Option<(String, RepoKey)> {
    let Some((at, url)) = REPO_AT
        .iter()
        .find_map(|at| str_at(body, at).map(|url| (*at, url)))
    else {
        errs.add(REPO_AT[0], "is required: it names the project's repository");
        return None;
    };
    match RepoKey::parse(url) {
        Ok(key) => Some((url.to_owned(), key)),
        Err(e) => {
            errs.add(at, e);
            None
        }
    }
}

/// The service of the repository read (none when it could not be read),
/// or why the delivery is ignored when it maps to no service.
fn mapped(
    ctx: &Context,
    repo: Option<&(String, RepoKey)>,
) -> Result<Option<ServiceId>, SourceOutcome> {
    match repo {
        Some((_, key)) => service_of_repo(ctx, key)
            .map(Some)
            .map_err(SourceOutcome::Ignored),
        None => Ok(None),
    }
}
