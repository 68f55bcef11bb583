//! Applies one delivery's commands inside the caller's transaction, one
//! after the other: the way of DevLake's pipelines, whose tasks and
//! finishes keep their own statements. Every other command goes to the
//! planner (`crate::plan`), the pipelines' deployments too.

use crate::orgs::service_in_org;
use crate::plan::{self, Unit};
use crate::{Backend, Outcome, StoreError, Written, pipelines};
use dorado_core::{Command, DeliveryId, ExternalId, IncidentKey, OrgId, ServiceId, Timestamp};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Services known to belong to their organization. Services never move or
/// disappear, so the writer keeps this for its whole life and saves a query
/// per command.
pub(crate) type ServiceCache = HashSet<(OrgId, ServiceId)>;

/// What every row written for one delivery shares.
pub(crate) struct ApplyCtx<'a> {
    pub backend: Backend,
    pub org: OrgId,
    pub delivery: DeliveryId,
    /// When the delivery arrived: the rows' `updated_at`, so that a
    /// rebuild from the log writes the same values again.
    pub received_at: Timestamp,
    /// Set by `reindex`, to give rebuilt rows the ids they had.
    pub reuse: Option<&'a mut ReusedIds>,
    services: &'a mut ServiceCache,
}

impl<'a> ApplyCtx<'a> {
    pub(crate) fn new(
        backend: Backend,
        org: OrgId,
        delivery: DeliveryId,
        received_at: Timestamp,
        services: &'a mut ServiceCache,
    ) -> Self {
        Self {
            backend,
            org,
            delivery,
            received_at,
            reuse: None,
            services,
        }
    }

    pub(crate) fn reusing(mut self, reuse: &'a mut ReusedIds) -> Self {
        self.reuse = Some(reuse);
        self
    }

    /// Refuses a service of another organization (it does not exist, as
    /// far as this organization can tell).
    pub(crate) async fn check_service(
        &mut self,
        conn: &mut AnyConnection,
        service: ServiceId,
    ) -> Result<(), StoreError> {
        if self.services.contains(&(self.org, service)) {
            return Ok(());
        }
        if !service_in_org(conn, self.org, service).await? {
            return Err(StoreError::NotFound(format!("service {service}")));
        }
        self.services.insert((self.org, service));
        Ok(())
    }

    /// `command` through the planner, alone.
    pub(crate) async fn plan_one(
        &mut self,
        conn: &mut AnyConnection,
        command: &Command,
    ) -> Result<Written, StoreError> {
        let unit = Unit {
            org: self.org,
            delivery: self.delivery,
            received_at: self.received_at,
            commands: std::slice::from_ref(command),
        };
        let reuse = self.reuse.as_deref_mut();
        let mut results = plan::apply(conn, self.backend, self.services, reuse, &[unit]).await?;
        let mut written = results.pop().unwrap_or_else(|| Ok(Vec::new()))?;
        written
            .pop()
            .ok_or_else(|| StoreError::Database(sqlx::Error::Protocol("nothing planned".into())))
    }
}

/// The ids that the rows of an organization had before `reindex` deleted
/// them, by what identifies a row across a rebuild: links and bookmarks to
/// `/deployments/41` keep working when the rules have not changed.
#[derive(Debug, Default)]
pub(crate) struct ReusedIds {
    keyed_deployments: HashMap<(ServiceId, ExternalId), i64>,
    /// (delivery, n): the n-th deployment without an external id that the
    /// delivery wrote.
    anonymous_deployments: HashMap<(DeliveryId, usize), i64>,
    incidents: HashMap<(Option<ServiceId>, IncidentKey), i64>,
}

impl ReusedIds {
    pub(crate) async fn load(conn: &mut AnyConnection, org: OrgId) -> Result<Self, StoreError> {
        let mut ids = Self::default();
        let rows = sqlx::query(
            "SELECT id, service_id, external_id, delivery_id FROM deployments
             WHERE org_id = $1 ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&mut *conn)
        .await?;
        let mut per_delivery: HashMap<DeliveryId, usize> = HashMap::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let service = ServiceId(row.try_get("service_id")?);
            match row.try_get::<Option<String>, _>("external_id")? {
                Some(ext) => {
                    ids.keyed_deployments
                        .insert((service, ExternalId::from_trusted(ext)), id);
                }
                None => {
                    let delivery = DeliveryId(row.try_get("delivery_id")?);
                    let n = per_delivery.entry(delivery).or_default();
                    ids.anonymous_deployments.insert((delivery, *n), id);
                    *n += 1;
                }
            }
        }
        let rows = sqlx::query("SELECT id, service_id, key FROM incidents WHERE org_id = $1")
            .bind(org.0)
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            let service = row.try_get::<Option<i64>, _>("service_id")?.map(ServiceId);
            let key = IncidentKey::from_trusted(row.try_get::<String, _>("key")?);
            ids.incidents.insert((service, key), row.try_get("id")?);
        }
        Ok(ids)
    }

    pub(crate) fn deployment(
        &mut self,
        service: ServiceId,
        external_id: Option<&ExternalId>,
        delivery: DeliveryId,
        n: usize,
    ) -> Option<i64> {
        match external_id {
            Some(ext) => self.keyed_deployments.remove(&(service, ext.clone())),
            None => self.anonymous_deployments.remove(&(delivery, n)),
        }
    }

    pub(crate) fn incident(
        &mut self,
        service: Option<ServiceId>,
        key: &IncidentKey,
    ) -> Option<i64> {
        self.incidents.remove(&(service, key.clone()))
    }
}

/// Applies the commands in order; the first error stops the delivery (the
/// caller rolls back its savepoint).
pub(crate) async fn apply_all(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    commands: &[Command],
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    for command in commands {
        let written = match command {
            Command::PipelineTask(t) => pipelines::apply_task(conn, ctx, t).await?,
            Command::FinishPipeline(f) => pipelines::apply_finish(conn, ctx, f).await?,
            other => ctx.plan_one(conn, other).await?,
        };
        outcome.written.push(written);
    }
    Ok(outcome)
}
