//! Deployments in the planner: the stored rows of a batch's keys, what the
//! batch's writes make of them, and the statements that write the result.

use super::sql::{LOOKUP, MAX_ROWS, Table, Val, execute, fetch, json_text, push_list};
use super::{Ids, RealIds, UnitCtx};
use crate::db::corrupt;
use crate::{Backend, StoreError, Written};
use dorado_core::{DeployResult, DeploymentId, DeploymentWrite, ExternalId, Timestamp};
use sqlx::{AnyConnection, Row as _};
use std::collections::HashMap;

/// A final result: nothing a vendor reports at the same instant replaces it.
fn is_final(result: DeployResult) -> bool {
    matches!(
        result,
        DeployResult::Success | DeployResult::Failure | DeployResult::Aborted
    )
}

/// Whether a stored state, reached at `stored_at` (`None`: written by an
/// API, which has no order), stands against a write of a state reached at
/// `at`. Vendors send one deployment's states as separate events in any
/// order, so the later state wins, and at one instant a final result wins
/// over `in_progress` or `pending` (GitHub stamps a status and the next one
/// within the same second). Otherwise the newer write wins.
fn stored_state_stands(
    stored_at: Option<i64>,
    stored: DeployResult,
    at: Option<i64>,
    result: DeployResult,
) -> bool {
    let (Some(stored_at), Some(at)) = (stored_at, at) else {
        return false;
    };
    stored_at > at || (stored_at == at && is_final(stored) && !is_final(result))
}

/// A deployment as the batch leaves it.
#[derive(Clone)]
enum Row<'a> {
    /// Stored, and not replaced by the batch; `fill_start` when a late
    /// state gave the start it lacked.
    Stored {
        id: i64,
        created_at: i64,
        state_at: Option<i64>,
        result: DeployResult,
        started_at: Option<i64>,
        fill_start: bool,
    },
    /// Written whole by a write of the batch.
    Written(Box<Replaced<'a>>),
}

#[derive(Clone)]
struct Replaced<'a> {
    id: i64,
    org: i64,
    created_at: i64,
    /// It existed before the batch: its stored commits go.
    was_stored: bool,
    write: &'a DeploymentWrite,
    started_at: Option<i64>,
    state_at: Option<i64>,
    delivery: i64,
    updated_at: i64,
}

enum Undo<'a> {
    /// A row the unit added (keyed or not).
    Added(Option<(i64, &'a str)>),
    Restore(usize, Row<'a>),
}

/// The batch's deployments: the stored ones its keys name, then the new
/// ones in the order they were written (the order of their ids).
#[derive(Default)]
pub(super) struct Deployments<'a> {
    rows: Vec<Row<'a>>,
    slot: HashMap<(i64, &'a str), usize>,
    journal: Vec<Undo<'a>>,
}

impl<'a> Deployments<'a> {
    /// The stored rows of these `(service, external id)` keys.
    pub(super) async fn load(
        conn: &mut AnyConnection,
        backend: Backend,
        keys: Vec<(i64, &'a str)>,
    ) -> Result<Self, StoreError> {
        let mut me = Self::default();
        let wanted: HashMap<(i64, &str), &'a str> =
            keys.iter().map(|&(s, e)| ((s, e), e)).collect();
        let values: Vec<Val> = keys
            .iter()
            .flat_map(|&(s, e)| [Val::Int(Some(s)), Val::Text(Some(e))])
            .collect();
        let parts = match backend {
            Backend::Sqlite => LOOKUP,
            Backend::Postgres => super::pg::MAX_ROWS,
        };
        for part in values.chunks(2 * parts) {
            let rows = match backend {
                Backend::Sqlite => {
                    fetch(conn, backend, &lookup_values(part.len() / 2), part).await?
                }
                Backend::Postgres => {
                    super::pg::query(LOOKUP_UNNEST.into(), part, 2)
                        .fetch_all(&mut *conn)
                        .await?
                }
            };
            for row in rows {
                let service: i64 = row.try_get(1)?;
                let ext: &str = row.try_get(2)?;
                let Some(&ext) = wanted.get(&(service, ext)) else {
                    continue;
                };
                let result: String = row.try_get(5)?;
                me.slot.insert((service, ext), me.rows.len());
                me.rows.push(Row::Stored {
                    id: row.try_get(0)?,
                    created_at: row.try_get(3)?,
                    state_at: row.try_get(4)?,
                    result: DeployResult::parse(&result).map_err(corrupt)?,
                    started_at: row.try_get(6)?,
                    fill_start: false,
                });
            }
        }
        Ok(me)
    }

    /// Creates the deployment, or replaces every field and the commits of
    /// the one with the same external id in the same service, unless that
    /// one reports a later state (see [`stored_state_stands`]). A write
    /// without `state_at` keeps the stored one: a vendor's stale event that
    /// arrives after an API's replacement still loses to the vendor's
    /// newer states.
    pub(super) fn write(
        &mut self,
        unit: &mut UnitCtx<'_>,
        ids: &mut Ids,
        w: &'a DeploymentWrite,
    ) -> Result<Written, StoreError> {
        let key = w.external_id.as_ref().map(|e| (w.service.0, e.as_str()));
        let written = |id: i64, created: bool| Written::Deployment {
            id: DeploymentId(id),
            service_id: w.service,
            external_id: w.external_id.clone(),
            created,
        };
        let state_at = w.state_at.map(Timestamp::millis);
        let started = w.started_at.map(Timestamp::millis);
        let Some(&at) = key.and_then(|k| self.slot.get(&k)) else {
            let n = unit.next_anonymous(w.external_id.is_none());
            let delivery = unit.delivery;
            let id = match unit
                .reuse(|r| r.deployment(w.service, w.external_id.as_ref(), delivery, n))
            {
                Some(old) => old,
                None => ids.deployments.next(),
            };
            if let Some(k) = key {
                self.slot.insert(k, self.rows.len());
            }
            self.journal.push(Undo::Added(key));
            self.rows.push(Row::Written(Box::new(Replaced {
                id,
                org: unit.org,
                created_at: unit.received,
                was_stored: false,
                write: w,
                started_at: started,
                state_at,
                delivery: unit.delivery.0,
                updated_at: unit.received,
            })));
            return Ok(written(id, true));
        };
        let before = self.rows[at].clone();
        let (id, created_at, stored_state, stored_result, stored_started, was_stored) =
            match &before {
                Row::Stored {
                    id,
                    created_at,
                    state_at,
                    result,
                    started_at,
                    ..
                } => (*id, *created_at, *state_at, *result, *started_at, true),
                Row::Written(r) => (
                    r.id,
                    r.created_at,
                    r.state_at,
                    r.write.result,
                    r.started_at,
                    r.was_stored,
                ),
            };
        if stored_state_stands(stored_state, stored_result, state_at, w.result) {
            // A late `running` still tells when the deployment started.
            if let (Some(s), None) = (started, stored_started) {
                self.journal.push(Undo::Restore(at, before));
                match &mut self.rows[at] {
                    Row::Stored {
                        started_at,
                        fill_start,
                        ..
                    } => {
                        *started_at = Some(s);
                        *fill_start = true;
                    }
                    Row::Written(r) => r.started_at = Some(s),
                }
            }
            return Ok(written(id, false));
        }
        // A vendor's later state keeps the start an earlier one gave
        // (GitLab's `success` does not repeat `running`'s time); an API
        // write replaces it.
        let started_at = match state_at {
            None => started,
            Some(_) => started.or(stored_started),
        };
        self.journal.push(Undo::Restore(at, before));
        self.rows[at] = Row::Written(Box::new(Replaced {
            id,
            org: unit.org,
            created_at,
            was_stored,
            write: w,
            started_at,
            state_at: state_at.or(stored_state),
            delivery: unit.delivery.0,
            updated_at: unit.received,
        }));
        Ok(written(id, false))
    }

    /// Gives the rows made by the batch their real ids.
    pub(super) fn assign(&mut self, ids: &RealIds) -> Result<(), StoreError> {
        for row in &mut self.rows {
            if let Row::Written(r) = row {
                r.id = ids.of(r.id)?;
            }
        }
        Ok(())
    }

    pub(super) fn assign_deliveries(&mut self, real: &impl Fn(i64) -> i64) {
        for row in &mut self.rows {
            if let Row::Written(r) = row {
                r.delivery = real(r.delivery);
            }
        }
    }

    /// Keeps what the unit did.
    pub(super) fn commit(&mut self) {
        self.journal.clear();
    }

    /// Undoes what the unit did.
    pub(super) fn rollback(&mut self) {
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::Added(key) => {
                    self.rows.pop();
                    if let Some(k) = key {
                        self.slot.remove(&k);
                    }
                }
                Undo::Restore(at, row) => self.rows[at] = row,
            }
        }
    }

    pub(super) async fn store(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        let replaced: Vec<Val> = self
            .rows
            .iter()
            .filter_map(|r| match r {
                Row::Written(r) if r.was_stored => Some(Val::Int(Some(r.id))),
                _ => None,
            })
            .collect();
        for part in replaced.chunks(MAX_ROWS) {
            let mut sql = String::from("DELETE FROM deployment_commits WHERE deployment_id IN (");
            push_list(&mut sql, part.len());
            sql.push(')');
            execute(conn, backend, &sql, part).await?;
        }
        let mut values = Vec::new();
        let mut commits = Vec::new();
        for row in &self.rows {
            match row {
                Row::Stored {
                    id,
                    started_at: Some(started),
                    fill_start: true,
                    ..
                } => {
                    execute(
                        conn,
                        backend,
                        // The right side reads the row as it was: the start
                        // is given twice.
                        "UPDATE deployments SET started_at = ?,
                             occurred_at = COALESCE(finished_at, ?, created_at)
                         WHERE id = ? AND started_at IS NULL",
                        &[
                            Val::Int(Some(*started)),
                            Val::Int(Some(*started)),
                            Val::Int(Some(*id)),
                        ],
                    )
                    .await?;
                }
                Row::Stored { .. } => {}
                Row::Written(r) => {
                    let w = r.write;
                    let finished = w.finished_at.map(Timestamp::millis);
                    values.extend([
                        Val::Int(Some(r.id)),
                        Val::Int(Some(r.org)),
                        Val::Int(Some(w.service.0)),
                        Val::Text(w.external_id.as_ref().map(ExternalId::as_str)),
                        Val::Text(w.name.as_deref()),
                        Val::Text(Some(w.environment.as_str())),
                        Val::Text(Some(w.result.as_str())),
                        Val::Text(Some(w.kind.as_str())),
                        Val::Int(r.started_at),
                        Val::Int(finished),
                        Val::Int(Some(finished.or(r.started_at).unwrap_or(r.created_at))),
                        Val::Small(i16::from(w.rework)),
                        Val::Int(w.lead_time_seconds),
                        Val::Text(Some(w.source.as_str())),
                        Val::Owned(Some(json_text(&w.attributes)?)),
                        Val::Owned(w.shipped.as_ref().map(json_text).transpose()?),
                        Val::Int(Some(r.created_at)),
                        Val::Int(Some(r.delivery)),
                        Val::Int(Some(r.updated_at)),
                        Val::Int(r.state_at),
                    ]);
                    for (ord, c) in w.commits.iter().enumerate() {
                        commits.extend([
                            Val::Int(Some(r.id)),
                            Val::Int(Some(ord as i64)),
                            Val::Text(Some(c.repo.as_str())),
                            Val::Text(Some(c.repo_key.as_str())),
                            Val::Text(Some(c.sha.as_str())),
                        ]);
                    }
                }
            }
        }
        DEPLOYMENT.write(conn, backend, &values).await?;
        DEPLOYMENT_COMMIT.write(conn, backend, &commits).await
    }
}

/// SQLite: a VALUES list of `n` keys joined to the unique index, one
/// probe per key.
fn lookup_values(n: usize) -> String {
    let mut sql = String::from(
        "SELECT d.id, d.service_id, d.external_id, d.created_at, d.state_at, d.result,
             d.started_at
         FROM (VALUES ",
    );
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?)");
    }
    sql.push_str(
        ") AS k JOIN deployments d ON d.service_id = k.column1 AND d.external_id = k.column2",
    );
    sql
}

/// PostgreSQL: the keys as two arrays (see `super::pg`), each probed in
/// the unique index. `LIMIT 1` keeps the subquery a probe per key: joined
/// freely, the planner's costs prefer a hash join over a scan of every
/// deployment to a few hundred probes until the table is large (the
/// probes are what is fast, the index being cached).
const LOOKUP_UNNEST: &str = "SELECT d.id, d.service_id, d.external_id, d.created_at,
         d.state_at, d.result, d.started_at
     FROM unnest($1::bigint[], $2::text[]) AS k (service_id, external_id)
     CROSS JOIN LATERAL (SELECT * FROM deployments d
         WHERE d.service_id = k.service_id AND d.external_id = k.external_id LIMIT 1) d";

const DEPLOYMENT: Table = Table {
    head: "INSERT INTO deployments (id, org_id, service_id, external_id, name, environment,
               result, kind, started_at, finished_at, occurred_at, rework, lead_time_seconds,
               source, attributes, shipped, created_at, delivery_id, updated_at, state_at)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 20,
    tail: " ON CONFLICT (id) DO UPDATE SET name = excluded.name,
               environment = excluded.environment, result = excluded.result,
               kind = excluded.kind, started_at = excluded.started_at,
               finished_at = excluded.finished_at, occurred_at = excluded.occurred_at,
               rework = excluded.rework, lead_time_seconds = excluded.lead_time_seconds,
               source = excluded.source, attributes = excluded.attributes,
               shipped = excluded.shipped, delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at, state_at = excluded.state_at",
};

const DEPLOYMENT_COMMIT: Table = Table {
    head: "INSERT INTO deployment_commits (deployment_id, ord, repo, repo_key, sha)",
    row: "(?, ?, ?, ?, ?)",
    per_row: 5,
    tail: "",
};
