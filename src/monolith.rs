//! The embedded deployment: SQLite storage, in-process cache, event bus and mailer, the REST API, all in
//! one process and with no external service. `fluxer-server` is a thin `main` around this.

use std::sync::Arc;

use fluxer_api::{ApiConfig, ApiState, SpawnBlockingHasher};
use fluxer_core::ports::{Cache, EventBus, Mailer, SystemClock};
use fluxer_core::service::{self, Fluxer, Ports};
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_storage::memory::{InProcessEventBus, LogMailer, MemoryCache, MemoryPresence};
use fluxer_storage::sqlite::SqliteStore;

use crate::config::Config;

/// A running set of services, ready to serve.
pub struct Monolith {
    pub fluxer: Fluxer,
    pub gateway: Gateway,
    pub router: axum::Router,
    store: Arc<SqliteStore>,
}

/// Why the monolith could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database at {path}: {message}")]
    Database { path: String, message: String },
}

impl Monolith {
    /// Opens the database and wires every service. `public_origin` is where clients reach this server.
    pub async fn build(config: &Config, public_origin: &str) -> Result<Monolith, StartError> {
        let path = &config.database.sqlite_path;
        // Opening runs migrations: blocking work, kept off the async workers.
        let opening = path.clone();
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(opening))
            .await
            .map_err(|e| StartError::Database {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .map_err(|e| StartError::Database {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let store = Arc::new(store);
        let events: Arc<dyn EventBus> = Arc::new(InProcessEventBus::new());
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let mailer: Arc<dyn Mailer> = Arc::new(LogMailer);
        let ports = Ports {
            store: store.clone(),
            events,
            mailer,
            cache: cache.clone(),
            clock: Arc::new(SystemClock),
            hasher: Arc::new(SpawnBlockingHasher::default()),
        };
        let fluxer = Fluxer::new(
            ports,
            service::Config {
                worker_id: config.instance.worker_id,
                web_url: config
                    .instance
                    .web_url
                    .clone()
                    .unwrap_or_else(|| public_origin.to_owned()),
                require_verified_email: config.auth.require_verified_email,
                ..Default::default()
            },
        );
        let gateway_scheme = if config.domain.public_scheme == "https" {
            "wss"
        } else {
            "ws"
        };
        let gateway_url = format!(
            "{gateway_scheme}://{}/gateway",
            public_origin.split("://").nth(1).unwrap_or(public_origin)
        );
        let mut api_config = ApiConfig {
            gateway_url: gateway_url.clone(),
            ..Default::default()
        };
        api_config.rate_limits.enabled = !config.dev.disable_rate_limits;
        let gateway = Gateway::new(
            fluxer.clone(),
            Arc::new(MemoryPresence::with_shards(
                config.services.gateway.presence_shards,
            )),
            GatewayConfig {
                public_url: gateway_url,
                guild_shards: config.services.gateway.guild_shards,
                ..Default::default()
            },
        );
        let router = fluxer_api::router(ApiState::new(fluxer.clone(), cache, api_config))
            .merge(gateway.router());
        Ok(Monolith {
            fluxer,
            gateway,
            router,
            store,
        })
    }

    /// Flushes pending writes and closes the database.
    pub async fn shutdown(self) {
        drop(self.router);
        drop(self.gateway);
        drop(self.fluxer);
        self.store.close().await;
    }
}
