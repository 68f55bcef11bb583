//! Multi-row statements, the same text on SQLite and PostgreSQL: what the
//! planner's rows are written with.

use crate::{Backend, StoreError};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

/// Placeholders per statement: SQLite's limit is 32,766, PostgreSQL's 65,535.
const MAX_PARAMS: usize = 32_000;
/// Rows per statement: beyond this a statement only grows harder to plan.
pub(crate) const MAX_ROWS: usize = 1_000;
/// Keys per lookup query.
pub(crate) const LOOKUP: usize = 500;

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| crate::db::corrupt(format!("json: {e}")))
}

/// Ids for `n` new rows of `table`, ascending, so that rows number in the
/// order the chunk creates them, as the writer's inserts would.
pub(crate) async fn reserve_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(match backend {
        // AUTOINCREMENT keeps the highest id ever given in sqlite_sequence
        // and raises it when a larger id is inserted; the write transaction
        // (BEGIN IMMEDIATE) keeps every other writer out meanwhile.
        Backend::Sqlite => {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                    .bind(table)
                    .fetch_optional(&mut *conn)
                    .await?;
            let first = last.unwrap_or(0) + 1;
            (first..first + n as i64).collect()
        }
        // Taken from the identity's sequence, so that other instances
        // sharing the database never get them.
        Backend::Postgres => {
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
            )
            .bind(table)
            .bind(n as i64)
            .fetch_all(&mut *conn)
            .await?;
            ids.sort_unstable();
            ids
        }
    })
}

pub(crate) fn next_id(ids: &mut impl Iterator<Item = i64>) -> Result<i64, StoreError> {
    ids.next()
        .ok_or_else(|| StoreError::Database(sqlx::Error::Protocol("too few ids reserved".into())))
}

/// A value to bind; text is borrowed from the commands where it can be.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Int(Option<i64>),
    Small(i16),
    Text(Option<&'a str>),
    Owned(Option<String>),
}

/// A multi-row INSERT: `head` (`INSERT INTO t (columns)`), then on SQLite
/// `VALUES` and `row` (`per_row` placeholders) once per row, on PostgreSQL
/// the rows from one array per column (see `super::pg`), then `tail`
/// (the ON CONFLICT clause, the same on both).
pub(crate) struct Table {
    pub head: &'static str,
    pub row: &'static str,
    pub per_row: usize,
    pub tail: &'static str,
}

impl Table {
    /// On SQLite, `OR FAIL`: a statement that could fail halfway otherwise
    /// keeps a journal to undo its own rows, page by page; here a failure
    /// rolls the whole transaction back anyway.
    fn head(&self, backend: Backend) -> std::borrow::Cow<'static, str> {
        match (backend, self.head.strip_prefix("INSERT INTO ")) {
            (Backend::Sqlite, Some(rest)) => format!("INSERT OR FAIL INTO {rest}").into(),
            _ => self.head.into(),
        }
    }

    pub(crate) async fn write(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        values: &[Val<'_>],
    ) -> Result<(), StoreError> {
        match backend {
            Backend::Sqlite => self.write_values(conn, backend, values).await,
            Backend::Postgres => self.write_unnest(conn, values).await,
        }
    }

    /// PostgreSQL: a parameter per column, whatever the number of rows.
    async fn write_unnest(
        &self,
        conn: &mut AnyConnection,
        values: &[Val<'_>],
    ) -> Result<(), StoreError> {
        for part in values.chunks(super::pg::MAX_ROWS * self.per_row) {
            let sql = super::pg::statement(self.head, &part[..self.per_row], self.tail);
            super::pg::query(sql, part, self.per_row)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// SQLite: placeholders, a statement per part of [`Table::parts`].
    async fn write_values(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        values: &[Val<'_>],
    ) -> Result<(), StoreError> {
        let mut parts = self.parts(values).into_iter();
        let Some(first) = parts.next() else {
            return Ok(());
        };
        let mut query = bound(backend, &self.sql(backend, first), first);
        loop {
            // Polled first, the statement goes to SQLite's thread (or to
            // PostgreSQL) with its arguments; the next one's are encoded
            // meanwhile, here.
            let (done, next) = tokio::join!(biased; query.execute(&mut *conn), async {
                parts
                    .next()
                    .map(|part| bound(backend, &self.sql(backend, part), part))
            });
            done?;
            match next {
                Some(next) => query = next,
                None => return Ok(()),
            }
        }
    }

    /// The statements' rows: as many as fit, then the rest in powers of
    /// two, so that a few texts, each prepared once and cached, serve
    /// every chunk (a statement of thousands of placeholders takes long to
    /// prepare).
    fn parts<'v, 'a>(&self, values: &'v [Val<'a>]) -> Vec<&'v [Val<'a>]> {
        let rows_per = (MAX_PARAMS / self.per_row).min(MAX_ROWS);
        let mut parts = Vec::new();
        let mut rest = values;
        while !rest.is_empty() {
            let rows = rest.len() / self.per_row;
            let take = if rows >= rows_per {
                rows_per
            } else {
                1 << rows.ilog2()
            };
            let (part, after) = rest.split_at(take * self.per_row);
            parts.push(part);
            rest = after;
        }
        parts
    }

    fn sql(&self, backend: Backend, part: &[Val<'_>]) -> String {
        let rows = part.len() / self.per_row;
        let head = self.head(backend);
        let mut sql =
            String::with_capacity(head.len() + 8 + rows * (self.row.len() + 2) + self.tail.len());
        sql.push_str(&head);
        sql.push_str(" VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push_str(self.row);
        }
        sql.push_str(self.tail);
        sql
    }
}

/// `?, ?, ...`: `n` placeholders.
pub(crate) fn push_list(sql: &mut String, n: usize) {
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('?');
    }
}

/// `sql` for `backend`: `?` placeholders on SQLite, `$1, $2...` on
/// PostgreSQL, which knows no other kind. SQLite is given `?` because sqlx
/// looks every numbered placeholder up by name, a linear search in SQLite:
/// quadratic in a statement of thousands of them.
fn placeholders(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + sql.len() / 2);
            let mut n = 0usize;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

pub(crate) fn bound<'q>(
    backend: Backend,
    sql: &str,
    values: &'q [Val<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    // Only placeholders carry values: the text holds no input.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(placeholders(backend, sql)));
    for v in values {
        q = match v {
            Val::Int(i) => q.bind(*i),
            Val::Small(i) => q.bind(*i),
            Val::Text(t) => q.bind(*t),
            Val::Owned(t) => q.bind(t.as_deref()),
        };
    }
    q
}

pub(crate) async fn execute(
    conn: &mut AnyConnection,
    backend: Backend,
    sql: &str,
    values: &[Val<'_>],
) -> Result<(), StoreError> {
    bound(backend, sql, values).execute(&mut *conn).await?;
    Ok(())
}

pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    backend: Backend,
    sql: &str,
    values: &[Val<'_>],
) -> Result<Vec<AnyRow>, StoreError> {
    Ok(bound(backend, sql, values).fetch_all(&mut *conn).await?)
}
