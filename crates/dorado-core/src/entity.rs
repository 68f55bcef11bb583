//! Small domain enums shared by every layer.

use crate::id::ServiceId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a deployment ended. Only `Success` counts for the DORA figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployResult {
    Success,
    Failure,
    Aborted,
    InProgress,
    Pending,
}

impl DeployResult {
    pub const ALL: [DeployResult; 5] = [
        Self::Success,
        Self::Failure,
        Self::Aborted,
        Self::InProgress,
        Self::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Aborted => "aborted",
            Self::InProgress => "in_progress",
            Self::Pending => "pending",
        }
    }

    /// Reads a result in any case, with the synonyms CI tools use
    /// (DevLake's `ABORT` and `MANUAL`, `succeeded`, `failed`, `cancelled`...).
    pub fn parse(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Ok(match norm.as_str() {
            "success" | "succeeded" | "successful" | "ok" | "passed" | "done" => Self::Success,
            "failure" | "failed" | "fail" | "error" | "errored" => Self::Failure,
            "aborted" | "abort" | "cancelled" | "canceled" => Self::Aborted,
            "in_progress" | "running" | "started" => Self::InProgress,
            "pending" | "queued" | "manual" | "on_hold" | "waiting" => Self::Pending,
            _ => {
                return Err(format!(
                    "'{}' is not a result; expected one of success, failure, aborted, in_progress, pending",
                    s.trim()
                ));
            }
        })
    }
}

impl fmt::Display for DeployResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a query covers: the whole organization or one of its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Organization,
    Service(ServiceId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_in_any_spelling() {
        assert_eq!(DeployResult::parse("SUCCESS"), Ok(DeployResult::Success));
        assert_eq!(DeployResult::parse("ABORT"), Ok(DeployResult::Aborted));
        assert_eq!(
            DeployResult::parse("in-progress"),
            Ok(DeployResult::InProgress)
        );
        assert_eq!(DeployResult::parse("On Hold"), Ok(DeployResult::Pending));
        assert!(DeployResult::parse("maybe").is_err());
        for r in DeployResult::ALL {
            assert_eq!(DeployResult::parse(r.as_str()), Ok(r));
        }
    }
}
