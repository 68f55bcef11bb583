//! What every request reads before any work, kept in memory: a token's
//! row (by the hash of its secret), organizations (by id and by name) and
//! each organization's service directory. Without it, every request paid
//! three or four round trips (on SQLite, each one a wake-up of sqlx's
//! worker thread) before doing anything.
//!
//! Invalidation: every store method that changes what is cached bumps the
//! one-row `cache_epoch` in its own transaction and, once committed,
//! clears this process's cache at once. Other processes (the CLI, other
//! instances on one PostgreSQL) see the bump through [`EpochWatch`], which
//! reads the epoch every [`POLL`] and clears the cache when it moved. So a
//! change made elsewhere takes effect here within about 100 ms; reading the
//! epoch on every request instead would be the very round trip the cache
//! removes.
//!
//! Only what exists is cached: an unknown token, organization or name goes
//! to the database every time, so that nothing created elsewhere is ever
//! hidden, and so that callers cannot fill memory with made-up keys.

use crate::orgs::OrgKey;
use crate::{Org, Principal, StoreError, TokenInfo};
use dorado_core::{OrgId, ServiceDirectory, Timestamp, TokenScope};
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::collections::HashMap;
use std::sync::{Mutex as SyncMutex, RwLock, Weak};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{MutexGuard, oneshot};
use tokio::task::JoinHandle;

/// How often another process's changes are looked for: the bound on how
/// long a token revoked elsewhere still works here.
pub(crate) const POLL: Duration = Duration::from_millis(100);
/// Entries of one kind at most; past that the kind starts over. Only rows
/// that exist are cached, so this is a guard, not a working limit.
const MAX_ENTRIES: usize = 100_000;

/// A token's stored row. The secret itself is never known here, only its
/// SHA-256 (the key).
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub(crate) secret_hash: String,
    pub(crate) info: TokenInfo,
}

impl CachedToken {
    /// The principal of a token presented with a secret hashing to
    /// `hash`, at `now`: `None` when revoked or expired. The map (or the
    /// index) found the row by equality; comparing again in constant time
    /// keeps the final decision free of early exits.
    pub(crate) fn principal(&self, hash: &str, now: Timestamp) -> Option<Principal> {
        if !bool::from(self.secret_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return None;
        }
        let info = &self.info;
        if info.revoked_at.is_some() || info.expires_at.is_some_and(|e| e <= now) {
            return None;
        }
        Some(Principal {
            org_id: info.org_id,
            scopes: info.scopes,
            service_id: info.service_id,
            token_id: Some(info.id),
            user_id: None,
            admin: info.scopes.contains(TokenScope::Admin),
        })
    }
}

#[derive(Default)]
struct State {
    /// The last epoch read. Set together with the clear it causes, under
    /// the same lock: whoever finds it current knows the clear is done.
    epoch: i64,
    /// Moves with every clear. A value read from the database is stored
    /// only if no clear happened since the read began, so that a read that
    /// raced a change never puts the old value back.
    generation: u64,
    tokens: HashMap<String, CachedToken>,
    orgs: HashMap<OrgId, Org>,
    org_names: HashMap<String, OrgId>,
    directories: HashMap<OrgId, ServiceDirectory>,
}

/// The cached values. Its lock is never held across an `await`.
pub(crate) struct Cache {
    state: RwLock<State>,
}

/// Taken before a database read whose result may be cached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Cache {
    /// An empty cache, `epoch` being read before anything is cached.
    pub(crate) fn new(epoch: i64) -> Self {
        Self {
            state: RwLock::new(State {
                epoch,
                ..State::default()
            }),
        }
    }

    /// Clears the cache when `epoch` (just read) is not the last one
    /// seen; answers whether it did.
    fn saw_epoch(&self, epoch: i64) -> bool {
        let mut s = self.write();
        let moved = s.epoch != epoch;
        if moved {
            Self::clear_state(&mut s);
            s.epoch = epoch;
        }
        moved
    }

    /// Clears after this process committed the bump to `epoch`.
    fn cleared_for(&self, epoch: i64) {
        let mut s = self.write();
        Self::clear_state(&mut s);
        s.epoch = s.epoch.max(epoch);
    }

    /// Reads the epoch now instead of trusting the last tick: afterwards
    /// the cache holds nothing older than this moment's epoch.
    pub(crate) async fn refresh(&self, pool: &AnyPool) -> Result<(), StoreError> {
        let epoch = read_epoch(pool).await?;
        self.saw_epoch(epoch);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets everything; reads in flight will not store what they find.
    pub(crate) fn clear(&self) {
        Self::clear_state(&mut self.write());
    }

    fn clear_state(s: &mut State) {
        s.generation = s.generation.wrapping_add(1);
        s.tokens.clear();
        s.orgs.clear();
        s.org_names.clear();
        s.directories.clear();
    }

    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.read().generation)
    }

    /// Runs `put` on the state unless it was cleared since `ticket`.
    fn put(&self, ticket: Ticket, put: impl FnOnce(&mut State)) {
        let mut s = self.write();
        if s.generation == ticket.0 {
            put(&mut s);
        }
    }

    pub(crate) fn token(&self, hash: &str) -> Option<CachedToken> {
        self.read().tokens.get(hash).cloned()
    }

    pub(crate) fn put_token(&self, ticket: Ticket, token: CachedToken) {
        self.put(ticket, |s| {
            if s.tokens.len() >= MAX_ENTRIES {
                s.tokens.clear();
            }
            s.tokens.insert(token.secret_hash.clone(), token);
        });
    }

    pub(crate) fn org_by_id(&self, id: OrgId) -> Option<Org> {
        self.read().orgs.get(&id).cloned()
    }

    pub(crate) fn org_by_name(&self, name: &str) -> Option<Org> {
        let s = self.read();
        s.org_names.get(name).and_then(|id| s.orgs.get(id)).cloned()
    }

    pub(crate) fn put_org(&self, ticket: Ticket, org: Org) {
        self.put(ticket, |s| {
            if s.orgs.len() >= MAX_ENTRIES {
                s.orgs.clear();
                s.org_names.clear();
            }
            s.org_names.insert(org.name.as_str().to_owned(), org.id);
            s.orgs.insert(org.id, org);
        });
    }

    pub(crate) fn directory(&self, org: OrgId) -> Option<ServiceDirectory> {
        self.read().directories.get(&org).cloned()
    }

    pub(crate) fn put_directory(&self, ticket: Ticket, org: OrgId, dir: ServiceDirectory) {
        self.put(ticket, |s| {
            if s.directories.len() >= MAX_ENTRIES {
                s.directories.clear();
            }
            s.directories.insert(org, dir);
        });
    }

    /// How many values are held (tokens, organizations, directories), for
    /// the tests.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn len(&self) -> (usize, usize, usize) {
        let s = self.read();
        (s.tokens.len(), s.orgs.len(), s.directories.len())
    }
}

// --- the epoch ---------------------------------------------------------------

pub(crate) async fn read_epoch(pool: &AnyPool) -> Result<i64, StoreError> {
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM cache_epoch")
        .fetch_one(pool)
        .await?;
    Ok(epoch)
}

async fn bump_epoch(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let epoch: i64 = sqlx::query_scalar("UPDATE cache_epoch SET epoch = epoch + 1 RETURNING epoch")
        .fetch_one(conn)
        .await?;
    Ok(epoch)
}

/// A change to something the cache holds: the store's write lock and a
/// write transaction. [`CachedWrite::commit`] bumps the epoch in the same
/// transaction, so that no process can see the change without the bump,
/// and clears this process's cache once it committed.
pub(crate) struct CachedWrite<'a> {
    pub(crate) tx: Transaction<'static, Any>,
    cache: &'a Cache,
    _lock: MutexGuard<'a, ()>,
}

impl<'a> CachedWrite<'a> {
    pub(crate) fn new(
        tx: Transaction<'static, Any>,
        cache: &'a Cache,
        lock: MutexGuard<'a, ()>,
    ) -> Self {
        Self {
            tx,
            cache,
            _lock: lock,
        }
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let epoch = bump_epoch(&mut self.tx).await?;
        let committed = self.tx.commit().await;
        match committed {
            // Every earlier bump committed before this one (the row is
            // locked until commit), so this clear covers them too, and
            // the watch need not clear again for this epoch.
            Ok(()) => self.cache.cleared_for(epoch),
            // Even a failed commit may have committed (a connection lost
            // while the answer was on its way): forgetting costs reloads.
            Err(_) => self.cache.clear(),
        }
        committed.map_err(StoreError::from)
    }
}

/// The task that follows other processes' changes: it reads the epoch
/// every [`POLL`] and clears the cache when it moved (or could not be
/// read: then nothing says the cache is still right). It stops when the
/// store closes, or when the store is dropped.
pub(crate) struct EpochWatch {
    stop: SyncMutex<Option<oneshot::Sender<()>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl EpochWatch {
    pub(crate) fn start(pool: AnyPool, cache: Weak<Cache>) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(watch(pool, cache, stopped));
        Self {
            stop: SyncMutex::new(Some(stop)),
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    /// Stops the task and waits for it.
    pub(crate) async fn close(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.lock().await.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the store's cache watch failed");
        }
    }
}

async fn watch(pool: AnyPool, cache: Weak<Cache>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let read = read_epoch(&pool).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        match read {
            Ok(epoch) => {
                failing = false;
                cache.saw_epoch(epoch);
            }
            Err(e) => {
                cache.clear();
                if !failing {
                    tracing::warn!(error = %e, "could not read the cache epoch: clearing the cache at every tick until it reads again");
                    failing = true;
                }
            }
        }
    }
}

// --- reading through ---------------------------------------------------------

impl Cache {
    /// The principal of a token secret, `None` when unknown, revoked or
    /// expired at `now` (checked on every use, so expiry takes effect at
    /// once). Only the hash of the secret is kept.
    pub(crate) async fn authenticate_token(
        &self,
        pool: &AnyPool,
        secret: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError> {
        let hash = crate::tokens::secret_hash(secret);
        if let Some(token) = self.token(&hash) {
            return Ok(token.principal(&hash, now));
        }
        let ticket = self.ticket();
        let Some(token) = crate::tokens::find_by_hash(pool, &hash).await? else {
            return Ok(None);
        };
        let principal = token.principal(&hash, now);
        self.put_token(ticket, token);
        Ok(principal)
    }

    /// By id (all digits) or by name.
    pub(crate) async fn find_org(
        &self,
        pool: &AnyPool,
        id_or_name: &str,
    ) -> Result<Option<Org>, StoreError> {
        let key = OrgKey::of(id_or_name);
        let cached = match key {
            OrgKey::Id(id) => self.org_by_id(id),
            OrgKey::Name(name) => self.org_by_name(name),
            OrgKey::Nothing => return Ok(None),
        };
        if cached.is_some() {
            return Ok(cached);
        }
        let ticket = self.ticket();
        let found = crate::orgs::find_org(pool, key).await?;
        if let Some(org) = &found {
            self.put_org(ticket, org.clone());
        }
        Ok(found)
    }

    /// The organization's services and aliases.
    pub(crate) async fn service_directory(
        &self,
        pool: &AnyPool,
        org: OrgId,
    ) -> Result<ServiceDirectory, StoreError> {
        if let Some(dir) = self.directory(org) {
            return Ok(dir);
        }
        let ticket = self.ticket();
        let mut conn = pool.acquire().await?;
        let dir = crate::orgs::service_directory(&mut conn, org).await?;
        drop(conn);
        // Callers name organizations they found, so the keys are real ids.
        self.put_directory(ticket, org, dir.clone());
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorado_core::{OrgName, ServiceId, TokenId, TokenScopes};

    fn token(hash: &str, expires_at: Option<Timestamp>) -> CachedToken {
        CachedToken {
            secret_hash: hash.to_owned(),
            info: TokenInfo {
                id: TokenId(1),
                org_id: OrgId(2),
                name: "ci".into(),
                scopes: TokenScopes::DEFAULT,
                service_id: Some(ServiceId(3)),
                expires_at,
                revoked_at: None,
                created_at: Timestamp::from_millis(0).unwrap(),
            },
        }
    }

    #[test]
    fn a_read_that_raced_a_clear_is_not_stored() {
        let cache = Cache::new(0);
        let ticket = cache.ticket();
        // A change commits and clears while the read is in flight.
        cache.clear();
        cache.put_token(ticket, token("h", None));
        assert!(cache.token("h").is_none());
        let ticket = cache.ticket();
        cache.put_token(ticket, token("h", None));
        assert!(cache.token("h").is_some());
    }

    #[test]
    fn only_a_new_epoch_clears() {
        let cache = Cache::new(7);
        let org = Org {
            id: OrgId(2),
            name: OrgName::parse("acme").unwrap(),
            incident_link_window_seconds: None,
            created_at: Timestamp::from_millis(0).unwrap(),
        };
        cache.put_org(cache.ticket(), org.clone());
        assert!(!cache.saw_epoch(7));
        assert_eq!(cache.org_by_name("acme"), Some(org.clone()));
        assert_eq!(cache.org_by_id(OrgId(2)), Some(org));
        assert!(cache.saw_epoch(8));
        assert_eq!(cache.org_by_name("acme"), None);
        assert_eq!(cache.len(), (0, 0, 0));
    }

    #[test]
    fn the_principal_checks_the_hash_revocation_and_expiry() {
        let at = |ms| Timestamp::from_millis(ms).unwrap();
        let t = token("abc", Some(at(1_000)));
        let p = t.principal("abc", at(999)).unwrap();
        assert_eq!(p.token_id, Some(TokenId(1)));
        assert_eq!(p.service_id, Some(ServiceId(3)));
        assert!(!p.admin);
        assert!(t.principal("abd", at(999)).is_none(), "another hash");
        assert!(t.principal("abc", at(1_000)).is_none(), "expired");
        let mut revoked = token("abc", None);
        revoked.info.revoked_at = Some(at(5));
        assert!(revoked.principal("abc", at(1)).is_none());
    }
}
