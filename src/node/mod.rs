//! The composition root: one [`Node`] built from the configuration and the [`Roles`] it plays.
//!
//! The monolith is every role on the embedded defaults (SQLite, an in-process bus, memory cache, a
//! SQLite job queue, tantivy, filesystem blobs); a per-service process is one role on shared
//! backends (PostgreSQL, NATS, Redis, S3). Each port's backend comes from its own section of the
//! configuration, so any mix in between works too: a single node on PostgreSQL with nothing else,
//! say. What a role needs and only what it needs is opened:
//!
//! | role | serves | needs |
//! |---|---|---|
//! | `api` | `/api/v1/*` (and `/_health`, `/_live`, `/_ready`) | database, cache, bus, queue (enqueues), search (reads) |
//! | `gateway` | `/gateway` | database, cache and presence, bus |
//! | `worker` | runs the queue's jobs, new messages' follow-ups (the store's outbox) and cron | database, cache, bus, queue, search (writes) |
//! | `media` | `/media` (the media proxy) | blobs |
//! | `s3` | `/s3` (the S3-compatible endpoint) | its directory, access keys |
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use fluxer::config::Config;
//! use fluxer::node::{Node, Roles};
//!
//! let config = Config::load(None, std::env::vars())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let node = Node::build(&config, Roles::ALL, "http://127.0.0.1:8080").await?;
//! fluxer::runtime::serve(listener, node.router(), Default::default()).await?;
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod health;
pub(crate) mod ports;
mod roles;

use std::sync::Arc;
use std::time::Duration;

use fluxer_api::{ApiState, DatabaseCheck, Readiness, ReadinessCheck, SpawnBlockingHasher};
use fluxer_core::ports::{Media, SystemClock};
use fluxer_core::service::{self, Fluxer, Ports};
use fluxer_gateway::{Gateway, GatewayConfig};
use fluxer_media::proxy::{MediaProxy, UrlSigner};
use fluxer_media::s3::{S3Config, S3Credentials, S3Service};
use fluxer_media::{LinkPreviews, MediaLinks};

pub use roles::{Role, Roles};

use crate::config::{self, Config};
use crate::worker::{Worker, WorkerConfig};

/// How long the media links in API responses stay valid.
const MEDIA_LINK_TTL_SECS: u64 = 24 * 3600;

/// How long a stopping gateway waits for its clients to take the RECONNECT.
const GATEWAY_SHUTDOWN: Duration = Duration::from_secs(5);
/// How often unconfirmed voice joins are looked for (they expire after 30 s).
const VOICE_SWEEP: Duration = Duration::from_secs(5);
/// Voice sweeps between two sweeps of old stream previews (an hour).
const PREVIEW_SWEEP_TICKS: u64 = 720;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration asks for something impossible; the message names the key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A backend could not be opened or reached.
    #[error("cannot open {what} at {location}: {message}")]
    Open {
        /// The backend (`PostgreSQL`, `the search index`).
        what: &'static str,
        /// Its path or URL.
        location: String,
        /// The whole error chain.
        message: String,
    },
}

/// A running node: the routes of its roles and the services behind them.
pub struct Node {
    roles: Roles,
    fluxer: Option<Fluxer>,
    gateway: Option<Gateway>,
    media: Option<MediaProxy>,
    router: axum::Router,
    worker: Option<Worker>,
    database: Option<ports::Database>,
    /// Drops voice joins LiveKit never confirmed (on the node that holds the gateway).
    voice_sweeper: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Opens what `roles` need and wires them. `public_origin` is where clients reach this
    /// instance's API (`https://chat.example.com`).
    pub async fn build(
        config: &Config,
        roles: Roles,
        public_origin: &str,
    ) -> Result<Node, StartError> {
        if roles.is_empty() {
            return Err(StartError::Config("a node needs at least one role".into()));
        }
        let (api, gateway_role, worker_role) = (
            roles.contains(Role::Api),
            roles.contains(Role::Gateway),
            roles.contains(Role::Worker),
        );
        let needs_use_cases = api || gateway_role || worker_role;
        // Events reach a gateway only through the bus: a process that causes events but does not
        // hold the gateway they go to (or the reverse) needs one shared with its peers.
        let alone = api != gateway_role || (worker_role && !(api && gateway_role));
        if alone && matches!(config.bus, config::Bus::InProcess {}) {
            return Err(StartError::Config(format!(
                "bus.backend = in_process reaches only this process, which runs {roles}: roles \
                 split across processes need a shared bus (bus.backend = \"nats\")"
            )));
        }
        if (api || gateway_role) && !worker_role {
            tracing::info!(
                "this node runs no worker: jobs and new messages' follow-ups wait for one"
            );
        }
        // Nodes on a shared bus may sit on other hosts, where a generated secret would differ.
        let shared_state = !matches!(config.bus, config::Bus::InProcess {});
        let secret = ports::master_secret(config, shared_state)?;
        let media_key = ports::media_key(config, &secret);

        // One blob store for the use-cases and the media proxy alike.
        let blobs = if needs_use_cases || roles.contains(Role::Media) {
            Some(ports::blobs(config)?)
        } else {
            None
        };
        let gateway_public_url = gateway_url(config, roles, public_origin);

        // What `/_ready` checks: what this node's roles use.
        let mut checks: Vec<Arc<dyn ReadinessCheck>> = Vec::new();
        if let (true, Some(blobs)) = (api || worker_role || roles.contains(Role::Media), &blobs) {
            checks.push(Arc::new(health::BlobsCheck(blobs.clone())));
        }

        let mut router = axum::Router::new();
        let mut web_app = None;
        let (mut fluxer, mut gateway, mut worker, mut database, mut media) =
            (None, None, None, None, None);
        // The gateway is built after the API: the admin API's statistics read it once it is.
        let late_gateway = Arc::new(LateGateway::default());
        let mut voice_sweeper = None;
        if needs_use_cases {
            let built = UseCases::open(
                config,
                roles,
                public_origin,
                &secret,
                &media_key,
                blobs.clone(),
            )
            .await?;
            checks.push(Arc::new(DatabaseCheck(built.fluxer.clone())));
            if api || worker_role {
                checks.push(Arc::new(health::QueueCheck(built.queue.clone())));
                if let config::Search::Tantivy { path } = &config.integrations.search {
                    checks.push(Arc::new(health::SearchDirCheck {
                        dir: ports::search_dir(config, path.as_deref()),
                        writer: worker_role,
                    }));
                }
            }
            if api {
                let api = ports::api_config(
                    config,
                    public_origin,
                    gateway_public_url.clone(),
                    ports::media_url(config, public_origin),
                )?;
                let web = crate::web::WebApp::open(config.web.app_dir.as_deref(), &api.instance)?;
                let state = ApiState::new(built.fluxer.clone(), built.cache.clone(), api)
                    .with_readiness(Readiness::new(checks.clone()))
                    .with_gateway_stats(late_gateway.clone());
                router = router.merge(fluxer_api::router(state));
                web_app = Some(web);
            }
            if gateway_role {
                let node = Gateway::new(
                    built.fluxer.clone(),
                    built.cache.clone(),
                    built.presence.clone(),
                    GatewayConfig {
                        public_url: gateway_public_url,
                        guild_shards: config.services.gateway.guild_shards,
                        ..Default::default()
                    },
                );
                router = router.merge(with_ip_bans(
                    node.router(),
                    built.fluxer.clone(),
                    config.trusted_proxies().map_err(StartError::Config)?,
                ));
                let _ = late_gateway.0.set(node.clone());
                gateway = Some(node);
                if built.fluxer.voice_enabled() {
                    let fluxer = built.fluxer.clone();
                    voice_sweeper = Some(tokio::spawn(async move {
                        let mut every = tokio::time::interval(VOICE_SWEEP);
                        let mut ticks: u64 = 0;
                        loop {
                            every.tick().await;
                            // Day-old stream previews go about once an hour (a blob listing).
                            if ticks.is_multiple_of(PREVIEW_SWEEP_TICKS)
                                && let Err(e) = fluxer.sweep_stream_previews().await
                            {
                                tracing::warn!(error = %fluxer_core::error::chain(&e), "sweeping stream previews failed");
                            }
                            ticks += 1;
                            // Staff may change the regions on any node: follow the stored ones.
                            if let Err(e) = fluxer.reload_voice_regions().await {
                                tracing::warn!(error = %fluxer_core::error::chain(&e), "reloading voice regions failed");
                            }
                            if let Err(e) = fluxer.expire_pending_voice().await {
                                tracing::warn!(error = %fluxer_core::error::chain(&e), "expiring pending voice joins failed");
                            }
                        }
                    }));
                }
            }
            if worker_role {
                worker = Some(Worker::spawn(
                    built.fluxer.clone(),
                    built.queue.clone(),
                    built.cache.clone(),
                    WorkerConfig {
                        concurrency: config.worker.concurrency,
                        sole_consumer: built.database.embedded(),
                        ..Default::default()
                    },
                ));
            }
            fluxer = Some(built.fluxer);
            database = Some(built.database);
        }
        if let (true, Some(blobs)) = (roles.contains(Role::Media), blobs) {
            let proxy = MediaProxy::new(blobs, ports::media_config(config, media_key));
            router = router.nest("/media", proxy.router());
            media = Some(proxy);
        }
        if roles.contains(Role::S3)
            && let Some(s3) = s3_endpoint(config, roles)?
        {
            router = router.nest("/s3", s3.router());
        }
        if !roles.contains(Role::Api) {
            router = router.merge(fluxer_api::health_router(Readiness::new(checks)));
        }
        // Last, so that every role's routes come first: the app, the avatars, the home page.
        if let Some(web) = web_app {
            router = router.fallback(move |request: axum::extract::Request| {
                let web = web.clone();
                async move { web.serve(request).await }
            });
        }
        Ok(Node {
            roles,
            fluxer,
            gateway,
            media,
            router,
            worker,
            database,
            voice_sweeper,
        })
    }

    /// Every role on this configuration: the monolith.
    pub async fn monolith(config: &Config, public_origin: &str) -> Result<Node, StartError> {
        Node::build(config, Roles::ALL, public_origin).await
    }

    /// The roles this node plays.
    pub fn roles(&self) -> Roles {
        self.roles
    }

    /// The routes of every role, `/_health` included: mount them, or hand them to
    /// [`crate::runtime::serve`].
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The use-cases, on nodes that run the API, the gateway or the worker.
    pub fn fluxer(&self) -> Option<&Fluxer> {
        self.fluxer.as_ref()
    }

    /// The gateway, on nodes with that role.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.gateway.as_ref()
    }

    /// The media proxy, on nodes with that role.
    pub fn media(&self) -> Option<&MediaProxy> {
        self.media.as_ref()
    }

    /// Tells gateway clients to reconnect (elsewhere, or here after a restart), finishes the
    /// running jobs, then flushes pending writes and closes the database.
    pub async fn shutdown(self) {
        if let Some(sweeper) = &self.voice_sweeper {
            sweeper.abort();
        }
        if let Some(gateway) = &self.gateway {
            gateway.shutdown(GATEWAY_SHUTDOWN).await;
        }
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        drop(self.router);
        drop(self.gateway);
        drop(self.fluxer);
        if let Some(database) = self.database {
            database.close().await;
        }
    }
}

/// The use-cases and the ports the hosts share.
struct UseCases {
    fluxer: Fluxer,
    database: ports::Database,
    cache: Arc<dyn fluxer_core::ports::Cache>,
    presence: Arc<dyn fluxer_core::ports::Presence>,
    queue: Arc<dyn fluxer_core::ports::Queue>,
}

impl UseCases {
    async fn open(
        config: &Config,
        roles: Roles,
        public_origin: &str,
        secret: &str,
        media_key: &[u8],
        blobs: Option<Arc<dyn fluxer_core::ports::BlobStore>>,
    ) -> Result<UseCases, StartError> {
        let database = ports::Database::open(config).await?;
        let (cache, presence, voice_states) = ports::cache(config).await?;
        let nats = ports::nats(config).await?;
        let events = ports::bus(config, nats.as_ref())?;
        let runs_worker = roles.contains(Role::Worker);
        let queue = ports::queue(config, nats.as_ref(), runs_worker).await?;
        // The worker writes the index; an API node without it searches a read-only view. A
        // gateway searches nothing.
        let search = if runs_worker || roles.contains(Role::Api) {
            ports::search(config, runs_worker).await?
        } else {
            None
        };
        let media_base = ports::media_url(config, public_origin);
        let links: Arc<dyn Media> = Arc::new(MediaLinks::new(
            UrlSigner::new(media_key.to_vec()),
            media_base,
            MEDIA_LINK_TTL_SECS,
        ));
        let media_proxy = &config.services.media_proxy;
        let unfurler = (media_proxy.link_previews && media_proxy.external_enabled).then(|| {
            Arc::new(LinkPreviews::new(media_proxy.allow_addresses.clone()))
                as Arc<dyn fluxer_core::ports::Unfurler>
        });
        let gif_providers = ports::gif_providers(config);
        let domain_probe = ports::domain_probe(config)?;
        let bluesky = ports::bluesky(config, public_origin, domain_probe.clone())?;
        let push = ports::push_sender(config, secret, public_origin)?;
        let webauthn = ports::webauthn(config, public_origin)?;
        let (voice, voice_settings) = ports::voice(config);
        let ports = Ports {
            store: database.store(),
            events,
            mailer: ports::mailer(config)?,
            cache: cache.clone(),
            clock: Arc::new(SystemClock),
            hasher: Arc::new(SpawnBlockingHasher::default()),
            queue: Some(queue.clone()),
            search,
            blobs,
            media: Some(links),
            presence: Some(presence.clone()),
            unfurler,
            gif_providers,
            domain_probe: Some(domain_probe),
            bluesky,
            push,
            sso: ports::sso(config),
            webauthn,
            voice,
            voice_states,
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
                link_secret: ports::derive_key(secret, "links"),
                message_deletion_delay_secs: config
                    .auth
                    .message_deletion_delay_secs
                    .map_or(24 * 3600, |s| s.min(i64::MAX as u64) as i64),
                require_ip_authorization: config
                    .auth
                    .ip_authorization
                    .unwrap_or(!matches!(config.integrations.email, config::Email::Log {})),
                oauth2: oauth2_lifetimes(&config.auth),
                sso: ports::sso_settings(config),
                discovery: service::DiscoverySettings {
                    enabled: config.discovery.enabled,
                    min_member_count: config.discovery.min_member_count,
                },
                voice: voice_settings,
                instance: ports::instance_defaults(config),
                ..Default::default()
            },
        );
        Ok(UseCases {
            fluxer,
            database,
            cache,
            presence,
            queue,
        })
    }
}

/// The use-cases on the configured database alone, for operator commands that run beside (or
/// instead of) a server: no queue (their jobs run inline), an in-process bus and cache, email to the
/// configured mailer, and `search` as the index to write, if any.
pub(crate) async fn tool_use_cases(
    config: &Config,
    search: Option<Arc<dyn fluxer_core::ports::SearchIndex>>,
) -> Result<(Fluxer, ports::Database), StartError> {
    let database = ports::Database::open(config).await?;
    let mut tool_ports = Ports::new(
        database.store(),
        Arc::new(fluxer_storage::memory::InProcessEventBus::new()),
        ports::mailer(config)?,
        Arc::new(fluxer_storage::memory::MemoryCache::new()),
    );
    tool_ports.search = search;
    let fluxer = Fluxer::new(
        tool_ports,
        service::Config {
            worker_id: config.instance.worker_id,
            ..Default::default()
        },
    );
    Ok((fluxer, database))
}

/// `auth.oauth2_*_ttl_secs`, each defaulting to upstream's lifetime (and at most ten years).
fn oauth2_lifetimes(auth: &crate::config::Auth) -> service::OAuth2Lifetimes {
    let defaults = service::OAuth2Lifetimes::default();
    let secs =
        |v: Option<u64>, default: i64| v.map_or(default, |s| s.min(10 * 365 * 86_400) as i64);
    service::OAuth2Lifetimes {
        code_secs: secs(auth.oauth2_code_ttl_secs, defaults.code_secs),
        access_token_secs: secs(
            auth.oauth2_access_token_ttl_secs,
            defaults.access_token_secs,
        ),
        refresh_token_secs: secs(
            auth.oauth2_refresh_token_ttl_secs,
            defaults.refresh_token_secs,
        ),
    }
}

/// Where clients open the gateway: `services.gateway.public_url`, else beside the API when this
/// node serves both, else the gateway's own listener.
fn gateway_url(config: &Config, roles: Roles, public_origin: &str) -> String {
    let gateway = &config.services.gateway;
    let base = match &gateway.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if roles.contains(Role::Api) && roles.contains(Role::Gateway) => {
            let scheme = if public_origin.starts_with("https://") {
                "wss"
            } else {
                "ws"
            };
            let host = public_origin.split("://").nth(1).unwrap_or(public_origin);
            format!("{scheme}://{host}")
        }
        None => format!("ws://{}:{}", gateway.host, gateway.port),
    };
    format!("{base}/gateway")
}

/// The S3-compatible endpoint. It has no anonymous access: without access keys it is not mounted
/// (and a node that runs it alone refuses to start).
fn s3_endpoint(config: &Config, roles: Roles) -> Result<Option<S3Service>, StartError> {
    let s3 = &config.services.s3;
    let (true, Some(id), Some(key)) = (s3.enabled, &s3.access_key_id, &s3.secret_access_key) else {
        if roles == Roles::only(Role::S3) {
            return Err(StartError::Config(
                "services.s3: the S3 role needs enabled = true, access_key_id and secret_access_key"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    let root = s3
        .data_dir
        .clone()
        .unwrap_or_else(|| config.instance.data_dir().join("s3"));
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
    .map_err(|e| StartError::Open {
        what: "the S3 endpoint's data",
        location: root.display().to_string(),
        message: fluxer_core::error::chain(&e),
    })?;
    Ok(Some(service))
}

/// The address a node with these roles listens on: the role's own listener when it runs alone,
/// `services.server` otherwise.
pub fn listen_address(config: &Config, roles: Roles) -> (String, u16) {
    let single = |role| roles == Roles::only(role);
    let s = &config.services;
    if single(Role::Api) {
        (s.api.host.clone(), s.api.port)
    } else if single(Role::Gateway) {
        (s.gateway.host.clone(), s.gateway.port)
    } else if single(Role::Media) {
        (s.media_proxy.host.clone(), s.media_proxy.port)
    } else if single(Role::Worker) {
        (config.worker.host.clone(), config.worker.port)
    } else if single(Role::S3) {
        (s.s3.host.clone(), s.s3.port)
    } else {
        (s.server.host.clone(), s.server.port)
    }
}

/// Records the port a listener actually got (port 0 means "any") where URLs derived from it look.
pub fn record_bound_port(config: &mut Config, roles: Roles, port: u16) {
    let single = |role| roles == Roles::only(role);
    if single(Role::Api) {
        config.services.api.port = port;
    } else if single(Role::Gateway) {
        config.services.gateway.port = port;
    } else if single(Role::Media) {
        config.services.media_proxy.port = port;
    } else if single(Role::Worker) {
        config.worker.port = port;
    } else if single(Role::S3) {
        config.services.s3.port = port;
    } else {
        config.services.server.port = port;
    }
}

/// The origin clients reach the API at, for a node with these roles whose listener got `port`.
pub fn public_origin(config: &Config, roles: Roles, bound_port: u16) -> String {
    if roles.contains(Role::Api) {
        config.public_origin(bound_port)
    } else {
        config.public_origin(config.services.api.port)
    }
}

/// The gateway of this process, for the admin API's statistics: set once the gateway is built.
#[derive(Default)]
struct LateGateway(std::sync::OnceLock<Gateway>);

impl fluxer_api::GatewayStats for LateGateway {
    fn counts(&self) -> Option<fluxer_api::GatewayCounts> {
        self.0.get().map(|g| fluxer_api::GatewayCounts {
            sessions: g.session_count(),
            connections: g.connection_count(),
            guilds: g.cached_guild_count(),
        })
    }

    fn loaded_guilds(&self) -> Vec<fluxer_api::LoadedGuildStats> {
        let Some(g) = self.0.get() else {
            return Vec::new();
        };
        g.loaded_guilds()
            .into_iter()
            .map(|l| fluxer_api::LoadedGuildStats {
                guild_id: l.guild_id,
                name: l.name,
                icon: l.icon,
                state_bytes: l.state_bytes,
                sessions: l.sessions,
                users: l.users,
            })
            .collect()
    }
}

/// `router` with connections from banned IPs refused (403 `IP_BANNED`), as the API's own layer
/// refuses its requests: for the gateway, whose routes are not the API's. The bans are read from
/// memory, not per connection.
fn with_ip_bans(
    router: axum::Router,
    fluxer: Fluxer,
    trusted_proxies: Vec<fluxer_api::ratelimit::IpNet>,
) -> axum::Router {
    let client_ip = fluxer_api::ratelimit::ClientIp { trusted_proxies };
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (fluxer, client_ip) = (fluxer.clone(), client_ip.clone());
            async move {
                use axum::response::IntoResponse;
                let ip = client_ip.of(req.extensions(), req.headers());
                match fluxer.refuse_banned_ip(ip).await {
                    Ok(()) => next.run(req).await,
                    Err(e) => fluxer_api::ApiError::from(e).into_response(),
                }
            }
        },
    ))
}
