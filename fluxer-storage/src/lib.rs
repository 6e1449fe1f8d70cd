//! # fluxer-storage
//!
//! Adapters behind `fluxer-core`'s ports, each behind a cargo feature:
//!
//! - `sqlite`: the embedded default storage backend (rusqlite, WAL, one writer thread with group commit,
//!   a pool of readers, an access cache the writer invalidates) and the monolith's durable job queue;
//! - `postgres`: storage on PostgreSQL (tokio-postgres, deadpool), for several API nodes;
//! - `redis`: cache, rate-limit counters, locks and presence on Redis or Valkey;
//! - `nats`: the event bus across nodes (with a replayable history in JetStream) and the JetStream job
//!   queue;
//! - `blobs-fs` / `blobs-s3`: blobs on the object_store crate, the local filesystem or any
//!   S3-compatible endpoint;
//! - `tantivy`: message, guild and user search;
//! - `smtp`: email over SMTP (lettre);
//! - `memory`: every port in process memory (cache, presence, event bus, mailers, blobs, queue, search,
//!   and a complete storage backend for tests and ephemeral instances).
//!
//! Every adapter passes the conformance suite of its port (`fluxer_core::testing`), and reports its
//! failures as `StoreError::Backend { adapter, source }` with the driver's error as the source.

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
