//! Exact percentiles over windows of many parts, read in place.
//!
//! A year of an organization is five million lead times spread over a
//! thousand services, and every question about it wants three of their
//! percentiles. Gathering them into one vector cost more than selecting
//! (a fresh 40 MB vector is mostly page faults); counting them into
//! buckets then selecting inside the wanted buckets reads every value
//! twice. Here both passes are mostly done at derive time: a part keeps,
//! every [`BLOCK`] values (in time order), how many of the values before
//! fall in each bucket, and each block sorted ([`RankIndex`]). The counts
//! of a window are then the difference of two rows plus the few values at
//! its ends, and a wanted bucket's values in a block are one run of the
//! sorted block. Only the values at the window's ends are read one by one.
//!
//! Buckets are ordered like their values, so the value at a rank is
//! exactly the one a sort would put there (nearest rank, as
//! [`percentiles`]).

use super::stats::percentiles;

/// Values per block: a part's index takes `BUCKETS` counters and offsets
/// per block, a window's ends read at most a block each. (Offsets within a
/// block are `u16`.)
pub(crate) const BLOCK: usize = 256;
const _: () = assert!(BLOCK <= u16::MAX as usize);
/// Below this many values, gathering them and selecting is as fast.
const GATHER_BELOW: usize = 1 << 16;
/// Values exact below 2^EXACT_BITS, then 2^STEP_BITS buckets per power of
/// two (a bucket is 1/16 of its value wide: a few percent of a year's lead
/// times fall in the fullest one), up to 2^TOP_BITS seconds (two thousand
/// years), above which every value shares one bucket: fewer buckets, a
/// smaller index.
const EXACT_BITS: u32 = 5;
const STEP_BITS: u32 = 4;
const TOP_BITS: u32 = 36;
/// The negative bucket, the exact values, the steps of every power of two
/// from 2^EXACT_BITS to 2^TOP_BITS, and the top one.
pub(crate) const BUCKETS: usize =
    1 + (1 << EXACT_BITS) + (((TOP_BITS - EXACT_BITS) as usize) << STEP_BITS) + 1;
/// Values from which a scan is worth a second thread: below, starting it
/// costs more than it saves.
const PARALLEL_FROM: usize = 1 << 20;

/// The bucket of a value; one for every negative value, so durations need
/// no range pass first.
fn bucket(v: i64) -> usize {
    let Ok(u) = u64::try_from(v) else {
        return 0;
    };
    if u < 1 << EXACT_BITS {
        return 1 + u as usize;
    }
    if u >= 1 << TOP_BITS {
        return BUCKETS - 1;
    }
    let e = 63 - u.leading_zeros();
    let step = (u >> (e - STEP_BITS)) & ((1 << STEP_BITS) - 1);
    1 + (1 << EXACT_BITS) + (((e - EXACT_BITS) as usize) << STEP_BITS) + step as usize
}

/// What a part keeps, at derive time, of its values (in time order) so that
/// a report finds ranks without reading every value: every `block` values,
/// the running count per bucket of the values before, and each whole block
/// sorted (a block's values of one bucket are then one run, found by a
/// binary search).
#[derive(Debug, Clone, Default)]
pub(crate) struct RankIndex {
    block: usize,
    /// `(blocks + 1) * BUCKETS` counters, row after row; row `b` counts the
    /// values before position `b * block`. Empty when the part has less
    /// than a block of values.
    counts: Vec<u32>,
    /// The values of the whole blocks, each block sorted.
    sorted: Vec<i64>,
    /// `BUCKETS + 1` offsets per block: where each bucket's run begins in
    /// the sorted block. Found by a binary search, a run cost a walk of
    /// cache misses per block; this is one read.
    runs: Vec<u16>,
}

impl RankIndex {
    pub fn of(values: &[i64]) -> RankIndex {
        RankIndex::with_block(values, BLOCK)
    }

    fn with_block(values: &[i64], block: usize) -> RankIndex {
        let blocks = values.len() / block;
        if blocks == 0 {
            return RankIndex {
                block,
                ..RankIndex::default()
            };
        }
        let mut counts = vec![0u32; (blocks + 1) * BUCKETS];
        let mut runs = vec![0u16; blocks * (BUCKETS + 1)];
        let mut sorted = values[..blocks * block].to_vec();
        for (b, values) in sorted.chunks_exact_mut(block).enumerate() {
            let (done, next) = counts.split_at_mut((b + 1) * BUCKETS);
            let row = &mut next[..BUCKETS];
            row.copy_from_slice(&done[b * BUCKETS..]);
            let offsets = &mut runs[b * (BUCKETS + 1)..(b + 1) * (BUCKETS + 1)];
            for &v in values.iter() {
                let k = bucket(v);
                row[k] += 1;
                offsets[k + 1] += 1;
            }
            for k in 0..BUCKETS {
                offsets[k + 1] += offsets[k];
            }
            values.sort_unstable();
        }
        RankIndex {
            block,
            counts,
            sorted,
            runs,
        }
    }

    fn row(&self, b: usize) -> &[u32] {
        &self.counts[b * BUCKETS..(b + 1) * BUCKETS]
    }

    /// The blocks that lie wholly inside `start..end`, if any.
    fn inner(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if self.counts.is_empty() {
            return None;
        }
        let first = start.div_ceil(self.block);
        let last = (end / self.block).min(self.counts.len() / BUCKETS - 1);
        (first < last).then_some((first, last))
    }

    /// The values of bucket `b` in block `block`: one run of the sorted
    /// block, as long as the counts say.
    fn bucket_in_block(&self, block: usize, b: usize) -> &[i64] {
        let at = block * (BUCKETS + 1) + b;
        let (from, to) = (self.runs[at] as usize, self.runs[at + 1] as usize);
        &self.sorted[block * self.block..][from..to]
    }
}

/// Whole blocks `first..last` of a part's index.
type Blocks<'a> = (&'a RankIndex, usize, usize);

/// `values[start..end]` of one part, with the part's index when it has one.
#[derive(Clone, Copy)]
pub(crate) struct Window<'a> {
    pub values: &'a [i64],
    pub index: Option<&'a RankIndex>,
    pub start: usize,
    pub end: usize,
}

impl<'a> Window<'a> {
    /// A window of values without an index: every value is read.
    pub fn of(values: &'a [i64]) -> Window<'a> {
        Window {
            values,
            index: None,
            start: 0,
            end: values.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    fn slice(&self) -> &'a [i64] {
        &self.values[self.start..self.end]
    }

    /// The whole blocks of the window when its part has an index, and the
    /// values to read one by one: the ends, or the whole window.
    fn split(&self) -> (Option<Blocks<'a>>, [&'a [i64]; 2]) {
        let inner = self
            .index
            .and_then(|index| Some((index, index.inner(self.start, self.end)?)));
        match inner {
            Some((index, (first, last))) => (
                Some((index, first, last)),
                [
                    &self.values[self.start..first * index.block],
                    &self.values[last * index.block..self.end],
                ],
            ),
            None => (None, [self.slice(), &[]]),
        }
    }
}

/// [`percentiles`] of the values of several windows, `ps` ascending.
pub(crate) fn percentiles_in<const N: usize>(
    windows: &[Window],
    ps: [usize; N],
) -> [Option<i64>; N] {
    percentiles_from(windows, ps, GATHER_BELOW)
}

fn percentiles_from<const N: usize>(
    windows: &[Window],
    ps: [usize; N],
    gather_below: usize,
) -> [Option<i64>; N] {
    let n: usize = windows.iter().map(Window::len).sum();
    if n < gather_below || n == 0 {
        let mut all: Vec<i64> = windows.iter().flat_map(|w| w.slice()).copied().collect();
        return percentiles(&mut all, ps);
    }
    let mut blocks = Vec::new();
    let mut loose: Vec<&[i64]> = Vec::new();
    for w in windows {
        let (inner, ends) = w.split();
        blocks.extend(inner);
        loose.extend(ends.into_iter().filter(|s| !s.is_empty()));
    }
    let loose_n = loose.iter().map(|s| s.len()).sum();
    let runs = split(&loose, loose_n);

    // The count per bucket: whole blocks from their rows, the rest read.
    let mut counts = vec![0u32; BUCKETS];
    for &(index, first, last) in &blocks {
        let (before, after) = (index.row(first), index.row(last));
        for ((total, a), b) in counts.iter_mut().zip(after).zip(before) {
            *total += a - b;
        }
    }
    for part in in_parallel(&runs, |run| {
        let mut counts = vec![0u32; BUCKETS];
        for s in run {
            for &v in *s {
                counts[bucket(v)] += 1;
            }
        }
        counts
    }) {
        for (total, c) in counts.iter_mut().zip(part) {
            *total += c;
        }
    }

    // For each wanted rank: its bucket and its rank inside the bucket.
    let mut wanted = [(0usize, 0usize); N];
    let (mut b, mut before) = (0usize, 0usize);
    for (slot, p) in wanted.iter_mut().zip(ps) {
        let k = (p * n).div_ceil(100).max(1) - 1;
        while before + counts[b] as usize <= k {
            before += counts[b] as usize;
            b += 1;
        }
        *slot = (b, k - before);
    }
    let mut list_of = [usize::MAX; BUCKETS];
    let mut buckets = Vec::with_capacity(N);
    for &(b, _) in &wanted {
        if list_of[b] == usize::MAX {
            list_of[b] = buckets.len();
            buckets.push(b);
        }
    }

    // The values of the wanted buckets (at most N of them); within a
    // bucket the order of values does not matter to a selection.
    let mut kept: Vec<Vec<i64>> = buckets
        .iter()
        .map(|&b| Vec::with_capacity(counts[b] as usize))
        .collect();
    for &(index, first, last) in &blocks {
        for block in first..last {
            for (list, &b) in kept.iter_mut().zip(&buckets) {
                list.extend_from_slice(index.bucket_in_block(block, b));
            }
        }
    }
    for part in in_parallel(&runs, |run| {
        let mut kept: Vec<Vec<i64>> = vec![Vec::new(); buckets.len()];
        for s in run {
            for &v in *s {
                let list = list_of[bucket(v)];
                if list != usize::MAX {
                    kept[list].push(v);
                }
            }
        }
        kept
    }) {
        for (into, list) in kept.iter_mut().zip(part) {
            into.extend(list);
        }
    }
    let mut out = [None; N];
    for (slot, (b, rank)) in out.iter_mut().zip(wanted) {
        let values = &mut kept[list_of[b]];
        *slot = (rank < values.len()).then(|| *values.select_nth_unstable(rank).1);
    }
    out
}

/// `slices` cut into one run per core, of about equal numbers of values,
/// when there are enough of them; else one run.
fn split<'a, 's>(slices: &'s [&'a [i64]], n: usize) -> Vec<&'s [&'a [i64]]> {
    // Asking for the cores reads the cgroup files: only when it may pay.
    if n < PARALLEL_FROM {
        return vec![slices];
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    if cores < 2 {
        return vec![slices];
    }
    let share = n.div_ceil(cores);
    let (mut runs, mut start, mut sum) = (Vec::with_capacity(cores), 0, 0);
    for (i, s) in slices.iter().enumerate() {
        sum += s.len();
        if sum >= share {
            runs.push(&slices[start..=i]);
            (start, sum) = (i + 1, 0);
        }
    }
    if start < slices.len() {
        runs.push(&slices[start..]);
    }
    runs
}

/// `each` of every run, the first on this thread and the others on their
/// own: a scan of millions of values is bound by reading memory, which two
/// cores do about twice as fast as one.
fn in_parallel<'a, T: Send>(
    runs: &[&[&'a [i64]]],
    each: impl Fn(&[&'a [i64]]) -> T + Sync,
) -> Vec<T> {
    let Some((first, rest)) = runs.split_first() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = rest.iter().map(|run| scope.spawn(|| each(run))).collect();
        let mut out = vec![each(first)];
        // A thread that panicked has no result; its panic goes on here.
        out.extend(others.into_iter().map(|h| match h.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noise(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any windows of parts with small blocks (ends inside blocks,
        /// windows within one block, empty ones), values spread widely or
        /// crowded into a few buckets: the bucketed path gives what
        /// gathering gives.
        #[test]
        fn percentiles_in_windows_are_those_of_the_gathered_values(
            seed in any::<u64>(),
            parts in 1usize..6,
            block in 1usize..40,
            spread in prop_oneof![Just(3i64), Just(100_000i64), Just(i64::MAX / 4)],
        ) {
            let mut next = noise(seed);
            let values: Vec<Vec<i64>> = (0..parts)
                .map(|_| {
                    let len = (next() % 300) as usize;
                    (0..len).map(|_| (next() as i64) % spread).collect()
                })
                .collect();
            let counts: Vec<RankIndex> =
                values.iter().map(|v| RankIndex::with_block(v, block)).collect();
            let windows: Vec<Window> = values
                .iter()
                .zip(&counts)
                .map(|(v, c)| {
                    let a = (next() as usize) % (v.len() + 1);
                    let b = (next() as usize) % (v.len() + 1);
                    Window { values: v, index: Some(c), start: a.min(b), end: a.max(b) }
                })
                .collect();
            let mut all: Vec<i64> = windows.iter().flat_map(|w| w.slice()).copied().collect();
            let ps = [1, 50, 75, 90, 100];
            prop_assert_eq!(percentiles_from(&windows, ps, 0), percentiles(&mut all, ps));
        }
    }

    #[test]
    fn percentiles_of_many_values_are_exact_on_several_threads() {
        let mut next = noise(0x9E37_79B9_7F4A_7C15);
        // Uneven parts, more values than PARALLEL_FROM, a few negative.
        let values: Vec<Vec<i64>> = [700_000usize, 3, 500_000, 0, 90_001]
            .iter()
            .map(|&len| (0..len).map(|_| (next() % 200_000) as i64 - 10).collect())
            .collect();
        let counts: Vec<RankIndex> = values.iter().map(|v| RankIndex::of(v)).collect();
        let windows: Vec<Window> = values
            .iter()
            .zip(&counts)
            .map(|(v, c)| Window {
                values: v,
                index: Some(c),
                start: v.len() / 7,
                end: v.len(),
            })
            .collect();
        let slices: Vec<&[i64]> = windows.iter().map(Window::slice).collect();
        assert!(split(&slices, slices.iter().map(|s| s.len()).sum()).len() <= 2);
        let ps = [1, 50, 75, 90, 99, 100];
        assert_eq!(
            percentiles_in(&windows, ps),
            percentiles(&mut slices.concat(), ps)
        );
    }

    #[test]
    fn buckets_keep_the_order_of_values() {
        let mut v: Vec<i64> = vec![i64::MIN, -5, -1, 0, 1, 31, 32, 33, 34, 63, 64];
        v.extend((6..63).flat_map(|e| [(1i64 << e) - 1, 1 << e, (1 << e) + 1]));
        v.push(i64::MAX);
        v.sort_unstable();
        assert!(v.windows(2).all(|w| bucket(w[0]) <= bucket(w[1])));
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
        assert_eq!(bucket((1 << TOP_BITS) - 1), BUCKETS - 2);
        assert_ne!(bucket(31), bucket(32));
    }

    #[test]
    fn a_window_reads_its_whole_blocks_from_the_index_and_its_ends_value_by_value() {
        let values: Vec<i64> = (0..100).rev().collect();
        let index = RankIndex::with_block(&values, 10);
        assert_eq!(index.inner(3, 9), None);
        assert_eq!(index.inner(3, 21), Some((1, 2)));
        assert_eq!(index.inner(0, 100), Some((0, 10)));
        let window = Window {
            values: &values,
            index: Some(&index),
            start: 3,
            end: 21,
        };
        let (inner, ends) = window.split();
        assert_eq!(inner.map(|(_, a, b)| (a, b)), Some((1, 2)));
        assert_eq!(ends, [&values[3..10], &values[20..21]]);
        // Block 1 holds 89..=80, sorted; 80..=89 are exact up to 31, then
        // 16 buckets per power of two: 80 to 83 share one.
        assert_eq!(index.bucket_in_block(1, bucket(81)), &[80, 81, 82, 83]);
    }
}
