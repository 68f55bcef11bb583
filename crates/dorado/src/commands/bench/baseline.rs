//! The same-run baseline of `bench ingest` (issue 12): bare axum in this
//! process reading the same body with the same dialect and answering
//! without authenticating or storing. On a shared, noisy machine a
//! throughput means little alone; Dorado's divided by this one, measured
//! minutes apart by the same driver, says what storing costs.

use super::LocalServer;
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use dorado_core::{ServiceDirectory, ServiceId, ServiceName, Timestamp};
use dorado_hooks::{Context, Endpoint};
use std::sync::Arc;

/// Serves `POST /api/v1/orgs/{org}/deployments` on a free port; its base
/// URL. `service` is the one name the bodies use.
pub async fn serve(service: &str) -> anyhow::Result<(String, LocalServer)> {
    let name = ServiceName::parse(service).map_err(|e| anyhow::anyhow!(e))?;
    let services = Arc::new(ServiceDirectory::new([(ServiceId(1), name)]));
    let app = Router::new().route(
        "/api/v1/orgs/{org}/deployments",
        post(move |body: Bytes| {
            let services = services.clone();
            async move { parse_only(&services, &body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok((
        format!("http://{addr}"),
        LocalServer {
            stop,
            task,
            file: None,
        },
    ))
}

fn parse_only(services: &ServiceDirectory, body: &[u8]) -> (StatusCode, String) {
    let ctx = Context {
        services,
        path_service: None,
        received_at: Timestamp::now(),
        source: None,
    };
    match dorado_hooks::parse(&Endpoint::NativeDeployment, &ctx, body) {
        Ok(commands) => (
            StatusCode::CREATED,
            format!("{{\"parsed\":{}}}", commands.len()),
        ),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}
