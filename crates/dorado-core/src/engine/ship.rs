//! What each counted deployment shipped (semantics.md "Previous deployment
//! and shipped changes").
//!
//! Work is grouped by chain, `(service, repo)` (the environment is fixed by
//! the derive call): a chain's deployments are one contiguous run of a
//! sorted `(service, repo, position)` vector, already in `(finished_at, id)`
//! order, so the previous deployment is simply the last one seen with an
//! earlier finish. "Shipped once" is a per-commit stamp holding the number
//! of the chain that shipped it, so it needs neither hashing nor clearing
//! between chains.
//!
//! Items are stored in the order chains produce them, with one
//! `(start, len)` run per deployment and chain indexed by position: no
//! regrouping of millions of items, and each item is 16 bytes.
//!
//! Because the rule is per chain, a monorepo deployed by two services gives
//! its commits (and their lead times) to both services: each service
//! brought those changes to its own users.

use super::facts::Facts;
use super::graph::Graph;
use super::stats::whole_seconds;
use super::walk::Walker;
use super::{Csr, NONE};
use crate::command::DeploymentKind;
use crate::instant::Timestamp;
use std::collections::HashMap;

/// One shipped commit of one deployment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShippedItem {
    pub repo: u32,
    /// A `facts.changes` row, or with `ENTRY` set an index into the
    /// deployment's explicit list.
    sha: u32,
    /// Epoch millis of the time its lead time is measured from, or `NO_TIME`.
    time: i64,
}

const ENTRY: u32 = 1 << 31;
const NO_TIME: i64 = i64::MIN;

/// Where the sha's text lives in the facts, so nothing is copied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ShaRef {
    /// `facts.changes[i]`.
    Change(u32),
    /// Entry `i` of the deployment's explicit `shipped` list.
    Entry(u32),
}

impl ShippedItem {
    fn new(repo: u32, sha: ShaRef, time: Option<Timestamp>) -> Self {
        let sha = match sha {
            ShaRef::Change(row) => row,
            ShaRef::Entry(i) => i | ENTRY,
        };
        ShippedItem {
            repo,
            sha,
            time: time.map_or(NO_TIME, Timestamp::millis),
        }
    }

    pub fn sha(self) -> ShaRef {
        if self.sha & ENTRY == 0 {
            ShaRef::Change(self.sha)
        } else {
            ShaRef::Entry(self.sha & !ENTRY)
        }
    }

    pub fn time(self) -> Option<Timestamp> {
        // NO_TIME is outside the accepted range, so it reads as none.
        Timestamp::from_millis(self.time)
    }

    /// Whole seconds from the commit time to `finished`: semantics.md drops
    /// negative ones.
    pub fn lead_seconds(self, finished_ms: i64) -> Option<i64> {
        self.time()
            .and_then(|t| whole_seconds(t.millis(), finished_ms))
    }
}

/// Shipped items of every counted position.
pub(crate) struct Shipped {
    items: Vec<ShippedItem>,
    runs: Csr<(u32, u32)>,
}

impl Shipped {
    pub fn get(&self, pos: usize) -> impl Iterator<Item = ShippedItem> + '_ {
        self.runs.get(pos).iter().flat_map(|&(start, len)| {
            self.items[start as usize..(start + len) as usize]
                .iter()
                .copied()
        })
    }
}

/// The deployed and explicitly shipped commits of counted deployments,
/// interned; `counted` holds deployment rows in `(finished_at, id)` order.
struct Interned<'f> {
    /// `(repo, commit id or NONE)` per deployed commit.
    deployed: Csr<(u32, u32)>,
    /// `(repo, commit id or phantom id, entry index)` per explicit entry.
    explicit: Csr<(u32, u32, u32)>,
    /// Explicitly shipped shas no change row names: they still ship, and
    /// need an id for the shipped-once stamp.
    phantoms: HashMap<(u32, &'f str), u32>,
}

fn intern<'f>(facts: &'f Facts, g: &Graph<'f>, counted: &[u32]) -> Interned<'f> {
    let deps = || counted.iter().map(|&row| &facts.deployments[row as usize]);
    let mut questions: Vec<(u32, &str)> = Vec::new();
    for d in deps() {
        questions.extend(d.commits.iter().map(|(r, s)| (g.repo_id(r), s.as_str())));
        questions.extend(
            d.shipped
                .iter()
                .flatten()
                .map(|(r, s, _)| (g.repo_id(r), s.as_str())),
        );
    }
    let answers = g.lookup_all(&questions);
    let mut next = questions.iter().zip(answers);

    let mut deployed = Csr::default();
    let mut explicit = Csr::default();
    let mut phantoms: HashMap<(u32, &'f str), u32> = HashMap::new();
    for d in deps() {
        deployed.extend(next.by_ref().take(d.commits.len()).map(|(q, id)| (q.0, id)));
        deployed.close();
        let listed = d.shipped.as_ref().map_or(0, Vec::len);
        for (i, (&(r, sha), id)) in next.by_ref().take(listed).enumerate() {
            let id = if id != NONE {
                id
            } else {
                let fresh = (g.commits.len() + phantoms.len()) as u32;
                *phantoms.entry((r, sha)).or_insert(fresh)
            };
            explicit.push_item((r, id, i as u32));
        }
        explicit.close();
    }
    Interned {
        deployed,
        explicit,
        phantoms,
    }
}

/// Shipped commits per counted position.
pub(crate) fn ship(facts: &Facts, g: &Graph, counted: &[u32], finished: &[i64]) -> Shipped {
    let int = intern(facts, g, counted);
    let mut chains: Vec<(i64, u32, u32)> = Vec::with_capacity(counted.len());
    let mut repos = Vec::new();
    for (pos, &row) in counted.iter().enumerate() {
        let service = facts.deployments[row as usize].service_id.0;
        repos.clear();
        repos.extend(int.deployed.get(pos).iter().map(|e| e.0));
        repos.extend(int.explicit.get(pos).iter().map(|e| e.0));
        repos.sort_unstable();
        repos.dedup();
        chains.extend(repos.iter().map(|&r| (service, r, pos as u32)));
    }
    chains.sort_unstable();

    let mut shipper = Shipper {
        facts,
        g,
        counted,
        finished,
        walker: Walker::new(g.commits.len()),
        shipped_by_chain: vec![0; g.commits.len() + int.phantoms.len()],
        items: Vec::new(),
        runs: Vec::new(),
        buffers: Default::default(),
        int,
    };
    for (chain_no, chain) in chains.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).enumerate() {
        let positions = chain.iter().map(|c| c.2);
        shipper.chain(chain_no as u32 + 1, chain[0].1, positions);
    }
    // A deployment's runs stay in chain (repo) order, each in walk or
    // sender order.
    Shipped {
        items: shipper.items,
        runs: Csr::from_pairs(counted.len(), &shipper.runs),
    }
}

struct Shipper<'a, 'f> {
    facts: &'f Facts,
    g: &'a Graph<'f>,
    counted: &'a [u32],
    finished: &'a [i64],
    int: Interned<'f>,
    walker: Walker,
    /// Per commit (and phantom): the number of the last chain that shipped it.
    shipped_by_chain: Vec<u32>,
    items: Vec<ShippedItem>,
    runs: Vec<(u32, (u32, u32))>,
    /// Heads, stops and walk results, reused.
    buffers: [Vec<u32>; 3],
}

impl Shipper<'_, '_> {
    /// One `(service, repo)` chain, its positions in `(finished_at, id)` order.
    fn chain(&mut self, stamp: u32, repo: u32, positions: impl Iterator<Item = u32>) {
        let mut last_deploying: Option<u32> = None;
        let mut previous: Option<u32> = None;
        let mut group_at: Option<i64> = None;
        for pos in positions {
            let at = self.finished[pos as usize];
            if group_at != Some(at) {
                // Ties on finished_at share the previous deployment: the
                // last (greatest id) one that finished strictly earlier.
                previous = last_deploying;
                group_at = Some(at);
            }
            let first = self.items.len() as u32;
            self.deployment(stamp, repo, pos, previous);
            let shipped = self.items.len() as u32 - first;
            if shipped > 0 {
                self.runs.push((pos, (first, shipped)));
            }
            if self
                .int
                .deployed
                .get(pos as usize)
                .iter()
                .any(|e| e.0 == repo)
            {
                last_deploying = Some(pos);
            }
        }
    }

    fn deployment(&mut self, stamp: u32, repo: u32, pos: u32, previous: Option<u32>) {
        let d = &self.facts.deployments[self.counted[pos as usize] as usize];
        if d.kind == DeploymentKind::Rollback {
            return;
        }
        if let Some(list) = &d.shipped {
            for i in 0..self.int.explicit.get(pos as usize).len() {
                let (r, id, entry) = self.int.explicit.get(pos as usize)[i];
                if r == repo {
                    let known = self.g.commits.get(id as usize).and_then(|c| c.time);
                    self.take(
                        stamp,
                        repo,
                        id,
                        ShaRef::Entry(entry),
                        list[entry as usize].2.or(known),
                    );
                }
            }
            return;
        }
        let [mut heads, mut stops, mut found] = std::mem::take(&mut self.buffers);
        self.deployed_in(repo, Some(pos), &mut heads);
        self.deployed_in(repo, previous, &mut stops);
        found.clear();
        self.walker.difference(self.g, &heads, &stops, &mut found);
        for &id in &found {
            let c = self.g.commits[id as usize];
            self.take(stamp, repo, id, ShaRef::Change(c.change), c.time);
        }
        self.buffers = [heads, stops, found];
    }

    /// Ships a commit unless this chain already did.
    fn take(&mut self, stamp: u32, repo: u32, id: u32, sha: ShaRef, time: Option<Timestamp>) {
        let last = &mut self.shipped_by_chain[id as usize];
        if *last != stamp {
            *last = stamp;
            self.items.push(ShippedItem::new(repo, sha, time));
        }
    }

    /// The known commits of `repo` deployed at position `pos`.
    fn deployed_in(&self, repo: u32, pos: Option<u32>, out: &mut Vec<u32>) {
        out.clear();
        let Some(pos) = pos else { return };
        let known = self
            .int
            .deployed
            .get(pos as usize)
            .iter()
            .filter(|e| e.0 == repo && e.1 != NONE);
        out.extend(known.map(|e| e.1));
    }
}
