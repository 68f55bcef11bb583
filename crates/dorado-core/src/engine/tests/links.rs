//! semantics.md "Linking incidents to deployments", and rework.

use super::*;

/// Service 1: D1 10:00, D2 12:00 ("d2"), D3 13:00 failed ("d3"),
/// D4 14:00 ("d4", deploys s4), D5 16:00 (also s4). Service 2 has none.
fn deployments() -> Vec<DeploymentFact> {
    vec![
        dep(1, 1, "2024-01-01T10:00:00Z", &[("shop", "s1")]),
        ext(dep(2, 1, "2024-01-01T12:00:00Z", &[("shop", "s2")]), "d2"),
        DeploymentFact {
            result: DeployResult::Failure,
            ..ext(dep(3, 1, "2024-01-01T13:00:00Z", &[("shop", "s3")]), "d3")
        },
        ext(dep(4, 1, "2024-01-01T14:00:00Z", &[("shop", "s4")]), "d4"),
        dep(5, 1, "2024-01-01T16:00:00Z", &[("shop", "s4")]),
    ]
}

fn facts_with(incidents: Vec<IncidentFact>) -> Facts {
    Facts {
        deployments: deployments(),
        incidents,
        ..Facts::default()
    }
}

#[test]
fn by_time_links_to_the_last_counted_deployment_strictly_before_the_start() {
    let facts = facts_with(vec![
        inc(1, Some(1), "2024-01-01T13:30:00Z", ""),
        // Exactly at D2's finish: D2 is not strictly before.
        inc(2, Some(1), "2024-01-01T12:00:00Z", ""),
        inc(3, Some(1), "2024-01-01T12:00:00.001Z", ""),
    ]);
    let d = production(&facts);
    // D3 (13:00) failed, so it is not a candidate.
    assert_eq!(linked(&facts, &d, 1), Some((2, LinkKind::Time)));
    assert_eq!(linked(&facts, &d, 2), Some((1, LinkKind::Time)));
    assert_eq!(linked(&facts, &d, 3), Some((2, LinkKind::Time)));
}

#[test]
fn an_incident_before_any_counted_deployment_is_not_linked() {
    let facts = facts_with(vec![
        inc(1, Some(1), "2024-01-01T09:00:00Z", ""),
        inc(2, Some(2), "2024-01-01T20:00:00Z", ""),
    ]);
    let d = production(&facts);
    assert_eq!(linked(&facts, &d, 1), None);
    // Service 2 has no deployments: other services' never link.
    assert_eq!(linked(&facts, &d, 2), None);
}

#[test]
fn explicit_deployment_id_links_even_against_time() {
    let facts = facts_with(vec![caused_by_deployment(
        inc(1, Some(1), "2024-01-01T20:00:00Z", ""),
        "d2",
    )]);
    let d = production(&facts);
    assert_eq!(linked(&facts, &d, 1), Some((2, LinkKind::Explicit)));
    let view = d.deployment(&facts, DeploymentId(2)).unwrap();
    assert_eq!(view.incidents.len(), 1);
    assert_eq!(view.incidents[0].key.as_str(), "INC-1");
    assert_eq!(view.incidents[0].link, LinkKind::Explicit);
}

#[test]
fn explicit_sha_links_to_the_earliest_counted_deployment_that_deployed_it() {
    // Starting before both deployments does not matter for an explicit link.
    let facts = facts_with(vec![caused_by_commit(
        inc(1, Some(1), "2024-01-01T09:00:00Z", ""),
        "s4",
    )]);
    assert_eq!(
        linked(&facts, &production(&facts), 1),
        Some((4, LinkKind::Explicit))
    );
}

#[test]
fn explicit_cause_naming_no_counted_deployment_falls_back_to_time() {
    let facts = facts_with(vec![
        caused_by_deployment(inc(1, Some(1), "2024-01-01T13:30:00Z", ""), "d3"),
        caused_by_deployment(inc(2, Some(1), "2024-01-01T09:00:00Z", ""), "unknown"),
        caused_by_commit(inc(3, Some(1), "2024-01-01T15:00:00Z", ""), "s3"),
        // d2 exists, but in service 1, not 2.
        caused_by_deployment(inc(4, Some(2), "2024-01-01T15:00:00Z", ""), "d2"),
    ]);
    let d = production(&facts);
    assert_eq!(linked(&facts, &d, 1), Some((2, LinkKind::Time)));
    assert_eq!(linked(&facts, &d, 2), None);
    assert_eq!(linked(&facts, &d, 3), Some((4, LinkKind::Time)));
    assert_eq!(linked(&facts, &d, 4), None);
}

#[test]
fn link_window_bounds_time_links_inclusively() {
    let mut facts = facts_with(vec![
        inc(1, Some(1), "2024-01-01T13:00:00Z", ""),
        inc(2, Some(1), "2024-01-01T13:00:00.001Z", ""),
        // Explicit links ignore the window.
        caused_by_deployment(inc(3, Some(1), "2024-01-02T13:00:00Z", ""), "d2"),
    ]);
    facts.link_window_seconds = Some(HOUR);
    let d = production(&facts);
    assert_eq!(linked(&facts, &d, 1), Some((2, LinkKind::Time)));
    assert_eq!(linked(&facts, &d, 2), None);
    assert_eq!(linked(&facts, &d, 3), Some((2, LinkKind::Explicit)));
}

#[test]
fn non_incidents_service_less_and_unstarted_incidents_are_not_linked() {
    let not_incident = IncidentFact {
        is_incident: false,
        ..inc(1, Some(1), "2024-01-01T13:30:00Z", "")
    };
    let facts = facts_with(vec![
        not_incident,
        inc(2, None, "2024-01-01T13:30:00Z", ""),
        caused_by_deployment(inc(3, Some(1), "", "2024-01-01T15:00:00Z"), "d2"),
    ]);
    let d = production(&facts);
    for id in 1..=3 {
        assert_eq!(
            d.incident(&facts, IncidentId(id)),
            Some(IncidentView {
                deployment: None,
                link: None
            })
        );
    }
    assert!(
        d.deployment(&facts, DeploymentId(2))
            .unwrap()
            .incidents
            .is_empty()
    );
}

#[test]
fn incident_view_names_the_deployment_by_id_and_external_id() {
    let facts = facts_with(vec![inc(1, Some(1), "2024-01-01T14:30:00Z", "")]);
    let d = production(&facts);
    let v = d.incident(&facts, IncidentId(1)).unwrap();
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"deployment": {"id": 4, "external_id": "d4"}, "link": "time"})
    );
}

#[test]
fn rework_comes_from_the_sender_the_kind_or_an_incidents_fixed_by() {
    let mut deployments = deployments();
    deployments[0].rework = true;
    deployments[4].kind = DeploymentKind::Hotfix;
    let fixed = IncidentFact {
        fixed_by: Some(ExternalId::from_trusted("d4")),
        ..inc(1, Some(1), "2024-01-01T13:30:00Z", "")
    };
    // Not an incident, or another service's: names nothing.
    let issue = IncidentFact {
        fixed_by: Some(ExternalId::from_trusted("d2")),
        is_incident: false,
        ..inc(2, Some(1), "", "")
    };
    let elsewhere = IncidentFact {
        fixed_by: Some(ExternalId::from_trusted("d2")),
        ..inc(3, Some(2), "", "")
    };
    let facts = Facts {
        deployments,
        incidents: vec![fixed, issue, elsewhere],
        ..Facts::default()
    };
    let d = production(&facts);
    let rework: Vec<i64> = (1..=5)
        .filter(|&i| d.deployment(&facts, DeploymentId(i)).unwrap().rework)
        .collect();
    assert_eq!(rework, [1, 4, 5]);
}

#[test]
fn views_refuse_other_facts_and_unknown_ids() {
    let facts = facts_with(vec![inc(1, Some(1), "2024-01-01T13:30:00Z", "")]);
    let d = production(&facts);
    assert!(d.deployment(&facts, DeploymentId(99)).is_none());
    assert!(d.incident(&facts, IncidentId(99)).is_none());
    let other = Facts::default();
    assert!(!d.derived_from(&other));
    assert!(d.deployment(&other, DeploymentId(1)).is_none());
}
