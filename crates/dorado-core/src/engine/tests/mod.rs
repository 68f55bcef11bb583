//! Hand-computed scenarios for every rule of semantics.md, to the second,
//! and properties over random histories.

mod counting;
mod levels;
mod links;
mod metrics;
mod perf;
mod props;
mod requests;
mod series;
mod shipped;

use super::*;
use crate::command::{DeploymentKind, IncidentCause};
use crate::entity::{DeployResult, Scope};
use crate::id::{DeploymentId, IncidentId, OrgId, ServiceId};
use crate::instant::Timestamp;
use crate::name::{Environment, ExternalId, IncidentKey, RepoKey, Sha};

pub(super) fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

pub(super) fn commit(repo: &str, sha: &str, parents: &[&str], committed: &str) -> ChangeFact {
    ChangeFact {
        repo_key: RepoKey::from_trusted(repo),
        sha: Sha::from_trusted(sha),
        parents: parents.iter().map(|p| Sha::from_trusted(*p)).collect(),
        committed_at: (!committed.is_empty()).then(|| t(committed)),
        authored_at: None,
        request: None,
    }
}

/// A counted deployment: production, success, finished.
pub(super) fn dep(
    id: i64,
    service: i64,
    finished: &str,
    commits: &[(&str, &str)],
) -> DeploymentFact {
    DeploymentFact {
        id: DeploymentId(id),
        external_id: None,
        service_id: ServiceId(service),
        environment: Environment::production(),
        result: DeployResult::Success,
        finished_at: Some(t(finished)),
        commits: commits
            .iter()
            .map(|(r, s)| (RepoKey::from_trusted(*r), Sha::from_trusted(*s)))
            .collect(),
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
    }
}

pub(super) fn ext(d: DeploymentFact, external: &str) -> DeploymentFact {
    DeploymentFact {
        external_id: Some(ExternalId::from_trusted(external)),
        ..d
    }
}

pub(super) fn inc(id: i64, service: Option<i64>, started: &str, resolved: &str) -> IncidentFact {
    IncidentFact {
        id: IncidentId(id),
        key: IncidentKey::from_trusted(format!("INC-{id}")),
        service_id: service.map(ServiceId),
        started_at: (!started.is_empty()).then(|| t(started)),
        resolved_at: (!resolved.is_empty()).then(|| t(resolved)),
        cause: None,
        fixed_by: None,
        is_incident: true,
    }
}

pub(super) fn caused_by_deployment(i: IncidentFact, external: &str) -> IncidentFact {
    IncidentFact {
        cause: Some(IncidentCause::Deployment(ExternalId::from_trusted(
            external,
        ))),
        ..i
    }
}

pub(super) fn caused_by_commit(i: IncidentFact, sha: &str) -> IncidentFact {
    IncidentFact {
        cause: Some(IncidentCause::Commit(Sha::from_trusted(sha))),
        ..i
    }
}

pub(super) fn production(facts: &Facts) -> Derived {
    derive(facts, &Environment::production())
}

/// `(sha, lead time)` of what a deployment shipped, sorted by sha.
pub(super) fn shipped(facts: &Facts, d: &Derived, id: i64) -> Vec<(String, Option<i64>)> {
    let mut v: Vec<_> = d
        .deployment(facts, DeploymentId(id))
        .unwrap()
        .shipped
        .iter()
        .map(|s| (s.sha.to_string(), s.lead_time_seconds))
        .collect();
    v.sort();
    v
}

pub(super) fn shas(facts: &Facts, d: &Derived, id: i64) -> Vec<String> {
    shipped(facts, d, id).into_iter().map(|s| s.0).collect()
}

/// The deployment an incident is linked to, and how.
pub(super) fn linked(facts: &Facts, d: &Derived, id: i64) -> Option<(i64, LinkKind)> {
    let v = d.incident(facts, IncidentId(id)).unwrap();
    Some((v.deployment?.id.0, v.link?))
}

pub(super) fn query(scope: Scope, from: &str, to: &str) -> Query {
    Query {
        org_id: OrgId(1),
        scope,
        service: None,
        environment: Environment::production(),
        from: t(from),
        to: t(to),
        benchmark: Benchmark::Y2023,
    }
}

pub(super) fn metrics_of(facts: &Facts, q: &Query) -> Metrics {
    report(facts, &production(facts), q).metrics
}

pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;

#[test]
fn derived_can_be_cached_and_shared_between_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Derived>();
    shared::<DoraReport>();
}
