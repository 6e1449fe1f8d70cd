//! Blobs on the object_store crate: the local filesystem (`blobs-fs`) and S3-compatible endpoints
//! (`blobs-s3`).
//!
//! [`ObjectBlobStore`] implements [`BlobStore`] on any [`ObjectStore`]. The port promises more than a
//! bare object store keeps, so the adapter records it itself when writing:
//!
//! - the etag is the MD5 of the content (what S3 reports for a single-request upload), computed here so
//!   that the same bytes get the same etag on every backend and under every key;
//! - the content type, including its absence (S3 answers `binary/octet-stream` for an object stored
//!   without one);
//! - the write time in milliseconds, so the meta [`put`](BlobStore::put) returns is the meta every later
//!   read returns, without a second round trip.
//!
//! Stores with object attributes (S3) keep these as user metadata (`x-amz-meta-fluxer-*`); the local
//! filesystem, which drops attributes, keeps them in a JSON sidecar per object under `{root}/meta/`,
//! next to the data under `{root}/objects/`. An object written by another tool, without these records,
//! is described from what the store reports.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use fluxer_core::ports::BlobStore;
//! use fluxer_storage::object_store::ObjectBlobStore;
//!
//! let root = std::env::temp_dir().join(format!("fluxer-blob-doc-{}", std::process::id()));
//! let blobs = ObjectBlobStore::filesystem(&root).unwrap();
//! let meta = blobs.put("avatars/1.png", b"png".to_vec(), Some("image/png")).await.unwrap();
//! assert_eq!(meta.etag, "bff139fa05ac583f685a523ab3d110a0"); // MD5 of the bytes.
//! assert_eq!(blobs.head("avatars/1.png").await.unwrap(), Some(meta));
//! # std::fs::remove_dir_all(root).unwrap();
//! # }
//! ```

mod meta;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{BlobFolderUsage, BlobMeta, BlobStore, PortResult, usage_folder};
use fluxer_core::time::Timestamp;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attributes, GetOptions, GetRange, GetResult, ObjectMeta, ObjectStore, PutOptions, PutPayload,
};
#[cfg(feature = "blobs-s3")]
use serde::Deserialize;

use meta::Recorded;

/// How many objects [`BlobStore::list`] describes at once (each costs a sidecar read or a `HEAD`).
const LIST_CONCURRENCY: usize = 16;

/// How often a ranged read retries when the object changes between its `HEAD` and its `GET`.
const RANGE_ATTEMPTS: usize = 3;

/// A [`BlobStore`] on an [`ObjectStore`]; see the [module docs](self).
pub struct ObjectBlobStore {
    objects: Arc<dyn ObjectStore>,
    records: Records,
}

/// Where the adapter keeps what it records about each object.
enum Records {
    /// In the object's own attributes (user metadata).
    Attributes,
    /// In a JSON object under the same key in a second store.
    Sidecars(Arc<dyn ObjectStore>),
}

/// The connection to an S3-compatible endpoint (AWS, MinIO, Fluxer's built-in `/s3`, ...). Requests use
/// path-style addressing (`{endpoint}/{bucket}/{key}`), which every S3-compatible server accepts.
#[cfg(feature = "blobs-s3")]
#[derive(Clone, Deserialize)]
pub struct S3BlobConfig {
    /// The endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:8080/s3`.
    pub endpoint: String,
    /// The region requests are signed for (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// The bucket holding the blobs; it must exist.
    pub bucket: String,
    /// The access key ID requests are signed with.
    pub access_key_id: String,
    /// The secret paired with `access_key_id`; redacted in `Debug`.
    pub secret_access_key: String,
    /// Whether a plain `http://` endpoint is allowed.
    #[serde(default)]
    pub allow_http: bool,
}

#[cfg(feature = "blobs-s3")]
impl std::fmt::Debug for S3BlobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl ObjectBlobStore {
    /// Blobs as files under `root` (created if missing): data in `root/objects/{key}`, what the adapter
    /// records about each in `root/meta/{key}`. Runs blocking filesystem calls: call it at start-up.
    pub fn filesystem(root: impl AsRef<std::path::Path>) -> PortResult<Self> {
        let root = root.as_ref();
        let open = |dir: &str| -> PortResult<Arc<dyn ObjectStore>> {
            let dir = root.join(dir);
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::backend_of(
                    "object_store",
                    format!("creating blob directory {}: {e}", dir.display()),
                )
            })?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| StoreError::backend_of("object_store", e))?
                // Removes the directories a delete leaves empty.
                .with_automatic_cleanup(true);
            Ok(Arc::new(store))
        };
        Ok(Self {
            objects: open("objects")?,
            records: Records::Sidecars(open("meta")?),
        })
    }

    /// Blobs in one bucket of an S3-compatible endpoint. Makes no request: a wrong endpoint or
    /// credentials show on first use.
    #[cfg(feature = "blobs-s3")]
    pub fn s3(config: S3BlobConfig) -> PortResult<Self> {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(config.endpoint)
            .with_region(config.region)
            .with_bucket_name(config.bucket)
            .with_access_key_id(config.access_key_id)
            .with_secret_access_key(config.secret_access_key)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(false)
            .build()
            .map_err(|e| StoreError::backend_of("object_store", e))?;
        Ok(Self::with_attributes(Arc::new(store)))
    }

    /// Blobs in any store that keeps user metadata attributes (S3, GCS, Azure, memory), for hosts that
    /// build their own [`ObjectStore`].
    pub fn with_attributes(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            objects: store,
            records: Records::Attributes,
        }
    }

    /// Blobs in `objects`, with the adapter's records in sidecar objects in `sidecars`, for stores that
    /// drop attributes. `sidecars` may be `objects` under another prefix
    /// ([`object_store::prefix::PrefixStore`]) as long as no key of `objects` falls under it.
    pub fn with_sidecars(objects: Arc<dyn ObjectStore>, sidecars: Arc<dyn ObjectStore>) -> Self {
        Self {
            objects,
            records: Records::Sidecars(sidecars),
        }
    }

    /// What is known about the object at `path`: its store meta with what the adapter recorded.
    async fn describe(&self, key: &str, object: &ObjectMeta, attributes: &Attributes) -> BlobMeta {
        let recorded = match &self.records {
            Records::Attributes => Recorded::from_attributes(attributes),
            Records::Sidecars(sidecars) => read_sidecar(sidecars.as_ref(), &object.location).await,
        };
        // A sidecar for other bytes (a write that crashed between data and sidecar) is ignored.
        match recorded.filter(|r| r.size.is_none_or(|size| size == object.size)) {
            Some(recorded) => BlobMeta {
                key: key.to_owned(),
                size: object.size,
                content_type: recorded.content_type,
                etag: recorded.etag,
                last_modified: Timestamp::from_unix_ms(recorded.last_modified_ms),
            },
            None => meta::described_by_store(key, object, attributes),
        }
    }

    /// The object's meta and the store's own etag for it (to pin a later read to this version).
    async fn head_with_version(
        &self,
        key: &str,
        path: &Path,
    ) -> PortResult<Option<(BlobMeta, Option<String>)>> {
        let (object, attributes) = match &self.records {
            // Attributes only come with a (head) get.
            Records::Attributes => {
                let options = GetOptions {
                    head: true,
                    ..GetOptions::default()
                };
                match found(self.objects.get_opts(path, options).await)? {
                    Some(result) => (result.meta, result.attributes),
                    None => return Ok(None),
                }
            }
            Records::Sidecars(_) => match found(self.objects.head(path).await)? {
                Some(object) => (object, Attributes::new()),
                None => return Ok(None),
            },
        };
        let meta = self.describe(key, &object, &attributes).await;
        Ok(Some((meta, object.e_tag)))
    }

    async fn read(&self, key: &str, result: GetResult) -> PortResult<(BlobMeta, Vec<u8>)> {
        let meta = self.describe(key, &result.meta, &result.attributes).await;
        let bytes = result
            .bytes()
            .await
            .map_err(|e| StoreError::backend_of("object_store", e))?;
        Ok((meta, bytes.to_vec()))
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    #[tracing::instrument(level = "debug", name = "blob.put", skip_all, fields(otel.kind = "client"))]
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> PortResult<BlobMeta> {
        let path = object_path(key)?;
        let recorded = Recorded {
            size: Some(bytes.len() as u64),
            etag: md5_hex(&bytes),
            content_type: content_type.map(str::to_owned),
            last_modified_ms: Timestamp::now().unix_ms(),
        };
        let options = PutOptions {
            attributes: match &self.records {
                Records::Attributes => recorded.to_attributes(),
                Records::Sidecars(_) => Attributes::new(),
            },
            ..PutOptions::default()
        };
        self.objects
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
            .map_err(|e| StoreError::backend_of("object_store", e))?;
        // Data first: a crash in between leaves a stale sidecar, which `describe` notices by its size.
        if let Records::Sidecars(sidecars) = &self.records {
            let json = serde_json::to_vec(&recorded)
                .map_err(|e| StoreError::backend_of("object_store", e))?;
            sidecars
                .put(&path, PutPayload::from(json))
                .await
                .map_err(|e| StoreError::backend_of("object_store", e))?;
        }
        Ok(BlobMeta {
            key: key.to_owned(),
            size: recorded.size.unwrap_or_default(),
            content_type: recorded.content_type,
            etag: recorded.etag,
            last_modified: Timestamp::from_unix_ms(recorded.last_modified_ms),
        })
    }

    #[tracing::instrument(level = "debug", name = "blob.get", skip_all, fields(otel.kind = "client"))]
    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        let path = object_path(key)?;
        match found(self.objects.get(&path).await)? {
            Some(result) => Ok(Some(self.read(key, result).await?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", name = "blob.get_range", skip_all, fields(otel.kind = "client"))]
    async fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        let path = object_path(key)?;
        for _ in 0..RANGE_ATTEMPTS {
            let Some((meta, version)) = self.head_with_version(key, &path).await? else {
                return Ok(None);
            };
            let Some(range) = clamp(start, end, meta.size) else {
                return Ok(Some((meta, Vec::new())));
            };
            // Pinned to the version just described, so meta and bytes belong together.
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                if_match: version,
                ..GetOptions::default()
            };
            match self.objects.get_opts(&path, options).await {
                Ok(result) => {
                    let bytes = result
                        .bytes()
                        .await
                        .map_err(|e| StoreError::backend_of("object_store", e))?;
                    return Ok(Some((meta, bytes.to_vec())));
                }
                Err(object_store::Error::Precondition { .. }) => continue,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(StoreError::backend_of("object_store", e)),
            }
        }
        Err(StoreError::backend_of(
            "object_store",
            format!("blob {key:?} kept changing during a ranged read"),
        ))
    }

    #[tracing::instrument(level = "debug", name = "blob.head", skip_all, fields(otel.kind = "client"))]
    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>> {
        let path = object_path(key)?;
        Ok(self
            .head_with_version(key, &path)
            .await?
            .map(|(meta, _)| meta))
    }

    #[tracing::instrument(level = "debug", name = "blob.delete", skip_all, fields(otel.kind = "client"))]
    async fn delete(&self, key: &str) -> PortResult<bool> {
        let path = object_path(key)?;
        // S3 deletes are idempotent and do not say whether anything was there.
        if found(self.objects.head(&path).await)?.is_none() {
            return Ok(false);
        }
        match self.objects.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(StoreError::backend_of("object_store", e)),
        }
        if let Records::Sidecars(sidecars) = &self.records {
            match sidecars.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StoreError::backend_of("object_store", e)),
            }
        }
        Ok(true)
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>> {
        // Stores list whole path segments: list the directory holding the prefix, then filter.
        let directory = match prefix.rfind('/') {
            None => None,
            Some(slash) => match object_path(&prefix[..slash]) {
                Ok(directory) => Some(directory),
                // No key has an empty or relative segment, so none starts with this prefix.
                Err(_) => return Ok(Vec::new()),
            },
        };
        let objects: Vec<ObjectMeta> = self
            .objects
            .list(directory.as_ref())
            .try_filter(|object| std::future::ready(object.location.as_ref().starts_with(prefix)))
            .try_collect()
            .await
            .map_err(|e| StoreError::backend_of("object_store", e))?;
        let described: Vec<Option<BlobMeta>> = futures_util::stream::iter(objects)
            .map(|object| async move {
                match &self.records {
                    Records::Sidecars(_) => {
                        let key = object.location.to_string();
                        Ok::<_, StoreError>(Some(
                            self.describe(&key, &object, &Attributes::new()).await,
                        ))
                    }
                    // The listing carries no attributes: ask for each (gone since: skipped).
                    Records::Attributes => {
                        let key = object.location.to_string();
                        let head = self.head_with_version(&key, &object.location).await?;
                        Ok(head.map(|(meta, _)| meta))
                    }
                }
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut metas: Vec<BlobMeta> = described.into_iter().flatten().collect();
        metas.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(metas)
    }

    #[tracing::instrument(level = "debug", name = "blob.usage", skip_all, fields(otel.kind = "client"))]
    async fn usage(&self) -> PortResult<Vec<BlobFolderUsage>> {
        // The listing's sizes are the objects' own (the sidecars live in another store), so no
        // object is read or described: one pass, a running sum per folder.
        let folders = self
            .objects
            .list(None)
            .try_fold(
                std::collections::BTreeMap::<String, BlobFolderUsage>::new(),
                |mut folders, object| {
                    let key = object.location.as_ref();
                    let folder = usage_folder(key);
                    let entry =
                        folders
                            .entry(folder.to_owned())
                            .or_insert_with(|| BlobFolderUsage {
                                folder: folder.to_owned(),
                                objects: 0,
                                bytes: 0,
                            });
                    entry.objects += 1;
                    entry.bytes += object.size;
                    std::future::ready(Ok(folders))
                },
            )
            .await
            .map_err(|e| StoreError::backend_of("object_store", e))?;
        Ok(folders.into_values().collect())
    }
}

/// The store path of a blob key. Keys are used verbatim, so a key the store would rewrite (empty
/// segments, `.` or `..`, control characters, a leading or trailing `/`) is refused rather than
/// silently aliased to another.
fn object_path(key: &str) -> PortResult<Path> {
    if key.is_empty() {
        return Err(invalid_key(key, "empty"));
    }
    match Path::parse(key) {
        Ok(path) if path.as_ref() == key => Ok(path),
        Ok(_) => Err(invalid_key(key, "leading or trailing '/'")),
        Err(e) => Err(invalid_key(key, e)),
    }
}

fn invalid_key(key: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::backend_of("object_store", format!("invalid blob key {key:?}: {why}"))
}

/// `Ok(None)` for a missing object.
fn found<T>(result: object_store::Result<T>) -> PortResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StoreError::backend_of("object_store", e)),
    }
}

/// The port's `start..end` clamped to an object of `size` bytes; `None` when empty.
fn clamp(start: u64, end: u64, size: u64) -> Option<Range<u64>> {
    let end = end.min(size);
    (start < end).then_some(start..end)
}

async fn read_sidecar(sidecars: &dyn ObjectStore, path: &Path) -> Option<Recorded> {
    let result = sidecars.get(path).await.ok()?;
    let json = result.bytes().await.ok()?;
    match serde_json::from_slice(&json) {
        Ok(recorded) => Some(recorded),
        Err(e) => {
            tracing::warn!(%path, error = %e, "ignoring an unreadable blob sidecar");
            None
        }
    }
}

/// The MD5 of `data` as 32 lowercase hex digits: what S3 reports as the ETag of an object written in
/// one request, so an etag from this adapter means the same on every backend (change detection, not
/// security).
fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_used_verbatim_or_refused() {
        for key in ["a", "a/b.png", "with space/ünï#1x", "a.b/c%20d"] {
            assert_eq!(object_path(key).unwrap().as_ref(), key);
        }
        for key in ["", "/a", "a/", "a//b", "a/../b", "./a", "a/\u{7}"] {
            assert!(object_path(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn ranges_clamp_to_the_object() {
        assert_eq!(clamp(0, 10, 100), Some(0..10));
        assert_eq!(clamp(90, u64::MAX, 100), Some(90..100));
        assert_eq!(clamp(100, 200, 100), None);
        assert_eq!(clamp(30, 20, 100), None);
        assert_eq!(clamp(0, 0, 0), None);
    }
}
