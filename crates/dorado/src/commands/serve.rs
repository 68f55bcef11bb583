use crate::cli::ServeArgs;
use anyhow::Context;
use dorado_server::{Application, ServerConfig};
use tracing_subscriber::EnvFilter;

pub async fn run(database: &str, args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("DORADO_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let options = dorado_store::StoreOptions {
        write_queue: args.write_queue as usize,
    };
    let store = dorado_store::Store::connect_with(database, options)
        .await
        .with_context(|| format!("cannot open the database {}", super::redact(database)))?;
    let config = ServerConfig {
        listen: args.listen,
        body_limit: args.body_limit,
        batch_body_limit: args.batch_body_limit,
        session_key: std::env::var("DORADO_SESSION_KEY")
            .ok()
            .map(dorado_server::SessionKey::new),
        public_url: std::env::var("DORADO_PUBLIC_URL").ok(),
    };
    let app = Application::build(store, config.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = app.local_addr()?;
    tracing::info!(database = %super::redact(database), "listening on http://{addr}");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, finish the requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
