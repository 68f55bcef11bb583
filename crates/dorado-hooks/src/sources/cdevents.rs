//! CDEvents (spec 0.3 to 0.5) over CloudEvents, in the three ways an
//! emitter posts them. The server passes no headers, so the body alone
//! tells them apart:
//!
//! - a JSON array: batch mode, each item a structured CloudEvent (a bare
//!   CDEvent is taken too);
//! - an object with `specversion`: a structured CloudEvent whose `data` is
//!   the CDEvent, as an object, as a string holding its JSON, or as
//!   `data_base64`;
//! - an object with `context` and `subject`: binary mode, where the body is
//!   the CDEvent and the `ce-*` headers only repeat its context.
//!
//! What is read (semantics.md, "Sources of data"):
//!
//! - `service.deployed` and `service.upgraded`: a successful deployment that
//!   finished at `context.timestamp`; `service.rolledback`: the same, a
//!   rollback and so rework. Its external id comes from the event's
//!   `source` and `id`, so that a redelivered event replaces its deployment.
//!   The service is the one aliased to (or named like) the subject id or its
//!   last path segment (`service/checkout`).
//! - `incident.detected` starts and `incident.resolved` resolves the
//!   incident keyed by the subject id, in the service of
//!   `subject.content.service`; an incident that names no service is the
//!   organization's (CDEvents makes the service optional, and an incident
//!   nobody could place still counts for time to restore).
//! - `change.merged`: the merge commit, when the subject id is a full sha,
//!   in the repository of `subject.content.repository`.
//!
//! CDEvents carries no commit in these events. An emitter that knows it
//! says so in `customData`: `repo` and `commit` (or `commits: [{repo,
//! sha}]`) name what a deployment deployed, and `commit` and `repo` name a
//! merged change's commit and repository when the subject does not.
//!
//! Any other event type, and spec versions other than 0.x, are ignored.

use super::{Ignored, SourceDelivery, SourceOutcome, str_at};
use crate::Context;
use crate::json::{Attributes, Errors, Field, MAX_SHORT, Obj, quote};
use crate::native;
use base64::Engine;
use dorado_core::source::vendor_environment;
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentTimes, IncidentWrite, RepoKey,
    ServiceId, Sha, Timestamp,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const SOURCE: &str = "cdevents";
const TYPE_PREFIX: &str = "dev.cdevents.";
const SHAPES: &str = "must be a CloudEvent (with specversion), a CDEvent (with context and subject) or an array of CloudEvents";
/// Distinct reasons spelled out when a whole batch is ignored; the answer
/// to a large batch stays short.
const MAX_REASONS: usize = 5;

pub(crate) fn read(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceDelivery> {
    if let Value::Array(items) = body {
        return batch(items, ctx, errs);
    }
    let event = item(body, String::new(), ctx, errs)?;
    Some(SourceDelivery {
        outcome: match event.outcome {
            Ok(command) => SourceOutcome::Commands(vec![command]),
            Err(ignored) => SourceOutcome::Ignored(ignored),
        },
        dedupe_key: event.key,
    })
}

/// One event as read: at most one command, since each CDEvent reports one
/// occurrence.
struct Event {
    /// `{source} {id}`, which the spec makes unique per event.
    key: Option<String>,
    outcome: Result<Command, Ignored>,
}

impl Event {
    fn ignored(key: Option<String>, reason: impl Into<String>) -> Self {
        Self {
            key,
            outcome: Err(Ignored::because(reason)),
        }
    }
}

fn item(v: &Value, at: String, ctx: &Context, errs: &mut Errors) -> Option<Event> {
    match v {
        Value::Object(map) if map.contains_key("specversion") => structured(v, at, ctx, errs),
        Value::Object(map) if map.contains_key("context") => cdevent(v, at, ctx, errs),
        _ => {
            errs.add(at, SHAPES);
            None
        }
    }
}

/// Every item's command in order. One malformed item refuses the batch, as
/// the emitter resends it whole; ignored items are skipped.
fn batch(items: &[Value], ctx: &Context, errs: &mut Errors) -> Option<SourceDelivery> {
    let mut commands = Vec::new();
    let mut ignored = Vec::new();
    let mut complete = true;
    for (i, v) in items.iter().enumerate() {
        match item(v, format!("/{i}"), ctx, errs) {
            Some(Event { outcome: Ok(c), .. }) => commands.push(c),
            Some(Event {
                outcome: Err(why), ..
            }) => ignored.push(why),
            None => complete = false,
        }
    }
    if !complete {
        return None;
    }
    // Redelivered deployments are upserts by their external ids, and a
    // batch has no single key.
    let outcome = if items.is_empty() {
        SourceOutcome::ignored("the batch holds no events")
    } else if commands.is_empty() {
        SourceOutcome::Ignored(summary(ignored))
    } else {
        SourceOutcome::Commands(commands)
    };
    Some(SourceDelivery {
        outcome,
        dedupe_key: None,
    })
}

/// One reason for a batch whose every event is ignored: each distinct
/// reason once, with how many events gave it, and the first unmapped
/// service so that the set-up page can still offer to map it.
fn summary(ignored: Vec<Ignored>) -> Ignored {
    let total = ignored.len();
    let unmapped = ignored.iter().find_map(|i| i.unmapped.clone());
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for i in ignored {
        match index.get(&i.reason) {
            Some(&at) => order[at].1 += 1,
            None => {
                index.insert(i.reason.clone(), order.len());
                order.push((i.reason, 1));
            }
        }
    }
    let mut parts: Vec<String> = order
        .iter()
        .take(MAX_REASONS)
        .map(|(reason, n)| match n {
            1 => reason.clone(),
            n => format!("{reason} ({n} events)"),
        })
        .collect();
    if order.len() > MAX_REASONS {
        parts.push(format!("and {} other reasons", order.len() - MAX_REASONS));
    }
    let reason = match total {
        1 => format!("the batch's only event is ignored: {}", parts.join("; ")),
        n => format!(
            "all {n} events of the batch are ignored: {}",
            parts.join("; ")
        ),
    };
    Ignored { reason, unmapped }
}

/// A structured CloudEvent: the CDEvent is its data.
fn structured(v: &Value, at: String, ctx: &Context, errs: &mut Errors) -> Option<Event> {
    let ce = Obj::new(v, at, "a CloudEvent object", errs)?;
    let ty = ce.field("type").text(MAX_SHORT, errs);
    if let Some(ty) = &ty
        && !is_cdevent_type(ty)
    {
        let key = match (str_at(v, "/source"), str_at(v, "/id")) {
            (Some(s), Some(i)) => Some(format!("{s} {i}")),
            _ => None,
        };
        return Some(Event::ignored(
            key,
            format!("the CloudEvent type {} is not a CDEvent", quote(ty)),
        ));
    }
    let data = ce.field("data");
    let b64 = ce.field("data_base64");
    match (data.value(errs), b64.is_present()) {
        (Some(_), true) => {
            errs.add(b64.ptr(), "give either data or data_base64, not both");
            None
        }
        (Some(Value::String(s)), false) => {
            // CloudEvents 0.3 marked base64 data with an attribute of its own.
            let encoded =
                str_at(v, "/datacontentencoding").is_some_and(|e| e.eq_ignore_ascii_case("base64"));
            if encoded {
                embedded_base64(s, &data, ctx, errs)
            } else {
                embedded(s.as_bytes(), &data, ctx, errs)
            }
        }
        (Some(cdevent_value), false) => cdevent(cdevent_value, data.ptr(), ctx, errs),
        (None, true) => {
            let s = b64.value(errs)?;
            match s {
                Value::String(s) => embedded_base64(s, &b64, ctx, errs),
                _ => {
                    errs.add(b64.ptr(), "must be a base64 string");
                    None
                }
            }
        }
        (None, false) => {
            errs.add(
                data.ptr(),
                "is required: a CloudEvent carries its CDEvent in data (or data_base64)",
            );
            None
        }
    }
}

fn embedded_base64(s: &str, f: &Field, ctx: &Context, errs: &mut Errors) -> Option<Event> {
    // Encoders that wrap lines (MIME style) put white space in the text.
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT.decode(compact) {
        Ok(bytes) => embedded(&bytes, f, ctx, errs),
        Err(e) => {
            errs.add(f.ptr(), format!("is not base64: {e}"));
            None
        }
    }
}

/// A CDEvent written as JSON text inside the CloudEvent. Problems inside it
/// are reported under the pointer of the text, followed by their pointer
/// in the CDEvent.
fn embedded(bytes: &[u8], f: &Field, ctx: &Context, errs: &mut Errors) -> Option<Event> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => cdevent(&v, f.ptr(), ctx, errs),
        Err(e) => {
            errs.add(f.ptr(), format!("must hold a CDEvent as JSON: {e}"));
            None
        }
    }
}

/// What every CDEvent's context says.
struct Head {
    id: String,
    source: String,
    ty: String,
    at: Timestamp,
}

impl Head {
    fn key(&self) -> String {
        format!("{} {}", self.source, self.id)
    }
}

fn cdevent(v: &Value, at: String, ctx: &Context, errs: &mut Errors) -> Option<Event> {
    let obj = Obj::new(v, at, "a CDEvent object", errs)?;
    let context = obj.field("context").required().object(errs);
    let subject = obj.field("subject").required().object(errs);
    let context = context?;
    // 0.3 calls it `version`; 0.4 renamed it `specversion`.
    let version = if context.has("specversion") {
        context.field("specversion")
    } else {
        context.field("version")
    }
    .text(MAX_SHORT, errs);
    let id = context.field("id").required().key(MAX_SHORT, errs);
    let source = context.field("source").required().text(MAX_SHORT, errs);
    let ty = context.field("type").required().text(MAX_SHORT, errs);
    let timestamp = context.field("timestamp").required().time(errs);
    let head = Head {
        id: id?,
        source: source?,
        ty: ty?,
        at: timestamp?,
    };
    let subject = subject?;
    let key = Some(head.key());
    if let Some(v) = &version
        && !is_read_version(v)
    {
        return Some(Event::ignored(
            key,
            format!(
                "CDEvents spec version {} is not read; Dorado reads the 0.x versions (0.3 to 0.5)",
                quote(v)
            ),
        ));
    }
    let outcome = match subject_and_predicate(&head.ty)
        .as_ref()
        .map(|(s, p)| (s.as_str(), p.as_str()))
    {
        Some(("service", "deployed" | "upgraded")) => {
            deployment(&head, &obj, &subject, DeploymentKind::Normal, ctx, errs)?
        }
        Some(("service", "rolledback")) => {
            deployment(&head, &obj, &subject, DeploymentKind::Rollback, ctx, errs)?
        }
        Some(("incident", "detected")) => incident(&head, &subject, Step::Detected, ctx, errs)?,
        Some(("incident", "resolved")) => incident(&head, &subject, Step::Resolved, ctx, errs)?,
        Some(("change", "merged")) => change(&head, &obj, &subject, ctx, errs)?,
        Some(_) => Err(Ignored::because(format!(
            "the event type {} is not one Dorado reads (it reads service deployed, upgraded and rolledback, incident detected and resolved, and change merged)",
            head.ty
        ))),
        None => Err(Ignored::because(format!(
            "the event type {} is not a CDEvents type (dev.cdevents.<subject>.<predicate>.<version>)",
            quote(&head.ty)
        ))),
    };
    Some(Event { key, outcome })
}

fn is_cdevent_type(ty: &str) -> bool {
    ty.get(..TYPE_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(TYPE_PREFIX))
}

/// `dev.cdevents.service.deployed.0.3.0` → (`service`, `deployed`), whatever
/// the version of the event's schema.
fn subject_and_predicate(ty: &str) -> Option<(String, String)> {
    if !is_cdevent_type(ty) {
        return None;
    }
    let mut parts = ty.get(TYPE_PREFIX.len()..)?.split('.');
    let subject = parts.next().filter(|s| !s.is_empty())?;
    let predicate = parts.next().filter(|s| !s.is_empty())?;
    Some((subject.to_ascii_lowercase(), predicate.to_ascii_lowercase()))
}

/// Versions 0.x, and the `draft` of the early spec; a 1.0 may change what
/// the fields mean.
fn is_read_version(v: &str) -> bool {
    match v.split('.').next().map(str::parse::<u64>) {
        Some(Ok(major)) => major == 0,
        _ => true,
    }
}

/// An object field that may be left out.
fn optional_object<'a>(f: &Field<'a>, errs: &mut Errors) -> Result<Option<Obj<'a>>, ()> {
    if !f.is_present() {
        return Ok(None);
    }
    f.object(errs).map(Some).ok_or(())
}

/// A reference to another subject (`{"id": ..., "source": ...}`), or its
/// id written alone: the id as sent.
fn reference_id(f: &Field, errs: &mut Errors) -> Option<String> {
    match f.value(errs)? {
        Value::Object(_) => {
            let o = f.object(errs)?;
            let name = o.field("name");
            if !o.has("id") && name.is_present() {
                name.key(MAX_SHORT, errs)
            } else {
                o.field("id").required().key(MAX_SHORT, errs)
            }
        }
        _ => f.key(MAX_SHORT, errs),
    }
}

/// The service a CDEvents service id names: by an alias of the id or of its
/// last path segment, else by a service of that name.
fn service(ctx: &Context, id: &str) -> Result<ServiceId, Ignored> {
    let last = super::last_segment(id);
    let names: &[&str] = if last == id { &[id] } else { &[id, last] };
    ctx.services
        .for_vendor(names)
        .ok_or_else(|| Ignored::vendor_service(id, (last != id).then_some(last)))
}

/// Unique per (source, id), stable across deliveries and modes, and within
/// ExternalId's limits: a `#` in the source is escaped so that the first
/// `#` always ends it; what does not fit is hashed.
fn external_id(head: &Head) -> ExternalId {
    let source = head.source.replace('%', "%25").replace('#', "%23");
    ExternalId::parse(&format!("cdevents:{source}#{}", head.id)).unwrap_or_else(|_| {
        let mut hash = Sha256::new();
        hash.update(head.source.len().to_string().as_bytes());
        hash.update(b":");
        hash.update(head.source.as_bytes());
        hash.update(head.id.as_bytes());
        ExternalId::from_trusted(format!("cdevents:sha256:{}", hex::encode(hash.finalize())))
    })
}

fn deployment(
    head: &Head,
    event: &Obj,
    subject: &Obj,
    kind: DeploymentKind,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<Result<Command, Ignored>> {
    let id = subject.field("id").required().key(MAX_SHORT, errs);
    let content = optional_object(&subject.field("content"), errs);
    let content = content.as_ref().ok().and_then(Option::as_ref);
    let env = content.map(|c| c.field("environment"));
    let env_id = env
        .as_ref()
        .filter(|f| f.is_present())
        .and_then(|f| reference_id(f, errs));
    let environment = match (&env_id, &env) {
        (Some(raw), Some(f)) => match vendor_environment(raw) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.add(
                    f.ptr(),
                    format!("names the environment {}, which {e}", quote(raw)),
                );
                None
            }
        },
        _ => Some(Environment::production()),
    };
    let artifact = content.and_then(|c| c.field("artifactId").text(MAX_SHORT, errs));
    let commits = custom_commits(event, errs);
    let id = id?;
    let (environment, commits) = (environment?, commits?);
    let service = match service(ctx, &id) {
        Ok(s) => s,
        Err(why) => return Some(Err(why)),
    };
    let mut attributes = Attributes::default();
    attributes.put("artifactId", artifact);
    attributes.put("environment", env_id);
    attributes.put("source", Some(head.source.clone()));
    attributes.put("event_id", Some(head.id.clone()));
    Some(Ok(Command::Deployment(DeploymentWrite {
        service,
        external_id: Some(external_id(head)),
        name: None,
        environment,
        result: DeployResult::Success,
        started_at: None,
        finished_at: Some(head.at),
        commits,
        shipped: None,
        kind,
        rework: kind != DeploymentKind::Normal,
        lead_time_seconds: None,
        source: SOURCE.into(),
        attributes: attributes.into_value(),
        state_at: None,
    })))
}

/// `customData` as an object, when the emitter sent one; other custom data
/// (a string, data of another content type) is the emitter's own.
fn custom_data<'a>(event: &Obj<'a>, errs: &mut Errors) -> Option<Obj<'a>> {
    let f = event.field("customData");
    match f.value(errs) {
        Some(Value::Object(_)) => f.object(errs),
        _ => None,
    }
}

/// The commits a deployment deployed, by Dorado's convention for
/// `customData`: `repo` and `commit`, or `commits: [{repo, sha}]`.
fn custom_commits(event: &Obj, errs: &mut Errors) -> Option<Vec<DeployedCommit>> {
    let Some(custom) = custom_data(event, errs) else {
        return Some(Vec::new());
    };
    if custom.has("commits") {
        let items = custom.field("commits").items(errs)?;
        let read = items
            .iter()
            .map(|f| {
                let o = f.object(errs)?;
                native::deployed(&o.field("repo"), &o.field("sha"), errs)
            })
            .collect();
        native::all(read)
    } else if custom.has("commit") {
        native::deployed(&custom.field("repo"), &custom.field("commit"), errs).map(|c| vec![c])
    } else {
        Some(Vec::new())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Detected,
    Resolved,
}

fn incident(
    head: &Head,
    subject: &Obj,
    step: Step,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<Result<Command, Ignored>> {
    let key = subject
        .field("id")
        .required()
        .parse_key(errs, IncidentKey::parse);
    let content = optional_object(&subject.field("content"), errs);
    let content = content.as_ref().ok().and_then(Option::as_ref);
    let field = |name: &str| content.map(|c| c.field(name)).filter(Field::is_present);
    let service_id = field("service").and_then(|f| reference_id(&f, errs));
    let environment = field("environment").and_then(|f| reference_id(&f, errs));
    let artifact = field("artifactId").and_then(|f| f.text(MAX_SHORT, errs));
    // A long description is still the emitter's valid event: it is cut,
    // not refused.
    let description = field("description").and_then(|f| f.clipped(MAX_SHORT, errs));
    let key = key?;
    let service = match service_id.as_deref().map(|id| service(ctx, id)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(why)) => return Some(Err(why)),
    };
    let mut attributes = Attributes::default();
    attributes.put("environment", environment);
    attributes.put("artifactId", artifact);
    attributes.put("source", Some(head.source.clone()));
    // The resolve's description tells how it was resolved; the title stays
    // the detection's.
    let (title, started_at, resolved_at) = match step {
        Step::Detected => {
            attributes.put("detected_event_id", Some(head.id.clone()));
            (description, Some(head.at), None)
        }
        Step::Resolved => {
            attributes.put("resolved_event_id", Some(head.id.clone()));
            attributes.put("resolution", description);
            (None, None, Some(head.at))
        }
    };
    Some(Ok(Command::Incident(IncidentWrite {
        service,
        key,
        title,
        started_at,
        resolved_at,
        cause: None,
        fixed_by: None,
        is_incident: true,
        source: SOURCE.into(),
        attributes: attributes.into_value(),
        times: IncidentTimes::Lifecycle,
        reopened_at: None,
    })))
}

fn change(
    head: &Head,
    event: &Obj,
    subject: &Obj,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<Result<Command, Ignored>> {
    let id = subject.field("id").required().key(MAX_SHORT, errs);
    let content = optional_object(&subject.field("content"), errs);
    let content = content.as_ref().ok().and_then(Option::as_ref);
    let repo_field = content
        .map(|c| c.field("repository"))
        .filter(Field::is_present);
    let custom = custom_data(event, errs);
    let custom_commit = custom.as_ref().map(|c| c.field("commit"));
    let custom_repo = custom.as_ref().map(|c| c.field("repo"));
    let id = id?;
    let sha = match Sha::parse_full_hex(&id) {
        Ok(sha) => Some(sha),
        Err(_) => match custom_commit.filter(Field::is_present) {
            Some(f) => Some(f.parse(errs, Sha::parse)?),
            None => None,
        },
    };
    let repo = match (repo_field, custom_repo.filter(Field::is_present)) {
        (Some(f), _) => Some(repository(&f, errs)?),
        (None, Some(f)) => Some(native::repo(&f, errs)?),
        (None, None) => None,
    };
    let Some(sha) = sha else {
        return Some(Err(Ignored::because(format!(
            "the merged change {} names no commit: its id is not a full commit sha, and customData.commit is absent",
            quote(&id)
        ))));
    };
    let Some((repo, repo_key)) = repo else {
        return Some(Err(Ignored::because(format!(
            "the merged change {} names no repository (subject.content.repository or customData.repo)",
            quote(&id)
        ))));
    };
    // As for pushes: a repository no service answers to is not stored.
    if let Err(ignored) = super::service_of_repo(ctx, &repo_key) {
        return Some(Err(ignored));
    }
    Some(Ok(Command::Changes(ChangeBatch {
        repo,
        repo_key,
        commits: vec![ChangeWrite {
            sha,
            parents: Vec::new(),
            committed_at: Some(head.at),
            authored_at: None,
            author: None,
            message: None,
            request: None,
        }],
    })))
}

/// A change's repository: its `url`; else `owner/name`, its `id` or its
/// `name`, after its `source` when that names a host (`my-git.example`,
/// `https://github.com`); or a string naming it.
fn repository(f: &Field, errs: &mut Errors) -> Option<(String, RepoKey)> {
    let written = match f.value(errs)? {
        Value::Object(_) => {
            let o = f.object(errs)?;
            let text = |key: &str, errs: &mut Errors| o.field(key).key(MAX_SHORT, errs);
            let url = text("url", errs);
            let owner = text("owner", errs);
            let name = text("name", errs);
            let id = text("id", errs);
            let source = text("source", errs);
            let path = match (url, owner, name, id) {
                (Some(url), ..) => return parse_repo(f, &url, errs),
                (None, Some(owner), Some(name), _) => format!("{owner}/{name}"),
                (None, _, _, Some(id)) => id,
                (None, _, Some(name), None) => name,
                (None, _, None, None) => {
                    errs.add(
                        f.ptr(),
                        "names no repository: give url, owner and name, or id",
                    );
                    return None;
                }
            };
            match source.filter(|s| names_host(s)) {
                Some(host) => format!(
                    "{}/{}",
                    host.trim_end_matches('/'),
                    path.trim_start_matches('/')
                ),
                None => path,
            }
        }
        _ => f.key(MAX_SHORT, errs)?,
    };
    parse_repo(f, &written, errs)
}

fn parse_repo(f: &Field, written: &str, errs: &mut Errors) -> Option<(String, RepoKey)> {
    match RepoKey::parse(written) {
        Ok(key) => Some((written.to_owned(), key)),
        Err(e) => {
            errs.add(
                f.ptr(),
                format!("names the repository {}, which {e}", quote(written)),
            );
            None
        }
    }
}

/// Whether a subject's source is where repositories live (a URL or a host
/// name) rather than a path of the emitter's own (`/event/source/123`).
fn names_host(source: &str) -> bool {
    source.contains("://")
        || (!source.starts_with('/') && source.split('/').next().is_some_and(|h| h.contains('.')))
}
