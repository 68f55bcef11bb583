//! `git log HEADS ^STOPS` over the interned graph: the commits a deployment
//! brings beyond its previous one.
//!
//! Walking every ancestor of the previous deployment would cost the whole
//! history per deployment. Instead both sides are walked together,
//! newest generation first, painting ancestors of a stop "uninteresting";
//! since a parent's generation is strictly lower than its child's, a commit
//! is popped only after every queued descendant, so its paint is final. The
//! walk ends as soon as no interesting commit is queued: on a linear history
//! it touches the new commits and the previous head, nothing older.
//!
//! Per-commit state lives in two flat arrays reused by every walk; an epoch
//! counter makes "clear" O(1) instead of O(commits).

use super::graph::Graph;
use std::collections::BinaryHeap;

const INTERESTING: u8 = 1;
const UNINTERESTING: u8 = 2;
const POPPED: u8 = 4;

pub(crate) struct Walker {
    epoch: Vec<u32>,
    state: Vec<u8>,
    current: u32,
    /// `generation << 32 | id`: a max-heap pops newest first, ties by id.
    heap: BinaryHeap<u64>,
}

impl Walker {
    pub fn new(commits: usize) -> Self {
        Walker {
            epoch: vec![0; commits],
            state: vec![0; commits],
            current: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// Appends to `out` every known commit that is one of `heads` or their
    /// ancestor, and is neither one of `stops` nor their ancestor; newest
    /// generation first, then by descending id.
    pub fn difference(&mut self, g: &Graph, heads: &[u32], stops: &[u32], out: &mut Vec<u32>) {
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.epoch.fill(0);
            self.current = 1;
        }
        self.heap.clear();
        let mut interesting_queued = 0usize;
        for &s in stops {
            self.paint_fresh(g, s, UNINTERESTING);
        }
        for &h in heads {
            if self.paint_fresh(g, h, INTERESTING) {
                interesting_queued += 1;
            }
        }
        while interesting_queued > 0 {
            let Some(key) = self.heap.pop() else { break };
            let id = key as u32;
            let was = self.state[id as usize];
            self.state[id as usize] = was | POPPED;
            if was & UNINTERESTING != 0 {
                for &p in g.parents(id) {
                    if self.paint_fresh(g, p, UNINTERESTING) {
                        continue;
                    }
                    let st = &mut self.state[p as usize];
                    if *st == INTERESTING {
                        *st = UNINTERESTING;
                        interesting_queued -= 1;
                    }
                    debug_assert!(*st != INTERESTING | POPPED, "generations order the walk");
                }
            } else {
                interesting_queued -= 1;
                out.push(id);
                for &p in g.parents(id) {
                    if self.paint_fresh(g, p, INTERESTING) {
                        interesting_queued += 1;
                    }
                }
            }
        }
    }

    /// Paints and queues a commit this walk has not touched yet; false when
    /// it had been touched.
    fn paint_fresh(&mut self, g: &Graph, id: u32, paint: u8) -> bool {
        let i = id as usize;
        if self.epoch[i] == self.current {
            return false;
        }
        self.epoch[i] = self.current;
        self.state[i] = paint;
        self.heap
            .push((u64::from(g.generation[i]) << 32) | u64::from(id));
        true
    }
}
