//! The store's public face: every method hands off to the module that owns
//! its tables.

use crate::cache::{Cache, CachedWrite, EpochWatch};
use crate::writer::Writer;
use crate::{
    Backend, ChangeRecord, DeliveryRecord, DeploymentRecord, IncidentRecord, Ingested, ListQuery,
    NewDelivery, NewSource, NewToken, Org, Page, Principal, ReindexReport, Service, Source,
    StoreError, TokenInfo, UnmappedName, User,
};
use crate::{
    changes, db, deliveries, deployments, incidents, orgs, reindex, sources, tokens, users,
};
use dorado_core::{
    Command, Email, OrgId, OrgName, ServiceDirectory, ServiceId, ServiceName, SourceId, SourceKind,
    Timestamp, TokenId, TokenScopes,
};
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::Mutex;

/// How a store is run.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Writes waiting for the writer beyond the batch it is committing;
    /// past that a write is refused at once with [`StoreError::Overloaded`]
    /// instead of holding its connection.
    pub write_queue: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            write_queue: crate::writer::DEFAULT_QUEUE,
        }
    }
}

/// A handle to the database; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    writer: Writer,
    /// Held by every write of this process (a writer batch, an admin
    /// change, a reindex), so that a long reindex makes the others wait
    /// here instead of failing on SQLite's busy timeout.
    write_lock: Arc<Mutex<()>>,
    /// Tokens, organizations and service directories (see `cache.rs`).
    cache: Arc<Cache>,
    /// Follows other processes' changes to what `cache` holds.
    epoch_watch: EpochWatch,
}

impl Store {
    /// Connects to `sqlite://PATH` (creating the file when missing) or
    /// `postgres://...`, migrates the schema, and starts the writer task.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let (pool, backend) = db::connect(url).await?;
        // Read before anything is cached: a change made after it is seen.
        let epoch = crate::cache::read_epoch(&pool).await?;
        let write_lock = Arc::new(Mutex::new(()));
        let writer = Writer::start(
            pool.clone(),
            backend,
            write_lock.clone(),
            options.write_queue.max(1),
        );
        let cache = Arc::new(Cache::new(epoch));
        let epoch_watch = EpochWatch::start(pool.clone(), Arc::downgrade(&cache));
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                writer,
                write_lock,
                cache,
                epoch_watch,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Answers while the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Stops the writer after the batches in flight, and closes the pool.
    pub async fn close(&self) {
        self.inner.epoch_watch.close().await;
        self.inner.writer.close().await;
        self.inner.pool.close().await;
    }

    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Takes the write lock and begins a change to something the cache
    /// holds; its commit bumps the cache epoch and clears the cache.
    async fn cached_write(&self) -> Result<CachedWrite<'_>, StoreError> {
        let lock = self.inner.write_lock.lock().await;
        let tx = db::begin_write(self.pool(), self.inner.backend).await?;
        Ok(CachedWrite::new(tx, &self.inner.cache, lock))
    }

    /// How many tokens, organizations and service directories are cached.
    #[cfg(feature = "testing")]
    pub fn cached(&self) -> (usize, usize, usize) {
        self.inner.cache.len()
    }

    // --- organizations and services -------------------------------------

    /// `Conflict` when the name is taken.
    pub async fn create_org(&self, name: &OrgName) -> Result<Org, StoreError> {
        let mut w = self.cached_write().await?;
        let org = orgs::create_org(&mut w.tx, name).await?;
        w.commit().await?;
        Ok(org)
    }

    pub async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        orgs::list_orgs(self.pool()).await
    }

    /// By id (all digits) or by name.
    pub async fn find_org(&self, id_or_name: &str) -> Result<Option<Org>, StoreError> {
        self.inner.cache.find_org(self.pool(), id_or_name).await
    }

    /// `None` removes the window.
    pub async fn set_incident_link_window(
        &self,
        org: OrgId,
        seconds: Option<i64>,
    ) -> Result<Org, StoreError> {
        let mut w = self.cached_write().await?;
        let org = orgs::set_incident_link_window(&mut w.tx, org, seconds).await?;
        w.commit().await?;
        Ok(org)
    }

    /// `Conflict` when the organization has a service of that name.
    pub async fn create_service(
        &self,
        org: OrgId,
        name: &ServiceName,
    ) -> Result<Service, StoreError> {
        let mut w = self.cached_write().await?;
        let service = orgs::create_service(&mut w.tx, org, name).await?;
        w.commit().await?;
        Ok(service)
    }

    pub async fn list_services(&self, org: OrgId) -> Result<Vec<Service>, StoreError> {
        orgs::list_services(self.pool(), org).await
    }

    /// Any organization's service by id (DevLake's `{connectionId}` paths).
    pub async fn service_by_id(&self, id: ServiceId) -> Result<Option<Service>, StoreError> {
        orgs::service_by_id(self.pool(), id).await
    }

    /// The organization's services, for a dialect to resolve names.
    pub async fn service_directory(&self, org: OrgId) -> Result<ServiceDirectory, StoreError> {
        self.inner.cache.service_directory(self.pool(), org).await
    }

    /// The directory as of now, for a caller about to refuse a name that
    /// another process may have created within the last 100 ms (the cache
    /// follows other processes at that pace): reads the cache epoch first,
    /// one query on that path only.
    pub async fn fresh_service_directory(
        &self,
        org: OrgId,
    ) -> Result<ServiceDirectory, StoreError> {
        self.inner.cache.refresh(self.pool()).await?;
        self.inner.cache.service_directory(self.pool(), org).await
    }

    /// Adds and removes names by which native sources know the service;
    /// answers the service with its aliases. `Conflict` when an alias is
    /// another service's.
    pub async fn update_aliases(
        &self,
        org: OrgId,
        service: ServiceId,
        add: &[String],
        remove: &[String],
    ) -> Result<Service, StoreError> {
        // All or nothing: a refused alias leaves the others as they were.
        let mut w = self.cached_write().await?;
        for alias in remove {
            sources::remove_alias(&mut w.tx, org, service, alias).await?;
        }
        for alias in add {
            sources::add_alias(&mut w.tx, org, service, alias).await?;
        }
        w.commit().await?;
        self.list_services(org)
            .await?
            .into_iter()
            .find(|s| s.id == service)
            .ok_or_else(|| StoreError::NotFound(format!("service {service}")))
    }

    // --- native sources --------------------------------------------------

    /// A new source and its secret (made here unless given; PagerDuty's
    /// is made by PagerDuty and given later, CDEvents has none).
    pub async fn create_source(
        &self,
        org: OrgId,
        kind: SourceKind,
        name: Option<&str>,
        deploy_workflows: &[String],
        secret: Option<String>,
    ) -> Result<NewSource, StoreError> {
        let _write = self.inner.write_lock.lock().await;
        sources::create(self.pool(), org, kind, name, deploy_workflows, secret).await
    }

    pub async fn list_sources(&self, org: OrgId) -> Result<Vec<Source>, StoreError> {
        sources::list(self.pool(), org).await
    }

    /// A source that is not deleted, by id or name.
    pub async fn find_source(
        &self,
        org: OrgId,
        id_or_name: &str,
    ) -> Result<Option<Source>, StoreError> {
        sources::find(self.pool(), org, id_or_name).await
    }

    /// A source that is not deleted and the secrets a delivery of it may
    /// be signed with at `now`, in one read (the webhook's path).
    pub async fn source_for_delivery(
        &self,
        org: OrgId,
        id_or_name: &str,
        now: Timestamp,
    ) -> Result<Option<(Source, Vec<String>)>, StoreError> {
        sources::for_delivery(self.pool(), org, id_or_name, now).await
    }

    /// Each source's deploy workflows, deleted sources' too (for reindex).
    pub async fn source_configs(
        &self,
        org: OrgId,
    ) -> Result<Vec<(SourceId, Vec<String>)>, StoreError> {
        sources::configs(self.pool(), org).await
    }

    /// A new secret (made here unless given); the old one is accepted for
    /// 24 hours more.
    pub async fn rotate_source(
        &self,
        org: OrgId,
        id: SourceId,
        secret: Option<String>,
    ) -> Result<NewSource, StoreError> {
        let _write = self.inner.write_lock.lock().await;
        sources::rotate(self.pool(), org, id, secret).await
    }

    pub async fn delete_source(&self, org: OrgId, id: SourceId) -> Result<(), StoreError> {
        let _write = self.inner.write_lock.lock().await;
        sources::delete(self.pool(), org, id).await
    }

    /// The source's latest deliveries, newest first, at most `limit`.
    pub async fn recent_deliveries_of_source(
        &self,
        org: OrgId,
        source: SourceId,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        deliveries::recent_of_source(&mut conn, org, source, limit).await
    }

    /// Repositories and vendor services the source named that map to no
    /// service (some may have been mapped since).
    pub async fn unmapped_of_source(
        &self,
        source: SourceId,
    ) -> Result<Vec<UnmappedName>, StoreError> {
        sources::unmapped(self.pool(), source).await
    }

    // --- tokens and users ------------------------------------------------

    pub async fn create_token(
        &self,
        org: OrgId,
        name: &str,
        scopes: TokenScopes,
        expires_at: Option<Timestamp>,
        service: Option<ServiceId>,
    ) -> Result<NewToken, StoreError> {
        let mut w = self.cached_write().await?;
        let token = tokens::create_token(&mut w.tx, org, name, scopes, expires_at, service).await?;
        w.commit().await?;
        Ok(token)
    }

    pub async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenInfo>, StoreError> {
        tokens::list_tokens(self.pool(), org).await
    }

    /// `NotFound` when the organization has no such token.
    pub async fn revoke_token(&self, org: OrgId, id: TokenId) -> Result<TokenInfo, StoreError> {
        let mut w = self.cached_write().await?;
        let info = tokens::revoke_token(&mut w.tx, org, id).await?;
        w.commit().await?;
        Ok(info)
    }

    /// `None` for an unknown, expired or revoked token.
    pub async fn authenticate_token(
        &self,
        secret: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError> {
        self.inner
            .cache
            .authenticate_token(self.pool(), secret, now)
            .await
    }

    /// `Conflict` when the email is taken.
    pub async fn create_user(
        &self,
        org: OrgId,
        email: &Email,
        password: &str,
        admin: bool,
    ) -> Result<User, StoreError> {
        // Hash before taking the lock: it is the slow part.
        let hash = users::hash_password(password).await?;
        let _write = self.inner.write_lock.lock().await;
        users::create_user(self.pool(), org, email, &hash, admin).await
    }

    /// `None` for an unknown email or a wrong password.
    pub async fn authenticate_user(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<(User, Principal)>, StoreError> {
        users::authenticate_user(self.pool(), email, password).await
    }

    // --- writes ----------------------------------------------------------

    /// Stores one request's commands and its delivery, all or nothing, and
    /// answers after the durable commit.
    pub async fn ingest(
        &self,
        delivery: NewDelivery,
        commands: Vec<Command>,
    ) -> Result<Ingested, StoreError> {
        self.inner.writer.ingest(delivery, commands).await
    }

    /// Writes these requests as one batch of the writer, at once: how tests
    /// choose the size of a batch, which the queue decides otherwise.
    #[cfg(feature = "testing")]
    pub async fn ingest_batch(
        &self,
        requests: Vec<(NewDelivery, Vec<Command>)>,
    ) -> Vec<Result<Ingested, StoreError>> {
        let inner = &self.inner;
        crate::writer::write_batch(&inner.pool, inner.backend, &inner.write_lock, requests).await
    }

    /// Logs a refused request and why (nothing else is stored).
    pub async fn record_refused(
        &self,
        delivery: NewDelivery,
        status: u16,
        reason: &str,
    ) -> Result<(), StoreError> {
        let result = self.inner.writer.refused(delivery, status, reason).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "could not log a refused request");
        }
        result
    }

    /// `dorado import`'s bulk path into `org`: each chunk becomes a
    /// delivery with the rows the writer would make of its lines. Every
    /// commit holds the write lock: the writer's batches wait meanwhile.
    pub async fn importer(&self, org: OrgId) -> Result<crate::Importer, StoreError> {
        let inner = &self.inner;
        crate::import::Importer::open(&inner.pool, inner.backend, org, inner.write_lock.clone())
            .await
    }

    /// After a bulk load, tells PostgreSQL's planner how large the fact
    /// tables have grown. Its statistics otherwise still describe the
    /// tables before the load until autovacuum comes round, and with them
    /// it reads a whole table to find one service's rows (0.5 s instead of
    /// 5 ms per reload). SQLite keeps no statistics unless asked to and
    /// plans from its indexes alone, so it needs nothing.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if self.inner.backend == Backend::Postgres {
            sqlx::query(
                "ANALYZE deployments, deployment_commits, changes, change_parents, incidents",
            )
            .execute(&self.inner.pool)
            .await?;
        }
        Ok(())
    }

    // --- reads -----------------------------------------------------------

    pub async fn list_deployments(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<DeploymentRecord>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        deployments::list(&mut conn, org, q).await
    }

    /// How many deployments the organization has (the benchmarks check
    /// their answers against it).
    pub async fn count_deployments(&self, org: OrgId) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deployments WHERE org_id = $1")
            .bind(org.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    pub async fn list_incidents(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<IncidentRecord>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        incidents::list(&mut conn, org, q).await
    }

    pub async fn list_changes(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<ChangeRecord>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        changes::list(&mut conn, org, q).await
    }

    pub async fn list_deliveries(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<DeliveryRecord>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        deliveries::list(&mut conn, org, q).await
    }

    // --- maintenance -----------------------------------------------------

    /// Rebuilds the organization's deployments, changes and incidents from
    /// its delivery log, in delivery order, in one transaction. `parse`
    /// reads a delivery with the current rules.
    pub async fn reindex<F>(&self, org: OrgId, parse: F) -> Result<ReindexReport, StoreError>
    where
        F: FnMut(&DeliveryRecord, &ServiceDirectory) -> Result<Vec<Command>, String> + Send,
    {
        let _write = self.inner.write_lock.lock().await;
        reindex::run(self.pool(), self.inner.backend, org, parse).await
    }

    // --- figures ---------------------------------------------------------

    /// A number that changes with every committed change to the
    /// organization's data or settings (on every instance sharing the
    /// database): derived figures are current while it stays the same.
    pub async fn data_version(&self, org: OrgId) -> Result<i64, StoreError> {
        crate::orgs::data_version(self.pool(), org).await
    }

    /// Everything of the organization that the DORA engine reads, and the
    /// data version it is a snapshot of.
    pub async fn load_facts(
        &self,
        org: OrgId,
    ) -> Result<(dorado_core::engine::Facts, i64), StoreError> {
        crate::facts::load(self.pool(), self.inner.backend, org).await
    }

    /// The facts of one part of the organization (see [`FactScope`]), and
    /// the data version read with them.
    pub async fn load_facts_of(
        &self,
        org: OrgId,
        scope: crate::FactScope,
    ) -> Result<(dorado_core::engine::Facts, i64), StoreError> {
        crate::facts::load_part(self.pool(), self.inner.backend, org, scope).await
    }

    /// The commit graph of one repository of the organization.
    pub async fn load_changes_of(
        &self,
        org: OrgId,
        repo: &dorado_core::RepoKey,
    ) -> Result<Vec<dorado_core::engine::ChangeFact>, StoreError> {
        crate::facts::load_changes_of(self.pool(), self.inner.backend, org, repo).await
    }

    /// What the writes committed after data version `since` touched.
    pub async fn touched_since(
        &self,
        org: OrgId,
        since: i64,
    ) -> Result<crate::Touched, StoreError> {
        crate::versions::touched_since(self.pool(), org, since).await
    }
}
