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
//! - [`monolith`]: everything wired on the embedded defaults, as the `fluxer-server` binary runs it;
//! - [`cluster`]: the per-service deployment on PostgreSQL, Redis and NATS (feature `cluster`).
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

#[cfg(all(
    feature = "api",
    feature = "smtp",
    feature = "blobs",
    feature = "media"
))]
mod wiring;

#[cfg(all(
    feature = "api",
    feature = "sqlite",
    feature = "search",
    feature = "smtp",
    feature = "blobs",
    feature = "media"
))]
pub mod monolith;

#[cfg(feature = "cluster")]
pub mod cluster;
