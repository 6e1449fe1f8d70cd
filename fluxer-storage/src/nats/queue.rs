//! The job queue on JetStream.
//!
//! # Layout
//!
//! One work-queue stream, `<prefix>_JOBS`, holds every job that is not dead, on two subjects with a
//! durable pull consumer each:
//!
//! - `<prefix>.jobs.due`: jobs that may run now, consumed by the workers (`reserve`);
//! - `<prefix>.jobs.scheduled`: jobs waiting for their `run_at` (or a retry's `retry_at`), consumed by a
//!   promoter task in every [`JetStreamQueue`]: it holds each one back with a NAK whose delay ends at
//!   its time, and when JetStream hands it over again, due, republishes it on `due` and acks it.
//!
//! Waiting jobs never reach the workers' consumer, so its counts mean what the port's [`QueueStats`]
//! mean: undelivered messages are pending and unacknowledged ones are in flight; everything on
//! `scheduled` is pending. Its delivery count is the job's attempt count on the current message.
//! (The simpler design, one consumer that NAKs a job not yet due with a delay, gets both wrong:
//! JetStream keeps a message NAKed with a delay in the consumer's ack-pending set, so waiting jobs would
//! count as in flight, and every early delivery would count as an attempt.)
//!
//! A message carries the job (kind, payload, `max_attempts`) and what earlier messages of the same job
//! learnt: attempts made and the last error. The job id is the stream sequence of the job's first
//! message. A failed attempt that is retried (`nack`) publishes the job again with that history, on
//! `scheduled` or directly on `due`, then acks the old message. An exhausted one is copied to the
//! dead-letter stream `<prefix>_DEAD` (limits retention: kept until an operator purges it) and acked.
//! Republishing carries a `Nats-Msg-Id` of job id and attempt, so a retried publish is deduplicated.
//! Between the publish and the ack a crash can duplicate the job: delivery is at least once.
//!
//! # Leases
//!
//! The port gives every `reserve` its own lease; a JetStream consumer has one `ack_wait`. The workers'
//! consumer's `ack_wait` is [`NatsConfig::ack_wait_ms`], and the instance that reserved a job keeps its
//! lease with a task: a lease longer than `ack_wait` is extended with `+WPI` (progress) every half
//! `ack_wait`, and when the lease ends the job is NAKed for immediate redelivery. If the process dies,
//! no task runs and JetStream delivers the job again `ack_wait` after the last word from it.
//!
//! Acking a message needs its handle, which only the instance that reserved it has: `ack` and `nack`
//! must go to that instance. An unknown id is a job that is already done or whose lease ran out, which
//! `ack` treats as success (at least once) and `nack` reports as [`StoreError::NotFound`].
//!
//! # Time
//!
//! JetStream keeps the time of leases and delays; whether a job is due is decided by the wall clock of
//! the instances (`Timestamp::now`), not by the `now` that `reserve` receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::{AckKind, Acker};
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind, RetentionPolicy};
use async_nats::jetstream::{self, Context};
use async_nats::{Client, HeaderMap};
use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{Job, JobState, NewJob, PortResult, Queue, QueueStats};
use fluxer_core::time::Timestamp;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::NatsConfig;

/// A job as it travels in a message of the jobs stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobMessage {
    /// Absent on the job's first message: its id is that message's stream sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    kind: String,
    payload: serde_json::Value,
    max_attempts: u32,
    /// Attempts made on the job's earlier messages.
    #[serde(default)]
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// When a scheduled job is due (Unix ms); absent on `due`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_at: Option<i64>,
}

/// Subjects and names derived from the prefix.
struct Names {
    due: String,
    scheduled: String,
    dead: String,
    jobs_stream: String,
    dead_stream: String,
}

impl Names {
    fn new(prefix: &str) -> Names {
        Names {
            due: format!("{prefix}.jobs.due"),
            scheduled: format!("{prefix}.jobs.scheduled"),
            dead: format!("{prefix}.dead.jobs"),
            jobs_stream: format!("{prefix}_JOBS"),
            dead_stream: format!("{prefix}_DEAD"),
        }
    }
}

/// A job reserved by this instance.
struct Lease {
    /// Tells this reservation from a later one of the same job by this instance.
    serial: u64,
    job: Job,
    message: JobMessage,
    acker: Arc<Acker>,
    /// Extends and ends the lease.
    keeper: JoinHandle<()>,
}

type Leases = Arc<Mutex<HashMap<String, Lease>>>;

fn lock(leases: &Mutex<HashMap<String, Lease>>) -> MutexGuard<'_, HashMap<String, Lease>> {
    leases.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`Queue`] on a JetStream work-queue stream; see the `nats::queue` module documentation for the design.
pub struct JetStreamQueue {
    js: Context,
    names: Names,
    dead: stream::Stream,
    workers: PullConsumer,
    scheduler: PullConsumer,
    ack_wait: Duration,
    leases: Leases,
    next_serial: AtomicU64,
    promoter: JoinHandle<()>,
}

fn backend(what: &str, e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_while("nats", format!("jetstream queue: {what}"), e)
}

impl JetStreamQueue {
    /// A new job as published, and the subject it goes to: due now, or scheduled.
    fn job_message(&self, job: NewJob) -> (&str, JobMessage) {
        let run_at = job
            .run_at
            .map(Timestamp::unix_ms)
            .filter(|&at| at > Timestamp::now().unix_ms());
        let message = JobMessage {
            id: None,
            kind: job.kind,
            payload: job.payload,
            max_attempts: job.max_attempts.max(1),
            attempts: 0,
            last_error: None,
            run_at,
        };
        let subject = if run_at.is_some() {
            &self.names.scheduled
        } else {
            &self.names.due
        };
        (subject, message)
    }

    /// Connects to the configured server and opens the queue.
    pub async fn connect(config: &NatsConfig) -> PortResult<JetStreamQueue> {
        Self::open(config.connect().await?, config).await
    }

    /// Opens the queue on an existing connection, creating its streams and consumers if they do not
    /// exist (existing ones are used as they are).
    pub async fn open(client: Client, config: &NatsConfig) -> PortResult<JetStreamQueue> {
        super::check_prefix(&config.prefix)?;
        let names = Names::new(&config.prefix);
        let js = jetstream::new(client);
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: names.jobs_stream.clone(),
                subjects: vec![format!("{}.jobs.>", config.prefix)],
                retention: RetentionPolicy::WorkQueue,
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| backend("creating the jobs stream", e))?;
        let dead = js
            .get_or_create_stream(stream::Config {
                name: names.dead_stream.clone(),
                subjects: vec![names.dead.clone()],
                retention: RetentionPolicy::Limits,
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| backend("creating the dead-letter stream", e))?;

        let ack_wait = Duration::from_millis(config.ack_wait_ms.max(1));
        let workers_name = format!("{}_workers", config.prefix);
        let workers = jobs
            .get_or_create_consumer(
                &workers_name,
                pull::Config {
                    durable_name: Some(workers_name.clone()),
                    filter_subject: names.due.clone(),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| backend("creating the workers' consumer", e))?;
        let scheduler_name = format!("{}_scheduler", config.prefix);
        let scheduler = jobs
            .get_or_create_consumer(
                &scheduler_name,
                pull::Config {
                    durable_name: Some(scheduler_name.clone()),
                    filter_subject: names.scheduled.clone(),
                    ack_policy: AckPolicy::Explicit,
                    // Every waiting job sits unacknowledged, NAKed with a delay: no cap, or a job due
                    // soon could wait behind a full set of jobs due later.
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| backend("creating the scheduler's consumer", e))?;

        let promoter = tokio::spawn(promote(scheduler.clone(), js.clone(), names.due.clone()));
        Ok(JetStreamQueue {
            js,
            names,
            dead,
            workers,
            scheduler,
            ack_wait,
            leases: Arc::default(),
            next_serial: AtomicU64::new(0),
            promoter,
        })
    }

    /// Deletes the queue's streams and everything in them (for tests and decommissioning). This
    /// instance is unusable afterwards.
    pub async fn delete_streams(&self) -> PortResult<()> {
        self.promoter.abort();
        for (_, lease) in lock(&self.leases).drain() {
            lease.keeper.abort();
        }
        for name in [&self.names.jobs_stream, &self.names.dead_stream] {
            self.js
                .delete_stream(name)
                .await
                .map_err(|e| backend("deleting a stream", e))?;
        }
        Ok(())
    }
}

/// Publishes `message` as JSON and waits until the stream has it; returns its stream sequence. A
/// `msg_id` makes JetStream drop a second publish of the same message within its duplicate window.
async fn publish(
    js: &Context,
    subject: &str,
    message: &impl Serialize,
    msg_id: Option<&str>,
) -> PortResult<u64> {
    let ack = send(js, subject, message, msg_id)
        .await?
        .await
        .map_err(|e| backend("publishing", e))?;
    Ok(ack.sequence)
}

/// Publishes `message` without awaiting the stream's acknowledgement: what is returned resolves
/// to it.
async fn send(
    js: &Context,
    subject: &str,
    message: &impl Serialize,
    msg_id: Option<&str>,
) -> PortResult<PublishAckFuture> {
    let body = serde_json::to_vec(message).map_err(|e| StoreError::backend_of("nats", e))?;
    let mut headers = HeaderMap::new();
    if let Some(msg_id) = msg_id {
        headers.insert("Nats-Msg-Id", msg_id);
    }
    js.publish_with_headers(subject.to_owned(), headers, body.into())
        .await
        .map_err(|e| backend("publishing", e))
}

impl Drop for JetStreamQueue {
    fn drop(&mut self) {
        // Jobs still leased here go back to the others when the server's ack_wait runs out.
        self.promoter.abort();
        for (_, lease) in lock(&self.leases).drain() {
            lease.keeper.abort();
        }
    }
}

/// How long to wait before pulling again after the scheduler's consumer failed.
const PROMOTER_BACKOFF: Duration = Duration::from_secs(1);
/// The longest NAK delay: a job due later is looked at again after this long, which keeps the delay
/// far from JetStream's limits whatever `run_at` says.
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);
/// The longest lease this adapter keeps (a larger `lease_ms` is cut to it).
const MAX_LEASE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Moves scheduled jobs to `due` as they come due; runs for the queue instance's life.
async fn promote(scheduler: PullConsumer, js: Context, due: String) {
    loop {
        match scheduler.messages().await {
            Ok(mut messages) => {
                while let Some(next) = messages.next().await {
                    match next {
                        Ok(message) => {
                            if let Err(e) = promote_one(&js, &due, message).await {
                                tracing::warn!(error = %e, "jetstream queue: promoting a scheduled job failed");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "jetstream queue: pulling scheduled jobs failed")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "jetstream queue: pulling scheduled jobs failed")
            }
        }
        tokio::time::sleep(PROMOTER_BACKOFF).await;
    }
}

/// Holds a scheduled job back until its time, or publishes it on `due` and acks it.
async fn promote_one(js: &Context, due: &str, message: jetstream::Message) -> PortResult<()> {
    let sequence = message
        .info()
        .map_err(|e| backend("reading a message's metadata", e))?
        .stream_sequence;
    let mut job: JobMessage = match serde_json::from_slice(&message.payload) {
        Ok(job) => job,
        Err(e) => {
            // Not ours: leaving it would have it redelivered for ever.
            message
                .ack_with(AckKind::Term)
                .await
                .map_err(|e| backend("terminating a bad message", e))?;
            return Err(backend("a scheduled message is not a job", e));
        }
    };
    let now = Timestamp::now().unix_ms();
    if let Some(at) = job.run_at.filter(|&at| at > now) {
        let wait = Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(MAX_HOLD);
        return message
            .ack_with(AckKind::Nak(Some(wait)))
            .await
            .map_err(|e| backend("delaying a scheduled job", e));
    }
    let id = job.id.get_or_insert_with(|| sequence.to_string()).clone();
    job.run_at = None;
    publish(js, due, &job, Some(&format!("{id}:{}:due", job.attempts))).await?;
    message
        .double_ack()
        .await
        .map_err(|e| backend("acking a promoted job", e))
}

/// Extends a lease past the consumer's `ack_wait` while it lasts, then hands the job back.
async fn keep_lease(
    leases: Leases,
    id: String,
    serial: u64,
    acker: Arc<Acker>,
    lease: Duration,
    ack_wait: Duration,
) {
    let deadline = Instant::now() + lease;
    let progress_every = ack_wait / 2;
    loop {
        let next = Instant::now() + progress_every;
        if progress_every.is_zero() || next >= deadline {
            tokio::time::sleep_until(deadline).await;
            break;
        }
        tokio::time::sleep_until(next).await;
        if let Err(e) = acker.ack_with(AckKind::Progress).await {
            tracing::warn!(job = %id, error = %e, "jetstream queue: extending a lease failed");
        }
    }
    let expired = {
        let mut leases = lock(&leases);
        match leases.get(&id) {
            Some(held) if held.serial == serial => leases.remove(&id),
            _ => None,
        }
    };
    if let Some(expired) = expired
        && let Err(e) = expired.acker.ack_with(AckKind::Nak(None)).await
    {
        tracing::warn!(job = %id, error = %e, "jetstream queue: returning an expired job failed");
    }
}

#[async_trait]
impl Queue for JetStreamQueue {
    #[tracing::instrument(level = "debug", name = "queue.enqueue", skip_all, fields(otel.kind = "producer"))]
    async fn enqueue(&self, job: NewJob) -> PortResult<String> {
        let (subject, message) = self.job_message(job);
        let sequence = publish(&self.js, subject, &message, None).await?;
        Ok(sequence.to_string())
    }

    /// Publishes every job before awaiting the first acknowledgement: one round trip in all.
    #[tracing::instrument(level = "debug", name = "queue.enqueue", skip_all, fields(otel.kind = "producer"))]
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        let mut acks = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (subject, message) = self.job_message(job);
            acks.push(send(&self.js, subject, &message, None).await?);
        }
        let mut ids = Vec::with_capacity(acks.len());
        for ack in acks {
            let ack = ack.await.map_err(|e| backend("publishing", e))?;
            ids.push(ack.sequence.to_string());
        }
        Ok(ids)
    }

    async fn reserve(&self, _now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>> {
        loop {
            let mut batch = self
                .workers
                .fetch()
                .max_messages(1)
                .messages()
                .await
                .map_err(|e| backend("fetching a job", e))?;
            let Some(next) = batch.next().await else {
                return Ok(None);
            };
            let message = next.map_err(|e| backend("fetching a job", e))?;
            let info = message
                .info()
                .map_err(|e| backend("reading a message's metadata", e))?;
            let (sequence, delivered) = (info.stream_sequence, info.delivered);
            let body: JobMessage = match serde_json::from_slice(&message.payload) {
                Ok(body) => body,
                Err(e) => {
                    tracing::warn!(sequence, error = %e, "jetstream queue: dropping a message that is not a job");
                    message
                        .ack_with(AckKind::Term)
                        .await
                        .map_err(|e| backend("terminating a bad message", e))?;
                    continue;
                }
            };
            let job = Job {
                id: body.id.clone().unwrap_or_else(|| sequence.to_string()),
                kind: body.kind.clone(),
                payload: body.payload.clone(),
                attempts: body
                    .attempts
                    .saturating_add(u32::try_from(delivered).unwrap_or(u32::MAX)),
                max_attempts: body.max_attempts,
                state: JobState::InFlight,
                last_error: body.last_error.clone(),
            };
            let (_, acker) = message.split();
            let acker = Arc::new(acker);
            let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
            let mut leases = lock(&self.leases);
            let keeper = tokio::spawn(keep_lease(
                self.leases.clone(),
                job.id.clone(),
                serial,
                acker.clone(),
                Duration::from_millis(lease_ms).min(MAX_LEASE),
                self.ack_wait,
            ));
            let lease = Lease {
                serial,
                job: job.clone(),
                message: body,
                acker,
                keeper,
            };
            if let Some(previous) = leases.insert(job.id.clone(), lease) {
                // This instance held an earlier delivery whose lease the server ended first.
                previous.keeper.abort();
            }
            return Ok(Some(job));
        }
    }

    async fn ack(&self, id: &str) -> PortResult<()> {
        let Some(lease) = lock(&self.leases).remove(id) else {
            return Ok(());
        };
        lease.keeper.abort();
        lease
            .acker
            .double_ack()
            .await
            .map_err(|e| backend("acking a job", e))
    }

    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()> {
        let lease = lock(&self.leases).remove(id).ok_or(StoreError::NotFound)?;
        lease.keeper.abort();
        let Lease {
            job,
            mut message,
            acker,
            ..
        } = lease;
        if job.attempts >= job.max_attempts {
            let dead = Job {
                state: JobState::Dead,
                last_error: Some(error.to_owned()),
                ..job
            };
            let msg_id = format!("{id}:dead");
            publish(&self.js, &self.names.dead, &dead, Some(&msg_id)).await?;
        } else {
            message.id = Some(job.id.clone());
            message.attempts = job.attempts;
            message.last_error = Some(error.to_owned());
            let (subject, stage) = if retry_at > Timestamp::now() {
                message.run_at = Some(retry_at.unix_ms());
                (&self.names.scheduled, "scheduled")
            } else {
                message.run_at = None;
                (&self.names.due, "due")
            };
            let msg_id = format!("{id}:{}:{stage}", job.attempts);
            publish(&self.js, subject, &message, Some(&msg_id)).await?;
        }
        acker
            .double_ack()
            .await
            .map_err(|e| backend("acking a failed job's old message", e))
    }

    async fn dead_letters(&self, limit: usize) -> PortResult<Vec<Job>> {
        let mut dead = Vec::new();
        if limit == 0 {
            return Ok(dead);
        }
        let state = self
            .dead
            .get_info()
            .await
            .map_err(|e| backend("reading the dead-letter stream", e))?
            .state;
        if state.messages == 0 {
            return Ok(dead);
        }
        let mut sequence = state.first_sequence;
        while dead.len() < limit && sequence <= state.last_sequence {
            match self.dead.get_raw_message(sequence).await {
                Ok(message) => match serde_json::from_slice::<Job>(&message.payload) {
                    Ok(job) => dead.push(job),
                    Err(e) => {
                        tracing::warn!(sequence, error = %e, "jetstream queue: skipping a dead letter that is not a job")
                    }
                },
                // Deleted by an operator.
                Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => {}
                Err(e) => return Err(backend("reading a dead letter", e)),
            }
            sequence += 1;
        }
        Ok(dead)
    }

    async fn stats(&self) -> PortResult<QueueStats> {
        let workers = self
            .workers
            .get_info()
            .await
            .map_err(|e| backend("reading the workers' consumer", e))?;
        let scheduler = self
            .scheduler
            .get_info()
            .await
            .map_err(|e| backend("reading the scheduler's consumer", e))?;
        let dead = self
            .dead
            .get_info()
            .await
            .map_err(|e| backend("reading the dead-letter stream", e))?;
        Ok(QueueStats {
            pending: workers.num_pending + scheduler.num_pending + scheduler.num_ack_pending as u64,
            in_flight: workers.num_ack_pending as u64,
            dead: dead.state.messages,
        })
    }
}
