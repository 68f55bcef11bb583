//! PostgreSQL's form of [`super::sql::Table`]'s multi-row INSERT: one
//! parameter per column, the text of an array literal holding that column
//! of every row, turned back into rows by `unnest`:
//!
//! ```sql
//! INSERT INTO t (a, b) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT ...
//! ```
//!
//! The `Any` driver can neither COPY nor bind arrays, but it binds text,
//! and text casts to an array. With a parameter per value, a statement of
//! 1,000 rows was 20,000 parameters for the server to bind and 1,000 rows
//! of VALUES to plan and evaluate; here the server parses a few long
//! values and scans them (an import's upserts of commits and parents took
//! a quarter less server time). The statement's text is the same for any
//! number of rows: it is prepared once per connection. The ON CONFLICT
//! clause, and so what the upsert does, is the table's own, unchanged.
//! JSON (`json_to_recordset`) would look each field up by name, row by
//! row; COPY needs a connection of its own, which cannot see the rows the
//! planner reads in the caller's transaction.

use super::sql::Val;
use std::fmt::Write as _;

/// Rows per statement: a chunk's table is mostly one statement; the bound
/// is only on the size of the texts kept at once.
pub(super) const MAX_ROWS: usize = 50_000;

/// `head` (`INSERT INTO t (columns)`), the rows from the arrays of as many
/// columns as the first row has values, typed as those values are, then
/// `tail` (the ON CONFLICT clause).
pub(super) fn statement(head: &str, first_row: &[Val<'_>], tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + 40 + first_row.len() * 16);
    sql.push_str(head);
    sql.push_str(" SELECT * FROM unnest(");
    for (i, v) in first_row.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&(i + 1).to_string());
        sql.push_str(match v {
            Val::Int(_) => "::bigint[]",
            Val::Small(_) => "::smallint[]",
            Val::Text(_) | Val::Owned(_) => "::text[]",
        });
    }
    // `AS r WHERE true`: nothing after the function is left for the
    // parser to read as the start of a join's ON.
    sql.push_str(") AS r WHERE true");
    sql.push_str(tail);
    sql
}

/// `sql`, its parameters `$1...` the columns of `rows` (`per_row` values
/// a row), each bound as one array literal.
pub(super) fn query<'q>(
    sql: String,
    rows: &[Val<'_>],
    per_row: usize,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    // Only parameters carry values: the text holds no input.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for column in columns(rows, per_row) {
        query = query.bind(column);
    }
    query
}

/// The array literal of each column of `rows` (`per_row` values a row).
pub(super) fn columns(rows: &[Val<'_>], per_row: usize) -> Vec<String> {
    let n = rows.len() / per_row;
    (0..per_row)
        .map(|c| {
            let mut out = String::with_capacity(2 + n * 8);
            out.push('{');
            for (r, v) in rows.iter().skip(c).step_by(per_row).enumerate() {
                if r > 0 {
                    out.push(',');
                }
                push_element(&mut out, v);
            }
            out.push('}');
            out
        })
        .collect()
}

fn push_element(out: &mut String, v: &Val<'_>) {
    match v {
        // Writing to a String cannot fail.
        Val::Int(Some(i)) => {
            let _ = write!(out, "{i}");
        }
        Val::Small(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Text(Some(t)) => push_quoted(out, t),
        Val::Owned(Some(t)) => push_quoted(out, t),
        Val::Int(None) | Val::Text(None) | Val::Owned(None) => out.push_str("NULL"),
    }
}

/// A text element, always quoted (so that `NULL`, braces, commas and
/// white space are its own), with `"` and `\` escaped by a backslash:
/// everything else, newlines and any Unicode, is taken as it is.
fn push_quoted(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    // Both are ASCII, so a byte of either is a whole character: the
    // backslash goes in before it, and it starts the next run copied.
    let mut run = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'"' || b == b'\\' {
            out.push_str(&text[run..i]);
            out.push('\\');
            run = i;
        }
    }
    out.push_str(&text[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_array_literals() {
        let rows = [
            Val::Int(Some(i64::MIN)),
            Val::Text(Some("a\"b\\c,{}\nNULL é")),
            Val::Small(1),
            Val::Int(None),
            Val::Owned(None),
            Val::Small(0),
        ];
        assert_eq!(
            columns(&rows, 3),
            [
                "{-9223372036854775808,NULL}",
                "{\"a\\\"b\\\\c,{}\nNULL é\",NULL}",
                "{1,0}",
            ]
        );
    }

    #[test]
    fn the_statement_types_each_column() {
        let row = [Val::Int(None), Val::Small(0), Val::Owned(None)];
        assert_eq!(
            statement("INSERT INTO t (a, b, c)", &row, " ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b, c) SELECT * FROM unnest($1::bigint[], $2::smallint[], \
             $3::text[]) AS r WHERE true ON CONFLICT DO NOTHING"
        );
    }
}
