//! The one router: every route, its body limit, the OpenAPI document built
//! from the handlers' annotations, and Swagger UI served from the binary.

use crate::controllers::{
    allstacks, changes, deliveries, deployments, devlake, dora, events, health, incidents,
    prometheus, services, sources,
};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dorado",
        description = "DORA metrics for teams that deploy: send deployments, changes and incidents; read how you deliver."
    ),
    modifiers(&Security),
    tags(
        (name = "deployments", description = "Rollouts of a service to an environment"),
        (name = "changes", description = "Commits and their parents"),
        (name = "incidents", description = "Failures in production and their resolution"),
        (name = "events", description = "The event API: deploys and incidents, one or many at a time"),
        (name = "devlake", description = "Apache DevLake's incoming webhook, drop-in"),
        (name = "allstacks", description = "Allstacks' Custom CD webhook, drop-in"),
        (name = "sources", description = "Native sources: GitHub, GitLab, PagerDuty and CDEvents send their own webhooks"),
        (name = "services", description = "The organization's services"),
        (name = "deliveries", description = "The log of every request received"),
        (name = "metrics", description = "The DORA figures"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token: `dorado_...`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A token as the password (any user name), or a user's email and password",
                    ))
                    .build(),
            ),
        );
    }
}

fn api_router(body_limit: usize, batch_body_limit: usize) -> OpenApiRouter<AppState> {
    let single = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(deployments::create, deployments::list))
        .routes(routes!(changes::create, changes::list))
        .routes(routes!(incidents::create, incidents::list))
        .routes(routes!(incidents::resolve))
        .routes(routes!(services::list))
        .routes(routes!(deliveries::list))
        .routes(routes!(dora::dora))
        .routes(routes!(dora::dora_series))
        .layer(DefaultBodyLimit::max(body_limit));
    let batch = OpenApiRouter::new()
        .routes(routes!(events::create))
        .layer(DefaultBodyLimit::max(batch_body_limit));
    let native_sources = OpenApiRouter::new()
        .routes(routes!(sources::webhook))
        .layer(DefaultBodyLimit::max(sources::BODY_LIMIT));
    let health = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(prometheus::metrics));
    single
        .merge(batch)
        .merge(native_sources)
        .merge(health)
        .merge(devlake::router(body_limit))
        .merge(allstacks::router(body_limit))
}

/// The OpenAPI document, as `/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router(1, 1).into_openapi()
}

pub fn router(state: AppState) -> Router {
    let (router, api) =
        api_router(state.config.body_limit, state.config.batch_body_limit).split_for_parts();
    router
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", api)
                // Swagger UI would otherwise send the document's address to
                // validator.swagger.io from every browser that opens it.
                .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none")),
        )
        .merge(crate::pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::telemetry::record))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} does not answer {method}; see /docs for what it answers",
        uri.path()
    ))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("route '{}'", uri.path()))
}
