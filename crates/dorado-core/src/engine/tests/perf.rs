//! Scale: 1M deployments and 5M commits. Ignored by default (it needs a
//! release build and a few GB); run with
//! `cargo test -p dorado-core --release -- --ignored --nocapture scale`.

use super::*;
use std::time::Instant;

const REPOS: usize = 100;
const COMMITS_PER_REPO: usize = 50_000;
const SERVICES: i64 = 200;
const DEPLOYS_PER_SERVICE: usize = 5_000;
/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200;

fn sha(repo: usize, i: usize) -> Sha {
    // A cheap mix so shas look random, as git's do.
    let mut x = (repo as u64) << 32 | i as u64;
    x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    Sha::from_trusted(format!("{x:016x}{:024x}", x.rotate_left(17) as u128 * 31))
}

/// This thread's CPU time (Linux), so a loaded machine does not blur it.
fn cpu() -> std::time::Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    std::time::Duration::from_nanos(ns)
}

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_seconds(START + seconds).unwrap()
}

fn big_facts() -> Facts {
    let year = 365 * DAY;
    let mut changes = Vec::with_capacity(REPOS * COMMITS_PER_REPO);
    for r in 0..REPOS {
        let repo = RepoKey::from_trusted(format!("github.com/acme/repo-{r}"));
        for i in 0..COMMITS_PER_REPO {
            // Mostly linear, with a merge of the commit three back every 10th.
            let parents = match i {
                0 => vec![],
                _ if i % 10 == 0 && i >= 3 => vec![sha(r, i - 1), sha(r, i - 3)],
                _ => vec![sha(r, i - 1)],
            };
            let at = ts((i as i64) * 2 * year / COMMITS_PER_REPO as i64);
            changes.push(ChangeFact {
                repo_key: repo.clone(),
                sha: sha(r, i),
                parents,
                committed_at: Some(at),
                authored_at: Some(at),
                request: None,
            });
        }
    }
    let step = COMMITS_PER_REPO / DEPLOYS_PER_SERVICE;
    let mut deployments = Vec::with_capacity(SERVICES as usize * DEPLOYS_PER_SERVICE);
    for s in 0..SERVICES {
        let r = s as usize % REPOS;
        let repo = RepoKey::from_trusted(format!("github.com/acme/repo-{r}"));
        for k in 0..DEPLOYS_PER_SERVICE {
            let head = (k + 1) * step - 1;
            let kind = if k % 50 == 49 {
                DeploymentKind::Rollback
            } else {
                DeploymentKind::Normal
            };
            let head = if kind == DeploymentKind::Rollback {
                head - step
            } else {
                head
            };
            deployments.push(DeploymentFact {
                id: DeploymentId(s * 1_000_000 + k as i64),
                external_id: Some(ExternalId::from_trusted(format!("d{k}"))),
                service_id: ServiceId(s),
                environment: Environment::production(),
                result: DeployResult::Success,
                finished_at: Some(ts((head as i64) * 2 * year / COMMITS_PER_REPO as i64
                    + HOUR
                    + s)),
                commits: vec![(repo.clone(), sha(r, head))],
                shipped: None,
                kind,
                rework: false,
                lead_time_seconds: None,
            });
        }
    }
    let incidents = (0..100_000i64)
        .map(|i| IncidentFact {
            id: IncidentId(i),
            key: IncidentKey::from_trusted(format!("INC-{i}")),
            service_id: Some(ServiceId(i % SERVICES)),
            started_at: Some(ts(i * 600)),
            resolved_at: (i % 7 != 0).then(|| ts(i * 600 + 3 * HOUR)),
            cause: None,
            fixed_by: None,
            is_incident: true,
        })
        .collect();
    Facts {
        deployments,
        changes,
        incidents,
        link_window_seconds: None,
    }
}

#[test]
#[ignore = "scale test: run in release with --ignored"]
fn scale_one_million_deployments_five_million_commits() {
    let t0 = Instant::now();
    let facts = big_facts();
    println!("generated in {:?}", t0.elapsed());

    let (t1, c1) = (Instant::now(), cpu());
    let d = production(&facts);
    let (derive_wall, derive_cpu) = (t1.elapsed(), cpu() - c1);
    println!("derive: {derive_wall:?} ({derive_cpu:?} CPU)");

    let q = query(Scope::Organization, "2024-03-01", "2025-03-01");
    let (t2, c2) = (Instant::now(), cpu());
    let r = report(&facts, &d, &q);
    let (report_wall, report_cpu) = (t2.elapsed(), cpu() - c2);
    println!(
        "org report (a year): {report_wall:?} ({report_cpu:?} CPU); {:?}",
        r.metrics.deployment_frequency
    );
    println!("{:?}", r.metrics.lead_time_for_changes);

    let t3 = Instant::now();
    let s = report(
        &facts,
        &d,
        &query(Scope::Service(ServiceId(7)), "2024-03-01", "2025-03-01"),
    );
    println!(
        "service report: {:?}; {:?}",
        t3.elapsed(),
        s.metrics.deployment_frequency.deployments
    );
    let t4 = Instant::now();
    let weeks = series(&facts, &d, &q, Bucket::Week);
    println!(
        "weekly series ({} buckets): {:?}",
        weeks.len(),
        t4.elapsed()
    );

    // Deployments and commits are spread evenly over two years, so the
    // year holds half of each: 500k deployments, and every commit of the
    // half, once per service deploying its repo (2 x 100 x 25k), rollbacks
    // included (the deployment after one ships what it skipped).
    assert_eq!(r.metrics.deployment_frequency.deployments, 500_000);
    assert_eq!(r.metrics.lead_time_for_changes.changes, 5_000_000);
    assert_eq!(s.metrics.deployment_frequency.deployments, 2_500);
    // CPU time, not wall time: other builds share this machine. Measured
    // about 4 s and 25-40 ms on a loaded 2-core EPYC; the bounds leave room.
    if !cfg!(debug_assertions) {
        assert!(derive_cpu.as_secs_f64() < 8.0, "derive took {derive_cpu:?}");
        assert!(report_cpu.as_millis() < 100, "report took {report_cpu:?}");
    }
}
