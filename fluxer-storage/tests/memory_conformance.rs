//! The in-memory adapters against every port's conformance suite.

#![cfg(feature = "memory")]

use std::sync::Arc;

use fluxer_storage::memory::{
    InProcessEventBus, MemoryBlobStore, MemoryCache, MemoryPresence, MemoryQueue,
    MemorySearchIndex, MemoryStore,
};

// A factory is an `async` block (for backends that open files or connections) or a plain value.
fluxer_core::storage_conformance_tests!(async { Arc::new(MemoryStore::new()) });
fluxer_core::blob_conformance_tests!(Arc::new(MemoryBlobStore::new()));
fluxer_core::cache_conformance_tests!(Arc::new(MemoryCache::new()));
fluxer_core::presence_conformance_tests!(Arc::new(MemoryPresence::new()));
// The in-process voice states live in the domain crate (the default of every `Fluxer`).
fluxer_core::voice_states_conformance_tests!(Arc::new(
    fluxer_core::ports::InProcessVoiceStates::new()
));
fluxer_core::event_bus_conformance_tests!(Arc::new(InProcessEventBus::new()));
fluxer_core::queue_conformance_tests!(Arc::new(MemoryQueue::new()));
fluxer_core::search_conformance_tests!(Arc::new(MemorySearchIndex::new()));
