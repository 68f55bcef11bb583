//! The one planner: every writer (a batch of live requests, a chunk of
//! `dorado import`, a page of `dorado reindex`) applies the rules of
//! semantics.md here, and only here.
//!
//! A batch is a list of units, each all or nothing: a request, a line of an
//! import, a delivery replayed. The planner looks up every key the batch
//! names with one query per table, applies the units to those rows in
//! memory in arrival order (a refused unit is undone alone, with its
//! reason), and then writes what the batch ends with in a few multi-row
//! statements per table. Applying a batch at once gives the rows applying
//! its units one after the other would give: ids are handed out in the
//! order rows are created, a key given twice keeps its first id and its
//! last write, and commits merge as their upsert does.
//!
//! Nothing here begins or commits: the caller's transaction holds it all.

mod changes;
mod deployments;
mod incidents;
mod pg;
pub(crate) mod sql;

use crate::apply::{ReusedIds, ServiceCache};
use crate::{Backend, StoreError, Written};
use dorado_core::{Command, DeliveryId, OrgId, ServiceId, Timestamp};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Commands that stand or fall together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit<'a> {
    pub org: OrgId,
    pub delivery: DeliveryId,
    /// When the delivery arrived: the rows' `updated_at`, so that a
    /// rebuild from the log writes the same values again.
    pub received_at: Timestamp,
    pub commands: &'a [Command],
}

/// Whether the planner applies every command of `commands` (DevLake's
/// pipelines keep their own statements, see `crate::pipelines`).
pub(crate) fn plans(commands: &[Command]) -> bool {
    commands.iter().all(|c| {
        matches!(
            c,
            Command::Deployment(_)
                | Command::Changes(_)
                | Command::Incident(_)
                | Command::ResolveIncident(_)
        )
    })
}

/// What a batch ends with: the rows to write, and each unit's answer.
pub(crate) struct Planned<'a> {
    deployments: deployments::Deployments<'a>,
    incidents: incidents::Incidents,
    changes: changes::Changes<'a>,
    /// For each unit, what its commands wrote, or why it was refused
    /// (nothing of it is written then).
    pub results: Vec<Result<Vec<Written>, StoreError>>,
}

impl Planned<'_> {
    /// Gives the rows the delivery ids `real` makes of those the units
    /// were planned with (the writer numbers a batch's deliveries once it
    /// knows which are refused).
    pub(crate) fn assign_deliveries(&mut self, real: &impl Fn(i64) -> i64) {
        self.deployments.assign_deliveries(real);
        self.incidents.assign_deliveries(real);
        self.changes.assign_deliveries(real);
    }

    /// Writes the rows in the caller's transaction. `Err` is a failure of
    /// the database: nothing the batch wrote may be committed.
    pub(crate) async fn store(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        self.deployments.store(conn, backend).await?;
        self.changes.store(conn, backend).await?;
        self.incidents.store(conn, backend).await
    }
}

/// Plans `units` in order against the stored rows of their keys, read in
/// the caller's transaction; writes nothing but what reserving ids takes.
pub(crate) async fn plan<'a>(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    mut reuse: Option<&mut ReusedIds>,
    units: &[Unit<'a>],
) -> Result<Planned<'a>, StoreError> {
    load_services(conn, backend, services, units).await?;
    let mut deployments =
        deployments::Deployments::load(conn, backend, deployment_keys(units)).await?;
    let mut incidents = incidents::Incidents::load(conn, backend, incident_keys(units)).await?;
    let mut changes = changes::Changes::default();
    let mut ids = Ids::default();
    let mut anonymous: HashMap<DeliveryId, usize> = HashMap::new();

    let mut results = Vec::with_capacity(units.len());
    for unit in units {
        let marks = ids.marks();
        let mut ctx = UnitCtx {
            org: unit.org.0,
            delivery: unit.delivery,
            received: unit.received_at.millis(),
            anonymous: anonymous.get(&unit.delivery).copied().unwrap_or(0),
            reuse: reuse.as_deref_mut(),
        };
        let applied = apply_unit(
            &mut ctx,
            services,
            &mut ids,
            &mut deployments,
            &mut incidents,
            &mut changes,
            unit,
        );
        let count = ctx.anonymous;
        match &applied {
            Ok(_) => {
                anonymous.insert(unit.delivery, count);
                deployments.commit();
                incidents.commit();
                changes.commit();
            }
            Err(_) => {
                ids.restore(marks);
                deployments.rollback();
                incidents.rollback();
                changes.rollback();
            }
        }
        results.push(applied);
    }

    // Only now is it known how many rows are new: exactly that many ids
    // are taken, so that a batch leaves no gap a one-by-one write would not.
    let deployment_ids =
        RealIds(sql::reserve_ids(conn, backend, "deployments", ids.deployments.used).await?);
    let incident_ids =
        RealIds(sql::reserve_ids(conn, backend, "incidents", ids.incidents.used).await?);
    deployments.assign(&deployment_ids)?;
    incidents.assign(&incident_ids)?;
    for written in results.iter_mut().flatten().flatten() {
        match written {
            Written::Deployment { id, .. } => id.0 = deployment_ids.of(id.0)?,
            Written::Incident { id, .. } => id.0 = incident_ids.of(id.0)?,
            _ => {}
        }
    }
    Ok(Planned {
        deployments,
        incidents,
        changes,
        results,
    })
}

/// Plans and writes `units` at once: for each unit, what it wrote or why
/// it was refused.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    reuse: Option<&mut ReusedIds>,
    units: &[Unit<'_>],
) -> Result<Vec<Result<Vec<Written>, StoreError>>, StoreError> {
    let mut planned = plan(conn, backend, services, reuse, units).await?;
    planned.store(conn, backend).await?;
    Ok(planned.results)
}

fn apply_unit<'a>(
    ctx: &mut UnitCtx<'_>,
    services: &ServiceCache,
    ids: &mut Ids,
    deployments: &mut deployments::Deployments<'a>,
    incidents: &mut incidents::Incidents,
    changes: &mut changes::Changes<'a>,
    unit: &Unit<'a>,
) -> Result<Vec<Written>, StoreError> {
    let mut written = Vec::with_capacity(unit.commands.len());
    for command in unit.commands {
        // A service of another organization does not exist, as far as
        // this one can tell.
        if let Some(service) = service_of(command)
            && !services.contains(&(unit.org, service))
        {
            return Err(StoreError::NotFound(format!("service {service}")));
        }
        written.push(match command {
            Command::Deployment(w) => deployments.write(ctx, ids, w)?,
            Command::Changes(b) => changes.write(ctx, b),
            Command::Incident(w) => incidents.write(ctx, ids, w)?,
            Command::ResolveIncident(r) => incidents.resolve(ctx, ids, r)?,
            Command::PipelineTask(_) | Command::FinishPipeline(_) => {
                return Err(StoreError::Database(sqlx::Error::Protocol(
                    "a pipeline's commands are not planned".into(),
                )));
            }
        });
    }
    Ok(written)
}

fn service_of(command: &Command) -> Option<ServiceId> {
    match command {
        Command::Deployment(w) => Some(w.service),
        Command::Incident(w) => w.service,
        Command::ResolveIncident(r) => r.service,
        Command::PipelineTask(t) => Some(t.service),
        Command::FinishPipeline(f) => Some(f.service),
        Command::Changes(_) => None,
    }
}

/// What every row a unit writes shares.
pub(super) struct UnitCtx<'r> {
    org: i64,
    delivery: DeliveryId,
    received: i64,
    /// Deployments without an external id the unit's delivery wrote so far.
    anonymous: usize,
    reuse: Option<&'r mut ReusedIds>,
}

impl UnitCtx<'_> {
    /// The position of a deployment among those of the delivery without an
    /// external id (`dorado reindex` gives those their ids back by it).
    fn next_anonymous(&mut self, anonymous: bool) -> usize {
        let n = self.anonymous;
        if anonymous {
            self.anonymous += 1;
        }
        n
    }

    /// The id a rebuilt row had, during `dorado reindex`.
    fn reuse(&mut self, find: impl FnOnce(&mut ReusedIds) -> Option<i64>) -> Option<i64> {
        self.reuse.as_deref_mut().and_then(find)
    }
}

/// Ids for the rows a batch creates, in the order it creates them: while
/// planning, provisional ones (-1 is the first), made real at the end.
#[derive(Default)]
pub(super) struct Ids {
    deployments: IdPool,
    incidents: IdPool,
}

impl Ids {
    fn marks(&self) -> (usize, usize) {
        (self.deployments.used, self.incidents.used)
    }

    /// A refused unit's ids go to the next unit, as a rolled back insert's
    /// would.
    fn restore(&mut self, (deployments, incidents): (usize, usize)) {
        self.deployments.used = deployments;
        self.incidents.used = incidents;
    }
}

#[derive(Default)]
pub(super) struct IdPool {
    used: usize,
}

impl IdPool {
    fn next(&mut self) -> i64 {
        self.used += 1;
        -(self.used as i64)
    }
}

/// The real ids of the provisional ones, in order.
pub(super) struct RealIds(Vec<i64>);

impl RealIds {
    pub(super) fn of(&self, id: i64) -> Result<i64, StoreError> {
        if id > 0 {
            return Ok(id);
        }
        usize::try_from(-id - 1)
            .ok()
            .and_then(|i| self.0.get(i).copied())
            .ok_or_else(|| {
                StoreError::Database(sqlx::Error::Protocol("too few ids reserved".into()))
            })
    }
}

fn deployment_keys<'a>(units: &[Unit<'a>]) -> Vec<(i64, &'a str)> {
    let mut seen = HashSet::new();
    units
        .iter()
        .flat_map(|u| u.commands)
        .filter_map(|c| match c {
            Command::Deployment(w) => Some((w.service.0, w.external_id.as_ref()?.as_str())),
            _ => None,
        })
        .filter(|k| seen.insert(*k))
        .collect()
}

fn incident_keys<'a>(units: &[Unit<'a>]) -> HashMap<i64, Vec<&'a str>> {
    let mut keys: HashMap<i64, HashSet<&'a str>> = HashMap::new();
    for unit in units {
        for command in unit.commands {
            let key = match command {
                Command::Incident(w) => w.key.as_str(),
                Command::ResolveIncident(r) => r.key.as_str(),
                _ => continue,
            };
            keys.entry(unit.org.0).or_default().insert(key);
        }
    }
    keys.into_iter()
        .map(|(org, keys)| (org, keys.into_iter().collect()))
        .collect()
}

/// Learns which organization the services the units name belong to, for
/// those the cache does not know yet (services never move or disappear).
async fn load_services(
    conn: &mut AnyConnection,
    backend: Backend,
    services: &mut ServiceCache,
    units: &[Unit<'_>],
) -> Result<(), StoreError> {
    let unknown: HashSet<i64> = units
        .iter()
        .flat_map(|u| u.commands.iter().map(move |c| (u.org, c)))
        .filter_map(|(org, c)| service_of(c).filter(|s| !services.contains(&(org, *s))))
        .map(|s| s.0)
        .collect();
    let unknown: Vec<sql::Val> = unknown
        .into_iter()
        .map(|s| sql::Val::Int(Some(s)))
        .collect();
    for part in unknown.chunks(sql::LOOKUP) {
        let mut text = String::from("SELECT id, org_id FROM services WHERE id IN (");
        sql::push_list(&mut text, part.len());
        text.push(')');
        for row in sql::fetch(conn, backend, &text, part).await? {
            services.insert((OrgId(row.try_get(1)?), ServiceId(row.try_get(0)?)));
        }
    }
    Ok(())
}
