//! Dorado's domain: what a deployment, a change and an incident are, how the
//! values a sender gives become trustworthy domain values, and (in
//! [`engine`]) how the DORA figures follow from them. Nothing here does I/O,
//! so every rule can be tested with plain values.

pub mod command;
pub mod engine;
pub mod entity;
pub mod error;
pub mod id;
pub mod instant;
pub mod name;
pub mod pipeline;
pub mod source;
pub mod token;

pub use command::{
    ChangeBatch, ChangeWrite, Command, DeployedCommit, DeploymentKind, DeploymentWrite,
    IncidentCause, IncidentResolve, IncidentTimes, IncidentWrite, MergedRequest, ServiceDirectory,
    ServiceRef, ShippedCommit,
};
pub use entity::{DeployResult, Scope};
pub use error::{FieldError, ValidationError};
pub use id::{DeliveryId, DeploymentId, IncidentId, OrgId, ServiceId, SourceId, TokenId, UserId};
pub use instant::Timestamp;
pub use name::{Email, Environment, ExternalId, IncidentKey, OrgName, RepoKey, ServiceName, Sha};
pub use source::SourceKind;
pub use token::{TokenScope, TokenScopes};
