//! The SQLite adapter against the storage conformance suite, on a fresh database file per test.

#![cfg(feature = "sqlite")]

use std::sync::Arc;

use fluxer_core::ports::Store;
use fluxer_storage::sqlite::SqliteStore;

fluxer_core::storage_conformance_tests!(async {
    Arc::new(SqliteStore::open_temp().expect("open a temp database")) as Arc<dyn Store>
});
