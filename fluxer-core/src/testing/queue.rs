//! The [`Queue`] conformance suite. It passes the wall clock as `now` and sleeps for leases and retries,
//! so brokers that keep their own time pass it too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::ports::{Job, JobState, NewJob, Queue, QueueStats};
use crate::time::Timestamp;

/// Generates one test per [`Queue`] case; see [`crate::testing`].
#[macro_export]
macro_rules! queue_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(queue, queue_conformance, [$($factory)+], [
            enqueue_reserve_ack,
            every_job_is_delivered_once,
            enqueue_many_stores_each_job,
            future_job_waits_for_run_at,
            expired_lease_redelivers,
            nack_retries_at_retry_at,
            exhausted_job_goes_to_dead_letters,
            stats_count_states,
        ]);
    };
}

const LEASE_MS: u64 = 60_000;
/// Long enough for a backend to deliver a due job.
const DELIVERY: Duration = Duration::from_secs(5);

fn now() -> Timestamp {
    Timestamp::now()
}

/// Reserves the next job, waiting up to [`DELIVERY`] for one to become available.
async fn reserve(queue: &dyn Queue, lease_ms: u64) -> Job {
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        if let Some(job) = queue.reserve(now(), lease_ms).await.unwrap() {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job delivered within {DELIVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn assert_nothing_due(queue: &dyn Queue) {
    let got = queue.reserve(now(), LEASE_MS).await.unwrap();
    assert_eq!(got, None, "nothing should be due");
}

/// A reserved job comes back as enqueued, in flight with one attempt, hidden while leased; after
/// `ack` the queue is empty.
pub async fn enqueue_reserve_ack(queue: Arc<dyn Queue>) {
    let payload = json!({"to": "a@example.test", "n": [1, 2, 3]});
    let mut new = NewJob::new("example_job", payload.clone());
    new.max_attempts = 3;
    let id = queue.enqueue(new).await.unwrap();

    let job = reserve(&*queue, LEASE_MS).await;
    assert_eq!(
        job,
        Job {
            id: id.clone(),
            kind: "example_job".to_owned(),
            payload,
            attempts: 1,
            max_attempts: 3,
            state: JobState::InFlight,
            last_error: None,
        }
    );
    // Leased: nobody else gets it.
    assert_nothing_due(&*queue).await;
    queue.ack(&id).await.unwrap();
    assert_nothing_due(&*queue).await;
    assert_eq!(queue.stats().await.unwrap(), QueueStats::default());
    assert!(queue.dead_letters(10).await.unwrap().is_empty());
}

/// `enqueue_many` answers one ID per job, in order; each job is delivered once as given, and one
/// with a `run_at` ahead waits for it as if enqueued alone.
pub async fn enqueue_many_stores_each_job(queue: Arc<dyn Queue>) {
    let mut later = NewJob::new("later_job", json!({ "n": "later" }));
    later.run_at = Some(Timestamp::from_unix_ms(now().unix_ms() + 3_600_000));
    let mut jobs: Vec<NewJob> = (0..3)
        .map(|n| NewJob::new("batched_job", json!({ "n": n })))
        .collect();
    jobs.insert(1, later);
    let ids = queue.enqueue_many(jobs).await.unwrap();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        4,
        "job IDs are unique"
    );
    let mut delivered = BTreeSet::new();
    for _ in 0..3 {
        let job = reserve(&*queue, LEASE_MS).await;
        assert_eq!(job.kind, "batched_job", "{job:?}");
        let at = ids
            .iter()
            .position(|id| *id == job.id)
            .expect("an ID enqueue_many gave");
        assert_ne!(at, 1, "the later job is not due");
        let n = if at == 0 { 0 } else { at - 1 };
        assert_eq!(job.payload, json!({ "n": n }));
        delivered.insert(job.id.clone());
        queue.ack(&job.id).await.unwrap();
    }
    assert_eq!(delivered.len(), 3);
    assert_nothing_due(&*queue).await;
    assert_eq!(
        queue.stats().await.unwrap().pending,
        1,
        "the later job waits"
    );
    assert!(queue.enqueue_many(Vec::new()).await.unwrap().is_empty());
}

/// Job IDs are unique, and each of several jobs is reserved exactly once while acked in time.
pub async fn every_job_is_delivered_once(queue: Arc<dyn Queue>) {
    let mut ids = BTreeSet::new();
    for n in 0..10 {
        ids.insert(
            queue
                .enqueue(NewJob::new("another_job", json!({ "n": n })))
                .await
                .unwrap(),
        );
    }
    assert_eq!(ids.len(), 10, "job IDs are unique");
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        let job = reserve(&*queue, LEASE_MS).await;
        assert_eq!(job.kind, "another_job");
        assert!(seen.insert(job.id.clone()), "{} delivered twice", job.id);
        queue.ack(&job.id).await.unwrap();
    }
    assert_eq!(seen, ids);
    assert_nothing_due(&*queue).await;
}

/// A job with a future `run_at` stays pending, not reservable, until that time.
pub async fn future_job_waits_for_run_at(queue: Arc<dyn Queue>) {
    // Far enough ahead that the checks below finish first on a slow backend or a loaded machine.
    let mut later = NewJob::new("later", json!(1));
    later.run_at = Some(now().plus_ms(1_000));
    let later_id = queue.enqueue(later).await.unwrap();
    let soon_id = queue.enqueue(NewJob::new("soon", json!(2))).await.unwrap();

    // The due job is delivered; the future one is not.
    let job = reserve(&*queue, LEASE_MS).await;
    assert_eq!(job.id, soon_id);
    queue.ack(&soon_id).await.unwrap();
    assert_nothing_due(&*queue).await;
    assert_eq!(queue.stats().await.unwrap().pending, 1);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let job = reserve(&*queue, LEASE_MS).await;
    assert_eq!((job.id.as_str(), job.attempts), (later_id.as_str(), 1));
}

/// A job not acked within its lease is delivered again, with one more attempt.
pub async fn expired_lease_redelivers(queue: Arc<dyn Queue>) {
    let id = queue
        .enqueue(NewJob::new("flaky", json!(null)))
        .await
        .unwrap();
    // A lease long enough that the check that it hides the job runs within it, even when slow.
    let first = reserve(&*queue, 600).await;
    assert_eq!((first.id.as_str(), first.attempts), (id.as_str(), 1));
    assert_nothing_due(&*queue).await;

    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = reserve(&*queue, LEASE_MS).await;
    assert_eq!((second.id.as_str(), second.attempts), (id.as_str(), 2));
    assert_eq!(second.state, JobState::InFlight);
    queue.ack(&id).await.unwrap();
    assert_eq!(queue.stats().await.unwrap(), QueueStats::default());
}

/// A nacked job waits pending until `retry_at`, then comes back with its payload, one more attempt
/// and the error.
pub async fn nack_retries_at_retry_at(queue: Arc<dyn Queue>) {
    let id = queue
        .enqueue(NewJob::new("retry", json!({"x": 1})))
        .await
        .unwrap();
    let job = reserve(&*queue, LEASE_MS).await;
    // Far enough ahead that the checks below finish first on a slow backend or a loaded machine.
    queue
        .nack(&job.id, "smtp timeout", now().plus_ms(1_000))
        .await
        .unwrap();
    assert_nothing_due(&*queue).await;
    assert_eq!(
        queue.stats().await.unwrap(),
        QueueStats {
            pending: 1,
            in_flight: 0,
            dead: 0
        }
    );

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = reserve(&*queue, LEASE_MS).await;
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.payload, json!({"x": 1}));
    assert_eq!(again.last_error.as_deref(), Some("smtp timeout"));
    queue.ack(&id).await.unwrap();
}

/// A job whose last allowed attempt is nacked goes to the dead letters with its last error and is
/// never delivered again.
pub async fn exhausted_job_goes_to_dead_letters(queue: Arc<dyn Queue>) {
    let mut new = NewJob::new("doomed", json!("payload"));
    new.max_attempts = 2;
    let id = queue.enqueue(new).await.unwrap();
    let healthy = queue
        .enqueue(NewJob::new("healthy", json!(null)))
        .await
        .unwrap();

    let mut attempts = Vec::new();
    for n in 1..=2 {
        let job = loop {
            let job = reserve(&*queue, LEASE_MS).await;
            if job.id == id {
                break job;
            }
            // Set the healthy job aside for later.
            queue
                .nack(&job.id, "not yet", now().plus_ms(60_000))
                .await
                .unwrap();
        };
        attempts.push(job.attempts);
        queue
            .nack(&id, &format!("failure {n}"), now())
            .await
            .unwrap();
    }
    assert_eq!(attempts, vec![1, 2]);

    let dead = queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0],
        Job {
            id: id.clone(),
            kind: "doomed".to_owned(),
            payload: json!("payload"),
            attempts: 2,
            max_attempts: 2,
            state: JobState::Dead,
            last_error: Some("failure 2".to_owned()),
        }
    );
    assert!(queue.dead_letters(0).await.unwrap().is_empty());
    // A dead job is never delivered again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = queue.reserve(now(), LEASE_MS).await.unwrap();
    assert!(got.as_ref().is_none_or(|j| j.id == healthy), "{got:?}");
    assert_eq!(queue.stats().await.unwrap().dead, 1);
}

/// `stats` counts pending (scheduled ones included), in-flight and dead jobs as they move.
pub async fn stats_count_states(queue: Arc<dyn Queue>) {
    assert_eq!(queue.stats().await.unwrap(), QueueStats::default());
    let mut dying = NewJob::new("dying", json!(0));
    dying.max_attempts = 1;
    let dying = queue.enqueue(dying).await.unwrap();
    for n in 0..3 {
        queue.enqueue(NewJob::new("work", json!(n))).await.unwrap();
    }
    let mut later = NewJob::new("later", json!(null));
    later.run_at = Some(now().plus_ms(3_600_000));
    queue.enqueue(later).await.unwrap();
    assert_eq!(
        queue.stats().await.unwrap(),
        QueueStats {
            pending: 5,
            in_flight: 0,
            dead: 0
        }
    );

    // Reserve until the dying job turns up, holding the others.
    let mut held = Vec::new();
    loop {
        let job = reserve(&*queue, LEASE_MS).await;
        if job.id == dying {
            queue.nack(&job.id, "fatal", now()).await.unwrap();
            break;
        }
        held.push(job.id);
    }
    assert_eq!(
        queue.stats().await.unwrap(),
        QueueStats {
            pending: 4 - held.len() as u64,
            in_flight: held.len() as u64,
            dead: 1
        }
    );
    for id in &held {
        queue.ack(id).await.unwrap();
    }
    assert_eq!(
        queue.stats().await.unwrap(),
        QueueStats {
            pending: 4 - held.len() as u64,
            in_flight: 0,
            dead: 1
        }
    );
    assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1);
}
