//! Apache DevLake's incoming webhook (seeds 002 and 003) in both payload
//! generations: the snake_case one of the docs (`repo_url`, `commit_sha`,
//! `start_time`, `deploymentCommits: [{repo_url, commit_sha}]`) and DevLake
//! 1.0's camelCase one (`id`, `startedDate`, `finishedDate`,
//! `deploymentCommits: [{repoUrl, commitSha}]`). Every field is read under
//! either spelling, since real scripts mix them; giving both spellings of
//! one field is refused. The service is the connection id of the path.
//!
//! Deviations from DevLake, all towards accepting more: `start_time` may be
//! left out (Dorado's figures never use it), `environment` may be any word,
//! `status` and `type` are read in any case.

use crate::Context;
use crate::json::{Attributes, Errors, Field, MAX_LONG, MAX_SHORT, Obj};
use crate::native::{OBJECT, all, deployed, in_order, path_key};
use dorado_core::{
    Command, DeployResult, DeployedCommit, DeploymentKind, DeploymentWrite, Environment,
    ExternalId, IncidentKey, IncidentResolve, IncidentWrite, ServiceId,
};
use serde_json::Value;

const SOURCE: &str = "devlake";

pub(crate) fn deployment(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let service = service(ctx, errs);
    let mut attrs = Attributes::default();
    let external_id = obj.field("id").parse_key(errs, ExternalId::parse);
    let started_at = obj.either(&["start_time", "startedDate"], errs).time(errs);
    let end = obj.either(&["end_time", "finishedDate"], errs);
    let finished_at = end.time(errs);
    in_order(started_at, finished_at, &end, "the start time", errs);
    let created = obj.either(&["create_time", "createdDate"], errs).time(errs);
    attrs.put("create_time", created.map(|t| t.to_string()));
    let result = obj.field("result").parse(errs, DeployResult::parse);
    let environment = obj.field("environment").parse(errs, Environment::parse);
    let name = obj.field("name").text(MAX_SHORT, errs);
    attrs.put("name", name.clone());
    for key in ["pipeline_id", "repo_id"] {
        attrs.put(key, dual(&obj, key, errs).key(MAX_SHORT, errs));
    }
    for key in ["ref_name", "display_title", "original_environment"] {
        attrs.put(key, dual(&obj, key, errs).text(MAX_SHORT, errs));
    }
    attrs.put(
        "commit_msg",
        dual(&obj, "commit_msg", errs).text(MAX_LONG, errs),
    );

    // As in DevLake, a `deploymentCommits` list replaces the top-level
    // `repo_url` and `commit_sha`.
    let list = dual(&obj, "deployment_commits", errs);
    let commits = if list.is_present() {
        list.items(errs).and_then(|items| {
            if items.is_empty() {
                errs.add(list.ptr(), "must hold at least one commit");
                return None;
            }
            let mut extras = Vec::new();
            let read = items
                .iter()
                .map(|f| {
                    let (commit, extra) = deployment_commit(f, errs)?;
                    extras.push(extra);
                    Some(commit)
                })
                .collect();
            attrs.put("deployment_commits", Some(Value::Array(extras)));
            all(read)
        })
    } else {
        let (repo_url, sha) = (dual(&obj, "repo_url", errs), dual(&obj, "commit_sha", errs));
        deployed(&repo_url, &sha, errs).map(|c| vec![c])
    };

    let commits = commits?;
    let name = name.unwrap_or_else(|| default_name(&commits));
    Some(vec![Command::Deployment(DeploymentWrite {
        service: service?,
        external_id,
        name: Some(name),
        environment: environment.unwrap_or_else(Environment::production),
        result: result.unwrap_or(DeployResult::Success),
        started_at,
        finished_at: Some(finished_at.unwrap_or(ctx.received_at)),
        commits,
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: SOURCE.into(),
        attributes: attrs.into_value(),
        state_at: None,
    })])
}

/// One `deploymentCommits` entry, and what it carries beyond the commit.
fn deployment_commit(f: &Field, errs: &mut Errors) -> Option<(DeployedCommit, Value)> {
    let o = f.object(errs)?;
    let repo_url = dual(&o, "repo_url", errs);
    let sha = dual(&o, "commit_sha", errs);
    let commit = deployed(&repo_url, &sha, errs);
    let mut extra = Attributes::default();
    extra.put("repo_id", dual(&o, "repo_id", errs).key(MAX_SHORT, errs));
    for key in ["name", "ref_name", "display_title", "result", "status"] {
        extra.put(key, dual(&o, key, errs).text(MAX_SHORT, errs));
    }
    extra.put(
        "commit_msg",
        dual(&o, "commit_msg", errs).text(MAX_LONG, errs),
    );
    for key in ["created_date", "started_date", "finished_date"] {
        extra.put(key, dual(&o, key, errs).time(errs).map(|t| t.to_string()));
    }
    Some((commit?, extra.into_value()))
}

/// DevLake's name for a deployment that has none.
fn default_name(commits: &[DeployedCommit]) -> String {
    let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
    format!("deployment for {}", shas.join(","))
}

pub(crate) fn issue(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let service = service(ctx, errs);
    let key = dual(&obj, "issue_key", errs)
        .required()
        .parse_key(errs, IncidentKey::parse);
    let title = obj.field("title").required().text(MAX_SHORT, errs);
    let created = dual(&obj, "created_date", errs).required();
    let started_at = created.time(errs);
    let resolution = dual(&obj, "resolution_date", errs);
    let resolved_at = resolution.time(errs);
    in_order(started_at, resolved_at, &resolution, "created_date", errs);

    let mut attrs = Attributes::default();
    let kind = obj.field("type").text(MAX_SHORT, errs);
    let is_incident = kind
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("INCIDENT"));
    attrs.put("type", kind);
    let status = obj.field("status").parse(errs, status);
    // Posted again open (TODO or IN_PROGRESS, no resolution date) after it
    // was resolved, the issue is open again from the time of the request,
    // as semantics.md says of reopened incidents. A post that names no
    // status says nothing about it, and leaves a resolution as it is.
    let reopened_at = (resolved_at.is_none() && status.as_deref().is_some_and(|s| s != "DONE"))
        .then_some(ctx.received_at);
    attrs.put("status", status);
    attrs.put("description", obj.field("description").text(MAX_LONG, errs));
    attrs.put(
        "updated_date",
        dual(&obj, "updated_date", errs)
            .time(errs)
            .map(|t| t.to_string()),
    );
    for key in [
        "url",
        "epic_key",
        "original_status",
        "priority",
        "severity",
        "component",
    ] {
        attrs.put(key, dual(&obj, key, errs).text(MAX_SHORT, errs));
    }
    for key in ["creator_name", "assignee_name", "board_key"] {
        attrs.put(key, dual(&obj, key, errs).text(MAX_SHORT, errs));
    }
    for key in ["parent_issue_key", "creator_id", "assignee_id"] {
        attrs.put(key, dual(&obj, key, errs).key(MAX_SHORT, errs));
    }
    for key in [
        "story_point",
        "lead_time_minutes",
        "original_estimate_minutes",
        "time_spent_minutes",
        "time_remaining_minutes",
    ] {
        attrs.put(key, dual(&obj, key, errs).number(errs));
    }

    Some(vec![Command::Incident(IncidentWrite {
        service: Some(service?),
        key: key?,
        title: Some(title?),
        started_at: Some(started_at?),
        resolved_at,
        cause: None,
        fixed_by: None,
        // Other issue types are kept, as DevLake keeps them, but the
        // figures ignore them.
        is_incident,
        source: SOURCE.into(),
        attributes: attrs.into_value(),
        times: Default::default(),
        reopened_at,
    })])
}

/// `close` resolves at the time of the request, but never moves an earlier
/// resolution date, as DevLake only marks the issue done.
pub(crate) fn close(key: &str, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let service = service(ctx, errs);
    let key = path_key(key, errs);
    Some(vec![Command::ResolveIncident(IncidentResolve {
        service: Some(service?),
        key: key?,
        resolved_at: ctx.received_at,
        keep_existing: true,
        create_missing: false,
        source: SOURCE.into(),
    })])
}

pub(crate) fn service(ctx: &Context, errs: &mut Errors) -> Option<ServiceId> {
    ctx.path_service.or_else(|| {
        errs.add(
            "",
            "a DevLake webhook needs the service (connection id) in its path",
        );
        None
    })
}

fn status(s: &str) -> Result<String, String> {
    let norm = s.to_ascii_uppercase().replace([' ', '-'], "_");
    match norm.as_str() {
        "TODO" | "DONE" | "IN_PROGRESS" => Ok(norm),
        _ => Err(format!(
            "{} is not a status; expected TODO, DONE or IN_PROGRESS",
            crate::json::quote(s)
        )),
    }
}

/// A field under its snake_case name or DevLake 1.0's camelCase one; a
/// missing field is named in the spelling the rest of the body uses.
pub(crate) fn dual<'a>(obj: &Obj<'a>, snake: &str, errs: &mut Errors) -> Field<'a> {
    let camel = camel(snake);
    if obj.is_camel_case() {
        obj.either(&[&camel, snake], errs)
    } else {
        obj.either(&[snake, &camel], errs)
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
