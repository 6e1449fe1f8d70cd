//! The writer thread: it owns the only write connection and commits queued writes in groups.
//!
//! Every write queued while the previous group ran joins the next one (up to [`MAX_GROUP`]): one
//! `BEGIN IMMEDIATE`, a SAVEPOINT per write so a failing write rolls back alone, one `COMMIT`, and only
//! then the answers. Hot pages (a channel's row, the tail of an index) are written to the WAL once per
//! group instead of once per write, which is where the throughput comes from. Answering only after
//! `COMMIT` returns is what makes an acknowledged write durable: with `synchronous=NORMAL` a committed
//! WAL transaction survives a crash of the process (a power loss may take the last few back).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{backend, run_cached};
use crate::access_cache::writes_access;

thread_local! {
    /// Set by a write on this thread (the writer's) to a table the access cache reads from.
    static ACCESS_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Records that `sql` is about to run as a write: if it may change what the access cache holds, the
/// group it runs in bumps the access generation once it has committed.
pub(super) fn note_write(sql: &str) {
    if writes_access(sql) {
        ACCESS_WRITTEN.set(true);
    }
}

/// Writes gathered into one transaction at most.
pub(super) const MAX_GROUP: usize = 512;

/// What the group a write ran in came to: committed, or why nothing of it was stored.
type GroupOutcome<'a> = Result<(), &'a str>;
/// Answers a write's caller once its group's fate is known.
type Completion = Box<dyn FnOnce(GroupOutcome<'_>) + Send>;
/// Runs one write inside the group's transaction (`None`: the group failed before the write ran).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

pub(super) enum Command {
    Write(Job),
    /// Run what is queued, refuse what comes later, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// Wraps `f` into a queued write and the receiver of its result.
pub(super) fn job<T, F>(f: F) -> (Command, oneshot::Receiver<PortResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let result = conn.map(|conn| in_savepoint(conn, f));
        Box::new(move |group: GroupOutcome<'_>| {
            let outcome = match (result, group) {
                // The write's own failure says more than the group's.
                (Some(Err(e)), _) => Err(e),
                (Some(Ok(v)), Ok(())) => Ok(v),
                (_, Err(why)) => Err(StoreError::backend_of("sqlite", why.to_owned())),
                (None, Ok(())) => Err(StoreError::backend_of("sqlite", "the write did not run")),
            };
            // The caller may have stopped waiting; the write stands either way.
            let _ = tx.send(outcome);
        })
    });
    (Command::Write(job), rx)
}

/// Runs one write in its own savepoint: on error (or panic) only its changes are rolled back.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> PortResult<T>,
) -> PortResult<T> {
    run_cached(conn, "SAVEPOINT op").map_err(backend)?;
    let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::backend_of("sqlite", "the write panicked")));
    let end = if result.is_ok() {
        run_cached(conn, "RELEASE op")
    } else {
        run_cached(conn, "ROLLBACK TO op").and_then(|()| run_cached(conn, "RELEASE op"))
    };
    if let Err(e) = end {
        // We no longer know what this write left behind: give up the whole group rather than commit
        // half of it (the writer sees the connection back in autocommit and fails every write).
        let _ = conn.execute_batch("ROLLBACK");
        return Err(backend(e));
    }
    result
}

/// What the writer thread reports as it goes.
#[derive(Default)]
pub(super) struct Counters {
    /// Transactions committed; each holds one or more writes.
    pub(super) commits: AtomicU64,
    /// Bumped after each group that wrote a table the access cache reads from, before its writes are
    /// answered (see `access_cache`).
    pub(super) access_generation: Arc<AtomicU64>,
}

/// The writer thread's body: runs until every sender is gone or a `Close` arrives, and the queue is empty.
pub(super) fn run(conn: Connection, mut rx: mpsc::Receiver<Command>, counters: Arc<Counters>) {
    let mut queued = Vec::with_capacity(MAX_GROUP);
    let mut closers = Vec::new();
    while rx.blocking_recv_many(&mut queued, MAX_GROUP) > 0 {
        let mut group = Vec::with_capacity(queued.len());
        for command in queued.drain(..) {
            match command {
                Command::Write(job) => group.push(job),
                Command::Close(done) => {
                    // Later sends fail; what is already queued still runs.
                    rx.close();
                    closers.push(done);
                }
            }
        }
        if !group.is_empty() {
            commit_group(&conn, group, &counters);
        }
    }
    // The last writer is done: move the WAL into the database file and empty it, so a stopped
    // server leaves one self-contained file (a copy of it alone is whole). Closing the connection
    // would do it only if it were the last one, and the store's readers may outlive it.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "could not checkpoint the WAL on close");
    }
    drop(conn);
    for done in closers {
        let _ = done.send(());
    }
}

fn commit_group(conn: &Connection, group: Vec<Job>, counters: &Counters) {
    ACCESS_WRITTEN.set(false);
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        let why = format!("could not begin a write transaction: {e}");
        for job in group {
            job(None)(Err(&why));
        }
        return;
    }
    let mut completions = Vec::with_capacity(group.len());
    let mut lost = false;
    for job in group {
        if lost {
            completions.push(job(None));
            continue;
        }
        completions.push(job(Some(conn)));
        // SQLite rolls the whole transaction back by itself on some errors (I/O, disk full, ...), and
        // later statements would then run in autocommit: nothing before this point is stored any more.
        lost = conn.is_autocommit();
    }
    let outcome = if lost {
        tracing::error!("SQLite rolled back a write transaction");
        Err("the write transaction was rolled back".to_owned())
    } else {
        match run_cached(conn, "COMMIT") {
            Ok(()) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "could not commit a write transaction");
                let _ = conn.execute_batch("ROLLBACK");
                Err(format!("commit failed: {e}"))
            }
        }
    };
    // Whether or not the group committed (a rolled-back group changed nothing; bumping costs a miss).
    if ACCESS_WRITTEN.replace(false) {
        counters.access_generation.fetch_add(1, Ordering::AcqRel);
    }
    for complete in completions {
        complete(outcome.as_ref().map(|_| ()).map_err(String::as_str));
    }
}
