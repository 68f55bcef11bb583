//! What the engine reads: the stored rows of one organization, reduced to the
//! fields the figures depend on. The store loads them; nothing here does I/O.

use crate::command::{DeploymentKind, IncidentCause, MergedRequest};
use crate::entity::DeployResult;
use crate::id::{DeploymentId, IncidentId, ServiceId};
use crate::instant::Timestamp;
use crate::name::{Environment, ExternalId, IncidentKey, RepoKey, Sha};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Everything of one organization the figures depend on (or one service's
/// deployments and incidents, with all of the organization's changes: every
/// rule is scoped to a service, so the result for that service is the same).
///
/// Input order never matters: the engine sorts and interns what it needs.
/// Ids (`DeploymentId`, `IncidentId`) are expected to be unique, as they are
/// primary keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub deployments: Vec<DeploymentFact>,
    pub changes: Vec<ChangeFact>,
    pub incidents: Vec<IncidentFact>,
    /// The organization's link window (semantics.md, linking rule 3);
    /// `None` = no window, as DevLake.
    pub link_window_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFact {
    pub id: DeploymentId,
    pub external_id: Option<ExternalId>,
    pub service_id: ServiceId,
    pub environment: Environment,
    pub result: DeployResult,
    pub finished_at: Option<Timestamp>,
    /// What it deployed: one sha per repository.
    pub commits: Vec<(RepoKey, Sha)>,
    /// The explicit list of what it shipped, when the sender gave one, with
    /// the commit time the sender gave for each.
    pub shipped: Option<Vec<(RepoKey, Sha, Option<Timestamp>)>>,
    pub kind: DeploymentKind,
    /// Marked as rework by the sender.
    pub rework: bool,
    /// The sender's own lead time (Allstacks `lead_time`), used when the
    /// deployment ships no commit with a lead time.
    pub lead_time_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFact {
    pub repo_key: RepoKey,
    pub sha: Sha,
    pub parents: Vec<Sha>,
    pub committed_at: Option<Timestamp>,
    pub authored_at: Option<Timestamp>,
    /// The pull or merge request this commit merged, when a source said
    /// so: its lead time then runs from the request (see `graph.rs`).
    /// Boxed because few commits have one and a history holds millions.
    pub request: Option<Box<MergedRequest>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFact {
    pub id: IncidentId,
    pub key: IncidentKey,
    pub service_id: Option<ServiceId>,
    pub started_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub cause: Option<IncidentCause>,
    /// External id of the deployment (in the same service) that fixed it.
    pub fixed_by: Option<ExternalId>,
    /// False for stored issues that are not incidents: the figures ignore them.
    pub is_incident: bool,
}

impl Facts {
    /// Splits the organization's facts into independent parts: one per
    /// service (its deployments and incidents, and the changes of every
    /// repository it deployed) and one of the incidents without a service
    /// (key `None`). Every rule of semantics.md is scoped to a service, so
    /// each part derives on its own to exactly what it would within the
    /// whole, and one write re-derives only the parts it touched.
    /// A repository deployed by several services is copied into each.
    pub fn split_by_service(self) -> Vec<(Option<ServiceId>, Facts)> {
        let window = self.link_window_seconds;
        let empty = || Facts {
            link_window_seconds: window,
            ..Facts::default()
        };
        let mut parts: BTreeMap<Option<ServiceId>, Facts> = BTreeMap::new();
        for d in self.deployments {
            parts
                .entry(Some(d.service_id))
                .or_insert_with(empty)
                .deployments
                .push(d);
        }
        for i in self.incidents {
            parts
                .entry(i.service_id)
                .or_insert_with(empty)
                .incidents
                .push(i);
        }
        let mut deployers: HashMap<RepoKey, Vec<Option<ServiceId>>> = HashMap::new();
        for (key, part) in &parts {
            for repo in part.deployed_repos() {
                deployers.entry(repo).or_default().push(*key);
            }
        }
        for change in self.changes {
            // A repository nobody deployed ships nothing: no part needs it.
            let Some((first, rest)) = deployers
                .get(&change.repo_key)
                .and_then(|k| k.split_first())
            else {
                continue;
            };
            for key in rest {
                if let Some(part) = parts.get_mut(key) {
                    part.changes.push(change.clone());
                }
            }
            if let Some(part) = parts.get_mut(first) {
                part.changes.push(change);
            }
        }
        parts.into_iter().collect()
    }

    /// Every repository a deployment names, in its commits or its
    /// explicit list: the commit graphs its figures can depend on.
    pub fn deployed_repos(&self) -> BTreeSet<RepoKey> {
        let mut repos = BTreeSet::new();
        for d in &self.deployments {
            repos.extend(d.commits.iter().map(|c| c.0.clone()));
            repos.extend(d.shipped.iter().flatten().map(|s| s.0.clone()));
        }
        repos
    }
}

impl DeploymentFact {
    /// Counted in `environment` (semantics.md "Which deployments count"):
    /// the finish time when it counts, `None` otherwise.
    pub(crate) fn counted_at(&self, environment: &Environment) -> Option<Timestamp> {
        (self.environment == *environment && self.result == DeployResult::Success)
            .then_some(self.finished_at)
            .flatten()
    }
}
