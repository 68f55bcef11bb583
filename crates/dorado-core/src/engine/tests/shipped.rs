//! semantics.md "Previous deployment and shipped changes", and lead times.

use super::*;

/// a - b - c - m - d - e - g
///      \     /
///       f1 -
fn merge_history() -> Vec<ChangeFact> {
    vec![
        commit("shop", "a", &[], "2024-01-01T00:00:00Z"),
        commit("shop", "b", &["a"], "2024-01-01T01:00:00Z"),
        commit("shop", "f1", &["b"], "2024-01-01T02:00:00Z"),
        commit("shop", "c", &["b"], "2024-01-01T03:00:00Z"),
        commit("shop", "m", &["c", "f1"], "2024-01-01T04:00:00Z"),
        commit("shop", "d", &["m"], "2024-01-01T05:00:00Z"),
        commit("shop", "e", &["d"], "2024-01-01T06:00:00Z"),
        commit("shop", "g", &["e"], "2024-01-01T07:30:00Z"),
    ]
}

#[test]
fn first_deployment_of_a_chain_ships_every_known_ancestor() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")])],
        ..Facts::default()
    };
    let d = production(&facts);
    // Unlike DevLake, the first deployment keeps its lead times.
    assert_eq!(
        shipped(&facts, &d, 1),
        vec![("a".into(), Some(HOUR + 1800)), ("b".into(), Some(1800))]
    );
}

#[test]
fn a_merge_ships_both_sides_but_not_what_the_previous_deployment_had() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 1, "2024-01-01T04:30:00Z", &[("shop", "m")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(
        shipped(&facts, &d, 2),
        vec![
            ("c".into(), Some(HOUR + 1800)),
            ("f1".into(), Some(2 * HOUR + 1800)),
            ("m".into(), Some(1800)),
        ]
    );
}

#[test]
fn walk_lists_newest_generation_first() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 1, "2024-01-01T06:10:00Z", &[("shop", "e")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    let order: Vec<String> = d
        .deployment(&facts, DeploymentId(2))
        .unwrap()
        .shipped
        .iter()
        .map(|s| s.sha.to_string())
        .collect();
    // c and f1 share a generation; ties go to the greater id, an order
    // fixed by content (here f1, found after c by the depth-first search).
    assert_eq!(order, ["e", "d", "m", "f1", "c"]);
}

#[test]
fn a_rollback_ships_nothing_and_what_it_undid_is_never_shipped_again() {
    let mut rollback = dep(4, 1, "2024-01-01T07:00:00Z", &[("shop", "m")]);
    rollback.kind = DeploymentKind::Rollback;
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 1, "2024-01-01T04:30:00Z", &[("shop", "m")]),
            dep(3, 1, "2024-01-01T06:10:00Z", &[("shop", "e")]),
            rollback,
            dep(5, 1, "2024-01-01T08:00:00Z", &[("shop", "g")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(shas(&facts, &d, 3), ["d", "e"]);
    assert!(shas(&facts, &d, 4).is_empty());
    let view = d.deployment(&facts, DeploymentId(4)).unwrap();
    assert!(view.counted && view.rework);
    // The walk from g past the rollback reaches d and e again; D3 shipped them.
    assert_eq!(shipped(&facts, &d, 5), vec![("g".into(), Some(1800))]);
}

#[test]
fn redeploying_the_same_sha_ships_nothing() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 1, "2024-01-01T09:00:00Z", &[("shop", "b")]),
        ],
        ..Facts::default()
    };
    assert!(shas(&facts, &production(&facts), 2).is_empty());
}

#[test]
fn explicit_list_ships_exactly_its_entries_with_their_own_times() {
    let mut d2 = dep(2, 1, "2024-01-01T05:00:00Z", &[("shop", "m")]);
    d2.shipped = Some(vec![
        // The entry's own time wins over the known commit's (03:00).
        (
            RepoKey::from_trusted("shop"),
            Sha::from_trusted("c"),
            Some(t("2024-01-01T04:00:00Z")),
        ),
        // No time given: the known commit's is used.
        (RepoKey::from_trusted("shop"), Sha::from_trusted("f1"), None),
        // Unknown and timeless: shipped, without lead time.
        (RepoKey::from_trusted("shop"), Sha::from_trusted("zz"), None),
        (RepoKey::from_trusted("shop"), Sha::from_trusted("zz"), None),
    ]);
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]), d2],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(
        shipped(&facts, &d, 2),
        vec![
            ("c".into(), Some(HOUR)),
            ("f1".into(), Some(3 * HOUR)),
            ("zz".into(), None),
        ]
    );
}

#[test]
fn explicit_list_does_not_reship_and_a_later_walk_skips_what_it_shipped() {
    let mut d2 = dep(2, 1, "2024-01-01T05:00:00Z", &[("shop", "b")]);
    d2.shipped = Some(vec![
        (RepoKey::from_trusted("shop"), Sha::from_trusted("a"), None),
        (RepoKey::from_trusted("shop"), Sha::from_trusted("c"), None),
    ]);
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "a")]),
            d2,
            dep(3, 1, "2024-01-01T06:30:00Z", &[("shop", "m")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    // a was shipped by D1 already.
    assert_eq!(shas(&facts, &d, 2), ["c"]);
    // D3's previous deployed b: excludes a, b; c went out with D2.
    assert_eq!(shas(&facts, &d, 3), ["f1", "m"]);
}

#[test]
fn a_multi_repo_deployment_has_a_previous_deployment_per_repo() {
    let facts = Facts {
        changes: vec![
            commit("shop", "s1", &[], "2024-01-01T00:00:00Z"),
            commit("shop", "s2", &["s1"], "2024-01-01T01:00:00Z"),
            commit("api", "a1", &[], "2024-01-01T00:00:00Z"),
            commit("api", "a2", &["a1"], "2024-01-01T02:00:00Z"),
        ],
        deployments: vec![
            dep(1, 1, "2024-01-01T00:30:00Z", &[("shop", "s1")]),
            dep(2, 1, "2024-01-01T00:40:00Z", &[("api", "a1")]),
            dep(
                3,
                1,
                "2024-01-01T03:00:00Z",
                &[("shop", "s2"), ("api", "a2")],
            ),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(
        shipped(&facts, &d, 3),
        vec![("a2".into(), Some(HOUR)), ("s2".into(), Some(2 * HOUR))]
    );
}

#[test]
fn a_monorepo_deployed_by_two_services_gives_lead_times_to_both() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 2, "2024-01-01T02:00:00Z", &[("shop", "b")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(shas(&facts, &d, 1), ["a", "b"]);
    assert_eq!(
        shipped(&facts, &d, 2),
        vec![("a".into(), Some(2 * HOUR)), ("b".into(), Some(HOUR))]
    );
}

#[test]
fn deployments_finishing_together_ship_once_by_the_lower_id() {
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            dep(8, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(7, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(shas(&facts, &d, 7), ["a", "b"]);
    assert!(shas(&facts, &d, 8).is_empty());
}

#[test]
fn previous_of_a_tie_is_the_greater_id_among_deployments_finished_strictly_before() {
    // Explicit lists make the previous deployment's exclusion visible: what
    // they deployed but did not list is excluded, never shipped.
    let listing = |d: DeploymentFact, shas: &[&str]| DeploymentFact {
        shipped: Some(
            shas.iter()
                .map(|s| (RepoKey::from_trusted("shop"), Sha::from_trusted(*s), None))
                .collect(),
        ),
        ..d
    };
    let facts = Facts {
        changes: merge_history(),
        deployments: vec![
            listing(dep(1, 1, "2024-01-01T03:00:00Z", &[("shop", "c")]), &[]),
            listing(dep(2, 1, "2024-01-01T03:00:00Z", &[("shop", "a")]), &[]),
            // Finishes with D4, so it is not D4's previous.
            listing(dep(3, 1, "2024-01-01T05:00:00Z", &[("shop", "m")]), &["f1"]),
            dep(4, 1, "2024-01-01T05:00:00Z", &[("shop", "m")]),
        ],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(shas(&facts, &d, 3), ["f1"]);
    // Previous is D2 (a), not D1 (c) nor D3 (m): m's ancestors beyond a,
    // less f1 that D3 shipped.
    assert_eq!(shas(&facts, &d, 4), ["b", "c", "m"]);
}

#[test]
fn walk_stops_at_unknown_parents() {
    let facts = Facts {
        changes: vec![
            commit("shop", "k2", &["k1"], "2024-01-01T00:00:00Z"),
            commit("shop", "k3", &["k2"], "2024-01-01T00:00:00Z"),
        ],
        deployments: vec![dep(1, 1, "2024-01-01T01:00:00Z", &[("shop", "k3")])],
        ..Facts::default()
    };
    assert_eq!(shas(&facts, &production(&facts), 1), ["k2", "k3"]);
}

#[test]
fn commits_of_another_repo_with_the_same_sha_are_not_ancestors() {
    let facts = Facts {
        changes: vec![
            commit("api", "p", &[], "2024-01-01T00:00:00Z"),
            commit("shop", "x", &["p"], "2024-01-01T00:00:00Z"),
        ],
        deployments: vec![dep(1, 1, "2024-01-01T01:00:00Z", &[("shop", "x")])],
        ..Facts::default()
    };
    assert_eq!(shas(&facts, &production(&facts), 1), ["x"]);
}

#[test]
fn lead_time_uses_authored_at_when_committed_at_is_missing_and_truncates() {
    let mut c = commit("shop", "a", &[], "");
    c.authored_at = Some(t("2024-01-01T00:00:00.600Z"));
    let timeless = commit("shop", "b", &["a"], "");
    let facts = Facts {
        changes: vec![c, timeless],
        deployments: vec![dep(1, 1, "2024-01-01T00:01:00Z", &[("shop", "b")])],
        ..Facts::default()
    };
    // 59.4 s truncate to 59; b has no time, so no lead time.
    assert_eq!(
        shipped(&facts, &production(&facts), 1),
        vec![("a".into(), Some(59)), ("b".into(), None)]
    );
}

#[test]
fn negative_lead_times_are_dropped() {
    let facts = Facts {
        changes: vec![commit("shop", "a", &[], "2024-01-01T02:00:00Z")],
        deployments: vec![dep(1, 1, "2024-01-01T01:00:00Z", &[("shop", "a")])],
        ..Facts::default()
    };
    let d = production(&facts);
    assert_eq!(shipped(&facts, &d, 1), vec![("a".into(), None)]);
    let m = report(
        &facts,
        &d,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    )
    .metrics;
    assert_eq!(m.lead_time_for_changes.changes, 0);
    assert_eq!(m.lead_time_for_changes.median_seconds, None);
}

#[test]
fn senders_lead_time_counts_only_when_no_shipped_commit_has_one() {
    let mut unknown_sha = dep(1, 1, "2024-01-01T01:00:00Z", &[("shop", "nope")]);
    unknown_sha.lead_time_seconds = Some(500);
    let mut known = dep(2, 1, "2024-01-01T03:00:00Z", &[("shop", "a")]);
    known.lead_time_seconds = Some(9_999);
    let mut rollback = dep(3, 1, "2024-01-01T04:00:00Z", &[]);
    rollback.kind = DeploymentKind::Rollback;
    rollback.lead_time_seconds = Some(7);
    let facts = Facts {
        changes: vec![commit("shop", "a", &[], "2024-01-01T02:00:00Z")],
        deployments: vec![unknown_sha, known, rollback],
        ..Facts::default()
    };
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    // 500 (D1's own) and 3600 (a); D2's own is ignored, the rollback gives none.
    assert_eq!(m.lead_time_for_changes.changes, 2);
    assert_eq!(m.lead_time_for_changes.median_seconds, Some(500));
    assert_eq!(m.lead_time_for_changes.p90_seconds, Some(HOUR));
}

#[test]
fn a_parent_cycle_in_bad_data_still_ships_deterministically() {
    let facts = Facts {
        changes: vec![
            commit("shop", "x", &["z"], "2024-01-01T00:00:00Z"),
            commit("shop", "y", &["x"], "2024-01-01T00:00:00Z"),
            commit("shop", "z", &["y"], "2024-01-01T00:00:00Z"),
        ],
        deployments: vec![dep(1, 1, "2024-01-01T01:00:00Z", &[("shop", "z")])],
        ..Facts::default()
    };
    // The depth-first search from the smallest sha (x) meets x again through
    // y: that edge, y -> x, is the one dropped, in any input order.
    assert_eq!(shas(&facts, &production(&facts), 1), ["y", "z"]);
}
