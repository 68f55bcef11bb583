//! Percentiles, durations and rounding, as semantics.md defines them.

use crate::instant::Timestamp;

/// Whole seconds from `from_ms` to `to_ms`, truncated, or `None` when the
/// duration is negative: semantics.md drops negative lead times, and the
/// engine drops negative recovery and restore times the same way (they come
/// only from clocks or senders that disagree).
pub(crate) fn whole_seconds(from_ms: i64, to_ms: i64) -> Option<i64> {
    let ms = to_ms.checked_sub(from_ms)?;
    (ms >= 0).then_some(ms / Timestamp::MS_PER_SECOND)
}

/// Nearest-rank percentile: the value at 1-based rank `ceil(p/100 * n)`
/// (so the median of an even count is the lower middle). Selection instead
/// of a sort keeps a report over millions of lead times linear.
pub(crate) fn percentile<T: Ord + Copy>(values: &mut [T], p: usize) -> Option<T> {
    percentiles(values, [p])[0]
}

/// Several percentiles, `ps` ascending: each selection runs only on the
/// part above the previous one, so p50, p75 and p90 cost about 1.75 passes.
pub(crate) fn percentiles<T: Ord + Copy, const N: usize>(
    values: &mut [T],
    ps: [usize; N],
) -> [Option<T>; N] {
    let mut out = [None; N];
    let mut done = 0;
    let mut last = None;
    for (slot, p) in out.iter_mut().zip(ps) {
        if values.is_empty() {
            break;
        }
        let k = (p * values.len()).div_ceil(100).max(1) - 1;
        if k >= done {
            let (_, v, _) = values[done..].select_nth_unstable(k - done);
            last = Some(*v);
            done = k + 1;
        }
        *slot = last;
    }
    out
}

/// Below this many values, gathering them and selecting is as fast.
const GATHER_BELOW: usize = 1 << 16;
/// Buckets of the counting pass (see [`bucket`]): the counters stay in the
/// L2 cache. (`percentiles_of` numbers its wanted buckets with a `u8`.)
const BUCKETS: usize = 1 << 16;

/// An order-keeping bucket of a value: one per second up to 4,096, then
/// 1,024 per power of two (a bucket is 1/1,024 of its value wide), and
/// one for every negative value. Durations need no range pass first.
fn bucket(v: i64) -> usize {
    const EXACT_BITS: u32 = 12;
    const STEP_BITS: u32 = 10;
    let Ok(u) = u64::try_from(v) else {
        return 0;
    };
    if u < 1 << EXACT_BITS {
        return 1 + u as usize;
    }
    let e = 63 - u.leading_zeros();
    let step = (u >> (e - STEP_BITS)) & ((1 << STEP_BITS) - 1);
    1 + (1 << EXACT_BITS) + (((e - EXACT_BITS) as usize) << STEP_BITS) + step as usize
}

/// [`percentiles`] of the values of several slices, read in place.
///
/// A year of an organization's lead times is millions of values spread
/// over a thousand services; copying them into one vector to select from
/// cost more than the selection (a fresh 40 MB vector is mostly page
/// faults). Instead: a count per bucket, the buckets that hold the wanted
/// ranks, and a selection among only the values of those buckets. Buckets
/// are ordered like their values, so the value at a rank is exactly the
/// one a sort would put there.
pub(crate) fn percentiles_of<const N: usize>(
    slices: &[&[i64]],
    ps: [usize; N],
) -> [Option<i64>; N] {
    let n: usize = slices.iter().map(|s| s.len()).sum();
    if n < GATHER_BELOW || u32::try_from(n).is_err() {
        let mut all: Vec<i64> = slices.concat();
        return percentiles(&mut all, ps);
    }
    // Slice by slice, so that each loop is a plain loop over memory.
    let groups = split(slices, n);
    let mut counts = vec![0u32; BUCKETS];
    for part in in_parallel(&groups, |group| {
        let mut counts = vec![0u32; BUCKETS];
        for s in group {
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
    // The values of the wanted buckets (at most N of them) in one pass,
    // a bucket's list found through a table rather than a search.
    const NONE: u8 = u8::MAX;
    let mut list_of = vec![NONE; BUCKETS];
    let mut kept: Vec<Vec<i64>> = Vec::with_capacity(N);
    for &(b, _) in &wanted {
        if list_of[b] == NONE {
            list_of[b] = kept.len() as u8;
            kept.push(Vec::with_capacity(counts[b] as usize));
        }
    }
    // Within a bucket the order of values does not matter to a selection.
    for part in in_parallel(&groups, |group| {
        let mut lists: Vec<Vec<i64>> = vec![Vec::new(); kept.len()];
        for s in group {
            for &v in *s {
                let list = list_of[bucket(v)];
                if list != NONE {
                    lists[list as usize].push(v);
                }
            }
        }
        lists
    }) {
        for (into, list) in kept.iter_mut().zip(part) {
            into.extend(list);
        }
    }
    let mut out = [None; N];
    for (slot, (b, rank)) in out.iter_mut().zip(wanted) {
        let values = &mut kept[list_of[b] as usize];
        *slot = Some(*values.select_nth_unstable(rank).1);
    }
    out
}

/// Values from which a scan is worth a second thread: below, starting it
/// costs more than it saves.
const PARALLEL_FROM: usize = 1 << 20;

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
/// own: a report over millions of values is bound by reading memory, which
/// two cores do about twice as fast as one.
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

/// Half away from zero at `decimals` places.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Large enough to take the bucketed path, with values spread
        /// widely or crowded into a few buckets.
        #[test]
        fn percentiles_of_slices_are_those_of_the_gathered_values(
            seed in any::<u64>(),
            parts in 1usize..6,
            spread in prop_oneof![Just(3i64), Just(100_000i64), Just(i64::MAX / 4)],
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let slices: Vec<Vec<i64>> = (0..parts)
                .map(|_| {
                    let len = 20_000 + (next() % 20_000) as usize;
                    (0..len).map(|_| (next() as i64) % spread).collect()
                })
                .collect();
            let refs: Vec<&[i64]> = slices.iter().map(Vec::as_slice).collect();
            let mut all = slices.concat();
            prop_assume!(all.len() >= GATHER_BELOW);
            let ps = [1, 50, 75, 90, 100];
            prop_assert_eq!(percentiles_of(&refs, ps), percentiles(&mut all, ps));
        }
    }

    #[test]
    fn percentiles_of_many_values_are_exact_on_several_threads() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Uneven slices, more values than PARALLEL_FROM, a few negative.
        let slices: Vec<Vec<i64>> = [700_000usize, 3, 500_000, 0, 90_001]
            .iter()
            .map(|&len| (0..len).map(|_| (next() % 200_000) as i64 - 10).collect())
            .collect();
        let refs: Vec<&[i64]> = slices.iter().map(Vec::as_slice).collect();
        assert!(split(&refs, slices.iter().map(Vec::len).sum()).len() <= 2);
        let ps = [1, 50, 75, 90, 99, 100];
        assert_eq!(
            percentiles_of(&refs, ps),
            percentiles(&mut slices.concat(), ps)
        );
    }

    #[test]
    fn buckets_keep_the_order_of_values() {
        let mut v: Vec<i64> = vec![i64::MIN, -5, -1, 0, 1, 4095, 4096, 4099, 4100, 8191, 8192];
        v.extend((13..63).flat_map(|e| [(1i64 << e) - 1, 1 << e, (1 << e) + 1]));
        v.push(i64::MAX);
        v.sort_unstable();
        assert!(v.windows(2).all(|w| bucket(w[0]) <= bucket(w[1])));
        assert!(bucket(i64::MAX) < BUCKETS);
        assert_ne!(bucket(4095), bucket(4096));
    }

    #[test]
    fn median_of_an_even_count_is_the_lower_middle() {
        assert_eq!(percentile(&mut [4, 1, 3, 2], 50), Some(2));
        assert_eq!(percentile(&mut [10, 20], 50), Some(10));
    }

    #[test]
    fn median_of_an_odd_count_is_the_middle() {
        assert_eq!(percentile(&mut [5, 1, 3, 2, 4], 50), Some(3));
        assert_eq!(percentile(&mut [7], 50), Some(7));
    }

    #[test]
    fn p75_and_p90_use_the_ceiling_rank() {
        // n = 4: ranks ceil(3) = 3 and ceil(3.6) = 4.
        assert_eq!(percentile(&mut [1, 2, 3, 4], 75), Some(3));
        assert_eq!(percentile(&mut [1, 2, 3, 4], 90), Some(4));
        // n = 10: ranks 8 and 9.
        let mut ten: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut ten, 75), Some(8));
        assert_eq!(percentile(&mut ten, 90), Some(9));
        // n = 3: ceil(2.25) = 3 and ceil(2.7) = 3.
        assert_eq!(percentile(&mut [1, 2, 3], 75), Some(3));
    }

    #[test]
    fn percentiles_together_equal_percentiles_alone() {
        for n in 1..40i64 {
            let values: Vec<i64> = (0..n).map(|i| (i * 7919) % 31).collect();
            let together = percentiles(&mut values.clone(), [50, 75, 90]);
            let alone = [50, 75, 90].map(|p| percentile(&mut values.clone(), p));
            assert_eq!(together, alone, "n = {n}");
        }
    }

    #[test]
    fn no_values_have_no_percentile() {
        assert_eq!(percentile::<i64>(&mut [], 50), None);
    }

    #[test]
    fn durations_truncate_to_whole_seconds_and_drop_negatives() {
        assert_eq!(whole_seconds(0, 1_999), Some(1));
        assert_eq!(whole_seconds(0, 0), Some(0));
        assert_eq!(whole_seconds(1, 0), None);
    }

    #[test]
    fn rounding_matches_the_api_examples() {
        assert_eq!(round_to(2.0 / 12.0, 4), 0.1667);
        assert_eq!(round_to(1.0 / 12.0, 4), 0.0833);
        assert_eq!(round_to(12.0 / 91.0, 2), 0.13);
    }
}
