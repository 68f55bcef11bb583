//! Figures the way people read them: durations in the largest units that
//! keep them exact enough, rates in percent, dates in UTC.

use dorado_core::Timestamp;
use dorado_core::engine::{Benchmark, Level};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `3 h 20 min`, `2 d 4 h`, `45 d`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{m} min"),
        3_600..86_400 if m == 0 => format!("{h} h"),
        3_600..86_400 => format!("{h} h {m} min"),
        _ if d >= 10 || h == 0 => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p == p.trunc() {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// `4 Mar 2024`.
pub fn day(ms: i64) -> String {
    let Some(t) = Timestamp::from_millis(ms) else {
        return String::new();
    };
    let d = t.to_offset_date_time();
    format!(
        "{} {} {}",
        d.day(),
        MONTHS[usize::from(u8::from(d.month())) - 1],
        d.year()
    )
}

/// `4 Mar 2024 12:00` (UTC).
pub fn moment(t: Timestamp) -> String {
    let d = t.to_offset_date_time();
    format!("{} {:02}:{:02}", day(t.millis()), d.hour(), d.minute())
}

/// Parses an RFC 3339 text the views carry back into a readable moment.
pub fn moment_text(t: Option<&str>, none: &str) -> String {
    t.and_then(|t| Timestamp::parse(t).ok())
        .map_or_else(|| none.to_owned(), moment)
}

/// A level as the page shows it: a word, a colour and a rank for the meter.
#[derive(Debug, Clone)]
pub struct LevelView {
    /// `elite`, `high`, `medium`, `low`: the API's word and the CSS class.
    pub name: &'static str,
    pub label: &'static str,
    /// 4 for elite down to 1 for low.
    pub rank: u8,
}

impl LevelView {
    pub fn of(level: Level) -> Self {
        let (name, label, rank) = match level {
            Level::Elite => ("elite", "Elite", 4),
            Level::High => ("high", "High", 3),
            Level::Medium => ("medium", "Medium", 2),
            Level::Low => ("low", "Low", 1),
        };
        Self { name, label, rank }
    }

    /// The meter's four segments, low to elite: which are lit.
    pub fn segments(&self) -> [bool; 4] {
        [1, 2, 3, 4].map(|n| n <= self.rank)
    }
}

/// The benchmark's cuts for one metric, as a line under its level.
pub fn thresholds(metric: &str, b: Benchmark) -> &'static str {
    match (metric, b) {
        ("deployment_frequency", Benchmark::Y2023) => {
            "Elite: deploys on 5+ days a week · High: 1+ day a week · Medium: 1+ day a month"
        }
        ("deployment_frequency", Benchmark::Y2021) => {
            "Elite: deploys on 5+ days a week · High: 1+ day a month · Medium: 1+ day in six months"
        }
        ("lead_time_for_changes", Benchmark::Y2023) => {
            "Elite: under a day · High: under a week · Medium: under 30 days"
        }
        ("lead_time_for_changes", Benchmark::Y2021) => {
            "Elite: under an hour · High: under a week · Medium: under 180 days"
        }
        ("change_failure_rate", Benchmark::Y2023) => "Elite: ≤ 5 % · High: ≤ 10 % · Medium: ≤ 15 %",
        ("change_failure_rate", Benchmark::Y2021) => {
            "Elite: ≤ 15 % · High: ≤ 20 % · Medium: ≤ 30 %"
        }
        ("rework_rate", _) => "No DORA level: lower is better",
        _ => "Elite: under an hour · High: under a day · Medium: under a week",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(3_600), "1 h");
        assert_eq!(duration(5_400), "1 h 30 min");
        assert_eq!(duration(86_400 + 4 * 3_600), "1 d 4 h");
        assert_eq!(duration(45 * 86_400 + 100), "45 d");
        assert_eq!(percent(0.1667), "16.7 %");
        assert_eq!(percent(0.5), "50 %");
        assert_eq!(day(1_709_553_600_000), "4 Mar 2024");
    }
}
