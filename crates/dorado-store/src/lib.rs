//! Dorado's persistence: one SQL code path (sqlx's `Any` driver) for SQLite,
//! the embedded default, and PostgreSQL, the multi-instance deployment.
//!
//! Reads go through a connection pool. Writes go through one writer task
//! that commits concurrent requests together (group commit): the batch is
//! planned in memory by the one planner (`plan`), which `dorado import` and
//! `dorado reindex` share, so one refused request never undoes another, and
//! every request in a batch is answered only after the batch's single
//! durable commit.

mod apply;
mod cache;
mod changes;
mod cursor;
mod db;
mod deliveries;
mod deployments;
mod error;
mod facts;
mod import;
mod incidents;
mod model;
mod orgs;
mod pipelines;
mod plan;
mod reindex;
mod sources;
mod store;
mod tokens;
mod users;
mod versions;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::StoreError;
pub use facts::FactScope;
pub use import::{ChunkImported, ImportChunk, ImportLine, Importer, SealedBody};
pub use model::*;
pub use store::{Store, StoreOptions};
pub use versions::Touched;
