//! Incidents in the planner: upserted by (service, key), in whatever order
//! their start and resolve arrive.

use super::sql::{LOOKUP, Table, Val, fetch, json_text, push_list};
use super::{Ids, RealIds, UnitCtx};
use crate::db::corrupt;
use crate::{Backend, StoreError, Written};
use dorado_core::{
    IncidentCause, IncidentId, IncidentKey, IncidentResolve, IncidentTimes, IncidentWrite,
    ServiceId, Timestamp, ValidationError,
};
use serde_json::Value;
use sqlx::{AnyConnection, Row as _};
use std::collections::HashMap;

fn cause_columns(cause: Option<&IncidentCause>) -> (Option<&'static str>, Option<&str>) {
    match cause {
        Some(IncidentCause::Deployment(ext)) => (Some("deployment"), Some(ext.as_str())),
        Some(IncidentCause::Commit(sha)) => (Some("commit"), Some(sha.as_str())),
        None => (None, None),
    }
}

/// A later write adds to the attributes an earlier one stored (a start's
/// title and a resolve's fields both stay) instead of replacing them.
fn merge_attributes(old: Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
            Value::Object(old)
        }
        (old, Value::Null) => old,
        (_, new) => new.clone(),
    }
}

/// An incident's times, in epoch millis, as its columns hold them.
///
/// `resolved_at`, which everything reads, is always `last_resolved_at`
/// unless a reopening at or after it exists (then NULL: open), so a row
/// tells its whole state. Rows written before migration 0004 leave
/// `last_resolved_at` and `reopened_at` behind; they are read so that
/// `resolved_at` is the truth: when it is set it is the latest resolution,
/// and a reopening not before it was superseded by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Times {
    started: Option<i64>,
    resolved: Option<i64>,
    last_resolved: Option<i64>,
    reopened: Option<i64>,
}

impl Times {
    fn latest_resolution(&self) -> Option<i64> {
        self.resolved.or(self.last_resolved)
    }

    fn latest_reopening(&self) -> Option<i64> {
        self.reopened
            .filter(|&o| self.resolved.is_none_or(|r| o < r))
    }

    /// The times once `w` is applied.
    fn with(self, w: &IncidentWrite) -> Self {
        let ms = |t: Option<Timestamp>| t.map(Timestamp::millis);
        let (started, resolved, reopened) =
            (ms(w.started_at), ms(w.resolved_at), ms(w.reopened_at));
        match w.times {
            // Each event of a vendor's lifecycle adds what it saw: the
            // first start, the last resolution, the last reopening.
            IncidentTimes::Lifecycle => Self::settled(
                earliest(self.started, started),
                self.latest_resolution().max(resolved),
                self.latest_reopening().max(reopened),
            ),
            IncidentTimes::Replace | IncidentTimes::ArrivalStart => {
                let started = match w.times {
                    // A start that is only the arrival time fills a
                    // missing start and moves no known one.
                    IncidentTimes::ArrivalStart => self.started.or(started),
                    _ => started.or(self.started),
                };
                match resolved {
                    Some(r) => self.resolved_at(r, started, reopened),
                    None => Self::settled(
                        started,
                        self.latest_resolution(),
                        reopened.or(self.latest_reopening()),
                    ),
                }
            }
        }
    }

    /// A resolution that replaces the latest one (the APIs, resolve
    /// commands): it is the last resolution now, and a stored reopening at
    /// or after it would contradict the sender, so it goes.
    fn resolved_at(self, at: i64, started: Option<i64>, reopened: Option<i64>) -> Self {
        let stored = self.latest_reopening().filter(|&o| o < at);
        Self::settled(started, Some(at), reopened.or(stored))
    }

    fn settled(started: Option<i64>, last: Option<i64>, reopened: Option<i64>) -> Self {
        let resolved = match (last, reopened) {
            (Some(l), Some(o)) if o >= l => None,
            (l, _) => l,
        };
        Times {
            started,
            resolved,
            last_resolved: last,
            reopened,
        }
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An incident row as the batch leaves it.
#[derive(Clone)]
struct Incident {
    id: i64,
    org: i64,
    service: Option<i64>,
    key: String,
    title: Option<String>,
    times: Times,
    cause_kind: Option<String>,
    cause_value: Option<String>,
    fixed_by: Option<String>,
    is_incident: bool,
    source: String,
    attributes: String,
    delivery: i64,
    created_at: i64,
    updated_at: i64,
    changed: bool,
}

enum Undo {
    Added,
    Restore(usize, Box<Incident>),
}

/// The stored incidents of the batch's keys and what the batch does to them.
#[derive(Default)]
pub(super) struct Incidents {
    rows: Vec<Incident>,
    /// By `(org, service or 0, key)`: the unique index's slot.
    slot: HashMap<(i64, i64, String), usize>,
    /// Every row of a key, in id order (new rows come last, as their ids do).
    by_key: HashMap<(i64, String), Vec<usize>>,
    journal: Vec<Undo>,
}

impl Incidents {
    /// The stored rows of these keys of each organization.
    pub(super) async fn load(
        conn: &mut AnyConnection,
        backend: Backend,
        keys: HashMap<i64, Vec<&str>>,
    ) -> Result<Self, StoreError> {
        let mut me = Self::default();
        for (org, keys) in keys {
            for part in keys.chunks(LOOKUP) {
                let mut sql = String::from(
                    "SELECT id, service_id, key, title, started_at, resolved_at,
                         last_resolved_at, reopened_at, cause_kind, cause_value, fixed_by,
                         is_incident, source, attributes, delivery_id, created_at, updated_at
                     FROM incidents WHERE org_id = ? AND key IN (",
                );
                push_list(&mut sql, part.len());
                sql.push_str(") ORDER BY id");
                let mut values = vec![Val::Int(Some(org))];
                values.extend(part.iter().map(|k| Val::Text(Some(*k))));
                for row in fetch(conn, backend, &sql, &values).await? {
                    me.add(Incident {
                        id: row.try_get("id")?,
                        org,
                        service: row.try_get("service_id")?,
                        key: row.try_get("key")?,
                        title: row.try_get("title")?,
                        times: Times {
                            started: row.try_get("started_at")?,
                            resolved: row.try_get("resolved_at")?,
                            last_resolved: row.try_get("last_resolved_at")?,
                            reopened: row.try_get("reopened_at")?,
                        },
                        cause_kind: row.try_get("cause_kind")?,
                        cause_value: row.try_get("cause_value")?,
                        fixed_by: row.try_get("fixed_by")?,
                        is_incident: row.try_get::<i64, _>("is_incident")? != 0,
                        source: row.try_get("source")?,
                        attributes: row.try_get("attributes")?,
                        delivery: row.try_get("delivery_id")?,
                        created_at: row.try_get("created_at")?,
                        updated_at: row.try_get("updated_at")?,
                        changed: false,
                    });
                }
            }
        }
        Ok(me)
    }

    fn add(&mut self, row: Incident) {
        let at = self.rows.len();
        self.slot
            .insert((row.org, row.service.unwrap_or(0), row.key.clone()), at);
        self.by_key
            .entry((row.org, row.key.clone()))
            .or_default()
            .push(at);
        self.rows.push(row);
    }

    fn change(&mut self, at: usize) -> &mut Incident {
        self.journal
            .push(Undo::Restore(at, Box::new(self.rows[at].clone())));
        &mut self.rows[at]
    }

    /// Creates the incident, or updates the stored one: fields the write
    /// leaves out keep their value, so a start that arrives after its
    /// resolve does not reopen it; times combine as [`Times::with`] says.
    pub(super) fn write(
        &mut self,
        unit: &mut UnitCtx<'_>,
        ids: &mut Ids,
        w: &IncidentWrite,
    ) -> Result<Written, StoreError> {
        let (cause_kind, cause_value) = cause_columns(w.cause.as_ref());
        let slot = (
            unit.org,
            w.service.map_or(0, |s| s.0),
            w.key.as_str().to_owned(),
        );
        let Some(&at) = self.slot.get(&slot) else {
            let id = self.insert(unit, ids, w, cause_kind, cause_value)?;
            return Ok(written(id, w.service, &w.key, true));
        };
        let row = self.change(at);
        row.times = row.times.with(w);
        if let Some(title) = &w.title {
            row.title = Some(title.clone());
        }
        if let Some(kind) = cause_kind {
            row.cause_kind = Some(kind.to_owned());
        }
        if let Some(value) = cause_value {
            row.cause_value = Some(value.to_owned());
        }
        if let Some(f) = &w.fixed_by {
            row.fixed_by = Some(f.as_str().to_owned());
        }
        row.is_incident = w.is_incident;
        row.source = w.source.clone();
        // Merging an empty object changes nothing (and the stored text is
        // serde_json's own, so it would be written back byte for byte).
        if !w.attributes.as_object().is_some_and(|o| o.is_empty()) {
            let old: Value = serde_json::from_str(&row.attributes)
                .map_err(|e| corrupt(format!("attributes: {e}")))?;
            row.attributes = json_text(&merge_attributes(old, &w.attributes))?;
        }
        row.delivery = unit.delivery.0;
        row.updated_at = unit.received;
        row.changed = true;
        Ok(written(row.id, w.service, &w.key, false))
    }

    fn insert(
        &mut self,
        unit: &mut UnitCtx<'_>,
        ids: &mut Ids,
        w: &IncidentWrite,
        cause_kind: Option<&str>,
        cause_value: Option<&str>,
    ) -> Result<i64, StoreError> {
        let id = match unit.reuse(|r| r.incident(w.service, &w.key)) {
            Some(old) => old,
            None => ids.incidents.next(),
        };
        self.journal.push(Undo::Added);
        self.add(Incident {
            id,
            org: unit.org,
            service: w.service.map(|s| s.0),
            key: w.key.as_str().to_owned(),
            title: w.title.clone(),
            times: Times::default().with(w),
            cause_kind: cause_kind.map(str::to_owned),
            cause_value: cause_value.map(str::to_owned),
            fixed_by: w.fixed_by.as_ref().map(|f| f.as_str().to_owned()),
            is_incident: w.is_incident,
            source: w.source.clone(),
            attributes: json_text(&w.attributes)?,
            delivery: unit.delivery.0,
            created_at: unit.received,
            updated_at: unit.received,
            changed: true,
        });
        Ok(id)
    }

    /// Resolves by key; see `IncidentResolve` for `keep_existing` and
    /// `create_missing`. The resolution replaces the latest one, as a
    /// `Replace` write's does ([`Times::resolved_at`]); an incident opened
    /// again has no resolution to keep.
    pub(super) fn resolve(
        &mut self,
        unit: &mut UnitCtx<'_>,
        ids: &mut Ids,
        r: &IncidentResolve,
    ) -> Result<Written, StoreError> {
        let key = r.key.as_str();
        let found: Vec<usize> = match r.service {
            Some(s) => self
                .slot
                .get(&(unit.org, s.0, key.to_owned()))
                .copied()
                .into_iter()
                .collect(),
            None => self
                .by_key
                .get(&(unit.org, key.to_owned()))
                .cloned()
                .unwrap_or_default(),
        };
        if found.len() > 1 {
            return Err(ValidationError::single(
                "/service",
                format!("several services have an incident '{key}': name the service"),
            )
            .into());
        }
        let Some(&at) = found.first() else {
            if !r.create_missing {
                return Err(StoreError::NotFound(format!("incident '{key}'")));
            }
            let w = IncidentWrite {
                service: r.service,
                key: r.key.clone(),
                title: None,
                started_at: None,
                resolved_at: Some(r.resolved_at),
                cause: None,
                fixed_by: None,
                is_incident: true,
                source: r.source.clone(),
                attributes: Value::Object(Default::default()),
                times: Default::default(),
                reopened_at: None,
            };
            let id = self.insert(unit, ids, &w, None, None)?;
            return Ok(written(id, r.service, &r.key, true));
        };
        let (id, service) = (self.rows[at].id, self.rows[at].service.map(ServiceId));
        let stored = self.rows[at].times;
        if !(r.keep_existing && stored.resolved.is_some()) {
            let row = self.change(at);
            row.times = stored.resolved_at(r.resolved_at.millis(), stored.started, None);
            row.delivery = unit.delivery.0;
            row.updated_at = unit.received;
            row.changed = true;
        }
        Ok(written(id, service, &r.key, false))
    }

    /// Gives the rows made by the batch their real ids.
    pub(super) fn assign(&mut self, ids: &RealIds) -> Result<(), StoreError> {
        for row in &mut self.rows {
            row.id = ids.of(row.id)?;
        }
        Ok(())
    }

    pub(super) fn assign_deliveries(&mut self, real: &impl Fn(i64) -> i64) {
        for row in self.rows.iter_mut().filter(|r| r.changed) {
            row.delivery = real(row.delivery);
        }
    }

    pub(super) fn commit(&mut self) {
        self.journal.clear();
    }

    pub(super) fn rollback(&mut self) {
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::Added => {
                    if let Some(row) = self.rows.pop() {
                        self.slot
                            .remove(&(row.org, row.service.unwrap_or(0), row.key.clone()));
                        if let Some(rows) = self.by_key.get_mut(&(row.org, row.key)) {
                            rows.pop();
                        }
                    }
                }
                Undo::Restore(at, row) => self.rows[at] = *row,
            }
        }
    }

    pub(super) async fn store(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        let mut values = Vec::new();
        for r in self.rows.iter().filter(|r| r.changed) {
            let t = r.times;
            values.extend([
                Val::Int(Some(r.id)),
                Val::Int(Some(r.org)),
                Val::Int(r.service),
                Val::Text(Some(&r.key)),
                Val::Text(r.title.as_deref()),
                Val::Int(t.started),
                Val::Int(t.resolved),
                Val::Int(Some(t.started.or(t.resolved).unwrap_or(r.created_at))),
                Val::Text(r.cause_kind.as_deref()),
                Val::Text(r.cause_value.as_deref()),
                Val::Text(r.fixed_by.as_deref()),
                Val::Small(i16::from(r.is_incident)),
                Val::Text(Some(&r.source)),
                Val::Text(Some(&r.attributes)),
                Val::Int(Some(r.created_at)),
                Val::Int(Some(r.updated_at)),
                Val::Int(Some(r.delivery)),
                Val::Int(t.last_resolved),
                Val::Int(t.reopened),
            ]);
        }
        INCIDENT.write(conn, backend, &values).await
    }
}

fn written(id: i64, service: Option<ServiceId>, key: &IncidentKey, created: bool) -> Written {
    Written::Incident {
        id: IncidentId(id),
        service_id: service,
        key: key.clone(),
        created,
    }
}

const INCIDENT: Table = Table {
    head: "INSERT INTO incidents (id, org_id, service_id, key, title, started_at, resolved_at,
               occurred_at, cause_kind, cause_value, fixed_by, is_incident, source, attributes,
               created_at, updated_at, delivery_id, last_resolved_at, reopened_at)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    per_row: 19,
    tail: " ON CONFLICT (id) DO UPDATE SET title = excluded.title,
               started_at = excluded.started_at, resolved_at = excluded.resolved_at,
               occurred_at = excluded.occurred_at, cause_kind = excluded.cause_kind,
               cause_value = excluded.cause_value, fixed_by = excluded.fixed_by,
               is_incident = excluded.is_incident, source = excluded.source,
               attributes = excluded.attributes, delivery_id = excluded.delivery_id,
               updated_at = excluded.updated_at, last_resolved_at = excluded.last_resolved_at,
               reopened_at = excluded.reopened_at",
};
