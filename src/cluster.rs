//! The per-service deployment: the same use-cases as the monolith, split into API, gateway, worker and
//! media processes that share PostgreSQL (storage), Redis/Valkey (cache, rate limits, locks,
//! presence) and NATS (the event bus between API and gateway nodes, and the JetStream job queue).
//! Any number of API and gateway nodes may run; the `fluxer-*` binaries in `bins/fluxer-services` are
//! thin `main`s around these builders.
//!
//! What is shared and what is per node:
//! - every node reads the same configuration file; `instance.worker_id` must differ per API node
//!   (snowflake uniqueness) and `instance.secret_key` must be the same everywhere (signed links);
//! - blobs live in the configured blob store (S3, or a directory every node mounts);
//! - the search index has one writer, the worker; API nodes open it read-only from a directory they
//!   share with it (or run with `integrations.search.engine = "none"`).

use std::path::PathBuf;
use std::sync::Arc;

use fluxer_api::{ApiState, SpawnBlockingHasher};
use fluxer_core::ports::{BlobStore, EventBus, Media, Presence, Queue, SearchIndex, SystemClock};
use fluxer_core::service::{self, Fluxer, Ports};
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_media::MediaLinks;
use fluxer_media::proxy::{MediaProxy, UrlSigner};
use fluxer_storage::nats::{JetStreamQueue, NatsConfig, NatsEventBus};
use fluxer_storage::postgres::PostgresStore;
use fluxer_storage::redis::{RedisCache, RedisConfig, RedisPresence};
use fluxer_storage::tantivy::TantivySearchIndex;

use crate::config::Config;
use crate::wiring;
use crate::worker::{Worker, WorkerConfig};

/// How long the media links in API responses stay valid.
const MEDIA_LINK_TTL_SECS: u64 = 24 * 3600;

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot reach {what} at {url}: {message}")]
    Backend {
        what: &'static str,
        url: String,
        message: String,
    },
}

fn unreachable<'a>(what: &'static str, url: &'a str) -> impl Fn(String) -> StartError + 'a {
    move |message| StartError::Backend {
        what,
        url: url.to_owned(),
        message,
    }
}

/// The instance secret: required (and identical on every node) in a multi-node deployment.
fn master_secret(config: &Config) -> Result<&str, StartError> {
    match config.instance.secret_key.as_deref() {
        Some(s) if s.len() >= 16 => Ok(s),
        _ => Err(StartError::Config(
            "instance.secret_key must be set (16+ characters, the same on every node)".to_owned(),
        )),
    }
}

fn media_secret(config: &Config) -> Result<Vec<u8>, StartError> {
    match &config.services.media_proxy.secret_key {
        Some(s) => Ok(s.as_bytes().to_vec()),
        None => Ok(wiring::derive_key(master_secret(config)?, "media")),
    }
}

/// The shared backends every node connects to.
pub struct Backends {
    pub store: Option<PostgresStore>,
    pub cache: Arc<RedisCache>,
    pub presence: Arc<dyn Presence>,
    pub events: Arc<dyn EventBus>,
    pub queue: Arc<dyn Queue>,
    pub blobs: Arc<dyn BlobStore>,
}

impl Backends {
    /// Connects to PostgreSQL (unless `with_store` is false: the media proxy needs none), Redis and NATS.
    pub async fn connect(config: &Config, with_store: bool) -> Result<Backends, StartError> {
        if config.database.backend != "postgres" {
            return Err(StartError::Config(
                "the per-service binaries store data in PostgreSQL: set database.backend = \"postgres\""
                    .to_owned(),
            ));
        }
        let pg = &config.database.postgres;
        let store = if with_store {
            Some(
                PostgresStore::connect(&pg.url, pg.pool_size)
                    .await
                    .map_err(|e| {
                        unreachable("PostgreSQL", &pg.url)(fluxer_core::error::chain(&e))
                    })?,
            )
        } else {
            None
        };
        let kv = &config.internal;
        let redis = RedisConfig::new(kv.kv.clone()).with_key_prefix(kv.kv_prefix.clone());
        let cache = RedisCache::connect(&redis)
            .await
            .map_err(|e| unreachable("Redis", &kv.kv)(fluxer_core::error::chain(&e)))?;
        let presence = RedisPresence::new(cache.connection(), &kv.kv_prefix);
        let nats = &config.services.nats;
        let mut nats_config =
            NatsConfig::new(nats.core_url.clone()).with_prefix(nats.prefix.clone());
        nats_config.ack_wait_ms = nats.ack_wait_ms;
        let client = nats_config
            .connect()
            .await
            .map_err(|e| unreachable("NATS", &nats.core_url)(fluxer_core::error::chain(&e)))?;
        let events = NatsEventBus::from_config(client.clone(), &nats_config)
            .map_err(|e| StartError::Config(format!("services.nats.prefix: {e}")))?;
        let queue = JetStreamQueue::open(client, &nats_config)
            .await
            .map_err(|e| {
                unreachable("NATS JetStream", &nats.core_url)(fluxer_core::error::chain(&e))
            })?;
        Ok(Backends {
            store,
            cache: Arc::new(cache),
            presence: Arc::new(presence),
            events: Arc::new(events),
            queue: Arc::new(queue),
            blobs: wiring::blob_store(config, &config.instance.data_dir())
                .map_err(StartError::Config)?,
        })
    }

    pub async fn close(&self) {
        if let Some(store) = &self.store {
            store.close();
        }
    }
}

fn search_dir(config: &Config) -> PathBuf {
    config
        .integrations
        .search
        .path
        .clone()
        .unwrap_or_else(|| config.instance.data_dir().join("search"))
}

/// The use-cases over the shared backends. `search` is this node's view of the index.
fn fluxer(
    config: &Config,
    backends: &Backends,
    search: Option<Arc<dyn SearchIndex>>,
    public_origin: &str,
) -> Result<Fluxer, StartError> {
    let store = backends
        .store
        .clone()
        .ok_or_else(|| StartError::Config("this service has no database connection".into()))?;
    let media_base = config
        .services
        .media_proxy
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{public_origin}/media"));
    let links: Arc<dyn Media> = Arc::new(MediaLinks::new(
        UrlSigner::new(media_secret(config)?),
        media_base,
        MEDIA_LINK_TTL_SECS,
    ));
    let ports = Ports {
        store: Arc::new(store),
        events: backends.events.clone(),
        mailer: wiring::mailer(config).map_err(StartError::Config)?,
        cache: backends.cache.clone(),
        clock: Arc::new(SystemClock),
        hasher: Arc::new(SpawnBlockingHasher::default()),
        queue: Some(backends.queue.clone()),
        search,
        blobs: Some(backends.blobs.clone()),
        media: Some(links),
    };
    Ok(Fluxer::new(
        ports,
        service::Config {
            worker_id: config.instance.worker_id,
            web_url: config
                .instance
                .web_url
                .clone()
                .unwrap_or_else(|| public_origin.to_owned()),
            require_verified_email: config.auth.require_verified_email,
            api_url: format!("{public_origin}/api"),
            link_secret: wiring::derive_key(master_secret(config)?, "links"),
            ..Default::default()
        },
    ))
}

/// A running service: its routes (`/_health` included) and what to close on shutdown.
pub struct Service {
    pub router: axum::Router,
    pub backends: Backends,
    worker: Option<Worker>,
    gateway: Option<Gateway>,
}

impl Service {
    /// Stops the worker (finishing running jobs) and closes the database pool.
    pub async fn shutdown(self) {
        if let Some(gateway) = &self.gateway {
            // Its clients resume on the other gateway nodes.
            gateway.shutdown(GATEWAY_SHUTDOWN).await;
        }
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        drop(self.router);
        self.backends.close().await;
    }
}

fn gateway_url(config: &Config) -> String {
    let g = &config.services.gateway;
    g.public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{}:{}", g.host, g.port))
}

/// `fluxer-api`: the REST API. It enqueues jobs and never runs them; it searches a read-only view of
/// the worker's index.
pub async fn api(config: &Config, public_origin: &str) -> Result<Service, StartError> {
    let backends = Backends::connect(config, true).await?;
    let search: Option<Arc<dyn SearchIndex>> = match config.integrations.search.engine.as_str() {
        "none" => None,
        _ => {
            let dir = search_dir(config);
            Some(Arc::new(TantivySearchIndex::open_read_only(&dir).map_err(
                |e| {
                    StartError::Config(format!(
                        "search index {}: {}",
                        dir.display(),
                        fluxer_core::error::chain(&e)
                    ))
                },
            )?))
        }
    };
    let fluxer = fluxer(config, &backends, search, public_origin)?;
    let api_config = wiring::api_config(
        config,
        format!("{}/gateway", gateway_url(config).trim_end_matches('/')),
    )
    .map_err(StartError::Config)?;
    let router = fluxer_api::router(ApiState::new(fluxer, backends.cache.clone(), api_config));
    Ok(Service {
        router,
        backends,
        worker: None,
        gateway: None,
    })
}

/// How long a stopping gateway node waits for its clients to take the RECONNECT.
const GATEWAY_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// `fluxer-gateway`: WebSocket sessions at `/gateway`, events from the NATS bus, presence in Redis.
pub async fn gateway(config: &Config) -> Result<Service, StartError> {
    let backends = Backends::connect(config, true).await?;
    let origin = config.public_origin(config.services.api.port);
    let fluxer = fluxer(config, &backends, None, &origin)?;
    let gateway = Gateway::new(
        fluxer,
        backends.presence.clone(),
        GatewayConfig {
            public_url: format!("{}/gateway", gateway_url(config).trim_end_matches('/')),
            guild_shards: config.services.gateway.guild_shards,
            ..Default::default()
        },
    );
    let router = gateway.router().merge(fluxer_api::health_router());
    Ok(Service {
        router,
        backends,
        worker: None,
        gateway: Some(gateway),
    })
}

/// `fluxer-worker`: runs the queue's jobs (email, indexing, exports, scheduled jobs) and owns the
/// search index's writer. Serves `/_health` only.
pub async fn worker(config: &Config) -> Result<Service, StartError> {
    let backends = Backends::connect(config, true).await?;
    let search: Option<Arc<dyn SearchIndex>> = match config.integrations.search.engine.as_str() {
        "none" => None,
        _ => {
            let dir = search_dir(config);
            Some(Arc::new(TantivySearchIndex::open(&dir).map_err(|e| {
                StartError::Config(format!(
                    "search index {}: {}",
                    dir.display(),
                    fluxer_core::error::chain(&e)
                ))
            })?))
        }
    };
    let origin = config.public_origin(config.services.api.port);
    let fluxer = fluxer(config, &backends, search, &origin)?;
    let worker = Worker::spawn(
        fluxer,
        backends.queue.clone(),
        backends.cache.clone(),
        WorkerConfig {
            concurrency: config.worker.concurrency,
            ..Default::default()
        },
    );
    Ok(Service {
        router: fluxer_api::health_router(),
        backends,
        worker: Some(worker),
        gateway: None,
    })
}

/// `fluxer-media`: the media proxy over the shared blob store (no database).
pub async fn media(config: &Config) -> Result<Service, StartError> {
    let backends = Backends::connect(config, false).await?;
    let media = MediaProxy::new(
        backends.blobs.clone(),
        wiring::media_config(config, media_secret(config)?),
    );
    let router = axum::Router::new()
        .nest("/media", media.router())
        .merge(fluxer_api::health_router());
    Ok(Service {
        router,
        backends,
        worker: None,
        gateway: None,
    })
}
