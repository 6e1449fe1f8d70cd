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

/// Replacing skips the delete for IDs above any the index has held; an index reopened from disk must
/// still know its highest ID, or an edit indexed after a restart would leave the old copy searchable.
#[tokio::test]
async fn an_edit_after_reopening_replaces_the_old_copy() {
    use fluxer_core::id::{ChannelId, MessageId, UserId};
    use fluxer_core::ports::{MessageDocument, MessageSearch};
    use fluxer_core::time::Timestamp;

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("fluxer-reopen-{}-{nanos}", std::process::id()));
    let doc = |id: u64, content: &str| MessageDocument {
        id: MessageId::new(id),
        channel_id: ChannelId::new(7),
        guild_id: None,
        author_id: UserId::new(3),
        content: content.to_owned(),
        timestamp: Timestamp::from_unix_ms(1_700_000_000_000),
        has: Vec::new(),
        mentions: Vec::new(),
        pinned: false,
    };
    let search = |content: &str| MessageSearch {
        content: Some(content.to_owned()),
        channel_ids: vec![ChannelId::new(7)],
        limit: 10,
        ..Default::default()
    };
    {
        let index = TantivySearchIndex::open(&dir).unwrap();
        index
            .index_messages(&[doc(100, "first draft"), doc(200, "unrelated")])
            .await
            .unwrap();
        index.commit().await.unwrap();
    }
    let index = TantivySearchIndex::open(&dir).unwrap();
    index
        .index_messages(&[doc(100, "second draft")])
        .await
        .unwrap();
    index.commit().await.unwrap();
    assert_eq!(
        index.search_messages(&search("first")).await.unwrap().total,
        0
    );
    let drafts = index.search_messages(&search("draft")).await.unwrap();
    assert_eq!(drafts.total, 1);
    assert_eq!(drafts.hits, vec![(ChannelId::new(7), MessageId::new(100))]);
    // A new, higher ID is added without a delete and found beside the rest.
    index
        .index_messages(&[doc(300, "third draft")])
        .await
        .unwrap();
    index.commit().await.unwrap();
    assert_eq!(
        index.search_messages(&search("draft")).await.unwrap().total,
        2
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}
