//! Which adapter serves each port. Every port is chosen on its own, by a tag inside its section
//! (`"database": {"backend": "postgres", "url": ...}`), so an operator can move the data to PostgreSQL
//! and keep the in-process bus and cache, or put NATS under the job queue alone. A section without
//! its tag takes the embedded default's tag, so `{"database": {"path": "x.db"}}` stays SQLite.

use std::path::PathBuf;

use serde::Deserialize;

/// Where the data lives (`database`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Database {
    /// One SQLite file, written by one process: the embedded default.
    Sqlite {
        /// The database file (`./data/fluxer.db`).
        #[serde(default = "default_sqlite_path", alias = "sqlite_path")]
        path: PathBuf,
    },
    /// PostgreSQL, shared by any number of nodes.
    Postgres {
        /// `postgres://user@host:5432/database`.
        #[serde(default = "default_postgres_url")]
        url: String,
        /// Connections per process.
        #[serde(default = "default_pool_size")]
        pool_size: usize,
    },
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite {
            path: default_sqlite_path(),
        }
    }
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from("./data/fluxer.db")
}

fn default_postgres_url() -> String {
    "postgres://postgres@127.0.0.1:5432/fluxer".to_owned()
}

fn default_pool_size() -> usize {
    16
}

/// Short-lived shared state: rate limits, slowmode windows, locks, sessions' resume state and
/// presence (`cache`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Cache {
    /// In this process's memory: one node.
    Memory {},
    /// Redis or Valkey, shared by every node.
    Redis {
        /// `redis://host:6379`.
        #[serde(default = "default_redis_url")]
        url: String,
        /// Prepended to every key, so deployments can share a server.
        #[serde(default = "default_key_prefix")]
        key_prefix: String,
    },
}

impl Default for Cache {
    fn default() -> Self {
        Cache::Memory {}
    }
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}

fn default_key_prefix() -> String {
    "fluxer:".to_owned()
}

/// How events travel from the node that caused them to the gateways that deliver them (`bus`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Bus {
    /// Within this process: API and gateway in one node.
    InProcess {},
    /// NATS (`services.nats`): any number of API and gateway nodes.
    Nats {},
}

impl Default for Bus {
    fn default() -> Self {
        Bus::InProcess {}
    }
}

/// Where background jobs wait for a worker (`queue`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Queue {
    /// A SQLite file beside the data (`{instance.data_dir}/queue.db` unless `path` is set): jobs
    /// survive a restart; enqueuers and the worker share one host.
    Sqlite {
        /// The queue file; defaults to `{instance.data_dir}/queue.db`.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// JetStream on the NATS server of `services.nats`: workers on any host.
    Nats {},
}

impl Default for Queue {
    fn default() -> Self {
        Queue::Sqlite { path: None }
    }
}

/// Message search (`integrations.search`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "engine", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Search {
    /// Search answers 503 `SEARCH_UNAVAILABLE`.
    #[serde(rename = "none")]
    Disabled {},
    /// An embedded tantivy index: the worker (or the monolith) writes it, API nodes on the same
    /// host open it read-only.
    Tantivy {
        /// The index directory; defaults to `{instance.data_dir}/search`.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// PostgreSQL full-text search: every node indexes and searches the same tables, so workers and
    /// API nodes may run on any host.
    Postgres {
        /// `postgres://user@host:5432/database`; defaults to `database.url` when the data is on
        /// PostgreSQL.
        #[serde(default)]
        url: Option<String>,
        /// Connections per process.
        #[serde(default = "default_search_pool_size")]
        pool_size: usize,
    },
}

fn default_search_pool_size() -> usize {
    8
}

impl Default for Search {
    fn default() -> Self {
        Search::Tantivy { path: None }
    }
}

/// Where attachments, avatars, emojis and exports are stored (`blobs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Blobs {
    /// A local directory; defaults to `{instance.data_dir}/blobs`.
    Filesystem {
        /// The directory; defaults to `{instance.data_dir}/blobs`.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// An S3-compatible bucket.
    S3 {
        /// The endpoint URL (`https://s3.eu-west-1.amazonaws.com`); required. `http://` is allowed.
        endpoint: String,
        /// The region requests are signed for (`us-east-1`).
        #[serde(default = "default_region")]
        region: String,
        /// The bucket holding the blobs; required, and it must exist.
        bucket: String,
        /// The access key ID; required.
        access_key_id: String,
        /// The secret paired with `access_key_id`; required.
        secret_access_key: String,
    },
}

impl Default for Blobs {
    fn default() -> Self {
        Blobs::Filesystem { path: None }
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// Outgoing email (`integrations.email`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Email {
    /// Written to the log, links included: fine on a laptop, not in production.
    #[serde(alias = "none")]
    Log {},
    /// An SMTP relay.
    Smtp {
        /// The sender's address (`no-reply@localhost`).
        #[serde(default = "default_from_email")]
        from_email: String,
        /// The sender's display name (`Fluxer`).
        #[serde(default = "default_from_name")]
        from_name: String,
        /// The relay (`integrations.email.smtp`).
        #[serde(default)]
        smtp: Smtp,
    },
}

impl Default for Email {
    fn default() -> Self {
        Email::Log {}
    }
}

fn default_from_email() -> String {
    "no-reply@localhost".to_owned()
}

fn default_from_name() -> String {
    "Fluxer".to_owned()
}

/// The SMTP relay of `integrations.email`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// The relay's host (`127.0.0.1`).
    pub host: String,
    /// The relay's port (`587`).
    pub port: u16,
    /// The login; authentication happens only when `password` is set too (none by default).
    pub username: Option<String>,
    /// The login's password (none by default).
    pub password: Option<String>,
    /// `starttls` (the default), `tls` or `none`.
    pub security: SmtpSecurity,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: "127.0.0.1".to_owned(),
            port: 587,
            username: None,
            password: None,
            security: SmtpSecurity::Starttls,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain, upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// No encryption: a relay on loopback.
    None,
}

/// The sections whose tag may be left out, with the tag key and its default: filled in before the
/// file is read so a partial section (or an environment override of one key) keeps the default
/// backend instead of failing for want of a tag.
pub(super) const DEFAULT_TAGS: &[(&[&str], &str, &str)] = &[
    (&["database"], "backend", "sqlite"),
    (&["cache"], "backend", "memory"),
    (&["bus"], "backend", "in_process"),
    (&["queue"], "backend", "sqlite"),
    (&["blobs"], "backend", "filesystem"),
    (&["integrations", "search"], "engine", "tantivy"),
    (&["integrations", "email"], "provider", "log"),
];

/// Inserts each section's default tag where the section is present without one.
pub(super) fn fill_default_tags(value: &mut serde_json::Value) {
    for (path, tag, default) in DEFAULT_TAGS {
        let mut node = Some(&mut *value);
        for key in *path {
            node = node.and_then(|n| n.get_mut(*key));
        }
        if let Some(serde_json::Value::Object(section)) = node {
            section
                .entry(*tag)
                .or_insert_with(|| serde_json::Value::String((*default).to_owned()));
        }
    }
}
