//! DevLake's `cicd_tasks` and `cicd_pipeline/{name}/finish` (seed 003): the
//! tasks of a pipeline, reported as they start and end, and the pipeline's
//! finish, which makes a pipeline with `DEPLOYMENT` tasks a deployment
//! (`dorado_core::pipeline`).

use crate::Context;
use crate::devlake::{dual, service};
use crate::json::{Errors, MAX_SHORT, Obj};
use crate::native::OBJECT;
use dorado_core::pipeline::{PipelineFinish, TaskResult, TaskWrite};
use dorado_core::{Command, Environment, RepoKey, Sha};
use serde_json::Value;

/// Pipeline and task names become external ids (`pipeline:NAME`).
const MAX_NAME: usize = 200;

pub(crate) fn task(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let service = service(ctx, errs);
    let pipeline = dual(&obj, "pipeline_name", errs)
        .required()
        .key(MAX_NAME, errs);
    let name = obj.field("name").required().key(MAX_NAME, errs);
    let result = obj
        .field("result")
        .required()
        .parse(errs, TaskResult::parse);
    let done = obj.field("status").parse(errs, |s| {
        match s
            .trim()
            .to_ascii_uppercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "DONE" => Ok(true),
            "IN_PROGRESS" => Ok(false),
            _ => Err(format!(
                "'{s}' is not a status; expected IN_PROGRESS or DONE"
            )),
        }
    });
    let kind = obj
        .field("type")
        .text(MAX_SHORT, errs)
        .map(|k| k.to_ascii_uppercase());
    let environment = obj.field("environment").parse(errs, Environment::parse);
    // The docs name `started_date`; their own sample sends `created_date`.
    let started_at = obj
        .either(
            &["started_date", "startedDate", "created_date", "createdDate"],
            errs,
        )
        .time(errs);
    let finished_at = dual(&obj, "finished_date", errs).time(errs);
    let repo = obj.either(&["repo_id", "repoId", "repo_url", "repoUrl"], errs);
    let repo_text = repo.key(2048, errs);
    let repo_key = repo_text
        .as_deref()
        .and_then(|r| RepoKey::parse(r).map_err(|e| errs.add(repo.ptr(), e)).ok());
    let branch = obj.field("branch").text(MAX_SHORT, errs);
    let commit_sha = dual(&obj, "commit_sha", errs).parse(errs, Sha::parse);
    let result = result?;
    Some(vec![Command::PipelineTask(TaskWrite {
        service: service?,
        pipeline: pipeline?,
        name: name?,
        result,
        // Without a status, a task with a final result is done.
        done: done.unwrap_or(result != TaskResult::InProgress),
        kind: kind.unwrap_or_default(),
        environment,
        started_at,
        finished_at,
        repo: repo_text,
        repo_key,
        branch,
        commit_sha,
    })])
}

/// The finish request carries no body (DevLake's samples send `-d ''`).
pub(crate) fn finish(pipeline: &str, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let service = service(ctx, errs);
    let name = pipeline.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errs.add(
            "",
            format!("the pipeline name in the path must be 1 to {MAX_NAME} printable characters"),
        );
        return None;
    }
    Some(vec![Command::FinishPipeline(PipelineFinish {
        service: service?,
        pipeline: name.to_owned(),
        finished_at: ctx.received_at,
    })])
}
