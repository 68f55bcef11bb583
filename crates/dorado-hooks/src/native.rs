//! The native API (api.md, "Native resources"), and the readers it shares
//! with the event API, whose events carry the same fields.
//!
//! A deployment names what it deployed with `repo` and `commit_sha`, or with
//! `commits: [{repo, sha}]` for several repositories; its explicit list of
//! shipped commits is `shipped: [{repo, sha, committed_at}]` (`repo` may be
//! left out when the deployment deploys one repository), matching the
//! `commits` and `shipped` lists of a listed deployment.

use crate::Context;
use crate::json::{Errors, Field, MAX_LONG, MAX_SHORT, Obj};
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentCause, IncidentKey, IncidentResolve,
    IncidentTimes, IncidentWrite, RepoKey, ServiceId, Sha, ShippedCommit, Timestamp,
};
use serde_json::{Value, json};

const SOURCE: &str = "native";
pub(crate) const OBJECT: &str = "a JSON object";

pub(crate) fn deployment(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let base = deployment_base(&obj, "finished_at", SOURCE, ctx, errs);
    let list = obj.field("commits");
    let commits = if list.is_present() {
        if obj.has("repo") || obj.has("commit_sha") {
            errs.add(
                list.ptr(),
                "give either repo and commit_sha or commits, not both",
            );
        }
        list.items(errs)
            .and_then(|items| all(items.iter().map(|f| deployed_item(f, errs)).collect()))
    } else if obj.has("repo") || obj.has("commit_sha") {
        deployed(&obj.field("repo"), &obj.field("commit_sha"), errs).map(|c| vec![c])
    } else {
        // Nothing deployed that Dorado could know: it still counts for
        // deployment frequency.
        Some(Vec::new())
    };
    let shipped_field = obj.field("shipped");
    let shipped = if shipped_field.is_present() {
        let single = commits.as_ref().and_then(|c| one(c));
        shipped(&shipped_field, single, errs).map(Some)
    } else {
        Some(None)
    };
    let mut write = base?;
    write.commits = commits?;
    write.shipped = shipped?;
    Some(vec![Command::Deployment(write)])
}

pub(crate) fn changes(body: &Value, _ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let repo = repo(&obj.field("repo").required(), errs);
    let items = obj.field("commits").required().items(errs);
    let commits = items.and_then(|items| {
        let read = items
            .iter()
            .map(|f| f.object(errs).and_then(|o| change(&o, errs)))
            .collect();
        all(read)
    });
    let (repo, repo_key) = repo?;
    Some(vec![Command::Changes(ChangeBatch {
        repo,
        repo_key,
        commits: commits?,
    })])
}

pub(crate) fn incident(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let write = incident_write(&obj, "started_at", SOURCE, ctx, errs)?;
    Some(vec![Command::Incident(write)])
}

/// The body may be absent: the key in the path says which incident.
pub(crate) fn resolve(
    key: &str,
    body: Option<&Value>,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<Vec<Command>> {
    let key = path_key(key, errs);
    let (service, resolved_at) = match body {
        None => (None, None),
        Some(v) => {
            let obj = Obj::new(v, String::new(), OBJECT, errs)?;
            let service = obj.field("service").service(ctx.services, errs);
            (service, obj.field("resolved_at").time(errs))
        }
    };
    Some(vec![Command::ResolveIncident(IncidentResolve {
        service,
        key: key?,
        resolved_at: resolved_at.unwrap_or(ctx.received_at),
        keep_existing: false,
        create_missing: false,
        source: SOURCE.into(),
    })])
}

/// An incident key from the path, which has no pointer into the body.
pub(crate) fn path_key(key: &str, errs: &mut Errors) -> Option<IncidentKey> {
    IncidentKey::parse(key)
        .map_err(|e| errs.add("", format!("the incident key in the path {e}")))
        .ok()
}

/// The fields a deployment has in the native API and the event API alike;
/// `end` names the field of its finish time.
pub(crate) fn deployment_base(
    obj: &Obj,
    end: &str,
    source: &str,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<DeploymentWrite> {
    let service = obj.field("service").required().service(ctx.services, errs);
    let external_id = obj.field("id").parse_key(errs, ExternalId::parse);
    let name = obj.field("name").text(MAX_SHORT, errs);
    let environment = obj.field("environment").parse(errs, Environment::parse);
    let result = obj.field("result").parse(errs, DeployResult::parse);
    let started_at = obj.field("started_at").time(errs);
    let end = obj.field(end);
    let finished_at = end.time(errs);
    in_order(started_at, finished_at, &end, "started_at", errs);
    let (kind, rework) = kind_and_rework(obj, errs);
    let result = result.unwrap_or(DeployResult::Success);
    Some(DeploymentWrite {
        service: service?,
        external_id,
        name,
        environment: environment.unwrap_or_else(Environment::production),
        result,
        started_at,
        finished_at: finished_at.or_else(|| default_finish(result, ctx)),
        commits: Vec::new(),
        shipped: None,
        kind,
        rework,
        lead_time_seconds: None,
        source: source.into(),
        attributes: json!({}),
        state_at: None,
    })
}

/// A deployment that is still running or waiting has not finished, so
/// "now" is no default for its finish.
pub(crate) fn default_finish(result: DeployResult, ctx: &Context) -> Option<Timestamp> {
    match result {
        DeployResult::InProgress | DeployResult::Pending => None,
        _ => Some(ctx.received_at),
    }
}

/// Refuses an end before its start, when the sender gave both.
pub(crate) fn in_order(
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    end_field: &Field,
    start_name: &str,
    errs: &mut Errors,
) {
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        errs.add(end_field.ptr(), format!("is before {start_name} ({s})"));
    }
}

pub(crate) fn kind_and_rework(obj: &Obj, errs: &mut Errors) -> (DeploymentKind, bool) {
    let kind = obj
        .field("kind")
        .parse(errs, DeploymentKind::parse)
        .unwrap_or_default();
    let rework = obj.field("rework").bool(errs).unwrap_or(false);
    (kind, rework || kind != DeploymentKind::Normal)
}

/// A repository as the sender wrote it (trimmed) and as the engine matches it.
pub(crate) fn repo(f: &Field, errs: &mut Errors) -> Option<(String, RepoKey)> {
    f.parse(errs, |s| RepoKey::parse(s).map(|k| (s.to_owned(), k)))
}

pub(crate) fn deployed(
    repo_field: &Field,
    sha: &Field,
    errs: &mut Errors,
) -> Option<DeployedCommit> {
    let repo = repo(&repo_field.clone().required(), errs);
    let sha = sha.clone().required().parse(errs, Sha::parse);
    let (repo, repo_key) = repo?;
    Some(DeployedCommit {
        repo,
        repo_key,
        sha: sha?,
    })
}

fn deployed_item(f: &Field, errs: &mut Errors) -> Option<DeployedCommit> {
    let o = f.object(errs)?;
    deployed(&o.field("repo"), &o.field("sha"), errs)
}

/// The one commit deployed, which a shipped entry without `repo` belongs to.
pub(crate) fn one(commits: &[DeployedCommit]) -> Option<&DeployedCommit> {
    match commits {
        [c] => Some(c),
        _ => None,
    }
}

/// An explicit list of shipped commits: `[{repo, sha, committed_at}]`.
pub(crate) fn shipped(
    f: &Field,
    deployed: Option<&DeployedCommit>,
    errs: &mut Errors,
) -> Option<Vec<ShippedCommit>> {
    let items = f.items(errs)?;
    let read = items
        .iter()
        .map(|item| {
            let o = item.object(errs)?;
            let repo_field = o.field("repo");
            let repo = match deployed {
                Some(d) if !repo_field.is_present() => Some((d.repo.clone(), d.repo_key.clone())),
                None if !repo_field.is_present() => {
                    errs.add(
                        repo_field.ptr(),
                        "is required: the deployment names no single repository",
                    );
                    None
                }
                _ => repo(&repo_field, errs),
            };
            let sha = o.field("sha").required().parse(errs, Sha::parse);
            let committed_at = o.field("committed_at").time(errs);
            let (repo, repo_key) = repo?;
            Some(ShippedCommit {
                repo,
                repo_key,
                sha: sha?,
                committed_at,
            })
        })
        .collect();
    all(read)
}

/// A commit as `POST /changes` and the `change` event give it.
pub(crate) fn change(o: &Obj, errs: &mut Errors) -> Option<ChangeWrite> {
    let sha = o.field("sha").required().parse(errs, Sha::parse);
    let parents = o.field("parents");
    let parents = if parents.is_present() {
        parents
            .items(errs)
            .and_then(|items| all(items.iter().map(|p| p.parse(errs, Sha::parse)).collect()))
    } else {
        Some(Vec::new())
    };
    let committed_at = o.field("committed_at").time(errs);
    let authored_at = o.field("authored_at").time(errs);
    let author = o.field("author").text(MAX_SHORT, errs);
    let message = o.field("message").text(MAX_LONG, errs);
    Some(ChangeWrite {
        sha: sha?,
        parents: parents?,
        committed_at,
        authored_at,
        author,
        message,
        request: None,
    })
}

/// The fields an incident has in the native API and the event API alike;
/// `start` names the field of its start time.
pub(crate) fn incident_write(
    obj: &Obj,
    start: &str,
    source: &str,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<IncidentWrite> {
    let key = incident_key(obj, errs);
    let service = obj.field("service").service(ctx.services, errs);
    let title = obj.field("title").text(MAX_SHORT, errs);
    let started_at = obj.field(start).time(errs);
    let resolved = obj.field("resolved_at");
    let resolved_at = resolved.time(errs);
    in_order(started_at, resolved_at, &resolved, start, errs);
    let cause = cause(obj, errs);
    let fixed_by = obj.field("fixed_by").parse_key(errs, ExternalId::parse);
    Some(IncidentWrite {
        service,
        key: key?,
        title,
        started_at: Some(started_at.unwrap_or(ctx.received_at)),
        resolved_at,
        cause,
        fixed_by,
        is_incident: true,
        source: source.into(),
        attributes: json!({}),
        times: match started_at {
            Some(_) => IncidentTimes::Replace,
            None => IncidentTimes::ArrivalStart,
        },
        reopened_at: None,
    })
}

/// `id`, or `key` as the incident is listed.
pub(crate) fn incident_key(obj: &Obj, errs: &mut Errors) -> Option<IncidentKey> {
    obj.either(&["id", "key"], errs)
        .required()
        .parse_key(errs, IncidentKey::parse)
}

fn cause(obj: &Obj, errs: &mut Errors) -> Option<IncidentCause> {
    let deployment = obj
        .field("deployment_id")
        .parse_key(errs, ExternalId::parse);
    let sha = obj.field("commit_sha");
    let commit = sha.parse(errs, Sha::parse);
    match (deployment, commit) {
        (Some(_), Some(_)) => {
            errs.add(
                sha.ptr(),
                "give either deployment_id or commit_sha, not both",
            );
            None
        }
        (Some(d), None) => Some(IncidentCause::Deployment(d)),
        (None, Some(c)) => Some(IncidentCause::Commit(c)),
        (None, None) => None,
    }
}

/// The incident a resolve in a body names, and when it was resolved.
pub(crate) fn resolve_fields(
    obj: &Obj,
    at: &str,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<(Option<ServiceId>, IncidentKey, Timestamp)> {
    let key = incident_key(obj, errs);
    let service = obj.field("service").service(ctx.services, errs);
    let resolved_at = obj.field(at).time(errs).unwrap_or(ctx.received_at);
    Some((service, key?, resolved_at))
}

/// Every item, once each was read (and reported its own problems).
pub(crate) fn all<T>(items: Vec<Option<T>>) -> Option<Vec<T>> {
    items.into_iter().collect()
}
