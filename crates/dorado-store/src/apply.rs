//! Applies one delivery's commands inside the caller's transaction: the same
//! code for the writer and for `reindex`.

use crate::orgs::service_in_org;
use crate::{Outcome, StoreError, changes, deployments, incidents, pipelines};
use dorado_core::{Command, DeliveryId, ExternalId, IncidentKey, OrgId, ServiceId, Timestamp};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Services known to belong to their organization. Services never move or
/// disappear, so the writer keeps this for its whole life and saves a query
/// per command.
pub(crate) type ServiceCache = HashSet<(OrgId, ServiceId)>;

/// What every row written for one delivery shares.
pub(crate) struct ApplyCtx<'a> {
    pub org: OrgId,
    pub delivery: DeliveryId,
    /// When the delivery arrived: the rows' `updated_at`, so that a
    /// rebuild from the log writes the same values again.
    pub received_at: Timestamp,
    /// Set by `reindex`, to give rebuilt rows the ids they had.
    pub reuse: Option<&'a mut ReusedIds>,
    /// Deployments without an external id written so far for this delivery.
    pub(crate) anonymous_deployments: usize,
    services: &'a mut ServiceCache,
}

impl<'a> ApplyCtx<'a> {
    pub(crate) fn new(
        org: OrgId,
        delivery: DeliveryId,
        received_at: Timestamp,
        services: &'a mut ServiceCache,
    ) -> Self {
        Self {
            org,
            delivery,
            received_at,
            reuse: None,
            anonymous_deployments: 0,
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

/// Gives a row just inserted the id it had before a rebuild. Nothing refers
/// to the row yet, and ids are never reused, so the old id is free.
pub(crate) async fn move_id(
    conn: &mut AnyConnection,
    table: Table,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    let sql = match table {
        Table::Deployments => "UPDATE deployments SET id = $1 WHERE id = $2",
        Table::Incidents => "UPDATE incidents SET id = $1 WHERE id = $2",
    };
    sqlx::query(sql)
        .bind(to)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Deployments,
    Incidents,
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
            Command::Deployment(w) => deployments::apply(conn, ctx, w).await?,
            Command::Changes(b) => changes::apply(conn, ctx, b).await?,
            Command::Incident(w) => incidents::apply_write(conn, ctx, w).await?,
            Command::ResolveIncident(r) => incidents::apply_resolve(conn, ctx, r).await?,
            Command::PipelineTask(t) => pipelines::apply_task(conn, ctx, t).await?,
            Command::FinishPipeline(f) => pipelines::apply_finish(conn, ctx, f).await?,
        };
        outcome.written.push(written);
    }
    Ok(outcome)
}
