//! The JSON that the read endpoints answer, with the field names of api.md.
//! These are the server's own types (not the store's) so that the public
//! shape is stated once, documented in the OpenAPI document, and changes
//! only on purpose.

use dorado_store::{
    ChangeRecord, DeliveryRecord, DeploymentRecord, IncidentRecord, Page, Service, Written,
};
use serde::Serialize;
use utoipa::ToSchema;

fn time(t: Option<dorado_core::Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListOf<T> {
    pub items: Vec<T>,
    /// Pass as `cursor=` to fetch the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListOf<T> {
    pub fn from_page<R>(page: Page<R>, f: impl FnMut(R) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommitRef {
    pub repo: String,
    pub sha: String,
}

/// A commit a deployment brought to its environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippedView {
    pub repo: String,
    pub sha: String,
    /// RFC 3339.
    pub committed_at: Option<String>,
    pub lead_time_seconds: Option<i64>,
}

/// An incident linked to a deployment, and how.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentLinkView {
    pub key: String,
    /// `explicit` or `time`.
    pub link: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: i64,
    /// The sender's own id, unique in the service.
    pub external_id: Option<String>,
    pub service_id: i64,
    pub name: Option<String>,
    pub environment: String,
    /// success, failure, aborted, in_progress or pending.
    pub result: String,
    /// normal, rollback or hotfix.
    pub kind: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rework: bool,
    /// The dialect it came from: native, events, devlake, allstacks.
    pub source: String,
    pub lead_time_seconds: Option<i64>,
    /// What the dialect kept beyond the domain fields.
    pub attributes: serde_json::Value,
    /// What it deployed: one entry per repository.
    pub commits: Vec<CommitRef>,
    /// The changes it brought to the environment (semantics.md).
    pub shipped: Vec<ShippedView>,
    pub incidents: Vec<IncidentLinkView>,
    pub updated_at: String,
}

impl DeploymentView {
    pub fn from_record(d: DeploymentRecord) -> Self {
        Self {
            id: d.id.0,
            external_id: d.external_id.map(|e| e.to_string()),
            service_id: d.service_id.0,
            name: d.name,
            environment: d.environment.to_string(),
            result: d.result.to_string(),
            kind: d.kind.as_str().to_owned(),
            started_at: time(d.started_at),
            finished_at: time(d.finished_at),
            rework: d.rework,
            source: d.source,
            lead_time_seconds: d.lead_time_seconds,
            attributes: d.attributes,
            commits: d
                .commits
                .into_iter()
                .map(|c| CommitRef {
                    repo: c.repo,
                    sha: c.sha.to_string(),
                })
                .collect(),
            shipped: Vec::new(),
            incidents: Vec::new(),
            updated_at: d.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentRefView {
    pub id: i64,
    pub external_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: i64,
    /// The sender's key, unique in the service.
    pub key: String,
    pub service_id: Option<i64>,
    pub title: Option<String>,
    pub started_at: Option<String>,
    pub resolved_at: Option<String>,
    /// The deployment it is linked to.
    pub deployment: Option<DeploymentRefView>,
    /// `explicit`, `time` or null.
    pub link: Option<String>,
    /// What the sender named as its cause: `{"deployment_id": ...}` or `{"commit_sha": ...}`.
    pub cause: Option<serde_json::Value>,
    pub fixed_by: Option<String>,
    /// False for issues stored but not counted as incidents (DevLake issue types).
    pub is_incident: bool,
    pub source: String,
    pub attributes: serde_json::Value,
    pub updated_at: String,
}

impl IncidentView {
    pub fn from_record(i: IncidentRecord) -> Self {
        let cause = i.cause.map(|c| match c {
            dorado_core::IncidentCause::Deployment(id) => {
                serde_json::json!({"deployment_id": id.to_string()})
            }
            dorado_core::IncidentCause::Commit(sha) => {
                serde_json::json!({"commit_sha": sha.to_string()})
            }
        });
        Self {
            id: i.id.0,
            key: i.key.to_string(),
            service_id: i.service_id.map(|s| s.0),
            title: i.title,
            started_at: time(i.started_at),
            resolved_at: time(i.resolved_at),
            deployment: None,
            link: None,
            cause,
            fixed_by: i.fixed_by.map(|f| f.to_string()),
            is_incident: i.is_incident,
            source: i.source,
            attributes: i.attributes,
            updated_at: i.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub repo: String,
    pub sha: String,
    pub parents: Vec<String>,
    pub committed_at: Option<String>,
    pub authored_at: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
}

impl ChangeView {
    pub fn from_record(c: ChangeRecord) -> Self {
        Self {
            repo: c.repo,
            sha: c.sha.to_string(),
            parents: c.parents.into_iter().map(|p| p.to_string()).collect(),
            committed_at: time(c.committed_at),
            authored_at: time(c.authored_at),
            author: c.author,
            message: c.message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
}

impl ServiceView {
    pub fn from_record(s: Service) -> Self {
        Self {
            id: s.id.0,
            org_id: s.org_id.0,
            name: s.name.to_string(),
        }
    }
}

/// One request in the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub service_id: Option<i64>,
    pub token_id: Option<i64>,
    pub user_id: Option<i64>,
    pub dialect: String,
    /// The endpoint, in its canonical form (`native/deployments`, ...).
    pub route: String,
    pub idempotency_key: Option<String>,
    pub received_at: String,
    pub accepted: bool,
    pub status: u16,
    /// Why it was refused.
    pub error: Option<String>,
    /// The native source it came through.
    pub source_id: Option<i64>,
    /// Why it was accepted but stored nothing (an event Dorado does not use).
    pub ignored: Option<String>,
    /// The body, verbatim.
    pub body: String,
}

impl DeliveryView {
    pub fn from_record(d: DeliveryRecord) -> Self {
        Self {
            id: d.id.0,
            service_id: d.service_id.map(|s| s.0),
            token_id: d.token_id.map(|t| t.0),
            user_id: d.user_id.map(|u| u.0),
            dialect: d.dialect,
            route: d.route,
            idempotency_key: d.idempotency_key,
            received_at: d.received_at.to_string(),
            accepted: d.accepted,
            status: d.status,
            error: d.error,
            source_id: d.source_id.map(|s| s.0),
            ignored: d.ignored,
            body: d.body,
        }
    }
}

/// What a write stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenView {
    /// `deployment`, `incident`, `changes`, `task` or `pipeline` (whose
    /// `id` is the deployment it became, if any).
    pub kind: String,
    pub id: Option<i64>,
    pub service_id: Option<i64>,
    pub external_id: Option<String>,
    pub key: Option<String>,
    pub repo: Option<String>,
    pub commits: Option<usize>,
    /// A DevLake pipeline's name (`task` and `pipeline`).
    pub pipeline: Option<String>,
    /// A DevLake task's name.
    pub name: Option<String>,
    /// False when an existing record was updated.
    pub created: bool,
}

impl WrittenView {
    pub fn from_written(w: &Written) -> Self {
        let empty = Self {
            kind: String::new(),
            id: None,
            service_id: None,
            external_id: None,
            key: None,
            repo: None,
            commits: None,
            pipeline: None,
            name: None,
            created: w.created(),
        };
        match w {
            Written::Deployment {
                id,
                service_id,
                external_id,
                ..
            } => Self {
                kind: "deployment".into(),
                id: Some(id.0),
                service_id: Some(service_id.0),
                external_id: external_id.as_ref().map(|e| e.to_string()),
                ..empty
            },
            Written::Incident {
                id,
                service_id,
                key,
                ..
            } => Self {
                kind: "incident".into(),
                id: Some(id.0),
                service_id: service_id.map(|s| s.0),
                key: Some(key.to_string()),
                ..empty
            },
            Written::Task { pipeline, name, .. } => Self {
                kind: "task".into(),
                pipeline: Some(pipeline.clone()),
                name: Some(name.clone()),
                ..empty
            },
            Written::Pipeline {
                pipeline,
                deployment_id,
            } => Self {
                kind: "pipeline".into(),
                id: deployment_id.map(|d| d.0),
                pipeline: Some(pipeline.clone()),
                ..empty
            },
            Written::Changes { repo_key, commits } => Self {
                kind: "changes".into(),
                repo: Some(repo_key.to_string()),
                commits: Some(*commits),
                ..empty
            },
        }
    }
}

/// The answer to a native or event write.
#[derive(Debug, Serialize, ToSchema)]
pub struct WriteAnswer {
    /// The entry of the delivery log that holds the request.
    pub delivery_id: i64,
    /// True when this answers a repeat of an earlier request with the same
    /// Idempotency-Key (nothing new was stored).
    pub replayed: bool,
    pub written: Vec<WrittenView>,
    /// Why nothing was stored: a native source's event that Dorado does not
    /// use (answered 2xx all the same, so that the tool keeps its hook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

impl WriteAnswer {
    /// The answer and its status: 201 when anything was created, else 200.
    pub fn from_ingested(done: &dorado_store::Ingested) -> (axum::http::StatusCode, Self) {
        let written: Vec<WrittenView> = done
            .outcome
            .written
            .iter()
            .map(WrittenView::from_written)
            .collect();
        let status = if done.outcome.created() {
            axum::http::StatusCode::CREATED
        } else {
            axum::http::StatusCode::OK
        };
        let answer = Self {
            delivery_id: done.delivery_id.0,
            replayed: done.replayed,
            written,
            ignored: done.outcome.ignored.clone(),
        };
        (status, answer)
    }
}
