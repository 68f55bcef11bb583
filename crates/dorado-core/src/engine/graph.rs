//! The commit graph, interned so that the walks touch integers only.
//!
//! Shapes, and why:
//! - Repositories get small ids in sorted key order; commits are sorted by
//!   `(repo, sha)`. Sorting (not insertion order) makes every id, and so
//!   every tie the engine breaks by id, independent of the order the store
//!   loaded the rows in.
//! - There is no hash map of commits: at millions of 40-byte keys, hashing
//!   and the map's cache misses cost more than sorting. Commits are sorted
//!   once as `(repo, sha prefix, row, sha)` records (full sha comparisons
//!   only on equal 8-byte prefixes), and every batch of lookups (parents,
//!   deployed shas) is sorted the same way and merged against them in one
//!   sequential pass.
//! - The walks use other ids: the depth-first post-order of the sorted
//!   commits, so parents come before children and a stretch of history is a
//!   stretch of ids. Walks then read neighbouring array slots instead of
//!   missing the cache on every commit. Both orders depend on content only.
//! - Parents are one flat `Vec<u32>` indexed by `parent_start` (CSR): two
//!   allocations for millions of commits, and a walk reads neighbours from
//!   one contiguous slice.
//! - Every commit has a generation number (1 + the greatest of its
//!   parents'), so a walk can visit commits newest-first and know, when it
//!   pops a commit, that every descendant it queued has been seen. Edges that
//!   would close a cycle (possible only in bad data) are dropped, in an order
//!   fixed by the sorted ids, so the graph the walks see is always a DAG.

use super::Csr;
use super::facts::Facts;
use crate::instant::Timestamp;
use crate::name::RepoKey;
use std::cmp::Ordering;
use std::collections::HashMap;

/// No commit: an unknown sha, or a dropped edge.
pub(crate) const NONE: u32 = u32::MAX;

pub(crate) struct Graph<'f> {
    /// Every repository named anywhere in the facts, sorted; index = repo id.
    pub repos: Vec<&'f RepoKey>,
    repo_ids: HashMap<&'f str, u32>,
    /// The lookup side, in `(repo, sha)` order: key, sha and walk id of each.
    keys: Vec<(u32, u64)>,
    shas: Vec<&'f str>,
    walk_id: Vec<u32>,
    /// The walk side, indexed by walk id.
    pub commits: Vec<Commit>,
    pub generation: Vec<u32>,
    parents: Csr<u32>,
}

#[derive(Clone, Copy)]
pub(crate) struct Commit {
    /// The row of `facts.changes` that names it (one of them, when a commit
    /// was given twice: they all carry the same sha).
    pub change: u32,
    /// `committed_at`, else `authored_at` (semantics.md, lead time).
    pub time: Option<Timestamp>,
}

/// A commit or a question, sortable without touching the string until two
/// prefixes tie.
#[derive(Clone, Copy)]
struct Record<'s> {
    repo: u32,
    row: u32,
    prefix: u64,
    sha: &'s str,
}

impl Record<'_> {
    fn cmp(&self, other: &Record) -> Ordering {
        (self.repo, self.prefix)
            .cmp(&(other.repo, other.prefix))
            .then_with(|| self.sha.cmp(other.sha))
    }

    fn same(&self, other: &Record) -> bool {
        (self.repo, self.prefix) == (other.repo, other.prefix) && self.sha == other.sha
    }
}

impl<'f> Graph<'f> {
    pub fn build(facts: &'f Facts) -> Self {
        super::cpu_mark("start");
        let (repos, repo_ids) = intern_repos(facts);
        super::cpu_mark("repos");
        let changes = &facts.changes;
        let mut repo_of = RepoCache::new(&repo_ids);
        let mut order: Vec<Record<'f>> = changes
            .iter()
            .enumerate()
            .map(|(i, c)| Record {
                repo: repo_of.id(&c.repo_key),
                row: i as u32,
                prefix: prefix(c.sha.as_str()),
                sha: c.sha.as_str(),
            })
            .collect();
        super::cpu_mark("order");
        order.sort_unstable_by(Record::cmp);

        super::cpu_mark("sorted");
        // Equal keys are adjacent: one commit per run. A commit given in
        // several rows takes the earliest committed and authored times of
        // them, so the merge is the same in any order. One visit per row
        // reads its times and parents together.
        let mut sorted = Vec::new();
        let (mut keys, mut shas) = (Vec::new(), Vec::new());
        let mut edges: Vec<(u32, &'f str)> = Vec::with_capacity(order.len());
        let mut edge_start = vec![0];
        for run in order.chunk_by(|a, b| a.same(b)) {
            let (mut committed, mut authored) = (None::<Timestamp>, None::<Timestamp>);
            for r in run {
                let c = &changes[r.row as usize];
                committed = min_some(committed, c.committed_at);
                authored = min_some(authored, c.authored_at);
                edges.extend(c.parents.iter().map(|p| (r.repo, p.as_str())));
            }
            edge_start.push(edges.len());
            sorted.push(Commit {
                change: run[0].row,
                time: committed.or(authored),
            });
            keys.push((run[0].repo, run[0].prefix));
            shas.push(run[0].sha);
        }
        super::cpu_mark("runs");
        drop(order);
        let mut graph = Graph {
            repos,
            repo_ids,
            keys,
            shas,
            walk_id: Vec::new(),
            commits: Vec::new(),
            generation: Vec::new(),
            parents: Csr::default(),
        };

        let targets = graph.find_all(&edges);
        super::cpu_mark("find");
        let mut by_key = Csr::default();
        let mut scratch = Vec::new();
        for id in 0..sorted.len() {
            scratch.clear();
            let given = &targets[edge_start[id]..edge_start[id + 1]];
            scratch.extend(given.iter().filter(|&&p| p != NONE && p != id as u32));
            scratch.sort_unstable();
            scratch.dedup();
            by_key.extend(scratch.iter().copied());
            by_key.close();
        }
        super::cpu_mark("csr");
        graph.renumber(sorted, by_key);
        super::cpu_mark("renumber");
        graph
    }

    pub fn repo_id(&self, repo: &RepoKey) -> u32 {
        // Every repository of the facts was interned in `build`.
        self.repo_ids[repo.as_str()]
    }

    /// Walk ids of `(repo, sha)` questions, `NONE` for unknown ones, in the
    /// questions' order.
    pub fn lookup_all(&self, questions: &[(u32, &str)]) -> Vec<u32> {
        let mut found = self.find_all(questions);
        for id in found.iter_mut().filter(|id| **id != NONE) {
            *id = self.walk_id[*id as usize];
        }
        found
    }

    /// Positions in `(repo, sha)` order: the questions are sorted like the
    /// commits, then merged with them in one pass.
    fn find_all(&self, questions: &[(u32, &str)]) -> Vec<u32> {
        let mut order: Vec<Record> = questions
            .iter()
            .enumerate()
            .map(|(i, &(repo, sha))| Record {
                repo,
                row: i as u32,
                prefix: prefix(sha),
                sha,
            })
            .collect();
        order.sort_unstable_by(Record::cmp);
        let mut answers = vec![NONE; questions.len()];
        let mut id = 0usize;
        let known = |id: usize| Record {
            repo: self.keys[id].0,
            row: 0,
            prefix: self.keys[id].1,
            sha: self.shas[id],
        };
        for q in &order {
            while id < self.keys.len() && known(id).cmp(q) == Ordering::Less {
                id += 1;
            }
            if id < self.keys.len() && known(id).same(q) {
                answers[q.row as usize] = id as u32;
            }
        }
        answers
    }

    pub fn parents(&self, id: u32) -> &[u32] {
        self.parents.get(id as usize)
    }

    /// Depth-first from every commit in `(repo, sha)` order, iteratively
    /// (histories are deeper than any stack). An edge to a commit still on
    /// the stack closes a cycle and is dropped. The post-order becomes the
    /// walk ids, and generations are computed on the way.
    fn renumber(&mut self, sorted: Vec<Commit>, by_key: Csr<u32>) {
        let n = sorted.len();
        let mut walk_id = vec![NONE; n];
        let mut post: Vec<u32> = Vec::with_capacity(n);
        let mut on_stack = vec![false; n];
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for root in 0..n as u32 {
            if walk_id[root as usize] != NONE || on_stack[root as usize] {
                continue;
            }
            on_stack[root as usize] = true;
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (node, next) = *top;
                if let Some(&p) = by_key.get(node as usize).get(next as usize) {
                    top.1 += 1;
                    if walk_id[p as usize] == NONE && !on_stack[p as usize] {
                        on_stack[p as usize] = true;
                        stack.push((p, 0));
                    }
                } else {
                    stack.pop();
                    on_stack[node as usize] = false;
                    walk_id[node as usize] = post.len() as u32;
                    post.push(node);
                }
            }
        }
        // Parents of a node finished before it unless the edge closed a
        // cycle, so a finished parent (with a smaller walk id) is a kept edge.
        let mut parents = Csr::default();
        let mut generation = Vec::with_capacity(n);
        for (w, &old) in post.iter().enumerate() {
            let kept = by_key
                .get(old as usize)
                .iter()
                .map(|&p| walk_id[p as usize])
                .filter(|&p| (p as usize) < w);
            parents.extend(kept);
            parents.close();
            let highest = parents
                .get(w)
                .iter()
                .map(|&p| generation[p as usize])
                .max()
                .unwrap_or(0);
            generation.push(highest + 1);
        }
        self.commits = post.iter().map(|&old| sorted[old as usize]).collect();
        self.generation = generation;
        self.parents = parents;
        self.walk_id = walk_id;
    }
}

fn min_some(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Repository ids by key; rows usually come grouped by repository, so the
/// last answer is checked before hashing.
pub(crate) struct RepoCache<'m, 'f> {
    ids: &'m HashMap<&'f str, u32>,
    last: Option<(&'f str, u32)>,
}

impl<'m, 'f> RepoCache<'m, 'f> {
    pub fn new(ids: &'m HashMap<&'f str, u32>) -> Self {
        RepoCache { ids, last: None }
    }

    pub fn id(&mut self, repo: &'f RepoKey) -> u32 {
        match self.last {
            Some((s, id)) if s == repo.as_str() => id,
            _ => {
                let id = self.ids[repo.as_str()];
                self.last = Some((repo.as_str(), id));
                id
            }
        }
    }
}

fn intern_repos(facts: &Facts) -> (Vec<&RepoKey>, HashMap<&str, u32>) {
    let mut seen: HashMap<&str, &RepoKey> = HashMap::new();
    let mut last: Option<&str> = None;
    let named = facts
        .changes
        .iter()
        .map(|c| &c.repo_key)
        .chain(facts.deployments.iter().flat_map(|d| {
            d.commits
                .iter()
                .map(|c| &c.0)
                .chain(d.shipped.iter().flatten().map(|e| &e.0))
        }));
    for r in named {
        if last != Some(r.as_str()) {
            seen.entry(r.as_str()).or_insert(r);
            last = Some(r.as_str());
        }
    }
    let mut repos: Vec<&RepoKey> = seen.into_values().collect();
    repos.sort_unstable();
    let ids = repos
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i as u32))
        .collect();
    (repos, ids)
}

/// The first 8 bytes, big-endian, so that integer order is string order.
fn prefix(s: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = s.len().min(8);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::facts::ChangeFact;
    use crate::name::Sha;

    fn change(sha: &str, parents: &[&str]) -> ChangeFact {
        ChangeFact {
            repo_key: RepoKey::from_trusted("r"),
            sha: Sha::from_trusted(sha),
            parents: parents.iter().map(|p| Sha::from_trusted(*p)).collect(),
            committed_at: None,
            authored_at: None,
        }
    }

    #[test]
    fn a_parent_cycle_is_cut_so_generations_strictly_decrease_along_edges() {
        let facts = Facts {
            changes: vec![
                change("a", &["c"]),
                change("b", &["a"]),
                change("c", &["b"]),
                change("d", &["c"]),
            ],
            ..Facts::default()
        };
        let g = Graph::build(&facts);
        for id in 0..g.commits.len() as u32 {
            for &p in g.parents(id) {
                assert!(g.generation[p as usize] < g.generation[id as usize]);
            }
        }
        // Exactly one edge of the three-cycle is gone.
        let edges: usize = (0..4).map(|i| g.parents(i).len()).sum();
        assert_eq!(edges, 3);
    }

    #[test]
    fn duplicate_rows_of_one_commit_merge_parents_and_prefer_any_committed_time() {
        let mut first = change("b", &["a"]);
        first.committed_at = Timestamp::from_seconds(200);
        let mut second = change("b", &["x"]);
        second.authored_at = Timestamp::from_seconds(100);
        let facts = Facts {
            changes: vec![first, change("a", &[]), second, change("x", &[])],
            ..Facts::default()
        };
        let g = Graph::build(&facts);
        assert_eq!(g.commits.len(), 3);
        let b = g.lookup_all(&[(0, "b")])[0];
        assert_eq!(g.parents(b).len(), 2);
        // Merged as the store would: committed_at 200 is known, so it wins
        // over the other row's authored_at.
        assert_eq!(g.commits[b as usize].time, Timestamp::from_seconds(200));
    }
}
