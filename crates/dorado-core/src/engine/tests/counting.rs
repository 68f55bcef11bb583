//! semantics.md "Which deployments count".

use super::*;

fn history() -> Vec<ChangeFact> {
    vec![
        commit("shop", "a", &[], "2024-01-01T00:00:00Z"),
        commit("shop", "b", &["a"], "2024-01-01T01:00:00Z"),
        commit("shop", "c", &["b"], "2024-01-01T02:00:00Z"),
        commit("shop", "d", &["c"], "2024-01-01T03:00:00Z"),
    ]
}

fn not_counted() -> Vec<DeploymentFact> {
    let failed = DeploymentFact {
        result: DeployResult::Failure,
        ..dep(2, 1, "2024-01-01T02:10:00Z", &[("shop", "b")])
    };
    let pending = DeploymentFact {
        result: DeployResult::Pending,
        ..dep(3, 1, "2024-01-01T02:20:00Z", &[("shop", "c")])
    };
    let staging = DeploymentFact {
        environment: Environment::parse("Staging").unwrap(),
        ..dep(4, 1, "2024-01-01T02:30:00Z", &[("shop", "c")])
    };
    let unfinished = DeploymentFact {
        finished_at: None,
        ..dep(5, 1, "2024-01-01T02:40:00Z", &[("shop", "c")])
    };
    vec![failed, pending, staging, unfinished]
}

#[test]
fn failed_pending_staging_and_unfinished_deployments_do_not_count() {
    let mut deployments = not_counted();
    deployments.push(dep(1, 1, "2024-01-01T00:30:00Z", &[("shop", "a")]));
    deployments.push(dep(6, 1, "2024-01-01T04:00:00Z", &[("shop", "d")]));
    let facts = Facts {
        changes: history(),
        deployments,
        ..Facts::default()
    };
    let d = production(&facts);
    for id in 2..=5 {
        let v = d.deployment(&facts, DeploymentId(id)).unwrap();
        assert!(!v.counted && v.shipped.is_empty(), "deployment {id}");
    }
    // None of them is D6's previous deployment: D6 ships all since D1.
    assert_eq!(shas(&facts, &d, 6), ["b", "c", "d"]);
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    assert_eq!(m.deployment_frequency.deployments, 2);
    assert_eq!(m.change_failure_rate.deployments, 2);
}

#[test]
fn another_environment_counts_its_own_deployments() {
    let mut deployments = not_counted();
    deployments.push(dep(1, 1, "2024-01-01T00:30:00Z", &[("shop", "a")]));
    let facts = Facts {
        changes: history(),
        deployments,
        ..Facts::default()
    };
    let d = derive(&facts, &Environment::parse("staging").unwrap());
    assert!(!d.deployment(&facts, DeploymentId(1)).unwrap().counted);
    assert_eq!(shas(&facts, &d, 4), ["a", "b", "c"]);
}

#[test]
fn window_is_from_inclusive_to_exclusive_by_finished_at() {
    let facts = Facts {
        deployments: vec![
            dep(1, 1, "2023-12-31T23:59:59.999Z", &[]),
            dep(2, 1, "2024-01-01T00:00:00Z", &[]),
            dep(3, 1, "2024-01-01T23:59:59.999Z", &[]),
            dep(4, 1, "2024-01-02T00:00:00Z", &[]),
        ],
        ..Facts::default()
    };
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    assert_eq!(m.deployment_frequency.deployments, 2);
    assert_eq!(m.deployment_frequency.deployment_days, 1);
}

#[test]
fn service_scope_sees_only_its_deployments() {
    let facts = Facts {
        deployments: vec![
            dep(1, 1, "2024-01-01T01:00:00Z", &[]),
            dep(2, 2, "2024-01-01T02:00:00Z", &[]),
        ],
        ..Facts::default()
    };
    let m = metrics_of(
        &facts,
        &query(Scope::Service(ServiceId(2)), "2024-01-01", "2024-01-02"),
    );
    assert_eq!(m.deployment_frequency.deployments, 1);
    let none = metrics_of(
        &facts,
        &query(Scope::Service(ServiceId(9)), "2024-01-01", "2024-01-02"),
    );
    assert_eq!(none.deployment_frequency.deployments, 0);
}
