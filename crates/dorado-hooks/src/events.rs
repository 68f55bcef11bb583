//! The event API (api.md, "Event API"; GitDailies-style, seed 004): one
//! event object or an array of them, stored all or nothing. Problems of an
//! array are reported with the event's index (`/3/service`).
//!
//! `time` is when the event happened (a deploy's finish), "now" when absent.
//! A deploy's `commits: [{sha, committed_at}]` is its explicit list of
//! shipped commits, as api.md shows it (`shipped`, the native name, is
//! accepted too); what it deployed is `repo` and `commit_sha`.

use crate::Context;
use crate::json::{Errors, Obj};
use crate::native::{
    all, change, deployed, deployment_base, incident_write, one, repo, resolve_fields, shipped,
};
use dorado_core::{ChangeBatch, Command, IncidentResolve};
use serde_json::Value;

const SOURCE: &str = "events";

pub(crate) fn events(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    match body {
        Value::Array(items) if items.is_empty() => {
            errs.add("", "must hold at least one event");
            None
        }
        Value::Array(items) => all(items
            .iter()
            .enumerate()
            .map(|(i, v)| event(v, format!("/{i}"), ctx, errs))
            .collect()),
        v => event(v, String::new(), ctx, errs).map(|c| vec![c]),
    }
}

enum Kind {
    Deploy,
    IncidentStarted,
    IncidentResolved,
    Change,
}

/// GitDailies names its events "Deploy occurred", "Incident started" and
/// "Incident resolved" (or "ended"); those spellings mean one thing each.
fn kind(s: &str) -> Result<Kind, String> {
    let norm = s.to_ascii_lowercase().replace([' ', '-', '.'], "_");
    Ok(match norm.as_str() {
        "deploy" | "deployment" | "deploy_occurred" => Kind::Deploy,
        "incident_started" => Kind::IncidentStarted,
        "incident_resolved" | "incident_ended" => Kind::IncidentResolved,
        "change" | "commit" => Kind::Change,
        _ => {
            return Err(format!(
                "{} is not an event type; expected deploy, incident_started, incident_resolved or change",
                crate::json::quote(s)
            ));
        }
    })
}

fn event(v: &Value, at: String, ctx: &Context, errs: &mut Errors) -> Option<Command> {
    let obj = Obj::new(v, at, "an event object", errs)?;
    match obj.field("type").required().parse(errs, kind)? {
        Kind::Deploy => deploy(&obj, ctx, errs),
        Kind::IncidentStarted => {
            incident_write(&obj, "time", SOURCE, ctx, errs).map(Command::Incident)
        }
        Kind::IncidentResolved => {
            let (service, key, resolved_at) = resolve_fields(&obj, "time", ctx, errs)?;
            Some(Command::ResolveIncident(IncidentResolve {
                service,
                key,
                resolved_at,
                keep_existing: false,
                // Historical events may arrive in any order: a resolve
                // before its start must not be lost.
                create_missing: true,
                source: SOURCE.into(),
            }))
        }
        Kind::Change => commit(&obj, errs),
    }
}

fn deploy(obj: &Obj, ctx: &Context, errs: &mut Errors) -> Option<Command> {
    let base = deployment_base(obj, "time", SOURCE, ctx, errs);
    let (repo_field, sha_field) = (obj.field("repo"), obj.field("commit_sha"));
    let commits = if repo_field.is_present() || sha_field.is_present() {
        deployed(&repo_field, &sha_field, errs).map(|c| vec![c])
    } else {
        Some(Vec::new())
    };
    let list = obj.either(&["commits", "shipped"], errs);
    let shipped = if list.is_present() {
        shipped(&list, commits.as_deref().and_then(one), errs).map(Some)
    } else {
        Some(None)
    };
    let mut write = base?;
    write.commits = commits?;
    write.shipped = shipped?;
    Some(Command::Deployment(write))
}

/// A commit; its `time`, if any, is when it was committed.
fn commit(obj: &Obj, errs: &mut Errors) -> Option<Command> {
    let repo = repo(&obj.field("repo").required(), errs);
    let time = obj.field("time").time(errs);
    let mut change = change(obj, errs)?;
    change.committed_at = change.committed_at.or(time);
    let (repo, repo_key) = repo?;
    Some(Command::Changes(ChangeBatch {
        repo,
        repo_key,
        commits: vec![change],
    }))
}
