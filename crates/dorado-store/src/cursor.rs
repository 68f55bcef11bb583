//! Paging of the `GET` lists: newest first by a time column, then by id, so
//! that a page boundary never splits or repeats rows that share a time.

use crate::db::{Arg, Sql};
use crate::{ListQuery, Page, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dorado_core::{Timestamp, ValidationError};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Where a page starts: strictly after (older than) this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    time: i64,
    id: i64,
}

fn encode(p: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", p.time, p.id))
}

fn decode(cursor: &str) -> Result<Position, StoreError> {
    let bad = || ValidationError::single("cursor", "is not a next_cursor this list gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (time, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Position {
        time: time.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// A list query checked and ready to become SQL.
pub(crate) struct Paging {
    limit: u32,
    after: Option<Position>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl Paging {
    pub(crate) fn new(q: &ListQuery) -> Result<Self, StoreError> {
        Ok(Self {
            limit: match q.limit {
                0 => DEFAULT_LIMIT,
                n => n.min(MAX_LIMIT),
            },
            after: q.cursor.as_deref().map(decode).transpose()?,
            from: q.from,
            to: q.to,
        })
    }

    /// Appends the time window, the cursor, the order and the limit; `time`
    /// and `id` are the (qualified) column names. One row more than asked
    /// is fetched, to learn whether a next page exists.
    pub(crate) fn finish_sql(&self, sql: &mut Sql, time: &str, id: &str) {
        if let Some(from) = self.from {
            sql.push(&format!(" AND {time} >= "))
                .bind(Arg::Int(from.millis()));
        }
        if let Some(to) = self.to {
            sql.push(&format!(" AND {time} < "))
                .bind(Arg::Int(to.millis()));
        }
        if let Some(p) = self.after {
            sql.push(&format!(" AND ({time} < "))
                .bind(Arg::Int(p.time))
                .push(&format!(" OR ({time} = "))
                .bind(Arg::Int(p.time))
                .push(&format!(" AND {id} < "))
                .bind(Arg::Int(p.id))
                .push("))");
        }
        sql.push(&format!(" ORDER BY {time} DESC, {id} DESC LIMIT "))
            .bind(Arg::Int(i64::from(self.limit) + 1));
    }

    /// Cuts the extra row off and turns the last kept one into the cursor.
    /// `rows` holds each item with its (time, id).
    pub(crate) fn page<T>(&self, mut rows: Vec<(T, i64, i64)>) -> Page<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = match (more, rows.last()) {
            (true, Some((_, time, id))) => Some(encode(Position {
                time: *time,
                id: *id,
            })),
            _ => None,
        };
        Page {
            items: rows.into_iter().map(|(item, _, _)| item).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let p = Position {
            time: -5_000,
            id: 42,
        };
        assert_eq!(decode(&encode(p)).unwrap(), p);
        for bad in ["", "!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("1:x")] {
            match decode(bad) {
                Err(StoreError::Invalid(e)) => assert_eq!(e.errors[0].pointer, "cursor"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn limits_default_and_cap() {
        let q = |limit| ListQuery {
            limit,
            ..ListQuery::default()
        };
        assert_eq!(Paging::new(&q(0)).unwrap().limit, 50);
        assert_eq!(Paging::new(&q(7)).unwrap().limit, 7);
        assert_eq!(Paging::new(&q(10_000)).unwrap().limit, 500);
    }
}
