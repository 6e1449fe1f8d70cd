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
//! - [`commands`]: the operator's commands (create a staff account, rebuild the search index).
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
pub mod worker;

#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod commands;
#[cfg(all(feature = "api", feature = "blobs", feature = "media"))]
pub mod node;
