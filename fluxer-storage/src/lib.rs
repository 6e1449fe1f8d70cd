//! # fluxer-storage
//!
//! Adapters behind `fluxer-core`'s ports, each behind a cargo feature:
//!
//! - `sqlite`: the embedded default storage backend (rusqlite, WAL, one writer thread with group commit,
//!   a pool of readers);
//! - `memory`: every port in process memory (cache, presence, event bus, mailers, blobs, queue, search,
//!   and a complete storage backend for tests and ephemeral instances).
//!
//! Every adapter passes the conformance suite of its port (`fluxer_core::testing`).

#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "blobs-fs")]
pub mod object_store;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "tantivy")]
pub mod tantivy;
