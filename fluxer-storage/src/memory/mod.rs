//! In-memory adapters for every port: the embedded defaults for cache, presence, event bus and mail,
//! and a complete storage backend for tests and ephemeral instances.

mod bus;
mod cache;
mod store;
mod support;

pub use bus::InProcessEventBus;
pub use cache::{MemoryCache, MemoryPresence};
pub use store::MemoryStore;
pub use support::{LogMailer, MemoryBlobStore, MemoryMailer, MemoryQueue, MemorySearchIndex};
