//! The store's public face. (Skeleton: the bodies are being written.)

use crate::{
    Backend, DeliveryRecord, DeploymentRecord, ChangeRecord, IncidentRecord, Ingested, ListQuery,
    NewDelivery, NewToken, Org, Page, Principal, ReindexReport, Service, StoreError, TokenInfo,
    User,
};
use dorado_core::{
    Command, Email, OrgId, OrgName, ServiceDirectory, ServiceId, ServiceName, Timestamp, TokenId,
    TokenScopes,
};

/// A handle to the database; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    _private: (),
}

impl Store {
    /// Connects to `sqlite://PATH` (creating the file when missing) or
    /// `postgres://...`, migrates the schema, and starts the writer task.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let _ = url;
        todo!()
    }

    pub fn backend(&self) -> Backend {
        todo!()
    }

    /// Answers while the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        todo!()
    }

    /// Stops the writer after the batches in flight, and closes the pool.
    pub async fn close(&self) {
        todo!()
    }

    // --- organizations and services -------------------------------------

    /// `Conflict` when the name is taken.
    pub async fn create_org(&self, name: &OrgName) -> Result<Org, StoreError> {
        let _ = name;
        todo!()
    }

    pub async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        todo!()
    }

    /// By id (all digits) or by name.
    pub async fn find_org(&self, id_or_name: &str) -> Result<Option<Org>, StoreError> {
        let _ = id_or_name;
        todo!()
    }

    /// `None` removes the window.
    pub async fn set_incident_link_window(
        &self,
        org: OrgId,
        seconds: Option<i64>,
    ) -> Result<Org, StoreError> {
        let _ = (org, seconds);
        todo!()
    }

    /// `Conflict` when the organization has a service of that name.
    pub async fn create_service(
        &self,
        org: OrgId,
        name: &ServiceName,
    ) -> Result<Service, StoreError> {
        let _ = (org, name);
        todo!()
    }

    pub async fn list_services(&self, org: OrgId) -> Result<Vec<Service>, StoreError> {
        let _ = org;
        todo!()
    }

    /// Any organization's service by id (DevLake's `{connectionId}` paths).
    pub async fn service_by_id(&self, id: ServiceId) -> Result<Option<Service>, StoreError> {
        let _ = id;
        todo!()
    }

    /// The organization's services, for a dialect to resolve names.
    pub async fn service_directory(&self, org: OrgId) -> Result<ServiceDirectory, StoreError> {
        let _ = org;
        todo!()
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
        let _ = (org, name, scopes, expires_at, service);
        todo!()
    }

    pub async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenInfo>, StoreError> {
        let _ = org;
        todo!()
    }

    /// `NotFound` when the organization has no such token.
    pub async fn revoke_token(&self, org: OrgId, id: TokenId) -> Result<TokenInfo, StoreError> {
        let _ = (org, id);
        todo!()
    }

    /// `None` for an unknown, expired or revoked token.
    pub async fn authenticate_token(
        &self,
        secret: &str,
        now: Timestamp,
    ) -> Result<Option<Principal>, StoreError> {
        let _ = (secret, now);
        todo!()
    }

    /// `Conflict` when the email is taken.
    pub async fn create_user(
        &self,
        org: OrgId,
        email: &Email,
        password: &str,
        admin: bool,
    ) -> Result<User, StoreError> {
        let _ = (org, email, password, admin);
        todo!()
    }

    /// `None` for an unknown email or a wrong password.
    pub async fn authenticate_user(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<(User, Principal)>, StoreError> {
        let _ = (email, password);
        todo!()
    }

    // --- writes ----------------------------------------------------------

    /// Stores one request's commands and its delivery, all or nothing, and
    /// answers after the durable commit.
    pub async fn ingest(
        &self,
        delivery: NewDelivery,
        commands: Vec<Command>,
    ) -> Result<Ingested, StoreError> {
        let _ = (delivery, commands);
        todo!()
    }

    /// Logs a refused request and why (nothing else is stored).
    pub async fn record_refused(
        &self,
        delivery: NewDelivery,
        status: u16,
        reason: &str,
    ) -> Result<(), StoreError> {
        let _ = (delivery, status, reason);
        todo!()
    }

    // --- reads -----------------------------------------------------------

    pub async fn list_deployments(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<DeploymentRecord>, StoreError> {
        let _ = (org, q);
        todo!()
    }

    pub async fn list_incidents(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<IncidentRecord>, StoreError> {
        let _ = (org, q);
        todo!()
    }

    pub async fn list_changes(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<ChangeRecord>, StoreError> {
        let _ = (org, q);
        todo!()
    }

    pub async fn list_deliveries(
        &self,
        org: OrgId,
        q: &ListQuery,
    ) -> Result<Page<DeliveryRecord>, StoreError> {
        let _ = (org, q);
        todo!()
    }

    // --- maintenance -----------------------------------------------------

    /// Rebuilds the organization's deployments, changes and incidents from
    /// its delivery log, in delivery order, in one transaction. `parse`
    /// reads a delivery with the current rules.
    pub async fn reindex<F>(&self, org: OrgId, parse: F) -> Result<ReindexReport, StoreError>
    where
        F: FnMut(&DeliveryRecord, &ServiceDirectory) -> Result<Vec<Command>, String> + Send,
    {
        let _ = (org, parse);
        todo!()
    }
}
