//! DevLake's CI/CD pipelines: tasks reported one by one, and the
//! deployment a finished pipeline becomes (semantics.md, "Sources of data").
//!
//! The rule lives here, with no I/O, so that the store applies it the same
//! way whether the finish arrives before or after the last task.

use crate::command::{DeployedCommit, DeploymentKind, DeploymentWrite};
use crate::entity::DeployResult;
use crate::id::ServiceId;
use crate::instant::Timestamp;
use crate::name::{Environment, ExternalId, RepoKey, Sha};
use serde::{Deserialize, Serialize};

/// How a task ended, in DevLake's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskResult {
    Success,
    Failure,
    Abort,
    InProgress,
}

impl TaskResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Abort => "abort",
            Self::InProgress => "in_progress",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s
            .trim()
            .to_ascii_uppercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "SUCCESS" => Ok(Self::Success),
            "FAILURE" => Ok(Self::Failure),
            "ABORT" | "ABORTED" => Ok(Self::Abort),
            "IN_PROGRESS" => Ok(Self::InProgress),
            _ => Err(format!(
                "'{}' is not a result; expected SUCCESS, FAILURE, ABORT or IN_PROGRESS",
                s.trim()
            )),
        }
    }
}

/// One task of a pipeline, written again each time DevLake's script calls
/// (when the task starts and when it ends): the last write wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskWrite {
    pub service: ServiceId,
    pub pipeline: String,
    pub name: String,
    pub result: TaskResult,
    /// `status: DONE`; false while `IN_PROGRESS`.
    pub done: bool,
    /// `TEST`, `LINT`, `BUILD`, `DEPLOYMENT` or the sender's own word, upper case.
    pub kind: String,
    pub environment: Option<Environment>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// `repo_id` or `repo_url` as sent.
    pub repo: Option<String>,
    pub repo_key: Option<RepoKey>,
    pub branch: Option<String>,
    pub commit_sha: Option<Sha>,
}

impl TaskWrite {
    pub fn is_deployment(&self) -> bool {
        self.kind == "DEPLOYMENT"
    }

    /// Still running when its pipeline finished.
    fn in_progress(&self) -> bool {
        !self.done || self.result == TaskResult::InProgress
    }
}

/// `cicd_pipeline/{name}/finish`: the pipeline is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineFinish {
    pub service: ServiceId,
    pub pipeline: String,
    pub finished_at: Timestamp,
}

/// The external id of the deployment a pipeline becomes: in its own
/// namespace, so that it never replaces a deployment a sender named.
pub fn pipeline_external_id(pipeline: &str) -> Option<ExternalId> {
    ExternalId::parse(&format!("pipeline:{pipeline}")).ok()
}

/// The deployment a finished pipeline becomes, when it has `DEPLOYMENT`
/// tasks: aborted if any task was still in progress at the finish, else a
/// failure if any task failed or aborted, else a success; environment, repos
/// and commits from its deployment tasks; started at their earliest start
/// and finished at their latest finish (the finish request's time when none
/// has one).
pub fn deployment_of(finish: &PipelineFinish, tasks: &[TaskWrite]) -> Option<DeploymentWrite> {
    let deploys: Vec<&TaskWrite> = tasks.iter().filter(|t| t.is_deployment()).collect();
    if deploys.is_empty() {
        return None;
    }
    let result = if tasks.iter().any(TaskWrite::in_progress) {
        DeployResult::Aborted
    } else if tasks
        .iter()
        .any(|t| matches!(t.result, TaskResult::Failure | TaskResult::Abort))
    {
        DeployResult::Failure
    } else {
        DeployResult::Success
    };
    let mut ordered = deploys.clone();
    // By start, then name: the result never depends on arrival order.
    ordered.sort_by(|a, b| (a.started_at, &a.name).cmp(&(b.started_at, &b.name)));
    let environment = ordered
        .iter()
        .find_map(|t| t.environment.clone())
        .unwrap_or_else(Environment::production);
    let mut commits: Vec<DeployedCommit> = Vec::new();
    for t in &ordered {
        if let (Some(repo), Some(key), Some(sha)) = (&t.repo, &t.repo_key, &t.commit_sha)
            && !commits.iter().any(|c| c.repo_key == *key)
        {
            commits.push(DeployedCommit {
                repo: repo.clone(),
                repo_key: key.clone(),
                sha: sha.clone(),
            });
        }
    }
    let started_at = deploys.iter().filter_map(|t| t.started_at).min();
    let finished_at = deploys
        .iter()
        .filter_map(|t| t.finished_at)
        .max()
        .unwrap_or(finish.finished_at);
    Some(DeploymentWrite {
        service: finish.service,
        external_id: pipeline_external_id(&finish.pipeline),
        name: Some(finish.pipeline.clone()),
        environment,
        result,
        started_at,
        finished_at: Some(finished_at),
        commits,
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "devlake".into(),
        attributes: serde_json::json!({
            "pipeline": finish.pipeline,
            "tasks": tasks.len(),
            "deployment_tasks": deploys.len(),
        }),
        state_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        name: &str,
        kind: &str,
        result: TaskResult,
        done: bool,
        start: &str,
        end: Option<&str>,
    ) -> TaskWrite {
        TaskWrite {
            service: ServiceId(1),
            pipeline: "A123".into(),
            name: name.into(),
            result,
            done,
            kind: kind.into(),
            environment: Some(Environment::parse("PRODUCTION").unwrap()),
            started_at: Some(Timestamp::parse(start).unwrap()),
            finished_at: end.map(|e| Timestamp::parse(e).unwrap()),
            repo: Some("https://github.com/acme/shop".into()),
            repo_key: Some(RepoKey::parse("https://github.com/acme/shop").unwrap()),
            branch: None,
            commit_sha: Some(Sha::parse("015e3d3b").unwrap()),
        }
    }

    fn finish() -> PipelineFinish {
        PipelineFinish {
            service: ServiceId(1),
            pipeline: "A123".into(),
            finished_at: Timestamp::parse("2020-01-01T15:00:00Z").unwrap(),
        }
    }

    #[test]
    fn a_pipeline_without_deployment_tasks_is_no_deployment() {
        let tasks = [t(
            "unit",
            "TEST",
            TaskResult::Success,
            true,
            "2020-01-01T12:00:00Z",
            None,
        )];
        assert_eq!(deployment_of(&finish(), &tasks), None);
    }

    #[test]
    fn deployment_tasks_give_times_commits_and_result() {
        let tasks = [
            t(
                "build",
                "BUILD",
                TaskResult::Success,
                true,
                "2020-01-01T11:00:00Z",
                Some("2020-01-01T11:30:00Z"),
            ),
            t(
                "deploy-b",
                "DEPLOYMENT",
                TaskResult::Success,
                true,
                "2020-01-01T12:30:00Z",
                Some("2020-01-01T13:10:00Z"),
            ),
            t(
                "deploy-a",
                "DEPLOYMENT",
                TaskResult::Success,
                true,
                "2020-01-01T12:00:00Z",
                Some("2020-01-01T12:59:59Z"),
            ),
        ];
        let d = deployment_of(&finish(), &tasks).unwrap();
        assert_eq!(d.result, DeployResult::Success);
        assert_eq!(d.started_at, Timestamp::parse("2020-01-01T12:00:00Z").ok());
        assert_eq!(d.finished_at, Timestamp::parse("2020-01-01T13:10:00Z").ok());
        assert_eq!(d.commits.len(), 1);
        assert_eq!(d.external_id.unwrap().as_str(), "pipeline:A123");
        assert!(d.environment.is_production());
    }

    #[test]
    fn results_follow_devlakes_rule() {
        let ok = t(
            "deploy",
            "DEPLOYMENT",
            TaskResult::Success,
            true,
            "2020-01-01T12:00:00Z",
            None,
        );
        let failed = t(
            "test",
            "TEST",
            TaskResult::Failure,
            true,
            "2020-01-01T12:00:00Z",
            None,
        );
        let running = t(
            "lint",
            "LINT",
            TaskResult::InProgress,
            false,
            "2020-01-01T12:00:00Z",
            None,
        );
        let result = |tasks: &[TaskWrite]| deployment_of(&finish(), tasks).unwrap().result;
        assert_eq!(result(&[ok.clone(), failed.clone()]), DeployResult::Failure);
        assert_eq!(
            result(&[ok.clone(), failed, running]),
            DeployResult::Aborted
        );
        // No finish time on any deployment task: the finish request's time.
        let d = deployment_of(&finish(), &[ok]).unwrap();
        assert_eq!(d.finished_at, Some(finish().finished_at));
    }
}
