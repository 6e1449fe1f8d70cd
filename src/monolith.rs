//! The embedded deployment: everything in one process with no external service. SQLite stores the
//! data, a second SQLite file the job queue, tantivy the search index, the filesystem the blobs; the
//! cache, event bus and presence live in memory; email goes over SMTP when configured and to the log
//! otherwise. The REST API, the gateway, the media proxy (`/media`) and the S3-compatible endpoint
//! (`/s3`) share one router, and a worker runs the jobs in-process. `fluxer-server` is a thin `main`
//! around this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluxer_api::{ApiState, SpawnBlockingHasher};
use fluxer_core::ports::{Cache, EventBus, Media, Queue, SearchIndex, SystemClock};
use fluxer_core::service::{self, Fluxer, Ports, random_base62};
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_media::MediaLinks;
use fluxer_media::proxy::MediaProxy;
use fluxer_media::s3::{S3Config, S3Credentials, S3Service};
use fluxer_storage::memory::{InProcessEventBus, MemoryCache, MemoryPresence};
use fluxer_storage::sqlite::{SqliteQueue, SqliteStore};
use fluxer_storage::tantivy::TantivySearchIndex;

use crate::config::Config;
use crate::wiring;
use crate::worker::{Worker, WorkerConfig};

/// How long the media links in API responses stay valid.
const MEDIA_LINK_TTL_SECS: u64 = 24 * 3600;

/// A running set of services, ready to serve.
pub struct Monolith {
    pub fluxer: Fluxer,
    pub gateway: Gateway,
    pub router: axum::Router,
    pub media: MediaProxy,
    store: Arc<SqliteStore>,
    worker: Option<Worker>,
}

/// Why the monolith could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database at {path}: {message}")]
    Database { path: String, message: String },
    #[error("cannot open {what} at {path}: {message}")]
    Open {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn open_error<'a>(what: &'static str, path: &'a Path) -> impl Fn(String) -> StartError + 'a {
    move |message| StartError::Open {
        what,
        path: path.display().to_string(),
        message,
    }
}

/// The instance's master secret: configured, or generated once into `{data_dir}/secret.key` (mode 0600).
fn master_secret(config: &Config, data_dir: &Path) -> Result<String, StartError> {
    if let Some(s) = &config.instance.secret_key {
        return Ok(s.clone());
    }
    let path = data_dir.join("secret.key");
    let err = open_error("the instance secret", &path);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|e| err(fluxer_core::error::chain(&e)))?;
    let secret = random_base62(64);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options
        .open(&path)
        .map_err(|e| err(fluxer_core::error::chain(&e)))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| err(fluxer_core::error::chain(&e)))?;
    Ok(secret)
}

impl Monolith {
    /// Opens the stores and wires every service. `public_origin` is where clients reach this server.
    pub async fn build(config: &Config, public_origin: &str) -> Result<Monolith, StartError> {
        if config.database.backend != "sqlite" {
            return Err(StartError::Config(
                "the monolith stores its data in SQLite (database.backend = \"sqlite\"); run the \
                 per-service binaries (fluxer-api, fluxer-gateway, fluxer-worker, fluxer-media) on PostgreSQL"
                    .to_owned(),
            ));
        }
        let data_dir = config.instance.data_dir();
        let path = &config.database.sqlite_path;
        // Opening runs migrations: blocking work, kept off the async workers.
        let opening = path.clone();
        let db_error = |message: String| StartError::Database {
            path: path.display().to_string(),
            message,
        };
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(opening))
            .await
            .map_err(|e| db_error(fluxer_core::error::chain(&e)))?
            .map_err(|e| db_error(fluxer_core::error::chain(&e)))?;
        let store = Arc::new(store);

        let queue_path = data_dir.join("queue.db");
        let sqlite_queue = SqliteQueue::open(&queue_path)
            .map_err(|e| open_error("the job queue", &queue_path)(fluxer_core::error::chain(&e)))?;
        // The monolith is its queue's only consumer: what was in flight died with the last run.
        let released = sqlite_queue
            .release_in_flight()
            .await
            .map_err(|e| open_error("the job queue", &queue_path)(fluxer_core::error::chain(&e)))?;
        if released > 0 {
            tracing::info!(
                jobs = released,
                "queue: jobs left in flight by the last run are due again"
            );
        }
        let queue: Arc<dyn Queue> = Arc::new(sqlite_queue);
        let search: Option<Arc<dyn SearchIndex>> = match config.integrations.search.engine.as_str()
        {
            "none" => None,
            _ => {
                let dir: PathBuf = config
                    .integrations
                    .search
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("search"));
                let index = TantivySearchIndex::open(&dir).map_err(|e| {
                    open_error("the search index", &dir)(fluxer_core::error::chain(&e))
                })?;
                Some(Arc::new(index))
            }
        };
        let blobs = wiring::blob_store(config, &data_dir).map_err(StartError::Config)?;
        let secret = master_secret(config, &data_dir)?;

        let media_secret = config
            .services
            .media_proxy
            .secret_key
            .as_ref()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_else(|| wiring::derive_key(&secret, "media"));
        let media = MediaProxy::new(blobs.clone(), wiring::media_config(config, media_secret));
        let links: Arc<dyn Media> = Arc::new(MediaLinks::new(
            media.signer().clone(),
            format!("{public_origin}/media"),
            MEDIA_LINK_TTL_SECS,
        ));
        let events: Arc<dyn EventBus> = Arc::new(InProcessEventBus::new());
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        let ports = Ports {
            store: store.clone(),
            events,
            mailer: wiring::mailer(config).map_err(StartError::Config)?,
            cache: cache.clone(),
            clock: Arc::new(SystemClock),
            hasher: Arc::new(SpawnBlockingHasher::default()),
            queue: Some(queue.clone()),
            search,
            blobs: Some(blobs),
            media: Some(links),
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
                api_url: format!("{public_origin}/api"),
                link_secret: wiring::derive_key(&secret, "links"),
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
        let api_config =
            wiring::api_config(config, gateway_url.clone()).map_err(StartError::Config)?;
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
        let mut router =
            fluxer_api::router(ApiState::new(fluxer.clone(), cache.clone(), api_config))
                .merge(gateway.router())
                .nest("/media", media.router());

        // The S3 endpoint has no anonymous access: it is mounted once access keys are configured.
        let s3 = &config.services.s3;
        if let (true, Some(id), Some(key)) = (s3.enabled, &s3.access_key_id, &s3.secret_access_key)
        {
            let root = s3.data_dir.clone().unwrap_or_else(|| data_dir.join("s3"));
            let service = S3Service::new(S3Config {
                root: root.clone(),
                region: s3.region.clone(),
                credentials: vec![S3Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: key.clone(),
                }],
                buckets: s3.buckets.clone(),
                max_object_bytes: 5 << 30,
            })
            .map_err(|e| {
                open_error("the S3 endpoint's data", &root)(fluxer_core::error::chain(&e))
            })?;
            router = router.nest("/s3", service.router());
        }

        let worker = config.worker.enabled.then(|| {
            Worker::spawn(
                fluxer.clone(),
                queue,
                cache,
                WorkerConfig {
                    concurrency: config.worker.concurrency,
                    ..Default::default()
                },
            )
        });
        Ok(Monolith {
            fluxer,
            gateway,
            router,
            media,
            store,
            worker,
        })
    }

    /// Finishes the running jobs, flushes pending writes and closes the database.
    pub async fn shutdown(self) {
        // Clients are told to reconnect first, while the database still answers.
        self.gateway
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        drop(self.router);
        drop(self.gateway);
        drop(self.fluxer);
        self.store.close().await;
    }
}
