//! GitHub's webhooks (api.md, "Native sources"; semantics.md, "Sources of
//! data"), by the event its `X-GitHub-Event` header names: `push`,
//! `pull_request`, `deployment`, `deployment_status`, `workflow_run` and
//! `issues`. Every other event, and every action of these that carries no
//! fact Dorado keeps, is ignored with its reason.
//!
//! Every command belongs to the service of the payload's repository. Its
//! ids are GitHub's own, prefixed by what they number
//! (`github:deployment:145988746`, `github:run:289782451`), since GitHub
//! numbers deployments and workflow runs separately and both may land in
//! one service.
//!
//! Deviations from the letter of semantics.md, each because the payload
//! says more than the rule assumed:
//! - a forced push does not make `before` the parent of its first commit:
//!   after a rebase or a reset `before` is the abandoned head, and linking
//!   it would make abandoned commits look shipped by the next deployment;
//! - commit messages, titles and names longer than Dorado keeps are cut
//!   short, not refused: GitHub accepts them, and a refused delivery is lost;
//! - a deployment status of a state GitHub may add later is ignored, not
//!   refused, for the same reason;
//! - a deleted incident issue is written as no longer an incident.

use super::{Ignored, SourceConfig, SourceDelivery, SourceOutcome, str_at};
use crate::Context;
use crate::json::{Attributes, Errors, Field, MAX_SHORT, Obj, quote};
use crate::native::{OBJECT, all, in_order};
use dorado_core::source::vendor_environment;
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentTimes, IncidentWrite,
    MergedRequest, RepoKey, ServiceId, Sha,
};
use serde_json::Value;

const SOURCE: &str = "github";
const INCIDENT_LABEL: &str = "incident";

pub(crate) fn read(
    event: &str,
    body: &Value,
    config: &SourceConfig,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<SourceDelivery> {
    let event = event.trim().to_ascii_lowercase();
    // Events Dorado does not read are answered before their body is looked
    // at: their shapes are GitHub's business, not ours.
    let outcome = match event.as_str() {
        "ping" => SourceOutcome::ignored(
            "ping: the hook works; Dorado reads the events push, pull_request, deployment, \
             deployment_status, workflow_run and issues",
        ),
        "push" | "deployment" | "deployment_status" | "workflow_run" | "pull_request"
        | "issues" => {
            let obj = Obj::new(body, String::new(), OBJECT, errs)?;
            let p = Payload { body, obj, ctx };
            match event.as_str() {
                "push" => p.push(errs),
                "deployment" => p.deployment(errs),
                "deployment_status" => p.deployment_status(errs),
                "workflow_run" => p.workflow_run(config, errs),
                "pull_request" => p.pull_request(errs),
                _ => p.issues(errs),
            }?
        }
        "" => SourceOutcome::ignored(
            "the delivery names no GitHub event: GitHub names it in the X-GitHub-Event header",
        ),
        _ => SourceOutcome::ignored(format!(
            "GitHub event {} is not one Dorado reads",
            quote(&event)
        )),
    };
    Some(SourceDelivery {
        outcome,
        dedupe_key: None,
    })
}

/// A repository of the payload and the service it belongs to.
struct Repo {
    /// Its web address, as GitHub shows it, for display.
    url: String,
    key: RepoKey,
    service: ServiceId,
}

struct Payload<'a> {
    body: &'a Value,
    obj: Obj<'a>,
    ctx: &'a Context<'a>,
}

/// What an event's reader answers: `None` when the body cannot be read,
/// every problem recorded.
type Outcome = Option<SourceOutcome>;

fn commands(c: Vec<Command>) -> Outcome {
    Some(SourceOutcome::Commands(c))
}

/// Reads the repository of `$field` and evaluates to it (`None` when it
/// could not be read, which is recorded), or returns the delivery as
/// ignored when the repository maps to no service: nothing else of the
/// payload matters then.
macro_rules! repo_or_ignore {
    ($self:ident, $field:expr, $errs:ident) => {
        match $self.repo($field, $errs) {
            Ok(r) => r,
            Err(ignored) => return Some(SourceOutcome::Ignored(ignored)),
        }
    };
}

impl<'a> Payload<'a> {
    /// A string of the body at `o`'s `key`, for what is only shown back:
    /// a value of another type is left out rather than refused.
    fn shown(&self, o: &Obj, key: &str) -> Option<String> {
        str_at(self.body, &o.ptr(key)).map(str::to_owned)
    }

    /// The repository object in `f` (read with [`repository`]) and its service.
    fn repo(&self, f: Field, errs: &mut Errors) -> Result<Option<Repo>, Ignored> {
        let Some(o) = f.required().object(errs) else {
            return Ok(None);
        };
        let Some((url, key)) = repository(&o, errs) else {
            return Ok(None);
        };
        let service = super::service_of_repo(self.ctx, &key)?;
        Ok(Some(Repo { url, key, service }))
    }

    fn push(&self, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        let pushed_ref = self.shown(obj, "ref").unwrap_or_else(|| "a ref".to_owned());
        if obj.field("deleted").bool(errs) == Some(true) {
            return Some(SourceOutcome::ignored(format!(
                "the push deleted {}: nothing to store",
                quote(&pushed_ref)
            )));
        }
        let list = obj.field("commits");
        let items = if list.is_present() {
            list.items(errs)?
        } else {
            Vec::new()
        };
        if items.is_empty() {
            return Some(SourceOutcome::ignored(format!(
                "the push of {} has no commits (a tag, or a branch at a commit pushed before): \
                 nothing to store",
                quote(&pushed_ref)
            )));
        }
        let repo = repo_or_ignore!(self, obj.field("repository"), errs);
        let forced = obj.field("forced").bool(errs) == Some(true);
        let before = obj
            .field("before")
            .parse(errs, Sha::parse)
            .filter(|s| !super::is_zero(s.as_str()))
            .filter(|_| !forced);
        let read = items
            .iter()
            .map(|f| f.object(errs).and_then(|o| super::pushed_commit(&o, errs)))
            .collect();
        let mut commits = all(read)?;
        // GitHub lists a push's commits oldest first.
        super::chain(&mut commits, before);
        let repo = repo?;
        commands(vec![Command::Changes(ChangeBatch {
            repo: repo.url,
            repo_key: repo.key,
            commits,
        })])
    }

    fn deployment(&self, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        if let Some(action) = str_at(self.body, "/action").filter(|a| *a != "created") {
            return Some(SourceOutcome::ignored(format!(
                "deployment action {} is not one Dorado reads",
                quote(action)
            )));
        }
        let repo = repo_or_ignore!(self, obj.field("repository"), errs);
        let d = obj.field("deployment").required().object(errs);
        let mut w = d.and_then(|d| self.deployment_base(&d, None, repo.as_ref(), errs))?;
        w.result = DeployResult::Pending;
        w.state_at = w.started_at;
        commands(vec![Command::Deployment(w)])
    }

    fn deployment_status(&self, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        let status = obj.field("deployment_status").required().object(errs)?;
        let state = status.field("state").required().text(MAX_SHORT, errs)?;
        let result = match state.to_ascii_lowercase().as_str() {
            "success" => DeployResult::Success,
            "failure" | "error" => DeployResult::Failure,
            "queued" | "pending" | "in_progress" => DeployResult::InProgress,
            "inactive" => {
                // GitHub marks the previous deployment of an environment
                // inactive when a newer one succeeds: nothing happened to it.
                return Some(SourceOutcome::ignored("an inactive status changes nothing"));
            }
            _ => {
                return Some(SourceOutcome::ignored(format!(
                    "the deployment status {} is not one Dorado knows",
                    quote(&state)
                )));
            }
        };
        let repo = repo_or_ignore!(self, obj.field("repository"), errs);
        let at_field = status.field("created_at").required();
        let at = at_field.time(errs);
        let d = obj.field("deployment").required().object(errs);
        let base = d.and_then(|d| self.deployment_base(&d, Some(&status), repo.as_ref(), errs));
        if let Some(b) = &base {
            in_order(
                b.started_at,
                at,
                &at_field,
                "the deployment's created_at",
                errs,
            );
        }
        let mut w = base?;
        let at = at?;
        w.result = result;
        w.finished_at =
            matches!(result, DeployResult::Success | DeployResult::Failure).then_some(at);
        w.state_at = Some(at);
        let mut attrs = std::mem::take(&mut w.attributes);
        if let Some(map) = attrs.as_object_mut() {
            map.insert("state".into(), Value::from(state));
            for key in ["description", "target_url", "log_url", "environment_url"] {
                if let Some(v) = self.shown(&status, key) {
                    map.insert(format!("status_{key}"), Value::from(v));
                }
            }
        }
        w.attributes = attrs;
        commands(vec![Command::Deployment(w)])
    }

    /// What a deployment's own object says: id, commit, environment, start.
    /// A status may name another environment than its deployment's.
    fn deployment_base(
        &self,
        d: &Obj,
        status: Option<&Obj>,
        repo: Option<&Repo>,
        errs: &mut Errors,
    ) -> Option<DeploymentWrite> {
        let external_id = d.field("id").required().parse_key(errs, |id| {
            ExternalId::parse(&format!("github:deployment:{id}"))
        });
        let sha = d.field("sha").required().parse(errs, Sha::parse);
        let started_at = d.field("created_at").required().time(errs);
        let status_env = status
            .map(|s| s.field("environment"))
            .filter(Field::is_present);
        let own = d.field("environment");
        let own = if status_env.is_some() {
            own
        } else {
            own.required()
        };
        let own_env = own.parse(errs, vendor_environment);
        let status_env = status_env.and_then(|f| f.parse(errs, vendor_environment));
        let production_flag = d.field("production_environment").bool(errs) == Some(true);
        let environment = match status_env {
            Some(s) if own_env.as_ref() != Some(&s) => Some(s),
            // GitHub's flag is about the deployment's own environment.
            _ if production_flag => own_env.map(|_| Environment::production()),
            _ => own_env,
        };
        let mut attrs = Attributes::default();
        for key in ["ref", "task", "description", "url"] {
            attrs.put(key, self.shown(d, key));
        }
        attrs.put(
            "creator",
            str_at(self.body, &format!("{}/creator/login", d.at())),
        );
        let repo = repo?;
        Some(DeploymentWrite {
            service: repo.service,
            external_id: Some(external_id?),
            name: None,
            environment: environment?,
            result: DeployResult::Pending,
            started_at: Some(started_at?),
            finished_at: None,
            commits: vec![DeployedCommit {
                repo: repo.url.clone(),
                repo_key: repo.key.clone(),
                sha: sha?,
            }],
            shipped: None,
            kind: DeploymentKind::Normal,
            rework: false,
            lead_time_seconds: None,
            source: SOURCE.into(),
            attributes: attrs.into_value(),
            state_at: None,
        })
    }

    fn workflow_run(&self, config: &SourceConfig, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        let run = obj.field("workflow_run").required().object(errs)?;
        let workflow = obj
            .field("workflow")
            .value(errs)
            .and_then(|v| Obj::new(v, obj.ptr("workflow"), "an object", errs));
        // A run's name is its workflow's unless the workflow sets
        // `run-name`; the file name is what a user sees in the repository.
        let names: Vec<String> = [
            self.shown(&run, "name"),
            workflow.as_ref().and_then(|w| self.shown(w, "name")),
            self.shown(&run, "path").as_deref().and_then(file_name),
            workflow
                .as_ref()
                .and_then(|w| self.shown(w, "path"))
                .as_deref()
                .and_then(file_name),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(shown) = names.first() else {
            errs.add(run.ptr("name"), "is required");
            return None;
        };
        if !names.iter().any(|n| config.is_deploy_workflow(n)) {
            return Some(SourceOutcome::ignored(format!(
                "the workflow {} is not a deploy workflow of this source; to count its completed \
                 runs as deployments, create the source with it: \
                 dorado source create ... --deploy-workflow {}",
                quote(shown),
                quote(shown)
            )));
        }
        let action = str_at(self.body, "/action").unwrap_or_default();
        if action != "completed" {
            return Some(SourceOutcome::ignored(format!(
                "the run of the deploy workflow {} is {}: only a completed run is a deployment",
                quote(shown),
                quote(action)
            )));
        }
        let repo = repo_or_ignore!(self, obj.field("repository"), errs);
        let external_id = run
            .field("id")
            .required()
            .parse_key(errs, |id| ExternalId::parse(&format!("github:run:{id}")));
        let sha = run.field("head_sha").required().parse(errs, Sha::parse);
        // A run waits in a queue between its creation and its start.
        let start = run.field("run_started_at");
        let started_at = if start.is_present() {
            start.time(errs)
        } else {
            run.field("created_at").time(errs)
        };
        let end = run.field("updated_at").required();
        let finished_at = end.time(errs);
        in_order(started_at, finished_at, &end, "run_started_at", errs);
        let conclusion = self.shown(&run, "conclusion");
        let result = match conclusion.as_deref() {
            Some(c) if c.eq_ignore_ascii_case("success") => DeployResult::Success,
            _ => DeployResult::Failure,
        };
        let mut attrs = Attributes::default();
        attrs.put("workflow", Some(shown.clone()));
        attrs.put("conclusion", conclusion);
        for key in ["display_title", "head_branch", "event", "html_url", "path"] {
            attrs.put(key, self.shown(&run, key));
        }
        for key in ["run_number", "run_attempt"] {
            attrs.put(
                key,
                self.body
                    .pointer(&run.ptr(key))
                    .filter(|v| v.is_number())
                    .cloned(),
            );
        }
        let repo = repo?;
        let finished_at = finished_at?;
        commands(vec![Command::Deployment(DeploymentWrite {
            service: repo.service,
            external_id: Some(external_id?),
            name: Some(shown.clone()),
            environment: Environment::production(),
            result,
            started_at,
            finished_at: Some(finished_at),
            commits: vec![DeployedCommit {
                repo: repo.url,
                repo_key: repo.key,
                sha: sha?,
            }],
            shipped: None,
            kind: DeploymentKind::Normal,
            rework: false,
            lead_time_seconds: None,
            source: SOURCE.into(),
            attributes: attrs.into_value(),
            // A run attempted again keeps its id; the latest attempt wins.
            state_at: Some(finished_at),
        })])
    }

    fn pull_request(&self, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        let pr = obj.field("pull_request").required().object(errs)?;
        let number = self
            .body
            .pointer(&pr.ptr("number"))
            .or_else(|| self.body.get("number"))
            .filter(|v| v.is_number())
            .map(|n| format!("#{n}"))
            .unwrap_or_else(|| "the pull request".to_owned());
        let action = str_at(self.body, "/action").unwrap_or_default();
        if action != "closed" {
            return Some(SourceOutcome::ignored(format!(
                "pull request {number} was {}: only a merged pull request is read",
                quote(action)
            )));
        }
        let merged_at_field = pr.field("merged_at");
        let merged = match pr.field("merged").bool(errs) {
            Some(m) => m,
            None => merged_at_field.is_present(),
        };
        if !merged {
            return Some(SourceOutcome::ignored(format!(
                "pull request {number} was closed without being merged"
            )));
        }
        // The base repository is the one merged into; for a pull request
        // from a fork the head's is another.
        let base_repo = self
            .body
            .pointer(&format!("{}/base/repo", pr.at()))
            .is_some_and(Value::is_object);
        let repo_field = if base_repo {
            pr.field("base").object(errs).map(|b| b.field("repo"))
        } else {
            None
        }
        .unwrap_or_else(|| obj.field("repository"));
        let repo = repo_or_ignore!(self, repo_field, errs);
        let sha = pr
            .field("merge_commit_sha")
            .required()
            .parse(errs, Sha::parse);
        let merged_at = merged_at_field.clone().required().time(errs);
        let opened_at = pr.field("created_at").required().time(errs);
        in_order(opened_at, merged_at, &merged_at_field, "created_at", errs);
        let head = self.side_sha(&pr, "head", errs);
        let base = self.side_sha(&pr, "base", errs);
        let count = pr.field("commits");
        let commits = count.int(errs).and_then(|n| {
            u32::try_from(n)
                .map_err(|_| errs.add(count.ptr(), "must be a count of commits"))
                .ok()
        });
        let repo = repo?;
        commands(vec![Command::Changes(ChangeBatch {
            repo: repo.url,
            repo_key: repo.key,
            commits: vec![ChangeWrite {
                sha: sha?,
                // The merge commit's parents come with the push that
                // brings it: a squash has one, a merge two.
                parents: Vec::new(),
                committed_at: Some(merged_at?),
                authored_at: None,
                // Its author and message come with the push too: the
                // request's are not the commit's.
                author: None,
                message: None,
                request: Some(MergedRequest {
                    opened_at: opened_at?,
                    head: head?,
                    base: base?,
                    commits,
                }),
            }],
        })])
    }

    /// `head.sha` or `base.sha` of a pull request: `Some(None)` when absent.
    fn side_sha(&self, pr: &Obj, side: &str, errs: &mut Errors) -> Option<Option<Sha>> {
        let f = pr.field(side);
        if !f.is_present() {
            return Some(None);
        }
        let o = f.object(errs)?;
        let sha = o.field("sha");
        if !sha.is_present() {
            return Some(None);
        }
        sha.parse(errs, Sha::parse).map(Some)
    }

    fn issues(&self, errs: &mut Errors) -> Outcome {
        let obj = &self.obj;
        let issue = obj.field("issue").required().object(errs)?;
        let action = str_at(self.body, "/action").unwrap_or_default();
        let labelled = is_incident_label(self.body.pointer(&issue.ptr("labels")));
        let removed = action == "unlabeled"
            && self
                .body
                .pointer("/label/name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(INCIDENT_LABEL));
        if !labelled && !removed {
            let number = self
                .body
                .pointer(&issue.ptr("number"))
                .filter(|v| v.is_number())
                .map(|n| format!("#{n}"))
                .unwrap_or_else(|| "the issue".to_owned());
            return Some(SourceOutcome::ignored(format!(
                "issue {number} has no label {}: only incidents are read",
                quote(INCIDENT_LABEL)
            )));
        }
        let repository = obj.field("repository");
        let repo = repo_or_ignore!(self, repository.clone(), errs);
        // Read again only once known to be an object, so that a problem of
        // it is not reported twice.
        let full_name = repo
            .as_ref()
            .and_then(|_| repository.object(errs))
            .and_then(|r| r.field("full_name").required().text(MAX_SHORT, errs));
        let number_field = issue.field("number").required();
        let number = number_field.int(errs);
        let key = match (full_name, number) {
            (Some(name), Some(n)) => IncidentKey::parse(&format!("{name}#{n}"))
                .map_err(|e| errs.add(number_field.ptr(), e))
                .ok(),
            _ => None,
        };
        let title = issue.field("title").clipped(MAX_SHORT, errs);
        let started_at = issue.field("created_at").required().time(errs);
        let state = self.shown(&issue, "state");
        let closed = state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("closed"));
        let closed_at = issue.field("closed_at");
        let resolved_at = if closed {
            // An issue closed before GitHub kept closing times has none.
            if closed_at.is_present() {
                closed_at.time(errs)
            } else {
                issue.field("updated_at").time(errs)
            }
        } else {
            None
        };
        in_order(started_at, resolved_at, &closed_at, "created_at", errs);
        let reopened_at = if action == "reopened" {
            issue.field("updated_at").required().time(errs)
        } else {
            None
        };
        let mut attrs = Attributes::default();
        attrs.put("number", number);
        attrs.put("html_url", self.shown(&issue, "html_url"));
        attrs.put("state", state);
        attrs.put("state_reason", self.shown(&issue, "state_reason"));
        attrs.put(
            "user",
            str_at(self.body, &format!("{}/user/login", issue.at())),
        );
        let repo = repo?;
        commands(vec![Command::Incident(IncidentWrite {
            service: Some(repo.service),
            key: key?,
            title,
            started_at: Some(started_at?),
            resolved_at,
            cause: None,
            fixed_by: None,
            is_incident: labelled && action != "deleted",
            source: SOURCE.into(),
            attributes: attrs.into_value(),
            times: IncidentTimes::Lifecycle,
            reopened_at,
        })])
    }
}

/// A repository object's web address (or, without one, its `full_name` on
/// github.com) and its key.
fn repository(repo: &Obj, errs: &mut Errors) -> Option<(String, RepoKey)> {
    let url = repo.field("html_url");
    let name = repo.field("full_name");
    if !url.is_present() && name.is_present() {
        return name.parse(errs, |s| {
            let url = format!("https://github.com/{s}");
            RepoKey::parse(&url).map(|k| (url, k))
        });
    }
    crate::native::repo(&url.required(), errs)
}

/// The file name of a workflow's path (`.github/workflows/deploy.yml`), as
/// a user names the workflow when it has no `name`. A reusable workflow's
/// path may end in `@ref`.
fn file_name(path: &str) -> Option<String> {
    let path = path.split('@').next().unwrap_or_default();
    path.rsplit('/')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn is_incident_label(labels: Option<&Value>) -> bool {
    labels.and_then(Value::as_array).is_some_and(|labels| {
        labels.iter().any(|l| {
            // Labels are objects; older payloads and hand-made ones
            // name them by string.
            l.get("name")
                .or(Some(l))
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(INCIDENT_LABEL))
        })
    })
}
