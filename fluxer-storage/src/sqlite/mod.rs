//! The SQLite storage backend: the embedded default.
//!
//! - WAL journal, `synchronous=NORMAL` (a committed transaction survives a process crash),
//!   `cache_size=-64000`, `busy_timeout=5000`.
//! - One writer thread owns the only write connection and commits in groups: every write queued while
//!   the previous transaction ran shares the next one, each inside its own SAVEPOINT so a failing write
//!   rolls back alone. A write is acknowledged only after its transaction commits.
//! - Reads run on a small pool of read-only connections on tokio's blocking pool.
//! - Entities are stored as JSON next to the columns that are indexed, ordered or unique.

mod repos;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

/// Writes gathered into one transaction at most.
const MAX_BATCH: usize = 512;

type Completion = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs one write inside the group's transaction (`None`: the transaction could not start).
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

enum Command {
    Write(WriteJob),
    Close(oneshot::Sender<()>),
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Command>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    commits: Arc<AtomicU64>,
}

/// Every repository on one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -64000)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> PortResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let mut writer = Connection::open(&path).map_err(backend)?;
        configure(&writer).map_err(backend)?;
        schema::migrate(&mut writer).map_err(backend)?;
        let readers = (0..4)
            .map(|_| {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.pragma_update(None, "cache_size", -16000)?;
                c.pragma_update(None, "busy_timeout", 5000)?;
                Ok(c)
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let thread_commits = commits.clone();
        let handle = std::thread::Builder::new()
            .name("fluxer-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, thread_commits))
            .map_err(backend)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(handle)),
                readers: Mutex::new(readers),
                commits,
            }),
        })
    }

    /// A store on a fresh file in the system's temp dir (for tests); the file is left behind.
    pub fn open_temp() -> PortResult<SqliteStore> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("fluxer-sqlite-{}-{nanos}-{n}", std::process::id()));
        Self::open(dir.join("fluxer.db"))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many transactions the writer has committed (each may hold many writes).
    pub fn commit_count(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Finishes every queued write and stops the writer. Later writes fail.
    pub async fn close(&self) {
        let sender = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = sender {
            let (done_tx, done_rx) = oneshot::channel();
            if tx.send(Command::Close(done_tx)).is_ok() {
                let _ = done_rx.await;
            }
        }
        let handle = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Runs `f` in the writer's next transaction and resolves after it commits.
    pub(crate) async fn write<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<PortResult<T>>();
        let job: WriteJob = Box::new(move |conn: Option<&Connection>| {
            let result = match conn {
                None => Err(StoreError::Backend(
                    "could not start a write transaction".into(),
                )),
                Some(conn) => in_savepoint(conn, f),
            };
            Box::new(move |commit_error: Option<&str>| {
                let outcome = match (result, commit_error) {
                    (Ok(v), None) => Ok(v),
                    (Ok(_), Some(e)) => Err(StoreError::Backend(format!("commit failed: {e}"))),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(outcome);
            })
        });
        {
            let guard = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            let sender = guard
                .as_ref()
                .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
            sender
                .send(Command::Write(job))
                .map_err(|_| StoreError::Backend("writer thread is gone".into()))?;
        }
        rx.await
            .map_err(|_| StoreError::Backend("writer dropped the write".into()))?
    }

    /// Runs `f` on a read connection on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let conn = match conn {
                Some(c) => c,
                // Pool exhausted: a short-lived extra connection.
                None => {
                    let c = Connection::open_with_flags(
                        &inner.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .map_err(backend)?;
                    c.pragma_update(None, "busy_timeout", 5000)
                        .map_err(backend)?;
                    c
                }
            };
            let result = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 8 {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

/// Runs one write in its own savepoint: on error only its changes are rolled back.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> PortResult<T>,
) -> PortResult<T> {
    conn.execute_batch("SAVEPOINT op").map_err(backend)?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE op"
    } else {
        "ROLLBACK TO op; RELEASE op"
    };
    conn.execute_batch(end).map_err(backend)?;
    result
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Command>, commits: Arc<AtomicU64>) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut jobs = Vec::new();
        match first {
            Command::Write(j) => jobs.push(j),
            Command::Close(done) => closing = Some(done),
        }
        while closing.is_none() && jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Command::Write(j)) => jobs.push(j),
                Ok(Command::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "could not begin a write transaction");
            for job in jobs {
                job(None)(None);
            }
            continue;
        }
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(Some(&conn))).collect();
        let commit_error = conn.execute_batch("COMMIT").err().map(|e| e.to_string());
        if commit_error.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        } else {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for complete in completions {
            complete(commit_error.as_deref());
        }
    }
    drop(conn);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}
