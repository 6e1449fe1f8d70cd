//! The [`BlobStore`] conformance suite.

use std::sync::Arc;

use crate::ports::{BlobFolderUsage, BlobMeta, BlobStore};
use crate::time::Timestamp;

/// Generates one test per [`BlobStore`] case; see [`crate::testing`].
#[macro_export]
macro_rules! blob_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(blob, blob_conformance, [$($factory)+], [
            put_get_head,
            overwrite_changes_etag,
            range_is_clamped,
            delete_removes,
            list_by_prefix_sorted,
            usage_sums_sizes_per_folder,
        ]);
    };
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// `put` answers the meta (key, size, content type, hex etag, recent `last_modified`) that `get` and
/// `head` give back; missing keys are `None`; empty objects and no content type work.
pub async fn put_get_head(blobs: Arc<dyn BlobStore>) {
    let before = Timestamp::now();
    let data = bytes(1000);
    let meta = blobs
        .put("avatars/1/a.png", data.clone(), Some("image/png"))
        .await
        .unwrap();
    let after = Timestamp::now();
    assert_eq!(meta.key, "avatars/1/a.png");
    assert_eq!(meta.size, 1000);
    assert_eq!(meta.content_type.as_deref(), Some("image/png"));
    assert!(
        !meta.etag.is_empty() && meta.etag.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        meta.etag
    );
    // Backends keep their own clocks, some with whole seconds only.
    assert!(meta.last_modified >= before.plus_secs(-2) && meta.last_modified <= after.plus_secs(2));

    assert_eq!(
        blobs.get("avatars/1/a.png").await.unwrap(),
        Some((meta.clone(), data))
    );
    assert_eq!(blobs.head("avatars/1/a.png").await.unwrap(), Some(meta));
    assert_eq!(blobs.get("avatars/1/b.png").await.unwrap(), None);
    assert_eq!(blobs.head("avatars/1/b.png").await.unwrap(), None);

    // Empty objects and objects without a content type.
    let empty = blobs.put("empty", Vec::new(), None).await.unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.content_type, None);
    assert_eq!(blobs.get("empty").await.unwrap(), Some((empty, Vec::new())));
}

/// A second `put` replaces the object and its etag; the etag is a content hash (same bytes under
/// another key, same etag).
pub async fn overwrite_changes_etag(blobs: Arc<dyn BlobStore>) {
    let first = blobs
        .put("doc", b"first version".to_vec(), Some("text/plain"))
        .await
        .unwrap();
    let second = blobs
        .put(
            "doc",
            b"second, longer version".to_vec(),
            Some("text/markdown"),
        )
        .await
        .unwrap();
    assert_ne!(first.etag, second.etag);
    assert_eq!(second.size, 22);
    assert_eq!(blobs.head("doc").await.unwrap(), Some(second.clone()));
    assert_eq!(
        blobs.get("doc").await.unwrap(),
        Some((second.clone(), b"second, longer version".to_vec()))
    );
    assert_eq!(blobs.list("doc").await.unwrap(), vec![second.clone()]);
    // The etag is a content hash: the same bytes under another key have the same one.
    let copy = blobs
        .put("copy", b"second, longer version".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(copy.etag, second.etag);
}

/// `get_range` is end-exclusive, clamps past the end, is empty for an empty or inverted range, and
/// `None` for a missing object.
pub async fn range_is_clamped(blobs: Arc<dyn BlobStore>) {
    let data = bytes(100);
    let meta = blobs
        .put("video/clip", data.clone(), Some("video/mp4"))
        .await
        .unwrap();
    let range = |start: u64, end: u64| {
        let blobs = blobs.clone();
        async move { blobs.get_range("video/clip", start, end).await.unwrap() }
    };
    assert_eq!(
        range(0, 10).await,
        Some((meta.clone(), data[..10].to_vec()))
    );
    assert_eq!(
        range(10, 20).await,
        Some((meta.clone(), data[10..20].to_vec()))
    );
    assert_eq!(
        range(90, 1000).await,
        Some((meta.clone(), data[90..].to_vec()))
    );
    assert_eq!(range(0, u64::MAX).await, Some((meta.clone(), data.clone())));
    assert_eq!(range(99, 100).await, Some((meta.clone(), vec![data[99]])));
    assert_eq!(range(100, 200).await, Some((meta.clone(), Vec::new())));
    assert_eq!(range(500, 600).await, Some((meta.clone(), Vec::new())));
    assert_eq!(range(20, 20).await, Some((meta.clone(), Vec::new())));
    assert_eq!(range(30, 20).await, Some((meta, Vec::new())));
    assert_eq!(blobs.get_range("video/missing", 0, 10).await.unwrap(), None);
}

/// `delete` answers whether it removed something; a deleted key is gone from every read and can be
/// written again.
pub async fn delete_removes(blobs: Arc<dyn BlobStore>) {
    blobs.put("a/1", b"one".to_vec(), None).await.unwrap();
    let kept = blobs.put("a/2", b"two".to_vec(), None).await.unwrap();
    assert!(blobs.delete("a/1").await.unwrap());
    assert!(!blobs.delete("a/1").await.unwrap());
    assert!(!blobs.delete("never").await.unwrap());
    assert_eq!(blobs.get("a/1").await.unwrap(), None);
    assert_eq!(blobs.head("a/1").await.unwrap(), None);
    assert_eq!(blobs.get_range("a/1", 0, 1).await.unwrap(), None);
    assert_eq!(blobs.list("a/").await.unwrap(), vec![kept]);
    // A deleted key can be written again.
    blobs.put("a/1", b"again".to_vec(), None).await.unwrap();
    assert_eq!(
        blobs.get("a/1").await.unwrap().map(|(_, b)| b),
        Some(b"again".to_vec())
    );
}

/// `list` takes a plain string prefix (`a` also lists `ab`) and sorts by key.
pub async fn list_by_prefix_sorted(blobs: Arc<dyn BlobStore>) {
    for key in ["a/2", "b/1", "a/10", "ab", "a/1", "a/sub/x"] {
        blobs.put(key, key.as_bytes().to_vec(), None).await.unwrap();
    }
    let keys = |metas: Vec<BlobMeta>| metas.into_iter().map(|m| m.key).collect::<Vec<_>>();
    assert_eq!(
        keys(blobs.list("a/").await.unwrap()),
        vec!["a/1", "a/10", "a/2", "a/sub/x"]
    );
    assert_eq!(
        keys(blobs.list("a").await.unwrap()),
        vec!["a/1", "a/10", "a/2", "a/sub/x", "ab"]
    );
    assert_eq!(keys(blobs.list("a/sub/").await.unwrap()), vec!["a/sub/x"]);
    assert_eq!(
        keys(blobs.list("").await.unwrap()),
        vec!["a/1", "a/10", "a/2", "a/sub/x", "ab", "b/1"]
    );
    assert!(blobs.list("c").await.unwrap().is_empty());
    let listed = blobs.list("b/").await.unwrap();
    assert_eq!(listed, vec![blobs.head("b/1").await.unwrap().unwrap()]);
    assert_eq!(listed[0].size, 3);
}

/// `usage` adds up the sizes of the objects under each top-level folder (keys without `/` under
/// the empty folder), counting an overwritten object once at its new size and a deleted one not
/// at all.
pub async fn usage_sums_sizes_per_folder(blobs: Arc<dyn BlobStore>) {
    assert_eq!(blobs.usage().await.unwrap(), Vec::new());
    for (key, size) in [
        ("a/1", 3),
        ("a/sub/x", 5),
        ("b/1", 10),
        ("ab", 2),
        ("b/2", 0),
    ] {
        blobs.put(key, bytes(size), None).await.unwrap();
    }
    // Overwritten: counted once, at its new size.
    blobs.put("a/1", bytes(4), None).await.unwrap();
    let folder = |folder: &str, objects, bytes| BlobFolderUsage {
        folder: folder.to_owned(),
        objects,
        bytes,
    };
    assert_eq!(
        blobs.usage().await.unwrap(),
        vec![folder("", 1, 2), folder("a", 2, 9), folder("b", 2, 10)]
    );
    assert!(blobs.delete("b/1").await.unwrap());
    assert!(blobs.delete("ab").await.unwrap());
    assert_eq!(
        blobs.usage().await.unwrap(),
        vec![folder("a", 2, 9), folder("b", 1, 0)]
    );
    // What `list` sees, `usage` counts.
    let listed: u64 = blobs.list("").await.unwrap().iter().map(|m| m.size).sum();
    let used: u64 = blobs.usage().await.unwrap().iter().map(|f| f.bytes).sum();
    assert_eq!(listed, used);
}
