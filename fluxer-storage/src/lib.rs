//! # fluxer-storage
//!
//! Adapters behind `fluxer-core`'s ports, each behind a cargo feature:
//!
//! - `sqlite`: the embedded default storage backend (rusqlite, WAL, one writer thread with group commit,
//!   a pool of readers, an access cache the writer invalidates) and the monolith's durable job queue;
//! - `postgres`: storage on PostgreSQL (tokio-postgres, deadpool), for several API nodes, and search
//!   on its full-text search (`postgres::PostgresSearch`), for workers and API nodes on any host;
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
//!
//! ```
//! use fluxer_core::id::UserId;
//! use fluxer_core::model::User;
//! use fluxer_core::ports::{UserRepository, conflict, is_conflict};
//! use fluxer_storage::memory::MemoryStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let ada = User::new(UserId::new(1), "ada".into(), Some("ada@example.com".into()));
//! store.create_user(&ada).await.unwrap();
//! assert_eq!(store.get_user(ada.id).await.unwrap(), Some(ada.clone()));
//!
//! // The storage contract's named conflicts: one account per email address.
//! let twin = User::new(UserId::new(2), "ada2".into(), Some("ada@example.com".into()));
//! let refused = store.create_user(&twin).await.unwrap_err();
//! assert!(is_conflict(&refused, conflict::USER_EMAIL));
//! # });
//! ```

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod access_cache;
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
