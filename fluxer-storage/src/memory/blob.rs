//! Objects in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::ports::{BlobFolderUsage, BlobMeta, BlobStore, PortResult, usage_folder};
use fluxer_core::time::Timestamp;

use super::lock;

/// Objects in a sorted map, so listing a prefix is a range scan.
#[derive(Default)]
pub struct MemoryBlobStore {
    objects: Mutex<BTreeMap<String, (BlobMeta, Vec<u8>)>>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// FNV-1a 64 and the length, in hex: stable and cheap; enough to tell versions apart.
fn etag(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}{:08x}", bytes.len())
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> PortResult<BlobMeta> {
        let meta = BlobMeta {
            key: key.to_owned(),
            size: bytes.len() as u64,
            content_type: content_type.map(str::to_owned),
            etag: etag(&bytes),
            last_modified: Timestamp::now(),
        };
        lock(&self.objects).insert(key.to_owned(), (meta.clone(), bytes));
        Ok(meta)
    }

    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        Ok(lock(&self.objects).get(key).cloned())
    }

    async fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        Ok(lock(&self.objects).get(key).map(|(meta, bytes)| {
            let len = bytes.len();
            let start = usize::try_from(start).unwrap_or(usize::MAX).min(len);
            let end = usize::try_from(end).unwrap_or(usize::MAX).clamp(start, len);
            (meta.clone(), bytes[start..end].to_vec())
        }))
    }

    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>> {
        Ok(lock(&self.objects).get(key).map(|(meta, _)| meta.clone()))
    }

    async fn delete(&self, key: &str) -> PortResult<bool> {
        Ok(lock(&self.objects).remove(key).is_some())
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>> {
        Ok(lock(&self.objects)
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, (meta, _))| meta.clone())
            .collect())
    }

    async fn usage(&self) -> PortResult<Vec<BlobFolderUsage>> {
        let mut folders: BTreeMap<String, BlobFolderUsage> = BTreeMap::new();
        for (key, (meta, _)) in lock(&self.objects).iter() {
            let folder = usage_folder(key);
            let entry = folders
                .entry(folder.to_owned())
                .or_insert_with(|| BlobFolderUsage {
                    folder: folder.to_owned(),
                    objects: 0,
                    bytes: 0,
                });
            entry.objects += 1;
            entry.bytes += meta.size;
        }
        Ok(folders.into_values().collect())
    }
}
