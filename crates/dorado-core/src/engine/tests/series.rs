//! `series`: week and month buckets over the window.

use super::*;

fn deployments() -> Facts {
    Facts {
        deployments: vec![
            dep(1, 1, "2024-01-03T10:00:00Z", &[]),
            dep(2, 1, "2024-01-07T23:59:59Z", &[]),
            dep(3, 1, "2024-01-08T00:00:00Z", &[]),
            dep(4, 1, "2024-01-16T10:00:00Z", &[]),
            dep(5, 1, "2024-02-20T10:00:00Z", &[]),
            dep(6, 1, "2024-03-09T10:00:00Z", &[]),
        ],
        ..Facts::default()
    }
}

fn summary(b: &[SeriesBucket]) -> Vec<(String, String, u64, Option<f64>)> {
    b.iter()
        .map(|b| {
            let f = &b.metrics.deployment_frequency;
            (
                b.from.to_string(),
                b.to.to_string(),
                f.deployments,
                f.per_day,
            )
        })
        .collect()
}

#[test]
fn weekly_buckets_start_on_monday_and_are_clipped_to_the_window() {
    let facts = deployments();
    let d = production(&facts);
    let q = query(
        Scope::Organization,
        "2024-01-03T00:00:00Z",
        "2024-01-17T00:00:00Z",
    );
    let b = series(&facts, &d, &q, Bucket::Week);
    assert_eq!(
        summary(&b),
        vec![
            (
                "2024-01-03T00:00:00Z".into(),
                "2024-01-08T00:00:00Z".into(),
                2,
                Some(0.4)
            ),
            (
                "2024-01-08T00:00:00Z".into(),
                "2024-01-15T00:00:00Z".into(),
                1,
                Some(0.14)
            ),
            (
                "2024-01-15T00:00:00Z".into(),
                "2024-01-17T00:00:00Z".into(),
                1,
                Some(0.5)
            ),
        ]
    );
    // A week bucket's weekly median is its own day count.
    assert_eq!(
        b[0].metrics.deployment_frequency.median_days_per_week,
        Some(2)
    );
}

#[test]
fn monthly_buckets_follow_the_calendar_and_partition_the_window() {
    let facts = deployments();
    let d = production(&facts);
    let q = query(Scope::Organization, "2024-01-15", "2024-03-10");
    let b = series(&facts, &d, &q, Bucket::Month);
    assert_eq!(
        summary(&b),
        vec![
            (
                "2024-01-15T00:00:00Z".into(),
                "2024-02-01T00:00:00Z".into(),
                1,
                Some(0.06)
            ),
            (
                "2024-02-01T00:00:00Z".into(),
                "2024-03-01T00:00:00Z".into(),
                1,
                Some(0.03)
            ),
            (
                "2024-03-01T00:00:00Z".into(),
                "2024-03-10T00:00:00Z".into(),
                1,
                Some(0.11)
            ),
        ]
    );
    let total: u64 = b
        .iter()
        .map(|b| b.metrics.deployment_frequency.deployments)
        .sum();
    assert_eq!(
        total,
        report(&facts, &d, &q)
            .metrics
            .deployment_frequency
            .deployments
    );
}

#[test]
fn series_bucket_serializes_its_bounds_beside_the_metric_objects() {
    let facts = deployments();
    let d = production(&facts);
    let q = query(Scope::Organization, "2024-01-08", "2024-01-15");
    let b = series(&facts, &d, &q, Bucket::Week);
    let text = serde_json::to_string(&b[0]).unwrap();
    let order = [
        "\"from\":\"2024-01-08T00:00:00Z\"",
        "\"to\":\"2024-01-15T00:00:00Z\"",
        "\"deployment_frequency\":{",
        "\"lead_time_for_changes\":{",
        "\"change_failure_rate\":{",
        "\"failed_deployment_recovery_time\":{",
        "\"time_to_restore_service\":{",
        "\"rework_rate\":{",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} in {text}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(
        series(
            &facts,
            &d,
            &query(Scope::Organization, "2024-01-08", "2024-01-08"),
            Bucket::Week
        )
        .is_empty()
    );
    assert_eq!(Bucket::parse("Month"), Ok(Bucket::Month));
    assert!(Bucket::parse("day").is_err());
}
