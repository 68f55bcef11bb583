//! Dorado's HTTP face. A request flows one way: authenticate, read the body
//! with the endpoint's dialect, validate, store in one transaction, answer.
//! [`Application`] binds the listener first, so tests can ask for port 0 and
//! learn the port before serving.

mod auth;
mod controllers;
mod error;
mod figures;
mod ingest;
mod pages;
mod router;
mod state;
mod telemetry;
mod views;
pub mod webhook_urls;

pub use error::{ApiError, Flavor};
pub use pages::SessionKey;
pub use router::openapi;

use dorado_store::Store;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How the server listens and what it accepts.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `127.0.0.1:8080` by default; port 0 picks a free port.
    pub listen: String,
    /// The largest body of a single write (1 MiB by default).
    pub body_limit: usize,
    /// The largest body of an `/events` batch (32 MiB by default).
    pub batch_body_limit: usize,
    /// Signs the web pages' session cookies; a random key per start when unset.
    pub session_key: Option<SessionKey>,
    /// Where senders reach the server, for the webhook URLs the pages show;
    /// the request's `Host` when unset.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit: 1024 * 1024,
            batch_body_limit: 32 * 1024 * 1024,
            session_key: None,
            public_url: None,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    figures: Arc<figures::Figures>,
}

impl Application {
    /// Binds the listener; nothing is served until [`Application::run_until`].
    pub async fn build(store: Store, config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&config.listen).await?;
        telemetry::handle();
        let pages = Arc::new(pages::Pages::new(&config));
        let figures: Arc<figures::Figures> = Arc::default();
        let state = AppState {
            pages,
            store: store.clone(),
            config: Arc::new(config),
            figures: figures.clone(),
        };
        Ok(Self {
            listener,
            router: router::router(state),
            store,
            figures,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in
    /// flight and closes the store (its last group commit included).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Requests are served meanwhile; the first ones may wait for it.
        let (figures, store) = (self.figures.clone(), self.store.clone());
        tokio::spawn(async move { figures.warm_up(&store).await });
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.store.close().await;
        served
    }
}
