//! Apache DevLake's incoming webhook, served where DevLake serves it, so
//! that scripts written for DevLake work with only the host and the
//! credentials changed. DevLake's connection id is a Dorado service: by id
//! (`/{id}/...`, `/connections/{id}/...`) or by name
//! (`/connections/by-name/{name}/...`), under each of DevLake's prefixes.
//! Every answer, refusals included, is DevLake's envelope.

use crate::auth;
use crate::error::{ApiError, Flavor, FlavoredError};
use crate::ingest::{self, Write};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use dorado_core::{ServiceId, ServiceName, ServiceRef};
use dorado_hooks::Endpoint;
use dorado_store::{Org, Principal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where DevLake's UI and documents have put the webhook over the years.
pub const PREFIXES: [&str; 4] = [
    "/api/rest/plugins/webhook",
    "/api/plugins/webhook",
    "/rest/plugins/webhook",
    "/plugins/webhook",
];

/// How a path names the connection, that is, the service.
const SELECTORS: [&str; 3] = ["/{id}", "/connections/{id}", "/connections/by-name/{name}"];

/// The one form the OpenAPI document describes; the others are aliases.
const CANONICAL: &str = "/api/rest/plugins/webhook/{id}";

/// Every DevLake route: the canonical ones documented, the aliases served
/// by the same handlers.
pub fn router(body_limit: usize) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(deployments))
        .routes(routes!(issues))
        .routes(routes!(close))
        .routes(routes!(close_on_board))
        .routes(routes!(cicd_tasks))
        .routes(routes!(pipeline_finish));
    for prefix in PREFIXES {
        for selector in SELECTORS {
            let base = format!("{prefix}{selector}");
            if base == CANONICAL {
                continue;
            }
            router = router
                .route(&format!("{base}/deployments"), post(deployments))
                .route(&format!("{base}/issues"), post(issues))
                .route(&format!("{base}/issue/{{issueKey}}/close"), post(close))
                .route(
                    &format!("{base}/issue/{{boardKey}}/{{issueKey}}/close"),
                    post(close_on_board),
                )
                .route(&format!("{base}/cicd_tasks"), post(cicd_tasks))
                .route(
                    &format!("{base}/cicd_pipeline/{{pipelineName}}/finish"),
                    post(pipeline_finish),
                );
        }
    }
    router.layer(DefaultBodyLimit::max(body_limit))
}

/// DevLake's envelope, the answer of every DevLake route.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevlakeAnswer {
    /// 0 on success; the HTTP status on a refusal.
    pub code: u16,
    pub success: bool,
    /// `success`, or why the request was refused.
    pub message: String,
    /// On a refusal of bad input: `[{"pointer": "/commit_sha", "detail": "..."}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub causes: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

impl DevlakeAnswer {
    fn success() -> Self {
        Self {
            code: 0,
            success: true,
            message: "success".into(),
            causes: None,
            data: None,
        }
    }
}

/// The path parameters of every form; which are present depends on the route.
#[derive(Debug, Deserialize)]
pub struct DevlakePath {
    id: Option<String>,
    name: Option<String>,
    #[serde(rename = "issueKey")]
    issue_key: Option<String>,
    #[serde(rename = "pipelineName")]
    pipeline_name: Option<String>,
}

type Answer = Result<Json<DevlakeAnswer>, FlavoredError>;

/// Records a deployment (DevLake's snake_case payload or DevLake 1.0's camelCase one).
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/deployments", tag = "devlake",
    description = "Also served under `/api/plugins/webhook`, `/rest/plugins/webhook` and \
        `/plugins/webhook`, and with `/connections/{id}` or `/connections/by-name/{name}` \
        in place of `/{id}`. Any Content-Type; the body is read as JSON.",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)")),
    request_body(content = serde_json::Value, description = "A DevLake deployment", example = json!({
        "pipeline_id": "optional-pipeline-id", "environment": "PRODUCTION",
        "repo_url": "https://github.com/apache/incubator-devlake/",
        "commit_sha": "015e3d3b480e417aede5a1293bd61de9b0fd051d",
        "start_time": "2020-01-01T12:00:00+00:00", "end_time": "2020-01-02T13:00:00+00:00",
        "result": "FAILURE"})),
    responses((status = 200, description = "Stored", body = DevlakeAnswer),
              (status = 400, description = "Invalid input; nothing stored", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service", body = DevlakeAnswer),
              (status = 409, description = "Idempotency-Key reused with another body", body = DevlakeAnswer),
              (status = 413, description = "Body over the limit", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn deployments(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    write(
        &state,
        path,
        |_| Ok(Endpoint::DevlakeDeployment),
        &headers,
        body,
    )
    .await
}

/// Creates or updates an issue; type `INCIDENT` makes it an incident.
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/issues", tag = "devlake",
    description = "Served under every prefix and connection form of the deployments route.",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)")),
    request_body(content = serde_json::Value, description = "A DevLake issue", example = json!({
        "issue_key": "DLK-1234", "title": "a feature from DLK", "type": "INCIDENT", "status": "TODO",
        "created_date": "2020-01-01T12:00:00+00:00", "updated_date": "2020-01-01T12:00:00+00:00"})),
    responses((status = 200, description = "Stored", body = DevlakeAnswer),
              (status = 400, description = "Invalid input; nothing stored", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service", body = DevlakeAnswer),
              (status = 409, description = "Idempotency-Key reused with another body", body = DevlakeAnswer),
              (status = 413, description = "Body over the limit", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn issues(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    write(&state, path, |_| Ok(Endpoint::DevlakeIssue), &headers, body).await
}

/// Closes an issue: resolves it now, unless it has a resolution date already.
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/issue/{issueKey}/close", tag = "devlake",
    description = "The body is ignored, as DevLake ignores it. Served under every prefix and \
        connection form of the deployments route.",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)"),
           ("issueKey" = String, Path, description = "The issue's key")),
    responses((status = 200, description = "Resolved", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service or issue", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn close(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    write(&state, path, close_endpoint, &headers, body).await
}

/// Closes an issue of a board; the board key only places it in DevLake's UI.
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/issue/{boardKey}/{issueKey}/close", tag = "devlake",
    description = "As the close route without a board; issue keys are unique in a service, so \
        the board key is not needed to find the issue.",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)"),
           ("boardKey" = String, Path, description = "The issue's board"),
           ("issueKey" = String, Path, description = "The issue's key")),
    responses((status = 200, description = "Resolved", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service or issue", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn close_on_board(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    write(&state, path, close_endpoint, &headers, body).await
}

/// Creates or updates a task of a pipeline (called when the task starts and when it ends).
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/cicd_tasks", tag = "devlake",
    description = "Served under every prefix and connection form of the deployments route. \
        A finished pipeline with DEPLOYMENT tasks becomes a deployment (external id `pipeline:NAME`).",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)")),
    request_body(content = serde_json::Value, description = "A DevLake task", example = json!({
        "pipeline_name": "A123", "name": "deploy", "result": "SUCCESS", "status": "DONE",
        "type": "DEPLOYMENT", "environment": "PRODUCTION", "started_date": "2020-01-01T12:00:00+00:00",
        "finished_date": "2020-01-01T12:59:59+00:00", "repo_id": "https://github.com/acme/shop",
        "commit_sha": "015e3d3b480e417aede5a1293bd61de9b0fd051d"})),
    responses((status = 200, description = "Stored", body = DevlakeAnswer),
              (status = 400, description = "Invalid input; nothing stored", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn cicd_tasks(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    write(&state, path, |_| Ok(Endpoint::DevlakeTask), &headers, body).await
}

/// Finishes a pipeline; with DEPLOYMENT tasks it becomes a deployment.
#[utoipa::path(post, path = "/api/rest/plugins/webhook/{id}/cicd_pipeline/{pipelineName}/finish", tag = "devlake",
    description = "The body is ignored. Served under every prefix and connection form of the deployments route.",
    params(("id" = i64, Path, description = "The service id (DevLake's connection id)"),
           ("pipelineName" = String, Path, description = "The pipeline's name, as in its tasks")),
    responses((status = 200, description = "Finished", body = DevlakeAnswer),
              (status = 401, description = "Missing or bad credentials", body = DevlakeAnswer),
              (status = 403, description = "The credential lacks the ingest scope", body = DevlakeAnswer),
              (status = 404, description = "Unknown service", body = DevlakeAnswer)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn pipeline_finish(
    State(state): State<AppState>,
    path: Result<Path<DevlakePath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let endpoint = |p: &DevlakePath| {
        let pipeline = p
            .pipeline_name
            .clone()
            .ok_or_else(|| ApiError::Internal("a finish route without {pipelineName}".into()))?;
        Ok(Endpoint::DevlakeFinish { pipeline })
    };
    write(&state, path, endpoint, &headers, body).await
}

fn close_endpoint(p: &DevlakePath) -> Result<Endpoint, ApiError> {
    let key = p
        .issue_key
        .clone()
        .ok_or_else(|| ApiError::Internal("a close route without {issueKey}".into()))?;
    Ok(Endpoint::DevlakeClose { key })
}

async fn write(
    state: &AppState,
    path: Result<Path<DevlakePath>, PathRejection>,
    endpoint: impl FnOnce(&DevlakePath) -> Result<Endpoint, ApiError>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let devlake = |e: ApiError| e.with_flavor(Flavor::Devlake);
    let principal = auth::authenticate(state, headers).await.map_err(devlake)?;
    let Path(path) = path.map_err(|e| devlake(ApiError::invalid("path", e.body_text())))?;
    let (org, service) = connection(state, &principal, &path)
        .await
        .map_err(devlake)?;
    let endpoint = endpoint(&path).map_err(devlake)?;
    ingest::ingest(
        state,
        Write {
            principal: &principal,
            org: &org,
            endpoint,
            path_service: Some(service),
            headers,
            body,
            body_limit: state.config.body_limit,
        },
    )
    .await
    .map_err(devlake)?;
    Ok(Json(DevlakeAnswer::success()))
}

/// The service a path names and its organization, when the caller may write
/// to it; anything else is 404, exactly as a service that does not exist.
async fn connection(
    state: &AppState,
    principal: &Principal,
    path: &DevlakePath,
) -> Result<(Org, ServiceId), ApiError> {
    let (text, by_name) = match (&path.id, &path.name) {
        (Some(id), _) => (id.as_str(), false),
        (None, Some(name)) => (name.as_str(), true),
        (None, None) => return Err(ApiError::Internal("a DevLake route without {id}".into())),
    };
    let not_found = || ApiError::NotFound(format!("service '{text}'"));
    let wanted = if by_name {
        ServiceRef::Name(ServiceName::parse(text).map_err(|_| not_found())?)
    } else {
        match ServiceRef::parse(text) {
            Ok(r @ ServiceRef::Id(_)) => r,
            _ => return Err(not_found()),
        }
    };
    // The organization is the caller's: a service id of another one reads
    // as unknown, so ids cannot be probed across organizations.
    let org = state
        .store
        .find_org(&principal.org_id.to_string())
        .await?
        .ok_or_else(not_found)?;
    let id = ingest::resolve_service(state, principal, &org, &wanted)
        .await?
        .ok_or_else(not_found)?;
    Ok((org, id))
}
