//! The DORA engine: every figure of semantics.md from stored facts, with no I/O.
//!
//! Two steps, so that the expensive one is cached:
//! - [`derive`] reads the whole history of one environment (commit graph,
//!   counted deployments, incident links, rework) once, into [`Derived`];
//! - [`report`] and [`series`] read a window of a `Derived`, cheaply.
//!
//! Everything is deterministic: input order never changes a result, because
//! every tie is broken by ids or by content, never by position.

mod calendar;
mod derive;
mod facts;
mod graph;
mod level;
mod link;
mod report;
mod select;
mod ship;
mod stats;
mod view;
mod walk;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod csr_tests {
    use super::Csr;

    #[test]
    fn rows_group_in_given_order_then_sort_and_dedup_in_place() {
        let mut c = Csr::from_pairs(3, &[(2, 5), (0, 3), (2, 1), (0, 3), (2, 5), (0, 1)]);
        assert_eq!(
            (c.get(0), c.get(1), c.get(2)),
            (&[3, 3, 1][..], &[][..], &[5, 1, 5][..])
        );
        c.sort_dedup_rows();
        assert_eq!(
            (c.get(0), c.get(1), c.get(2)),
            (&[1, 3][..], &[][..], &[1, 5][..])
        );
        assert_eq!(c.len(), 4);
    }
}

pub use derive::{Derived, derive};
pub use facts::{ChangeFact, DeploymentFact, Facts, IncidentFact};
pub use level::{Benchmark, Level};
pub use link::LinkKind;
pub use report::{
    Bucket, ChangeFailureRate, DeploymentFrequency, DoraReport, LeadTime, Metrics, Query,
    RecoveryTime, ReworkRate, SeriesBucket, TimeToRestore, report, report_parts, series,
    series_parts,
};
pub use view::{DeploymentView, IncidentView, LinkedDeployment, LinkedIncident, ShippedView};

/// No such row: an unknown commit, a deployment that does not count.
pub(crate) const NONE: u32 = u32::MAX;

/// Variable-length lists, one per row, in two flat vectors (compressed
/// sparse rows): for a million deployments that is two allocations instead
/// of a million, and a row's items are contiguous.
#[derive(Debug, Clone)]
pub(crate) struct Csr<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Csr<T> {
    fn default() -> Self {
        Csr {
            start: vec![0],
            items: Vec::new(),
        }
    }
}

impl<T> Csr<T> {
    /// Adds an item to the row being built.
    pub fn push_item(&mut self, item: T) {
        self.items.push(item);
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        self.items.extend(items);
    }

    /// Items pushed so far, over all rows.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Ends the row being built.
    pub fn close(&mut self) {
        self.start.push(self.items.len() as u32);
    }

    pub fn get(&self, row: usize) -> &[T] {
        &self.items[self.start[row] as usize..self.start[row + 1] as usize]
    }

    /// Where the items of rows `first..=last` begin and end in
    /// [`Csr::items`]: contiguous by construction.
    pub fn bounds(&self, first: usize, last: usize) -> (usize, usize) {
        (self.start[first] as usize, self.start[last + 1] as usize)
    }

    /// Every row's items, row after row.
    pub fn items(&self) -> &[T] {
        &self.items
    }
}

impl<T: Ord + Copy> Csr<T> {
    /// Sorts each row and drops repeated items, compacting in place.
    pub fn sort_dedup_rows(&mut self) {
        let mut kept = 0usize;
        for row in 0..self.start.len() - 1 {
            let (from, to) = (self.start[row] as usize, self.start[row + 1] as usize);
            self.items[from..to].sort_unstable();
            let row_start = kept;
            self.start[row] = kept as u32;
            for i in from..to {
                let v = self.items[i];
                if kept == row_start || self.items[kept - 1] != v {
                    self.items[kept] = v;
                    kept += 1;
                }
            }
        }
        if let Some(end) = self.start.last_mut() {
            *end = kept as u32;
        }
        self.items.truncate(kept);
    }
}

impl<T: Copy> Csr<T> {
    /// Groups `(row, item)` pairs by row with one counting pass (no
    /// comparison sort), each row keeping its items in their given order.
    pub fn from_pairs(rows: usize, pairs: &[(u32, T)]) -> Self {
        let mut start = vec![0u32; rows + 1];
        for &(row, _) in pairs {
            start[row as usize + 1] += 1;
        }
        for i in 0..rows {
            start[i + 1] += start[i];
        }
        let mut cursor = start.clone();
        let mut items = pairs.iter().map(|p| p.1).collect::<Vec<T>>();
        for &(row, item) in pairs {
            items[cursor[row as usize] as usize] = item;
            cursor[row as usize] += 1;
        }
        Csr { start, items }
    }
}
