use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::time::Timestamp;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// The handler name (`send_email`, `index_messages`).
    pub kind: String,
    /// The handler's input, delivered unchanged.
    pub payload: serde_json::Value,
    /// Not before this time; `None` is due at once.
    pub run_at: Option<Timestamp>,
    /// Attempts before the job goes to the dead letter.
    pub max_attempts: u32,
}

impl NewJob {
    /// A job due at once, with up to 5 attempts.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            run_at: None,
            max_attempts: 5,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be reserved: due now, scheduled for later or waiting for its retry.
    Pending,
    /// Leased to a worker, neither acked nor nacked yet.
    InFlight,
    /// Its last allowed attempt failed: kept for [`Queue::dead_letters`], never delivered again.
    Dead,
}

/// A job as a worker sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Assigned by the queue at [`Queue::enqueue`]; what `ack` and `nack` take.
    pub id: String,
    /// The handler name, as enqueued.
    pub kind: String,
    /// The handler's input, as enqueued.
    pub payload: serde_json::Value,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// [`JobState::InFlight`] for a reserved job, [`JobState::Dead`] in the dead letters.
    pub state: JobState,
    /// The error of the last [`Queue::nack`]; `None` while none failed.
    pub last_error: Option<String>,
}

/// Counts for operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Jobs waiting, whether due or not (scheduled, or waiting for a retry).
    pub pending: u64,
    /// Jobs leased to a worker.
    pub in_flight: u64,
    /// Jobs in the dead letters.
    pub dead: u64,
}

/// A durable job queue with at-least-once delivery.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Stores a job, pending until its `run_at` (or due at once); returns its ID, unique in the queue.
    async fn enqueue(&self, job: NewJob) -> PortResult<String>;
    /// Stores several jobs, as [`enqueue`](Self::enqueue) each, and returns their IDs in order. A
    /// backend that can store them in one round trip (one transaction, one batch of publishes)
    /// should: the use-cases hand over the jobs a write leaves behind together. On an error some
    /// may have been stored.
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        let mut ids = Vec::with_capacity(jobs.len());
        for job in jobs {
            ids.push(self.enqueue(job).await?);
        }
        Ok(ids)
    }
    /// Leases the next due job for `lease_ms`, counting an attempt; if not acked or nacked by then it is
    /// delivered again (attempts + 1). Which of several due jobs comes first is the backend's choice.
    async fn reserve(&self, now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>>;
    /// The job is done. Acking an unknown or already acked job is not an error (delivery is at least once).
    async fn ack(&self, id: &str) -> PortResult<()>;
    /// The job failed: retried at `retry_at`, or, when its `max_attempts`-th attempt failed, dead: kept
    /// with its last error for [`dead_letters`](Self::dead_letters) and never delivered again.
    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()>;
    /// Up to `limit` dead jobs with their last error (none for 0), in an order the backend chooses.
    async fn dead_letters(&self, limit: usize) -> PortResult<Vec<Job>>;
    /// How many jobs are in each state now.
    async fn stats(&self) -> PortResult<QueueStats>;
}
