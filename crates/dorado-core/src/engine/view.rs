//! What the HTTP lists show of a deployment and an incident beyond what
//! was stored: shipped commits with lead times, and links. Views borrow
//! from the facts instead of copying shas and keys.

use super::NONE;
use super::derive::{Derived, row_of};
use super::facts::Facts;
use super::link::LinkKind;
use super::ship::ShaRef;
use crate::id::{DeploymentId, IncidentId};
use crate::instant::Timestamp;
use crate::name::{ExternalId, IncidentKey, RepoKey, Sha};
use serde::Serialize;

/// What the HTTP list shows for one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentView<'a> {
    /// Counted in the environment the `Derived` was built for.
    pub counted: bool,
    /// The sender's flag, a rollback or hotfix, or named by an incident's `fixed_by`.
    pub rework: bool,
    pub shipped: Vec<ShippedView<'a>>,
    pub incidents: Vec<LinkedIncident<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedView<'a> {
    pub repo: &'a RepoKey,
    pub sha: &'a Sha,
    /// The time its lead time is measured from: the explicit entry's time,
    /// else the commit's `committed_at`, else its `authored_at`, or the
    /// time of the request it merged when that is earlier.
    pub committed_at: Option<Timestamp>,
    pub lead_time_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedIncident<'a> {
    pub key: &'a IncidentKey,
    pub link: LinkKind,
}

/// What the HTTP list shows for one incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentView<'a> {
    pub deployment: Option<LinkedDeployment<'a>>,
    pub link: Option<LinkKind>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedDeployment<'a> {
    pub id: DeploymentId,
    pub external_id: Option<&'a ExternalId>,
}

impl Derived {
    /// Shipped commits, linked incidents and rework of one deployment;
    /// `None` for an unknown id or facts this was not derived from.
    pub fn deployment<'a>(
        &'a self,
        facts: &'a Facts,
        id: DeploymentId,
    ) -> Option<DeploymentView<'a>> {
        if !self.derived_from(facts) {
            return None;
        }
        let row = row_of(&self.deployment_rows, id)?;
        let d = facts.deployments.get(row)?;
        let mut view = DeploymentView {
            counted: false,
            rework: self.rework[row],
            shipped: Vec::new(),
            incidents: Vec::new(),
        };
        let pos = self.position[row];
        if pos == NONE {
            return Some(view);
        }
        view.counted = true;
        let finished = self.rows[pos as usize].at;
        for s in self.shipped.get(pos as usize) {
            let sha = match s.sha() {
                ShaRef::Change(i) => &facts.changes.get(i as usize)?.sha,
                ShaRef::Entry(k) => &d.shipped.as_ref()?.get(k as usize)?.1,
            };
            view.shipped.push(ShippedView {
                repo: &self.repos[s.repo as usize],
                sha,
                committed_at: s.time(),
                lead_time_seconds: s.lead_seconds(finished),
            });
        }
        for &i in self.linked.get(pos as usize) {
            let (_, link) = self.incident_link[i as usize]?;
            view.incidents.push(LinkedIncident {
                key: &facts.incidents.get(i as usize)?.key,
                link,
            });
        }
        Some(view)
    }

    /// The deployment an incident is linked to, and how; `None` for an
    /// unknown id or facts this was not derived from.
    pub fn incident<'a>(&'a self, facts: &'a Facts, id: IncidentId) -> Option<IncidentView<'a>> {
        if !self.derived_from(facts) {
            return None;
        }
        let i = row_of(&self.incident_rows, id)?;
        let Some((pos, link)) = self.incident_link[i] else {
            return Some(IncidentView {
                deployment: None,
                link: None,
            });
        };
        let d = facts
            .deployments
            .get(self.rows[pos as usize].dep as usize)?;
        Some(IncidentView {
            deployment: Some(LinkedDeployment {
                id: d.id,
                external_id: d.external_id.as_ref(),
            }),
            link: Some(link),
        })
    }
}
