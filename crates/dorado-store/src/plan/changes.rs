//! Changes (commits) and their parents in the planner. A commit given
//! several times in a batch is merged in memory the way the upsert merges
//! a write into a stored row, so that one statement never names a key
//! twice (PostgreSQL refuses that) and the upsert then merges the result
//! into the stored row exactly as the writes one after the other would.

use super::UnitCtx;
use super::sql::{Table, Val};
use crate::{Backend, StoreError, Written};
use dorado_core::{ChangeBatch, MergedRequest, Sha, Timestamp};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// One commit of the batch, merged over every time the batch gives it.
#[derive(Clone)]
struct ChangeRow<'a> {
    org: i64,
    repo: &'a str,
    repo_key: &'a str,
    sha: &'a str,
    committed_at: Option<i64>,
    authored_at: Option<i64>,
    author: Option<&'a str>,
    message: Option<&'a str>,
    /// The latest request given: a write without one keeps the earlier.
    request: Option<&'a MergedRequest>,
    /// When the first write arrived: a new row's `created_at`, and its
    /// `occurred_at` when it has no time of its own.
    first_received: i64,
    delivery: i64,
    updated_at: i64,
}

enum Undo<'a> {
    Added,
    Restore(usize, ChangeRow<'a>),
}

#[derive(Default)]
pub(super) struct Changes<'a> {
    rows: Vec<ChangeRow<'a>>,
    row_of: HashMap<(i64, &'a str, &'a str), usize>,
    /// `(org, repo_key, sha, parent, ord, delivery)`.
    parents: Vec<(i64, &'a str, &'a str, &'a str, i64, i64)>,
    journal: Vec<Undo<'a>>,
    parents_before: usize,
}

impl<'a> Changes<'a> {
    /// Writes every commit of the batch: a known commit keeps what the new
    /// write leaves out, and gains the parents it did not have. The request
    /// a commit merged is one whole: a write that brings one replaces the
    /// stored one, field by field absent ones included; a write without
    /// one (a push that brings the merge commit's parents) keeps it.
    pub(super) fn write(&mut self, unit: &UnitCtx<'_>, b: &'a ChangeBatch) -> Written {
        for c in &b.commits {
            let committed_at = c.committed_at.map(Timestamp::millis);
            let authored_at = c.authored_at.map(Timestamp::millis);
            let key = (unit.org, b.repo_key.as_str(), c.sha.as_str());
            match self.row_of.get(&key) {
                Some(&i) => {
                    self.journal.push(Undo::Restore(i, self.rows[i].clone()));
                    let row = &mut self.rows[i];
                    row.repo = &b.repo;
                    row.committed_at = committed_at.or(row.committed_at);
                    row.authored_at = authored_at.or(row.authored_at);
                    row.author = c.author.as_deref().or(row.author);
                    row.message = c.message.as_deref().or(row.message);
                    row.request = c.request.as_ref().or(row.request);
                    row.delivery = unit.delivery.0;
                    row.updated_at = unit.received;
                }
                None => {
                    self.journal.push(Undo::Added);
                    self.row_of.insert(key, self.rows.len());
                    self.rows.push(ChangeRow {
                        org: unit.org,
                        repo: &b.repo,
                        repo_key: key.1,
                        sha: key.2,
                        committed_at,
                        authored_at,
                        author: c.author.as_deref(),
                        message: c.message.as_deref(),
                        request: c.request.as_ref(),
                        first_received: unit.received,
                        delivery: unit.delivery.0,
                        updated_at: unit.received,
                    });
                }
            }
            for (ord, parent) in c.parents.iter().enumerate() {
                self.parents.push((
                    unit.org,
                    key.1,
                    key.2,
                    parent.as_str(),
                    ord as i64,
                    unit.delivery.0,
                ));
            }
        }
        Written::Changes {
            repo_key: b.repo_key.clone(),
            commits: b.commits.len(),
        }
    }

    pub(super) fn assign_deliveries(&mut self, real: &impl Fn(i64) -> i64) {
        for row in &mut self.rows {
            row.delivery = real(row.delivery);
        }
        for parent in &mut self.parents {
            parent.5 = real(parent.5);
        }
    }

    pub(super) fn commit(&mut self) {
        self.journal.clear();
        self.parents_before = self.parents.len();
    }

    pub(super) fn rollback(&mut self) {
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::Added => {
                    if let Some(row) = self.rows.pop() {
                        self.row_of.remove(&(row.org, row.repo_key, row.sha));
                    }
                }
                Undo::Restore(i, row) => self.rows[i] = row,
            }
        }
        self.parents.truncate(self.parents_before);
    }

    pub(super) async fn store(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        // In the order the batch first names each commit, as one write
        // after the other would number them.
        let mut values = Vec::with_capacity(self.rows.len() * CHANGE.per_row);
        for r in &self.rows {
            let request = r.request;
            values.extend([
                Val::Int(Some(r.org)),
                Val::Text(Some(r.repo)),
                Val::Text(Some(r.repo_key)),
                Val::Text(Some(r.sha)),
                Val::Int(r.committed_at),
                Val::Int(r.authored_at),
                Val::Int(Some(
                    r.committed_at.or(r.authored_at).unwrap_or(r.first_received),
                )),
                Val::Text(r.author),
                Val::Text(r.message),
                Val::Int(Some(r.delivery)),
                Val::Int(Some(r.first_received)),
                Val::Int(Some(r.updated_at)),
                Val::Int(request.map(|q| q.opened_at.millis())),
                Val::Text(request.and_then(|q| q.head.as_ref()).map(Sha::as_str)),
                Val::Text(request.and_then(|q| q.base.as_ref()).map(Sha::as_str)),
                Val::Int(request.and_then(|q| q.commits).map(i64::from)),
            ]);
        }
        CHANGE.write(conn, backend, &values).await?;

        // By sha: both indexes of parents lead with it (after the
        // repository), and a sha is random, so in arrival order each insert
        // would land on another page; sorted, a batch walks them once. A
        // stable sort keeps the parents of one commit in the order given.
        self.parents.sort_by_key(|p| (p.0, p.2, p.1));
        let mut values = Vec::with_capacity(self.parents.len() * CHANGE_PARENT.per_row);
        for &(org, repo_key, sha, parent, ord, delivery) in &self.parents {
            values.extend([
                Val::Int(Some(org)),
                Val::Text(Some(repo_key)),
                Val::Text(Some(sha)),
                Val::Text(Some(parent)),
                Val::Int(Some(ord)),
                Val::Int(Some(delivery)),
            ]);
        }
        CHANGE_PARENT.write(conn, backend, &values).await
    }
}

/// The upsert of a commit, many rows at a time.
const CHANGE: Table = Table {
    head: "INSERT INTO changes (org_id, repo, repo_key, sha, committed_at, authored_at,
               occurred_at, author, message, delivery_id, created_at, updated_at,
               request_opened_at, request_head, request_base, request_commits)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 16,
    tail: " ON CONFLICT (org_id, repo_key, sha) DO UPDATE SET
               repo = excluded.repo,
               committed_at = COALESCE(excluded.committed_at, changes.committed_at),
               authored_at = COALESCE(excluded.authored_at, changes.authored_at),
               occurred_at = COALESCE(excluded.committed_at, changes.committed_at,
                   excluded.authored_at, changes.authored_at, changes.occurred_at),
               author = COALESCE(excluded.author, changes.author),
               message = COALESCE(excluded.message, changes.message),
               delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at,
               request_head = CASE WHEN excluded.request_opened_at IS NULL
                   THEN changes.request_head ELSE excluded.request_head END,
               request_base = CASE WHEN excluded.request_opened_at IS NULL
                   THEN changes.request_base ELSE excluded.request_base END,
               request_commits = CASE WHEN excluded.request_opened_at IS NULL
                   THEN changes.request_commits ELSE excluded.request_commits END,
               request_opened_at = COALESCE(excluded.request_opened_at,
                   changes.request_opened_at)",
};

const CHANGE_PARENT: Table = Table {
    head: "INSERT INTO change_parents (org_id, repo_key, sha, parent_sha, ord, delivery_id)",
    row: "(?, ?, ?, ?, ?, ?)",
    per_row: 6,
    tail: " ON CONFLICT DO NOTHING",
};
