//! Native sources (api.md, "Native sources"): the webhooks GitHub, GitLab,
//! PagerDuty and CDEvents emitters send on their own, read into the same
//! commands as every other dialect. Verification ([`verify`]) runs on the
//! raw bytes before any of this.
//!
//! A tool sends many events Dorado does not use (a `ping`, a label change,
//! a repository that maps to no service). Those are not errors: vendors
//! disable hooks that keep failing, so each is answered 2xx and logged
//! with the reason ([`Ignored`]). Only a body that cannot be what the tool
//! sends is refused.

mod cdevents;
mod github;
mod gitlab;
mod pagerduty;
pub mod verify;

use crate::json::{Errors, MAX_LONG, MAX_SHORT, Obj};
use crate::{Context, HookError};
use dorado_core::{ChangeWrite, Command, RepoKey, ServiceDirectory, ServiceId, Sha, SourceKind};
use serde_json::Value;

/// What a dialect needs to know of the source a delivery came through.
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    /// The names of the GitHub workflows (or GitLab pipelines) whose
    /// completed runs are deployments.
    pub deploy_workflows: Vec<String>,
}

impl SourceConfig {
    /// Whether a workflow or pipeline of this name is a deployment.
    pub fn is_deploy_workflow(&self, name: &str) -> bool {
        let name = name.trim();
        self.deploy_workflows
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(name))
    }
}

/// A delivery of a native source, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDelivery {
    pub outcome: SourceOutcome,
    /// What identifies this delivery when the tool sends it again and
    /// says so only in the body (PagerDuty's event id, a CloudEvent's
    /// `source` and `id`); header keys are the caller's to read.
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceOutcome {
    Commands(Vec<Command>),
    Ignored(Ignored),
}

/// Why a delivery stores nothing, said back to the tool and kept in the
/// delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub reason: String,
    /// A repository or vendor service that maps to no service, so that the
    /// set-up page can offer to map it.
    pub unmapped: Option<Unmapped>,
}

/// Something a tool named that no service answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmapped {
    /// A repository, by its normalized key (`github.com/acme/shop`).
    Repository(String),
    /// A tool's own service (PagerDuty service, CDEvents subject), by the
    /// id and the name it gave.
    Service { id: String, name: Option<String> },
}

impl Ignored {
    pub fn because(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            unmapped: None,
        }
    }

    pub fn repository(repo: &RepoKey) -> Self {
        Self {
            reason: format!(
                "the repository {repo} maps to no service: add it as an alias of one (dorado service update --alias {repo})"
            ),
            unmapped: Some(Unmapped::Repository(repo.as_str().to_owned())),
        }
    }

    pub fn vendor_service(id: &str, name: Option<&str>) -> Self {
        let shown = match name {
            Some(n) => format!("{n} ({id})"),
            None => id.to_owned(),
        };
        Self {
            reason: format!(
                "the service {shown} maps to no service: add {id} as an alias of one (dorado service update --alias {id})"
            ),
            unmapped: Some(Unmapped::Service {
                id: id.to_owned(),
                name: name.map(str::to_owned),
            }),
        }
    }
}

impl SourceOutcome {
    pub fn ignored(reason: impl Into<String>) -> Self {
        Self::Ignored(Ignored::because(reason))
    }
}

/// `0000...`: git's name for "no commit" (a new branch's `before`, a
/// deleted branch's `after`).
pub(crate) fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// The last non-empty path segment (`checkout` of `service/checkout`), by
/// which a repository or a CDEvents subject finds a service of that name.
pub fn last_segment(name: &str) -> &str {
    name.rsplit('/')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or(name)
}

/// Whether what a source named (an [`Unmapped`] name as the delivery log
/// keeps it) maps to a service now, by the rules each dialect reads with.
pub fn maps_now(kind: SourceKind, services: &ServiceDirectory, name: &str) -> bool {
    match kind {
        SourceKind::Github | SourceKind::Gitlab => {
            RepoKey::parse(name).is_ok_and(|key| services.for_repo(&key).is_some())
        }
        SourceKind::Pagerduty => services.for_vendor(&[name]).is_some(),
        SourceKind::Cdevents => services.for_vendor(&[name, last_segment(name)]).is_some(),
    }
}

/// The service a repository maps to, or why the delivery is ignored.
pub(crate) fn service_of_repo(ctx: &Context, repo: &RepoKey) -> Result<ServiceId, Ignored> {
    ctx.services
        .for_repo(repo)
        .ok_or_else(|| Ignored::repository(repo))
}

/// Reads a delivery of a native source. `event` is the tool's event name
/// where it sends one in a header (GitHub's `X-GitHub-Event`, GitLab's
/// `X-Gitlab-Event`); PagerDuty and CDEvents name it in the body.
pub fn read(
    kind: SourceKind,
    event: &str,
    config: &SourceConfig,
    ctx: &Context,
    body: &[u8],
) -> Result<SourceDelivery, HookError> {
    let mut errs = Errors::default();
    let read = match kind {
        SourceKind::Github => {
            let value = crate::read(&github_json(body), OBJECT)?;
            github::read(event, &value, config, ctx, &mut errs)
        }
        SourceKind::Gitlab => {
            gitlab::read(event, &crate::read(body, OBJECT)?, config, ctx, &mut errs)
        }
        SourceKind::Pagerduty => pagerduty::read(&crate::read(body, OBJECT)?, ctx, &mut errs),
        SourceKind::Cdevents => cdevents::read(&crate::read(body, CLOUDEVENTS)?, ctx, &mut errs),
    };
    Ok(errs.finish(read)?)
}

const OBJECT: &str = "the body is empty; expected the tool's JSON payload";
const CLOUDEVENTS: &str =
    "the body is empty; expected a CloudEvent, a CDEvent or a batch of CloudEvents";

/// GitHub sends `application/x-www-form-urlencoded` bodies as
/// `payload=<the JSON, percent-encoded>` when a hook is set so; the
/// signature covers the encoded bytes, the dialect reads the JSON.
fn github_json(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let trimmed = body.trim_ascii_start();
    if !trimmed.starts_with(b"payload=") {
        return std::borrow::Cow::Borrowed(body);
    }
    let payload = form_urlencoded::parse(trimmed)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    std::borrow::Cow::Owned(payload.into_bytes())
}

/// Commands from a dialect's reader, for [`crate::parse`] (a reindex reads
/// an ignored delivery as no commands).
pub(crate) fn commands(
    kind: SourceKind,
    event: &str,
    ctx: &Context,
    body: &[u8],
) -> Result<Vec<Command>, HookError> {
    let config = ctx.source.cloned().unwrap_or_default();
    Ok(match read(kind, event, &config, ctx, body)?.outcome {
        SourceOutcome::Commands(c) => c,
        SourceOutcome::Ignored(_) => Vec::new(),
    })
}

/// A commit as GitHub's and GitLab's push events list it, without its
/// parents (the list's order gives them: see [`chain`]).
pub(crate) fn pushed_commit(o: &Obj, errs: &mut Errors) -> Option<ChangeWrite> {
    let sha = o.field("id").required().parse(errs, Sha::parse);
    let committed_at = o.field("timestamp").time(errs);
    let author = o.field("author");
    let author = if author.is_present() {
        author
            .object(errs)
            .and_then(|a| a.field("name").clipped(MAX_SHORT, errs))
    } else {
        None
    };
    let message = o.field("message").clipped(MAX_LONG, errs);
    Some(ChangeWrite {
        sha: sha?,
        parents: Vec::new(),
        committed_at,
        authored_at: None,
        author,
        message,
        request: None,
    })
}

/// A push's commits, oldest first: each one's parent is the one before it,
/// and the first one's is `before` (semantics.md). A commit is never its
/// own parent (GitLab's test delivery lists `before` itself).
pub(crate) fn chain(commits: &mut [ChangeWrite], before: Option<Sha>) {
    let mut parent = before;
    for c in commits {
        if let Some(p) = parent.take()
            && p != c.sha
        {
            c.parents.push(p);
        }
        parent = Some(c.sha.clone());
    }
}

/// A JSON string field of an object, trimmed, when present and not blank.
pub(crate) fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
