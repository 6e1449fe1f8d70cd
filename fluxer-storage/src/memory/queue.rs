//! A job queue in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{Job, JobState, NewJob, PortResult, Queue, QueueStats};
use fluxer_core::time::Timestamp;

use super::lock;

struct QueuedJob {
    job: Job,
    run_at: Timestamp,
    lease_until: Option<Timestamp>,
    /// Enqueue order, to deliver due jobs first in, first out.
    seq: u64,
}

impl QueuedJob {
    fn is_due(&self, now: Timestamp) -> bool {
        match self.job.state {
            JobState::Pending => self.run_at <= now,
            JobState::InFlight => self.lease_until.is_some_and(|until| until <= now),
            JobState::Dead => false,
        }
    }
}

#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, QueuedJob>,
    last_seq: u64,
}

/// Jobs in a map (they do not survive the process; the SQLite queue's do). Reserving scans for the
/// earliest due job, which is fine for the few jobs an ephemeral instance has.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Jobs>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: NewJob) -> PortResult<String> {
        let mut jobs = lock(&self.jobs);
        jobs.last_seq += 1;
        let seq = jobs.last_seq;
        let id = format!("{seq:016x}");
        let queued = QueuedJob {
            job: Job {
                id: id.clone(),
                kind: job.kind,
                payload: job.payload,
                attempts: 0,
                max_attempts: job.max_attempts.max(1),
                state: JobState::Pending,
                last_error: None,
            },
            run_at: job.run_at.unwrap_or_default(),
            lease_until: None,
            seq,
        };
        jobs.by_id.insert(id.clone(), queued);
        Ok(id)
    }

    async fn reserve(&self, now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>> {
        let mut jobs = lock(&self.jobs);
        let next = jobs
            .by_id
            .values_mut()
            .filter(|q| q.is_due(now))
            .min_by_key(|q| (q.run_at, q.seq));
        Ok(next.map(|q| {
            q.job.attempts += 1;
            q.job.state = JobState::InFlight;
            q.lease_until = Some(now.plus_ms(i64::try_from(lease_ms).unwrap_or(i64::MAX)));
            q.job.clone()
        }))
    }

    async fn ack(&self, id: &str) -> PortResult<()> {
        lock(&self.jobs).by_id.remove(id);
        Ok(())
    }

    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()> {
        let mut jobs = lock(&self.jobs);
        let q = jobs.by_id.get_mut(id).ok_or(StoreError::NotFound)?;
        q.job.last_error = Some(error.to_owned());
        q.lease_until = None;
        if q.job.attempts >= q.job.max_attempts {
            q.job.state = JobState::Dead;
        } else {
            q.job.state = JobState::Pending;
            q.run_at = retry_at;
        }
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> PortResult<Vec<Job>> {
        let jobs = lock(&self.jobs);
        let mut dead: Vec<&QueuedJob> = jobs
            .by_id
            .values()
            .filter(|q| q.job.state == JobState::Dead)
            .collect();
        dead.sort_by_key(|q| q.seq);
        Ok(dead
            .into_iter()
            .take(limit)
            .map(|q| q.job.clone())
            .collect())
    }

    async fn stats(&self) -> PortResult<QueueStats> {
        let jobs = lock(&self.jobs);
        let mut stats = QueueStats::default();
        for q in jobs.by_id.values() {
            match q.job.state {
                JobState::Pending => stats.pending += 1,
                JobState::InFlight => stats.in_flight += 1,
                JobState::Dead => stats.dead += 1,
            }
        }
        Ok(stats)
    }
}
