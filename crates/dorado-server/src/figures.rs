//! The DORA figures of an organization, computed by `dorado_core::engine`
//! from what the store holds.
//!
//! Deriving (commit walks, incident links) reads the organization's whole
//! history, so it is done once per version of the organization's data and
//! kept: the store bumps the version with every committed write (on any
//! instance sharing the database), a request reads the version (one indexed
//! row) and reuses the snapshot while it is current. Reports over any window
//! then read the derived snapshot only.

use crate::error::ApiError;
use crate::views::{
    DeploymentRefView, DeploymentView, IncidentLinkView, IncidentView, ShippedView,
};
use dorado_core::engine::{Derived, Facts, LinkKind, derive};
use dorado_core::{DeploymentId, Environment, IncidentId, OrgId};
use dorado_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One version of an organization's facts, and what was derived from them.
pub struct Snapshot {
    pub version: i64,
    pub facts: Facts,
    derived: Mutex<HashMap<Environment, Arc<Derived>>>,
}

#[derive(Default)]
pub struct Figures {
    snapshots: Mutex<HashMap<OrgId, Arc<Snapshot>>>,
}

impl Figures {
    /// The current snapshot of `org`, loading it when the data changed.
    pub async fn snapshot(&self, store: &Store, org: OrgId) -> Result<Arc<Snapshot>, ApiError> {
        let version = store.data_version(org).await?;
        if let Some(s) = self.cached(org)
            && s.version == version
        {
            return Ok(s);
        }
        let (facts, version) = store.load_facts(org).await?;
        let snapshot = Arc::new(Snapshot {
            version,
            facts,
            derived: Mutex::new(HashMap::new()),
        });
        if let Ok(mut all) = self.snapshots.lock() {
            all.insert(org, snapshot.clone());
        }
        Ok(snapshot)
    }

    fn cached(&self, org: OrgId) -> Option<Arc<Snapshot>> {
        self.snapshots.lock().ok()?.get(&org).cloned()
    }
}

impl Snapshot {
    /// What the engine derives for `environment`, computed on a blocking
    /// thread the first time it is asked for.
    pub async fn derived(
        self: &Arc<Self>,
        environment: &Environment,
    ) -> Result<Arc<Derived>, ApiError> {
        if let Some(d) = self
            .derived
            .lock()
            .ok()
            .and_then(|m| m.get(environment).cloned())
        {
            return Ok(d);
        }
        let me = self.clone();
        let env = environment.clone();
        let derived = tokio::task::spawn_blocking(move || Arc::new(derive(&me.facts, &env)))
            .await
            .map_err(|e| ApiError::Internal(format!("deriving the figures failed: {e}")))?;
        if let Ok(mut m) = self.derived.lock() {
            m.insert(environment.clone(), derived.clone());
        }
        Ok(derived)
    }
}

/// Fills in what the engine derives for listed deployments: the commits each
/// shipped with their lead times, the incidents linked to it, and rework.
pub async fn enrich_deployments(
    figures: &Figures,
    store: &Store,
    org: OrgId,
    views: &mut [DeploymentView],
) -> Result<(), ApiError> {
    if views.is_empty() {
        return Ok(());
    }
    let snapshot = figures.snapshot(store, org).await?;
    let mut by_environment: HashMap<String, Arc<Derived>> = HashMap::new();
    for view in views {
        let derived = match by_environment.get(&view.environment) {
            Some(d) => d.clone(),
            None => {
                let env = Environment::from_trusted(view.environment.clone());
                let d = snapshot.derived(&env).await?;
                by_environment.insert(view.environment.clone(), d.clone());
                d
            }
        };
        let Some(found) = derived.deployment(&snapshot.facts, DeploymentId(view.id)) else {
            continue;
        };
        view.rework = found.rework;
        view.shipped = found
            .shipped
            .iter()
            .map(|s| ShippedView {
                repo: s.repo.to_string(),
                sha: s.sha.to_string(),
                committed_at: s.committed_at.map(|t| t.to_string()),
                lead_time_seconds: s.lead_time_seconds,
            })
            .collect();
        view.incidents = found
            .incidents
            .iter()
            .map(|i| IncidentLinkView {
                key: i.key.to_string(),
                link: link_name(i.link).to_owned(),
            })
            .collect();
    }
    Ok(())
}

/// Fills in the deployment each listed incident is linked to (in
/// production, where incidents happen) and how.
pub async fn enrich_incidents(
    figures: &Figures,
    store: &Store,
    org: OrgId,
    views: &mut [IncidentView],
) -> Result<(), ApiError> {
    if views.is_empty() {
        return Ok(());
    }
    let snapshot = figures.snapshot(store, org).await?;
    let derived = snapshot.derived(&Environment::production()).await?;
    for view in views {
        let Some(found) = derived.incident(&snapshot.facts, IncidentId(view.id)) else {
            continue;
        };
        view.deployment = found.deployment.map(|d| DeploymentRefView {
            id: d.id.0,
            external_id: d.external_id.map(|e| e.to_string()),
        });
        view.link = found.link.map(|l| link_name(l).to_owned());
    }
    Ok(())
}

fn link_name(link: LinkKind) -> &'static str {
    match link {
        LinkKind::Explicit => "explicit",
        LinkKind::Time => "time",
    }
}
