//! Properties over random histories: input order never changes a result,
//! and the fast walk and links agree with a naive reading of semantics.md.

use super::*;
use crate::command::MergedRequest;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};

const REPOS: [&str; 2] = ["r0", "r1"];

fn at(hours: u8, minutes: u8) -> Timestamp {
    Timestamp::from_seconds(1_704_067_200 + i64::from(hours) * 3600 + i64::from(minutes) * 60)
        .unwrap()
}

fn sha(i: usize) -> Sha {
    Sha::from_trusted(format!("c{i}"))
}

prop_compose! {
    fn change(i: usize)(parents in prop::collection::vec(any::<Index>(), 0..3),
                        committed in prop::option::weighted(0.8, (0..48u8, 0..60u8)),
                        authored in prop::option::of((0..48u8, 0..60u8)),
                        request in prop::option::weighted(0.3, request())) -> ChangeFact {
        ChangeFact {
            repo_key: RepoKey::from_trusted(REPOS[i % 2]),
            sha: sha(i),
            // Earlier commits of the same repo (even or odd numbers): the
            // history is a DAG, as git's is.
            parents: parents.iter().map(|p| earlier(i, *p)).collect(),
            committed_at: committed.map(|(h, m)| at(h, m)),
            authored_at: authored.map(|(h, m)| at(h, m)),
            request: request.map(Box::new),
        }
    }
}

prop_compose! {
    // Heads and bases of either repository (the other's are unknown here).
    fn request()(opened in (0..48u8, 0..60u8), head in prop::option::weighted(0.8, 0..34usize),
                 base in prop::option::of(0..34usize), commits in prop::option::of(0..5u32)) -> MergedRequest {
        MergedRequest {
            opened_at: at(opened.0, opened.1),
            head: head.map(sha),
            base: base.map(sha),
            commits,
        }
    }
}

fn earlier(i: usize, p: Index) -> Sha {
    if i < 2 {
        sha(i + 100)
    } else {
        sha(i % 2 + 2 * p.index(i / 2))
    }
}

/// The repo commit `s` belongs to, or the other one (an unknown sha there).
fn repo_of(s: usize, elsewhere: bool) -> RepoKey {
    RepoKey::from_trusted(REPOS[(s + usize::from(elsewhere)) % 2])
}

fn changes() -> impl Strategy<Value = Vec<ChangeFact>> {
    (0..30usize)
        .prop_flat_map(|n| (0..n).map(change).collect::<Vec<_>>())
        .prop_flat_map(|v| {
            // A few commits given twice, with other parents or times.
            let n = v.len();
            prop::collection::vec((any::<Index>(), any::<Index>()), 0..3).prop_map(move |extra| {
                let mut v = v.clone();
                for (a, b) in extra {
                    if n > 1 {
                        let mut dup = v[a.index(n)].clone();
                        let i = a.index(n);
                        dup.parents = vec![earlier(i, b)];
                        dup.committed_at = None;
                        v.push(dup);
                    }
                }
                v
            })
        })
}

fn kind() -> impl Strategy<Value = DeploymentKind> {
    prop_oneof![6 => Just(DeploymentKind::Normal), 1 => Just(DeploymentKind::Rollback), 1 => Just(DeploymentKind::Hotfix)]
}

fn result() -> impl Strategy<Value = DeployResult> {
    prop_oneof![8 => Just(DeployResult::Success), 1 => Just(DeployResult::Failure), 1 => Just(DeployResult::Pending)]
}

prop_compose! {
    fn deployment(id: i64)(service in 1..3i64, staging in prop::bool::weighted(0.15), result in result(),
                           // Coarse times, so that finishing together happens.
                           finished in prop::option::weighted(0.95, (0..30u8, prop_oneof![3 => Just(0u8), 1 => 0..60u8])),
                           commits in prop::collection::vec((prop::bool::weighted(0.1), 0..34usize), 0..3),
                           shipped in prop::option::weighted(0.2, prop::collection::vec(
                               (prop::bool::weighted(0.1), 0..34usize, prop::option::of((0..48u8, 0..60u8))), 0..4)),
                           kind in kind(), rework in prop::bool::weighted(0.1),
                           lead in prop::option::weighted(0.2, -100..100_000i64),
                           external in prop::option::weighted(0.7, 0..6u8)) -> DeploymentFact {
        DeploymentFact {
            id: DeploymentId(id),
            external_id: external.map(|e| ExternalId::from_trusted(format!("e{e}"))),
            service_id: ServiceId(service),
            environment: if staging { Environment::parse("staging").unwrap() } else { Environment::production() },
            result,
            finished_at: finished.map(|(h, m)| at(h, m)),
            commits: commits.iter().map(|&(x, s)| (repo_of(s, x), sha(s))).collect(),
            shipped: shipped.map(|v| v.iter().map(|&(x, s, t)| (repo_of(s, x), sha(s), t.map(|(h, m)| at(h, m)))).collect()),
            kind,
            rework,
            lead_time_seconds: lead,
        }
    }
}

fn cause() -> impl Strategy<Value = Option<IncidentCause>> {
    prop_oneof![
        3 => Just(None),
        1 => (0..7u8).prop_map(|e| Some(IncidentCause::Deployment(ExternalId::from_trusted(format!("e{e}"))))),
        1 => (0..34usize).prop_map(|s| Some(IncidentCause::Commit(sha(s)))),
    ]
}

prop_compose! {
    fn incident(id: i64)(service in prop::option::weighted(0.9, 1..4i64),
                         started in prop::option::weighted(0.9, (0..50u8, 0..60u8)),
                         duration in prop::option::of(-2..30i8), cause in cause(),
                         fixed_by in prop::option::weighted(0.2, 0..6u8),
                         is_incident in prop::bool::weighted(0.9)) -> IncidentFact {
        let started_at = started.map(|(h, m)| at(h, m));
        IncidentFact {
            id: IncidentId(id),
            key: IncidentKey::from_trusted(format!("INC-{id}")),
            service_id: service.map(ServiceId),
            started_at,
            resolved_at: duration.and_then(|d| started_at?.plus_millis(i64::from(d) * 600_000)),
            cause,
            fixed_by: fixed_by.map(|e| ExternalId::from_trusted(format!("e{e}"))),
            is_incident,
        }
    }
}

fn facts() -> impl Strategy<Value = Facts> {
    let deployments = (0..25usize)
        .prop_flat_map(|n| (0..n).map(|i| deployment(i as i64 + 1)).collect::<Vec<_>>());
    let incidents =
        (0..15usize).prop_flat_map(|n| (0..n).map(|i| incident(i as i64 + 1)).collect::<Vec<_>>());
    let window = prop::option::weighted(0.3, 0..20_000i64);
    (deployments, changes(), incidents, window).prop_map(
        |(deployments, changes, incidents, link_window_seconds)| Facts {
            deployments,
            changes,
            incidents,
            link_window_seconds,
        },
    )
}

fn shuffled() -> impl Strategy<Value = (Facts, Facts)> {
    facts().prop_flat_map(|f| {
        let d = Just(f.deployments.clone()).prop_shuffle();
        let c = Just(f.changes.clone()).prop_shuffle();
        let i = Just(f.incidents.clone()).prop_shuffle();
        (Just(f.clone()), d, c, i).prop_map(|(f, deployments, changes, incidents)| {
            let g = Facts {
                deployments,
                changes,
                incidents,
                ..f.clone()
            };
            (f, g)
        })
    })
}

/// Everything the engine answers about `facts`, in id order.
fn everything(facts: &Facts) -> serde_json::Value {
    let d = production(facts);
    let mut out = Vec::new();
    for scope in [
        Scope::Organization,
        Scope::Service(ServiceId(1)),
        Scope::Service(ServiceId(2)),
    ] {
        for (from, to) in [
            ("2024-01-01", "2024-01-04"),
            ("2024-01-01T05:00:00Z", "2024-01-02T07:30:00Z"),
        ] {
            for benchmark in [Benchmark::Y2023, Benchmark::Y2021] {
                let q = Query {
                    benchmark,
                    ..query(scope, from, to)
                };
                out.push(serde_json::to_value(report(facts, &d, &q)).unwrap());
                out.push(serde_json::to_value(series(facts, &d, &q, Bucket::Week)).unwrap());
            }
        }
    }
    let mut ids: Vec<_> = facts.deployments.iter().map(|x| x.id).collect();
    ids.sort();
    out.extend(
        ids.into_iter()
            .map(|id| serde_json::to_value(d.deployment(facts, id)).unwrap()),
    );
    let mut ids: Vec<_> = facts.incidents.iter().map(|x| x.id).collect();
    ids.sort();
    out.extend(
        ids.into_iter()
            .map(|id| serde_json::to_value(d.incident(facts, id)).unwrap()),
    );
    serde_json::Value::Array(out)
}

fn counted_in_order(facts: &Facts) -> Vec<&DeploymentFact> {
    let mut v: Vec<&DeploymentFact> = facts
        .deployments
        .iter()
        .filter(|d| d.counted_at(&Environment::production()).is_some())
        .collect();
    v.sort_by_key(|d| (d.finished_at, d.id));
    v
}

/// semantics.md read literally: ancestor sets in full, no generations.
fn naive_shipped(facts: &Facts) -> BTreeSet<(i64, String, String)> {
    let mut parents: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for c in &facts.changes {
        let e = parents
            .entry((c.repo_key.to_string(), c.sha.to_string()))
            .or_default();
        e.extend(c.parents.iter().map(|p| p.to_string()));
    }
    let ancestors = |repo: &str, heads: Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = heads;
        while let Some(s) = todo.pop() {
            let Some(ps) = parents.get(&(repo.to_string(), s.clone())) else {
                continue;
            };
            if seen.insert(s) {
                todo.extend(ps.iter().cloned());
            }
        }
        seen
    };
    let counted = counted_in_order(facts);
    let shas_in = |d: &DeploymentFact, repo: &str| -> Vec<String> {
        d.commits
            .iter()
            .filter(|c| c.0.as_str() == repo)
            .map(|c| c.1.to_string())
            .collect()
    };
    let mut chain_has: BTreeSet<(i64, String, String)> = BTreeSet::new();
    let mut out = BTreeSet::new();
    for d in &counted {
        if d.kind == DeploymentKind::Rollback {
            continue;
        }
        let repos: BTreeSet<String> = d
            .commits
            .iter()
            .map(|c| c.0.to_string())
            .chain(d.shipped.iter().flatten().map(|e| e.0.to_string()))
            .collect();
        for repo in repos {
            let candidates: Vec<String> = match &d.shipped {
                Some(list) => list
                    .iter()
                    .filter(|e| e.0.as_str() == repo)
                    .map(|e| e.1.to_string())
                    .collect(),
                None => {
                    let previous = counted
                        .iter()
                        .filter(|p| p.service_id == d.service_id && p.finished_at < d.finished_at)
                        .filter(|p| !shas_in(p, &repo).is_empty())
                        .max_by_key(|p| (p.finished_at, p.id));
                    let stop = previous
                        .map(|p| ancestors(&repo, shas_in(p, &repo)))
                        .unwrap_or_default();
                    ancestors(&repo, shas_in(d, &repo))
                        .difference(&stop)
                        .cloned()
                        .collect()
                }
            };
            for sha in candidates {
                if chain_has.insert((d.service_id.0, repo.clone(), sha.clone())) {
                    out.insert((d.id.0, repo.clone(), sha));
                }
            }
        }
    }
    out
}

/// semantics.md's request rule read literally, for a commit of `repo`:
/// walk the request's first-parent chain over every row, no generations,
/// no depths.
fn naive_time(facts: &Facts, repo: &RepoKey, sha: &Sha) -> Option<Timestamp> {
    let mut by_sha: BTreeMap<&Sha, Vec<&ChangeFact>> = BTreeMap::new();
    for c in facts.changes.iter().filter(|c| &c.repo_key == repo) {
        by_sha.entry(&c.sha).or_default().push(c);
    }
    let rows = |s: &Sha| by_sha.get(s).cloned().unwrap_or_default().into_iter();
    let known = |s: &Sha| rows(s).next().is_some();
    let own = |s: &Sha| {
        let committed = rows(s).filter_map(|c| c.committed_at).min();
        committed.or(rows(s).filter_map(|c| c.authored_at).min())
    };
    let first_parent = |s: &Sha| {
        rows(s)
            .filter_map(|c| c.parents.first())
            .filter(|p| *p != s && known(p))
            .min()
            .cloned()
    };
    let requested = rows(sha).filter_map(|c| {
        let r = c.request.as_deref()?;
        let mut steps = match (r.commits, &r.base) {
            (Some(n), _) => n,
            (None, Some(_)) => u32::MAX,
            (None, None) => 1,
        };
        let mut at = r.head.clone().filter(|h| known(h));
        let mut earliest: Option<Timestamp> = None;
        while let Some(s) = at.take() {
            if steps == 0 || r.base.as_ref() == Some(&s) {
                break;
            }
            steps -= 1;
            earliest = match (earliest, own(&s)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            at = first_parent(&s);
        }
        Some(earliest.unwrap_or(r.opened_at))
    });
    match (own(sha), requested.min()) {
        (Some(o), Some(r)) => Some(o.min(r)),
        (o, r) => o.or(r),
    }
}

/// `(deployment, sha, time)` of every commit shipped by the graph walk.
fn walked_times(facts: &Facts) -> Vec<(i64, String, Option<Timestamp>)> {
    let d = production(facts);
    let mut out = Vec::new();
    for x in facts.deployments.iter().filter(|x| x.shipped.is_none()) {
        for s in d.deployment(facts, x.id).unwrap().shipped {
            out.push((x.id.0, s.sha.to_string(), s.committed_at));
        }
    }
    out.sort();
    out
}

fn naive_walked_times(facts: &Facts) -> Vec<(i64, String, Option<Timestamp>)> {
    let d = production(facts);
    let mut out = Vec::new();
    for x in facts.deployments.iter().filter(|x| x.shipped.is_none()) {
        for s in d.deployment(facts, x.id).unwrap().shipped {
            out.push((x.id.0, s.sha.to_string(), naive_time(facts, s.repo, s.sha)));
        }
    }
    out.sort();
    out
}

fn engine_shipped(facts: &Facts) -> BTreeSet<(i64, String, String)> {
    let d = production(facts);
    facts
        .deployments
        .iter()
        .flat_map(|x| {
            let v = d.deployment(facts, x.id).unwrap();
            v.shipped
                .iter()
                .map(|s| (x.id.0, s.repo.to_string(), s.sha.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn naive_links(facts: &Facts) -> BTreeMap<i64, (i64, LinkKind)> {
    let counted = counted_in_order(facts);
    let mut out = BTreeMap::new();
    for i in &facts.incidents {
        let (Some(service), Some(started), true) = (i.service_id, i.started_at, i.is_incident)
        else {
            continue;
        };
        let mut mine = counted.iter().filter(|d| d.service_id == service);
        let explicit = match &i.cause {
            Some(IncidentCause::Deployment(e)) => {
                mine.clone().find(|d| d.external_id.as_ref() == Some(e))
            }
            Some(IncidentCause::Commit(s)) => {
                mine.clone().find(|d| d.commits.iter().any(|c| &c.1 == s))
            }
            None => None,
        };
        if let Some(d) = explicit {
            out.insert(i.id.0, (d.id.0, LinkKind::Explicit));
        } else if let Some(d) = mine.rfind(|d| d.finished_at < Some(started)) {
            let gap = started.millis() - d.finished_at.unwrap().millis();
            if facts.link_window_seconds.is_none_or(|w| gap <= w * 1000) {
                out.insert(i.id.0, (d.id.0, LinkKind::Time));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shuffling_deployments_changes_and_incidents_never_changes_any_answer((original, shuffled) in shuffled()) {
        prop_assert_eq!(everything(&original), everything(&shuffled));
    }

    #[test]
    fn shipped_commits_match_the_literal_ancestor_set_rule(facts in facts()) {
        prop_assert_eq!(engine_shipped(&facts), naive_shipped(&facts));
    }

    #[test]
    fn request_times_match_the_literal_walk(facts in facts()) {
        prop_assert_eq!(walked_times(&facts), naive_walked_times(&facts));
    }

    #[test]
    fn incident_links_match_the_literal_linking_rules(facts in facts()) {
        let d = production(&facts);
        let engine: BTreeMap<i64, (i64, LinkKind)> = facts
            .incidents
            .iter()
            .filter_map(|i| Some((i.id.0, linked(&facts, &d, i.id.0)?)))
            .collect();
        prop_assert_eq!(engine, naive_links(&facts));
    }

    #[test]
    fn parts_derived_alone_answer_as_the_whole(facts in facts()) {
        let whole = production(&facts);
        let parts: Vec<(Option<ServiceId>, Facts)> = facts.clone().split_by_service();
        let derived: Vec<Derived> = parts.iter().map(|p| production(&p.1)).collect();
        let all: Vec<(&Facts, &Derived)> = parts.iter().map(|p| &p.1).zip(&derived).collect();
        let mut scopes = vec![(Scope::Organization, all.clone())];
        for (i, (key, _)) in parts.iter().enumerate() {
            if let Some(s) = key {
                scopes.push((Scope::Service(*s), vec![all[i]]));
            }
        }
        for (scope, chosen) in scopes {
            let q = query(scope, "2024-01-01T03:00:00Z", "2024-01-20");
            prop_assert_eq!(report_parts(&chosen, &q), report(&facts, &whole, &q));
            prop_assert_eq!(
                series_parts(&chosen, &q, Bucket::Week),
                series(&facts, &whole, &q, Bucket::Week)
            );
        }
        for (part, d) in &all {
            for x in &part.deployments {
                prop_assert_eq!(d.deployment(part, x.id), whole.deployment(&facts, x.id));
            }
            for i in &part.incidents {
                prop_assert_eq!(d.incident(part, i.id), whole.incident(&facts, i.id));
            }
        }
    }

    #[test]
    fn series_buckets_add_up_to_the_report(facts in facts()) {
        let d = production(&facts);
        let q = query(Scope::Organization, "2024-01-01T03:00:00Z", "2024-01-20");
        let whole = report(&facts, &d, &q).metrics;
        for bucket in [Bucket::Week, Bucket::Month] {
            let b = series(&facts, &d, &q, bucket);
            let sum = |f: fn(&Metrics) -> u64| b.iter().map(|b| f(&b.metrics)).sum::<u64>();
            prop_assert_eq!(sum(|m| m.deployment_frequency.deployments), whole.deployment_frequency.deployments);
            prop_assert_eq!(sum(|m| m.lead_time_for_changes.changes), whole.lead_time_for_changes.changes);
            prop_assert_eq!(sum(|m| m.change_failure_rate.failed_deployments), whole.change_failure_rate.failed_deployments);
            prop_assert_eq!(sum(|m| m.time_to_restore_service.open_incidents), whole.time_to_restore_service.open_incidents);
        }
    }
}
