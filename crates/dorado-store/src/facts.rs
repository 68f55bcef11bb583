//! Everything the DORA engine needs of one organization, read in one
//! consistent snapshot (one transaction) together with the data version it
//! belongs to.
//!
//! An organization with a year of history has millions of rows, and the
//! driver's cost per row (a row handed from SQLite's thread, then turned
//! into an `AnyRow` of owned values) is far above the database's own: read
//! row by row, a million commits took several seconds. So the database packs
//! each page of rows into one text value (fields joined by the ASCII unit
//! separator, rows by the record separator, neither of which a stored name,
//! key or sha can hold: they are control characters, refused on the way in)
//! and the rows are split here. Pages follow the primary key, which both
//! databases scan in order without sorting.

use crate::db::corrupt;
use crate::{Backend, StoreError};
use dorado_core::engine::{ChangeFact, DeploymentFact, Facts, IncidentFact};
use dorado_core::{
    DeployResult, DeploymentId, DeploymentKind, Environment, ExternalId, IncidentCause, IncidentId,
    IncidentKey, MergedRequest, OrgId, RepoKey, ServiceId, Sha, ShippedCommit, Timestamp,
};
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::HashMap;

/// Rows per page: a few megabytes of text.
const PAGE: i64 = 50_000;
const UNIT: char = '\u{1f}';
const RECORD: char = '\u{1e}';

pub(crate) async fn load(
    pool: &AnyPool,
    backend: Backend,
    org: OrgId,
) -> Result<(Facts, i64), StoreError> {
    load_part(pool, backend, org, FactScope::Whole).await
}

/// Which of the organization's rows a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactScope {
    /// Everything.
    Whole,
    /// One service's deployments and incidents; with the commit graphs of
    /// the repositories it deployed ([`load_changes_of`]), all that its
    /// figures depend on.
    Service(ServiceId),
    /// The incidents without a service.
    OrgIncidents,
}

/// The facts of `part`, and the data version read in the same snapshot.
pub(crate) async fn load_part(
    pool: &AnyPool,
    backend: Backend,
    org: OrgId,
    part: FactScope,
) -> Result<(Facts, i64), StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT data_version, incident_link_window_seconds FROM organizations WHERE id = $1",
    )
    .bind(org.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("organization {org}")))?;
    let version: i64 = row.try_get("data_version")?;
    let link_window_seconds: Option<i64> = row.try_get("incident_link_window_seconds")?;
    let reader = Reader { backend, org };
    let deployments = match part {
        FactScope::OrgIncidents => Vec::new(),
        _ => reader.deployments(&mut tx, part).await?,
    };
    let changes = match part {
        FactScope::Whole => reader.changes(&mut tx, None).await?,
        FactScope::Service(_) | FactScope::OrgIncidents => Vec::new(),
    };
    let incidents = reader.incidents(&mut tx, part).await?;
    tx.commit().await?;
    let facts = Facts {
        deployments,
        changes,
        incidents,
        link_window_seconds,
    };
    Ok((facts, version))
}

/// The commit graph of one repository of the organization.
pub(crate) async fn load_changes_of(
    pool: &AnyPool,
    backend: Backend,
    org: OrgId,
    repo: &RepoKey,
) -> Result<Vec<ChangeFact>, StoreError> {
    let mut conn = pool.acquire().await?;
    Reader { backend, org }
        .changes(&mut conn, Some(repo.as_str()))
        .await
}

struct Reader {
    backend: Backend,
    org: OrgId,
}

/// A column as text: `Int` and `OptInt` are numbers (empty for NULL),
/// `Text` is text, `OptText` is `=` and the text, or empty for NULL.
enum Col {
    Int(&'static str),
    OptInt(&'static str),
    Text(&'static str),
    OptText(&'static str),
}

impl Reader {
    /// Calls `each` with the fields of every row of `FROM {from} WHERE
    /// {filter}` (`{org}` is the organization, `{with}` the text `with`),
    /// in `key` order.
    #[allow(clippy::too_many_arguments)]
    async fn pages(
        &self,
        conn: &mut AnyConnection,
        key: &str,
        cols: &[Col],
        from: &str,
        filter: &str,
        with: Option<&str>,
        mut each: impl FnMut(&[&str]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // SQLite numbers `$name` parameters by first appearance, so it is
        // given its own numbered form.
        let (sep, agg, p) = match self.backend {
            Backend::Sqlite => (
                "char(31)",
                "group_concat(r, char(30))",
                ["?1", "?2", "?3", "?4"],
            ),
            Backend::Postgres => (
                "chr(31)",
                "string_agg(r, chr(30))",
                ["$1", "$2", "$3", "$4"],
            ),
        };
        let filter = filter.replace("{org}", p[0]).replace("{with}", p[3]);
        let fields: Vec<String> = cols
            .iter()
            .map(|c| match c {
                Col::Int(x) => format!("CAST({x} AS TEXT)"),
                Col::OptInt(x) => format!("COALESCE(CAST({x} AS TEXT), '')"),
                Col::Text(x) => (*x).to_owned(),
                Col::OptText(x) => format!("COALESCE('=' || {x}, '')"),
            })
            .collect();
        let sql = format!(
            "SELECT CAST(count(*) AS BIGINT), max(k), {agg} FROM (
                 SELECT {key} AS k, {row} AS r FROM {from}
                 WHERE {filter} AND {key} > {after} ORDER BY {key} LIMIT {limit}) page",
            row = fields.join(&format!(" || {sep} || ")),
            after = p[1],
            limit = p[2],
        );
        let mut after = 0i64;
        loop {
            // Only placeholders carry values: the text holds no input.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(self.org.0)
                .bind(after)
                .bind(PAGE);
            if let Some(text) = with {
                query = query.bind(text);
            }
            let row = query.fetch_one(&mut *conn).await?;
            let n: i64 = row.try_get(0)?;
            if n == 0 {
                return Ok(());
            }
            after = row.try_get(1)?;
            let text: &str = row.try_get(2)?;
            let mut fields = Vec::with_capacity(cols.len());
            for record in text.split(RECORD) {
                fields.clear();
                fields.extend(record.split(UNIT));
                if fields.len() != cols.len() {
                    return Err(corrupt(format!("a packed row of {from}: {record}")));
                }
                each(&fields)?;
            }
            if n < PAGE {
                return Ok(());
            }
        }
    }

    async fn deployments(
        &self,
        conn: &mut AnyConnection,
        part: FactScope,
    ) -> Result<Vec<DeploymentFact>, StoreError> {
        // `+` keeps SQLite from reading the organization's index and then
        // sorting by key: the table's own order is the page order. One
        // service's rows are few: its index alone finds them (given the
        // organization's index too, PostgreSQL reads all of it to AND the
        // two).
        let (joined, own) = match part {
            FactScope::Service(s) => (
                format!("d.service_id = {} AND +d.org_id = {{org}}", s.0),
                format!("service_id = {} AND +org_id = {{org}}", s.0),
            ),
            _ => ("+d.org_id = {org}".to_owned(), "+org_id = {org}".to_owned()),
        };
        let mut commits: Vec<(i64, i64, RepoKey, Sha)> = Vec::new();
        let mut repos = Interned::default();
        self.pages(
            conn,
            "c.id",
            &[
                Col::Int("c.deployment_id"),
                Col::Int("c.ord"),
                Col::Text("c.repo_key"),
                Col::Text("c.sha"),
            ],
            "deployment_commits c JOIN deployments d ON d.id = c.deployment_id",
            &joined,
            None,
            |f| {
                commits.push((
                    int(f[0])?,
                    int(f[1])?,
                    repos.get(f[2]),
                    Sha::from_trusted(f[3]),
                ));
                Ok(())
            },
        )
        .await?;
        commits.sort_unstable_by_key(|c| (c.0, c.1));

        let mut deployments = Vec::new();
        self.pages(
            conn,
            "id",
            &[
                Col::Int("id"),
                Col::OptText("external_id"),
                Col::Int("service_id"),
                Col::Text("environment"),
                Col::Text("result"),
                Col::OptInt("finished_at"),
                Col::OptText("shipped"),
                Col::Text("kind"),
                Col::Int("rework"),
                Col::OptInt("lead_time_seconds"),
            ],
            "deployments",
            &own,
            None,
            |f| {
                let shipped = opt_text(f[6])
                    .map(serde_json::from_str::<Vec<ShippedCommit>>)
                    .transpose()
                    .map_err(|e| corrupt(format!("deployments.shipped: {e}")))?
                    .map(|list| {
                        list.into_iter()
                            .map(|c| (c.repo_key, c.sha, c.committed_at))
                            .collect()
                    });
                deployments.push(DeploymentFact {
                    id: DeploymentId(int(f[0])?),
                    external_id: opt_text(f[1]).map(ExternalId::from_trusted),
                    service_id: ServiceId(int(f[2])?),
                    environment: Environment::from_trusted(f[3]),
                    result: DeployResult::parse(f[4]).map_err(corrupt)?,
                    finished_at: opt_time(f[5])?,
                    commits: Vec::new(),
                    shipped,
                    kind: DeploymentKind::parse(f[7]).map_err(corrupt)?,
                    rework: int(f[8])? != 0,
                    lead_time_seconds: opt_int(f[9])?,
                });
                Ok(())
            },
        )
        .await?;
        deployments.sort_unstable_by_key(|d| d.id);
        // Both are in deployment order now: one merging pass.
        let mut commits = commits.into_iter().peekable();
        for d in &mut deployments {
            while let Some(c) = commits.next_if(|c| c.0 <= d.id.0) {
                if c.0 == d.id.0 {
                    d.commits.push((c.2, c.3));
                }
            }
        }
        Ok(deployments)
    }

    /// The organization's changes, or one repository's.
    async fn changes(
        &self,
        conn: &mut AnyConnection,
        repo: Option<&str>,
    ) -> Result<Vec<ChangeFact>, StoreError> {
        let filter = match repo {
            Some(_) => "org_id = {org} AND repo_key = {with}",
            None => "+org_id = {org}",
        };
        let mut repos = Interned::default();
        // (repository, sha) of each change, to find it by its parents' rows.
        let mut keys: Vec<u32> = Vec::new();
        let mut changes = Vec::new();
        self.pages(
            conn,
            "id",
            &[
                Col::Text("repo_key"),
                Col::Text("sha"),
                Col::OptInt("committed_at"),
                Col::OptInt("authored_at"),
                Col::OptInt("request_opened_at"),
                Col::OptText("request_head"),
                Col::OptText("request_base"),
                Col::OptInt("request_commits"),
            ],
            "changes",
            filter,
            repo,
            |f| {
                let (repo, repo_key) = repos.both(f[0]);
                keys.push(repo);
                // The opening is the one field every request has.
                let request = opt_time(f[4])?
                    .map(|opened_at| -> Result<_, StoreError> {
                        Ok(Box::new(MergedRequest {
                            opened_at,
                            head: opt_text(f[5]).map(Sha::from_trusted),
                            base: opt_text(f[6]).map(Sha::from_trusted),
                            commits: opt_int(f[7])?
                                .map(|n| {
                                    u32::try_from(n).map_err(|_| corrupt(format!("commits {n}")))
                                })
                                .transpose()?,
                        }))
                    })
                    .transpose()?;
                changes.push(ChangeFact {
                    repo_key,
                    sha: Sha::from_trusted(f[1]),
                    parents: Vec::new(),
                    committed_at: opt_time(f[2])?,
                    authored_at: opt_time(f[3])?,
                    request,
                });
                Ok(())
            },
        )
        .await?;
        // Rows come in id order, so a commit's first parent (which the
        // engine's request walk follows) comes first: the first write of a
        // commit's parents inserts them in their order, and a later write
        // only adds parents after them.
        let mut parents: Vec<Vec<Sha>> = vec![Vec::new(); changes.len()];
        {
            let row_of: HashMap<(u32, &str), usize> = changes
                .iter()
                .zip(&keys)
                .enumerate()
                .map(|(i, (c, &repo))| ((repo, c.sha.as_str()), i))
                .collect();
            self.pages(
                conn,
                "id",
                &[
                    Col::Text("repo_key"),
                    Col::Text("sha"),
                    Col::Text("parent_sha"),
                ],
                "change_parents",
                filter,
                repo,
                |f| {
                    // A parent row is written with its change; one without
                    // (none is ever) would have no commit to belong to.
                    if let Some(repo) = repos.find(f[0])
                        && let Some(&i) = row_of.get(&(repo, f[1]))
                    {
                        parents[i].push(Sha::from_trusted(f[2]));
                    }
                    Ok(())
                },
            )
            .await?;
        }
        for (c, p) in changes.iter_mut().zip(parents) {
            c.parents = p;
        }
        Ok(changes)
    }

    async fn incidents(
        &self,
        conn: &mut AnyConnection,
        part: FactScope,
    ) -> Result<Vec<IncidentFact>, StoreError> {
        let filter = match part {
            FactScope::Whole => "+org_id = {org}".to_owned(),
            // `+`: the service's index, not the organization's.
            FactScope::Service(s) => format!("service_id = {} AND +org_id = {{org}}", s.0),
            FactScope::OrgIncidents => "service_id IS NULL AND org_id = {org}".to_owned(),
        };
        let mut incidents = Vec::new();
        self.pages(
            conn,
            "id",
            &[
                Col::Int("id"),
                Col::Text("key"),
                Col::OptInt("service_id"),
                Col::OptInt("started_at"),
                Col::OptInt("resolved_at"),
                Col::OptText("cause_kind"),
                Col::OptText("cause_value"),
                Col::OptText("fixed_by"),
                Col::Int("is_incident"),
            ],
            "incidents",
            &filter,
            None,
            |f| {
                let cause = match (opt_text(f[5]), opt_text(f[6])) {
                    (Some("deployment"), Some(v)) => {
                        Some(IncidentCause::Deployment(ExternalId::from_trusted(v)))
                    }
                    (Some("commit"), Some(v)) => Some(IncidentCause::Commit(Sha::from_trusted(v))),
                    (None, _) => None,
                    (Some(other), _) => return Err(corrupt(format!("cause_kind = {other}"))),
                };
                incidents.push(IncidentFact {
                    id: IncidentId(int(f[0])?),
                    key: IncidentKey::from_trusted(f[1]),
                    service_id: opt_int(f[2])?.map(ServiceId),
                    started_at: opt_time(f[3])?,
                    resolved_at: opt_time(f[4])?,
                    cause,
                    fixed_by: opt_text(f[7]).map(ExternalId::from_trusted),
                    is_incident: int(f[8])? != 0,
                });
                Ok(())
            },
        )
        .await?;
        Ok(incidents)
    }
}

/// Repository keys, each read once: a million rows name a few thousand.
#[derive(Default)]
struct Interned {
    ids: HashMap<String, u32>,
    keys: Vec<RepoKey>,
}

impl Interned {
    fn both(&mut self, key: &str) -> (u32, RepoKey) {
        let id = match self.ids.get(key) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as u32;
                self.ids.insert(key.to_owned(), id);
                self.keys.push(RepoKey::from_trusted(key));
                id
            }
        };
        (id, self.keys[id as usize].clone())
    }

    fn get(&mut self, key: &str) -> RepoKey {
        self.both(key).1
    }

    fn find(&self, key: &str) -> Option<u32> {
        self.ids.get(key).copied()
    }
}

fn int(s: &str) -> Result<i64, StoreError> {
    s.parse()
        .map_err(|_| corrupt(format!("'{s}' is not a number")))
}

fn opt_int(s: &str) -> Result<Option<i64>, StoreError> {
    if s.is_empty() {
        Ok(None)
    } else {
        int(s).map(Some)
    }
}

fn opt_time(s: &str) -> Result<Option<Timestamp>, StoreError> {
    opt_int(s)?
        .map(|ms| Timestamp::from_millis(ms).ok_or_else(|| corrupt(format!("instant {ms}"))))
        .transpose()
}

fn opt_text(s: &str) -> Option<&str> {
    s.strip_prefix('=')
}
