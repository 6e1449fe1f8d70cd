//! The SQLite job queue against the queue conformance suite, and across a restart.

#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fluxer_core::ports::{JobState, NewJob, Queue};
use fluxer_core::time::Timestamp;
use fluxer_storage::sqlite::SqliteQueue;

fn temp_path() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "fluxer-queue-{}-{nanos}-{}/jobs.sqlite",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fluxer_core::queue_conformance_tests!(Arc::new(
    SqliteQueue::open(super::temp_path()).expect("open the queue")
) as Arc<dyn Queue>);

/// A job leased by a process that then dies is delivered again, from the file, once the lease ends;
/// a job that was acknowledged is not.
#[tokio::test]
async fn leased_job_survives_a_restart_and_is_redelivered() {
    let path = temp_path();
    let (leased, acked) = {
        let queue = SqliteQueue::open(&path).unwrap();
        let leased = queue
            .enqueue(NewJob::new(
                "example_job",
                serde_json::json!({"to": "a@example.test"}),
            ))
            .await
            .unwrap();
        let acked = queue
            .enqueue(NewJob::new("another_job", serde_json::json!([1, 2])))
            .await
            .unwrap();
        let now = Timestamp::now();
        let first = queue.reserve(now, 1_000).await.unwrap().unwrap();
        assert_eq!(first.id, leased);
        let second = queue.reserve(now, 1_000).await.unwrap().unwrap();
        assert_eq!(second.id, acked);
        queue.ack(&acked).await.unwrap();
        (leased, acked)
        // The queue is dropped here with `leased` still in flight, as if the worker had died.
    };

    let queue = SqliteQueue::open(&path).unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.pending, stats.in_flight, stats.dead), (0, 1, 0));
    // Still leased: nothing is due before the lease ends.
    assert_eq!(queue.reserve(Timestamp::now(), 1_000).await.unwrap(), None);
    let later = Timestamp::now().plus_ms(1_500);
    let again = queue.reserve(later, 1_000).await.unwrap().unwrap();
    assert_eq!(again.id, leased);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.state, JobState::InFlight);
    assert_eq!(again.payload["to"], "a@example.test");
    assert_eq!(
        queue.reserve(later, 1_000).await.unwrap(),
        None,
        "{acked} was acked"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
