//! The window a page looks at: the last 7, 30, 90 or 365 days (today
//! included, whole UTC days, so a page is the same all day long) or a
//! custom range of dates, both ends included; the benchmark; the bucket of
//! the trend charts. Carried from page to page in the query string.

use super::encode;
use dorado_core::Timestamp;
use dorado_core::engine::{Benchmark, Bucket};
use serde::Deserialize;

pub const PRESETS: [i64; 4] = [7, 30, 90, 365];
const DEFAULT_DAYS: i64 = 30;
/// Twenty years: monthly buckets stay few enough to draw.
const MAX_DAYS: i64 = 20 * 366;
const DAY: i64 = Timestamp::MS_PER_DAY;

#[derive(Debug, Default, Deserialize)]
pub struct WindowParams {
    pub window: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub benchmark: Option<String>,
    pub bucket: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Window {
    /// The preset's days, or `None` for a custom range.
    pub preset: Option<i64>,
    pub from: Timestamp,
    /// Exclusive: the day after the last day shown.
    pub to: Timestamp,
    pub benchmark: Benchmark,
    pub bucket: Bucket,
    /// Whether the bucket was chosen, not defaulted from the window's length.
    bucket_chosen: bool,
    /// Why the parameters were not taken as given.
    pub notice: Option<String>,
}

impl Window {
    pub fn from_params(p: &WindowParams) -> Self {
        let benchmark = p
            .benchmark
            .as_deref()
            .and_then(|b| Benchmark::parse(b).ok())
            .unwrap_or_default();
        let chosen = p.bucket.as_deref().and_then(|b| Bucket::parse(b).ok());
        let tomorrow = (Timestamp::now().millis().div_euclid(DAY) + 1) * DAY;
        let preset = |days: i64| (Some(days), tomorrow - days * DAY, tomorrow);
        let mut notice = None;
        let (days, from, to) = match p.window.as_deref() {
            Some("custom") => match custom(p.from.as_deref(), p.to.as_deref()) {
                Ok((from, to)) => (None, from, to),
                Err(why) => {
                    notice = Some(format!("{why}; showing the last {DEFAULT_DAYS} days"));
                    preset(DEFAULT_DAYS)
                }
            },
            Some(n) => match n.parse::<i64>() {
                Ok(d) if PRESETS.contains(&d) => preset(d),
                _ => preset(DEFAULT_DAYS),
            },
            None => preset(DEFAULT_DAYS),
        };
        let bucket = chosen.unwrap_or(if to - from <= 120 * DAY {
            Bucket::Week
        } else {
            Bucket::Month
        });
        // Weekly bars over years would be too thin to read.
        let bucket = if to - from > 3 * 366 * DAY {
            Bucket::Month
        } else {
            bucket
        };
        Window {
            preset: days,
            from: Timestamp::from_millis(from).unwrap_or_else(Timestamp::now),
            to: Timestamp::from_millis(to).unwrap_or_else(Timestamp::now),
            benchmark,
            bucket,
            bucket_chosen: chosen.is_some(),
            notice,
        }
    }

    /// The window's parameters, to carry into a link.
    pub fn query(&self) -> String {
        let mut q = match self.preset {
            Some(d) => format!("window={d}"),
            None => format!(
                "window=custom&from={}&to={}",
                encode(&self.first_day()),
                encode(&self.last_day())
            ),
        };
        if self.benchmark != Benchmark::default() {
            q.push_str(&format!("&benchmark={}", self.benchmark.as_str()));
        }
        if self.bucket_chosen {
            q.push_str(&format!("&bucket={}", bucket_name(self.bucket)));
        }
        q
    }

    pub fn with_preset(&self, days: &i64) -> String {
        let mut w = self.clone();
        w.preset = Some(*days);
        w.bucket_chosen = false;
        w.query()
    }

    pub fn with_benchmark(&self, b: &str) -> String {
        let mut w = self.clone();
        w.benchmark = Benchmark::parse(b).unwrap_or_default();
        w.query()
    }

    pub fn with_bucket(&self, b: &str) -> String {
        let mut w = self.clone();
        w.bucket = Bucket::parse(b).unwrap_or(Bucket::Week);
        w.bucket_chosen = true;
        w.query()
    }

    pub fn is_preset(&self, days: &i64) -> bool {
        self.preset == Some(*days)
    }

    pub fn benchmark_is(&self, b: &str) -> bool {
        self.benchmark.as_str() == b
    }

    pub fn bucket_is(&self, b: &str) -> bool {
        bucket_name(self.bucket) == b
    }

    pub fn bucket_name(&self) -> &'static str {
        bucket_name(self.bucket)
    }

    pub fn first_day(&self) -> String {
        date(self.from.millis())
    }

    /// The last day included.
    pub fn last_day(&self) -> String {
        date(self.to.millis() - 1)
    }

    /// How a person reads the window.
    pub fn label(&self) -> String {
        match self.preset {
            Some(d) => format!(
                "last {d} days ({} to {})",
                super::format::day(self.from.millis()),
                super::format::day(self.to.millis() - 1)
            ),
            None => format!(
                "{} to {}",
                super::format::day(self.from.millis()),
                super::format::day(self.to.millis() - 1)
            ),
        }
    }
}

fn bucket_name(b: Bucket) -> &'static str {
    match b {
        Bucket::Week => "week",
        Bucket::Month => "month",
    }
}

/// `YYYY-MM-DD` of the UTC day holding `ms`.
pub fn date(ms: i64) -> String {
    Timestamp::from_millis(ms.div_euclid(DAY) * DAY)
        .map(|t| t.to_string().chars().take(10).collect())
        .unwrap_or_default()
}

/// A custom range: both dates included.
fn custom(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), String> {
    let day = |name: &str, v: Option<&str>| -> Result<i64, String> {
        let v = v.map(str::trim).filter(|v| !v.is_empty());
        let v = v.ok_or_else(|| format!("a custom window needs a '{name}' date"))?;
        let t = Timestamp::parse(v).map_err(|e| format!("'{name}' is not a date: {e}"))?;
        Ok(t.millis().div_euclid(DAY) * DAY)
    };
    let from = day("from", from)?;
    let to = day("to", to)? + DAY;
    if from >= to {
        return Err("the custom window ends before it starts".into());
    }
    if to - from > MAX_DAYS * DAY {
        return Err("the custom window is longer than twenty years".into());
    }
    Ok((from, to))
}
