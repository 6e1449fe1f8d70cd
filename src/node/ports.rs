//! One function per port: the adapter the configuration names, opened and checked. A backend this
//! build was compiled without is a configuration error naming the cargo feature that brings it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluxer_api::ratelimit::ClientIp;
use fluxer_api::{ApiConfig, InstanceInfo, PagesConfig, WebAuthnRelyingParty};
use fluxer_core::error::chain;
use fluxer_core::ports::{
    BlobStore, BlueskyOAuth, Cache, DomainProbe, EventBus, GifProvider, Mailer, OidcConnector,
    Presence, PushSender, Queue, SearchIndex, Store, VoiceStates, WebAuthnCeremonies,
};
use fluxer_core::secret::{hash_token, random_base62};
use fluxer_media::bluesky::AtprotoClient;
use fluxer_media::oidc::OidcConnections;
use fluxer_media::proxy::MediaConfig;
use fluxer_media::{AtprotoOAuth, DomainChecks, GifApi, WebPush};
use fluxer_storage::memory::{InProcessEventBus, LogMailer, MemoryCache, MemoryPresence};
use fluxer_storage::object_store::ObjectBlobStore;

use super::StartError;
use crate::config::{self, Config};

/// A feature this build lacks, as a configuration error.
#[allow(dead_code)] // Every backend may be compiled in.
fn missing(key: &str, feature: &str) -> StartError {
    StartError::Config(format!(
        "{key}: this build has no such backend (build with the `{feature}` feature)"
    ))
}

fn open_error(
    what: &'static str,
    location: impl std::fmt::Display,
) -> impl Fn(String) -> StartError {
    let location = location.to_string();
    move |message| StartError::Open {
        what,
        location: location.clone(),
        message,
    }
}

/// The open database, kept to close it on shutdown.
#[derive(Clone)]
pub(crate) enum Database {
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<fluxer_storage::sqlite::SqliteStore>),
    #[cfg(feature = "postgres")]
    Postgres(Arc<fluxer_storage::postgres::PostgresStore>),
}

impl Database {
    /// Only this process writes it (an embedded SQLite file): its worker is the one consumer of
    /// the store's outbox.
    pub(super) fn embedded(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => true,
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => false,
        }
    }

    pub(super) async fn open(config: &Config) -> Result<Database, StartError> {
        match &config.database {
            #[cfg(feature = "sqlite")]
            config::Database::Sqlite { path } => {
                let err = open_error("the database", path.display());
                // Opening runs migrations: blocking work, kept off the async workers.
                let opening = path.clone();
                let store = tokio::task::spawn_blocking(move || {
                    fluxer_storage::sqlite::SqliteStore::open(opening)
                })
                .await
                .map_err(|e| err(chain(&e)))?
                .map_err(|e| err(chain(&e)))?;
                Ok(Database::Sqlite(Arc::new(store)))
            }
            #[cfg(feature = "postgres")]
            config::Database::Postgres { url, pool_size } => {
                let store = fluxer_storage::postgres::PostgresStore::connect(url, *pool_size)
                    .await
                    .map_err(|e| open_error("PostgreSQL", url)(chain(&e)))?;
                Ok(Database::Postgres(Arc::new(store)))
            }
            #[allow(unreachable_patterns)]
            config::Database::Sqlite { .. } => Err(missing("database.backend = sqlite", "sqlite")),
            #[allow(unreachable_patterns)]
            _ => Err(missing("database.backend = postgres", "postgres")),
        }
    }

    pub(super) fn store(&self) -> Arc<dyn Store> {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(s) => s.clone(),
            #[cfg(feature = "postgres")]
            Database::Postgres(s) => s.clone(),
        }
    }

    /// Flushes pending writes and closes the connections.
    pub(crate) async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(s) => s.close().await,
            #[cfg(feature = "postgres")]
            Database::Postgres(s) => s.close(),
        }
    }
}

/// The cache, presence and voice states on one backend (voice states: `None` is the use-cases'
/// own in-process map).
pub(super) type SharedState = (
    Arc<dyn Cache>,
    Arc<dyn Presence>,
    Option<Arc<dyn VoiceStates>>,
);

/// The cache and, on the same backend, presence and voice states.
pub(super) async fn cache(config: &Config) -> Result<SharedState, StartError> {
    match &config.cache {
        config::Cache::Memory {} => Ok((
            Arc::new(MemoryCache::new()),
            Arc::new(MemoryPresence::with_shards(
                config.services.gateway.presence_shards,
            )),
            None,
        )),
        #[cfg(feature = "redis")]
        config::Cache::Redis { url, key_prefix } => {
            use fluxer_storage::redis::{RedisCache, RedisConfig, RedisPresence, RedisVoiceStates};
            let redis = RedisConfig::new(url.clone()).with_key_prefix(key_prefix.clone());
            let cache = RedisCache::connect(&redis)
                .await
                .map_err(|e| open_error("Redis", url)(chain(&e)))?;
            let presence = RedisPresence::new(cache.connection(), key_prefix);
            let voice_states = RedisVoiceStates::new(cache.connection(), key_prefix);
            Ok((
                Arc::new(cache),
                Arc::new(presence),
                Some(Arc::new(voice_states)),
            ))
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing("cache.backend = redis", "redis")),
    }
}

/// The NATS connection, when the bus or the queue rides on it.
#[cfg(feature = "nats")]
pub(super) struct Nats {
    client: fluxer_storage::nats::NatsClient,
    config: fluxer_storage::nats::NatsConfig,
}

#[cfg(not(feature = "nats"))]
pub(super) enum Nats {}

pub(super) async fn nats(config: &Config) -> Result<Option<Nats>, StartError> {
    let wanted = matches!(config.bus, config::Bus::Nats {})
        || matches!(config.queue, config::Queue::Nats {});
    if !wanted {
        return Ok(None);
    }
    #[cfg(feature = "nats")]
    {
        let nats = &config.services.nats;
        let mut nats_config = fluxer_storage::nats::NatsConfig::new(nats.core_url.clone())
            .with_prefix(nats.prefix.clone());
        nats_config.ack_wait_ms = nats.ack_wait_ms;
        let client = nats_config
            .connect()
            .await
            .map_err(|e| open_error("NATS", &nats.core_url)(chain(&e)))?;
        Ok(Some(Nats {
            client,
            config: nats_config,
        }))
    }
    #[cfg(not(feature = "nats"))]
    Err(missing("bus.backend/queue.backend = nats", "nats"))
}

pub(super) fn bus(config: &Config, nats: Option<&Nats>) -> Result<Arc<dyn EventBus>, StartError> {
    match (&config.bus, nats) {
        #[cfg(feature = "nats")]
        (config::Bus::Nats {}, Some(nats)) => {
            let bus =
                fluxer_storage::nats::NatsEventBus::from_config(nats.client.clone(), &nats.config)
                    .map_err(|e| {
                        StartError::Config(format!("services.nats.prefix: {}", chain(&e)))
                    })?;
            Ok(Arc::new(bus))
        }
        (config::Bus::Nats {}, _) => Err(missing("bus.backend = nats", "nats")),
        _ => Ok(Arc::new(InProcessEventBus::new())),
    }
}

/// The job queue. `consumer`: this node runs the worker (a SQLite queue's in-flight jobs from a
/// previous run are then due again: its only consumer died with that run).
pub(super) async fn queue(
    config: &Config,
    nats: Option<&Nats>,
    consumer: bool,
) -> Result<Arc<dyn Queue>, StartError> {
    match (&config.queue, nats) {
        #[cfg(feature = "nats")]
        (config::Queue::Nats {}, Some(nats)) => {
            let queue =
                fluxer_storage::nats::JetStreamQueue::open(nats.client.clone(), &nats.config)
                    .await
                    .map_err(|e| {
                        open_error("NATS JetStream", &config.services.nats.core_url)(chain(&e))
                    })?;
            Ok(Arc::new(queue))
        }
        (config::Queue::Nats {}, _) => Err(missing("queue.backend = nats", "nats")),
        #[cfg(feature = "sqlite")]
        (config::Queue::Sqlite { path }, _) => {
            let path = path
                .clone()
                .unwrap_or_else(|| config.instance.data_dir().join("queue.db"));
            let err = open_error("the job queue", path.display());
            let queue =
                fluxer_storage::sqlite::SqliteQueue::open(&path).map_err(|e| err(chain(&e)))?;
            if consumer {
                let released = queue
                    .release_in_flight()
                    .await
                    .map_err(|e| err(chain(&e)))?;
                if released > 0 {
                    tracing::info!(
                        jobs = released,
                        "queue: jobs left in flight by the last run are due again"
                    );
                }
            }
            Ok(Arc::new(queue))
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing("queue.backend = sqlite", "sqlite")),
    }
}

/// The search index: written by a node that runs the worker, read by the others (a PostgreSQL
/// index has no single writer: any node may write it).
pub(super) async fn search(
    config: &Config,
    writer: bool,
) -> Result<Option<Arc<dyn SearchIndex>>, StartError> {
    match &config.integrations.search {
        config::Search::Disabled {} => Ok(None),
        #[cfg(feature = "search")]
        config::Search::Tantivy { path } => {
            use fluxer_storage::tantivy::TantivySearchIndex;
            let dir = search_dir(config, path.as_deref());
            let err = open_error("the search index", dir.display());
            let index = if writer {
                TantivySearchIndex::open(&dir)
            } else {
                TantivySearchIndex::open_read_only(&dir)
            };
            Ok(Some(Arc::new(index.map_err(|e| err(chain(&e)))?)))
        }
        #[cfg(feature = "postgres")]
        config::Search::Postgres { .. } => Ok(Some(Arc::new(postgres_search(config).await?))),
        #[allow(unreachable_patterns)]
        config::Search::Postgres { .. } => {
            Err(missing("integrations.search.engine = postgres", "postgres"))
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing("integrations.search.engine = tantivy", "search")),
    }
}

/// The PostgreSQL search index of `integrations.search`, on its `url` or the database's.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_search(
    config: &Config,
) -> Result<fluxer_storage::postgres::PostgresSearch, StartError> {
    let config::Search::Postgres { url, pool_size } = &config.integrations.search else {
        return Err(StartError::Config(
            "integrations.search.engine is not postgres".to_owned(),
        ));
    };
    let url = match (url, &config.database) {
        (Some(url), _) => url.clone(),
        (None, config::Database::Postgres { url, .. }) => url.clone(),
        (None, _) => {
            return Err(StartError::Config(
                "integrations.search.engine = postgres needs integrations.search.url when the \
                 database is not on PostgreSQL"
                    .to_owned(),
            ));
        }
    };
    let mut pg = fluxer_storage::postgres::PostgresConfig::new(url);
    pg.pool_size = *pool_size;
    fluxer_storage::postgres::PostgresSearch::connect(&pg)
        .await
        .map_err(|e| open_error("the search index", "PostgreSQL")(chain(&e)))
}

/// Where a tantivy index lives: the configured path or `{data_dir}/search`.
pub(crate) fn search_dir(config: &Config, path: Option<&Path>) -> PathBuf {
    path.map(Path::to_owned)
        .unwrap_or_else(|| config.instance.data_dir().join("search"))
}

/// The blob store; a filesystem store defaults to `{data_dir}/blobs`.
pub(super) fn blobs(config: &Config) -> Result<Arc<dyn BlobStore>, StartError> {
    match &config.blobs {
        config::Blobs::Filesystem { path } => {
            let path = path
                .clone()
                .unwrap_or_else(|| config.instance.data_dir().join("blobs"));
            let store = ObjectBlobStore::filesystem(&path)
                .map_err(|e| open_error("the blob store", path.display())(chain(&e)))?;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "s3")]
        config::Blobs::S3 {
            endpoint,
            region,
            bucket,
            access_key_id,
            secret_access_key,
        } => {
            let store = ObjectBlobStore::s3(fluxer_storage::object_store::S3BlobConfig {
                endpoint: endpoint.clone(),
                region: region.clone(),
                bucket: bucket.clone(),
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                allow_http: endpoint.starts_with("http://"),
            })
            .map_err(|e| StartError::Config(format!("blobs: {}", chain(&e))))?;
            Ok(Arc::new(store))
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing("blobs.backend = s3", "s3")),
    }
}

/// The mailer: SMTP, or the log.
pub(super) fn mailer(config: &Config) -> Result<Arc<dyn Mailer>, StartError> {
    match &config.integrations.email {
        config::Email::Log {} => Ok(Arc::new(LogMailer)),
        #[cfg(feature = "smtp")]
        config::Email::Smtp {
            from_email,
            from_name,
            smtp,
        } => {
            use fluxer_storage::smtp::{SmtpConfig, SmtpMailer, SmtpSecurity};
            let security = match smtp.security {
                config::SmtpSecurity::Tls => SmtpSecurity::Tls,
                config::SmtpSecurity::None => SmtpSecurity::None,
                config::SmtpSecurity::Starttls => SmtpSecurity::Starttls,
            };
            let mailer = SmtpMailer::new(&SmtpConfig {
                host: smtp.host.clone(),
                port: smtp.port,
                security,
                username: smtp.username.clone(),
                password: smtp.password.clone(),
                from: format!("{from_name} <{from_email}>"),
                timeout_secs: 30,
            })
            .map_err(|e| StartError::Config(format!("integrations.email: {}", chain(&e))))?;
            Ok(Arc::new(mailer))
        }
        #[allow(unreachable_patterns)]
        _ => Err(missing("integrations.email.provider = smtp", "smtp")),
    }
}

/// The instance's master secret: configured, or (for a node that keeps its state on this host)
/// generated once into `{data_dir}/secret.key` with mode 0600. Nodes that share state across hosts
/// must share the secret too, so there it must be configured.
pub(super) fn master_secret(config: &Config, shared: bool) -> Result<String, StartError> {
    if let Some(s) = &config.instance.secret_key {
        if s.len() < 16 {
            return Err(StartError::Config(
                "instance.secret_key must be 16 characters or more".to_owned(),
            ));
        }
        return Ok(s.clone());
    }
    if shared {
        return Err(StartError::Config(
            "instance.secret_key must be set (16+ characters, the same on every node) when nodes \
             share a bus or run separate roles"
                .to_owned(),
        ));
    }
    let data_dir = config.instance.data_dir();
    let path = data_dir.join("secret.key");
    let err = open_error("the instance secret", path.display());
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(&data_dir).map_err(|e| err(chain(&e)))?;
    let secret = random_base62(64);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(&path).map_err(|e| err(chain(&e)))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| err(chain(&e)))?;
    Ok(secret)
}

/// A key for one purpose, derived from the master secret (so one leak does not sign for the others).
pub(super) fn derive_key(master: &str, purpose: &str) -> Vec<u8> {
    hash_token(&format!("fluxer/{purpose}/{master}")).to_vec()
}

/// The media URL-signing key: configured, or derived from the master secret.
pub(super) fn media_key(config: &Config, master: &str) -> Vec<u8> {
    config
        .services
        .media_proxy
        .secret_key
        .as_ref()
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_else(|| derive_key(master, "media"))
}

/// The media proxy's settings from `services.media_proxy`, keyed with `secret`.
pub(super) fn media_config(config: &Config, secret: Vec<u8>) -> MediaConfig {
    let mut media = MediaConfig::new(secret);
    media.max_pixels = config.services.media_proxy.max_pixels;
    media.ffmpeg = config.services.media_proxy.ffmpeg_path.clone();
    media.external.enabled = config.services.media_proxy.external_enabled;
    media.external.allow_addresses = config.services.media_proxy.allow_addresses.clone();
    media
}

/// The API's settings: rate limits, who the client is behind a proxy, and where clients find the
/// gateway, the media proxy and the web app.
pub(super) fn api_config(
    config: &Config,
    public_origin: &str,
    gateway_url: String,
    media_url: String,
) -> Result<ApiConfig, StartError> {
    let trusted_proxies = config.trusted_proxies().map_err(StartError::Config)?;
    let mut instance = InstanceInfo::at(public_origin);
    instance.gateway.clone_from(&gateway_url);
    instance.media = media_url;
    instance.static_cdn = format!("{}/static", public_origin.trim_end_matches('/'));
    if let Some(web) = &config.instance.web_url {
        instance.webapp = web.trim_end_matches('/').to_owned();
    }
    let mut api = ApiConfig {
        gateway_url,
        client_ip: ClientIp { trusted_proxies },
        instance,
        test_mode: config.dev.test_mode_enabled,
        ..ApiConfig::default()
    };
    api.rate_limits.enabled = !config.dev.disable_rate_limits;
    api.pages = PagesConfig {
        home: config.marketing.enabled,
        home_at_root: config.web.app_dir.is_none(),
        secure_cookies: config.domain.public_scheme == "https",
    };
    api.instance.gif_provider = match config.integrations.gif.provider {
        config::GifProviderName::Klipy => "klipy",
        config::GifProviderName::Tenor => "tenor",
    }
    .to_owned();
    Ok(api)
}

/// The GIF services the instance has a key for (`integrations.klipy`, `integrations.tenor`),
/// reaching public addresses only but for `services.media_proxy.allow_addresses`.
pub(super) fn gif_providers(config: &Config) -> Vec<Arc<dyn GifProvider>> {
    let integrations = &config.integrations;
    let allow = &config.services.media_proxy.allow_addresses;
    [
        (&integrations.klipy, GifApi::klipy as fn(String) -> GifApi),
        (&integrations.tenor, GifApi::tenor as fn(String) -> GifApi),
    ]
    .into_iter()
    .filter(|(service, _)| !service.api_key.trim().is_empty())
    .map(|(service, client)| {
        let mut api = client(service.api_key.trim().to_owned()).with_allow_addresses(allow.clone());
        if let Some(base) = &service.base_url {
            api = api.with_base_url(base.clone());
        }
        Arc::new(api) as Arc<dyn GifProvider>
    })
    .collect()
}

/// What sends Web Push notifications (`services.gateway.push_enabled`): signed with
/// `auth.vapid.private_key`, or with a key derived from the instance secret; reaching public
/// addresses only but for `services.media_proxy.allow_addresses`. `None` when push is off.
pub(super) fn push_sender(
    config: &Config,
    master: &str,
    public_origin: &str,
) -> Result<Option<Arc<dyn PushSender>>, StartError> {
    if !config.services.gateway.push_enabled {
        return Ok(None);
    }
    let vapid = &config.auth.vapid;
    let contact = match vapid.email.as_deref().map(str::trim) {
        Some(email) if !email.is_empty() => format!("mailto:{email}"),
        _ => config
            .instance
            .web_url
            .clone()
            .unwrap_or_else(|| public_origin.to_owned()),
    };
    let sender = match &vapid.private_key {
        Some(key) => WebPush::from_private_key(key, &contact)
            .map_err(|e| StartError::Config(format!("auth.vapid.private_key: {e}")))?,
        None => WebPush::from_seed(&derive_key(master, "vapid"), &contact),
    };
    if let Some(public) = &vapid.public_key
        && public.trim().trim_end_matches('=') != sender.public_key()
    {
        return Err(StartError::Config(
            "auth.vapid.public_key is not the public key of auth.vapid.private_key".to_owned(),
        ));
    }
    let sender = sender.with_allow_addresses(config.services.media_proxy.allow_addresses.clone());
    Ok(Some(Arc::new(sender)))
}

/// What verifies domain connections (`integrations.connections`), fetching from public
/// addresses only but for `services.media_proxy.allow_addresses`.
pub(super) fn domain_probe(config: &Config) -> Result<Arc<dyn DomainProbe>, StartError> {
    let settings = &config.integrations.connections;
    let mut checks = DomainChecks::new(settings.dns_server)
        .map_err(|e| StartError::Config(format!("integrations.connections: {e}")))?
        .with_allow_addresses(config.services.media_proxy.allow_addresses.clone());
    if let Some(url) = &settings.well_known_url {
        checks = checks.with_well_known_url(url.clone());
    }
    Ok(Arc::new(checks))
}

/// The Bluesky OAuth client (`auth.bluesky`), when it is on and has a key; its handles resolve
/// through `domains`.
pub(super) fn bluesky(
    config: &Config,
    public_origin: &str,
    domains: Arc<dyn DomainProbe>,
) -> Result<Option<Arc<dyn BlueskyOAuth>>, StartError> {
    let settings = &config.auth.bluesky;
    if !settings.enabled || settings.keys.is_empty() {
        return Ok(None);
    }
    let bad = |i: usize, why: String| StartError::Config(format!("auth.bluesky.keys[{i}]: {why}"));
    let mut keys = Vec::with_capacity(settings.keys.len());
    for (i, key) in settings.keys.iter().enumerate() {
        let pem = match (&key.private_key, &key.private_key_path) {
            (Some(pem), _) => pem.clone(),
            (None, Some(path)) if path.is_absolute() => std::fs::read_to_string(path)
                .map_err(|e| bad(i, format!("cannot read {}: {e}", path.display())))?,
            (None, Some(_)) => return Err(bad(i, "private_key_path must be absolute".into())),
            (None, None) => return Err(bad(i, "private_key or private_key_path is needed".into())),
        };
        keys.push((key.kid.clone(), pem));
    }
    let client = AtprotoClient {
        api_url: format!("{}/api", public_origin.trim_end_matches('/')),
        client_name: settings.client_name.clone(),
        client_uri: settings.client_uri.clone(),
        logo_uri: settings.logo_uri.clone(),
        tos_uri: settings.tos_uri.clone(),
        policy_uri: settings.policy_uri.clone(),
        keys,
    };
    let mut oauth = AtprotoOAuth::new(client, domains)
        .map_err(|e| StartError::Config(format!("auth.bluesky.keys: {e}")))?
        .with_allow_addresses(config.services.media_proxy.allow_addresses.clone());
    if let Some(plc) = &settings.plc_directory_url {
        oauth = oauth.with_plc_directory(plc.clone());
    }
    Ok(Some(Arc::new(oauth)))
}

/// Connects to the OpenID provider people sign in with: the one `auth.sso` names, or the one staff
/// set in the instance config (so it is there even with SSO off in the file).
pub(super) fn sso(config: &Config) -> Option<Arc<dyn OidcConnector>> {
    Some(Arc::new(OidcConnections::new(
        std::time::Duration::from_millis(config.auth.sso.timeout_ms),
    )))
}

/// The instance config until staff store their own: `instance.{name,description,registration_mode}`
/// and the home page's `marketing.{terms_of_service,privacy_policy}`. The old `marketing.name` and
/// `marketing.description` are read as deprecated aliases when `instance` leaves them unset, with a
/// warning (the `instance` keys win when both are set).
pub(super) fn instance_defaults(config: &Config) -> fluxer_core::model::InstanceConfig {
    let defaults = fluxer_core::model::InstanceConfig::default();
    let marketing = &config.marketing;
    for (old, new) in marketing.deprecated_keys() {
        tracing::warn!(
            key = old,
            replacement = new,
            "deprecated config key {old}: use {new} (read only when {new} is unset)"
        );
    }
    let set = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    fluxer_core::model::InstanceConfig {
        name: set(&config.instance.name)
            .or_else(|| set(&marketing.name))
            .unwrap_or(defaults.name.clone()),
        description: config
            .instance
            .description
            .clone()
            .or_else(|| marketing.description.clone())
            .unwrap_or_default(),
        terms_of_service: marketing.terms_of_service.clone(),
        privacy_policy: marketing.privacy_policy.clone(),
        registration_mode: config.instance.registration_mode,
        ..defaults
    }
}

/// The core's single sign-on settings from `auth.sso` (until staff store their own).
pub(super) fn sso_settings(config: &Config) -> fluxer_core::model::SsoSettings {
    let settings = &config.auth.sso;
    fluxer_core::model::SsoSettings {
        enabled: settings.enabled,
        enforced: settings.enforced,
        display_name: settings.display_name.clone().filter(|n| !n.is_empty()),
        issuer: settings.issuer.clone(),
        client_id: settings.client_id.clone(),
        client_secret: settings.client_secret.clone().filter(|s| !s.is_empty()),
        scopes: settings.scopes.clone(),
        redirect_uri: settings.redirect_uri.clone(),
        allowed_domains: settings
            .allowed_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
        auto_provision: settings.auto_provision,
    }
}

/// Where clients reach the media proxy: `services.media_proxy.public_url`, else `{origin}/media`.
pub(super) fn media_url(config: &Config, public_origin: &str) -> String {
    config
        .services
        .media_proxy
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{public_origin}/media"))
}

/// The scheme, host and port of a URL (`https://app.example.com:8443`), without path or query.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// The host of an origin, without the port.
fn host_of(origin: &str) -> &str {
    let authority = origin.split("://").nth(1).unwrap_or(origin);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The instance as a WebAuthn relying party (`auth.passkeys`): ceremonies from the web app's
/// origin (and the additional ones), credentials on the RP ID. An explicit RP ID that does not fit
/// the origins stops the start; a derived one that cannot serve (the web app on a bare address)
/// leaves passkeys off, with a warning.
pub(super) fn webauthn(
    config: &Config,
    public_origin: &str,
) -> Result<Option<Arc<dyn WebAuthnCeremonies>>, StartError> {
    let settings = &config.auth.passkeys;
    let web = origin_of(
        config
            .instance
            .web_url
            .as_deref()
            .unwrap_or(public_origin)
            .trim_end_matches('/'),
    );
    let mut origins = vec![web.to_owned()];
    origins.extend(
        settings
            .additional_allowed_origins
            .iter()
            .map(|o| origin_of(o.trim_end_matches('/')).to_owned()),
    );
    let explicit = !settings.rp_id.is_empty();
    let rp_id = if explicit {
        settings.rp_id.clone()
    } else {
        host_of(web).to_owned()
    };
    match WebAuthnRelyingParty::new(&settings.rp_name, &rp_id, &origins) {
        Ok(rp) => Ok(Some(Arc::new(rp))),
        Err(e) if explicit => Err(StartError::Config(format!("auth.passkeys: {e}"))),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: set auth.passkeys.rp_id");
            Ok(None)
        }
    }
}

/// Voice on LiveKit (`integrations.voice`): the adapter and the settings, with the configured
/// server as the default region's only server. Both `None` when voice is off.
pub(super) fn voice(
    config: &Config,
) -> (
    Option<Arc<dyn fluxer_core::ports::VoiceBackend>>,
    Option<fluxer_core::service::VoiceSettings>,
) {
    let voice = &config.integrations.voice;
    if !voice.enabled {
        return (None, None);
    }
    let r = &voice.default_region;
    let region = fluxer_core::service::VoiceRegion {
        id: r.id.clone(),
        name: r.name.clone(),
        emoji: r.emoji.clone(),
        latitude: r.latitude,
        longitude: r.longitude,
        is_default: true,
        servers: vec![fluxer_core::service::VoiceServer {
            id: "default".to_owned(),
            credentials: fluxer_core::ports::VoiceServerCredentials {
                endpoint: voice.url.trim_end_matches('/').to_owned(),
                api_key: voice.api_key.trim().to_owned(),
                api_secret: voice.api_secret.trim().to_owned(),
            },
            active: true,
        }],
    };
    let mut settings = fluxer_core::service::VoiceSettings::single(region);
    if let Some(ttl) = voice.token_ttl_secs {
        settings.token_ttl = std::time::Duration::from_secs(ttl);
    }
    (Some(Arc::new(fluxer_media::LiveKit::new())), Some(settings))
}

#[cfg(test)]
mod passkey_origin_tests {
    use super::{host_of, origin_of};

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://app.example.com/path?q"),
            "https://app.example.com"
        );
        assert_eq!(origin_of("http://localhost:8088"), "http://localhost:8088");
        assert_eq!(host_of("http://localhost:8088"), "localhost");
        assert_eq!(host_of("https://app.example.com"), "app.example.com");
        assert_eq!(host_of("http://[::1]:80"), "::1");
    }
}
