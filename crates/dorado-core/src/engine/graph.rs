//! The commit graph, interned so that the walks touch integers only.
//!
//! Shapes, and why:
//! - Commits are numbered in an order that depends on content only, never
//!   on the order the store loaded the rows in, so every tie broken by id
//!   is stable: repositories in key order, and inside a repository the
//!   depth-first post-order from its commits in sha order. Post-order puts
//!   parents before children, so a stretch of history is a stretch of ids
//!   and a walk reads neighbouring array slots instead of missing the cache
//!   on every commit.
//! - The graph is built one repository at a time (parents never cross
//!   repositories), so the sorting, merging and depth-first search of each
//!   work on a few megabytes that stay in cache, instead of jumping across
//!   millions of rows.
//! - There is no hash map of commits: at millions of 40-byte keys, hashing
//!   and the map's cache misses cost more than sorting. Shas are sorted as
//!   `(repo, 8-byte prefix, sha)` records (full comparisons only on equal
//!   prefixes), and every batch of lookups (parents, deployed shas) is sorted
//!   the same way and merged against them in one sequential pass.
//! - Parents are one flat `Vec<u32>` indexed by row (CSR): two allocations
//!   for millions of commits, and a walk reads neighbours from one slice.
//! - Every commit has a generation number (1 + the greatest of its
//!   parents'), so a walk can visit commits newest-first and know, when it
//!   pops a commit, that every descendant it queued has been seen. Edges that
//!   would close a cycle (possible only in bad data) are dropped, as found
//!   by the content-ordered search, so the graph the walks see is a DAG.
//! - A commit that merged a pull or merge request is timed from the
//!   request here, once per derivation (see [`request_time`]), so that the
//!   walks and the reports read one time per commit and never look at a
//!   request again.

use super::facts::{ChangeFact, Facts};
use super::{Csr, NONE};
use crate::command::MergedRequest;
use crate::instant::Timestamp;
use crate::name::RepoKey;
use std::cmp::Ordering;
use std::collections::HashMap;

pub(crate) struct Graph<'f> {
    /// Every repository named anywhere in the facts, sorted; index = repo id.
    pub repos: Vec<&'f RepoKey>,
    repo_ids: HashMap<&'f str, u32>,
    /// Every commit in `(repo, sha)` order, `tag` = its id: the sorted side
    /// of every lookup.
    lookup: Vec<Record<'f>>,
    /// Indexed by id.
    pub commits: Vec<Commit>,
    pub generation: Vec<u32>,
    parents: Csr<u32>,
}

#[derive(Clone, Copy)]
pub(crate) struct Commit {
    /// The row of `facts.changes` that names it (one of them, when a commit
    /// was given twice: they all carry the same sha).
    pub change: u32,
    /// What its lead time runs from: `committed_at`, else `authored_at`
    /// (semantics.md, lead time), or its request's time when that is
    /// earlier ([`request_time`]).
    pub time: Option<Timestamp>,
}

/// What a sha question of a row asks, in the tag's top two bits (rows of
/// one repository stay below them): a parent, the first parent (the request
/// walk follows first parents only), or the head or base of the row's
/// request. One sorted batch answers them all, in one merge pass.
const KIND: u32 = 3 << 30;
const PARENT: u32 = 0;
const FIRST: u32 = 1 << 30;
const HEAD: u32 = 2 << 30;
const BASE: u32 = 3 << 30;

/// A sha of a repository, sortable without reading the string until two
/// prefixes tie; `tag` is a row, a position or an id, as the table needs.
#[derive(Clone, Copy)]
struct Record<'s> {
    repo: u32,
    tag: u32,
    prefix: u64,
    sha: &'s str,
}

impl<'s> Record<'s> {
    fn new(repo: u32, tag: u32, sha: &'s str) -> Self {
        Record {
            repo,
            tag,
            prefix: prefix(sha),
            sha,
        }
    }

    fn cmp(&self, other: &Record) -> Ordering {
        (self.repo, self.prefix)
            .cmp(&(other.repo, other.prefix))
            .then_with(|| self.sha.cmp(other.sha))
    }

    fn same(&self, other: &Record) -> bool {
        (self.repo, self.prefix) == (other.repo, other.prefix) && self.sha == other.sha
    }
}

/// For each question (sorted like `known`), the index of the equal known
/// record, in one merge pass.
fn merge_join(known: &[Record], questions: &[Record], mut found: impl FnMut(&Record, usize)) {
    let mut i = 0;
    for q in questions {
        let mut ord = Ordering::Greater;
        while i < known.len() {
            ord = known[i].cmp(q);
            if ord != Ordering::Less {
                break;
            }
            i += 1;
        }
        if i < known.len() && ord == Ordering::Equal {
            found(q, i);
        }
    }
}

/// Buffers reused from one repository to the next.
#[derive(Default)]
struct Work<'f> {
    order: Vec<Record<'f>>,
    /// `[committed_at, authored_at]` by position.
    times: Vec<[Option<Timestamp>; 2]>,
    known: Vec<Record<'f>>,
    commits: Vec<Commit>,
    local_of: Vec<u32>,
    questions: Vec<Record<'f>>,
    pairs: Vec<(u32, u32)>,
    post: Vec<u32>,
    walk: Vec<u32>,
    on_stack: Vec<bool>,
    stack: Vec<(u32, u32)>,
    /// Positions of the rows that name a merged request.
    requested: Vec<u32>,
    /// By position: the local index of the request's head and base, or
    /// `NONE`. Only filled when a request needs it.
    head_of: Vec<u32>,
    base_of: Vec<u32>,
    /// By local index: the first parent (the least, by content, when rows
    /// of one commit disagree), or `NONE`. Only filled when a request
    /// needs it.
    first: Vec<u32>,
    chains: Chains,
    /// `(post-order index, request time)` to apply once every request of
    /// the repository is timed, so that every walk reads own times only.
    timed: Vec<(u32, Timestamp)>,
}

impl<'f> Graph<'f> {
    pub fn build(facts: &'f Facts) -> Self {
        let (repos, repo_ids) = intern_repos(facts);
        let mut repo_of = RepoCache::new(&repo_ids);
        let pairs: Vec<(u32, u32)> = facts
            .changes
            .iter()
            .enumerate()
            .map(|(row, c)| (repo_of.id(&c.repo_key), row as u32))
            .collect();
        let rows_by_repo = Csr::from_pairs(repos.len(), &pairs);
        drop(pairs);
        let n = facts.changes.len();
        let mut graph = Graph {
            repos,
            repo_ids,
            lookup: Vec::with_capacity(n),
            commits: Vec::with_capacity(n),
            generation: Vec::with_capacity(n),
            parents: Csr::default(),
        };
        let mut work = Work::default();
        for repo in 0..graph.repos.len() {
            graph.add_repo(
                &facts.changes,
                repo as u32,
                rows_by_repo.get(repo),
                &mut work,
            );
        }
        graph
    }

    /// Adds one repository's commits, given its rows in `facts.changes`.
    fn add_repo(&mut self, changes: &'f [ChangeFact], repo: u32, rows: &[u32], w: &mut Work<'f>) {
        // One pass over the rows, in row order, reads all they hold; later
        // passes, in sha order, read these compact copies.
        w.order.clear();
        w.times.clear();
        w.questions.clear();
        w.requested.clear();
        debug_assert!(rows.len() <= (!KIND) as usize);
        for (pos, &row) in rows.iter().enumerate() {
            let c = &changes[row as usize];
            let pos = pos as u32;
            w.order.push(Record::new(repo, pos, c.sha.as_str()));
            w.times.push([c.committed_at, c.authored_at]);
            let parents = c.parents.iter().enumerate();
            w.questions.extend(parents.map(|(n, p)| {
                let kind = if n == 0 { FIRST } else { PARENT };
                Record::new(repo, pos | kind, p.as_str())
            }));
            if let Some(r) = &c.request {
                w.requested.push(pos);
                let sides = [(HEAD, &r.head), (BASE, &r.base)];
                w.questions
                    .extend(sides.into_iter().filter_map(|(kind, sha)| {
                        Some(Record::new(repo, pos | kind, sha.as_ref()?.as_str()))
                    }));
            }
        }
        w.order.sort_unstable_by(Record::cmp);

        // Equal shas are adjacent: one commit per run. A commit given in
        // several rows takes the earliest committed and authored times of
        // them, so the merge is the same in any order.
        w.local_of.clear();
        w.local_of.resize(rows.len(), 0);
        w.known.clear();
        w.commits.clear();
        for run in w.order.chunk_by(|a, b| a.same(b)) {
            let k = w.known.len() as u32;
            let mut earliest = [None::<Timestamp>; 2];
            for r in run {
                w.local_of[r.tag as usize] = k;
                for (e, t) in earliest.iter_mut().zip(w.times[r.tag as usize]) {
                    *e = match (*e, t) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            w.commits.push(Commit {
                change: rows[run[0].tag as usize],
                time: earliest[0].or(earliest[1]),
            });
            w.known.push(Record { tag: k, ..run[0] });
        }

        w.questions.sort_unstable_by(Record::cmp);
        w.pairs.clear();
        w.first.clear();
        w.head_of.clear();
        w.base_of.clear();
        let requests = !w.requested.is_empty();
        if requests {
            w.first.resize(w.known.len(), NONE);
            w.head_of.resize(rows.len(), NONE);
            w.base_of.resize(rows.len(), NONE);
        }
        merge_join(&w.known, &w.questions, |q, found| {
            let pos = (q.tag & !KIND) as usize;
            let found = found as u32;
            match q.tag & KIND {
                HEAD => w.head_of[pos] = found,
                BASE => w.base_of[pos] = found,
                kind => {
                    let child = w.local_of[pos];
                    if child != found {
                        w.pairs.push((child, found));
                        if requests && kind == FIRST {
                            let first = &mut w.first[child as usize];
                            *first = (*first).min(found);
                        }
                    }
                }
            }
        });
        let mut local_parents = Csr::from_pairs(w.known.len(), &w.pairs);
        local_parents.sort_dedup_rows();

        let base = self.commits.len();
        self.append_in_post_order(&local_parents, w);
        if requests {
            self.time_requests(changes, rows, base, w);
        }
    }

    /// Gives each commit of the repository (ids from `base`) that merged a
    /// request its request's time, when that is earlier than its own.
    fn time_requests(
        &mut self,
        changes: &[ChangeFact],
        rows: &[u32],
        base: usize,
        w: &mut Work<'f>,
    ) {
        let n = w.known.len();
        let own = &self.commits[base..base + n];
        // First parents by post-order index; an edge the search dropped
        // (a cycle) is not followed, so every walk ends.
        let first: Vec<u32> = w
            .post
            .iter()
            .enumerate()
            .map(|(i, &k)| match w.first[k as usize] {
                NONE => NONE,
                f => Some(w.walk[f as usize])
                    .filter(|&p| (p as usize) < i)
                    .unwrap_or(NONE),
            })
            .collect();
        let post = |local: u32| (local != NONE).then(|| w.walk[local as usize]);
        w.chains.clear();
        w.timed.clear();
        for &pos in &w.requested {
            let Some(request) = changes[rows[pos as usize] as usize].request.as_deref() else {
                continue;
            };
            let head = post(w.head_of[pos as usize]);
            let stop = post(w.base_of[pos as usize]);
            let at = request_time(request, head, stop, &first, own, &mut w.chains);
            let i = w.walk[w.local_of[pos as usize] as usize];
            w.timed.push((i, at));
        }
        for &(i, at) in &w.timed {
            let c = &mut self.commits[base + i as usize];
            c.time = Some(c.time.map_or(at, |t| t.min(at)));
        }
    }

    /// Depth-first from every commit in sha order, iteratively (histories
    /// are deeper than any stack); an edge to a commit still on the stack
    /// closes a cycle and is dropped. Commits are appended in post-order.
    fn append_in_post_order(&mut self, local_parents: &Csr<u32>, w: &mut Work<'f>) {
        let n = w.known.len();
        w.walk.clear();
        w.walk.resize(n, NONE);
        w.on_stack.clear();
        w.on_stack.resize(n, false);
        w.post.clear();
        for root in 0..n as u32 {
            if w.walk[root as usize] != NONE || w.on_stack[root as usize] {
                continue;
            }
            w.on_stack[root as usize] = true;
            w.stack.push((root, 0));
            while let Some(top) = w.stack.last_mut() {
                let (node, next) = *top;
                if let Some(&p) = local_parents.get(node as usize).get(next as usize) {
                    top.1 += 1;
                    if w.walk[p as usize] == NONE && !w.on_stack[p as usize] {
                        w.on_stack[p as usize] = true;
                        w.stack.push((p, 0));
                    }
                } else {
                    w.stack.pop();
                    w.on_stack[node as usize] = false;
                    w.walk[node as usize] = w.post.len() as u32;
                    w.post.push(node);
                }
            }
        }
        // A parent finished before its child unless the edge closed a
        // cycle, so parents with a smaller post-order number are the kept edges.
        let base = self.commits.len() as u32;
        for (i, &k) in w.post.iter().enumerate() {
            let kept = local_parents
                .get(k as usize)
                .iter()
                .map(|&p| w.walk[p as usize])
                .filter(|&p| (p as usize) < i);
            self.parents.extend(kept.map(|p| p + base));
            self.parents.close();
            let highest = self
                .parents(base + i as u32)
                .iter()
                .map(|&p| self.generation[p as usize])
                .max();
            self.generation.push(highest.unwrap_or(0) + 1);
            self.commits.push(w.commits[k as usize]);
        }
        self.lookup.extend(w.known.iter().map(|r| Record {
            tag: base + w.walk[r.tag as usize],
            ..*r
        }));
    }

    pub fn repo_id(&self, repo: &RepoKey) -> u32 {
        // Every repository of the facts was interned in `build`.
        self.repo_ids[repo.as_str()]
    }

    /// Ids of `(repo, sha)` questions, `NONE` for unknown ones, in the
    /// questions' order: sorted like the commits, then merged with them.
    pub fn lookup_all(&self, questions: &[(u32, &str)]) -> Vec<u32> {
        let mut order: Vec<Record> = questions
            .iter()
            .enumerate()
            .map(|(i, &(repo, sha))| Record::new(repo, i as u32, sha))
            .collect();
        order.sort_unstable_by(Record::cmp);
        let mut answers = vec![NONE; questions.len()];
        merge_join(&self.lookup, &order, |q, i| {
            answers[q.tag as usize] = self.lookup[i].tag
        });
        answers
    }

    pub fn parents(&self, id: u32) -> &[u32] {
        self.parents.get(id as usize)
    }
}

/// When the work of a request began (semantics.md, "Sources of data"): the
/// earliest own time of its commits known here, else its opening. Its
/// commits are found from `head` (an index into `own`, when known) along
/// `first` parents, stopping before `stop` (the request's base, when
/// known) and after at most `commits` steps when the sender counted them;
/// with neither base nor count, `head` alone. Own times only: a request
/// merged into a request's branch does not lend its time to the outer one.
///
/// A base that is named but unknown, with no count, lets the walk run to
/// the end of the known chain. A known base with no count is found by
/// depth along first parents: only when it is no deeper than the head can
/// it be on the head's path (the head itself included), and then exactly
/// that many steps down; a path that misses it reads the chain's running
/// minimum instead of walking the whole history.
fn request_time(
    request: &MergedRequest,
    head: Option<u32>,
    stop: Option<u32>,
    first: &[u32],
    own: &[Commit],
    chains: &mut Chains,
) -> Timestamp {
    let walk = |steps: u32| {
        let (mut at, mut earliest) = (head.unwrap_or(NONE), None);
        for _ in 0..steps {
            if at == NONE || Some(at) == stop {
                break;
            }
            earliest = earlier(earliest, own[at as usize].time);
            at = first[at as usize];
        }
        (earliest, at)
    };
    let earliest = match (head, request.commits, &request.base) {
        (None, _, _) => None,
        (Some(_), Some(n), _) => walk(n).0,
        (Some(_), None, None) => walk(1).0,
        (Some(h), None, Some(_)) => {
            chains.build(first, own);
            let whole = chains.earliest[h as usize];
            match stop {
                Some(b) if chains.depth[b as usize] <= chains.depth[h as usize] => {
                    let (earliest, at) = walk(chains.depth[h as usize] - chains.depth[b as usize]);
                    if at == b { earliest } else { whole }
                }
                _ => whole,
            }
        }
    };
    earliest.unwrap_or(request.opened_at)
}

/// Per commit of one repository: its distance from the root of its
/// first-parent chain, and the earliest own time along that chain.
#[derive(Default)]
struct Chains {
    built: bool,
    depth: Vec<u32>,
    earliest: Vec<Option<Timestamp>>,
}

impl Chains {
    fn clear(&mut self) {
        self.built = false;
    }

    /// Once per repository, and only when a request needs it. A first
    /// parent's index is below its child's, so one pass in order does.
    fn build(&mut self, first: &[u32], own: &[Commit]) {
        if self.built {
            return;
        }
        self.built = true;
        self.depth.clear();
        self.earliest.clear();
        for (i, &f) in first.iter().enumerate() {
            let (depth, before) = match f {
                NONE => (0, None),
                f => (self.depth[f as usize] + 1, self.earliest[f as usize]),
            };
            self.depth.push(depth);
            self.earliest.push(earlier(before, own[i].time));
        }
    }
}

fn earlier(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Repository ids by key; rows usually come grouped by repository, so the
/// last answer is checked before hashing.
struct RepoCache<'m, 'f> {
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
            request: None,
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
