//! semantics.md "Levels": every boundary of both benchmarks, just below, at
//! and above.

use super::super::level::{change_failure_rate, deployment_frequency, lead_time, recovery};
use super::*;
use Benchmark::{Y2021, Y2023};
use Level::{Elite, High, Low, Medium};

#[test]
fn deployment_frequency_2023_cuts_at_5_and_1_days_per_week_then_1_per_month() {
    assert_eq!(deployment_frequency(Y2023, 6, 31, 180), Elite);
    assert_eq!(deployment_frequency(Y2023, 5, 20, 120), Elite);
    assert_eq!(deployment_frequency(Y2023, 4, 20, 120), High);
    assert_eq!(deployment_frequency(Y2023, 1, 4, 24), High);
    assert_eq!(deployment_frequency(Y2023, 0, 2, 12), Medium);
    assert_eq!(deployment_frequency(Y2023, 0, 1, 6), Medium);
    assert_eq!(deployment_frequency(Y2023, 0, 0, 5), Low);
}

#[test]
fn deployment_frequency_2021_cuts_at_5_per_week_1_per_month_and_1_per_six_months() {
    assert_eq!(deployment_frequency(Y2021, 6, 31, 180), Elite);
    assert_eq!(deployment_frequency(Y2021, 5, 20, 120), Elite);
    assert_eq!(deployment_frequency(Y2021, 4, 20, 120), High);
    assert_eq!(deployment_frequency(Y2021, 0, 2, 12), High);
    assert_eq!(deployment_frequency(Y2021, 0, 1, 6), High);
    assert_eq!(deployment_frequency(Y2021, 0, 0, 2), Medium);
    assert_eq!(deployment_frequency(Y2021, 0, 0, 1), Medium);
    assert_eq!(deployment_frequency(Y2021, 0, 0, 0), Low);
}

#[test]
fn lead_time_2023_cuts_strictly_below_1_day_7_days_30_days() {
    for (secs, level) in [
        (DAY - 1, Elite),
        (DAY, High),
        (DAY + 1, High),
        (7 * DAY - 1, High),
        (7 * DAY, Medium),
        (7 * DAY + 1, Medium),
        (30 * DAY - 1, Medium),
        (30 * DAY, Low),
        (30 * DAY + 1, Low),
    ] {
        assert_eq!(lead_time(Y2023, secs), level, "{secs}");
    }
}

#[test]
fn lead_time_2021_cuts_strictly_below_1_hour_7_days_180_days() {
    for (secs, level) in [
        (HOUR - 1, Elite),
        (HOUR, High),
        (HOUR + 1, High),
        (7 * DAY - 1, High),
        (7 * DAY, Medium),
        (7 * DAY + 1, Medium),
        (180 * DAY - 1, Medium),
        (180 * DAY, Low),
        (180 * DAY + 1, Low),
    ] {
        assert_eq!(lead_time(Y2021, secs), level, "{secs}");
    }
}

#[test]
fn change_failure_rate_2023_cuts_at_or_below_5_10_15_percent() {
    for (failed, of, level) in [
        (49, 1000, Elite),
        (5, 100, Elite),
        (51, 1000, High),
        (10, 100, High),
        (101, 1000, Medium),
        (15, 100, Medium),
        (151, 1000, Low),
        (0, 7, Elite),
        (7, 7, Low),
    ] {
        assert_eq!(
            change_failure_rate(Y2023, failed, of),
            level,
            "{failed}/{of}"
        );
    }
    // 5.0047%, which rounds to the 0.05 shown.
    assert_eq!(change_failure_rate(Y2023, 1001, 20001), High);
}

#[test]
fn change_failure_rate_2021_cuts_at_or_below_15_20_30_percent() {
    for (failed, of, level) in [
        (149, 1000, Elite),
        (15, 100, Elite),
        (151, 1000, High),
        (20, 100, High),
        (201, 1000, Medium),
        (30, 100, Medium),
        (301, 1000, Low),
    ] {
        assert_eq!(
            change_failure_rate(Y2021, failed, of),
            level,
            "{failed}/{of}"
        );
    }
}

#[test]
fn recovery_and_restore_cut_strictly_below_1_hour_1_day_7_days() {
    for (secs, level) in [
        (0, Elite),
        (HOUR - 1, Elite),
        (HOUR, High),
        (HOUR + 1, High),
        (DAY - 1, High),
        (DAY, Medium),
        (DAY + 1, Medium),
        (7 * DAY - 1, Medium),
        (7 * DAY, Low),
        (7 * DAY + 1, Low),
    ] {
        assert_eq!(recovery(secs), level, "{secs}");
    }
}

#[test]
fn benchmark_reads_and_writes_as_a_year_string() {
    assert_eq!(
        serde_json::to_value(Y2021).unwrap(),
        serde_json::json!("2021")
    );
    assert_eq!(
        serde_json::from_value::<Benchmark>(serde_json::json!("2023")).unwrap(),
        Y2023
    );
    assert!(Benchmark::parse("2022").is_err());
    assert_eq!(Benchmark::default(), Y2023);
}

/// Through a whole report: one deployment-day per week for five weeks is
/// high in 2023, and a lead time of exactly one day is no longer elite.
#[test]
fn report_levels_follow_the_query_benchmark() {
    let facts = Facts {
        changes: vec![commit("r", "a", &[], "2024-01-01T00:00:00Z")],
        deployments: vec![dep(1, 1, "2024-01-02T00:00:00Z", &[("r", "a")])],
        ..Facts::default()
    };
    let d = production(&facts);
    let q = query(Scope::Organization, "2024-01-01", "2024-01-08");
    let m = report(&facts, &d, &q).metrics;
    assert_eq!(m.lead_time_for_changes.median_seconds, Some(DAY));
    assert_eq!(m.lead_time_for_changes.level, Some(High));
    assert_eq!(m.deployment_frequency.level, Some(High));
    let m21 = report(
        &facts,
        &d,
        &Query {
            benchmark: Y2021,
            ..q
        },
    )
    .metrics;
    assert_eq!(m21.lead_time_for_changes.level, Some(High));
    assert_eq!(m21.deployment_frequency.level, Some(High));
}
