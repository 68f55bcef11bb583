//! What a request asks the store to do, once a dialect has read it.
//!
//! Every webhook dialect, the native API and the event API produce these
//! commands; the store applies one request's commands in one transaction, and
//! `dorado reindex` replays them from the delivery log. A command holds only
//! parsed, normalized values: the store never validates text again.

use crate::entity::DeployResult;
use crate::id::ServiceId;
use crate::instant::Timestamp;
use crate::name::{Environment, ExternalId, IncidentKey, RepoKey, ServiceName, Sha};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A write, as the store applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Deployment(DeploymentWrite),
    Changes(ChangeBatch),
    Incident(IncidentWrite),
    ResolveIncident(IncidentResolve),
    /// A task of a DevLake pipeline.
    PipelineTask(crate::pipeline::TaskWrite),
    /// A DevLake pipeline finished: it may become a deployment.
    FinishPipeline(crate::pipeline::PipelineFinish),
}

/// A service as a body or a path names it: by id or by name. Dialects
/// resolve it against the organization's [`ServiceDirectory`], so commands
/// carry only ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRef {
    Id(ServiceId),
    Name(ServiceName),
}

impl ServiceRef {
    /// Reads an id (`"7"` or `7`) or a name.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(|id| Self::Id(ServiceId(id)))
                .map_err(|_| format!("'{s}' is not a service id"));
        }
        ServiceName::parse(s).map(Self::Name)
    }
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(n) => write!(f, "{n}"),
        }
    }
}

/// The services of one organization, handed to a dialect so that it can
/// turn names into ids (and name the offending field) without touching the
/// database. It also holds the aliases by which native sources know a
/// service (a repository, a PagerDuty service id or name, a CDEvents subject).
#[derive(Debug, Clone, Default)]
pub struct ServiceDirectory {
    by_id: HashMap<ServiceId, ServiceName>,
    by_name: HashMap<ServiceName, ServiceId>,
    /// Lower-cased names, for the tools that match a repository's last
    /// segment or a vendor service's name in any case.
    by_folded_name: HashMap<String, ServiceId>,
    /// Keyed by [`crate::source::alias_key`].
    by_alias: HashMap<String, ServiceId>,
}

impl ServiceDirectory {
    pub fn new(services: impl IntoIterator<Item = (ServiceId, ServiceName)>) -> Self {
        let mut dir = Self::default();
        let mut services: Vec<_> = services.into_iter().collect();
        // The oldest service wins a name that differs only by case.
        services.sort_by_key(|(id, _)| *id);
        for (id, name) in services {
            dir.by_folded_name
                .entry(name.as_str().to_lowercase())
                .or_insert(id);
            dir.by_name.insert(name.clone(), id);
            dir.by_id.insert(id, name);
        }
        dir
    }

    /// Adds an alias (already normalized by `alias_key`) of a known service.
    pub fn add_alias(&mut self, key: String, service: ServiceId) {
        if self.by_id.contains_key(&service) {
            self.by_alias.insert(key, service);
        }
    }

    /// Only `only` (with its aliases), for a caller limited to one
    /// service: every other reads as unknown.
    pub fn restricted_to(&self, only: ServiceId) -> Self {
        let mut dir = Self::new(self.name(only).map(|n| (only, n.clone())));
        for (key, service) in &self.by_alias {
            if *service == only {
                dir.by_alias.insert(key.clone(), only);
            }
        }
        dir
    }

    pub fn resolve(&self, r: &ServiceRef) -> Option<ServiceId> {
        match r {
            ServiceRef::Id(id) => self.by_id.contains_key(id).then_some(*id),
            ServiceRef::Name(n) => self.by_name.get(n).copied(),
        }
    }

    pub fn name(&self, id: ServiceId) -> Option<&ServiceName> {
        self.by_id.get(&id)
    }

    /// The service of a repository, as api.md says: by an alias, else by a
    /// name equal (in any case) to the repository's last path segment.
    pub fn for_repo(&self, repo: &RepoKey) -> Option<ServiceId> {
        self.by_alias.get(repo.as_str()).copied().or_else(|| {
            let last = repo.as_str().rsplit('/').next().unwrap_or_default();
            self.by_folded_name.get(last).copied()
        })
    }

    /// The service a tool names by its own id or name (a PagerDuty
    /// service, a CDEvents subject): an alias of either, else the name.
    pub fn for_vendor(&self, names: &[&str]) -> Option<ServiceId> {
        let keys: Vec<String> = names
            .iter()
            .filter_map(|n| crate::source::alias_key(n).ok())
            .collect();
        keys.iter()
            .find_map(|k| self.by_alias.get(k).copied())
            .or_else(|| {
                names
                    .iter()
                    .find_map(|n| self.by_folded_name.get(&n.trim().to_lowercase()).copied())
            })
    }
}

/// Why a deployment is rework, when the sender says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    #[default]
    Normal,
    Rollback,
    Hotfix,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Rollback => "rollback",
            Self::Hotfix => "hotfix",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" | "deploy" | "deployment" | "" => Ok(Self::Normal),
            "rollback" => Ok(Self::Rollback),
            "hotfix" => Ok(Self::Hotfix),
            other => Err(format!(
                "'{other}' is not a kind; expected normal, rollback or hotfix"
            )),
        }
    }
}

/// One repository at one commit that a deployment rolled out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedCommit {
    /// The repository as the sender wrote it, for display.
    pub repo: String,
    pub repo_key: RepoKey,
    pub sha: Sha,
}

/// One entry of a deployment's explicit list of shipped commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedCommit {
    pub repo: String,
    pub repo_key: RepoKey,
    pub sha: Sha,
    /// When the sender knows it; otherwise the commit's known time is used.
    pub committed_at: Option<Timestamp>,
}

/// Creates a deployment, or replaces the one with the same external id in
/// the same service (commits included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentWrite {
    pub service: ServiceId,
    /// The sender's id; `None` always creates a new deployment.
    pub external_id: Option<ExternalId>,
    pub name: Option<String>,
    pub environment: Environment,
    pub result: DeployResult,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub commits: Vec<DeployedCommit>,
    /// The explicit list of what this deployment shipped, when the sender
    /// gave one; otherwise the commit graph decides.
    pub shipped: Option<Vec<ShippedCommit>>,
    pub kind: DeploymentKind,
    /// Marked as rework by the sender (a rollback or hotfix is rework too).
    pub rework: bool,
    /// A lead time the sender measured itself (Allstacks' `lead_time`
    /// optional field), used when the deployment ships no known commit.
    pub lead_time_seconds: Option<i64>,
    /// Which dialect created it: `native`, `events`, `devlake`, `allstacks`,
    /// or a native source's kind (`github`, ...).
    pub source: String,
    /// What the dialect keeps beyond the domain fields (Allstacks job
    /// fields, DevLake names and refs), shown back to the sender as is.
    pub attributes: serde_json::Value,
    /// When the state this write reports was reached, for tools that send
    /// one object's states as separate events that may arrive in any
    /// order (GitHub deployment statuses, GitLab deployment hooks): a
    /// stored deployment whose state is later is left as it is. `None`
    /// (the APIs, the scripted dialects) always replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_at: Option<Timestamp>,
}

/// One repository's commits, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    pub repo: String,
    pub repo_key: RepoKey,
    pub commits: Vec<ChangeWrite>,
}

/// A commit. Writing a known commit again fills in what was missing; its
/// parents are added to those already known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWrite {
    pub sha: Sha,
    pub parents: Vec<Sha>,
    pub committed_at: Option<Timestamp>,
    pub authored_at: Option<Timestamp>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// The pull or merge request this commit merged, when a tool says so:
    /// its lead time runs from the request, so that squash and rebase
    /// merges do not shorten it (semantics.md, "Sources of data").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<MergedRequest>,
}

/// A pull or merge request, as its merge commit remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedRequest {
    pub opened_at: Timestamp,
    /// The request's last commit; with `base` or `commits`, the engine
    /// finds the request's own commits among the known ones.
    pub head: Option<Sha>,
    /// Where the request branched off: the walk from `head` stops there.
    pub base: Option<Sha>,
    /// How many commits the request had (GitHub says so).
    pub commits: Option<u32>,
}

/// What caused an incident, when the sender names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentCause {
    /// A deployment's external id in the incident's service.
    Deployment(ExternalId),
    /// A sha deployed by the incident's service.
    Commit(Sha),
}

/// Creates an incident, or updates the one with the same key in the same
/// service. Fields left `None` keep what is stored, so a start that arrives
/// after its resolve does not reopen it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentWrite {
    /// `None`: an incident of the organization as a whole, linked to nothing.
    pub service: Option<ServiceId>,
    pub key: IncidentKey,
    pub title: Option<String>,
    pub started_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub cause: Option<IncidentCause>,
    /// The external id of the deployment that fixed it: that one is rework.
    pub fixed_by: Option<ExternalId>,
    /// False for issues that are stored but are not incidents (DevLake
    /// issues of another `type`); the metrics ignore them.
    pub is_incident: bool,
    pub source: String,
    pub attributes: serde_json::Value,
    /// How this write's times combine with the stored incident's.
    #[serde(default)]
    pub times: IncidentTimes,
    /// When it was opened again after a resolution (vendor sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_at: Option<Timestamp>,
}

/// How an incident write's times combine with what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentTimes {
    /// The APIs and scripted dialects: a time given replaces the stored one.
    #[default]
    Replace,
    /// As `Replace`, but the sender gave no start, so `started_at` is the
    /// request's arrival: it only fills a start not known yet, and an
    /// incident posted again without one keeps its start.
    ArrivalStart,
    /// Vendor sources report each step of an incident's life as its own
    /// event, in any order: the start is the earliest start, the resolution
    /// the latest resolution, and the incident is open while its latest
    /// reopening is not earlier than its latest resolution (semantics.md:
    /// time to restore runs from the first start to the last resolution).
    Lifecycle,
}

/// Resolves an incident by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentResolve {
    /// `None`: the key alone names it (refused when several services use it).
    pub service: Option<ServiceId>,
    pub key: IncidentKey,
    pub resolved_at: Timestamp,
    /// Keep an earlier resolution time instead of moving it (DevLake's
    /// `close` only resolves an issue that has no resolution date yet).
    pub keep_existing: bool,
    /// Create the incident, not yet started, when the key is unknown: a
    /// historical resolve may arrive before its start.
    pub create_missing: bool,
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_read_ids_and_names() {
        assert_eq!(ServiceRef::parse("7"), Ok(ServiceRef::Id(ServiceId(7))));
        assert_eq!(
            ServiceRef::parse("checkout"),
            Ok(ServiceRef::Name(ServiceName::parse("checkout").unwrap()))
        );
        assert!(ServiceRef::parse("").is_err());
        assert!(ServiceRef::parse("99999999999999999999999").is_err());
    }

    #[test]
    fn a_restricted_directory_keeps_its_service_aliases_only() {
        let mut dir = ServiceDirectory::new([
            (ServiceId(2), ServiceName::parse("checkout").unwrap()),
            (ServiceId(3), ServiceName::parse("cart").unwrap()),
        ]);
        dir.add_alias("pcheckout".into(), ServiceId(2));
        dir.add_alias("pcart".into(), ServiceId(3));
        let only = dir.restricted_to(ServiceId(2));
        assert_eq!(only.for_vendor(&["PCHECKOUT"]), Some(ServiceId(2)));
        assert_eq!(only.for_vendor(&["pcart"]), None);
        assert_eq!(only.for_vendor(&["cart"]), None);
        assert_eq!(only.resolve(&ServiceRef::parse("3").unwrap()), None);
    }

    #[test]
    fn directory_resolves_only_its_own_services() {
        let dir = ServiceDirectory::new([(ServiceId(2), ServiceName::parse("checkout").unwrap())]);
        assert_eq!(
            dir.resolve(&ServiceRef::parse("2").unwrap()),
            Some(ServiceId(2))
        );
        assert_eq!(
            dir.resolve(&ServiceRef::parse("checkout").unwrap()),
            Some(ServiceId(2))
        );
        assert_eq!(dir.resolve(&ServiceRef::parse("3").unwrap()), None);
        assert_eq!(dir.resolve(&ServiceRef::parse("cart").unwrap()), None);
    }
}
