//! In-memory adapters for every port: the embedded defaults for cache, presence, event bus and mail,
//! and a complete storage backend, blob store, queue and search index for tests and ephemeral
//! instances. Nothing survives the process.
//!
//! Each adapter keeps its state behind one `std::sync` lock that is never held across an `.await`.
//! Every adapter passes its port's conformance suite (`tests/memory_conformance.rs`).

mod blob;
mod cache;
mod event_bus;
mod mailer;
mod presence;
mod queue;
mod search;
mod store;

pub use blob::MemoryBlobStore;
pub use cache::MemoryCache;
pub use event_bus::InProcessEventBus;
pub use mailer::{LogMailer, MemoryMailer};
pub use presence::MemoryPresence;
pub use queue::MemoryQueue;
pub use search::MemorySearchIndex;
pub use store::MemoryStore;

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, carrying on past a panic in another holder: every adapter leaves its maps consistent
/// between statements, so a poisoned lock holds usable data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
