//! Consistent copies of a live SQLite database, for backups.
//!
//! `VACUUM INTO` reads the whole database inside one read transaction and writes it, compacted, to a
//! new file: the copy is the database as of that transaction's start, while the server keeps writing
//! (WAL readers do not block the writer, nor the writer them). A passive checkpoint first moves what
//! it can of the WAL into the main file, so the read does not have to walk a long WAL.

use std::path::Path;

use fluxer_core::ports::PortResult;
use rusqlite::{Connection, OpenFlags};

use super::backend;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The copy's `PRAGMA user_version`: its schema version for a store database.
    pub schema_version: i64,
}

/// The schema version this build's [`SqliteStore`](super::SqliteStore) writes; a database with a
/// higher one comes from a newer build and is refused.
pub const SCHEMA_VERSION: i64 = super::schema::VERSION;

/// Copies the database at `source` (which must exist; another process may be writing it) into the
/// new file `dest` (which must not exist), consistent as of one instant, and checks the copy.
/// Blocking: run it on a blocking thread.
pub fn snapshot(source: &Path, dest: &Path) -> PortResult<Snapshot> {
    // Read-write without create: the checkpoint needs write access, and a mistyped path must not
    // leave an empty database behind.
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.pragma_update(None, "busy_timeout", 5000)
        .map_err(backend)?;
    // Best effort: a busy checkpoint only means a longer read below.
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    let target = dest
        .to_str()
        .ok_or_else(|| backend(format!("not a UTF-8 path: {}", dest.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(backend)?;
    drop(conn);
    check(dest)
}

/// Makes a fresh copy a file of its own (rollback journal, no `-wal` beside it: the server turns
/// WAL back on when it opens it), checks its structure and reads its schema version.
fn check(path: &Path) -> PortResult<Snapshot> {
    let copy = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    let _: String = copy
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(backend)?;
    let verdict: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(backend)?;
    if verdict != "ok" {
        return Err(backend(format!("the copy fails its check: {verdict}")));
    }
    let schema_version = copy
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    Ok(Snapshot { schema_version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxer_core::id::UserId;
    use fluxer_core::model::User;
    use fluxer_core::ports::UserRepository;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_snapshot_of_a_live_store_has_its_committed_rows() {
        let store = super::super::SqliteStore::open_temp().unwrap();
        let mut alice = User::new(UserId::new(1), "alice".into(), None);
        alice.discriminator = 1;
        store.create_user(&alice).await.unwrap();
        let dest = store.path().with_file_name("copy.db");
        let source = store.path().to_owned();
        let copy = {
            let dest = dest.clone();
            tokio::task::spawn_blocking(move || snapshot(&source, &dest))
                .await
                .unwrap()
                .unwrap()
        };
        assert_eq!(copy.schema_version, SCHEMA_VERSION);
        // The store still writes while the copy exists; the copy has what was committed before.
        let mut bob = User::new(UserId::new(2), "bob".into(), None);
        bob.discriminator = 1;
        store.create_user(&bob).await.unwrap();
        let reopened = super::super::SqliteStore::open(&dest).unwrap();
        assert!(reopened.get_user(UserId::new(1)).await.unwrap().is_some());
        assert!(reopened.get_user(UserId::new(2)).await.unwrap().is_none());
        reopened.close().await;
        store.close().await;
    }

    #[test]
    fn a_missing_source_is_an_error_and_creates_nothing() {
        let dir = std::env::temp_dir().join(format!("fluxer-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.db");
        assert!(snapshot(&missing, &dir.join("copy.db")).is_err());
        assert!(!missing.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
