//! Restoring a backup into an empty data directory: every checksum is checked before anything is
//! written, and nothing is written over existing data.

use std::path::{Path, PathBuf};

use super::manifest::{self, Manifest};
use super::{BLOBS, BackupError, DATABASE, Layout, Progress, QUEUE, S3, SECRET, Step};
use crate::config::Config;

/// What a restore did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The search index must be rebuilt (`fluxer-server reindex`) before it finds anything.
    pub needs_reindex: bool,
    /// Parts of the backup this configuration has no place for, said once each.
    pub notes: Vec<String>,
}

/// Restores the backup in `dir` into the places `config` names, which must be empty. Checks the
/// manifest and every file's checksum first: a damaged backup is refused with nothing written.
/// Blocking: run it on a blocking thread.
pub fn restore(
    config: &Config,
    dir: &Path,
    mut progress: impl FnMut(&Progress),
) -> Result<RestoreReport, BackupError> {
    let manifest = Manifest::read(dir)?;
    let layout = Layout::of(config);
    let mut notes = Vec::new();
    if let Some(version) = manifest.schema_version
        && version > schema_version()
    {
        return Err(BackupError::Refused(format!(
            "the backup's database has schema version {version}, newer than this build's {}: \
             restore it with the fluxer-server {} that wrote it, or a newer one",
            schema_version(),
            manifest.fluxer_version
        )));
    }

    // Where each file goes; refusing what this configuration has no place for.
    let mut plan = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let relative = manifest::relative(&entry.path)?;
        let mut parts = entry.path.splitn(2, '/');
        let (head, rest) = (parts.next().unwrap_or(""), parts.next());
        let target = match (head, rest) {
            (DATABASE, None) => Some(layout.database.clone().ok_or_else(|| {
                BackupError::Refused(
                    "the backup holds a SQLite database but database.backend is not sqlite"
                        .to_owned(),
                )
            })?),
            (QUEUE, None) => {
                if layout.queue.is_none() {
                    notes.push("the job queue is on NATS: the backup's queue.db is not restored (its pending jobs are lost)".to_owned());
                }
                layout.queue.clone()
            }
            (SECRET, None) => Some(layout.secret.clone()),
            (BLOBS, Some(rest)) => Some(
                layout
                    .blobs
                    .as_ref()
                    .ok_or_else(|| {
                        BackupError::Refused(
                            "the backup holds filesystem blobs but blobs.backend is not \
                             filesystem: restore with a configuration that keeps blobs on disk, \
                             then copy them to the bucket"
                                .to_owned(),
                        )
                    })?
                    .join(rest),
            ),
            (S3, Some(rest)) => Some(layout.s3.join(rest)),
            _ => {
                return Err(BackupError::Corrupt(format!(
                    "unknown file in the manifest: {}",
                    relative.display()
                )));
            }
        };
        if let Some(target) = target {
            plan.push((dir.join(&relative), target, entry));
        }
    }

    verify(dir, &manifest, &mut progress)?;
    ensure_empty(&layout)?;

    let mut report = Progress {
        step: Step::Write,
        files_done: 0,
        files_total: plan.len() as u64,
        bytes_done: 0,
        bytes_total: plan.iter().map(|(_, _, e)| e.size).sum(),
    };
    progress(&report);
    for (source, target, entry) in &plan {
        // The database, queue and secret are synced one by one; syncing each of many thousand
        // blobs would take a minute where copying them takes seconds (the OS writes them soon).
        let sync = !entry.path.contains('/');
        write_checked(source, target, &entry.sha256, sync)?;
        report.files_done += 1;
        report.bytes_done += entry.size;
        progress(&report);
    }
    #[cfg(unix)]
    if layout.secret.exists() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&layout.secret, std::fs::Permissions::from_mode(0o600));
    }
    Ok(RestoreReport {
        files: report.files_done,
        bytes: report.bytes_done,
        needs_reindex: layout.search.is_some() && manifest.schema_version.is_some(),
        manifest,
        notes,
    })
}

/// Checks every file of the backup against the manifest: present, of its size and checksum.
pub(super) fn verify(
    dir: &Path,
    manifest: &Manifest,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), BackupError> {
    let mut report = Progress {
        step: Step::Verify,
        files_done: 0,
        files_total: manifest.files.len() as u64,
        bytes_done: 0,
        bytes_total: manifest.files.iter().map(|e| e.size).sum(),
    };
    progress(&report);
    for entry in &manifest.files {
        let path = dir.join(manifest::relative(&entry.path)?);
        let file = std::fs::File::open(&path)
            .map_err(|e| BackupError::Corrupt(format!("{}: {e}", entry.path)))?;
        let (size, sha256) =
            manifest::hash_stream(file, |_| Ok(())).map_err(|e| BackupError::io(&path, e))?;
        if size != entry.size || sha256 != entry.sha256 {
            return Err(BackupError::Corrupt(format!(
                "{} does not match its checksum",
                entry.path
            )));
        }
        report.files_done += 1;
        report.bytes_done += size;
        progress(&report);
    }
    Ok(())
}

/// Refuses unless the data directory and every place outside it the restore writes to are
/// missing or empty.
fn ensure_empty(layout: &Layout) -> Result<(), BackupError> {
    let mut places: Vec<&PathBuf> = vec![&layout.data_dir, &layout.s3];
    places.extend(layout.blobs.iter());
    places.extend(layout.search.iter());
    for place in places {
        match std::fs::read_dir(place) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(BackupError::Refused(format!(
                        "{} is not empty: restore into a new data directory",
                        place.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io(place, e)),
        }
    }
    for file in layout.database.iter().chain(layout.queue.iter()) {
        if file.exists() {
            return Err(BackupError::Refused(format!(
                "{} exists: restore into a new data directory",
                file.display()
            )));
        }
    }
    Ok(())
}

/// Copies `source` to the new file `target`, checking the checksum again on the way (the backup
/// may have changed since it was verified).
fn write_checked(
    source: &Path,
    target: &Path,
    sha256: &str,
    sync: bool,
) -> Result<(), BackupError> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| BackupError::io(parent, e))?;
    }
    let input = std::fs::File::open(source).map_err(|e| BackupError::io(source, e))?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| BackupError::io(target, e))?;
    let (_, written) =
        manifest::hash_stream(input, |chunk| std::io::Write::write_all(&mut output, chunk))
            .map_err(|e| BackupError::io(target, e))?;
    if sync {
        output.sync_all().map_err(|e| BackupError::io(target, e))?;
    }
    if written != sha256 {
        return Err(BackupError::Corrupt(format!(
            "{} changed while it was restored",
            source.display()
        )));
    }
    Ok(())
}

#[cfg(feature = "sqlite")]
fn schema_version() -> i64 {
    fluxer_storage::sqlite::snapshot::SCHEMA_VERSION
}

#[cfg(not(feature = "sqlite"))]
fn schema_version() -> i64 {
    i64::MAX
}
