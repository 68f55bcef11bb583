//! The scorecard's cards: each figure with its unit, level and trend. A
//! card keeps the API's own number in `raw` (JSON text) so that what the
//! page shows can be checked against `GET /dora` to the digit.

use super::charts::{self, Point, Style};
use super::format::{self, LevelView};
use super::window::Window;
use dorado_core::engine::{Bucket, Level, Metrics, SeriesBucket};
use serde::Serialize;

pub struct Card {
    /// The API's key: `deployment_frequency`, ...
    pub key: &'static str,
    pub title: &'static str,
    pub value: String,
    pub unit: &'static str,
    pub detail: String,
    /// The API's headline number of this figure, as JSON (`null` when none).
    pub raw: String,
    pub level: Option<LevelView>,
    /// The API's level word, or `null`.
    pub raw_level: &'static str,
    pub thresholds: &'static str,
    pub chart: Option<String>,
    /// What the card says when there is no figure.
    pub empty: &'static str,
}

impl Card {
    pub fn has_value(&self) -> bool {
        self.raw != "null"
    }
}

fn json(v: impl Serialize) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

fn level(l: Option<Level>) -> (Option<LevelView>, &'static str) {
    match l {
        Some(l) => {
            let v = LevelView::of(l);
            let name = v.name;
            (Some(v), name)
        }
        None => (None, "null"),
    }
}

pub fn cards(m: &Metrics, trend: &[SeriesBucket], window: &Window) -> Vec<Card> {
    let points = |f: &dyn Fn(&Metrics) -> Option<f64>| -> Vec<Point> {
        trend
            .iter()
            .map(|b| Point {
                label: bucket_label(b, window.bucket),
                short: bucket_short(b, window.bucket),
                value: f(&b.metrics),
            })
            .collect()
    };
    let per = window.bucket_name();
    let df = &m.deployment_frequency;
    let lt = &m.lead_time_for_changes;
    let cfr = &m.change_failure_rate;
    let fdrt = &m.failed_deployment_recovery_time;
    let ttr = &m.time_to_restore_service;
    let rw = &m.rework_rate;
    let dash = || "—".to_owned();
    let (df_level, df_raw_level) = level(df.level);
    let (lt_level, lt_raw_level) = level(lt.level);
    let (cfr_level, cfr_raw_level) = level(cfr.level);
    let (fdrt_level, fdrt_raw_level) = level(fdrt.level);
    let (ttr_level, ttr_raw_level) = level(ttr.level);
    let b = window.benchmark;
    vec![
        Card {
            key: "deployment_frequency",
            title: "Deployment frequency",
            value: df.per_day.map_or_else(dash, |d| format!("{d:.2}")),
            unit: "deployments a day",
            detail: format!(
                "{} deployment{} on {} day{} · median {} day{} a week",
                df.deployments,
                plural(df.deployments),
                df.deployment_days,
                plural(df.deployment_days),
                df.median_days_per_week.unwrap_or(0),
                plural(u64::from(df.median_days_per_week.unwrap_or(0))),
            ),
            raw: json(df.per_day),
            level: df_level,
            raw_level: df_raw_level,
            thresholds: format::thresholds("deployment_frequency", b),
            chart: charts::draw(
                &format!("Deployments per {per}"),
                &points(&|m| Some(m.deployment_frequency.deployments as f64)),
                Style::Bars,
                |v| format!("{v:.0}"),
            )
            .filter(|_| df.deployments > 0),
            empty: "No successful production deployment finished in this window.",
        },
        Card {
            key: "lead_time_for_changes",
            title: "Lead time for changes",
            value: lt.median_seconds.map_or_else(dash, format::duration),
            unit: "median, commit to production",
            detail: match (lt.p75_seconds, lt.p90_seconds) {
                (Some(p75), Some(p90)) => format!(
                    "{} change{} · p75 {} · p90 {}",
                    lt.changes,
                    plural(lt.changes),
                    format::duration(p75),
                    format::duration(p90)
                ),
                _ => format!("{} change{}", lt.changes, plural(lt.changes)),
            },
            raw: json(lt.median_seconds),
            level: lt_level,
            raw_level: lt_raw_level,
            thresholds: format::thresholds("lead_time_for_changes", b),
            chart: duration_chart(
                &format!("Median lead time per {per}"),
                points(&|m| m.lead_time_for_changes.median_seconds.map(|s| s as f64)),
            ),
            empty: "No lead time yet: send the commits your deployments ship (POST /changes, \
                    or commits in the deploy event).",
        },
        Card {
            key: "change_failure_rate",
            title: "Change failure rate",
            value: cfr.rate.map_or_else(dash, format::percent),
            unit: "of deployments caused an incident",
            detail: format!(
                "{} of {} deployment{}",
                cfr.failed_deployments,
                cfr.deployments,
                plural(cfr.deployments)
            ),
            raw: json(cfr.rate),
            level: cfr_level,
            raw_level: cfr_raw_level,
            thresholds: format::thresholds("change_failure_rate", b),
            chart: charts::draw(
                &format!("Change failure rate per {per}"),
                &points(&|m| m.change_failure_rate.rate.map(|r| r * 100.0)),
                Style::Bars,
                |v| axis(v, "%"),
            ),
            empty: "No deployments in this window to measure.",
        },
        Card {
            key: "failed_deployment_recovery_time",
            title: "Failed deployment recovery time",
            value: fdrt.median_seconds.map_or_else(dash, format::duration),
            unit: "median, deployment to resolution",
            detail: format!(
                "{} resolved incident{} linked to these deployments",
                fdrt.incidents,
                plural(fdrt.incidents)
            ),
            raw: json(fdrt.median_seconds),
            level: fdrt_level,
            raw_level: fdrt_raw_level,
            thresholds: format::thresholds("failed_deployment_recovery_time", b),
            chart: duration_chart(
                &format!("Median recovery time per {per}"),
                points(&|m| {
                    m.failed_deployment_recovery_time
                        .median_seconds
                        .map(|s| s as f64)
                }),
            ),
            empty: "No resolved incident is linked to a deployment of this window.",
        },
        Card {
            key: "time_to_restore_service",
            title: "Time to restore service",
            value: ttr.median_seconds.map_or_else(dash, format::duration),
            unit: "median, incident start to resolution",
            detail: format!(
                "{} resolved · {} still open",
                ttr.incidents, ttr.open_incidents
            ),
            raw: json(ttr.median_seconds),
            level: ttr_level,
            raw_level: ttr_raw_level,
            thresholds: format::thresholds("time_to_restore_service", b),
            chart: duration_chart(
                &format!("Median time to restore per {per}"),
                points(&|m| m.time_to_restore_service.median_seconds.map(|s| s as f64)),
            ),
            empty: "No resolved incident started in this window.",
        },
        Card {
            key: "rework_rate",
            title: "Rework rate",
            value: rw.rate.map_or_else(dash, format::percent),
            unit: "of deployments were rollbacks, hotfixes or fixes",
            detail: format!(
                "{} of {} deployment{}",
                rw.rework_deployments,
                rw.deployments,
                plural(rw.deployments)
            ),
            raw: json(rw.rate),
            level: None,
            raw_level: "null",
            thresholds: format::thresholds("rework_rate", b),
            chart: charts::draw(
                &format!("Rework rate per {per}"),
                &points(&|m| m.rework_rate.rate.map(|r| r * 100.0)),
                Style::Bars,
                |v| axis(v, "%"),
            ),
            empty: "No deployments in this window to measure.",
        },
    ]
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A line of durations, in minutes, hours or days as the largest suits.
fn duration_chart(title: &str, seconds: Vec<Point>) -> Option<String> {
    let max = seconds.iter().filter_map(|p| p.value).fold(0.0, f64::max);
    let (unit, per) = if max < 2.0 * 3600.0 {
        ("min", 60.0)
    } else if max < 3.0 * 86_400.0 {
        ("h", 3600.0)
    } else {
        ("d", 86_400.0)
    };
    let scaled: Vec<Point> = seconds
        .into_iter()
        .map(|p| Point {
            value: p.value.map(|v| v / per),
            ..p
        })
        .collect();
    charts::draw(title, &scaled, Style::Line, move |v| axis(v, unit))
}

/// A figure on an axis or in a hover title: whole above ten, else one decimal.
fn axis(v: f64, unit: &str) -> String {
    if v >= 10.0 || v == v.trunc() {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

fn bucket_label(b: &SeriesBucket, bucket: Bucket) -> String {
    match bucket {
        Bucket::Week => format!("Week of {}", format::day(b.from.millis())),
        Bucket::Month => month(b.from.millis()),
    }
}

fn bucket_short(b: &SeriesBucket, bucket: Bucket) -> String {
    match bucket {
        Bucket::Week => {
            let d = format::day(b.from.millis());
            d.rsplit_once(' ')
                .map_or(d.clone(), |(dm, _)| dm.to_owned())
        }
        Bucket::Month => month(b.from.millis()),
    }
}

fn month(ms: i64) -> String {
    let d = format::day(ms);
    d.split_once(' ').map_or(d.clone(), |(_, my)| my.to_owned())
}
