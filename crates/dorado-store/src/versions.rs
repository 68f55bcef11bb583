//! The organization's data version, and which parts of its history each
//! version touched.
//!
//! Every committed write bumps `organizations.data_version` and stamps the
//! scopes it touched with the new version in `fact_versions`. An instance
//! that derived figures at version `v` asks which scopes carry a version
//! above `v` and reloads only those: a deployment posted to one service of
//! a thousand costs that service's history, not the organization's.
//!
//! The bump is an `UPDATE` of the organization's row, which PostgreSQL
//! holds locked until the commit: writes to one organization commit in
//! version order on every instance, so no reader can see version `v + 1`
//! committed while `v`'s scopes are still to come.

use crate::StoreError;
use crate::model::Written;
use dorado_core::{Command, OrgId, RepoKey, ServiceId};
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::BTreeSet;

/// What one or more writes touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Everything may have changed (a reindex, a settings change).
    pub all: bool,
    /// Incidents without a service.
    pub org_incidents: bool,
    /// Deployments or incidents of these services.
    pub services: BTreeSet<ServiceId>,
    /// The commit graphs of these repositories.
    pub repos: BTreeSet<RepoKey>,
}

impl Touched {
    pub fn everything() -> Self {
        Touched {
            all: true,
            ..Touched::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && !self.org_incidents && self.services.is_empty() && self.repos.is_empty()
    }

    /// Records what `command` wrote, as its `written` says.
    pub(crate) fn record(&mut self, command: &Command, written: &Written) {
        match (command, written) {
            (_, Written::Deployment { service_id, .. }) => {
                self.services.insert(*service_id);
            }
            (_, Written::Incident { service_id, .. }) => self.incident(*service_id),
            (_, Written::Changes { repo_key, .. }) => {
                self.repos.insert(repo_key.clone());
            }
            (Command::PipelineTask(t), _) => {
                self.services.insert(t.service);
            }
            (Command::FinishPipeline(f), _) => {
                self.services.insert(f.service);
            }
            // A task or a pipeline written by another command: none is.
            _ => self.all = true,
        }
    }

    /// Records what `command` will write, from the command alone; an
    /// incident resolved by key alone may belong to any service.
    pub(crate) fn record_command(&mut self, command: &Command) {
        match command {
            Command::Deployment(d) => {
                self.services.insert(d.service);
            }
            Command::Changes(b) => {
                self.repos.insert(b.repo_key.clone());
            }
            Command::Incident(i) => self.incident(i.service),
            Command::ResolveIncident(r) => match r.service {
                Some(s) => {
                    self.services.insert(s);
                }
                None => self.all = true,
            },
            Command::PipelineTask(t) => {
                self.services.insert(t.service);
            }
            Command::FinishPipeline(f) => {
                self.services.insert(f.service);
            }
        }
    }

    fn incident(&mut self, service: Option<ServiceId>) {
        match service {
            Some(s) => {
                self.services.insert(s);
            }
            None => self.org_incidents = true,
        }
    }

    pub fn merge(&mut self, other: Touched) {
        self.all |= other.all;
        self.org_incidents |= other.org_incidents;
        self.services.extend(other.services);
        self.repos.extend(other.repos);
    }

    fn scopes(&self) -> Vec<String> {
        if self.all {
            return vec!["all".to_owned()];
        }
        let mut scopes: Vec<String> = Vec::new();
        if self.org_incidents {
            scopes.push("org".to_owned());
        }
        scopes.extend(self.services.iter().map(|s| format!("service:{}", s.0)));
        scopes.extend(self.repos.iter().map(|r| format!("repo:{r}")));
        scopes
    }

    fn add_scope(&mut self, scope: &str) {
        if scope == "all" {
            self.all = true;
        } else if scope == "org" {
            self.org_incidents = true;
        } else if let Some(id) = scope.strip_prefix("service:").and_then(|s| s.parse().ok()) {
            self.services.insert(ServiceId(id));
        } else if let Some(key) = scope.strip_prefix("repo:") {
            self.repos.insert(RepoKey::from_trusted(key));
        } else {
            // Written by a later version of Dorado: be safe, reload it all.
            self.all = true;
        }
    }
}

/// Bumps the organization's data version and stamps what was touched with
/// it; runs inside the write's transaction. Answers the new version.
pub(crate) async fn bump(
    conn: &mut AnyConnection,
    org: OrgId,
    touched: &Touched,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "UPDATE organizations SET data_version = data_version + 1 WHERE id = $1
         RETURNING data_version",
    )
    .bind(org.0)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("organization {org}")))?;
    let version: i64 = row.try_get(0)?;
    stamp(conn, org, version, touched).await?;
    Ok(version)
}

/// Stamps `touched` with `version`, the data version just set.
pub(crate) async fn stamp(
    conn: &mut AnyConnection,
    org: OrgId,
    version: i64,
    touched: &Touched,
) -> Result<(), StoreError> {
    for scope in touched.scopes() {
        sqlx::query(
            "INSERT INTO fact_versions (org_id, scope, version) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, scope) DO UPDATE SET version = excluded.version",
        )
        .bind(org.0)
        .bind(scope)
        .bind(version)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What the writes after data version `since` touched.
pub(crate) async fn touched_since(
    pool: &AnyPool,
    org: OrgId,
    since: i64,
) -> Result<Touched, StoreError> {
    let rows = sqlx::query("SELECT scope FROM fact_versions WHERE org_id = $1 AND version > $2")
        .bind(org.0)
        .bind(since)
        .fetch_all(pool)
        .await?;
    let mut touched = Touched::default();
    for row in &rows {
        touched.add_scope(row.try_get::<&str, _>(0)?);
    }
    Ok(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_back_as_written() {
        let mut t = Touched {
            org_incidents: true,
            ..Default::default()
        };
        t.services.insert(ServiceId(7));
        t.services.insert(ServiceId(12));
        t.repos
            .insert(RepoKey::parse("github.com/acme/o'brien").expect("a key"));
        let mut back = Touched::default();
        for s in t.scopes() {
            back.add_scope(&s);
        }
        assert_eq!(back, t);
        let mut all = Touched::default();
        for s in Touched::everything().scopes() {
            all.add_scope(&s);
        }
        assert!(all.all);
        let mut unknown = Touched::default();
        unknown.add_scope("team:3");
        assert!(unknown.all);
    }
}
