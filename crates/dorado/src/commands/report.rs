//! `dorado report`: the figures of `GET /dora`, read from the database
//! directly, as a table a person reads at a glance or as the same JSON.

use super::{find_org, find_service};
use crate::cli::ReportArgs;
use crate::output::{count, emit};
use anyhow::anyhow;
use dorado_core::engine::{Benchmark, DoraReport, Level, Query, derive, report};
use dorado_core::{Environment, Scope, Timestamp};
use dorado_store::Store;

pub async fn run(store: &Store, json: bool, args: ReportArgs) -> anyhow::Result<()> {
    let org = find_org(store, &args.org).await?;
    let service = match &args.service {
        Some(s) => Some(find_service(store, &org, s).await?),
        None => None,
    };
    let time = |name: &str, s: &Option<String>| {
        s.as_deref()
            .map(|s| Timestamp::parse(s).map_err(|e| anyhow!("--{name}: {e}")))
            .transpose()
    };
    let to = time("to", &args.to)?.unwrap_or_else(Timestamp::now);
    let from = match time("from", &args.from)? {
        Some(f) => f,
        None => to
            .plus_millis(-30 * Timestamp::MS_PER_DAY)
            .ok_or_else(|| anyhow!("--to is too early"))?,
    };
    if from >= to {
        return Err(anyhow!("--from must be before --to"));
    }
    let environment =
        Environment::parse(&args.environment).map_err(|e| anyhow!("--environment: {e}"))?;
    let benchmark = Benchmark::parse(&args.benchmark).map_err(|e| anyhow!("--benchmark: {e}"))?;
    let (facts, _) = store.load_facts(org.id).await?;
    let question = Query {
        org_id: org.id,
        scope: service
            .as_ref()
            .map_or(Scope::Organization, |s| Scope::Service(s.id)),
        service: service.map(|s| s.name),
        environment: environment.clone(),
        from,
        to,
        benchmark,
    };
    let figures = tokio::task::spawn_blocking(move || {
        let derived = derive(&facts, &environment);
        report(&facts, &derived, &question)
    })
    .await?;
    emit(json, &figures, || table(org.name.as_str(), &figures))
}

fn level(l: Option<Level>) -> String {
    l.map(|l| {
        serde_json::to_value(l)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    })
    .unwrap_or_else(|| "-".into())
}

/// Seconds as a person reads them: `3h 20m`, `2d 4h`, `45s`.
fn duration(s: Option<i64>) -> String {
    let Some(s) = s else { return "-".into() };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn table(org: &str, r: &DoraReport) -> String {
    let m = &r.metrics;
    let scope = r
        .service
        .as_ref()
        .map_or_else(|| org.to_owned(), |s| format!("{org} / {s}"));
    let df = &m.deployment_frequency;
    let lt = &m.lead_time_for_changes;
    let cfr = &m.change_failure_rate;
    let fdrt = &m.failed_deployment_recovery_time;
    let ttr = &m.time_to_restore_service;
    let rw = &m.rework_rate;
    let rows = [
        (
            "Deployment frequency".to_owned(),
            format!(
                "{} on {} ({}/day; median {} days/week)",
                count(df.deployments, "deployment"),
                count(df.deployment_days, "day"),
                df.per_day.map_or("-".into(), |p| p.to_string()),
                df.median_days_per_week
                    .map_or("-".into(), |p| p.to_string())
            ),
            level(df.level),
        ),
        (
            "Lead time for changes".to_owned(),
            format!(
                "median {} (p75 {}, p90 {}) over {}",
                duration(lt.median_seconds),
                duration(lt.p75_seconds),
                duration(lt.p90_seconds),
                count(lt.changes, "change")
            ),
            level(lt.level),
        ),
        (
            "Change failure rate".to_owned(),
            format!(
                "{} ({} of {})",
                percent(cfr.rate),
                cfr.failed_deployments,
                count(cfr.deployments, "deployment")
            ),
            level(cfr.level),
        ),
        (
            "Failed deployment recovery".to_owned(),
            format!(
                "median {} over {}",
                duration(fdrt.median_seconds),
                count(fdrt.incidents, "incident")
            ),
            level(fdrt.level),
        ),
        (
            "Time to restore service".to_owned(),
            format!(
                "median {} over {}, {} open",
                duration(ttr.median_seconds),
                count(ttr.incidents, "incident"),
                ttr.open_incidents
            ),
            level(ttr.level),
        ),
        (
            "Rework rate".to_owned(),
            format!(
                "{} ({} of {} deployments)",
                percent(rw.rate),
                rw.rework_deployments,
                rw.deployments
            ),
            String::new(),
        ),
    ];
    let mut out = format!(
        "DORA metrics for {scope}, {} from {} to {} (benchmark {})\n",
        r.environment,
        r.from,
        r.to,
        r.benchmark.as_str()
    );
    for (name, value, level) in rows {
        out.push_str(&format!("\n  {name:<28} {value:<64} {level}"));
    }
    out
}
