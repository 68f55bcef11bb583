//! Everything that depends on the whole history rather than on a window:
//! counted deployments, what each shipped, incident links and rework.
//!
//! `Derived` is built for one environment and is meant to be cached and
//! queried many times, so it is laid out for the report's scans:
//! - counted deployments are `rows`, sorted by `(finished_at, id)`, so a
//!   window is a binary search and one contiguous slice;
//! - the per-deployment lists the report reads (lead times, recovery times)
//!   are flat vectors indexed by position (`Csr`), computed here once;
//! - each service's rows and incidents are position lists in the same
//!   order, so a service report never scans other services;
//! - nothing that lives in `Facts` is copied: shipped shas and incident keys
//!   are indices into the facts, resolved when a view is asked for. A
//!   `Derived` must therefore be read with the `Facts` it was derived from
//!   (views answer `None` for facts of another shape).
//!
//! The fields are read by `report` and by the views in `view.rs`.

use super::Csr;
use super::NONE;
use super::facts::Facts;
use super::graph::Graph;
use super::link::{LinkKind, link};
use super::select::RankIndex;
use super::ship::{Shipped, ship};
use super::stats::whole_seconds;
use crate::command::DeploymentKind;
use crate::id::{DeploymentId, IncidentId, ServiceId};
use crate::name::{Environment, RepoKey};
use std::collections::HashMap;

pub struct Derived {
    environment: Environment,
    /// Lengths of the facts' vectors, to refuse views over other facts.
    shape: [usize; 3],
    pub(super) repos: Vec<RepoKey>,
    /// `(id, row)` sorted by id: a million ids sort faster than they hash.
    pub(super) deployment_rows: Vec<(DeploymentId, u32)>,
    pub(super) incident_rows: Vec<(IncidentId, u32)>,
    /// Per deployment row: its position in `rows`, or `NONE`.
    pub(super) position: Vec<u32>,
    /// Per deployment row.
    pub(super) rework: Vec<bool>,
    /// Per incident row.
    pub(super) incident_link: Vec<Option<(u32, LinkKind)>>,
    pub(super) rows: Vec<Row>,
    pub(super) shipped: Shipped,
    /// Per position: linked incident rows, by `(started_at, id)`.
    pub(super) linked: Csr<u32>,
    pub(super) lead: Csr<i64>,
    /// `lead`'s items indexed by blocks, so that a report's percentiles
    /// read few of them.
    pub(super) lead_index: RankIndex,
    pub(super) recovery: Csr<i64>,
    pub(super) all_rows: Vec<u32>,
    /// Totals over `rows`, so that a window of consecutive rows (every
    /// organization report) is counted from its ends, not row by row.
    pub(super) totals: RowTotals,
    pub(super) service_rows: HashMap<ServiceId, Vec<u32>>,
    pub(super) incidents: Vec<IncidentRow>,
    pub(super) all_incidents: Vec<u32>,
    pub(super) service_incidents: HashMap<ServiceId, Vec<u32>>,
}

/// A counted deployment, as the report reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub at: i64,
    /// Its row in `facts.deployments`.
    pub dep: u32,
    pub rework: bool,
    /// At least one incident is linked to it.
    pub failed: bool,
}

/// An incident that started (`is_incident` and `started_at` known).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncidentRow {
    pub at: i64,
    pub restore: Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restore {
    Open,
    Seconds(i64),
    /// Resolved before it started: neither restored nor open.
    Invalid,
}

/// Derives shipped commits, links and rework for `environment` from the
/// whole history in `facts`.
pub fn derive(facts: &Facts, environment: &Environment) -> Derived {
    let graph = Graph::build(facts);
    let deps = &facts.deployments;

    let mut counted: Vec<(i64, DeploymentId, u32)> = deps
        .iter()
        .enumerate()
        .filter_map(|(row, d)| Some((d.counted_at(environment)?.millis(), d.id, row as u32)))
        .collect();
    counted.sort_unstable();
    let finished: Vec<i64> = counted.iter().map(|c| c.0).collect();
    let counted: Vec<u32> = counted.iter().map(|c| c.2).collect();
    let mut position = vec![NONE; deps.len()];
    let mut service_rows: HashMap<ServiceId, Vec<u32>> = HashMap::new();
    for (pos, &row) in counted.iter().enumerate() {
        position[row as usize] = pos as u32;
        service_rows
            .entry(deps[row as usize].service_id)
            .or_default()
            .push(pos as u32);
    }

    let shipped = ship(facts, &graph, &counted, &finished);
    let links = link(facts, &counted, &position, &finished, &service_rows);
    let rework: Vec<bool> = deps
        .iter()
        .zip(&links.fixes)
        .map(|(d, &fixed)| d.rework || d.kind != DeploymentKind::Normal || fixed)
        .collect();

    let mut by_position: Vec<(u32, i64, IncidentId, u32)> = links
        .link
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let inc = &facts.incidents[i];
            let started = inc.started_at?.millis();
            Some((l.as_ref()?.0, started, inc.id, i as u32))
        })
        .collect();
    by_position.sort_unstable();
    let mut linked = Csr::default();
    let mut lead = Csr::default();
    let mut recovery = Csr::default();
    let mut rows = Vec::with_capacity(counted.len());
    let mut next = by_position.iter().peekable();
    for (pos, &row) in counted.iter().enumerate() {
        let d = &deps[row as usize];
        let at = finished[pos];
        while let Some(&(_, _, _, i)) = next.next_if(|l| l.0 == pos as u32) {
            linked.push_item(i);
            if let Some(resolved) = facts.incidents[i as usize].resolved_at
                && let Some(s) = whole_seconds(at, resolved.millis())
            {
                recovery.push_item(s);
            }
        }
        let before = lead.len();
        lead.extend(shipped.get(pos).filter_map(|s| s.lead_seconds(at)));
        // Allstacks' own lead time stands in only when no shipped commit
        // gives one; a rollback delivers no change, so it gives none.
        if lead.len() == before && d.kind != DeploymentKind::Rollback {
            lead.extend(d.lead_time_seconds.filter(|s| *s >= 0));
        }
        linked.close();
        lead.close();
        recovery.close();
        rows.push(Row {
            at,
            dep: row,
            rework: rework[row as usize],
            failed: !linked.get(pos).is_empty(),
        });
    }

    let (incidents, all_incidents, service_incidents) = incident_rows(facts);
    let totals = RowTotals::of(&rows);
    Derived {
        environment: environment.clone(),
        shape: shape(facts),
        repos: graph.repos.iter().map(|r| (*r).clone()).collect(),
        deployment_rows: by_id(deps.iter().map(|d| d.id)),
        incident_rows: by_id(facts.incidents.iter().map(|i| i.id)),
        position,
        rework,
        incident_link: links.link,
        all_rows: (0..rows.len() as u32).collect(),
        totals,
        rows,
        shipped,
        linked,
        lead_index: RankIndex::of(lead.items()),
        lead,
        recovery,
        service_rows,
        incidents,
        all_incidents,
        service_incidents,
    }
}

/// Running counts over `rows` (in time order) and where each UTC day's
/// rows begin.
#[derive(Default)]
pub(crate) struct RowTotals {
    /// `failed[i]`: failed rows among the first `i`; `rows.len() + 1` long.
    pub failed: Vec<u32>,
    pub rework: Vec<u32>,
    /// `(first position, day)` of each run of rows on one day.
    pub days: Vec<(u32, i64)>,
}

impl RowTotals {
    fn of(rows: &[Row]) -> RowTotals {
        let mut t = RowTotals {
            failed: Vec::with_capacity(rows.len() + 1),
            rework: Vec::with_capacity(rows.len() + 1),
            days: Vec::new(),
        };
        let (mut failed, mut rework) = (0u32, 0u32);
        t.failed.push(0);
        t.rework.push(0);
        for (pos, row) in rows.iter().enumerate() {
            failed += u32::from(row.failed);
            rework += u32::from(row.rework);
            t.failed.push(failed);
            t.rework.push(rework);
            let day = row.at.div_euclid(crate::instant::Timestamp::MS_PER_DAY);
            if t.days.last().is_none_or(|d| d.1 != day) {
                t.days.push((pos as u32, day));
            }
        }
        t
    }

    /// The days of the rows at positions `lo..hi`, in order, each once.
    pub fn days_of(&self, lo: u32, hi: u32) -> impl Iterator<Item = i64> + '_ {
        let first = self.days.partition_point(|d| d.0 <= lo).saturating_sub(1);
        let end = self.days.partition_point(|d| d.0 < hi);
        let runs = if lo < hi {
            &self.days[first..end]
        } else {
            &[][..]
        };
        runs.iter().map(|d| d.1)
    }
}

type IncidentIndex = (Vec<IncidentRow>, Vec<u32>, HashMap<ServiceId, Vec<u32>>);

/// Started incidents by `(started_at, id)`; service-less ones only in the
/// organization list (semantics.md: they count for time to restore there).
fn incident_rows(facts: &Facts) -> IncidentIndex {
    let mut started: Vec<(i64, IncidentId, u32)> = facts
        .incidents
        .iter()
        .enumerate()
        .filter(|(_, inc)| inc.is_incident)
        .filter_map(|(i, inc)| Some((inc.started_at?.millis(), inc.id, i as u32)))
        .collect();
    started.sort_unstable();
    let mut by_service: HashMap<ServiceId, Vec<u32>> = HashMap::new();
    let rows = started
        .iter()
        .enumerate()
        .map(|(k, &(at, _, i))| {
            let inc = &facts.incidents[i as usize];
            if let Some(s) = inc.service_id {
                by_service.entry(s).or_default().push(k as u32);
            }
            let restore = match inc.resolved_at {
                None => Restore::Open,
                Some(r) => whole_seconds(at, r.millis()).map_or(Restore::Invalid, Restore::Seconds),
            };
            IncidentRow { at, restore }
        })
        .collect::<Vec<_>>();
    (rows, (0..started.len() as u32).collect(), by_service)
}

fn by_id<K: Ord + Copy>(ids: impl Iterator<Item = K>) -> Vec<(K, u32)> {
    let mut v: Vec<(K, u32)> = ids.enumerate().map(|(row, id)| (id, row as u32)).collect();
    v.sort_unstable();
    v
}

pub(super) fn row_of<K: Ord + Copy>(index: &[(K, u32)], id: K) -> Option<usize> {
    let at = index.binary_search_by_key(&id, |e| e.0).ok()?;
    Some(index[at].1 as usize)
}

fn shape(facts: &Facts) -> [usize; 3] {
    [
        facts.deployments.len(),
        facts.changes.len(),
        facts.incidents.len(),
    ]
}

impl Derived {
    /// Whether `facts` has the shape of the facts this was derived from.
    pub fn derived_from(&self, facts: &Facts) -> bool {
        shape(facts) == self.shape
    }

    /// The environment whose deployments count here.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }
}
