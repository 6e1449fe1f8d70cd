use async_trait::async_trait;

use super::PortResult;
use crate::time::Timestamp;

/// What is known about a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The object's key, as given to [`BlobStore::put`].
    pub key: String,
    /// Length in bytes.
    pub size: u64,
    /// The MIME type given at `put`, if any.
    pub content_type: Option<String>,
    /// A content hash (hex): the same bytes give the same etag, other bytes another.
    pub etag: String,
    /// When the object was last written, by the backend's clock (some keep whole seconds only).
    pub last_modified: Timestamp,
}

/// How much one top-level folder of the store holds (see [`BlobStore::usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFolderUsage {
    /// The keys' first `/`-separated segment (`attachments`, `avatars`, ...); empty for keys
    /// without a `/`.
    pub folder: String,
    /// Objects stored under it.
    pub objects: u64,
    /// Their sizes added up, in bytes.
    pub bytes: u64,
}

/// Object storage for attachments, avatars, icons and exports. Keys are `/`-separated paths.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any previous object.
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> PortResult<BlobMeta>;
    /// The whole object, or `None`.
    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>>;
    /// Bytes `start..end` (end exclusive, clamped to the size; empty when `start` is past the end or not
    /// before `end`) with the whole object's meta, or `None` when the object is missing.
    async fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> PortResult<Option<(BlobMeta, Vec<u8>)>>;
    /// The object's meta without its bytes (the same meta `get` gives), or `None` when missing.
    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>>;
    /// Whether an object was removed.
    async fn delete(&self, key: &str) -> PortResult<bool>;
    /// Objects whose key starts with `prefix` (a plain string prefix: `a` lists `a/1` and `ab`), sorted
    /// by key.
    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>>;
    /// What the store holds, per top-level folder (sorted by folder; folders with nothing are
    /// absent): every object's size counted once, as [`BlobMeta::size`] gives it. Reads the whole
    /// listing, in constant memory per folder.
    async fn usage(&self) -> PortResult<Vec<BlobFolderUsage>>;
}

/// The folder [`BlobStore::usage`] counts `key` under.
pub fn usage_folder(key: &str) -> &str {
    key.split_once('/').map_or("", |(folder, _)| folder)
}
