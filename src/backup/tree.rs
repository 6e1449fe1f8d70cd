//! Copying directories of files (blobs, the S3 endpoint's objects) into a backup, skipping what the
//! previous backup already holds unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::manifest::{self, Entry, Manifest};
use super::{BackupError, Progress, Step};

/// Every regular file under `root` (none if it does not exist), with its `/`-separated path
/// prefixed by `prefix`. Symbolic links are not followed.
pub(super) fn walk(root: &Path, prefix: &str) -> Result<Vec<(PathBuf, String)>, BackupError> {
    let mut found = Vec::new();
    let mut pending = vec![(root.to_path_buf(), prefix.to_owned())];
    while let Some((dir, relative)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BackupError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| BackupError::io(&dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %entry.path().display(), "backup: skipped a file whose name is not UTF-8");
                continue;
            };
            let kind = entry
                .file_type()
                .map_err(|e| BackupError::io(&entry.path(), e))?;
            let path = format!("{relative}/{name}");
            if kind.is_dir() {
                pending.push((entry.path(), path));
            } else if kind.is_file() {
                found.push((entry.path(), path));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// Files copied into a backup directory in one run.
pub(super) struct Copy<'a> {
    dir: &'a Path,
    previous: BTreeMap<&'a str, &'a Entry>,
    entries: Vec<Entry>,
    copied_files: u64,
    copied_bytes: u64,
    unchanged_files: u64,
}

/// What [`Copy`] did.
pub(super) struct Copied {
    pub(super) entries: Vec<Entry>,
    pub(super) copied_files: u64,
    pub(super) copied_bytes: u64,
    pub(super) unchanged_files: u64,
}

impl<'a> Copy<'a> {
    pub(super) fn new(dir: &'a Path, previous: Option<&'a Manifest>) -> Copy<'a> {
        Copy {
            dir,
            previous: previous.map(Manifest::by_path).unwrap_or_default(),
            entries: Vec::new(),
            copied_files: 0,
            copied_bytes: 0,
            unchanged_files: 0,
        }
    }

    /// Copies the one file `source` as `name`.
    pub(super) fn file(
        &mut self,
        source: &Path,
        name: &str,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<(), BackupError> {
        let size = std::fs::metadata(source)
            .map_err(|e| BackupError::io(source, e))?
            .len();
        self.copy_all(&[(source.to_path_buf(), name.to_owned())], size, progress)
    }

    /// Copies every file under `root` into `{prefix}/...`.
    pub(super) fn tree(
        &mut self,
        root: &Path,
        prefix: &str,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<(), BackupError> {
        // object_store writes `name#n` and renames it into place: what is still being written.
        let files: Vec<_> = walk(root, prefix)?
            .into_iter()
            .filter(|(_, relative)| !relative.rsplit('/').next().unwrap_or("").contains('#'))
            .collect();
        let total = files
            .iter()
            .filter_map(|(path, _)| std::fs::metadata(path).ok())
            .map(|m| m.len())
            .sum();
        self.copy_all(&files, total, progress)
    }

    fn copy_all(
        &mut self,
        files: &[(PathBuf, String)],
        bytes_total: u64,
        progress: &mut impl FnMut(&Progress),
    ) -> Result<(), BackupError> {
        let mut report = Progress {
            step: Step::Files,
            files_done: 0,
            files_total: files.len() as u64,
            bytes_done: 0,
            bytes_total,
        };
        progress(&report);
        for (source, relative) in files {
            if let Some(entry) = self.copy_one(source, relative)? {
                report.bytes_done += entry.size;
                self.entries.push(entry);
            }
            report.files_done += 1;
            progress(&report);
        }
        Ok(())
    }

    /// Copies one file, unless the previous backup has it with the same size and time. A file
    /// removed since it was listed is skipped (`None`).
    fn copy_one(&mut self, source: &Path, relative: &str) -> Result<Option<Entry>, BackupError> {
        let meta = match std::fs::metadata(source) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BackupError::io(source, e)),
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let target = self.dir.join(manifest::relative(relative)?);
        if let Some(previous) = self.previous.get(relative)
            && modified.is_some()
            && previous.source_modified_ns == modified
            && previous.size == meta.len()
            && std::fs::metadata(&target).is_ok_and(|m| m.len() == previous.size)
        {
            self.unchanged_files += 1;
            return Ok(Some((*previous).clone()));
        }
        let mut input = match std::fs::File::open(source) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BackupError::io(source, e)),
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BackupError::io(parent, e))?;
        }
        let partial = manifest::partial_path(&target);
        let mut output =
            std::fs::File::create(&partial).map_err(|e| BackupError::io(&partial, e))?;
        let (size, sha256) = manifest::hash_stream(&mut input, |chunk| {
            std::io::Write::write_all(&mut output, chunk)
        })
        .map_err(|e| BackupError::io(source, e))?;
        drop(output);
        std::fs::rename(&partial, &target).map_err(|e| BackupError::io(&target, e))?;
        self.copied_files += 1;
        self.copied_bytes += size;
        Ok(Some(Entry {
            path: relative.to_owned(),
            size,
            sha256,
            source_modified_ns: modified,
        }))
    }

    pub(super) fn finish(self) -> Copied {
        Copied {
            entries: self.entries,
            copied_files: self.copied_files,
            copied_bytes: self.copied_bytes,
            unchanged_files: self.unchanged_files,
        }
    }
}
