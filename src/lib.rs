//! # fluxer
//!
//! Fluxer — an open, self-hostable chat platform (guilds, channels, messages, roles, invites, a
//! real-time gateway) — as a Rust SDK. This facade re-exports the pieces so an application can embed a
//! complete chat backend:
//!
//! - [`core`]: the domain — entities, permissions, use-cases ([`core::service::Fluxer`]) and ports;
//! - [`storage`]: adapters behind the ports (SQLite, in-memory, ...);
//! - [`api`]: the REST API as an axum router (feature `api`);
//! - [`gateway`]: the WebSocket gateway as an axum router (feature `api`);
//! - [`media`]: the media proxy and the S3-compatible endpoint (feature `media`);
//! - [`worker`]: the job runner (email, search indexing, exports, scheduled jobs);
//! - [`node`]: the composition root: a node built from the configuration and its roles (API,
//!   gateway, worker, media, S3), each port on the backend its section names; the monolith is every
//!   role on the embedded defaults;
//! - [`commands`]: the operator's commands (create a staff account, rebuild the search index, back
//!   up and restore);
//! - [`backup`]: online backups of the local state (SQLite, queue, blobs) and their restore.
//!
//! A whole instance in a few lines: every role on the embedded defaults (SQLite, filesystem blobs,
//! tantivy, in-process bus), with the use-cases at hand and the routes ready to serve:
//!
//! ```
//! use fluxer::config::Config;
//! use fluxer::core::service::RegisterRequest;
//! use fluxer::node::Node;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("fluxer-doc-{}", std::process::id()));
//! let vars = [("FLUXER_CONFIG__INSTANCE__DATA_DIR", &dir), ("FLUXER_CONFIG__DATABASE__PATH", &dir.join("db"))];
//! let config = Config::load(None, vars.map(|(k, v)| (k.to_owned(), v.display().to_string()))).unwrap();
//! let node = Node::monolith(&config, "http://127.0.0.1:8080").await.unwrap();
//!
//! let fluxer = node.fluxer().expect("the API role runs the use-cases");
//! fluxer
//!     .register(RegisterRequest {
//!         email: Some("ada@example.com".into()),
//!         username: Some("ada".into()),
//!         password: Some("correct horse battery staple".into()),
//!         ..Default::default()
//!     })
//!     .await
//!     .unwrap();
//! // Serve it: `fluxer::runtime::serve(listener, node.router(), Default::default()).await`.
//! let _routes: axum::Router = node.router();
//!
//! node.shutdown().await;
//! std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```
//!
//! See `examples/` for embedding the API in your own server and plugging in a custom backend.

pub use fluxer_core as core;
pub use fluxer_storage as storage;

#[cfg(feature = "api")]
pub use fluxer_api as api;
#[cfg(feature = "api")]
pub use fluxer_gateway as gateway;
#[cfg(feature = "media")]
pub use fluxer_media as media;

pub mod config;
#[cfg(feature = "api")]
pub mod runtime;
#[cfg(feature = "telemetry")]
pub mod telemetry;
pub mod worker;

#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod backup;
#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod commands;
#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod node;
#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod web;
