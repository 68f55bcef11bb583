use crate::cli::ServeArgs;
use anyhow::Context;
use dorado_server::{Application, ServerConfig};
use tracing_subscriber::EnvFilter;

pub async fn run(database: &str, args: ServeArgs) -> anyhow::Result<()> {
    check_listen(&args.listen)?;
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
    let app = match Application::build(store, config.clone()).await {
        Ok(app) => app,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "cannot listen on {}: the address is in use (another Dorado?); choose another with --listen or DORADO_LISTEN",
            config.listen
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {}", config.listen)),
    };
    let addr = app.local_addr()?;
    tracing::info!(database = %super::redact(database), "listening on http://{addr}");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6 one), said
/// plainly instead of a resolver's error for `:8081` or `localhost`.
fn check_listen(listen: &str) -> anyhow::Result<()> {
    let ok = listen
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !ok {
        anyhow::bail!(
            "--listen (DORADO_LISTEN) expects HOST:PORT, such as 127.0.0.1:8080 or 0.0.0.0:8080, not '{listen}'"
        );
    }
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
