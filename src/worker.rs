//! The job runner: reserves jobs from a [`Queue`], runs them with [`Fluxer::run_job`], acknowledges
//! or retries them, commits the search index on a timer, and enqueues the scheduled jobs of
//! [`cron::SCHEDULE`]. The monolith runs one in-process; `fluxer-worker` runs one per node.
//!
//! - Delivery is at least once: a job whose worker dies is delivered again when its lease ends, and
//!   every handler is idempotent.
//! - A failed job is retried with exponential backoff (1 s, 2 s, 4 s, ... capped at
//!   [`WorkerConfig::max_backoff`]) until its `max_attempts`, then it stays in the queue's dead letter
//!   for an operator. A job that cannot succeed (unknown kind, malformed payload) is retried at once,
//!   so it reaches the dead letter without waiting.
//! - Search writes are made visible by one commit per [`WorkerConfig::search_commit_interval`] rather
//!   than one per job: committing per message costs tantivy an order of magnitude in throughput.
//! - Scheduled jobs: each period of each kind is a slot; the worker that takes the slot's lock in the
//!   shared [`Cache`] enqueues it, so several workers enqueue it once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fluxer_core::ports::{Cache, Job, Queue};
use fluxer_core::service::{Fluxer, JobError, cron, kinds};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a reserved job is ours before it is delivered again.
    pub lease: Duration,
    /// How long an idle runner waits before asking the queue again.
    pub poll_interval: Duration,
    pub max_backoff: Duration,
    pub search_commit_interval: Duration,
    /// Enqueue the scheduled jobs (turn off on all but a few nodes if you like; the slot lock makes
    /// it safe to leave on everywhere).
    pub cron: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
            max_backoff: Duration::from_secs(300),
            search_commit_interval: Duration::from_secs(1),
            cron: true,
        }
    }
}

/// A running worker. Dropping it without [`Worker::shutdown`] stops it at the next job boundary.
pub struct Worker {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

struct Shared {
    fluxer: Fluxer,
    queue: Arc<dyn Queue>,
    config: WorkerConfig,
    /// Something was indexed since the last commit.
    search_dirty: AtomicBool,
}

impl Worker {
    /// Starts the runners, the search committer and the scheduler on the current tokio runtime.
    pub fn spawn(
        fluxer: Fluxer,
        queue: Arc<dyn Queue>,
        cache: Arc<dyn Cache>,
        config: WorkerConfig,
    ) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            fluxer,
            queue,
            config,
            search_dirty: AtomicBool::new(false),
        });
        let mut tasks = JoinSet::new();
        for _ in 0..shared.config.concurrency.max(1) {
            tasks.spawn(run_jobs(Arc::clone(&shared), stopped.clone()));
        }
        if shared.fluxer.ports().search.is_some() {
            tasks.spawn(commit_search(Arc::clone(&shared), stopped.clone()));
        }
        if shared.config.cron {
            tasks.spawn(schedule(Arc::clone(&shared), cache, stopped));
        }
        Worker { stop, tasks }
    }

    /// Stops taking jobs, lets the running ones finish, and commits the search index.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Sleeps for `d` unless the worker is told to stop; returns whether it should stop.
async fn idle(stopped: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stopped.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stopped.borrow(),
        _ = stopped.changed() => true,
    }
}

async fn run_jobs(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let lease_ms = u64::try_from(shared.config.lease.as_millis()).unwrap_or(u64::MAX);
    loop {
        if *stopped.borrow() {
            return;
        }
        let now = shared.fluxer.now();
        match shared.queue.reserve(now, lease_ms).await {
            Ok(Some(job)) => run_one(&shared, job).await,
            Ok(None) => {
                if idle(&mut stopped, shared.config.poll_interval).await {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "queue: cannot reserve a job");
                if idle(&mut stopped, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    }
}

async fn run_one(shared: &Shared, job: Job) {
    let started = std::time::Instant::now();
    let result = shared.fluxer.run_job(&job).await;
    if job.kind == kinds::INDEX_MESSAGES || job.kind == kinds::UNINDEX_MESSAGES {
        shared.search_dirty.store(true, Ordering::Release);
    }
    match result {
        Ok(()) => {
            tracing::debug!(job = %job.id, kind = %job.kind, ms = started.elapsed().as_millis() as u64, "job done");
            if let Err(e) = shared.queue.ack(&job.id).await {
                tracing::warn!(job = %job.id, error = %e, "queue: cannot ack (the job will run again)");
            }
        }
        Err(err) => {
            let now = shared.fluxer.now();
            let retry_at = if err.is_permanent() {
                now
            } else {
                let exp = job.attempts.saturating_sub(1).min(20);
                let backoff = Duration::from_secs(1u64 << exp).min(shared.config.max_backoff);
                now.plus_ms(backoff.as_millis() as i64)
            };
            let last = job.attempts >= job.max_attempts;
            tracing::warn!(
                job = %job.id, kind = %job.kind, attempt = job.attempts, max = job.max_attempts,
                dead = last, error = %err, "job failed"
            );
            if let Err(e) = shared.queue.nack(&job.id, &err.to_string(), retry_at).await {
                tracing::warn!(job = %job.id, error = %e, "queue: cannot nack");
            }
            if matches!(err, JobError::UnknownKind(_)) {
                tracing::error!(kind = %job.kind, "no handler for this job kind; is this worker older than the API?");
            }
        }
    }
}

async fn commit_search(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let Some(search) = shared.fluxer.ports().search.clone() else {
        return;
    };
    loop {
        let stop = idle(&mut stopped, shared.config.search_commit_interval).await;
        if shared.search_dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = search.commit().await
        {
            shared.search_dirty.store(true, Ordering::Release);
            tracing::warn!(error = %e, "search: commit failed; will retry");
        }
        if stop {
            // The runners may still be finishing their last job: one more commit after them.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if shared.search_dirty.swap(false, Ordering::AcqRel) {
                let _ = search.commit().await;
            }
            return;
        }
    }
}

async fn schedule(shared: Arc<Shared>, cache: Arc<dyn Cache>, mut stopped: watch::Receiver<bool>) {
    loop {
        let now_ms = shared.fluxer.now().unix_ms();
        for (kind, period) in cron::SCHEDULE {
            let period_ms = period.as_millis() as i64;
            let slot = now_ms / period_ms.max(1);
            let key = format!("cron:{kind}:{slot}");
            match cache.try_lock(&key, *period).await {
                Ok(Some(_)) => {
                    let job = fluxer_core::ports::NewJob::new(*kind, serde_json::json!({}));
                    if let Err(e) = shared.queue.enqueue(job).await {
                        tracing::warn!(kind, error = %e, "cron: cannot enqueue");
                        let _ = cache.delete(&key).await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(kind, error = %e, "cron: cannot take the slot lock"),
            }
        }
        if idle(&mut stopped, Duration::from_secs(30)).await {
            return;
        }
    }
}
