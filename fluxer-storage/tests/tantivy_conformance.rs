//! The tantivy index against the search conformance suite: in memory, and on disk.

#![cfg(feature = "tantivy")]

use std::sync::Arc;

use fluxer_core::ports::SearchIndex;
use fluxer_storage::tantivy::TantivySearchIndex;

mod in_ram {
    use super::*;
    fluxer_core::search_conformance_tests!(Arc::new(
        TantivySearchIndex::open_in_ram().expect("open an index")
    ) as Arc<dyn SearchIndex>);
}

mod on_disk {
    use super::*;
    fluxer_core::search_conformance_tests!({
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("fluxer-search-{}-{nanos}", std::process::id()));
        Arc::new(TantivySearchIndex::open(&dir).expect("open an index")) as Arc<dyn SearchIndex>
    });
}
