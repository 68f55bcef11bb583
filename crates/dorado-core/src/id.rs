//! Row identities. Each kind of id is its own type so that a service id can
//! never be passed where an organization id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(/// An organization: everything belongs to exactly one.
    OrgId);
id_type!(/// A service: unique across the installation, the scope of incident links.
    ServiceId);
id_type!(/// A stored deployment (Dorado's own key, not the sender's id).
    DeploymentId);
id_type!(/// A stored incident (Dorado's own key, not the sender's key).
    IncidentId);
id_type!(/// An API token.
    TokenId);
id_type!(/// A person who signs in to the web pages or uses basic auth.
    UserId);
id_type!(/// One accepted or refused request in the delivery log.
    DeliveryId);
id_type!(/// A native source: one tool that sends its own webhooks.
    SourceId);
