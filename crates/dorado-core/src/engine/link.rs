//! Incidents to deployments (semantics.md "Linking incidents to
//! deployments"), and the rework an incident's `fixed_by` names.
//!
//! Lookups are hash maps keyed by `(service, borrowed text)` built once, and
//! each service's counted deployments are a position list sorted by
//! `(finished_at, id)`, so a time link is one binary search.
//!
//! An explicit cause that names no counted deployment (an unknown external
//! id, a failed or staging deployment, a sha no counted deployment of the
//! service deployed) falls back to the time rule: the sender said the
//! incident has a cause, and the counted history still has the deployment
//! DevLake would blame.

use super::NONE;
use super::facts::Facts;
use crate::command::IncidentCause;
use crate::id::ServiceId;
use serde::Serialize;
use std::collections::HashMap;

/// How an incident was linked to its deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// The incident named the deployment (by id) or a sha it deployed.
    Explicit,
    /// The last counted deployment of the service before the incident started.
    Time,
}

pub(crate) struct Linked {
    /// Per incident row: the counted position it is linked to.
    pub link: Vec<Option<(u32, LinkKind)>>,
    /// Per deployment row: an incident names it in `fixed_by`.
    pub fixes: Vec<bool>,
}

/// `counted`: deployment rows in `(finished_at, id)` order; `position`: per
/// deployment row, its index in `counted` or `NONE`; `by_service`: counted
/// positions of each service, ascending.
pub(crate) fn link(
    facts: &Facts,
    counted: &[u32],
    position: &[u32],
    finished: &[i64],
    by_service: &HashMap<ServiceId, Vec<u32>>,
) -> Linked {
    // Only what incidents name is looked for, so the maps are as small as
    // the incidents' causes and fixes, however many deployments there are.
    let mut by_external: HashMap<(ServiceId, &str), Vec<u32>> = HashMap::new();
    let mut first_deploying: HashMap<(ServiceId, &str), u32> = HashMap::new();
    for inc in facts.incidents.iter().filter(|i| i.is_incident) {
        let Some(service) = inc.service_id else {
            continue;
        };
        let named = inc.fixed_by.iter().chain(match &inc.cause {
            Some(IncidentCause::Deployment(ext)) => Some(ext),
            _ => None,
        });
        for ext in named {
            by_external.entry((service, ext.as_str())).or_default();
        }
        if let Some(IncidentCause::Commit(sha)) = &inc.cause {
            first_deploying.insert((service, sha.as_str()), NONE);
        }
    }
    if !by_external.is_empty() {
        for (row, d) in facts.deployments.iter().enumerate() {
            if let Some(rows) = d
                .external_id
                .as_ref()
                .and_then(|e| by_external.get_mut(&(d.service_id, e.as_str())))
            {
                rows.push(row as u32);
            }
        }
    }
    if !first_deploying.is_empty() {
        for (pos, &row) in counted.iter().enumerate() {
            let d = &facts.deployments[row as usize];
            for (_, sha) in &d.commits {
                if let Some(first) = first_deploying.get_mut(&(d.service_id, sha.as_str()))
                    && *first == NONE
                {
                    *first = pos as u32;
                }
            }
        }
    }

    let mut fixes = vec![false; facts.deployments.len()];
    let mut link = vec![None; facts.incidents.len()];
    let window_ms = facts.link_window_seconds.map(|s| s.saturating_mul(1000));
    for (i, inc) in facts.incidents.iter().enumerate() {
        let Some(service) = inc.service_id.filter(|_| inc.is_incident) else {
            continue;
        };
        if let Some(fix) = &inc.fixed_by {
            for &row in by_external
                .get(&(service, fix.as_str()))
                .into_iter()
                .flatten()
            {
                fixes[row as usize] = true;
            }
        }
        let Some(started) = inc.started_at else {
            continue;
        };
        let explicit = match &inc.cause {
            Some(IncidentCause::Deployment(ext)) => by_external
                .get(&(service, ext.as_str()))
                .into_iter()
                .flatten()
                .map(|&row| position[row as usize])
                .filter(|&pos| pos != NONE)
                .min(),
            Some(IncidentCause::Commit(sha)) => first_deploying
                .get(&(service, sha.as_str()))
                .copied()
                .filter(|&p| p != NONE),
            None => None,
        };
        link[i] = match explicit {
            Some(pos) => Some((pos, LinkKind::Explicit)),
            None => by_service.get(&service).and_then(|list| {
                let before = list.partition_point(|&p| finished[p as usize] < started.millis());
                let pos = *list.get(before.checked_sub(1)?)?;
                let gap = started.millis() - finished[pos as usize];
                window_ms
                    .is_none_or(|w| gap <= w)
                    .then_some((pos, LinkKind::Time))
            }),
        };
    }
    Linked { link, fixes }
}
