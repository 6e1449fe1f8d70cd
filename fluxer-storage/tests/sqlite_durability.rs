//! Durability and group commit of the SQLite adapter.
//!
//! The durability test re-runs this test binary as a child process. The child writes 10,000 messages
//! from 50 concurrent tasks (so group commit is at work), printing each message ID as its write is
//! acknowledged, and aborts (no close, no destructors) once 9,500 acknowledgements are printed, while
//! the last writes are still in flight. The parent reopens the file and finds every acknowledged
//! message; it may find more (committed, but aborted before the acknowledgement was printed).

#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use fluxer_core::id::MessageId;
use fluxer_core::ports::{MessagePage, MessageRepository, UserRepository};
use fluxer_core::testing::fixtures::Fixtures;
use fluxer_storage::sqlite::SqliteStore;

const CHILD_ENV: &str = "FLUXER_DURABILITY_CHILD_DB";
const MESSAGES: usize = 10_000;

/// Runs in the child: writes, reports acknowledgements, then aborts mid-flight.
async fn child(path: &str) -> ! {
    let store = Arc::new(SqliteStore::open(path).unwrap());
    let fx = Arc::new(Fixtures::new());
    let (owner, bundle) = fx.create_guild(store.as_ref()).await;
    println!("channel {}", bundle.channel().id.get());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    for task in 0..50 {
        let (store, tx, channel) = (store.clone(), tx.clone(), bundle.channel().clone());
        let fx = fx.clone();
        tokio::spawn(async move {
            for i in 0..MESSAGES / 50 {
                let mut m = fx.make_message(&channel, owner.id);
                m.content = format!("task {task} message {i}");
                store.insert_message(&m).await.unwrap();
                let _ = tx.send(m.id.get());
            }
        });
    }
    drop(tx);
    let mut acked = 0;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    while let Some(id) = rx.recv().await {
        writeln!(out, "acked {id}").unwrap();
        acked += 1;
        // Die while writes are still in flight: no close, no flush, no destructors.
        if acked == MESSAGES - 500 {
            out.flush().unwrap();
            std::process::abort();
        }
    }
    out.flush().unwrap();
    std::process::abort();
}

#[test]
fn acknowledged_writes_survive_an_abort() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(child(&path));
    }
    let dir = std::env::temp_dir().join(format!("fluxer-durability-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fluxer.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_an_abort",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        // A child that fails before aborting says why on the test's stderr.
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut channel = None;
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        // The test harness may print its own "test ... " prefix on the first line.
        if let Some(id) = line.strip_prefix("acked ") {
            acked.push(MessageId::new(id.parse().unwrap()));
        } else if let Some(id) = line.split("channel ").nth(1) {
            channel = Some(fluxer_core::id::ChannelId::new(id.trim().parse().unwrap()));
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child aborted");
    assert!(
        acked.len() >= MESSAGES - 500,
        "the child acknowledged {} writes",
        acked.len()
    );
    let channel = channel.expect("the child reported its channel");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let mut stored = std::collections::HashSet::new();
        let mut page = MessagePage::Latest;
        loop {
            let batch = store.list_messages(channel, page, 100).await.unwrap();
            let Some(last) = batch.last() else { break };
            page = MessagePage::Before(last.id);
            stored.extend(batch.iter().map(|m| m.id));
        }
        let missing = acked.iter().filter(|id| !stored.contains(id)).count();
        assert_eq!(
            missing,
            0,
            "{missing} acknowledged messages were lost ({} stored)",
            stored.len()
        );
        assert!(stored.len() >= acked.len());
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_transactions() {
    let store = Arc::new(SqliteStore::open_temp().unwrap());
    let fx = Arc::new(Fixtures::new());
    let (owner, bundle) = fx.create_guild(store.as_ref()).await;
    let channel = bundle.channel().clone();
    let before = store.commit_count();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (store, channel, fx) = (store.clone(), channel.clone(), fx.clone());
        tasks.push(tokio::spawn(async move {
            let m = fx.make_message(&channel, owner.id);
            store.insert_message(&m).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let commits = store.commit_count() - before;
    assert_eq!(
        store
            .list_messages(channel.id, MessagePage::Latest, 100)
            .await
            .unwrap()
            .len(),
        100
    );
    // One transaction each would be 200; a loaded machine (2 cores running other test binaries)
    // batches less than an idle one, so the bound asks for batching, not for a particular rate.
    assert!(
        commits <= 100,
        "200 concurrent inserts took {commits} transactions; group commit should batch them"
    );
    store.close().await;
    // After close, writes are refused rather than lost silently.
    let late = fx.make_message(&channel, owner.id);
    assert!(store.insert_message(&late).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_does_not_take_its_group_down() {
    let store = Arc::new(SqliteStore::open_temp().unwrap());
    let fx = Arc::new(Fixtures::new());
    let alice = fx.make_user();
    store.create_user(&alice).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (store, fx) = (store.clone(), fx.clone());
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let mut u = fx.make_user();
            if i % 5 == 0 {
                u.email = alice.email.clone();
            }
            store.create_user(&u).await.map(|_| u.id)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => {
                ok += 1;
                assert!(store.get_user(id).await.unwrap().is_some());
            }
            Err(e) => assert!(fluxer_core::ports::is_conflict(
                &e,
                fluxer_core::ports::conflict::USER_EMAIL
            )),
        }
    }
    assert_eq!(ok, 40, "the 10 conflicting inserts failed alone");
}
