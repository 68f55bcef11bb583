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

/// Half away from zero at `decimals` places.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

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
