//! What the store hands out and takes in.

use dorado_core::{
    DeliveryId, DeployResult, DeployedCommit, DeploymentId, DeploymentKind, Email, Environment,
    ExternalId, IncidentCause, IncidentId, IncidentKey, OrgId, OrgName, RepoKey, ServiceId,
    ServiceName, Sha, ShippedCommit, SourceId, SourceKind, Timestamp, TokenId, TokenScopes, UserId,
};
use serde::Serialize;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Org {
    pub id: OrgId,
    pub name: OrgName,
    /// Semantics.md, linking rule 3: a time link is made only when the
    /// deployment finished at most this long before the incident started.
    pub incident_link_window_seconds: Option<i64>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub id: ServiceId,
    pub org_id: OrgId,
    pub name: ServiceName,
    pub created_at: Timestamp,
    /// Names by which native sources know it (api.md, `--alias`).
    pub aliases: Vec<String>,
}

/// A native source as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub id: SourceId,
    pub org_id: OrgId,
    pub kind: SourceKind,
    pub name: String,
    /// GitHub workflows (GitLab pipelines) whose runs are deployments.
    pub deploy_workflows: Vec<String>,
    /// False for a PagerDuty source whose signing secret was not given yet
    /// (and for CDEvents, whose senders use ingest tokens).
    pub has_secret: bool,
    /// Until when the secret rotated out last is still accepted.
    pub previous_secret_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_accepted_at: Option<Timestamp>,
    pub last_refused_at: Option<Timestamp>,
}

/// A source just created or rotated: the only moment its secret is shown.
#[derive(Debug, Clone)]
pub struct NewSource {
    pub source: Source,
    pub secret: Option<String>,
}

/// A repository or vendor service a source named that maps to no service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmappedName {
    pub name: String,
    pub deliveries: i64,
    pub last_seen: Timestamp,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub org_id: OrgId,
    pub name: String,
    pub scopes: TokenScopes,
    /// The one service this token may write to and read, if limited.
    pub service_id: Option<ServiceId>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A token just created: the only moment its secret exists outside the
/// hands of whoever asked for it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub info: TokenInfo,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: Email,
    pub admin: bool,
    pub created_at: Timestamp,
}

/// Who is asking, once a token or a user's password was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: OrgId,
    pub scopes: TokenScopes,
    /// Set when the credential is limited to one service.
    pub service_id: Option<ServiceId>,
    pub token_id: Option<TokenId>,
    pub user_id: Option<UserId>,
    /// A user who may manage services, tokens and users in the web pages.
    pub admin: bool,
}

/// One request as it arrived, for the delivery log.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub org_id: OrgId,
    /// The service the request is about, when the path or the body names one.
    pub service_id: Option<ServiceId>,
    pub token_id: Option<TokenId>,
    pub user_id: Option<UserId>,
    /// `native`, `events`, `devlake`, `allstacks`.
    pub dialect: String,
    /// The request path (what `dorado reindex` needs to read the body again).
    pub route: String,
    pub idempotency_key: Option<String>,
    /// The body, verbatim.
    pub body: String,
    pub received_at: Timestamp,
    /// The native source it came through.
    pub source_id: Option<SourceId>,
    /// Why an accepted delivery stores nothing (an event Dorado does not
    /// use), and what it named that maps to no service.
    pub ignored: Option<Ignored>,
    /// The status the endpoint answers when the write created something
    /// (201 for the native API, the event API and native sources; 200 for
    /// the drop-in dialects, whose senders expect 200), so that the log
    /// holds the status actually sent.
    pub created_status: u16,
}

/// An accepted delivery that stores nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub reason: String,
    /// A repository key or a vendor service id that maps to no service.
    pub unmapped: Option<String>,
}

/// The answer to an accepted write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub delivery_id: DeliveryId,
    /// True when an earlier request with the same idempotency key and body
    /// was answered instead, and nothing new was stored.
    pub replayed: bool,
    pub outcome: Outcome,
}

/// What one request's commands wrote, in command order. Stored with the
/// delivery so that a replay answers exactly as the first request did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Outcome {
    pub written: Vec<Written>,
    /// Why nothing was written, for a delivery that was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Written {
    Deployment {
        id: DeploymentId,
        service_id: ServiceId,
        external_id: Option<ExternalId>,
        created: bool,
    },
    Incident {
        id: IncidentId,
        service_id: Option<ServiceId>,
        key: IncidentKey,
        created: bool,
    },
    Changes {
        repo_key: RepoKey,
        commits: usize,
    },
    /// A task of a DevLake pipeline.
    Task {
        pipeline: String,
        name: String,
        created: bool,
    },
    /// A DevLake pipeline finished; the deployment it became, if it has
    /// deployment tasks.
    Pipeline {
        pipeline: String,
        deployment_id: Option<DeploymentId>,
    },
}

impl Written {
    /// Whether this write made something new (a commit batch always
    /// counts): what decides between 201 and 200.
    pub fn created(&self) -> bool {
        match self {
            Self::Deployment { created, .. }
            | Self::Incident { created, .. }
            | Self::Task { created, .. } => *created,
            Self::Changes { .. } => true,
            Self::Pipeline { .. } => false,
        }
    }
}

impl Outcome {
    pub fn created(&self) -> bool {
        self.written.iter().any(Written::created)
    }
}

/// A request in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub service_id: Option<ServiceId>,
    pub token_id: Option<TokenId>,
    pub user_id: Option<UserId>,
    pub dialect: String,
    pub route: String,
    pub idempotency_key: Option<String>,
    pub received_at: Timestamp,
    pub accepted: bool,
    /// The HTTP status the request was answered with.
    pub status: u16,
    /// Why it was refused.
    pub error: Option<String>,
    /// The native source it came through.
    pub source_id: Option<SourceId>,
    /// Why it was accepted but stored nothing.
    pub ignored: Option<String>,
    pub body: String,
}

/// Filters and paging of the `GET` lists; newest first.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub service_id: Option<ServiceId>,
    /// Inclusive.
    pub from: Option<Timestamp>,
    /// Exclusive.
    pub to: Option<Timestamp>,
    /// At most this many items (the store caps it at 500; 0 means 50).
    pub limit: u32,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A stored deployment, as written (the engine derives what it shipped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentRecord {
    pub id: DeploymentId,
    pub external_id: Option<ExternalId>,
    pub service_id: ServiceId,
    pub name: Option<String>,
    pub environment: Environment,
    pub result: DeployResult,
    pub kind: DeploymentKind,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Marked as rework by its sender.
    pub rework: bool,
    pub lead_time_seconds: Option<i64>,
    pub source: String,
    pub attributes: serde_json::Value,
    pub commits: Vec<DeployedCommit>,
    pub shipped: Option<Vec<ShippedCommit>>,
    pub delivery_id: DeliveryId,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord {
    pub id: IncidentId,
    pub key: IncidentKey,
    pub service_id: Option<ServiceId>,
    pub title: Option<String>,
    /// `None` while only its resolve has arrived.
    pub started_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub cause: Option<IncidentCause>,
    pub fixed_by: Option<ExternalId>,
    pub is_incident: bool,
    pub source: String,
    pub attributes: serde_json::Value,
    pub delivery_id: DeliveryId,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRecord {
    pub repo: String,
    pub repo_key: RepoKey,
    pub sha: Sha,
    pub parents: Vec<Sha>,
    pub committed_at: Option<Timestamp>,
    pub authored_at: Option<Timestamp>,
    pub author: Option<String>,
    pub message: Option<String>,
    pub delivery_id: DeliveryId,
}

/// What `dorado reindex` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReindexReport {
    pub deliveries: u64,
    pub replayed: u64,
    /// Deliveries whose body the current rules refuse; kept in the log,
    /// their data left out.
    pub skipped: u64,
}
