//! The SQLite storage backend: the embedded default.
//!
//! - Every connection runs with `journal_mode=WAL`, `synchronous=NORMAL` (a committed transaction
//!   survives a crash of the process), `cache_size=-64000` and `busy_timeout=5000`. There are no foreign
//!   keys: the cascades of the storage contract are explicit in the writes that need them.
//! - One writer thread owns the only write connection and commits in groups (see `writer`): every
//!   write queued while the previous group ran shares the next transaction, each inside its own
//!   SAVEPOINT so a failing write rolls back alone. A write is answered only after its group commits.
//!   Multi-statement writes (a guild with its roles and channels, cascading deletes, an invite's
//!   check-and-count) are one write each, hence atomic.
//! - The write queue is bounded: when it is full, writers wait for room (backpressure) rather than
//!   piling up memory.
//! - Reads run on a small pool of read-only connections on tokio's blocking pool; when every
//!   connection is busy, readers wait (asynchronously) for one. Lookups by key (a session, a user, a
//!   channel, a member, a guild's roles) run on the calling task's thread when a connection is free:
//!   they take less time than the hop to the blocking pool.
//! - What authorizing a request reads (a session with its user, a member's standing in a guild or a
//!   channel) is answered from memory after the first read, until the writer commits a change to one of
//!   the tables behind it (see `crate::access_cache`): exact, for a database this process alone changes.
//! - Entities are stored as JSON next to the columns that are indexed, ordered or unique; a channel's
//!   `last_message_id` is a column of its own, so storing a message does not rewrite its channel.
//!
//! ```
//! use fluxer_core::id::UserId;
//! use fluxer_core::model::User;
//! use fluxer_core::ports::{UserRepository, conflict, is_conflict};
//! use fluxer_storage::sqlite::SqliteStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = SqliteStore::open_temp()?;
//! let mut alice = User::new(UserId::new(1), "alice".into(), Some("alice@example.com".into()));
//! alice.discriminator = 1;
//! store.create_user(&alice).await?;
//!
//! let found = store.find_user_by_tag("Alice", 1).await?;
//! assert_eq!(found.map(|u| u.id), Some(alice.id));
//!
//! let mut twin = User::new(UserId::new(2), "bob".into(), alice.email.clone());
//! twin.discriminator = 1;
//! let taken = store.create_user(&twin).await.unwrap_err();
//! assert!(is_conflict(&taken, conflict::USER_EMAIL));
//!
//! store.close().await;
//! # Ok(())
//! # })
//! # }
//! ```

mod queue;
mod repos;
mod schema;
pub mod snapshot;
mod writer;

pub use queue::SqliteQueue;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, oneshot};
use writer::Undo;

/// How to open a [`SqliteStore`]; deserializable from the host's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file; missing parent directories are created.
    pub path: PathBuf,
    /// Read connections in the pool: at most this many reads run at once, the others wait.
    #[serde(default = "SqliteConfig::default_readers")]
    pub readers: usize,
    /// Writes that may wait for the writer thread; beyond that, writers wait for room.
    #[serde(default = "SqliteConfig::default_write_queue")]
    pub write_queue: usize,
}

impl SqliteConfig {
    /// The defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> SqliteConfig {
        SqliteConfig {
            path: path.into(),
            readers: Self::default_readers(),
            write_queue: Self::default_write_queue(),
        }
    }

    fn default_readers() -> usize {
        4
    }

    fn default_write_queue() -> usize {
        4096
    }
}

struct Inner {
    path: PathBuf,
    /// `None` once the store is closed.
    writer: Mutex<Option<mpsc::Sender<writer::Command>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    idle_readers: Mutex<Vec<Connection>>,
    /// One permit per pooled read connection.
    read_permits: Arc<Semaphore>,
    counters: Arc<writer::Counters>,
    access: crate::access_cache::AccessCache,
    /// Set for [`SqliteStore::open_temp`]: the directory removed when the store goes away.
    temp_dir: Option<PathBuf>,
}

/// Every repository on one SQLite database file. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// The pragmas every connection runs with.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -64000)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // The repositories use a few dozen distinct statements; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    keep_plans(conn)?;
    Ok(())
}

/// One plan per statement, whatever its parameters: without this, SQLite plans a statement whose
/// `LIMIT ?` (or another parameter the planner looks at) is bound anew again on every run, and
/// rusqlite clears the bindings of every cached statement it takes back, so such statements (a
/// history page, the outbox's claim) were compiled again each time. The plans do not depend on the
/// values: no `LIKE` takes a bound pattern, the partial indexes are `IS NOT NULL` ones, and no table
/// is `ANALYZE`d (the bundled SQLite has STAT4 compiled in: were `ANALYZE` ever run, this would
/// keep its per-value statistics from the planner).
pub(crate) fn keep_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

fn open_reader(path: &Path) -> PortResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    configure(&conn).map_err(backend)?;
    Ok(conn)
}

/// Runs a cached statement that takes no parameters and returns no row (`BEGIN`, `COMMIT`, ...):
/// prepared once per connection instead of parsed on every use.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

pub(crate) fn backend(e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_of("sqlite", e)
}

fn closed() -> StoreError {
    StoreError::backend_of("sqlite", "the store is closed")
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with the default settings and applies
    /// pending migrations. This blocks while it migrates: call it at startup or from a blocking task.
    pub fn open(path: impl AsRef<Path>) -> PortResult<SqliteStore> {
        Self::open_with(&SqliteConfig::new(path.as_ref()))
    }

    /// Opens the database `config` describes; see [`open`](Self::open).
    pub fn open_with(config: &SqliteConfig) -> PortResult<SqliteStore> {
        Self::open_inner(config, None)
    }

    /// A store on a fresh file in a new directory under the system's temp dir, for tests. The
    /// directory is removed when the last clone of the store is dropped.
    pub fn open_temp() -> PortResult<SqliteStore> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("fluxer-sqlite-{}-{nanos}-{n}", std::process::id()));
        let opened = Self::open_inner(&SqliteConfig::new(dir.join("fluxer.db")), Some(dir.clone()));
        if opened.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        opened
    }

    fn open_inner(config: &SqliteConfig, temp_dir: Option<PathBuf>) -> PortResult<SqliteStore> {
        let path = config.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let mut conn = Connection::open(&path).map_err(backend)?;
        configure(&conn).map_err(backend)?;
        schema::migrate(&mut conn).map_err(backend)?;
        // Readers open after the migrations, on a file that is in WAL mode and has its schema.
        let readers = config.readers.max(1);
        let idle_readers = (0..readers)
            .map(|_| open_reader(&path))
            .collect::<PortResult<Vec<_>>>()?;
        let (tx, rx) = mpsc::channel(config.write_queue.max(1));
        let counters = Arc::new(writer::Counters::default());
        let access = crate::access_cache::AccessCache::new(counters.access_generation.clone());
        let thread_counters = counters.clone();
        let handle = std::thread::Builder::new()
            .name("fluxer-sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, thread_counters))
            .map_err(backend)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(handle)),
                idle_readers: Mutex::new(idle_readers),
                read_permits: Arc::new(Semaphore::new(readers)),
                counters,
                access,
                temp_dir,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many transactions the writer has committed; each holds one or more writes.
    pub fn commit_count(&self) -> u64 {
        self.inner.counters.commits.load(Ordering::Relaxed)
    }

    /// Runs every write already queued, then stops the writer and closes its connection. Later writes
    /// fail; reads keep working.
    pub async fn close(&self) {
        let sender = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = sender {
            let (done_tx, done_rx) = oneshot::channel();
            if tx.send(writer::Command::Close(done_tx)).await.is_ok() {
                let _ = done_rx.await;
            }
        }
        let handle = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Runs `f` as one write of the writer's next group and resolves once that group has committed.
    ///
    /// A write whose caller stops waiting (its future dropped) still runs.
    pub(crate) async fn write<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        self.write_with(Undo::Savepoint, f).await
    }

    /// [`write`](Self::write) for a write that leaves nothing behind when it fails, without a
    /// savepoint: see [`Undo::ByItself`].
    pub(crate) async fn write_undoing_itself<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        self.write_with(Undo::ByItself, f).await
    }

    async fn write_with<T, F>(&self, undo: Undo, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        match fluxer_core::telemetry::recorder() {
            None => self.write_untimed(undo, f).await,
            Some(recorder) => {
                timed(recorder, operation_name::<F>(), self.write_untimed(undo, f)).await
            }
        }
    }

    async fn write_untimed<T, F>(&self, undo: Undo, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let sender = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed)?;
        let (command, answer) = writer::job_with(undo, f);
        sender.send(command).await.map_err(|_| closed())?;
        answer.await.map_err(|_| {
            StoreError::backend_of("sqlite", "the writer stopped before answering a write")
        })?
    }

    /// Runs a short read (a lookup by key, a handful of rows) on the calling thread when a pooled
    /// connection is free at once, as [`read`](Self::read) otherwise. On pages already in SQLite's
    /// cache such a lookup takes a few microseconds, less than the hop to the blocking pool and back
    /// that `read` pays; a request that authenticates, checks access and hydrates makes about ten.
    pub(crate) async fn lookup<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let recorder = fluxer_core::telemetry::recorder();
        let Ok(_permit) = self.inner.read_permits.clone().try_acquire_owned() else {
            return match recorder {
                None => self.read_untimed(f).await,
                Some(recorder) => {
                    timed(recorder, operation_name::<F>(), self.read_untimed(f)).await
                }
            };
        };
        match recorder {
            None => self.inner.with_reader(f),
            Some(recorder) => {
                let operation = operation_name::<F>();
                let started = std::time::Instant::now();
                let result = db_span(operation).in_scope(|| self.inner.with_reader(f));
                recorder.db_operation("sqlite", operation, started.elapsed());
                result
            }
        }
    }

    /// Runs `f` on a pooled read connection on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        match fluxer_core::telemetry::recorder() {
            None => self.read_untimed(f).await,
            Some(recorder) => timed(recorder, operation_name::<F>(), self.read_untimed(f)).await,
        }
    }

    async fn read_untimed<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let permit = self
            .inner
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.with_reader(f)
        })
        .await
        .map_err(|e| StoreError::backend_of("sqlite", format!("a read failed: {e}")))?
    }
}

/// Runs a database operation in a client span and measures it (queueing for a connection or the
/// writer included: that wait is part of what the caller pays).
async fn timed<T>(
    recorder: &dyn fluxer_core::telemetry::Recorder,
    operation: &'static str,
    work: impl Future<Output = T>,
) -> T {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let result = work.instrument(db_span(operation)).await;
    recorder.db_operation("sqlite", operation, started.elapsed());
    result
}

fn db_span(operation: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "db",
        otel.name = operation,
        otel.kind = "client",
        db.system.name = "sqlite",
        db.operation.name = operation,
    )
}

/// The repository method a database closure belongs to (`create_message`), read from the closure's
/// type name (`...::create_message<'_>::{{closure}}::{{closure}}`): every call site names its operation
/// without a string to keep in step. `query` when the name has no such shape.
fn operation_name<F>() -> &'static str {
    method_of(std::any::type_name::<F>())
}

fn method_of(name: &str) -> &str {
    let Some(end) = name.find("::{{closure}}") else {
        return "query";
    };
    let path = &name[..end];
    let method = path.rfind("::").map_or(path, |at| &path[at + 2..]);
    // Without its lifetimes (`list_members<'_, '_>`).
    method.split('<').next().unwrap_or(method)
}

impl Inner {
    /// Runs `f` on an idle pooled read connection; the caller holds a read permit.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> PortResult<T>) -> PortResult<T> {
        let pooled = self
            .idle_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        // A permit guarantees an idle connection, unless a read panicked and took its connection
        // down with it: then open a replacement.
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        self.idle_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the last sender lets the writer finish its queue and close its connection by itself.
        self.writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(dir) = self.temp_dir.take() else {
            return;
        };
        // A temp store removes its files, once nothing has them open.
        let thread = self
            .writer_thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.idle_readers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests;
