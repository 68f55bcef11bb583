//! DevLake's pipelines: tasks kept as written, and the deployment a
//! finished pipeline becomes (the rule itself is `dorado_core::pipeline`).

use crate::apply::ApplyCtx;
use crate::db::corrupt;
use crate::{StoreError, Written};
use dorado_core::pipeline::{PipelineFinish, TaskWrite, deployment_of};
use dorado_core::{Command, ServiceId, Timestamp};
use sqlx::{AnyConnection, Row};

pub(crate) async fn apply_task(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    t: &TaskWrite,
) -> Result<Written, StoreError> {
    ctx.check_service(conn, t.service).await?;
    let task = serde_json::to_string(t).map_err(|e| corrupt(format!("task: {e}")))?;
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM pipeline_tasks WHERE service_id = $1 AND pipeline = $2 AND name = $3",
    )
    .bind(t.service.0)
    .bind(&t.pipeline)
    .bind(&t.name)
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE pipeline_tasks SET task = $1, delivery_id = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(&task)
            .bind(ctx.delivery.0)
            .bind(ctx.received_at.millis())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO pipeline_tasks (org_id, service_id, pipeline, name, task, delivery_id, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(ctx.org.0)
            .bind(t.service.0)
            .bind(&t.pipeline)
            .bind(&t.name)
            .bind(&task)
            .bind(ctx.delivery.0)
            .bind(ctx.received_at.millis())
            .execute(&mut *conn)
            .await?;
        }
    }
    // A task reported after its pipeline finished changes the deployment,
    // so the result never depends on which request came first.
    if let Some(finished_at) = finished_at(conn, t.service, &t.pipeline).await? {
        let finish = PipelineFinish {
            service: t.service,
            pipeline: t.pipeline.clone(),
            finished_at,
        };
        rebuild(conn, ctx, &finish).await?;
    }
    Ok(Written::Task {
        pipeline: t.pipeline.clone(),
        name: t.name.clone(),
        created: existing.is_none(),
    })
}

pub(crate) async fn apply_finish(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    f: &PipelineFinish,
) -> Result<Written, StoreError> {
    ctx.check_service(conn, f.service).await?;
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM pipelines WHERE service_id = $1 AND name = $2")
            .bind(f.service.0)
            .bind(&f.pipeline)
            .fetch_optional(&mut *conn)
            .await?;
    match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE pipelines SET finished_at = $1, delivery_id = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(f.finished_at.millis())
            .bind(ctx.delivery.0)
            .bind(ctx.received_at.millis())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO pipelines (org_id, service_id, name, finished_at, delivery_id, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(ctx.org.0)
            .bind(f.service.0)
            .bind(&f.pipeline)
            .bind(f.finished_at.millis())
            .bind(ctx.delivery.0)
            .bind(ctx.received_at.millis())
            .execute(&mut *conn)
            .await?;
        }
    }
    let deployment_id = rebuild(conn, ctx, f).await?;
    Ok(Written::Pipeline {
        pipeline: f.pipeline.clone(),
        deployment_id,
    })
}

async fn finished_at(
    conn: &mut AnyConnection,
    service: ServiceId,
    pipeline: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let ms: Option<Option<i64>> =
        sqlx::query_scalar("SELECT finished_at FROM pipelines WHERE service_id = $1 AND name = $2")
            .bind(service.0)
            .bind(pipeline)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(ms.flatten().and_then(Timestamp::from_millis))
}

/// Writes the deployment the finished pipeline is, when it has deployment tasks.
async fn rebuild(
    conn: &mut AnyConnection,
    ctx: &mut ApplyCtx<'_>,
    finish: &PipelineFinish,
) -> Result<Option<dorado_core::DeploymentId>, StoreError> {
    let rows = sqlx::query(
        "SELECT task FROM pipeline_tasks WHERE service_id = $1 AND pipeline = $2 ORDER BY id",
    )
    .bind(finish.service.0)
    .bind(&finish.pipeline)
    .fetch_all(&mut *conn)
    .await?;
    let mut tasks = Vec::with_capacity(rows.len());
    for row in rows {
        let text: String = row.try_get("task")?;
        tasks.push(
            serde_json::from_str::<TaskWrite>(&text)
                .map_err(|e| corrupt(format!("pipeline_tasks.task: {e}")))?,
        );
    }
    let Some(write) = deployment_of(finish, &tasks) else {
        return Ok(None);
    };
    match ctx.plan_one(conn, &Command::Deployment(write)).await? {
        Written::Deployment { id, .. } => Ok(Some(id)),
        _ => Ok(None),
    }
}
