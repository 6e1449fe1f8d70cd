//! The writer thread: it owns the only write connection and commits queued writes in groups.
//!
//! Every write queued while the previous group ran joins the next one (up to [`MAX_GROUP`]): one
//! `BEGIN IMMEDIATE`, a SAVEPOINT per write so a failing write rolls back alone, one `COMMIT`, and only
//! then the answers. Hot pages (a channel's row, the tail of an index) are written to the WAL once per
//! group instead of once per write, which is where the throughput comes from. Answering only after
//! `COMMIT` returns is what makes an acknowledged write durable: with `synchronous=NORMAL` a committed
//! WAL transaction survives a crash of the process (a power loss may take the last few back).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{backend, run_cached};
use crate::access_cache::writes_access_remembered;

thread_local! {
    /// Set by a write on this thread (the writer's) to a table the access cache reads from.
    static ACCESS_WRITTEN: Cell<bool> = const { Cell::new(false) };
    /// The running write's column raises, `(statement, key, value)`: kept only if the write stands.
    static RAISES_STAGED: RefCell<Vec<(&'static str, i64, i64)>> = const { RefCell::new(Vec::new()) };
    /// The raises of the group's writes that succeeded, coalesced: run once each before `COMMIT`.
    static RAISES: RefCell<BTreeMap<(&'static str, i64), i64>> = const { RefCell::new(BTreeMap::new()) };
    /// Set by [`undo_or_abandon`] while an [`Undo::ByItself`] write runs: it backed itself out.
    static UNDONE: Cell<bool> = const { Cell::new(false) };
}

/// Defers an update that only ever raises a column (`sql` takes the row's key as `?1` and the value
/// as `?2`, and keeps the greater of the stored value and `?2`) to the end of the group: every write
/// of the group that raises the same key costs one statement between them. A channel's
/// `last_message_id`, raised by each message stored in it, is the case: under load the group holds
/// many messages of one channel, and its row is rewritten once instead of once per message.
///
/// Only for columns no write of the group reads back (readers see committed state only, so they
/// cannot tell), and only from a write's closure on the writer thread. The raise is dropped if the
/// write calling this fails; a raise that fails fails its whole group, as a failed `COMMIT` does.
pub(super) fn raise_at_commit(sql: &'static str, key: i64, value: i64) {
    RAISES_STAGED.with_borrow_mut(|staged| staged.push((sql, key, value)));
}

/// Records that `sql` is about to run as a write: if it may change what the access cache holds, the
/// group it runs in bumps the access generation once it has committed.
pub(super) fn note_write(sql: &str) {
    // Once a write of the group counts, the rest need not be read.
    if !ACCESS_WRITTEN.get() && writes_access_remembered(sql) {
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

/// How a write keeps its group whole when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undo {
    /// The write runs in a savepoint of its own, rolled back if it fails: for any write.
    Savepoint,
    /// The write leaves nothing behind when it fails, by itself: it fails only on a statement that
    /// changed nothing (SQLite backs a failed `INSERT`, `UPDATE` or `DELETE` out; not an `UPDATE
    /// ... RETURNING` whose rows fail to read, which has run by then), and backs its earlier
    /// statements out with [`undo_or_abandon`] before it returns the error. Spares the savepoint,
    /// whose journal copies every page the write changes before it changes it: for the hottest
    /// writes. A write that breaks this is caught: its group is given up.
    ByItself,
}

/// Wraps `f` into a queued write (in a savepoint) and the receiver of its result.
pub(super) fn job<T, F>(f: F) -> (Command, oneshot::Receiver<PortResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
{
    job_with(Undo::Savepoint, f)
}

/// Wraps `f` into a queued write kept whole as `undo` says, and the receiver of its result.
pub(super) fn job_with<T, F>(undo: Undo, f: F) -> (Command, oneshot::Receiver<PortResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let result = conn.map(|conn| match undo {
            Undo::Savepoint => in_savepoint(conn, f),
            Undo::ByItself => undoing_itself(conn, f),
        });
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

/// Runs `f` (staging its raises) and keeps its raises if it succeeded; a panic is an error.
fn run_staged<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> PortResult<T>,
) -> Result<PortResult<T>, ()> {
    RAISES_STAGED.with_borrow_mut(Vec::clear);
    let result = catch_unwind(AssertUnwindSafe(|| f(conn))).map_err(|_| ());
    let staged = RAISES_STAGED.with_borrow_mut(std::mem::take);
    if matches!(result, Ok(Ok(_))) {
        RAISES.with_borrow_mut(|raises| {
            for (sql, key, value) in staged {
                let highest = raises.entry((sql, key)).or_insert(value);
                *highest = (*highest).max(value);
            }
        });
    }
    result
}

fn panicked() -> StoreError {
    StoreError::backend_of("sqlite", "the write panicked")
}

/// Runs one write in its own savepoint: on error (or panic) only its changes are rolled back.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> PortResult<T>,
) -> PortResult<T> {
    run_cached(conn, "SAVEPOINT op").map_err(backend)?;
    let result = run_staged(conn, f).unwrap_or_else(|()| Err(panicked()));
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

/// Runs one write that undoes itself on error ([`Undo::ByItself`]). A panic leaves no telling what
/// it changed, and neither does an error after a change the write did not back out: the whole
/// group is given up.
fn undoing_itself<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> PortResult<T>,
) -> PortResult<T> {
    let changes = conn.total_changes();
    UNDONE.set(false);
    match run_staged(conn, f) {
        Ok(Err(e)) if conn.total_changes() != changes && !UNDONE.get() => {
            tracing::error!(error = %e, "a write failed after a change it did not back out");
            abandon(conn);
            Err(e)
        }
        Ok(result) => result,
        Err(()) => {
            abandon(conn);
            Err(panicked())
        }
    }
}

/// For an [`Undo::ByItself`] write that failed part way: runs `undo`, which backs out what the
/// write had changed, and if that fails as well, rolls the whole transaction back, so that the
/// group fails whole rather than commit half of the write.
pub(super) fn undo_or_abandon(conn: &Connection, undo: impl FnOnce(&Connection) -> PortResult<()>) {
    UNDONE.set(true);
    // SQLite may have rolled the transaction back itself (I/O, a full disk): nothing to undo.
    if conn.is_autocommit() {
        return;
    }
    if let Err(e) = undo(conn) {
        tracing::error!(error = %e, "could not back a failed write out; giving its group up");
        abandon(conn);
    }
}

/// Rolls the group's transaction back: every write of it fails (the writer sees the connection
/// back in autocommit).
fn abandon(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll a write transaction back");
    }
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

/// Runs the group's deferred raises (see [`raise_at_commit`]), emptying them.
fn run_raises(conn: &Connection) -> rusqlite::Result<()> {
    for ((sql, key), value) in RAISES.with_borrow_mut(std::mem::take) {
        conn.prepare_cached(sql)?.execute([key, value])?;
    }
    Ok(())
}

fn commit_group(conn: &Connection, group: Vec<Job>, counters: &Counters) {
    ACCESS_WRITTEN.set(false);
    RAISES.with_borrow_mut(BTreeMap::clear);
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
        match run_raises(conn).and_then(|()| run_cached(conn, "COMMIT")) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const RAISE: &str = "UPDATE t SET v = MAX(v, ?2) WHERE k = ?1";

    /// A group's raises of one row run once, with the highest value of the writes that succeeded;
    /// a failed write's raise is dropped with the rest of its changes.
    #[test]
    fn raises_run_once_a_key_at_commit_and_only_for_writes_that_stood() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);
             INSERT INTO t VALUES (1, 0), (2, 0);",
        )
        .unwrap();
        let raising = |key: i64, value: i64, fails: bool| {
            job(move |_: &Connection| {
                raise_at_commit(RAISE, key, value);
                if fails {
                    Err(StoreError::backend_of("sqlite", "refused"))
                } else {
                    Ok(())
                }
            })
        };
        let (mut jobs, mut answers) = (Vec::new(), Vec::new());
        for (key, value, fails) in [(1, 5, false), (1, 9, true), (1, 7, false), (2, 3, false)] {
            let (Command::Write(job), answer) = raising(key, value, fails) else {
                unreachable!()
            };
            jobs.push(job);
            answers.push(answer);
        }
        let counters = Counters::default();
        commit_group(&conn, jobs, &counters);

        let outcomes: Vec<bool> = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, [true, false, true, true]);
        let values: Vec<(i64, i64)> = conn
            .prepare("SELECT k, v FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, [(1, 7), (2, 3)]);
        assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
        // Nothing is left over for the next group.
        assert!(RAISES.with_borrow(BTreeMap::is_empty));
    }

    fn insert(c: &Connection, k: i64) -> PortResult<()> {
        c.execute("INSERT INTO t VALUES (?1, 0)", [k])
            .map(drop)
            .map_err(backend)
    }

    /// Runs `writes` as one group on a fresh table; the answers (ok or not) and the keys stored.
    fn run_group(
        writes: Vec<(Command, oneshot::Receiver<PortResult<()>>)>,
    ) -> (Vec<bool>, Vec<i64>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
            .unwrap();
        let (mut jobs, mut answers) = (Vec::new(), Vec::new());
        for (command, answer) in writes {
            let Command::Write(job) = command else {
                unreachable!()
            };
            jobs.push(job);
            answers.push(answer);
        }
        commit_group(&conn, jobs, &Counters::default());
        let outcomes = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap().is_ok())
            .collect();
        let keys = conn
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (outcomes, keys)
    }

    /// A write without a savepoint that fails part way and backs itself out leaves nothing, and
    /// the rest of its group commits; one that cannot back itself out gives the whole group up.
    #[test]
    fn a_write_undoing_itself_leaves_nothing_or_fails_its_group() {
        let half_then_undo = |undo_works: bool| {
            job_with(Undo::ByItself, move |c: &Connection| {
                insert(c, 10)?;
                // Key 1 is taken: this statement fails, and SQLite backs out only it.
                let Err(e) = insert(c, 1) else { unreachable!() };
                undo_or_abandon(c, |c| {
                    let sql = if undo_works {
                        "DELETE FROM t WHERE k = 10"
                    } else {
                        "DELETE FROM no_such_table"
                    };
                    c.execute(sql, []).map(drop).map_err(backend)
                });
                Err(e)
            })
        };
        let plain = |k: i64| job(move |c: &Connection| insert(c, k));
        let (outcomes, keys) = run_group(vec![plain(1), half_then_undo(true), plain(2)]);
        assert_eq!(outcomes, [true, false, true]);
        assert_eq!(keys, [1, 2]);

        let (outcomes, keys) = run_group(vec![plain(1), half_then_undo(false), plain(2)]);
        assert_eq!(outcomes, [false, false, false]);
        assert!(keys.is_empty(), "{keys:?}");
    }

    /// Nobody knows what a write without a savepoint changed when it panics, or fails after a
    /// change it did not back out: its group is given up.
    #[test]
    fn a_write_undoing_itself_that_panics_or_leaves_a_change_fails_its_group() {
        let plain = |k: i64| job(move |c: &Connection| insert(c, k));
        let panicking = job_with(Undo::ByItself, |c: &Connection| {
            insert(c, 10)?;
            panic!("a bug in a write");
        });
        let (outcomes, keys) = run_group(vec![plain(1), panicking, plain(2)]);
        assert_eq!(outcomes, [false, false, false]);
        assert!(keys.is_empty(), "{keys:?}");

        let leaving_a_change = job_with(Undo::ByItself, |c: &Connection| {
            insert(c, 10)?;
            insert(c, 1)
        });
        let (outcomes, keys) = run_group(vec![plain(1), leaving_a_change, plain(2)]);
        assert_eq!(outcomes, [false, false, false]);
        assert!(keys.is_empty(), "{keys:?}");

        // A write that fails on its first statement changed nothing: the rest commit.
        let failing_first = job_with(Undo::ByItself, |c: &Connection| insert(c, 1));
        let (outcomes, keys) = run_group(vec![plain(1), failing_first, plain(2)]);
        assert_eq!(outcomes, [true, false, true]);
        assert_eq!(keys, [1, 2]);
    }
}
