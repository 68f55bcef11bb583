//! Durations as people type them on a command line: `90d`, `24h`, `30m`.

/// Seconds in `N` followed by one unit: s, m, h, d or w.
pub fn parse_seconds(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{t}' needs a unit: s, m, h, d or w (e.g. 90d)"))?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("'{t}' does not start with a number"))?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("'{unit}' is not a unit: use s, m, h, d or w")),
    };
    let secs = n
        .checked_mul(per)
        .filter(|s| *s > 0 && *s <= 100 * 365 * 86_400)
        .ok_or_else(|| format!("'{t}' must be more than 0 and at most 100 years"))?;
    Ok(secs)
}

/// A duration written back in hours, minutes or seconds (`24h`, `90m`), as
/// people usually set link windows.
pub fn format_seconds(s: i64) -> String {
    for (per, unit) in [(3_600, "h"), (60, "m")] {
        if s % per == 0 {
            return format!("{}{unit}", s / per);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_durations() {
        assert_eq!(parse_seconds("90d"), Ok(90 * 86_400));
        assert_eq!(parse_seconds("24h"), Ok(86_400));
        assert_eq!(parse_seconds("30m"), Ok(1_800));
        assert!(parse_seconds("24").is_err());
        assert!(parse_seconds("0h").is_err());
        assert!(parse_seconds("h").is_err());
        assert!(parse_seconds("5y").is_err());
        assert_eq!(format_seconds(86_400), "24h");
        assert_eq!(format_seconds(5_400), "90m");
    }
}
