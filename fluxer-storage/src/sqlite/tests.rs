//! The writer's guarantees, made deterministic by holding the writer thread busy while writes queue up
//! behind it: they then form exactly one group.

use std::time::Duration;

use fluxer_core::id::UserId;
use fluxer_core::model::User;
use fluxer_core::ports::{UserRepository, conflict, is_conflict};

use super::*;

fn user(n: u64) -> User {
    let mut u = User::new(
        UserId::new(n),
        format!("user{n}"),
        Some(format!("user{n}@example.com")),
    );
    u.discriminator = 1;
    u
}

/// Occupies the writer thread until the returned sender is used or dropped.
async fn hold_writer(store: &SqliteStore) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = oneshot::channel();
    let s = store.clone();
    tokio::spawn(async move {
        s.write(move |_| {
            let _ = started_tx.send(());
            let _ = released.recv();
            Ok(())
        })
        .await
    });
    started.await.unwrap();
    release
}

/// Waits until `n` writes wait in the writer's queue.
async fn until_queued(store: &SqliteStore, n: usize) {
    for _ in 0..10_000 {
        let queued = store
            .inner
            .writer
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        if queued >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{n} writes never queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_behind_a_busy_writer_share_one_transaction() {
    let store = SqliteStore::open_temp().unwrap();
    let release = hold_writer(&store).await;
    let before = store.commit_count();
    let tasks: Vec<_> = (1..=200)
        .map(|n| {
            let s = store.clone();
            tokio::spawn(async move { s.create_user(&user(n)).await })
        })
        .collect();
    until_queued(&store, 200).await;
    drop(release);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // The held write's group, then one group for the 200.
    assert_eq!(store.commit_count() - before, 2);
    assert_eq!(
        store
            .get_users(&[UserId::new(1), UserId::new(200)])
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_panicking_write_rolls_back_alone() {
    let store = SqliteStore::open_temp().unwrap();
    store.create_user(&user(1)).await.unwrap();
    let release = hold_writer(&store).await;
    let s = store.clone();
    let first = tokio::spawn(async move { s.create_user(&user(2)).await });
    until_queued(&store, 1).await;
    let s = store.clone();
    let panicking = tokio::spawn(async move {
        s.write(|c| -> PortResult<()> {
            super::repos::execute(c, "DELETE FROM users", [])?;
            panic!("a bug in a write");
        })
        .await
    });
    until_queued(&store, 2).await;
    let mut twin = user(3);
    twin.email = user(1).email;
    let s = store.clone();
    let conflicting = tokio::spawn(async move { s.create_user(&twin).await });
    until_queued(&store, 3).await;
    let s = store.clone();
    let last = tokio::spawn(async move { s.create_user(&user(4)).await });
    until_queued(&store, 4).await;
    drop(release);

    first.await.unwrap().unwrap();
    assert!(matches!(
        panicking.await.unwrap(),
        Err(StoreError::Backend { .. })
    ));
    let conflict = conflicting.await.unwrap().unwrap_err();
    assert!(is_conflict(&conflict, conflict::USER_EMAIL), "{conflict:?}");
    last.await.unwrap().unwrap();
    for (n, stored) in [(1, true), (2, true), (3, false), (4, true)] {
        assert_eq!(
            store.get_user(UserId::new(n)).await.unwrap().is_some(),
            stored,
            "user {n}"
        );
    }
    // The writer thread survived the panic.
    store.create_user(&user(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_transaction_is_lost_acknowledges_nothing() {
    let store = SqliteStore::open_temp().unwrap();
    let release = hold_writer(&store).await;
    let s = store.clone();
    let innocent = tokio::spawn(async move { s.create_user(&user(1)).await });
    until_queued(&store, 1).await;
    // What SQLite does by itself on an I/O error or a full disk: roll back the whole transaction.
    let s = store.clone();
    let culprit = tokio::spawn(async move {
        s.write(|c| c.execute_batch("ROLLBACK").map_err(backend))
            .await
    });
    until_queued(&store, 2).await;
    let s = store.clone();
    let after = tokio::spawn(async move { s.create_user(&user(2)).await });
    until_queued(&store, 3).await;
    drop(release);

    assert!(
        innocent.await.unwrap().is_err(),
        "its write was rolled back"
    );
    assert!(culprit.await.unwrap().is_err());
    assert!(after.await.unwrap().is_err());
    assert!(store.get_user(UserId::new(1)).await.unwrap().is_none());
    assert!(store.get_user(UserId::new(2)).await.unwrap().is_none());
    // The next group starts afresh.
    store.create_user(&user(3)).await.unwrap();
    assert!(store.get_user(UserId::new(3)).await.unwrap().is_some());
}

#[tokio::test]
async fn close_runs_queued_writes_then_refuses_new_ones() {
    let store = SqliteStore::open_temp().unwrap();
    let release = hold_writer(&store).await;
    let s = store.clone();
    let queued = tokio::spawn(async move { s.create_user(&user(1)).await });
    until_queued(&store, 1).await;
    let s = store.clone();
    let closing = tokio::spawn(async move { s.close().await });
    drop(release);
    closing.await.unwrap();
    queued.await.unwrap().unwrap();
    assert!(store.create_user(&user(2)).await.is_err());
    // Reads keep working on a closed store.
    assert!(store.get_user(UserId::new(1)).await.unwrap().is_some());
}

#[tokio::test]
async fn close_empties_the_wal_into_the_database_file() {
    let store = SqliteStore::open_temp().unwrap();
    for id in 1..=20 {
        store.create_user(&user(id)).await.unwrap();
    }
    let wal = store.path().with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "writes went to the WAL"
    );
    store.close().await;
    // The readers still hold the file open, so the WAL stays, empty.
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    assert!(store.get_user(UserId::new(20)).await.unwrap().is_some());
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors() {
    let store = SqliteStore::open_temp().unwrap();
    store.create_user(&user(1)).await.unwrap();
    store
        .write(|c| super::repos::execute(c, "UPDATE users SET data = '{not json'", []))
        .await
        .unwrap();
    assert!(matches!(
        store.get_user(UserId::new(1)).await,
        Err(StoreError::Backend { .. })
    ));
}

#[tokio::test]
async fn only_unique_violations_are_conflicts() {
    let store = SqliteStore::open_temp().unwrap();
    let not_null = store
        .write(|c| {
            super::repos::execute(
                c,
                "INSERT INTO members (guild_id, user_id, data) VALUES (1, 1, NULL)",
                [],
            )
        })
        .await;
    assert!(
        matches!(not_null, Err(StoreError::Backend { .. })),
        "{not_null:?}"
    );
}

#[tokio::test]
async fn every_connection_runs_with_the_pragmas() {
    let store = SqliteStore::open_temp().unwrap();
    let pragmas = |c: &Connection| -> rusqlite::Result<(String, i64, i64, i64)> {
        Ok((
            c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
            c.pragma_query_value(None, "synchronous", |r| r.get(0))?,
            c.pragma_query_value(None, "cache_size", |r| r.get(0))?,
            c.pragma_query_value(None, "busy_timeout", |r| r.get(0))?,
        ))
    };
    let expected = ("wal".to_owned(), 1, -64000, 5000);
    let read = store
        .read(move |c| pragmas(c).map_err(backend))
        .await
        .unwrap();
    assert_eq!(read, expected);
    let written = store
        .write(move |c| pragmas(c).map_err(backend))
        .await
        .unwrap();
    assert_eq!(written, expected);
}

#[tokio::test]
async fn a_message_whose_follow_ups_cannot_be_written_is_not_stored() {
    use fluxer_core::ports::{FollowupKind, MessageRepository};
    use fluxer_core::testing::fixtures::Fixtures;

    let store = SqliteStore::open_temp().unwrap();
    let f = Fixtures::new();
    let author = f.make_user();
    let guild = f.make_guild(author.id);
    let mut message = f.make_message(guild.channel(), author.id);
    // The same kind twice: the second follow-up row collides with the first, after the message's
    // own row is written, in a write that runs without a savepoint.
    let refused = store
        .insert_message_with(&message, &[FollowupKind::Index, FollowupKind::Index])
        .await;
    assert!(refused.is_err());
    let (channel, id) = (message.channel_id, message.id);
    assert!(store.get_message(channel, id).await.unwrap().is_none());
    let rows: i64 = store
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM message_followups", [], |r| r.get(0))
                .map_err(backend)
        })
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // The same message stores whole afterwards.
    message.content = "again".into();
    store
        .insert_message_with(&message, &[FollowupKind::Index, FollowupKind::Push])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_message(channel, id)
            .await
            .unwrap()
            .unwrap()
            .content,
        "again"
    );
}

#[tokio::test]
async fn a_cached_statement_with_a_bound_limit_is_compiled_once() {
    let store = SqliteStore::open_temp().unwrap();
    let reprepares = |c: &Connection| -> rusqlite::Result<i32> {
        let sql = "SELECT id FROM users WHERE id > ?1 ORDER BY id LIMIT ?2";
        for limit in 1..=5 {
            let mut stmt = c.prepare_cached(sql)?;
            let mut rows = stmt.query(rusqlite::params![limit, limit])?;
            while rows.next()?.is_some() {}
        }
        let stmt = c.prepare_cached(sql)?;
        Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
    };
    let read = store
        .read(move |c| reprepares(c).map_err(backend))
        .await
        .unwrap();
    assert_eq!(read, 0, "a reader compiled the statement again");
    let written = store
        .write(move |c| reprepares(c).map_err(backend))
        .await
        .unwrap();
    assert_eq!(written, 0, "the writer compiled the statement again");
}

#[tokio::test]
async fn a_temp_store_removes_its_files() {
    let store = SqliteStore::open_temp().unwrap();
    store.create_user(&user(1)).await.unwrap();
    let dir = store.path().parent().unwrap().to_path_buf();
    assert!(dir.join("fluxer.db").exists());
    let clone = store.clone();
    drop(store);
    assert!(dir.exists(), "a clone still uses it");
    drop(clone);
    assert!(!dir.exists());
}

#[tokio::test]
async fn reopening_keeps_the_data_and_the_schema_version() {
    let store = SqliteStore::open_temp().unwrap();
    store.create_user(&user(1)).await.unwrap();
    store.close().await;
    let again = SqliteStore::open(store.path()).unwrap();
    assert!(again.get_user(UserId::new(1)).await.unwrap().is_some());
    let version = again
        .read(|c| {
            c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .map_err(backend)
        })
        .await
        .unwrap();
    assert_eq!(version, schema::VERSION);
}

#[test]
fn a_database_closure_is_named_after_its_method() {
    fn name_of<F>(_: &F) -> &'static str {
        super::operation_name::<F>()
    }
    fn create_message() -> &'static str {
        let closure = |x: u8| x;
        name_of(&closure)
    }
    assert_eq!(create_message(), "create_message");
    // An async-trait method's closure, as the compiler names it.
    assert_eq!(
        super::method_of(
            "fluxer_storage::sqlite::repos::members::<impl fluxer_core::ports::storage::MemberRepository \
             for fluxer_storage::sqlite::SqliteStore>::list_members<'_, '_>::{{closure}}::{{closure}}"
        ),
        "list_members"
    );
    assert_eq!(name_of(&create_message), "query");
}

/// The storage codes that SQL text of this crate writes as literals (a partial index can only be
/// matched by a literal): the push fan-out's follow-up kind and a push subscription's document kind,
/// in SQLite's and PostgreSQL's migrations and message inserts.
#[test]
fn codes_written_into_sql_match_their_enums() {
    use fluxer_core::ports::{FollowupKind, PrivateDocument};
    assert_eq!(PrivateDocument::PushSubscription.code(), 17);
    assert_eq!(FollowupKind::Push.code(), 2);
    assert!(
        schema::MIGRATIONS
            .iter()
            .any(|m| m.contains("ON user_documents (user_id) WHERE kind = 17"))
    );
}
