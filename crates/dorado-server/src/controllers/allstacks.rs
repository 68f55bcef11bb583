//! Allstacks' Custom CD webhook (seeds 000 and 001) and the metrics query
//! its documents use to confirm that jobs arrived, so that scripts written
//! for Allstacks work with only the host and the credentials changed.
//! Errors are problem details, as on the native API.

use crate::auth;
use crate::error::ApiError;
use crate::ingest::{self, Write};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dorado_core::{Command, FieldError, Timestamp, TokenScope, ValidationError};
use dorado_hooks::{Context, Endpoint};
use dorado_store::{DeploymentRecord, ListQuery, Org, Principal, Written};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const SOURCE: &str = "allstacks";
/// Allstacks' item type of every Custom CD job, and the job type of a job
/// sent without one.
const CUSTOM_CD_JOB: &str = "CUSTOM_CD_JOB";
const METRICS: &str = "/api/v1/organization/{org}/metrics_v2/metrics/";

pub fn router(body_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cicd_job))
        .routes(routes!(metrics))
        // Allstacks' document writes the trailing slash; clients that
        // normalize URLs drop it.
        .route(METRICS.trim_end_matches('/'), post(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// One entry of a job's `optional` list, as stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptionalField {
    pub key: String,
    /// One value, or a list of at most 20, of the declared type.
    pub value: Value,
    /// string, integer, float, duration or timestamp.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A CI/CD job as stored: the fields sent, with their defaults.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CicdJob {
    /// Dorado's own primary key (the deployment's id); `job_id` may repeat.
    #[serde(default)]
    pub id: i64,
    pub job_id: String,
    pub commit_sha: String,
    pub service_id: i64,
    /// Seconds since the epoch.
    pub job_start_time: i64,
    /// Seconds.
    pub job_duration: i64,
    /// Succeeded, Failed or On Hold, as sent.
    pub status: String,
    pub repo_id: Option<String>,
    pub repo_name: Option<String>,
    /// `Custom CD Agent` when not sent.
    pub triggered_by: String,
    /// `CUSTOM_CD_JOB` when not sent.
    pub job_type: String,
    #[serde(default)]
    pub optional: Vec<OptionalField>,
}

/// Records one CI/CD job: always a new deployment, as `job_id` may repeat.
#[utoipa::path(post, path = "/webhook/company/{org}/cicd_job", tag = "allstacks",
    description = "Allstacks' Custom CD webhook. Any Content-Type; the body is read as JSON.",
    params(("org" = String, Path, description = "Organization id or name (Allstacks' company id)")),
    request_body(content = serde_json::Value, description = "A CI/CD job", example = json!({
        "job_id": "1", "status": "Succeeded", "commit_sha": "a2e7da86cc392417b0d9f605b28038aae80b002f",
        "triggered_by": "testuser@org.com", "repo_id": "12345", "service_id": 2,
        "job_start_time": 1704018030, "job_duration": 300, "job_type": "Production Deploy",
        "optional": [{"key": "microservice", "value": ["frontend", "backend"], "type": "string"}]})),
    responses((status = 200, description = "Stored (or a replay of the same Idempotency-Key)", body = CicdJob),
              (status = 400, description = "Invalid input; nothing stored"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the ingest scope"),
              (status = 404, description = "Unknown organization"),
              (status = 409, description = "Idempotency-Key reused with another body"),
              (status = 413, description = "Body over the limit")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn cicd_job(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CicdJob>, ApiError> {
    let principal = auth::authenticate(&state, &headers).await?;
    let org = auth::caller_org(&state, &principal, &org).await?;
    let copy = body.as_ref().ok().cloned();
    let done = ingest::ingest(
        &state,
        Write {
            principal: &principal,
            org: &org,
            endpoint: Endpoint::AllstacksJob,
            path_service: None,
            headers: &headers,
            body,
            body_limit: state.config.body_limit,
        },
    )
    .await?;
    let id = done
        .outcome
        .written
        .iter()
        .find_map(|w| match w {
            Written::Deployment { id, .. } => Some(id.0),
            _ => None,
        })
        .ok_or_else(|| ApiError::Internal("an Allstacks job wrote no deployment".into()))?;
    let body = copy.ok_or_else(|| ApiError::Internal("an accepted body is gone".into()))?;
    let mut job = stored_job(&state, &principal, &org, &body).await?;
    job.id = id;
    Ok(Json(job))
}

/// The job's attributes, exactly as the store was given them: the body is
/// read again with the same rules (which need no clock for a job), which
/// spares a read of the row just written.
async fn stored_job(
    state: &AppState,
    principal: &Principal,
    org: &Org,
    body: &[u8],
) -> Result<CicdJob, ApiError> {
    let services = ingest::visible_services(state, principal, org).await?;
    let ctx = Context {
        services: &services,
        path_service: None,
        received_at: Timestamp::now(),
        source: None,
    };
    let commands = dorado_hooks::parse(&Endpoint::AllstacksJob, &ctx, body)?;
    let attributes = commands
        .into_iter()
        .find_map(|c| match c {
            Command::Deployment(d) => Some(d.attributes),
            _ => None,
        })
        .ok_or_else(|| ApiError::Internal("an Allstacks job read as no deployment".into()))?;
    serde_json::from_value(attributes)
        .map_err(|e| ApiError::Internal(format!("an Allstacks job's attributes: {e}")))
}

/// The dimensions answered when a request names none.
const DEFAULT_DIMENSIONS: [&str; 3] = ["id", "item_name", "item_creation_date"];

/// Fields of the stored job that may be asked for as dimensions too.
const JOB_FIELDS: [&str; 10] = [
    "job_id",
    "commit_sha",
    "service_id",
    "job_start_time",
    "job_duration",
    "status",
    "repo_id",
    "repo_name",
    "triggered_by",
    "job_type",
];

/// The answer of the metrics query (without `as_csv`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsAnswer {
    /// One object per job, with the requested dimensions as keys.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Map<String, Value>>,
}

/// Lists the organization's Custom CD jobs, as Allstacks' metrics query does.
#[utoipa::path(post, path = "/api/v1/organization/{org}/metrics_v2/metrics/", tag = "allstacks",
    description = "Also served without the trailing slash. Reads `config.views[].dimensions[].property` \
        (`id`, `item_name` = job_id, `item_creation_date` = job_start_time in RFC 3339, or a \
        field of the job such as `job_type`), `config.as_csv` and \
        `config.filters.default.item_type` (`CUSTOM_CD_JOB`, the default, matches every job; \
        another value matches the jobs of that `job_type`). Other filters are ignored. \
        Newest jobs first.",
    params(("org" = String, Path, description = "Organization id or name (Allstacks' company id)")),
    request_body(content = serde_json::Value, description = "Allstacks' metrics_v2 query", example = json!({
        "config": {"api": "metrics_v2",
                   "views": [{"dimensions": [{"property": "id", "data_type": "integer"},
                                             {"property": "item_name", "data_type": "string"},
                                             {"property": "item_creation_date", "data_type": "date"}]}],
                   "as_csv": false,
                   "filters": {"default": {"item_type": "CUSTOM_CD_JOB"},
                               "user_filters": {"include_disabled_users": true}, "advanced_filters": {}}}})),
    responses((status = 200, description = "The jobs", content(
                   (MetricsAnswer = "application/json"),
                   (String = "text/csv", example = json!("id,item_name,item_creation_date\r\n41,deploy-123,2023-12-31T10:20:30Z\r\n")))),
              (status = 400, description = "Invalid query"),
              (status = 401, description = "Missing or bad credentials"),
              (status = 403, description = "The credential lacks the read scope"),
              (status = 404, description = "Unknown organization")),
    security(("basic" = []), ("bearer" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = auth::authenticate(&state, &headers).await?;
    auth::require(&principal, TokenScope::Read)?;
    let org = auth::caller_org(&state, &principal, &org).await?;
    let body = ingest::body_bytes(body, state.config.body_limit)?;
    let query = MetricsQuery::read(&body)?;
    let jobs = jobs(&state, &principal, &org, &query.item_types).await?;
    let rows: Vec<Vec<Value>> = jobs
        .iter()
        .map(|d| query.dimensions.iter().map(|p| dimension(d, p)).collect())
        .collect();
    if query.as_csv {
        let mut r = csv(&query.dimensions, &rows).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(r);
    }
    let data = rows
        .into_iter()
        .map(|row| query.dimensions.iter().cloned().zip(row).collect())
        .collect();
    Ok(Json(MetricsAnswer { data }).into_response())
}

/// What Dorado reads of Allstacks' query; the rest (the API name, data
/// types, user and advanced filters) describes Allstacks' own reports.
#[derive(Debug, PartialEq)]
struct MetricsQuery {
    dimensions: Vec<String>,
    as_csv: bool,
    item_types: Vec<String>,
}

impl MetricsQuery {
    fn read(body: &[u8]) -> Result<Self, ApiError> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| {
                // The position has its own fields; the message drops it.
                let full = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                ApiError::Syntax {
                    line: e.line(),
                    column: e.column(),
                    message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
                }
            })?
        };
        let mut errors = Vec::new();
        let q = Self::from_value(&value, &mut errors);
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(ApiError::Invalid(ValidationError { errors }))
        }
    }

    fn from_value(body: &Value, errors: &mut Vec<FieldError>) -> Self {
        let mut fail = |ptr: &str, detail: &str| errors.push(FieldError::new(ptr, detail));
        let config = match body {
            Value::Null => &Value::Null,
            Value::Object(o) => o.get("config").unwrap_or(&Value::Null),
            _ => {
                fail("", "must be a JSON object");
                &Value::Null
            }
        };
        if !config.is_null() && !config.is_object() {
            fail("/config", "must be an object");
        }
        let mut dimensions: Vec<String> = Vec::new();
        match config.get("views") {
            None | Some(Value::Null) => {}
            Some(Value::Array(views)) => {
                for (v, view) in views.iter().enumerate() {
                    let dims = match view.get("dimensions") {
                        None | Some(Value::Null) => continue,
                        Some(Value::Array(d)) => d,
                        Some(_) => {
                            fail(&format!("/config/views/{v}/dimensions"), "must be an array");
                            continue;
                        }
                    };
                    for (d, dim) in dims.iter().enumerate() {
                        let ptr = format!("/config/views/{v}/dimensions/{d}/property");
                        match dim.get("property").and_then(Value::as_str).map(str::trim) {
                            None => fail(&ptr, "is required: a string"),
                            Some(p) if !is_dimension(p) => fail(
                                &ptr,
                                &format!(
                                    "'{p}' is not a dimension; expected id, item_name, \
                                     item_creation_date or one of {}",
                                    JOB_FIELDS.join(", ")
                                ),
                            ),
                            // Views are one table here: a dimension asked
                            // for twice is answered once.
                            Some(p) if dimensions.iter().any(|x| x == p) => {}
                            Some(p) => dimensions.push(p.to_owned()),
                        }
                    }
                }
            }
            Some(_) => fail("/config/views", "must be an array"),
        }
        if dimensions.is_empty() {
            dimensions = DEFAULT_DIMENSIONS.iter().map(|s| (*s).to_owned()).collect();
        }
        let as_csv = match config.get("as_csv") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                fail("/config/as_csv", "must be true or false");
                false
            }
        };
        let ptr = "/config/filters/default/item_type";
        let item_types = match config.pointer("/filters/default/item_type") {
            None | Some(Value::Null) => vec![CUSTOM_CD_JOB.to_owned()],
            Some(Value::String(s)) => vec![s.trim().to_owned()],
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v.as_str() {
                    Some(s) => Some(s.trim().to_owned()),
                    None => {
                        fail(&format!("{ptr}/{i}"), "must be a string");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                fail(ptr, "must be a string or a list of strings");
                Vec::new()
            }
        };
        Self {
            dimensions,
            as_csv,
            item_types,
        }
    }
}

fn is_dimension(p: &str) -> bool {
    DEFAULT_DIMENSIONS.contains(&p) || JOB_FIELDS.contains(&p)
}

/// Every Allstacks job of the organization (or of the token's service) of
/// the given item types, newest first.
async fn jobs(
    state: &AppState,
    principal: &Principal,
    org: &Org,
    item_types: &[String],
) -> Result<Vec<DeploymentRecord>, ApiError> {
    let every_job = item_types.iter().any(|t| t == CUSTOM_CD_JOB);
    let mut query = ListQuery {
        service_id: principal.service_id,
        limit: 500,
        ..ListQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let page = state.store.list_deployments(org.id, &query).await?;
        out.extend(page.items.into_iter().filter(|d| {
            d.source == SOURCE
                && (every_job
                    || d.attributes
                        .get("job_type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| item_types.iter().any(|w| w == t)))
        }));
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    out.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    Ok(out)
}

fn dimension(d: &DeploymentRecord, property: &str) -> Value {
    match property {
        "id" => Value::from(d.id.0),
        "item_name" => d.attributes.get("job_id").cloned().unwrap_or(Value::Null),
        "item_creation_date" => d
            .started_at
            .map(|t| Value::from(t.to_string()))
            .unwrap_or(Value::Null),
        field => d.attributes.get(field).cloned().unwrap_or(Value::Null),
    }
}

/// RFC 4180: a header row of the dimension names, CRLF line ends, fields
/// quoted when they hold a comma, a quote or a line break.
fn csv(header: &[String], rows: &[Vec<Value>]) -> String {
    fn field(out: &mut String, text: &str) {
        if text.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    }
    fn line<'a>(out: &mut String, cells: impl Iterator<Item = std::borrow::Cow<'a, str>>) {
        for (i, c) in cells.enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(out, &c);
        }
        out.push_str("\r\n");
    }
    let mut out = String::new();
    line(&mut out, header.iter().map(|h| h.as_str().into()));
    for row in rows {
        line(
            &mut out,
            row.iter().map(|v| match v {
                Value::Null => "".into(),
                Value::String(s) => s.as_str().into(),
                other => other.to_string().into(),
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<MetricsQuery, ApiError> {
        MetricsQuery::read(v.to_string().as_bytes())
    }

    #[test]
    fn an_empty_query_asks_for_the_default_dimensions_of_every_job() {
        let q = MetricsQuery::read(b"").expect("an empty body is the default query");
        assert_eq!(q.dimensions, DEFAULT_DIMENSIONS);
        assert!(!q.as_csv);
        assert_eq!(q.item_types, [CUSTOM_CD_JOB]);
    }

    #[test]
    fn dimensions_of_every_view_are_answered_once() {
        let q = read(json!({"config": {"as_csv": true, "views": [
            {"dimensions": [{"property": "item_name"}, {"property": "id"}]},
            {"dimensions": [{"property": "id"}, {"property": "job_type"}]}],
            "filters": {"default": {"item_type": ["Production Deploy", "Hotfix"]}}}}))
        .expect("a valid query");
        assert_eq!(q.dimensions, ["item_name", "id", "job_type"]);
        assert!(q.as_csv);
        assert_eq!(q.item_types, ["Production Deploy", "Hotfix"]);
    }

    #[test]
    fn bad_queries_name_the_field() {
        let Err(ApiError::Invalid(v)) = read(json!({"config": {"as_csv": "yes",
            "views": [{"dimensions": [{"property": "colour"}, {}]}],
            "filters": {"default": {"item_type": 3}}}}))
        else {
            panic!("refused");
        };
        let pointers: Vec<&str> = v.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/config/views/0/dimensions/0/property",
                "/config/views/0/dimensions/1/property",
                "/config/as_csv",
                "/config/filters/default/item_type"
            ]
        );
        assert!(matches!(
            MetricsQuery::read(b"{\"config\": }"),
            Err(ApiError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let text = csv(
            &["id".into(), "item_name".into()],
            &[
                vec![json!(1), json!("a,b")],
                vec![json!(2), json!("say \"hi\"")],
                vec![json!(3), Value::Null],
            ],
        );
        assert_eq!(
            text,
            "id,item_name\r\n1,\"a,b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\r\n"
        );
    }
}
