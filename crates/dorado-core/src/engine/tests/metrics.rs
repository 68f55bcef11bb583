//! semantics.md "The metrics": full reports computed by hand, to the second.

use super::*;
use crate::name::ServiceName;
use serde_json::json;

/// Window 2024-01-01 .. 2024-01-29 (four Monday weeks, 28 days).
///
/// Lead times: D1 c1 7200; D2 c2 10800; D3 nothing; D4 c4 86400 and c3
/// 90000; D5 c5 (authored only) 604800. D0 is before the window but is D1's
/// previous, so c0 is not D1's; D7 finishes at `to`, outside.
fn scenario() -> Facts {
    let hotfix = DeploymentFact {
        kind: DeploymentKind::Hotfix,
        ..dep(5, 1, "2024-01-22T00:00:00Z", &[("shop", "c5")])
    };
    let mut c5 = commit("shop", "c5", &["c4"], "");
    c5.authored_at = Some(t("2024-01-15T00:00:00Z"));
    let failed = DeploymentFact {
        result: DeployResult::Failure,
        ..dep(9, 1, "2024-01-16T00:00:00Z", &[("shop", "c5")])
    };
    Facts {
        changes: vec![
            commit("shop", "c0", &[], "2023-12-31T00:00:00Z"),
            commit("shop", "c1", &["c0"], "2024-01-01T08:00:00Z"),
            commit("shop", "c2", &["c1"], "2024-01-02T09:00:00Z"),
            commit("shop", "c3", &["c2"], "2024-01-08T10:00:00Z"),
            commit("shop", "c4", &["c3"], "2024-01-08T11:00:00Z"),
            c5,
        ],
        deployments: vec![
            dep(6, 1, "2023-12-31T23:59:59Z", &[("shop", "c0")]),
            ext(dep(1, 1, "2024-01-01T10:00:00Z", &[("shop", "c1")]), "d1"),
            ext(dep(2, 1, "2024-01-02T12:00:00Z", &[("shop", "c2")]), "d2"),
            ext(dep(3, 1, "2024-01-02T18:00:00Z", &[("shop", "c2")]), "d3"),
            ext(dep(4, 1, "2024-01-09T11:00:00Z", &[("shop", "c4")]), "d4"),
            hotfix,
            failed,
            dep(7, 1, "2024-01-29T00:00:00Z", &[("shop", "c5")]),
        ],
        incidents: vec![
            // Time link to D2: recovery 3 h, restore 2 h; its fix D3 is rework.
            IncidentFact {
                fixed_by: Some(ExternalId::from_trusted("d3")),
                ..inc(1, Some(1), "2024-01-02T13:00:00Z", "2024-01-02T15:00:00Z")
            },
            // Explicit link to D4: recovery 13.5 h, restore 30 min.
            caused_by_deployment(
                inc(2, Some(1), "2024-01-10T00:00:00Z", "2024-01-10T00:30:00Z"),
                "d4",
            ),
            // Time link to D5, still open.
            inc(3, Some(1), "2024-01-23T00:00:00Z", ""),
            // No service: time to restore at organization scope only (1 h).
            inc(4, None, "2024-01-05T00:00:00Z", "2024-01-05T01:00:00Z"),
            IncidentFact {
                is_incident: false,
                ..inc(5, Some(1), "2024-01-03T00:00:00Z", "")
            },
            // Started before the window; links to D6 (outside) by time.
            inc(
                6,
                Some(1),
                "2023-12-31T23:59:59.500Z",
                "2024-01-01T00:10:00Z",
            ),
        ],
        link_window_seconds: None,
    }
}

fn expected(restore: serde_json::Value) -> serde_json::Value {
    json!({
        "deployment_frequency": {"deployments": 5, "deployment_days": 4, "per_day": 0.18,
                                 "median_days_per_week": 1, "median_days_per_month": 4, "level": "high"},
        "lead_time_for_changes": {"changes": 5, "median_seconds": 86400, "p75_seconds": 90000,
                                  "p90_seconds": 604800, "level": "high"},
        "change_failure_rate": {"deployments": 5, "failed_deployments": 3, "rate": 0.6, "level": "low"},
        "failed_deployment_recovery_time": {"incidents": 2, "median_seconds": 10800, "level": "high"},
        "time_to_restore_service": restore,
        "rework_rate": {"deployments": 5, "rework_deployments": 2, "rate": 0.4}
    })
}

fn with_header(header: serde_json::Value, metrics: serde_json::Value) -> serde_json::Value {
    let mut v = header;
    v.as_object_mut()
        .unwrap()
        .extend(metrics.as_object().unwrap().clone());
    v
}

#[test]
fn organization_report_serializes_as_api_md_to_the_second() {
    let facts = scenario();
    let d = production(&facts);
    let r = report(
        &facts,
        &d,
        &query(Scope::Organization, "2024-01-01", "2024-01-29"),
    );
    // Restore: 1800, 3600, 7200 -> median 3600, not < 1 h: high.
    let restore =
        json!({"incidents": 3, "median_seconds": 3600, "open_incidents": 1, "level": "high"});
    let header = json!({"org_id": 1, "service": null, "environment": "production", "benchmark": "2023",
                        "from": "2024-01-01T00:00:00Z", "to": "2024-01-29T00:00:00Z"});
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        with_header(header, expected(restore))
    );
}

#[test]
fn service_report_leaves_out_service_less_incidents() {
    let facts = scenario();
    let d = production(&facts);
    let q = Query {
        service: Some(ServiceName::from_trusted("shop")),
        benchmark: Benchmark::Y2021,
        ..query(Scope::Service(ServiceId(1)), "2024-01-01", "2024-01-29")
    };
    let r = report(&facts, &d, &q);
    // Restore: 1800, 7200 -> lower middle 1800: elite.
    let restore =
        json!({"incidents": 2, "median_seconds": 1800, "open_incidents": 1, "level": "elite"});
    let header = json!({"org_id": 1, "service": "shop", "environment": "production", "benchmark": "2021",
                        "from": "2024-01-01T00:00:00Z", "to": "2024-01-29T00:00:00Z"});
    // 2021: weekly median 1 < 5, monthly 4 >= 1: high; 86400 s < 7 days: high;
    // 60% > 30%: low.
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        with_header(header, expected(restore))
    );
}

#[test]
fn empty_window_has_counts_of_zero_and_null_figures_and_levels() {
    let facts = scenario();
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2025-01-01", "2025-01-08"),
    );
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({
            "deployment_frequency": {"deployments": 0, "deployment_days": 0, "per_day": 0.0,
                                     "median_days_per_week": 0, "median_days_per_month": 0, "level": null},
            "lead_time_for_changes": {"changes": 0, "median_seconds": null, "p75_seconds": null,
                                      "p90_seconds": null, "level": null},
            "change_failure_rate": {"deployments": 0, "failed_deployments": 0, "rate": null, "level": null},
            "failed_deployment_recovery_time": {"incidents": 0, "median_seconds": null, "level": null},
            "time_to_restore_service": {"incidents": 0, "median_seconds": null, "open_incidents": 0, "level": null},
            "rework_rate": {"deployments": 0, "rework_deployments": 0, "rate": null}
        })
    );
}

#[test]
fn zero_length_window_has_no_rate_per_day_and_no_periods() {
    let facts = scenario();
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-02", "2024-01-02"),
    );
    let f = m.deployment_frequency;
    assert_eq!(
        (
            f.per_day,
            f.median_days_per_week,
            f.median_days_per_month,
            f.level
        ),
        (None, None, None, None)
    );
    let reversed = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-29", "2024-01-01"),
    );
    assert_eq!(reversed.deployment_frequency.deployments, 0);
}

#[test]
fn weeks_and_months_without_deployments_count_as_zero() {
    // Nine weeks overlap Jan + Feb 2024 (the last is Feb 26 - Mar 3).
    let facts = Facts {
        deployments: vec![
            dep(1, 1, "2024-01-01T10:00:00Z", &[]),
            dep(2, 1, "2024-01-02T10:00:00Z", &[]),
            dep(3, 1, "2024-01-03T10:00:00Z", &[]),
            dep(4, 1, "2024-01-03T11:00:00Z", &[]),
            dep(5, 1, "2024-02-05T10:00:00Z", &[]),
        ],
        ..Facts::default()
    };
    let f = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-03-01"),
    )
    .deployment_frequency;
    // Weeks [3,0,0,0,0,1,0,0,0] -> 0; months [3,1] -> lower middle 1.
    assert_eq!((f.deployments, f.deployment_days), (5, 4));
    assert_eq!(
        (f.median_days_per_week, f.median_days_per_month),
        (Some(0), Some(1))
    );
    assert_eq!(f.level, Some(Level::Medium));
    assert_eq!(f.per_day, Some(0.08)); // 5 / 60 days
}

#[test]
fn partial_weeks_at_the_window_edges_count_only_days_inside_the_window() {
    // Wednesday to Wednesday: two weeks overlap.
    let facts = Facts {
        deployments: vec![
            dep(1, 1, "2024-01-02T10:00:00Z", &[]),
            dep(2, 1, "2024-01-03T10:00:00Z", &[]),
            dep(3, 1, "2024-01-09T10:00:00Z", &[]),
            dep(4, 1, "2024-01-10T10:00:00Z", &[]),
        ],
        ..Facts::default()
    };
    let f = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-03", "2024-01-10"),
    )
    .deployment_frequency;
    assert_eq!((f.deployments, f.median_days_per_week), (2, Some(1)));
}

#[test]
fn even_count_medians_take_the_lower_middle_and_odd_the_middle() {
    let facts = Facts {
        changes: vec![
            commit("r", "a", &[], "2024-01-01T00:00:00Z"),
            commit("r", "b", &["a"], "2024-01-01T01:00:00Z"),
            commit("r", "c", &["b"], "2024-01-01T02:00:00Z"),
            commit("r", "d", &["c"], "2024-01-01T03:00:00Z"),
        ],
        deployments: vec![dep(1, 1, "2024-01-01T04:00:00Z", &[("r", "d")])],
        incidents: vec![
            inc(1, Some(1), "2024-01-01T05:00:00Z", "2024-01-01T05:00:10Z"),
            inc(2, Some(1), "2024-01-01T05:00:00Z", "2024-01-01T05:00:20Z"),
            inc(3, Some(1), "2024-01-01T05:00:00Z", "2024-01-01T05:00:30Z"),
        ],
        ..Facts::default()
    };
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    // Lead times 1, 2, 3, 4 h: median the 2nd, p75 the 3rd, p90 the 4th.
    let l = m.lead_time_for_changes;
    assert_eq!(
        (l.median_seconds, l.p75_seconds, l.p90_seconds),
        (Some(2 * HOUR), Some(3 * HOUR), Some(4 * HOUR))
    );
    // Restore times 10, 20, 30 s: the middle.
    assert_eq!(m.time_to_restore_service.median_seconds, Some(20));
    // Recovery (from D1's finish): 3610, 3620, 3630.
    assert_eq!(m.failed_deployment_recovery_time.median_seconds, Some(3620));
    assert_eq!(m.failed_deployment_recovery_time.incidents, 3);
    assert_eq!(m.change_failure_rate.failed_deployments, 1);
}

#[test]
fn incidents_resolved_after_the_window_count_and_only_unresolved_ones_are_open() {
    let facts = Facts {
        incidents: vec![
            inc(1, Some(1), "2024-01-01T10:00:00Z", "2024-02-01T10:00:00Z"),
            inc(2, Some(1), "2024-01-01T10:00:00Z", ""),
            // Resolved before it started: neither a restore time nor open.
            inc(3, Some(1), "2024-01-01T10:00:00Z", "2024-01-01T09:00:00Z"),
            // Started outside the window.
            inc(4, Some(1), "2024-01-02T00:00:00Z", ""),
        ],
        ..Facts::default()
    };
    let r = metrics_of(
        &facts,
        &query(Scope::Service(ServiceId(1)), "2024-01-01", "2024-01-02"),
    )
    .time_to_restore_service;
    assert_eq!(
        (r.incidents, r.median_seconds, r.open_incidents),
        (1, Some(31 * DAY), 1)
    );
    assert_eq!(r.level, Some(Level::Low));
}

#[test]
fn change_failure_rate_level_uses_the_exact_ratio_not_the_rounded_one() {
    // 1 of 20 is exactly 5%, which 0.05 as a float only approximates.
    let mut deployments: Vec<DeploymentFact> = (0..20)
        .map(|i| dep(i, 1, "2024-01-01T10:00:00Z", &[]))
        .collect();
    let incidents = vec![caused_by_deployment(
        inc(1, Some(1), "2024-01-01T11:00:00Z", ""),
        "x",
    )];
    deployments[0].external_id = Some(ExternalId::from_trusted("x"));
    let facts = Facts {
        deployments,
        incidents,
        ..Facts::default()
    };
    let c = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    )
    .change_failure_rate;
    assert_eq!((c.rate, c.level), (Some(0.05), Some(Level::Elite)));
}

#[test]
fn recovery_time_is_dropped_when_resolved_before_the_deployment_finished() {
    let facts = Facts {
        deployments: vec![ext(dep(1, 1, "2024-01-01T10:00:00Z", &[]), "d1")],
        incidents: vec![caused_by_deployment(
            inc(1, Some(1), "2024-01-01T08:00:00Z", "2024-01-01T09:00:00Z"),
            "d1",
        )],
        ..Facts::default()
    };
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    assert_eq!(m.change_failure_rate.failed_deployments, 1);
    assert_eq!(m.failed_deployment_recovery_time.incidents, 0);
    assert_eq!(m.failed_deployment_recovery_time.level, None);
}

#[test]
fn one_deployment_day_in_six_months_is_medium_in_2021_and_low_in_2023() {
    let facts = Facts {
        deployments: vec![dep(1, 1, "2024-02-10T10:00:00Z", &[])],
        ..Facts::default()
    };
    let d = production(&facts);
    // Months [0,1,0,0,0,0] -> 0; the half-year January-June -> 1.
    let q = query(Scope::Organization, "2024-01-01", "2024-07-01");
    let f23 = report(&facts, &d, &q).metrics.deployment_frequency;
    assert_eq!(
        (f23.median_days_per_week, f23.median_days_per_month),
        (Some(0), Some(0))
    );
    assert_eq!(f23.level, Some(Level::Low));
    let f21 = report(
        &facts,
        &d,
        &Query {
            benchmark: Benchmark::Y2021,
            ..q.clone()
        },
    )
    .metrics
    .deployment_frequency;
    assert_eq!(f21.level, Some(Level::Medium));
    // Spanning two half-years, one of them empty: lower median 0, low.
    let wider = Query {
        benchmark: Benchmark::Y2021,
        ..query(Scope::Organization, "2024-01-01", "2024-12-01")
    };
    assert_eq!(
        report(&facts, &d, &wider)
            .metrics
            .deployment_frequency
            .level,
        Some(Level::Low)
    );
}
