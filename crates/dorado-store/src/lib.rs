//! Dorado's persistence: one SQL code path (sqlx's `Any` driver) for SQLite,
//! the embedded default, and PostgreSQL, the multi-instance deployment.
//!
//! Reads go through a connection pool. Writes go through one writer task
//! that commits concurrent requests together (group commit): each request's
//! commands run inside their own savepoint, so one refused request never
//! undoes another, and every request in a batch is answered only after the
//! batch's single durable commit.

mod error;
mod model;

pub use error::StoreError;
pub use model::*;
mod store;
pub use store::Store;
