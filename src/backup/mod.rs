//! Online backups of an instance's local state, and their restore.
//!
//! A backup directory holds:
//!
//! | path | what | how |
//! |---|---|---|
//! | `database.db` | the SQLite database | `VACUUM INTO`: consistent as of one instant, while the server writes |
//! | `queue.db` | the embedded job queue | the same |
//! | `secret.key` | the generated master secret (when there is one) | copied |
//! | `blobs/` | the filesystem blob store | copied, incrementally |
//! | `s3/` | the built-in S3 endpoint's objects (when there are any) | copied, incrementally |
//! | `manifest.json`, `manifest.sha256` | every file's size and SHA-256, the schema version | written last |
//!
//! The search index is not copied: restore rebuilds it from the database (`reindex`).
//!
//! **Order is what makes it consistent.** A blob is written before the row that names it, so the
//! database is snapshotted first and the blobs copied after: every blob a snapshotted row names
//! already exists. A blob deleted between the two (its message deleted meanwhile) may be missing.
//!
//! **Incremental.** Backing up again into the same directory copies only the files whose size or
//! modification time changed since the manifest there was written, and removes those gone from
//! the source. New snapshots are renamed into place only once everything is copied, and the
//! manifest is written last, so an interrupted run leaves either the previous backup or one that
//! restore refuses (a checksum no longer matches), never a silently wrong one.
//!
//! **Restore** checks the manifest and every file's checksum before it writes anything, and
//! writes only into places that are empty.

mod manifest;
mod restore;
mod tree;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use fluxer_core::time::Timestamp;

pub use manifest::{Entry, Manifest, SearchRestore};
pub use restore::{RestoreReport, restore};

use crate::config::{self, Config};

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The configuration or the target's state does not allow it; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The backup is damaged: a file is missing or does not match its checksum.
    #[error("the backup is damaged: {0}")]
    Corrupt(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The database could not be copied.
    #[error("cannot copy {what}: {message}")]
    Database {
        /// The database or the queue.
        what: &'static str,
        /// The whole error chain.
        message: String,
    },
}

impl BackupError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// What a backup or a restore is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Snapshotting the database.
    Database,
    /// Snapshotting the job queue.
    Queue,
    /// Copying the blobs and other files.
    Files,
    /// Checking the backup's checksums.
    Verify,
    /// Writing the restored files.
    Write,
}

impl Step {
    /// A word for progress output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Database => "database",
            Step::Queue => "queue",
            Step::Files => "files",
            Step::Verify => "verify",
            Step::Write => "write",
        }
    }
}

/// How far a step has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The step.
    pub step: Step,
    /// Files done in this step.
    pub files_done: u64,
    /// Files this step has (0 while not known).
    pub files_total: u64,
    /// Bytes done in this step.
    pub bytes_done: u64,
    /// Bytes this step has (0 while not known).
    pub bytes_total: u64,
}

/// What to back up.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BackupOptions {
    /// Leave the database and the queue out (a PostgreSQL deployment, whose database `pg_dump`
    /// backs up): only the blobs and the secret.
    pub files_only: bool,
}

impl BackupOptions {
    /// With [`files_only`](Self::files_only) set to `yes`.
    pub fn with_files_only(mut self, yes: bool) -> Self {
        self.files_only = yes;
        self
    }
}

/// What a backup did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupReport {
    /// The manifest written.
    pub manifest: Manifest,
    /// Files copied in this run.
    pub copied_files: u64,
    /// Bytes copied in this run.
    pub copied_bytes: u64,
    /// Files already in the backup, unchanged, not copied again.
    pub unchanged_files: u64,
    /// Files of the previous backup removed because the source no longer has them.
    pub removed_files: u64,
    /// Things not in the backup, said once each (blobs on S3, say).
    pub notes: Vec<String>,
}

/// Where the configuration keeps each part of the local state.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) data_dir: PathBuf,
    /// The SQLite database; `None` on PostgreSQL.
    pub(crate) database: Option<PathBuf>,
    /// The SQLite queue; `None` on NATS.
    pub(crate) queue: Option<PathBuf>,
    /// The tantivy index; `None` without search.
    pub(crate) search: Option<PathBuf>,
    /// The filesystem blob store; `None` on S3.
    pub(crate) blobs: Option<PathBuf>,
    /// The built-in S3 endpoint's directory.
    pub(crate) s3: PathBuf,
    /// The generated master secret.
    pub(crate) secret: PathBuf,
}

impl Layout {
    pub(crate) fn of(config: &Config) -> Layout {
        let data_dir = config.instance.data_dir();
        Layout {
            database: match &config.database {
                config::Database::Sqlite { path } => Some(path.clone()),
                _ => None,
            },
            queue: match &config.queue {
                config::Queue::Sqlite { path } => {
                    Some(path.clone().unwrap_or_else(|| data_dir.join("queue.db")))
                }
                _ => None,
            },
            search: match &config.integrations.search {
                config::Search::Tantivy { path } => {
                    Some(crate::node::ports::search_dir(config, path.as_deref()))
                }
                _ => None,
            },
            blobs: match &config.blobs {
                config::Blobs::Filesystem { path } => {
                    Some(path.clone().unwrap_or_else(|| data_dir.join("blobs")))
                }
                #[allow(unreachable_patterns)]
                _ => None,
            },
            s3: config
                .services
                .s3
                .data_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("s3")),
            secret: data_dir.join("secret.key"),
            data_dir,
        }
    }
}

/// The file names in a backup directory.
const DATABASE: &str = "database.db";
const QUEUE: &str = "queue.db";
const SECRET: &str = "secret.key";
const BLOBS: &str = "blobs";
const S3: &str = "s3";

/// Backs the instance `config` describes up into `dir` (created if missing; a directory holding a
/// previous backup is updated incrementally). Safe while a server runs. Blocking: run it on a
/// blocking thread.
pub fn backup(
    config: &Config,
    dir: &Path,
    options: &BackupOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<BackupReport, BackupError> {
    let started_at = Timestamp::now().to_iso8601();
    let layout = Layout::of(config);
    let mut notes = Vec::new();
    if layout.database.is_none() && !options.files_only {
        return Err(BackupError::Refused(
            "database.backend = postgres: back the database up with pg_dump (see the README, \
             \"Backups\", \"PostgreSQL\"), then run `fluxer-server backup --files-only <dir>` for \
             the blobs and the instance secret"
                .to_owned(),
        ));
    }
    refuse_inside(dir, layout.blobs.iter().chain([&layout.s3]))?;
    let previous = prepare_dir(dir)?;
    let mut files = Vec::new();

    // The database first: every blob its rows name exists before it is snapshotted.
    let mut schema_version = None;
    let mut snapshots = Vec::new();
    if !options.files_only {
        if let Some(db) = &layout.database {
            progress(&step(Step::Database, None));
            let (entry, version) = snapshot(db, dir, DATABASE, "the database")?;
            progress(&step(Step::Database, Some(entry.size)));
            schema_version = Some(version);
            files.push(entry);
            snapshots.push(DATABASE);
        }
        match &layout.queue {
            Some(queue) if queue.exists() => {
                progress(&step(Step::Queue, None));
                let (entry, _) = snapshot(queue, dir, QUEUE, "the job queue")?;
                progress(&step(Step::Queue, Some(entry.size)));
                files.push(entry);
                snapshots.push(QUEUE);
            }
            Some(_) => {}
            None => notes.push("the job queue is on NATS: not in the backup".to_owned()),
        }
    }

    let mut copy = tree::Copy::new(dir, previous.as_ref());
    if config.instance.secret_key.is_none() && layout.secret.exists() {
        copy.file(&layout.secret, SECRET, &mut progress)?;
    }
    match &layout.blobs {
        Some(blobs) => copy.tree(blobs, BLOBS, &mut progress)?,
        None => notes.push(
            "blobs are on S3: use the bucket's versioning or replication to keep them".to_owned(),
        ),
    }
    if layout.s3.is_dir() {
        copy.tree(&layout.s3, S3, &mut progress)?;
    }
    let copied = copy.finish();
    files.extend(copied.entries);

    // Everything is in place: the new snapshots replace the old, then the manifest names them.
    for name in snapshots {
        let path = dir.join(name);
        std::fs::rename(manifest::partial_path(&path), &path)
            .map_err(|e| BackupError::io(&path, e))?;
    }
    let manifest = Manifest {
        format: manifest::FORMAT,
        fluxer_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        finished_at: Timestamp::now().to_iso8601(),
        schema_version,
        search: SearchRestore::Reindex,
        files,
    };
    manifest.write(dir)?;
    let removed_files = remove_stale(dir, &manifest)?;
    Ok(BackupReport {
        manifest,
        copied_files: copied.copied_files,
        copied_bytes: copied.copied_bytes,
        unchanged_files: copied.unchanged_files,
        removed_files,
        notes,
    })
}

/// A one-file step, started or (with its size) done.
fn step(step: Step, done: Option<u64>) -> Progress {
    Progress {
        step,
        files_done: u64::from(done.is_some()),
        files_total: 1,
        bytes_done: done.unwrap_or(0),
        bytes_total: done.unwrap_or(0),
    }
}

/// Creates the backup directory (owner-only: it holds the secret) or checks that it holds a
/// backup, and returns that backup's manifest.
fn prepare_dir(dir: &Path) -> Result<Option<Manifest>, BackupError> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| BackupError::io(dir, e))?;
        return Ok(None);
    }
    if dir.join(manifest::MANIFEST).exists() {
        // A damaged previous backup is no base for an incremental one: start it over.
        return Ok(Manifest::read(dir).ok());
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| BackupError::io(dir, e))?
        .next()
        .is_none();
    if !empty {
        return Err(BackupError::Refused(format!(
            "{} is neither empty nor a backup (no {}): choose another directory",
            dir.display(),
            manifest::MANIFEST
        )));
    }
    Ok(None)
}

/// Refuses a backup directory inside a directory it copies (it would copy itself).
fn refuse_inside<'a>(
    dir: &Path,
    sources: impl Iterator<Item = &'a PathBuf>,
) -> Result<(), BackupError> {
    // The directory may not exist yet: resolve its nearest existing ancestor.
    let mut existing = dir;
    let mut rest = Vec::new();
    while !existing.exists()
        && let (Some(parent), Some(name)) = (existing.parent(), existing.file_name())
    {
        rest.push(name);
        existing = parent;
    }
    let base = if existing.as_os_str().is_empty() {
        Path::new(".")
    } else {
        existing
    };
    let mut dir = std::fs::canonicalize(base).map_err(|e| BackupError::io(base, e))?;
    dir.extend(rest.iter().rev());
    for source in sources {
        if let Ok(source) = std::fs::canonicalize(source)
            && dir.starts_with(&source)
        {
            return Err(BackupError::Refused(format!(
                "the backup directory is inside {}, which it backs up: choose another",
                source.display()
            )));
        }
    }
    Ok(())
}

/// Snapshots the SQLite database at `source` into `{dir}/{name}.partial` and describes it under
/// `name` (where it is renamed once the backup is complete); returns its schema version too.
fn snapshot(
    source: &Path,
    dir: &Path,
    name: &str,
    what: &'static str,
) -> Result<(Entry, i64), BackupError> {
    if !source.exists() {
        return Err(BackupError::Refused(format!(
            "{what} {} does not exist: is this the server's configuration?",
            source.display()
        )));
    }
    let partial = manifest::partial_path(&dir.join(name));
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BackupError::io(&partial, e)),
    }
    let version = sqlite_snapshot(source, &partial)
        .map_err(|message| BackupError::Database { what, message })?;
    let file = std::fs::File::open(&partial).map_err(|e| BackupError::io(&partial, e))?;
    let (size, sha256) =
        manifest::hash_stream(file, |_| Ok(())).map_err(|e| BackupError::io(&partial, e))?;
    Ok((
        Entry {
            path: name.to_owned(),
            size,
            sha256,
            source_modified_ns: None,
        },
        version,
    ))
}

#[cfg(feature = "sqlite")]
fn sqlite_snapshot(source: &Path, dest: &Path) -> Result<i64, String> {
    fluxer_storage::sqlite::snapshot::snapshot(source, dest)
        .map(|s| s.schema_version)
        .map_err(|e| fluxer_core::error::chain(&e))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_snapshot(_source: &Path, _dest: &Path) -> Result<i64, String> {
    Err("this build has no SQLite (build with the `sqlite` feature)".to_owned())
}

/// Removes the files under `blobs/` and `s3/` the manifest no longer names (gone from the source)
/// and leftovers of an interrupted run.
fn remove_stale(dir: &Path, manifest: &Manifest) -> Result<u64, BackupError> {
    let named: HashSet<&str> = manifest.files.iter().map(|e| e.path.as_str()).collect();
    let mut removed = 0;
    for sub in [BLOBS, S3] {
        for (path, relative) in tree::walk(&dir.join(sub), sub)? {
            if !named.contains(relative.as_str()) {
                std::fs::remove_file(&path).map_err(|e| BackupError::io(&path, e))?;
                removed += u64::from(!relative.ends_with(".partial"));
            }
        }
    }
    Ok(removed)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
