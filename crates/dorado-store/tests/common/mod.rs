//! Fixtures shared by the store's integration tests. Every test runs once
//! per database of `TestDatabase::all()`.
#![allow(dead_code)]

use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentResolve, IncidentWrite, OrgId,
    OrgName, RepoKey, ServiceId, ServiceName, Sha, Timestamp,
};
use dorado_store::testing::TestDatabase;
use dorado_store::{ListQuery, NewDelivery, Store};

pub struct Fixture {
    pub db: TestDatabase,
    pub store: Store,
    pub org: OrgId,
    pub service: ServiceId,
}

impl Fixture {
    pub fn name(&self) -> String {
        format!("{:?}", self.store.backend())
    }
}

/// A store per database, each with an organization `acme` and a service
/// `checkout`.
pub async fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let org = store
            .create_org(&OrgName::parse("acme").unwrap())
            .await
            .unwrap();
        let service = store
            .create_service(org.id, &ServiceName::parse("checkout").unwrap())
            .await
            .unwrap();
        out.push(Fixture {
            db,
            store,
            org: org.id,
            service: service.id,
        });
    }
    out
}

pub fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// A delivery whose body is the JSON of its commands, so that `reindex`
/// can read it back.
pub fn delivery(org: OrgId, commands: &[Command]) -> NewDelivery {
    NewDelivery {
        org_id: org,
        service_id: None,
        token_id: None,
        user_id: None,
        dialect: "native".into(),
        route: "/test".into(),
        idempotency_key: None,
        body: serde_json::to_string(commands).unwrap(),
        received_at: t("2024-06-01T00:00:00Z"),
        source_id: None,
        ignored: None,
        created_status: 200,
    }
}

pub async fn ingest(store: &Store, org: OrgId, commands: Vec<Command>) -> dorado_store::Ingested {
    store
        .ingest(delivery(org, &commands), commands)
        .await
        .unwrap()
}

pub fn commit(repo: &str, sha: &str) -> DeployedCommit {
    DeployedCommit {
        repo: repo.into(),
        repo_key: RepoKey::parse(repo).unwrap(),
        sha: Sha::parse(sha).unwrap(),
    }
}

pub fn deploy(service: ServiceId, external_id: Option<&str>, finished: &str) -> DeploymentWrite {
    DeploymentWrite {
        service,
        external_id: external_id.map(|e| ExternalId::parse(e).unwrap()),
        name: Some("deploy".into()),
        environment: Environment::production(),
        result: DeployResult::Success,
        started_at: None,
        finished_at: Some(t(finished)),
        commits: vec![commit("https://github.com/acme/shop", "aaa")],
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "native".into(),
        attributes: serde_json::json!({}),
        state_at: None,
    }
}

pub fn change(sha: &str, parents: &[&str], committed: Option<&str>) -> ChangeWrite {
    ChangeWrite {
        sha: Sha::parse(sha).unwrap(),
        parents: parents.iter().map(|p| Sha::parse(p).unwrap()).collect(),
        committed_at: committed.map(t),
        authored_at: None,
        author: None,
        message: None,
        request: None,
    }
}

pub fn changes(repo: &str, commits: Vec<ChangeWrite>) -> Command {
    Command::Changes(ChangeBatch {
        repo: repo.into(),
        repo_key: RepoKey::parse(repo).unwrap(),
        commits,
    })
}

pub fn incident(service: Option<ServiceId>, key: &str) -> IncidentWrite {
    IncidentWrite {
        service,
        key: IncidentKey::parse(key).unwrap(),
        title: None,
        started_at: None,
        resolved_at: None,
        cause: None,
        fixed_by: None,
        is_incident: true,
        source: "native".into(),
        attributes: serde_json::json!({}),
        times: Default::default(),
        reopened_at: None,
    }
}

pub fn resolve(service: Option<ServiceId>, key: &str, at: &str) -> IncidentResolve {
    IncidentResolve {
        service,
        key: IncidentKey::parse(key).unwrap(),
        resolved_at: t(at),
        keep_existing: false,
        create_missing: false,
        source: "native".into(),
    }
}

/// Everything of a list, page by page of `limit`.
pub fn all(limit: u32) -> ListQuery {
    ListQuery {
        limit,
        ..ListQuery::default()
    }
}
