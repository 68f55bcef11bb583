//! Benchmarks and levels, exactly as semantics.md's table (DevLake's DORA
//! dashboard) cuts them. Every comparison is on exact values: whole seconds
//! and integer ratios, never on the rounded figure shown in the report.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// Which year's DORA cuts the levels follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Benchmark {
    #[default]
    Y2023,
    Y2021,
}

impl Benchmark {
    pub fn as_str(self) -> &'static str {
        match self {
            Benchmark::Y2023 => "2023",
            Benchmark::Y2021 => "2021",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "2023" => Ok(Benchmark::Y2023),
            "2021" => Ok(Benchmark::Y2021),
            other => Err(format!(
                "'{other}' is not a benchmark; expected 2023 or 2021"
            )),
        }
    }
}

impl Serialize for Benchmark {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Benchmark {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Benchmark::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Elite,
    High,
    Medium,
    Low,
}

/// From the lower medians of deployment days per week, per month and per
/// half-year (2021's "six months").
pub(crate) fn deployment_frequency(
    b: Benchmark,
    per_week: u32,
    per_month: u32,
    per_half_year: u32,
) -> Level {
    match b {
        Benchmark::Y2023 if per_week >= 5 => Level::Elite,
        Benchmark::Y2023 if per_week >= 1 => Level::High,
        Benchmark::Y2023 if per_month >= 1 => Level::Medium,
        Benchmark::Y2021 if per_week >= 5 => Level::Elite,
        Benchmark::Y2021 if per_month >= 1 => Level::High,
        Benchmark::Y2021 if per_half_year >= 1 => Level::Medium,
        _ => Level::Low,
    }
}

/// From the median lead time in seconds.
pub(crate) fn lead_time(b: Benchmark, median: i64) -> Level {
    let elite = match b {
        Benchmark::Y2023 => DAY,
        Benchmark::Y2021 => HOUR,
    };
    let medium = match b {
        Benchmark::Y2023 => 30 * DAY,
        Benchmark::Y2021 => 180 * DAY,
    };
    below(median, [elite, 7 * DAY, medium])
}

/// From `failed / deployments`, compared as integers so that 1 of 20 is
/// exactly 5%.
pub(crate) fn change_failure_rate(b: Benchmark, failed: u64, deployments: u64) -> Level {
    let cuts: [u64; 3] = match b {
        Benchmark::Y2023 => [5, 10, 15],
        Benchmark::Y2021 => [15, 20, 30],
    };
    let pct = u128::from(failed) * 100;
    let at_most = |c: u64| pct <= u128::from(c) * u128::from(deployments);
    match () {
        () if at_most(cuts[0]) => Level::Elite,
        () if at_most(cuts[1]) => Level::High,
        () if at_most(cuts[2]) => Level::Medium,
        () => Level::Low,
    }
}

/// Failed deployment recovery time and time to restore, both benchmarks.
pub(crate) fn recovery(median: i64) -> Level {
    below(median, [HOUR, DAY, 7 * DAY])
}

/// Strictly below each cut in turn.
fn below(v: i64, cuts: [i64; 3]) -> Level {
    match () {
        () if v < cuts[0] => Level::Elite,
        () if v < cuts[1] => Level::High,
        () if v < cuts[2] => Level::Medium,
        () => Level::Low,
    }
}
