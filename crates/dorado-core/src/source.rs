//! Native sources (api.md, "Native sources"): tools that send their own
//! webhooks to Dorado, each with a URL and a secret, and the rules by which
//! what they name (a repository, a PagerDuty service, an environment) maps
//! onto the organization's services and environments.

use crate::name::{Environment, RepoKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which tool a source is; it decides how deliveries are verified and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Github,
    Gitlab,
    Pagerduty,
    Cdevents,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [Self::Github, Self::Gitlab, Self::Pagerduty, Self::Cdevents];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Pagerduty => "pagerduty",
            Self::Cdevents => "cdevents",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == norm)
            .ok_or_else(|| {
                format!(
                    "'{}' is not a source kind; expected github, gitlab, pagerduty or cdevents",
                    s.trim()
                )
            })
    }

    /// CDEvents senders authenticate with an ingest token, not a secret
    /// of the source's own.
    pub fn has_secret(self) -> bool {
        self != Self::Cdevents
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment as a tool names it: `production`, `prod`, `prd` and `live`
/// (any case) are production; any other name is kept as it is.
pub fn vendor_environment(name: &str) -> Result<Environment, String> {
    let env = Environment::parse(name)?;
    match env.as_str() {
        "prod" | "prd" | "live" => Ok(Environment::production()),
        _ => Ok(env),
    }
}

/// The key under which an alias is stored and looked up: aliases name
/// repositories as often as vendor ids, so they are normalized as a
/// repository is (lower case, no scheme, no `.git`), which leaves a
/// PagerDuty id or a plain name merely in lower case.
pub fn alias_key(alias: &str) -> Result<String, String> {
    let key = RepoKey::parse(alias)?;
    if key.as_str().chars().count() > 1_000 {
        return Err("must be at most 1000 characters".into());
    }
    Ok(key.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in SourceKind::ALL {
            assert_eq!(SourceKind::parse(k.as_str()), Ok(k));
        }
        assert_eq!(SourceKind::parse(" GitHub "), Ok(SourceKind::Github));
        assert!(SourceKind::parse("bitbucket").is_err());
    }

    #[test]
    fn production_has_several_names() {
        for p in ["production", "PROD", "prd", "Live"] {
            assert!(vendor_environment(p).unwrap().is_production(), "{p}");
        }
        assert_eq!(vendor_environment("Staging").unwrap().as_str(), "staging");
    }

    #[test]
    fn aliases_normalize_like_repositories() {
        assert_eq!(
            alias_key("https://github.com/Acme/Shop.git").unwrap(),
            "github.com/acme/shop"
        );
        assert_eq!(alias_key("PXYZ123").unwrap(), "pxyz123");
        assert!(alias_key("  ").is_err());
    }
}
