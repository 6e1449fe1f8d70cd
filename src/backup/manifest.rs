//! The manifest: what a backup holds, each file with its size and SHA-256, itself checksummed in
//! `manifest.sha256` (the `sha256sum -c` format) so that a damaged manifest is found too.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use fluxer_core::secret::to_hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BackupError;

/// The manifest's file name in a backup directory.
pub(super) const MANIFEST: &str = "manifest.json";
/// The manifest's checksum file.
pub(super) const MANIFEST_SUM: &str = "manifest.sha256";
/// The manifest format this build writes and reads.
pub(super) const FORMAT: u32 = 1;

/// What a backup directory holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Manifest {
    /// The manifest format ([`FORMAT`]).
    pub format: u32,
    /// The version of the `fluxer-server` that wrote it.
    pub fluxer_version: String,
    /// When the backup started (ISO 8601): everything written before is in it.
    pub started_at: String,
    /// When it was complete.
    pub finished_at: String,
    /// The SQLite database's schema version; `None` when the database is not in the backup
    /// (PostgreSQL: `pg_dump` backs it up).
    pub schema_version: Option<i64>,
    /// How the search index comes back: it is not copied (it is rebuilt from the database).
    pub search: SearchRestore,
    /// Every file, by its `/`-separated path in the backup directory.
    pub files: Vec<Entry>,
}

/// How a restore brings the search index back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchRestore {
    /// `fluxer-server reindex` rebuilds it from the restored database (restore runs it).
    Reindex,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Its path in the backup directory, `/`-separated.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its content, in lowercase hex.
    pub sha256: String,
    /// The source file's modification time (nanoseconds since the epoch) when it was copied: a
    /// later backup into the same directory skips a file whose size and time did not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_modified_ns: Option<u64>,
}

impl Manifest {
    /// Reads and checks the manifest of `dir`: present, matching its checksum, of a known format,
    /// every path inside the directory.
    pub fn read(dir: &Path) -> Result<Manifest, BackupError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| BackupError::io(&path, e))?;
        let sum_path = dir.join(MANIFEST_SUM);
        let sum = std::fs::read_to_string(&sum_path).map_err(|e| BackupError::io(&sum_path, e))?;
        let expected = sum.split_whitespace().next().unwrap_or_default();
        if to_hex(&Sha256::digest(&bytes)) != expected {
            return Err(BackupError::Corrupt(format!(
                "{MANIFEST} does not match {MANIFEST_SUM}"
            )));
        }
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| BackupError::Corrupt(format!("{MANIFEST}: {e}")))?;
        if manifest.format != FORMAT {
            return Err(BackupError::Refused(format!(
                "the backup's format {} is not this build's {FORMAT}",
                manifest.format
            )));
        }
        for entry in &manifest.files {
            relative(&entry.path)?;
        }
        Ok(manifest)
    }

    /// Writes the manifest and its checksum into `dir`, each replacing the old one whole.
    pub fn write(&self, dir: &Path) -> Result<(), BackupError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| BackupError::Refused(format!("cannot encode the manifest: {e}")))?;
        let sum = format!("{}  {MANIFEST}\n", to_hex(&Sha256::digest(&bytes)));
        // The checksum goes first: a crash between the two leaves a mismatch (refused), never an
        // old checksum that vouches for nothing.
        write_replacing(&dir.join(MANIFEST_SUM), sum.as_bytes())?;
        write_replacing(&dir.join(MANIFEST), &bytes)
    }

    /// The entries by path.
    pub fn by_path(&self) -> BTreeMap<&str, &Entry> {
        self.files.iter().map(|e| (e.path.as_str(), e)).collect()
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it, synced.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let partial = partial_path(path);
    let mut file = std::fs::File::create(&partial).map_err(|e| BackupError::io(&partial, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| BackupError::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| BackupError::io(path, e))
}

/// Where a file is written before it is renamed into place.
pub(super) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// A manifest path as a relative path, refusing anything that would leave the directory.
pub(super) fn relative(path: &str) -> Result<PathBuf, BackupError> {
    let candidate = Path::new(path);
    let inside = !path.is_empty()
        && candidate
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(BackupError::Corrupt(format!(
            "the manifest names a path outside the backup: {path:?}"
        )));
    }
    Ok(candidate.to_path_buf())
}

/// Hashes `reader` to its end, calling `each` with every chunk (to copy it as it is read).
pub(super) fn hash_stream(
    mut reader: impl Read,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        each(&buf[..n])?;
        size += n as u64;
    }
    Ok((size, to_hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_backup_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "blobs/../../x", "./x"] {
            assert!(relative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            relative("blobs/objects/a").unwrap(),
            PathBuf::from("blobs/objects/a")
        );
    }

    #[test]
    fn a_damaged_manifest_is_refused() {
        let dir = std::env::temp_dir().join(format!("fluxer-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = Manifest {
            format: FORMAT,
            fluxer_version: "0".into(),
            started_at: "a".into(),
            finished_at: "b".into(),
            schema_version: Some(3),
            search: SearchRestore::Reindex,
            files: vec![Entry {
                path: "database.db".into(),
                size: 10,
                sha256: "00".into(),
                source_modified_ns: None,
            }],
        };
        manifest.write(&dir).unwrap();
        assert_eq!(Manifest::read(&dir).unwrap(), manifest);
        let text = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
        std::fs::write(
            dir.join(MANIFEST),
            text.replace("\"size\": 10", "\"size\": 11"),
        )
        .unwrap();
        assert!(matches!(Manifest::read(&dir), Err(BackupError::Corrupt(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
