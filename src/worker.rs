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
//!   An indexing job is acknowledged only after the commit that holds its writes, so a crash before
//!   that commit leaves the job in the queue to run again, and no acknowledged message is missing
//!   from the index after a restart.
//! - New messages' follow-ups (indexing, the Web Push fan-out) are not jobs: they are stored with
//!   the message, in the store's outbox, and one drainer per worker claims them in batches of up to
//!   [`FOLLOWUP_BATCH`] as soon as a message is stored in this process (or every
//!   [`WorkerConfig::poll_interval`], for messages stored by other nodes). An indexed one is cleared
//!   after the commit that holds it, as an indexing job is acknowledged.
//! - Scheduled jobs: each period of each kind is a slot; the worker that takes the slot's lock in the
//!   shared [`Cache`] enqueues it, so several workers enqueue it once.

use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fluxer_core::id::MessageId;
use fluxer_core::ports::{Cache, FollowupKind, Job, Queue};
use fluxer_core::service::{FOLLOWUP_BATCH, Fluxer, JobError, Task, cron};
use fluxer_core::telemetry::JobOutcome;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a reserved job, or a claimed follow-up, is ours before it is delivered again (keep
    /// it well above `search_commit_interval`: an indexed follow-up waits for the next commit).
    pub lease: Duration,
    /// How long an idle runner waits before asking the queue again, and the outbox's drainer
    /// before looking for follow-ups stored by other processes.
    pub poll_interval: Duration,
    /// The longest wait before retrying a failed job (5 minutes by default; the wait doubles from
    /// 1 s up to this).
    pub max_backoff: Duration,
    /// How often the search index is committed (1 s by default): its writes become visible and the
    /// indexing jobs behind them are acknowledged.
    pub search_commit_interval: Duration,
    /// This worker is the only one draining the store's outbox (the monolith, on its own
    /// database): at start it takes back the follow-ups its previous run had claimed, without
    /// waiting for their leases to end.
    pub sole_consumer: bool,
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
            sole_consumer: false,
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
    /// Indexing jobs whose writes are done but not yet committed: acknowledged after the commit.
    uncommitted: Mutex<Vec<String>>,
    /// Index follow-ups done but not yet committed: cleared after the commit.
    uncommitted_followups: Mutex<Vec<(MessageId, FollowupKind)>>,
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
            uncommitted: Mutex::new(Vec::new()),
            uncommitted_followups: Mutex::new(Vec::new()),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(run_followups(Arc::clone(&shared), stopped.clone()));
        for _ in 0..shared.config.concurrency.max(1) {
            tasks.spawn(run_jobs(Arc::clone(&shared), stopped.clone()));
        }
        if shared.fluxer.search_enabled() {
            tasks.spawn(commit_search(Arc::clone(&shared), stopped.clone()));
        }
        if fluxer_core::telemetry::recorder().is_some() {
            tasks.spawn(measure_queue(Arc::clone(&shared), stopped.clone()));
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
                tracing::warn!(error = %fluxer_core::error::chain(&e), "queue: cannot reserve a job");
                if idle(&mut stopped, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    }
}

/// Drains the store's outbox of follow-ups: a batch whenever a message is stored in this process,
/// every poll interval otherwise, and batch after batch while they come full.
async fn run_followups(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let lease_ms = u64::try_from(shared.config.lease.as_millis()).unwrap_or(u64::MAX);
    // The follow-ups a previous run of this sole consumer had claimed (under leases of this
    // length) are ours again at once: claimed as if those leases had ended, batch after batch
    // until one comes back less than full. What this run claims meanwhile is leased beyond that.
    let mut take_back = shared
        .config
        .sole_consumer
        .then(|| shared.fluxer.now().plus_ms(lease_ms as i64));
    loop {
        if *stopped.borrow() {
            return;
        }
        let claim_at = take_back.unwrap_or_else(|| shared.fluxer.now());
        let full = match shared.fluxer.run_followups(claim_at, lease_ms).await {
            Ok(run) => {
                if !run.indexed.is_empty() {
                    shared.uncommitted_followups().extend(run.indexed);
                    // Marked after they are listed, so the commit that sees the mark clears them.
                    shared.search_dirty.store(true, Ordering::Release);
                }
                if let Some(e) = &run.error {
                    tracing::warn!(error = %fluxer_core::error::chain(e), "follow-ups failed; they run again when their lease ends");
                }
                run.claimed >= FOLLOWUP_BATCH as usize
            }
            Err(e) => {
                tracing::warn!(error = %fluxer_core::error::chain(&e), "store: cannot claim follow-ups");
                if idle(&mut stopped, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        if full {
            continue;
        }
        take_back = None;
        tokio::select! {
            _ = shared.fluxer.followups_stored() => {}
            stop = idle(&mut stopped, shared.config.poll_interval) => if stop { return },
        }
    }
}

/// How often the queue's size is measured while telemetry records.
const QUEUE_MEASURE_EVERY: Duration = Duration::from_secs(10);

/// Records the queue's depth every [`QUEUE_MEASURE_EVERY`] (a count query on the queue's backend).
async fn measure_queue(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let Some(recorder) = fluxer_core::telemetry::recorder() else {
        return;
    };
    loop {
        if let Ok(stats) = shared.queue.stats().await {
            recorder.queue_depth(stats.pending, stats.in_flight, stats.dead);
        }
        if idle(&mut stopped, QUEUE_MEASURE_EVERY).await {
            return;
        }
    }
}

async fn run_one(shared: &Shared, job: Job) {
    let started = std::time::Instant::now();
    let recorder = fluxer_core::telemetry::recorder();
    let span = match recorder {
        Some(_) => tracing::info_span!(
            parent: None,
            "job",
            otel.name = %format_args!("job {}", job.kind),
            otel.kind = "consumer",
            job.kind = %job.kind,
            job.attempt = i64::from(job.attempts),
        ),
        None => tracing::Span::none(),
    };
    let (indexing, result) = match Task::from_job(&job) {
        Ok(task) => (
            task.writes_search(),
            shared.fluxer.run_task(task).instrument(span).await,
        ),
        Err(unreadable) => (false, Err(unreadable)),
    };
    if let Some(recorder) = recorder {
        // The queue dead-letters a job whose last attempt failed (see `run_one`'s nack below).
        let outcome = match &result {
            Ok(()) => JobOutcome::Done,
            Err(_) if job.attempts >= job.max_attempts => JobOutcome::DeadLettered,
            Err(_) => JobOutcome::Failed,
        };
        recorder.job_finished(&job.kind, outcome);
    }
    let awaits_commit = indexing && result.is_ok() && shared.fluxer.search_enabled();
    if awaits_commit {
        shared.uncommitted().push(job.id.clone());
    }
    // Marked after the job is listed, so the commit that sees the mark also acknowledges the job.
    if indexing {
        shared.search_dirty.store(true, Ordering::Release);
    }
    match result {
        Ok(()) if awaits_commit => {
            tracing::debug!(job = %job.id, kind = %job.kind, ms = started.elapsed().as_millis() as u64, "job done, acknowledged at the next search commit");
        }
        Ok(()) => {
            tracing::debug!(job = %job.id, kind = %job.kind, ms = started.elapsed().as_millis() as u64, "job done");
            if let Err(e) = shared.queue.ack(&job.id).await {
                tracing::warn!(job = %job.id, error = %fluxer_core::error::chain(&e), "queue: cannot ack (the job will run again)");
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
                dead = last, error = %fluxer_core::error::chain(&err), "job failed"
            );
            if let Err(e) = shared.queue.nack(&job.id, &err.to_string(), retry_at).await {
                tracing::warn!(job = %job.id, error = %fluxer_core::error::chain(&e), "queue: cannot nack");
            }
            if matches!(err, JobError::UnknownKind(_)) {
                tracing::error!(kind = %job.kind, "no handler for this job kind; is this worker older than the API?");
            }
        }
    }
}

impl Shared {
    fn uncommitted(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.uncommitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn uncommitted_followups(&self) -> std::sync::MutexGuard<'_, Vec<(MessageId, FollowupKind)>> {
        self.uncommitted_followups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits the search index if anything was written since the last commit, then acknowledges
    /// the indexing jobs whose writes that commit holds. The jobs are taken before the commit: a
    /// job finishing during it waits for the next one.
    async fn commit_search(&self) {
        if !self.search_dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let done = mem::take(&mut *self.uncommitted());
        let followups = mem::take(&mut *self.uncommitted_followups());
        if let Err(e) = self.fluxer.commit_search().await {
            self.search_dirty.store(true, Ordering::Release);
            // Still leased to us: acknowledged after the next commit that succeeds (or delivered
            // again when the lease ends, which is harmless: indexing is idempotent).
            self.uncommitted().extend(done);
            self.uncommitted_followups().extend(followups);
            tracing::warn!(error = %fluxer_core::error::chain(&e), "search: commit failed; will retry");
            return;
        }
        if let Err(e) = self.fluxer.clear_followups(&followups).await {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "store: cannot clear follow-ups (they will run again)");
        }
        for id in done {
            if let Err(e) = self.queue.ack(&id).await {
                tracing::warn!(job = %id, error = %fluxer_core::error::chain(&e), "queue: cannot ack (the job will run again)");
            }
        }
    }
}

async fn commit_search(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        let stop = idle(&mut stopped, shared.config.search_commit_interval).await;
        shared.commit_search().await;
        if stop {
            // The runners may still be finishing their last job: one more commit after them.
            tokio::time::sleep(Duration::from_millis(50)).await;
            shared.commit_search().await;
            return;
        }
    }
}

async fn schedule(shared: Arc<Shared>, cache: Arc<dyn Cache>, mut stopped: watch::Receiver<bool>) {
    loop {
        let now_ms = shared.fluxer.now().unix_ms();
        for (task, period) in cron::SCHEDULE {
            let kind = task.kind();
            let period_ms = period.as_millis() as i64;
            let slot = now_ms / period_ms.max(1);
            let key = format!("cron:{kind}:{slot}");
            match cache.try_lock(&key, *period).await {
                Ok(Some(_)) => {
                    if let Err(e) = shared.queue.enqueue(task.to_job()).await {
                        tracing::warn!(kind, error = %fluxer_core::error::chain(&e), "cron: cannot enqueue");
                        let _ = cache.delete(&key).await;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(kind, error = %fluxer_core::error::chain(&e), "cron: cannot take the slot lock")
                }
            }
        }
        if idle(&mut stopped, Duration::from_secs(30)).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use async_trait::async_trait;
    use fluxer_core::ports::{
        Email, ExpressionRepository, InviteRepository, Mailer, ManualClock, MemberRepository,
        MessageRepository, NewJob, PackRepository, PortResult, PrivateDocumentRepository,
        SearchIndex, UserRepository,
    };
    use fluxer_core::service::{
        Argon2Hasher, ClientInfo, GuildCreate, LoginOutcome, LoginRequest, Ports, RegisterRequest,
    };
    use fluxer_core::time::Timestamp;
    use fluxer_storage::memory::{
        InProcessEventBus, MemoryCache, MemoryMailer, MemoryQueue, MemoryStore,
    };

    use super::*;

    /// A mailer whose first `failures` sends fail, as an SMTP server that is briefly down.
    struct FlakyMailer {
        failures: AtomicU32,
        inner: MemoryMailer,
    }

    #[async_trait]
    impl Mailer for FlakyMailer {
        async fn send(&self, email: &Email) -> PortResult<()> {
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(fluxer_core::StoreError::backend("421 try again later"));
            }
            self.inner.send(email).await
        }
    }

    struct Env {
        fluxer: Fluxer,
        queue: Arc<MemoryQueue>,
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
    }

    /// With `manual_clock` the test moves time itself (and failed jobs never come due again).
    fn env(mailer: Arc<dyn Mailer>, manual_clock: bool) -> Env {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let mut ports = Ports::new(
            store.clone(),
            Arc::new(InProcessEventBus::new()),
            mailer,
            Arc::new(MemoryCache::new()),
        )
        .with_queue(queue.clone());
        if manual_clock {
            ports.clock = clock.clone();
        }
        ports.hasher = Arc::new(Argon2Hasher::fast_for_tests());
        Env {
            fluxer: Fluxer::new(ports, Default::default()),
            queue,
            store,
            clock,
        }
    }

    fn fast() -> WorkerConfig {
        WorkerConfig {
            poll_interval: Duration::from_millis(5),
            max_backoff: Duration::from_millis(1),
            cron: false,
            ..Default::default()
        }
    }

    async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn register(fluxer: &Fluxer, name: &str) -> (String, fluxer_core::id::UserId) {
        let outcome = fluxer
            .register(RegisterRequest {
                email: Some(format!("{name}@example.test")),
                username: Some(name.to_owned()),
                password: Some("correct horse battery".to_owned()),
                date_of_birth: Some("1990-01-01".to_owned()),
                consent: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        match outcome {
            LoginOutcome::Session { token, user_id } => (token, user_id),
            _ => panic!("expected a session"),
        }
    }

    /// New messages' indexing goes through the store's outbox: what a run that died had claimed
    /// (more than one batch) is taken back at once by the sole consumer's next run, indexed, and
    /// cleared once committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_claimed_by_a_dead_run_is_indexed_by_the_next() {
        let store = Arc::new(MemoryStore::new());
        let search = Arc::new(fluxer_storage::memory::MemorySearchIndex::new());
        let mut ports = Ports::new(
            store.clone(),
            Arc::new(InProcessEventBus::new()),
            Arc::new(MemoryMailer::new()),
            Arc::new(MemoryCache::new()),
        )
        .with_queue(Arc::new(MemoryQueue::new()))
        .with_search(search.clone());
        ports.hasher = Arc::new(Argon2Hasher::fast_for_tests());
        let f = Fluxer::new(ports, Default::default());
        let (token, _) = register(&f, "ada").await;
        let ada = f.authenticate(&token).await.unwrap();
        let guild = f
            .create_guild(
                &ada,
                GuildCreate {
                    name: "Club".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let channel = f.list_guild_channels(&ada, guild.id).await.unwrap()[0].id;
        // More than one batch: the take-back goes on until a claim comes back less than full.
        let total = FOLLOWUP_BATCH as usize + 44;
        let mut sent = Vec::with_capacity(total);
        for i in 0..total {
            let req = fluxer_core::service::MessageCreate {
                content: Some(format!("outbox {i}")),
                ..Default::default()
            };
            sent.push(f.send_message(&ada, channel, req).await.unwrap().id);
        }
        let query = fluxer_core::ports::MessageSearch {
            channel_ids: vec![channel],
            limit: total + 1,
            ascending: true,
            ..Default::default()
        };
        assert!(
            search
                .search_messages(&query)
                .await
                .unwrap()
                .hits
                .is_empty(),
            "indexed later, by a worker"
        );
        // A run claims them all and dies: its leases have a minute to go.
        let now = f.now();
        let dead = store.claim_followups(now, 60_000, 1_000).await.unwrap();
        assert_eq!(dead.iter().map(|d| d.message_id).collect::<Vec<_>>(), sent);

        let worker = Worker::spawn(
            f.clone(),
            Arc::new(MemoryQueue::new()),
            Arc::new(MemoryCache::new()),
            WorkerConfig {
                sole_consumer: true,
                search_commit_interval: Duration::from_millis(10),
                ..fast()
            },
        );
        let expected: Vec<_> = sent.iter().map(|id| (channel, *id)).collect();
        wait_for("every message indexed", async || {
            search.search_messages(&query).await.unwrap().hits == expected
        })
        .await;
        worker.shutdown().await;
        let later = now.plus_ms(86_400_000);
        assert!(
            store
                .claim_followups(later, 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "cleared once committed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poisoned_job_ends_in_the_dead_letter_after_its_attempts() {
        let e = env(Arc::new(MemoryMailer::new()), false);
        let mut job = NewJob::new("no_such_kind", serde_json::json!({}));
        job.max_attempts = 3;
        e.queue.enqueue(job).await.unwrap();
        let send_email = Task::SendEmail(Email {
            to: String::new(),
            subject: String::new(),
            text: String::new(),
            html: None,
        })
        .kind();
        let mut bad = NewJob::new(send_email, serde_json::json!({"not": "an email"}));
        bad.max_attempts = 2;
        e.queue.enqueue(bad).await.unwrap();
        let worker = Worker::spawn(
            e.fluxer.clone(),
            e.queue.clone(),
            Arc::new(MemoryCache::new()),
            fast(),
        );
        wait_for("two dead letters", async || {
            e.queue.stats().await.unwrap().dead == 2
        })
        .await;
        worker.shutdown().await;
        let dead = e.queue.dead_letters(10).await.unwrap();
        let unknown = dead.iter().find(|j| j.kind == "no_such_kind").unwrap();
        assert_eq!(unknown.attempts, 3);
        assert!(
            unknown
                .last_error
                .as_deref()
                .unwrap()
                .contains("no handler")
        );
        let malformed = dead.iter().find(|j| j.kind == send_email).unwrap();
        assert_eq!(malformed.attempts, 2);
        assert!(
            malformed
                .last_error
                .as_deref()
                .unwrap()
                .contains("malformed")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_is_retried_until_it_succeeds() {
        let mailer = Arc::new(FlakyMailer {
            failures: AtomicU32::new(2),
            inner: MemoryMailer::new(),
        });
        let e = env(mailer.clone(), false);
        // Registering enqueues the verification email.
        register(&e.fluxer, "dana").await;
        let worker = Worker::spawn(
            e.fluxer.clone(),
            e.queue.clone(),
            Arc::new(MemoryCache::new()),
            fast(),
        );
        wait_for("the email after two failures", async || {
            !mailer.inner.sent().is_empty()
        })
        .await;
        worker.shutdown().await;
        assert_eq!(mailer.inner.sent().len(), 1);
        assert!(mailer.inner.sent()[0].subject.contains("Verify"));
        let stats = e.queue.stats().await.unwrap();
        assert_eq!((stats.pending, stats.in_flight, stats.dead), (0, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleted_accounts_are_erased_after_the_grace_period_unless_logged_into() {
        let e = env(Arc::new(MemoryMailer::new()), true);
        let f = &e.fluxer;
        let (owner_token, _) = register(f, "owner").await;
        let owner = f.authenticate(&owner_token).await.unwrap();
        let guild = f
            .create_guild(
                &owner,
                GuildCreate {
                    name: "Club".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let guild_id: fluxer_core::id::GuildId = guild.id;
        let (token, id) = register(f, "erin").await;
        let erin = f.authenticate(&token).await.unwrap();
        e.store
            .add_member(&fluxer_core::model::Member {
                guild_id,
                user_id: id,
                nick: None,
                avatar: None,
                roles: Vec::new(),
                joined_at: f.now(),
                mute: false,
                deaf: false,
                communication_disabled_until: None,
            })
            .await
            .unwrap();
        let (keep_token, keep_id) = register(f, "frank").await;
        let frank = f.authenticate(&keep_token).await.unwrap();
        // Erin made a pack (with an emoji and an invite) and installed Frank's.
        let pack = |id: u64, creator| fluxer_core::model::Pack {
            id: fluxer_core::id::PackId::new(id),
            kind: fluxer_core::model::ExpressionKind::Emoji,
            creator_id: creator,
            name: "pack".into(),
            description: None,
            created_at: f.now(),
            updated_at: f.now(),
        };
        let (erins, franks) = (pack(900, id), pack(901, keep_id));
        e.store.put_pack(&erins).await.unwrap();
        e.store.put_pack(&franks).await.unwrap();
        let emoji = fluxer_core::model::Expression {
            id: fluxer_core::id::ExpressionId::new(902),
            guild_id: erins.id.expression_owner(),
            kind: fluxer_core::model::ExpressionKind::Emoji,
            name: "wave".into(),
            creator_id: id,
            animated: false,
            content_type: "image/png".into(),
            description: None,
            tags: Vec::new(),
        };
        e.store.put_expression(&emoji).await.unwrap();
        let invite = fluxer_core::model::Invite {
            code: "erinspack".into(),
            guild_id: None,
            channel_id: None,
            pack_id: Some(erins.id),
            inviter_id: Some(id),
            uses: 0,
            max_uses: 0,
            max_age: 0,
            temporary: false,
            created_at: f.now(),
            vanity: false,
        };
        e.store.create_invite(&invite).await.unwrap();
        let installed = fluxer_core::ports::PrivateDocument::PackInstallation;
        e.store
            .put_private_document(id, installed, franks.id.get(), Some("{}"))
            .await
            .unwrap();

        // The owner of a guild must hand it over first; a wrong password is refused.
        assert!(
            f.request_account_deletion(&owner, "correct horse battery")
                .await
                .is_err()
        );
        assert!(f.request_account_deletion(&erin, "wrong").await.is_err());
        f.request_account_deletion(&erin, "correct horse battery")
            .await
            .unwrap();
        f.request_account_deletion(&frank, "correct horse battery")
            .await
            .unwrap();
        // Deletion logs out everywhere; Frank changes his mind and logs in.
        assert!(f.authenticate(&token).await.is_err());
        f.login(LoginRequest {
            email: "frank@example.test".into(),
            password: "correct horse battery".into(),
            client: ClientInfo::default(),
        })
        .await
        .unwrap();

        // Within the grace period nothing happens.
        e.clock.advance_ms(71 * 3600 * 1000);
        let purge = fluxer_core::ports::Job {
            id: "1".into(),
            kind: Task::PurgeDeletedAccounts.kind().into(),
            payload: serde_json::json!({}),
            attempts: 1,
            max_attempts: 5,
            state: fluxer_core::ports::JobState::InFlight,
            last_error: None,
        };
        f.run_job(&purge).await.unwrap();
        assert!(
            e.store
                .get_user(id)
                .await
                .unwrap()
                .unwrap()
                .deleted_at
                .is_none()
        );
        e.clock.advance_ms(2 * 3600 * 1000);
        f.run_job(&purge).await.unwrap();
        f.run_job(&purge).await.unwrap(); // idempotent
        let erased = e.store.get_user(id).await.unwrap().unwrap();
        assert!(erased.deleted_at.is_some());
        assert_eq!(erased.email, None);
        assert_eq!(erased.password_hash, None);
        assert_eq!(erased.global_name.as_deref(), Some("Deleted User"));
        assert!(e.store.get_member(guild_id, id).await.unwrap().is_none());
        assert!(
            e.store
                .find_user_by_email("erin@example.test")
                .await
                .unwrap()
                .is_none()
        );
        let kept = e.store.get_user(keep_id).await.unwrap().unwrap();
        assert!(kept.deleted_at.is_none() && kept.deletion_requested_at.is_none());
        // Her pack went with what it held; her installation of Frank's too, not his pack.
        assert!(e.store.list_user_packs(id).await.unwrap().is_empty());
        assert_eq!(e.store.get_expression(emoji.id).await.unwrap(), None);
        assert_eq!(e.store.get_invite(&invite.code).await.unwrap(), None);
        assert!(
            e.store
                .list_private_documents(id, installed)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(e.store.get_pack(franks.id).await.unwrap(), Some(franks));

        // Idle sessions end after 90 days; the owner's session was last used at the start.
        let expire = fluxer_core::ports::Job {
            kind: Task::ExpireSessions.kind().into(),
            ..purge
        };
        e.clock.advance_ms(91 * 24 * 3600 * 1000);
        f.run_job(&expire).await.unwrap();
        assert!(f.authenticate(&owner_token).await.is_err());
    }
}
