//! UTC calendar periods as epoch-day arithmetic: weeks from Monday 00:00,
//! calendar months, and half-years (January to June, July to December),
//! each numbered by a plain integer so that buckets are vector indices.

use crate::instant::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Week,
    Month,
    HalfYear,
}

impl Period {
    /// The number of the period holding epoch day `day`.
    pub fn of(self, day: i64) -> i64 {
        match self {
            // 1970-01-01 was a Thursday: shift so that Mondays start weeks.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + (m - 1)
            }
            Period::HalfYear => {
                let (y, m, _) = civil_from_days(day);
                y * 2 + (m - 1) / 6
            }
        }
    }

    /// The first epoch day of period number `n`.
    pub fn start(self, n: i64) -> i64 {
        match self {
            Period::Week => n * 7 - 3,
            Period::Month => days_from_civil(n.div_euclid(12), n.rem_euclid(12) + 1, 1),
            Period::HalfYear => days_from_civil(n.div_euclid(2), n.rem_euclid(2) * 6 + 1, 1),
        }
    }

    /// The periods overlapping `[from, to)`, clipped to it, as millisecond
    /// bounds; none for an empty window.
    pub fn buckets(self, from: i64, to: i64) -> impl Iterator<Item = (i64, i64)> {
        let (first, last) = self.span(from, to).unwrap_or((1, 0));
        (first..=last).map(move |n| {
            let start = self.start(n) * Timestamp::MS_PER_DAY;
            let end = self.start(n + 1) * Timestamp::MS_PER_DAY;
            (start.max(from), end.min(to))
        })
    }

    /// First and last period numbers overlapping `[from, to)`.
    pub fn span(self, from: i64, to: i64) -> Option<(i64, i64)> {
        (from < to).then(|| {
            let first = self.of(from.div_euclid(Timestamp::MS_PER_DAY));
            let last = self.of((to - 1).div_euclid(Timestamp::MS_PER_DAY));
            (first, last)
        })
    }
}

/// Howard Hinnant's `civil_from_days`: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> i64 {
        Timestamp::parse(s).unwrap().epoch_day()
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2024-01-01 was a Monday.
        let monday = Period::Week.of(day("2024-01-01"));
        assert_eq!(Period::Week.of(day("2024-01-07")), monday);
        assert_eq!(Period::Week.of(day("2024-01-08")), monday + 1);
        assert_eq!(Period::Week.of(day("2023-12-31")), monday - 1);
        assert_eq!(Period::Week.start(monday), day("2024-01-01"));
        assert_eq!(
            Period::Week.start(Period::Week.of(day("1969-12-31"))),
            day("1969-12-29")
        );
    }

    #[test]
    fn months_and_half_years_follow_the_calendar_through_leap_days() {
        for (d, month_start, half_start) in [
            ("2024-02-29", "2024-02-01", "2024-01-01"),
            ("2024-06-30", "2024-06-01", "2024-01-01"),
            ("2024-07-01", "2024-07-01", "2024-07-01"),
            ("2023-12-31", "2023-12-01", "2023-07-01"),
            ("1900-03-01", "1900-03-01", "1900-01-01"),
            ("2000-02-29", "2000-02-01", "2000-01-01"),
        ] {
            let m = Period::Month.of(day(d));
            assert_eq!(Period::Month.start(m), day(month_start), "{d}");
            assert_eq!(
                Period::Month.start(m + 1),
                Period::Month.start(m) + days_in_month(d),
                "{d}"
            );
            assert_eq!(
                Period::HalfYear.start(Period::HalfYear.of(day(d))),
                day(half_start),
                "{d}"
            );
        }
    }

    fn days_in_month(d: &str) -> i64 {
        let (y, m, _) = civil_from_days(day(d));
        match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn civil_round_trips_every_day_for_centuries() {
        for z in day("1900-01-01")..day("2100-01-01") {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn buckets_are_clipped_to_the_window() {
        let from = Timestamp::parse("2024-01-03T12:00:00Z").unwrap().millis();
        let to = Timestamp::parse("2024-01-15T00:00:00Z").unwrap().millis();
        let b: Vec<_> = Period::Week.buckets(from, to).collect();
        let ms = |s| Timestamp::parse(s).unwrap().millis();
        assert_eq!(
            b,
            vec![
                (from, ms("2024-01-08")),
                (ms("2024-01-08"), ms("2024-01-15"))
            ]
        );
        assert_eq!(Period::Week.buckets(to, to).count(), 0);
    }
}
