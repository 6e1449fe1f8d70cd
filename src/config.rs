//! The server configuration file: JSON, upstream Fluxer's key names where they exist, every key
//! optional, unknown keys rejected with their full path. Environment variables override the file:
//! `FLUXER_CONFIG__SERVICES__SERVER__PORT=9000` sets `services.server.port` (values parse as JSON when
//! they can, as strings otherwise).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `development`, `production` or `test`.
    pub env: Env,
    pub domain: Domain,
    pub database: Database,
    pub services: Services,
    pub cookie: Cookie,
    pub instance: Instance,
    pub auth: Auth,
    pub dev: Dev,
    pub log: Log,
    pub integrations: Integrations,
    pub blobs: Blobs,
    pub worker: Worker,
    pub internal: Internal,
    pub proxy: Proxy,
    pub http: Http,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Development,
    #[default]
    Production,
    Test,
}

/// Public addressing, from which client-facing URLs are derived.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Domain {
    /// The host clients use (`chat.example.com`). Defaults to the listen host.
    pub base_domain: Option<String>,
    /// `http` or `https`.
    pub public_scheme: String,
    /// The port clients use, when not the scheme's default. Defaults to the listen port.
    pub public_port: Option<u16>,
}

impl Default for Domain {
    fn default() -> Self {
        Domain {
            base_domain: None,
            public_scheme: "http".to_owned(),
            public_port: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// `sqlite` (the monolith) or `postgres` (the per-service binaries).
    pub backend: String,
    pub sqlite_path: PathBuf,
    pub postgres: Postgres,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            backend: "sqlite".to_owned(),
            sqlite_path: PathBuf::from("./data/fluxer.db"),
            postgres: Postgres::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Postgres {
    pub url: String,
    /// Connections per process.
    pub pool_size: usize,
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            url: "postgres://postgres@127.0.0.1:5432/fluxer".to_owned(),
            pool_size: 16,
        }
    }
}

/// Shared infrastructure of the per-service deployment (upstream's `internal` section).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Internal {
    /// Redis or Valkey: cache, rate limits, locks and presence shared by every node.
    pub kv: String,
    /// Prepended to every key, so deployments can share a server.
    pub kv_prefix: String,
}

impl Default for Internal {
    fn default() -> Self {
        Internal {
            kv: "redis://127.0.0.1:6379".to_owned(),
            kv_prefix: "fluxer:".to_owned(),
        }
    }
}

/// NATS: the event bus between API and gateway nodes, and the JetStream job queue.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Nats {
    pub core_url: String,
    /// Subject and stream prefix, so deployments can share a server.
    pub prefix: String,
    /// How long JetStream waits for a worker's ack before delivering a job again (a dead worker's
    /// jobs come back after this).
    pub ack_wait_ms: u64,
}

impl Default for Nats {
    fn default() -> Self {
        Nats {
            core_url: "nats://127.0.0.1:4222".to_owned(),
            prefix: "fluxer".to_owned(),
            ack_wait_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Services {
    /// The monolith's listener.
    pub server: Listen,
    /// The per-service API nodes' listener (`fluxer-api`).
    pub api: ApiListen,
    pub gateway: Gateway,
    pub s3: S3Service,
    pub nats: Nats,
    pub media_proxy: MediaProxy,
}

/// The built-in S3-compatible endpoint (`/s3`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Service {
    pub enabled: bool,
    /// Defaults to `{instance.data_dir}/s3`.
    pub data_dir: Option<PathBuf>,
    pub region: String,
    /// Without both keys the endpoint refuses every request (there is no anonymous access).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Created at start.
    pub buckets: Vec<String>,
}

impl Default for S3Service {
    fn default() -> Self {
        S3Service {
            enabled: true,
            data_dir: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            buckets: Vec::new(),
        }
    }
}

/// The media proxy (`/media`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaProxy {
    /// `fluxer-media`'s listener.
    pub host: String,
    pub port: u16,
    /// Where clients reach the media proxy; defaults to `{public origin}/media` (the monolith).
    pub public_url: Option<String>,
    /// The URL-signing key; derived from the instance secret when absent. Set it explicitly (the
    /// same on every node) in a multi-node deployment.
    pub secret_key: Option<String>,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// The ffmpeg binary for video thumbnails (`ffmpeg` on the PATH by default).
    pub ffmpeg_path: Option<PathBuf>,
    /// Fetching external URLs for embeds (SSRF-guarded).
    pub external_enabled: bool,
}

impl Default for MediaProxy {
    fn default() -> Self {
        MediaProxy {
            host: "127.0.0.1".to_owned(),
            port: 8083,
            public_url: None,
            secret_key: None,
            max_pixels: 40_000_000,
            ffmpeg_path: None,
            external_enabled: true,
        }
    }
}

/// Third-party services.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Integrations {
    pub email: EmailIntegration,
    pub search: SearchIntegration,
}

/// Outgoing email. Disabled, mail is written to the log instead (links included: fine on a laptop,
/// not in production).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmailIntegration {
    pub enabled: bool,
    /// `smtp` or `none`.
    pub provider: String,
    pub from_email: String,
    pub from_name: String,
    pub smtp: Smtp,
}

impl Default for EmailIntegration {
    fn default() -> Self {
        EmailIntegration {
            enabled: false,
            provider: "smtp".to_owned(),
            from_email: "no-reply@localhost".to_owned(),
            from_name: "Fluxer".to_owned(),
            smtp: Smtp::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on loopback).
    pub security: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: "127.0.0.1".to_owned(),
            port: 587,
            username: None,
            password: None,
            security: "starttls".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchIntegration {
    /// `tantivy` (embedded, the default) or `none` (search answers 503).
    pub engine: String,
    /// The index directory; defaults to `{instance.data_dir}/search`.
    pub path: Option<PathBuf>,
}

impl Default for SearchIntegration {
    fn default() -> Self {
        SearchIntegration {
            engine: "tantivy".to_owned(),
            path: None,
        }
    }
}

/// Where attachments, avatars and exports are stored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Blobs {
    /// `filesystem` (default) or `s3`.
    pub backend: String,
    /// For `filesystem`: defaults to `{instance.data_dir}/blobs`.
    pub path: Option<PathBuf>,
    pub s3: BlobsS3,
}

impl Default for Blobs {
    fn default() -> Self {
        Blobs {
            backend: "filesystem".to_owned(),
            path: None,
            s3: BlobsS3::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsS3 {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The in-process job runner.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Worker {
    /// Run jobs in this process (the monolith always enqueues; turn this off only if a
    /// `fluxer-worker` consumes the same queue).
    pub enabled: bool,
    pub concurrency: usize,
    /// `fluxer-worker`'s health endpoint.
    pub host: String,
    pub port: u16,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            enabled: true,
            concurrency: 4,
            host: "127.0.0.1".to_owned(),
            port: 8084,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            host: "127.0.0.1".to_owned(),
            port: 8080,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiListen {
    pub host: String,
    pub port: u16,
}

impl Default for ApiListen {
    fn default() -> Self {
        ApiListen {
            host: "127.0.0.1".to_owned(),
            port: 8080,
        }
    }
}

/// The gateway's settings. The monolith serves the gateway on the API's port at `/gateway`;
/// `fluxer-gateway` listens on `host:port`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gateway {
    pub host: String,
    pub port: u16,
    /// Where clients reach this gateway node (`wss://gateway.example.com`); defaults to `ws://host:port`.
    pub public_url: Option<String>,
    /// Internal worker-pool sizes (upstream's names); 0 = one per CPU.
    pub presence_shards: usize,
    pub guild_shards: usize,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            host: "127.0.0.1".to_owned(),
            port: 8082,
            public_url: None,
            presence_shards: 0,
            guild_shards: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cookie {
    pub domain: String,
    pub secure: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Instance {
    /// The snowflake worker ID of this process (0..=1023); distinct per process sharing a database.
    pub worker_id: u16,
    /// Where the web app lives, for links in emails. Defaults to the public API origin.
    pub web_url: Option<String>,
    /// Where the queue, search index, blobs, S3 data and generated secret live (`./data`).
    pub data_dir: Option<PathBuf>,
    /// The master secret signing download and media links (any string; 32+ random bytes). When
    /// absent, one is generated into `{data_dir}/secret.key` on first start.
    pub secret_key: Option<String>,
}

impl Instance {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"))
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// Refuse messages from accounts whose email is not verified.
    pub require_verified_email: bool,
}

/// How every listener treats its connections (the monolith's and each service's).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// A request's headers must arrive within this (slow clients are cut).
    pub header_read_timeout_ms: u64,
    /// A request body that sends nothing for this long is cut.
    pub body_read_timeout_ms: u64,
    /// Connections one IP may hold open at once (0: no bound). Trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// On SIGTERM, how long in-flight requests may take to finish before the rest are closed.
    pub shutdown_timeout_ms: u64,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_connections_per_ip: 256,
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Reverse proxies in front of the server.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Proxy {
    /// Addresses or CIDR ranges (`127.0.0.1`, `10.0.0.0/8`) of proxies whose `X-Forwarded-For` is
    /// believed. Empty (the default): the socket's peer is the client, whatever the header says.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Dev {
    pub disable_rate_limits: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A `tracing` filter (`info`, `fluxer_api=debug,info`).
    pub level: String,
    /// `auto` (JSON unless on a terminal), `json` or `pretty`.
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".to_owned(),
            format: "auto".to_owned(),
        }
    }
}

impl Config {
    /// `proxy.trusted_proxies`, parsed; the error names the entry at fault.
    #[cfg(feature = "api")]
    pub fn trusted_proxies(&self) -> Result<Vec<fluxer_api::ratelimit::IpNet>, String> {
        self.proxy
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, net)| {
                net.parse()
                    .map_err(|e| format!("proxy.trusted_proxies[{i}]: {e}"))
            })
            .collect()
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid config at `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Loads the file (if any), applies `FLUXER_CONFIG__*` overrides from `env`, and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut value = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| ConfigError::Json {
                    path: p.to_owned(),
                    source,
                })?
            }
            None => serde_json::json!({}),
        };
        for (key, raw) in env {
            let Some(rest) = key.strip_prefix("FLUXER_CONFIG__") else {
                continue;
            };
            let parsed = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
            let mut node = &mut value;
            let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            for (i, part) in parts.iter().enumerate() {
                if !node.is_object() {
                    *node = serde_json::json!({});
                }
                let map = node.as_object_mut().expect("just made an object");
                if i + 1 == parts.len() {
                    map.insert(part.clone(), parsed.clone());
                    break;
                }
                node = map
                    .entry(part.clone())
                    .or_insert_with(|| serde_json::json!({}));
            }
        }
        let config: Config =
            serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Invalid {
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if !matches!(self.database.backend.as_str(), "sqlite" | "postgres") {
            return bad("database.backend", "must be \"sqlite\" or \"postgres\"");
        }
        if !matches!(self.domain.public_scheme.as_str(), "http" | "https") {
            return bad("domain.public_scheme", "must be \"http\" or \"https\"");
        }
        if self.instance.worker_id > 1023 {
            return bad("instance.worker_id", "must be between 0 and 1023");
        }
        if !matches!(self.log.format.as_str(), "auto" | "json" | "pretty") {
            return bad("log.format", "must be \"auto\", \"json\" or \"pretty\"");
        }
        if self.services.server.host.is_empty() {
            return bad("services.server.host", "must not be empty");
        }
        if !matches!(self.integrations.email.provider.as_str(), "smtp" | "none") {
            return bad(
                "integrations.email.provider",
                "must be \"smtp\" or \"none\"",
            );
        }
        if !matches!(
            self.integrations.email.smtp.security.as_str(),
            "starttls" | "tls" | "none"
        ) {
            return bad(
                "integrations.email.smtp.security",
                "must be \"starttls\", \"tls\" or \"none\"",
            );
        }
        if !matches!(self.integrations.search.engine.as_str(), "tantivy" | "none") {
            return bad(
                "integrations.search.engine",
                "must be \"tantivy\" or \"none\"",
            );
        }
        if !matches!(self.blobs.backend.as_str(), "filesystem" | "s3") {
            return bad("blobs.backend", "must be \"filesystem\" or \"s3\"");
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 256 {
            return bad("worker.concurrency", "must be between 1 and 256");
        }
        Ok(())
    }

    /// The origin clients reach the server at (`http://127.0.0.1:8080`).
    pub fn public_origin(&self, bound_port: u16) -> String {
        let host = self
            .domain
            .base_domain
            .clone()
            .unwrap_or_else(|| self.services.server.host.clone());
        let port = self.domain.public_port.unwrap_or(bound_port);
        let default_port = if self.domain.public_scheme == "https" {
            443
        } else {
            80
        };
        if port == default_port {
            format!("{}://{host}", self.domain.public_scheme)
        } else {
            format!("{}://{host}:{port}", self.domain.public_scheme)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.services.server.port, 8080);
        assert_eq!(c.database.sqlite_path, PathBuf::from("./data/fluxer.db"));
        assert_eq!(c.public_origin(8080), "http://127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_with_json_values() {
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__SERVICES__SERVER__PORT", "9000"),
                ("FLUXER_CONFIG__DATABASE__SQLITE_PATH", "/tmp/x.db"),
                ("FLUXER_CONFIG__COOKIE__SECURE", "true"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.services.server.port, 9000);
        assert_eq!(c.database.sqlite_path, PathBuf::from("/tmp/x.db"));
        assert!(c.cookie.secure);
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("fluxer-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"services":{"server":{"prot":1}}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("services.server"), "{err}");
        assert!(err.contains("prot"), "{err}");
        std::fs::write(&path, r#"{"services":{"server":{"port":"high"}}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("services.server.port"), "{err}");
        std::fs::write(&path, r#"{"domain":{"public_scheme":"ftp"}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("domain.public_scheme"), "{err}");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Config::load(Some(&path), env(&[])),
            Err(ConfigError::Json { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_example_cluster_config_is_valid() {
        let dir = std::env::temp_dir().join(format!("fluxer-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, include_str!("../examples/cluster/config.json")).unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.database.backend, "postgres");
        assert_eq!(c.services.nats.core_url, "nats://nats.internal:4222");
        assert_eq!(c.blobs.backend, "s3");
        let _ = std::fs::remove_dir_all(dir);
    }
}
