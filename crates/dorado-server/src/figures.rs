//! The DORA figures of an organization, computed by `dorado_core::engine`
//! from what the store holds, and kept up to date one service at a time.
//!
//! Deriving (commit walks, incident links) reads a service's whole history,
//! so what is derived is kept, per service (a part, see
//! [`Facts::split_by_service`]). The store bumps the organization's data
//! version with every committed write on any instance sharing the database,
//! and records which services, repositories and service-less incidents the
//! write touched. A request reads the version (one indexed row); when it
//! moved, the parts the writes touched are reloaded and derived again, and
//! every other part is reused as it is. A report over any window then
//! reads the derived parts only.
//!
//! The whole organization is loaded at once the first time (and after a
//! reindex, a settings change, or writes touching most of it): a server
//! warms every organization up when it starts ([`Figures::warm_up`]).

use crate::error::ApiError;
use crate::views::{
    DeploymentRefView, DeploymentView, IncidentLinkView, IncidentView, ShippedView,
};
use dorado_core::engine::{
    Bucket, Derived, DoraReport, Facts, LinkKind, Query, SeriesBucket, derive, report_parts,
    series_parts,
};
use dorado_core::{DeploymentId, Environment, IncidentId, OrgId, RepoKey, Scope, ServiceId};
use dorado_store::{FactScope, Store, Touched};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A service (`Some`) or the organization's incidents without one (`None`).
type PartKey = Option<ServiceId>;

/// Above this share of touched parts, one load of the whole organization is
/// cheaper than loading the parts one by one.
const WHOLE_RELOAD_SHARE: usize = 4;
const FEW_PARTS: usize = 16;

/// One part's facts and what was derived from them for each environment
/// asked for; shared by every snapshot until a write touches the part.
pub struct Part {
    facts: Facts,
    repos: BTreeSet<RepoKey>,
    derived: Mutex<HashMap<Environment, Arc<Derived>>>,
}

impl Part {
    fn new(facts: Facts) -> Arc<Part> {
        Arc::new(Part {
            repos: facts.deployed_repos(),
            facts,
            derived: Mutex::new(HashMap::new()),
        })
    }

    fn derived(&self, environment: &Environment) -> Option<Arc<Derived>> {
        self.derived.lock().ok()?.get(environment).cloned()
    }
}

/// One version of an organization's facts, in parts.
pub struct Snapshot {
    pub version: i64,
    parts: BTreeMap<PartKey, Arc<Part>>,
    derivations: Mutex<HashMap<Environment, Arc<Derivation>>>,
    /// One derivation at a time: two requests after a write wait for one
    /// derivation instead of doing it twice.
    deriving: tokio::sync::Mutex<()>,
}

/// Every part of a snapshot derived for one environment.
pub struct Derivation {
    parts: Vec<(Arc<Part>, Arc<Derived>)>,
    index: HashMap<PartKey, usize>,
}

#[derive(Default)]
pub struct Figures {
    snapshots: Mutex<HashMap<OrgId, Arc<Snapshot>>>,
    /// One refresh at a time, so that a burst of requests after a write
    /// loads the touched parts once.
    refreshing: tokio::sync::Mutex<()>,
    warm: AtomicBool,
}

impl Figures {
    /// The current snapshot of `org`, reloading what writes touched since
    /// the snapshot this instance holds.
    pub async fn snapshot(&self, store: &Store, org: OrgId) -> Result<Arc<Snapshot>, ApiError> {
        let version = store.data_version(org).await?;
        if let Some(s) = self.cached(org)
            && s.version >= version
        {
            return Ok(s);
        }
        let _one = self.refreshing.lock().await;
        let cached = self.cached(org);
        let snapshot = match cached {
            Some(s) if s.version >= version => return Ok(s),
            Some(old) => {
                let touched = store.touched_since(org, old.version).await?;
                match touched_parts(&old, &touched) {
                    Some(keys) => {
                        let repos = &touched.repos;
                        Arc::new(reload_parts(store, org, &old, keys, repos, version).await?)
                    }
                    None => Arc::new(load_whole(store, org).await?),
                }
            }
            None => Arc::new(load_whole(store, org).await?),
        };
        if let Ok(mut all) = self.snapshots.lock() {
            all.insert(org, snapshot.clone());
        }
        Ok(snapshot)
    }

    fn cached(&self, org: OrgId) -> Option<Arc<Snapshot>> {
        self.snapshots.lock().ok()?.get(&org).cloned()
    }

    /// Loads and derives (in production) every organization, so that the
    /// first questions are answered from memory; `/readyz` answers 503
    /// until this is done.
    pub async fn warm_up(&self, store: &Store) {
        let started = std::time::Instant::now();
        match store.list_orgs().await {
            Ok(orgs) => {
                for org in orgs {
                    let warmed = async {
                        let s = self.snapshot(store, org.id).await?;
                        s.derived(&Environment::production()).await?;
                        Ok::<_, ApiError>(())
                    };
                    if let Err(e) = warmed.await {
                        tracing::warn!(org = %org.name, error = %e, "warming the figures up failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "warming the figures up failed"),
        }
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "figures warmed up"
        );
        self.warm.store(true, Ordering::Release);
    }

    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }
}

/// The parts the writes touched, or `None` when the whole organization is
/// to be loaded again.
fn touched_parts(old: &Snapshot, touched: &Touched) -> Option<BTreeSet<PartKey>> {
    if touched.all {
        return None;
    }
    let mut keys: BTreeSet<PartKey> = touched.services.iter().map(|s| Some(*s)).collect();
    if touched.org_incidents {
        keys.insert(None);
    }
    if !touched.repos.is_empty() {
        for (key, part) in &old.parts {
            if !part.repos.is_disjoint(&touched.repos) {
                keys.insert(*key);
            }
        }
    }
    let many = keys.len() > FEW_PARTS && keys.len() * WHOLE_RELOAD_SHARE > old.parts.len();
    (!many).then_some(keys)
}

async fn load_whole(store: &Store, org: OrgId) -> Result<Snapshot, ApiError> {
    let (facts, version) = store.load_facts(org).await?;
    let parts = tokio::task::spawn_blocking(move || {
        facts
            .split_by_service()
            .into_iter()
            .map(|(key, facts)| (key, Part::new(facts)))
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("splitting the facts failed: {e}")))?;
    Ok(Snapshot::new(version, parts))
}

/// `old` with the parts in `keys` loaded again. A commit graph is read
/// again only when a write touched it or the part did not hold it: a new
/// deployment costs its service's deployments and incidents, not the
/// thousands of commits of its repositories. `version` was read before the
/// parts, so a write committed meanwhile is reloaded again next time.
async fn reload_parts(
    store: &Store,
    org: OrgId,
    old: &Snapshot,
    keys: BTreeSet<PartKey>,
    touched_repos: &BTreeSet<RepoKey>,
    version: i64,
) -> Result<Snapshot, ApiError> {
    let mut parts = old.parts.clone();
    for key in keys {
        let scope = match key {
            Some(s) => FactScope::Service(s),
            None => FactScope::OrgIncidents,
        };
        let (mut facts, _) = store.load_facts_of(org, scope).await?;
        if facts.deployments.is_empty() && facts.incidents.is_empty() {
            parts.remove(&key);
            continue;
        }
        let before = old.parts.get(&key);
        for repo in facts.deployed_repos() {
            match before {
                Some(p) if p.repos.contains(&repo) && !touched_repos.contains(&repo) => {
                    facts.changes.extend(
                        p.facts
                            .changes
                            .iter()
                            .filter(|c| c.repo_key == repo)
                            .cloned(),
                    )
                }
                _ => facts
                    .changes
                    .extend(store.load_changes_of(org, &repo).await?),
            }
        }
        parts.insert(key, Part::new(facts));
    }
    Ok(Snapshot::new(version, parts))
}

impl Snapshot {
    fn new(version: i64, parts: BTreeMap<PartKey, Arc<Part>>) -> Snapshot {
        Snapshot {
            version,
            parts,
            derivations: Mutex::new(HashMap::new()),
            deriving: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether any deployment was ever stored, in the organization or in
    /// one service.
    pub fn has_deployments(&self, service: Option<ServiceId>) -> bool {
        match service {
            Some(s) => self
                .parts
                .get(&Some(s))
                .is_some_and(|p| !p.facts.deployments.is_empty()),
            None => self.parts.values().any(|p| !p.facts.deployments.is_empty()),
        }
    }

    /// Every part derived for `environment`: the parts derived before are
    /// reused, the others derived on blocking threads, one per core.
    pub async fn derived(&self, environment: &Environment) -> Result<Arc<Derivation>, ApiError> {
        if let Some(d) = self.derivation(environment) {
            return Ok(d);
        }
        let _one = self.deriving.lock().await;
        if let Some(d) = self.derivation(environment) {
            return Ok(d);
        }
        let missing: Vec<Arc<Part>> = self
            .parts
            .values()
            .filter(|p| p.derived(environment).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            let env = environment.clone();
            tokio::task::spawn_blocking(move || derive_parts(&missing, &env))
                .await
                .map_err(|e| ApiError::Internal(format!("deriving the figures failed: {e}")))?;
        }
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut index = HashMap::with_capacity(self.parts.len());
        for (key, part) in &self.parts {
            let derived = part
                .derived(environment)
                .ok_or_else(|| ApiError::Internal("a part was not derived".into()))?;
            index.insert(*key, parts.len());
            parts.push((part.clone(), derived));
        }
        let derivation = Arc::new(Derivation { parts, index });
        if let Ok(mut m) = self.derivations.lock() {
            m.insert(environment.clone(), derivation.clone());
        }
        Ok(derivation)
    }

    fn derivation(&self, environment: &Environment) -> Option<Arc<Derivation>> {
        self.derivations.lock().ok()?.get(environment).cloned()
    }
}

/// Derives `parts` on as many threads as there are cores.
fn derive_parts(parts: &[Arc<Part>], environment: &Environment) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = parts.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for chunk in parts.chunks(per_thread) {
            scope.spawn(move || {
                for part in chunk {
                    let derived = Arc::new(derive(&part.facts, environment));
                    if let Ok(mut m) = part.derived.lock() {
                        m.insert(environment.clone(), derived);
                    }
                }
            });
        }
    });
}

impl Derivation {
    /// The parts a question about `scope` reads.
    fn chosen(&self, scope: Scope) -> Vec<(&Facts, &Derived)> {
        fn pair((p, d): &(Arc<Part>, Arc<Derived>)) -> (&Facts, &Derived) {
            (&p.facts, d)
        }
        match scope {
            Scope::Organization => self.parts.iter().map(pair).collect(),
            Scope::Service(s) => self.part(Some(s)).into_iter().map(pair).collect(),
        }
    }

    fn part(&self, key: PartKey) -> Option<&(Arc<Part>, Arc<Derived>)> {
        self.index.get(&key).map(|&i| &self.parts[i])
    }

    pub fn report(&self, q: &Query) -> DoraReport {
        report_parts(&self.chosen(q.scope), q)
    }

    pub fn series(&self, q: &Query, bucket: Bucket) -> Vec<SeriesBucket> {
        series_parts(&self.chosen(q.scope), q, bucket)
    }

    /// [`Derivation::report`] on a blocking thread: a year of a large
    /// organization is milliseconds of CPU, which an async worker should
    /// spend serving other requests.
    pub async fn report_blocking(self: Arc<Self>, q: Query) -> Result<DoraReport, ApiError> {
        self.on_blocking_thread(move |d| d.report(&q)).await
    }

    /// [`Derivation::series`] on a blocking thread, as
    /// [`Derivation::report_blocking`].
    pub async fn series_blocking(
        self: Arc<Self>,
        q: Query,
        bucket: Bucket,
    ) -> Result<Vec<SeriesBucket>, ApiError> {
        self.on_blocking_thread(move |d| d.series(&q, bucket)).await
    }

    async fn on_blocking_thread<T: Send + 'static>(
        self: Arc<Self>,
        compute: impl FnOnce(&Derivation) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(move || compute(&self))
            .await
            .map_err(|e| ApiError::Internal(format!("computing the figures failed: {e}")))
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
    let mut by_environment: HashMap<String, Arc<Derivation>> = HashMap::new();
    for view in views {
        let derivation = match by_environment.get(&view.environment) {
            Some(d) => d.clone(),
            None => {
                let env = Environment::from_trusted(view.environment.clone());
                let d = snapshot.derived(&env).await?;
                by_environment.insert(view.environment.clone(), d.clone());
                d
            }
        };
        let Some((part, derived)) = derivation.part(Some(ServiceId(view.service_id))) else {
            continue;
        };
        let Some(found) = derived.deployment(&part.facts, DeploymentId(view.id)) else {
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
    let derivation = snapshot.derived(&Environment::production()).await?;
    for view in views {
        let Some((part, derived)) = derivation.part(view.service_id.map(ServiceId)) else {
            continue;
        };
        let Some(found) = derived.incident(&part.facts, IncidentId(view.id)) else {
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
