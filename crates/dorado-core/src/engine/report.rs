//! The figures of one window (semantics.md "The metrics"), serialized as
//! api.md's Metrics section.
//!
//! A report reads only `Derived`: the window is two binary searches over
//! rows sorted by time, and everything per deployment was computed by
//! `derive`, so a year of an organization is one pass over its slice plus
//! linear-time percentile selection.
//!
//! Choices where the spec is silent:
//! - `per_day` is rounded to 2 decimals and rates to 4 (api.md's 0.13,
//!   0.1667); levels use the exact values.
//! - A figure is null when nothing was measured: the medians, percentiles
//!   and rates with no values, `per_day` and the per-period medians for an
//!   empty window. Counts are always numbers. Deployment frequency has no
//!   level when the window has no counted deployment (DevLake's "N/A"), and
//!   its medians are then 0 (weeks without deployments are data).
//! - 2021's "median deployment days per six months" uses calendar
//!   half-years (January to June, July to December), counted like weeks
//!   and months: every half-year overlapping the window, zeros included.
//! - `lead_time_for_changes.changes` is the number of lead-time values (the
//!   shipped commits that have one, or a deployment's own lead time).
//! - Time to restore counts incidents that started in the window: resolved
//!   ones (at any time) give a value, `open_incidents` counts those with no
//!   `resolved_at` at all; one resolved before it started is neither.

use super::Csr;
use super::calendar::Period;
use super::derive::{Derived, Restore};
use super::facts::Facts;
use super::level::{self, Benchmark, Level};
use super::select::{RankIndex, Window, percentiles_in};
use super::stats::{percentile, round_to};
use crate::entity::Scope;
use crate::id::OrgId;
use crate::instant::Timestamp;
use crate::name::{Environment, ServiceName};
use serde::Serialize;

/// One report's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub org_id: OrgId,
    pub scope: Scope,
    /// The service's name when `scope` is a service, shown back as `service`.
    pub service: Option<ServiceName>,
    /// Must be the environment `derive` was called with.
    pub environment: Environment,
    pub from: Timestamp,
    /// Exclusive.
    pub to: Timestamp,
    pub benchmark: Benchmark,
}

/// `GET /dora`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoraReport {
    pub org_id: OrgId,
    pub service: Option<ServiceName>,
    pub environment: Environment,
    pub benchmark: Benchmark,
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// One bucket of `GET /dora/series`, clipped to the query's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesBucket {
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time_for_changes: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub failed_deployment_recovery_time: RecoveryTime,
    pub time_to_restore_service: TimeToRestore,
    pub rework_rate: ReworkRate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentFrequency {
    pub deployments: u64,
    pub deployment_days: u64,
    pub per_day: Option<f64>,
    pub median_days_per_week: Option<u32>,
    pub median_days_per_month: Option<u32>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadTime {
    pub changes: u64,
    pub median_seconds: Option<i64>,
    pub p75_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFailureRate {
    pub deployments: u64,
    pub failed_deployments: u64,
    pub rate: Option<f64>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryTime {
    pub incidents: u64,
    pub median_seconds: Option<i64>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToRestore {
    pub incidents: u64,
    pub median_seconds: Option<i64>,
    pub open_incidents: u64,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReworkRate {
    pub deployments: u64,
    pub rework_deployments: u64,
    pub rate: Option<f64>,
}

/// How `series` cuts the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Monday 00:00 UTC to the next Monday.
    Week,
    /// Calendar months, UTC.
    Month,
}

impl Bucket {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "week" => Ok(Bucket::Week),
            "month" => Ok(Bucket::Month),
            other => Err(format!("'{other}' is not a bucket; expected week or month")),
        }
    }
}

/// The figures of `q`'s window.
pub fn report(facts: &Facts, derived: &Derived, q: &Query) -> DoraReport {
    report_parts(&[(facts, derived)], q)
}

/// The figures of `q`'s window over an organization derived in parts
/// ([`Facts::split_by_service`]): each part's window is read, the values
/// gathered, and the figures computed once over all of them, so the answer
/// is the one the whole would give. A service's report needs only its part.
pub fn report_parts(parts: &[(&Facts, &Derived)], q: &Query) -> DoraReport {
    let derived = check(parts, q);
    DoraReport {
        org_id: q.org_id,
        service: q.service.clone(),
        environment: q.environment.clone(),
        benchmark: q.benchmark,
        from: q.from,
        to: q.to,
        metrics: metrics(
            &derived,
            q.scope,
            q.from.millis(),
            q.to.millis(),
            q.benchmark,
        ),
    }
}

/// The figures of each week or month overlapping `q`'s window, each
/// bucket clipped to the window so the buckets partition it exactly (the
/// first and last may be partial; their `per_day` uses their own length).
pub fn series(facts: &Facts, derived: &Derived, q: &Query, bucket: Bucket) -> Vec<SeriesBucket> {
    series_parts(&[(facts, derived)], q, bucket)
}

/// [`series`] over an organization derived in parts, as [`report_parts`].
pub fn series_parts(parts: &[(&Facts, &Derived)], q: &Query, bucket: Bucket) -> Vec<SeriesBucket> {
    let derived = check(parts, q);
    let period = match bucket {
        Bucket::Week => Period::Week,
        Bucket::Month => Period::Month,
    };
    period
        .buckets(q.from.millis(), q.to.millis())
        .filter_map(|(from, to)| {
            Some(SeriesBucket {
                from: Timestamp::from_millis(from)?,
                to: Timestamp::from_millis(to)?,
                metrics: metrics(&derived, q.scope, from, to, q.benchmark),
            })
        })
        .collect()
}

fn check<'a>(parts: &[(&Facts, &'a Derived)], q: &Query) -> Vec<&'a Derived> {
    for (facts, derived) in parts {
        debug_assert_eq!(
            &q.environment,
            derived.environment(),
            "derive for the queried environment"
        );
        debug_assert!(
            derived.derived_from(facts),
            "read Derived with the Facts it came from"
        );
    }
    parts.iter().map(|p| p.1).collect()
}

fn metrics(parts: &[&Derived], scope: Scope, from: i64, to: i64, benchmark: Benchmark) -> Metrics {
    let (mut deployments, mut failed, mut rework) = (0u64, 0u64, 0u64);
    let mut days: Vec<i64> = Vec::new();
    let mut leads: Vec<Window> = Vec::new();
    let mut recoveries: Vec<Window> = Vec::new();
    for d in parts {
        let window = match scope {
            // Every row, in order: searched directly, a cache miss fewer
            // at each step than through the positions.
            Scope::Organization => {
                let (lo, hi) = bounds(&d.rows, from, to, |r| r.at);
                &d.all_rows[lo..hi]
            }
            Scope::Service(s) => between(
                d.service_rows.get(&s).map_or(&[], Vec::as_slice),
                from,
                to,
                |p| d.rows[p as usize].at,
            ),
        };
        match consecutive(window) {
            // Consecutive rows (the organization's): counted from the ends.
            Some((lo, last)) => {
                let (t, hi) = (&d.totals, last as usize + 1);
                deployments += window.len() as u64;
                failed += u64::from(t.failed[hi] - t.failed[lo as usize]);
                rework += u64::from(t.rework[hi] - t.rework[lo as usize]);
                days.extend(t.days_of(lo, hi as u32));
            }
            None => {
                for &p in window {
                    let row = d.rows[p as usize];
                    deployments += 1;
                    failed += u64::from(row.failed);
                    rework += u64::from(row.rework);
                    let day = row.at.div_euclid(Timestamp::MS_PER_DAY);
                    // Rows are in time order: a part's equal days are adjacent.
                    if days.last() != Some(&day) {
                        days.push(day);
                    }
                }
            }
        }
        windows(&d.lead, Some(&d.lead_index), window, &mut leads);
        windows(&d.recovery, None, window, &mut recoveries);
    }
    if parts.len() > 1 {
        days = distinct_days(days, from, to);
    }

    let per_week = median_days(&days, from, to, Period::Week);
    let per_month = median_days(&days, from, to, Period::Month);
    let per_half_year = median_days(&days, from, to, Period::HalfYear);
    let frequency_level = match (per_week, per_month, per_half_year) {
        (Some(w), Some(m), Some(h)) if deployments > 0 => {
            Some(level::deployment_frequency(benchmark, w, m, h))
        }
        _ => None,
    };
    let length_days = (to - from) as f64 / Timestamp::MS_PER_DAY as f64;
    let [lead_median, lead_p75, lead_p90] = percentiles_in(&leads, [50, 75, 90]);
    let [recovery_median] = percentiles_in(&recoveries, [50]);
    let count = |w: &[Window]| w.iter().map(|w| w.len() as u64).sum::<u64>();
    let restore = time_to_restore(parts, scope, from, to);
    Metrics {
        deployment_frequency: DeploymentFrequency {
            deployments,
            deployment_days: days.len() as u64,
            per_day: (to > from).then(|| round_to(deployments as f64 / length_days, 2)),
            median_days_per_week: per_week,
            median_days_per_month: per_month,
            level: frequency_level,
        },
        lead_time_for_changes: LeadTime {
            changes: count(&leads),
            median_seconds: lead_median,
            p75_seconds: lead_p75,
            p90_seconds: lead_p90,
            level: lead_median.map(|m| level::lead_time(benchmark, m)),
        },
        change_failure_rate: ChangeFailureRate {
            deployments,
            failed_deployments: failed,
            rate: ratio(failed, deployments),
            level: (deployments > 0)
                .then(|| level::change_failure_rate(benchmark, failed, deployments)),
        },
        failed_deployment_recovery_time: RecoveryTime {
            incidents: count(&recoveries),
            median_seconds: recovery_median,
            level: recovery_median.map(level::recovery),
        },
        time_to_restore_service: restore,
        rework_rate: ReworkRate {
            deployments,
            rework_deployments: rework,
            rate: ratio(rework, deployments),
        },
    }
}

fn time_to_restore(parts: &[&Derived], scope: Scope, from: i64, to: i64) -> TimeToRestore {
    let mut values = Vec::new();
    let mut open = 0u64;
    for d in parts {
        let positions: &[u32] = match scope {
            Scope::Organization => &d.all_incidents,
            Scope::Service(s) => d.service_incidents.get(&s).map_or(&[], Vec::as_slice),
        };
        for &p in between(positions, from, to, |p| d.incidents[p as usize].at) {
            match d.incidents[p as usize].restore {
                Restore::Seconds(s) => values.push(s),
                Restore::Open => open += 1,
                Restore::Invalid => {}
            }
        }
    }
    let median = percentile(&mut values, 50);
    TimeToRestore {
        incidents: values.len() as u64,
        median_seconds: median,
        open_incidents: open,
        level: median.map(level::recovery),
    }
}

/// The first and last position of `window` when it is a run of
/// consecutive positions (always, at organization scope).
fn consecutive(window: &[u32]) -> Option<(u32, u32)> {
    let (&first, &last) = (window.first()?, window.last()?);
    ((last - first) as usize + 1 == window.len()).then_some((first, last))
}

/// The values of every position in `window`, read in place. At
/// organization scope the window is a run of consecutive positions: one
/// window of the values, read through `index` when given.
fn windows<'a>(
    values: &'a Csr<i64>,
    index: Option<&'a RankIndex>,
    window: &[u32],
    into: &mut Vec<Window<'a>>,
) {
    match consecutive(window) {
        Some((first, last)) => {
            let (start, end) = values.bounds(first as usize, last as usize);
            into.push(Window {
                values: values.items(),
                index,
                start,
                end,
            });
        }
        None => into.extend(
            window
                .iter()
                .map(|&p| values.get(p as usize))
                .filter(|s| !s.is_empty())
                .map(Window::of),
        ),
    }
}

/// Days of several parts, sorted and each once. A year of a thousand
/// services is 365,000 days to merge: marking them in a table of the
/// window's days is several times faster than sorting them.
fn distinct_days(mut days: Vec<i64>, from: i64, to: i64) -> Vec<i64> {
    let first = from.div_euclid(Timestamp::MS_PER_DAY);
    let last = (to - 1).div_euclid(Timestamp::MS_PER_DAY);
    let span = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
    if span > 1 << 20 || days.iter().any(|d| !(first..=last).contains(d)) {
        days.sort_unstable();
        days.dedup();
        return days;
    }
    let mut seen = vec![false; span];
    for d in &days {
        seen[(d - first) as usize] = true;
    }
    days.clear();
    days.extend((first..=last).filter(|d| seen[(d - first) as usize]));
    days
}

/// The part of `positions` (sorted by `at`) with `from <= at < to`.
fn between(positions: &[u32], from: i64, to: i64, at: impl Fn(u32) -> i64) -> &[u32] {
    let (lo, hi) = bounds(positions, from, to, |&p| at(p));
    &positions[lo..hi]
}

/// The indices `lo..hi` of `items` (sorted by `at`) with `from <= at < to`.
///
/// An organization's report searches a thousand parts, each search a walk
/// of cache misses; a window that starts before a part's first row or ends
/// after its last (every window ending now) needs no search at that end.
fn bounds<T>(items: &[T], from: i64, to: i64, at: impl Fn(&T) -> i64) -> (usize, usize) {
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return (0, 0);
    };
    let lo = if at(first) >= from {
        0
    } else {
        items.partition_point(|x| at(x) < from)
    };
    let hi = if at(last) < to {
        items.len()
    } else {
        items.partition_point(|x| at(x) < to)
    };
    (lo, hi.max(lo))
}

/// Lower median of distinct deployment days per period over every period
/// overlapping the window, periods without deployments counting 0.
fn median_days(days: &[i64], from: i64, to: i64, period: Period) -> Option<u32> {
    let (first, last) = period.span(from, to)?;
    let mut counts = vec![0u32; (last - first + 1) as usize];
    for &day in days {
        counts[(period.of(day) - first) as usize] += 1;
    }
    percentile(&mut counts, 50)
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round_to(part as f64 / whole as f64, 4))
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn bounds_are_those_of_a_search_at_either_end() {
        let at = [10i64, 20, 20, 30];
        let b = |from, to| bounds(&at, from, to, |&t| t);
        assert_eq!(b(0, 100), (0, 4));
        assert_eq!(b(10, 30), (0, 3));
        assert_eq!(b(11, 31), (1, 4));
        assert_eq!(b(20, 21), (1, 3));
        assert_eq!(b(21, 30), (3, 3));
        assert_eq!(b(40, 50), (4, 4));
        assert_eq!(b(0, 5), (0, 0));
        assert_eq!(b(30, 10), (3, 3));
        assert_eq!(bounds(&[] as &[i64], 0, 10, |&t| t), (0, 0));
    }
}
