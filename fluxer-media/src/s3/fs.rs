//! The filesystem behind the endpoint.
//!
//! ```text
//! {root}/{bucket}/{key}            object data, the key's '/' as directories
//! {root}/.meta/{bucket}/{key}      the object's metadata (JSON sidecar)
//! {root}/.multipart/{upload_id}/   parts of multipart uploads in progress
//! {root}/.tmp/                     uploads being received, renamed into place when complete
//! ```
//!
//! Bucket names cannot start with `.`, so the reserved directories never collide with a bucket. Every
//! write lands in `.tmp` first and is renamed into place, so a reader sees the old object or the new
//! one, never a partial one. Data and sidecar change together under a per-key lock (striped), and
//! the sidecar records the data file's identity, so a sidecar left over by a crash between the two
//! renames is recognized and ignored.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::body::BodyReader;
use super::error::S3Error;

pub(super) const META_DIR: &str = ".meta";
pub(super) const MULTIPART_DIR: &str = ".multipart";
pub(super) const TMP_DIR: &str = ".tmp";

/// S3's longest key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Per-key locks are striped over this many locks.
const LOCK_STRIPES: usize = 64;

/// What is kept about an object besides its bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ObjectMeta {
    pub size: u64,
    /// MD5 hex, or for a multipart upload the MD5 of the parts' MD5s and `-{parts}`.
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default)]
    pub content_type: Option<String>,
    /// `cache-control`, `content-disposition`, `content-encoding`, `content-language`, `expires`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `x-amz-meta-*`, by lowercase name without the prefix.
    #[serde(default)]
    pub user: BTreeMap<String, String>,
    /// The identity (inode) of the data file this sidecar describes.
    #[serde(default)]
    pub file_id: Option<u64>,
}

/// Bytes received into a temporary file, not yet an object.
pub(super) struct Staged {
    pub temp: TempFile,
    pub size: u64,
    pub md5: [u8; 16],
}

/// A file under `.tmp`, removed when dropped unless it was moved into place.
pub(super) struct TempFile(Option<PathBuf>);

impl TempFile {
    pub(super) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }

    /// Renames the file to `to` (whose directory exists). Blocking.
    pub(super) fn persist(self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(self.path(), to)?;
        self.keep();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || std::fs::remove_file(path));
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

pub(super) struct Storage {
    root: PathBuf,
    stripes: Vec<RwLock<()>>,
    counter: AtomicU64,
}

impl Storage {
    /// Opens (creating) the layout under `root`, removing uploads a previous run left half-received
    /// in `.tmp`. Blocking: called once at start-up.
    pub(super) fn prepare(root: PathBuf) -> std::io::Result<Self> {
        for dir in [META_DIR, MULTIPART_DIR, TMP_DIR] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        for entry in std::fs::read_dir(root.join(TMP_DIR))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(Self {
            root,
            stripes: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            counter: AtomicU64::new(0),
        })
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// A name unique to this process and unpredictable enough for upload ids and temp files.
    pub(super) fn unique_name(&self) -> String {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut hasher = sha2::Sha256::new();
        hasher.update(format!("{nanos}:{count}:{}:{:p}", std::process::id(), self).as_bytes());
        super::sigv4::hex(&hasher.finalize()[..16])
    }

    pub(super) fn temp_path(&self) -> TempFile {
        TempFile(Some(self.root.join(TMP_DIR).join(self.unique_name())))
    }

    pub(super) async fn read_lock(&self, bucket: &str, key: &str) -> RwLockReadGuard<'_, ()> {
        self.stripe(bucket, key).read().await
    }

    pub(super) async fn write_lock(&self, bucket: &str, key: &str) -> RwLockWriteGuard<'_, ()> {
        self.stripe(bucket, key).write().await
    }

    fn stripe(&self, bucket: &str, key: &str) -> &RwLock<()> {
        let mut hasher = DefaultHasher::new();
        (bucket, key).hash(&mut hasher);
        &self.stripes[(hasher.finish() % LOCK_STRIPES as u64) as usize]
    }

    /// The directory of an existing bucket.
    pub(super) async fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, S3Error> {
        if !valid_bucket_name(bucket) {
            return Err(S3Error::no_such_bucket());
        }
        let dir = self.root.join(bucket);
        match tokio::fs::metadata(&dir).await {
            Ok(meta) if meta.is_dir() => Ok(dir),
            Ok(_) => Err(S3Error::no_such_bucket()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(S3Error::no_such_bucket()),
            Err(e) => Err(S3Error::internal(e)),
        }
    }

    /// The data and sidecar paths of `key` in `bucket` (which must exist).
    pub(super) async fn object_paths(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectPaths, S3Error> {
        let dir = self.bucket_dir(bucket).await?;
        let relative = key_path(key)?;
        Ok(ObjectPaths {
            data: dir.join(&relative),
            meta: self.root.join(META_DIR).join(bucket).join(&relative),
            bucket_dir: dir,
            meta_bucket_dir: self.root.join(META_DIR).join(bucket),
        })
    }

    /// Receives a body into a temporary file, refusing it past `limit` bytes.
    pub(super) async fn stage(&self, body: &mut BodyReader, limit: u64) -> Result<Staged, S3Error> {
        if body.declared_len().is_some_and(|len| len > limit) {
            return Err(S3Error::entity_too_large(limit));
        }
        let temp = self.temp_path();
        let mut file = tokio::fs::File::create(temp.path()).await?;
        let mut md5 = Md5::new();
        let mut size = 0u64;
        while let Some(piece) = body.next().await? {
            size += piece.len() as u64;
            if size > limit {
                return Err(S3Error::entity_too_large(limit));
            }
            md5.update(&piece);
            file.write_all(&piece).await?;
        }
        file.flush().await?;
        file.sync_data().await?;
        Ok(Staged {
            temp,
            size,
            md5: md5.finalize().into(),
        })
    }

    /// Moves staged bytes into place as `key`, with `meta`, replacing any object there.
    pub(super) async fn commit(
        &self,
        bucket: &str,
        key: &str,
        temp: TempFile,
        meta: ObjectMeta,
    ) -> Result<ObjectMeta, S3Error> {
        self.commit_holding(bucket, key, temp, meta, None).await
    }

    /// [`commit`](Self::commit) by a caller that already holds the write lock of `held` (a
    /// multipart upload's): when that lock is the key's own stripe, it is not taken twice (the
    /// locks are not reentrant: that would wait forever).
    pub(super) async fn commit_holding(
        &self,
        bucket: &str,
        key: &str,
        temp: TempFile,
        mut meta: ObjectMeta,
        held: Option<(&str, &str)>,
    ) -> Result<ObjectMeta, S3Error> {
        let paths = self.object_paths(bucket, key).await?;
        let meta_temp = self.temp_path();
        let shared =
            held.is_some_and(|(b, k)| std::ptr::eq(self.stripe(b, k), self.stripe(bucket, key)));
        let _guard = if shared {
            None
        } else {
            Some(self.write_lock(bucket, key).await)
        };
        let temp = temp.keep();
        blocking(move || {
            let placed = place(&temp, &paths.data);
            if placed.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            placed?;
            meta.file_id = file_id(&std::fs::metadata(&paths.data)?);
            let json = serde_json::to_vec(&meta).map_err(S3Error::internal)?;
            std::fs::write(meta_temp.path(), json)?;
            let meta_temp = meta_temp.keep();
            if let Err(e) = place(&meta_temp, &paths.meta) {
                let _ = std::fs::remove_file(&meta_temp);
                return Err(e);
            }
            Ok(meta)
        })
        .await
    }

    /// The object's metadata, read under the key's lock.
    pub(super) async fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>, S3Error> {
        Ok(self.open(bucket, key).await?.map(|(_, meta)| meta))
    }

    /// The object's data file, opened, with its metadata: the pair is consistent, and the open file
    /// keeps its content even if the object is replaced meanwhile.
    pub(super) async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(tokio::fs::File, ObjectMeta)>, S3Error> {
        let paths = self.object_paths(bucket, key).await?;
        let _guard = self.read_lock(bucket, key).await;
        let file = match tokio::fs::File::open(&paths.data).await {
            Ok(file) => file,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let stat = file.metadata().await?;
        if !stat.is_file() {
            return Ok(None);
        }
        let meta = blocking(move || Ok(read_meta(&paths.meta, &stat))).await?;
        Ok(Some((file, meta)))
    }

    /// Removes the object if it exists, and the directories that leaves empty.
    pub(super) async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let paths = self.object_paths(bucket, key).await?;
        let _guard = self.write_lock(bucket, key).await;
        blocking(move || {
            match std::fs::symlink_metadata(&paths.data) {
                Ok(stat) if stat.is_file() => std::fs::remove_file(&paths.data)?,
                Ok(_) => return Ok(()), // A directory: the key is a prefix, not an object.
                Err(e) if absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
            match std::fs::remove_file(&paths.meta) {
                Ok(()) => {}
                Err(e) if absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
            prune_empty_dirs(&paths.data, &paths.bucket_dir);
            prune_empty_dirs(&paths.meta, &paths.meta_bucket_dir);
            Ok(())
        })
        .await
    }
}

pub(super) struct ObjectPaths {
    pub data: PathBuf,
    pub meta: PathBuf,
    pub bucket_dir: PathBuf,
    pub meta_bucket_dir: PathBuf,
}

/// Runs blocking filesystem work off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, S3Error> + Send + 'static,
) -> Result<T, S3Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(S3Error::internal)?
}

/// Renames `from` to `to`, creating `to`'s directories. Retries when a concurrent delete removes a
/// directory just created (it prunes empty ones).
fn place(from: &Path, to: &Path) -> Result<(), S3Error> {
    let parent = to.parent().ok_or_else(S3Error::key_conflict)?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        std::fs::create_dir_all(parent).map_err(fs_error)?;
        match std::fs::rename(from, to) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && attempts < 4 => continue,
            Err(e) => return Err(fs_error(e)),
        }
    }
}

/// An I/O error in S3's terms: a file where a directory is needed (or the reverse) is a key conflict.
pub(super) fn fs_error(e: std::io::Error) -> S3Error {
    match e.kind() {
        ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::DirectoryNotEmpty
        | ErrorKind::AlreadyExists => S3Error::key_conflict(),
        ErrorKind::InvalidFilename => S3Error::key_too_long(),
        _ => S3Error::internal(e),
    }
}

/// Whether an error means "no such file" (including a file where a directory was expected).
pub(super) fn absent(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// Removes the empty directories from `path`'s parent up to (not including) `stop`.
pub(super) fn prune_empty_dirs(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(current) = dir {
        if current == stop || !current.starts_with(stop) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

/// The sidecar of a data file, or metadata made up from the file when the sidecar is missing or
/// describes another file (left over by a crash, or a file dropped in by hand).
pub(super) fn read_meta(meta_path: &Path, stat: &std::fs::Metadata) -> ObjectMeta {
    let sidecar = std::fs::read(meta_path)
        .ok()
        .and_then(|json| serde_json::from_slice::<ObjectMeta>(&json).ok())
        .filter(|meta| meta.size == stat.len() && meta.file_id == file_id(stat));
    let modified_ms = stat
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    sidecar.unwrap_or_else(|| ObjectMeta {
        size: stat.len(),
        // Not an MD5: an identifier that changes with the file.
        etag: format!("{:x}{modified_ms:x}", stat.len()),
        last_modified_ms: modified_ms,
        file_id: file_id(stat),
        ..ObjectMeta::default()
    })
}

#[cfg(unix)]
fn file_id(stat: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(stat.ino())
}

#[cfg(not(unix))]
fn file_id(_stat: &std::fs::Metadata) -> Option<u64> {
    None
}

/// S3's bucket naming rules; they also keep bucket names off the reserved `.`-directories.
pub(super) fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// The relative filesystem path of a key: its `/`-separated segments as directories and a file.
///
/// This is the path-escape guard. A key is refused when a segment is empty (a leading, trailing or
/// doubled `/`, which a filesystem would collapse onto another key), `.` or `..`, or contains a NUL;
/// the result is checked to consist of plain components only, so joining it under a bucket directory
/// cannot leave that directory.
pub(super) fn key_path(key: &str) -> Result<PathBuf, S3Error> {
    if key.is_empty() {
        return Err(S3Error::invalid_key("The key is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::key_too_long());
    }
    let mut path = PathBuf::new();
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(S3Error::invalid_key(
                "This store refuses keys with empty, '.' or '..' segments \
                 (a leading, trailing or doubled '/')",
            ));
        }
        if segment.contains('\0') || (cfg!(windows) && segment.contains(['\\', ':'])) {
            return Err(S3Error::invalid_key(
                "The key contains a character this store cannot keep",
            ));
        }
        path.push(segment);
    }
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(S3Error::invalid_key(
            "The key does not name a path inside its bucket",
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_bucket() {
        for key in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "a//b",
            "a/",
            ".",
            "./a",
            "a/./b",
            "",
            "a\0b",
        ] {
            assert!(key_path(key).is_err(), "{key:?} must be refused");
        }
        assert_eq!(
            key_path(&"k".repeat(1025)).unwrap_err().code,
            "KeyTooLongError"
        );
    }

    #[test]
    fn ordinary_keys_map_to_nested_paths() {
        let base = Path::new("/data/bucket");
        for (key, expected) in [
            ("a", "/data/bucket/a"),
            ("photos/2024/cat.jpg", "/data/bucket/photos/2024/cat.jpg"),
            ("..a/b..", "/data/bucket/..a/b.."),
            (
                "with space/ünïcode %20",
                "/data/bucket/with space/ünïcode %20",
            ),
            (".hidden", "/data/bucket/.hidden"),
        ] {
            let path = base.join(key_path(key).unwrap());
            assert_eq!(path, Path::new(expected));
            assert!(path.starts_with(base));
        }
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for name in ["abc", "my-bucket.1", "a1b"] {
            assert!(valid_bucket_name(name), "{name}");
        }
        for name in [
            ".meta",
            ".tmp",
            "ab",
            "Upper",
            "-a-",
            "a..b",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(name), "{name}");
        }
    }
}
