//! What the engine reads: the stored rows of one organization, reduced to the
//! fields the figures depend on. The store loads them; nothing here does I/O.

use crate::command::{DeploymentKind, IncidentCause};
use crate::entity::DeployResult;
use crate::id::{DeploymentId, IncidentId, ServiceId};
use crate::instant::Timestamp;
use crate::name::{Environment, ExternalId, IncidentKey, RepoKey, Sha};

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

impl DeploymentFact {
    /// Counted in `environment` (semantics.md "Which deployments count"):
    /// the finish time when it counts, `None` otherwise.
    pub(crate) fn counted_at(&self, environment: &Environment) -> Option<Timestamp> {
        (self.environment == *environment && self.result == DeployResult::Success)
            .then_some(self.finished_at)
            .flatten()
    }
}
