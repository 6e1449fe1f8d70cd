//! The blob conformance suite against `ObjectBlobStore` on the local filesystem, one fresh directory
//! per case. (The S3 configuration runs in `fluxer-media/tests/object_store_s3.rs`, against the
//! built-in S3 endpoint.)
#![cfg(feature = "blobs-fs")]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use fluxer_core::ports::{BlobFolderUsage, BlobMeta, BlobStore, PortResult};
use fluxer_storage::object_store::ObjectBlobStore;

/// A filesystem store in its own temporary directory, removed when the store is dropped.
struct TempBlobStore {
    blobs: ObjectBlobStore,
    root: PathBuf,
}

impl TempBlobStore {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "fluxer-blob-conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let blobs = ObjectBlobStore::filesystem(&root).expect("a writable temporary directory");
        Self { blobs, root }
    }
}

impl Drop for TempBlobStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[async_trait]
impl BlobStore for TempBlobStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> PortResult<BlobMeta> {
        self.blobs.put(key, bytes, content_type).await
    }
    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        self.blobs.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        self.blobs.get_range(key, start, end).await
    }
    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>> {
        self.blobs.head(key).await
    }
    async fn delete(&self, key: &str) -> PortResult<bool> {
        self.blobs.delete(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>> {
        self.blobs.list(prefix).await
    }
    async fn usage(&self) -> PortResult<Vec<BlobFolderUsage>> {
        self.blobs.usage().await
    }
}

fluxer_core::blob_conformance_tests!(Arc::new(TempBlobStore::new()) as Arc<dyn BlobStore>);

#[tokio::test]
async fn objects_and_sidecars_live_under_the_root() {
    let store = TempBlobStore::new();
    let meta = store
        .put("avatars/1/a.png", b"png".to_vec(), Some("image/png"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(store.root.join("objects/avatars/1/a.png")).unwrap(),
        b"png"
    );
    assert!(store.root.join("meta/avatars/1/a.png").is_file());

    // A second store on the same root sees the same objects, types and etags.
    let reopened = ObjectBlobStore::filesystem(&store.root).unwrap();
    assert_eq!(reopened.head("avatars/1/a.png").await.unwrap(), Some(meta));

    // Deleting removes the sidecar and the directories left empty.
    assert!(store.delete("avatars/1/a.png").await.unwrap());
    assert!(!store.root.join("objects/avatars").exists());
    assert!(!store.root.join("meta/avatars").exists());
}

#[tokio::test]
async fn keys_a_filesystem_would_alias_are_refused() {
    let store = TempBlobStore::new();
    for key in ["a//b", "/a", "a/", "../escape", "a/./b"] {
        assert!(
            store.put(key, b"x".to_vec(), None).await.is_err(),
            "{key:?}"
        );
    }
    assert!(!store.root.parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn an_object_without_a_sidecar_is_still_described() {
    let store = TempBlobStore::new();
    std::fs::create_dir_all(store.root.join("objects/dropped")).unwrap();
    std::fs::write(store.root.join("objects/dropped/in.bin"), b"by hand").unwrap();
    let meta = store.head("dropped/in.bin").await.unwrap().unwrap();
    assert_eq!((meta.size, meta.content_type), (7, None));
    assert!(meta.etag.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        store.list("dropped/").await.unwrap(),
        vec![store.head("dropped/in.bin").await.unwrap().unwrap()]
    );
}
