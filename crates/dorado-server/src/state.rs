use crate::ServerConfig;
use crate::figures::Figures;
use dorado_store::Store;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub figures: Arc<Figures>,
    pub pages: Arc<crate::pages::Pages>,
}
