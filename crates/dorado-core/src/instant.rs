//! Instants as Dorado stores them: UTC, to the millisecond.
//!
//! Senders write times in many shapes (DevLake alone accepts RFC 3339, offsets
//! without a colon as `date +%z` prints them, and a bare `YYYY-MM-DD HH:MM:SS`
//! in UTC), so parsing accepts all of them and everything downstream works on
//! one integer: milliseconds since the Unix epoch. The databases store that
//! integer too, since it binds the same way on SQLite and PostgreSQL.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The earliest and latest instants accepted: years 1900 to 9999, so every
/// stored instant formats back as RFC 3339.
const MIN_MS: i64 = -2_208_988_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

impl Timestamp {
    pub const MS_PER_SECOND: i64 = 1_000;
    pub const MS_PER_DAY: i64 = 86_400_000;

    /// `None` outside years 1900..=9999.
    pub fn from_millis(ms: i64) -> Option<Self> {
        (MIN_MS..=MAX_MS).contains(&ms).then_some(Self(ms))
    }

    /// `None` outside years 1900..=9999.
    pub fn from_seconds(s: i64) -> Option<Self> {
        s.checked_mul(1000).and_then(Self::from_millis)
    }

    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        let ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        Self(ms.clamp(MIN_MS, MAX_MS))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded towards minus infinity.
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Adds milliseconds, or `None` when the result leaves the accepted range.
    pub fn plus_millis(self, ms: i64) -> Option<Self> {
        self.0.checked_add(ms).and_then(Self::from_millis)
    }

    /// The UTC calendar day, as days since 1970-01-01.
    pub fn epoch_day(self) -> i64 {
        self.0.div_euclid(Self::MS_PER_DAY)
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        // In range by construction.
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_offset_date_time(t: OffsetDateTime) -> Option<Self> {
        let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(ms).ok().and_then(Self::from_millis)
    }

    /// Parses every time shape Dorado's senders use:
    /// RFC 3339 (`Z` or `+hh:mm`, any fraction), `+hhmm` offsets,
    /// `YYYY-MM-DD HH:MM:SS[.fff]` and `YYYY-MM-DDTHH:MM:SS[.fff]` without
    /// an offset (taken as UTC), and a bare date `YYYY-MM-DD` (midnight UTC).
    /// GitLab's hooks also write the zone after a space:
    /// `2016-08-12 15:23:28 UTC` and `2021-04-28 21:50:00 +0200`.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(TimeError::Empty);
        }
        let parsed = parse_offset_date_time(s).ok_or_else(|| TimeError::Format(s.to_owned()))?;
        Self::from_offset_date_time(parsed).ok_or(TimeError::OutOfRange)
    }
}

fn parse_offset_date_time(s: &str) -> Option<OffsetDateTime> {
    let joined = joined_zone(s);
    let s: &str = &joined;
    // A space between date and time, and a lower-case 't' or 'z', are
    // common enough (SQL dumps, Python's str(datetime)) to accept.
    let normalized: String = if s.len() > 10 && s.as_bytes()[10] == b' ' {
        format!("{}T{}", &s[..10], &s[11..])
    } else {
        s.to_owned()
    }
    .replace('t', "T")
    .replace('z', "Z");
    let s = normalized.as_str();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // `+hhmm` (as `date +%z` prints it) or `+hh`: insert the colon.
    if let Some(fixed) = colonize_offset(s)
        && let Ok(t) = OffsetDateTime::parse(&fixed, &Rfc3339)
    {
        return Some(t);
    }
    let local = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(s, &local) {
        return Some(t.assume_offset(UtcOffset::UTC));
    }
    let minutes = format_description!(version = 2, "[year]-[month]-[day]T[hour]:[minute]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &minutes) {
        return Some(t.assume_offset(UtcOffset::UTC));
    }
    let date = format_description!(version = 2, "[year]-[month]-[day]");
    if let Ok(d) = Date::parse(s, &date) {
        return Some(d.midnight().assume_offset(UtcOffset::UTC));
    }
    None
}

/// `... 15:23:28 UTC` → `... 15:23:28` (taken as UTC); `... 21:50:00 +0200`
/// → `... 21:50:00+0200`. Only a zone after the time of day is joined.
fn joined_zone(s: &str) -> std::borrow::Cow<'_, str> {
    if let Some(head) = s.strip_suffix(" UTC").or_else(|| s.strip_suffix(" utc")) {
        return head.trim_end().into();
    }
    match s.rfind(' ') {
        Some(at) if at >= 16 && s[at + 1..].starts_with(['+', '-']) => {
            format!("{}{}", &s[..at], &s[at + 1..]).into()
        }
        _ => s.into(),
    }
}

/// `2020-01-01T12:00:00+0000` → `2020-01-01T12:00:00+00:00`, and `+05` →
/// `+05:00`; `None` when the text does not end in such an offset.
fn colonize_offset(s: &str) -> Option<String> {
    let sign_at = s.rfind(['+', '-'])?;
    // The sign must come after the time of day, not inside the date.
    if sign_at < 19 {
        return None;
    }
    let digits = &s[sign_at + 1..];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let head = &s[..sign_at + 1];
    match digits.len() {
        4 => Some(format!("{head}{}:{}", &digits[..2], &digits[2..])),
        2 => Some(format!("{head}{digits}:00")),
        _ => None,
    }
}

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("is empty; expected a time such as 2024-05-01T10:00:00Z")]
    Empty,
    #[error(
        "'{0}' is not a time; expected RFC 3339 such as 2024-05-01T10:00:00Z or 2024-05-01T10:00:00+00:00"
    )]
    Format(String),
    #[error("is outside the years 1900 to 9999")]
    OutOfRange,
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`; milliseconds only when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_offset_date_time();
        let (y, mo, d) = (t.year(), t.month() as u8, t.day());
        let (h, mi, s) = (t.hour(), t.minute(), t.second());
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        let ms = self.0.rem_euclid(1000);
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        Timestamp::parse(s).unwrap().to_string()
    }

    #[test]
    fn accepts_every_devlake_shape() {
        assert_eq!(p("2020-01-01T12:00:00+00:00"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01T12:00:00+0000"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01T14:00:00+0200"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01T07:00:00-0500"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01T12:00:00.250Z"), "2020-01-01T12:00:00.250Z");
        assert_eq!(
            p("2020-01-01T12:00:00.123456789+00:00"),
            "2020-01-01T12:00:00.123Z"
        );
        assert_eq!(p("2020-01-01 12:00:00"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01 12:00:00.5"), "2020-01-01T12:00:00.500Z");
        assert_eq!(p("2020-01-01T12:00:00Z"), "2020-01-01T12:00:00Z");
        assert_eq!(p("2020-01-01"), "2020-01-01T00:00:00Z");
        assert_eq!(p("2020-01-01t12:00:00z"), "2020-01-01T12:00:00Z");
    }

    #[test]
    fn accepts_gitlab_zones_after_a_space() {
        assert_eq!(p("2016-08-12 15:23:28 UTC"), "2016-08-12T15:23:28Z");
        assert_eq!(p("2021-04-28 21:50:00 +0200"), "2021-04-28T19:50:00Z");
        assert_eq!(p("2021-04-28 21:50:00 -05:00"), "2021-04-29T02:50:00Z");
        assert!(Timestamp::parse("a -b").is_err());
        assert!(Timestamp::parse("é UTC").is_err());
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        assert_eq!(Timestamp::parse(""), Err(TimeError::Empty));
        assert!(matches!(
            Timestamp::parse("yesterday"),
            Err(TimeError::Format(_))
        ));
        assert!(matches!(
            Timestamp::parse("2020-13-01"),
            Err(TimeError::Format(_))
        ));
        assert!(Timestamp::parse("1200-01-01").is_err());
    }

    #[test]
    fn millis_round_trip_and_days() {
        let t = Timestamp::parse("1970-01-02T00:00:00Z").unwrap();
        assert_eq!(t.millis(), 86_400_000);
        assert_eq!(t.epoch_day(), 1);
        let before = Timestamp::parse("1969-12-31T23:59:59.999Z").unwrap();
        assert_eq!(before.epoch_day(), -1);
        assert_eq!(before.seconds(), -1);
    }
}
