//! In-memory mailers, blobs, queue and search.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::MessageId;
use fluxer_core::ports::{
    BlobMeta, BlobStore, Email, Job, JobState, Mailer, MessageDocument, MessageSearch, NewJob, PortResult, Queue, QueueStats,
    SearchHits, SearchIndex,
};
use fluxer_core::time::Timestamp;

/// Keeps every email in an outbox tests can read.
#[derive(Default)]
pub struct MemoryMailer {
    outbox: Mutex<Vec<Email>>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Email> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner()).push(email.clone());
        Ok(())
    }
}

/// Logs that an email would be sent (recipient and subject, never the body: it holds one-time links).
/// The monolith's default when no SMTP server is configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        tracing::info!(to = %email.to, subject = %email.subject, "email not sent: no SMTP server configured");
        Ok(())
    }
}

/// Objects in memory.
#[derive(Default)]
pub struct MemoryBlobStore {
    objects: Mutex<BTreeMap<String, (BlobMeta, Vec<u8>)>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn etag(bytes: &[u8]) -> String {
    // FNV-1a 64: stable, cheap; enough to tell versions apart.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}{:08x}", bytes.len())
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> PortResult<BlobMeta> {
        let meta = BlobMeta {
            key: key.to_owned(),
            size: bytes.len() as u64,
            content_type: content_type.map(str::to_owned),
            etag: etag(&bytes),
            last_modified: Timestamp::now(),
        };
        self.objects.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), (meta.clone(), bytes));
        Ok(meta)
    }

    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        Ok(self.objects.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned())
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        Ok(self.objects.lock().unwrap_or_else(|e| e.into_inner()).get(key).map(|(meta, bytes)| {
            let len = bytes.len() as u64;
            let (s, e) = (start.min(len), end.min(len).max(start.min(len)));
            (meta.clone(), bytes[s as usize..e as usize].to_vec())
        }))
    }

    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>> {
        Ok(self.objects.lock().unwrap_or_else(|e| e.into_inner()).get(key).map(|(m, _)| m.clone()))
    }

    async fn delete(&self, key: &str) -> PortResult<bool> {
        Ok(self.objects.lock().unwrap_or_else(|e| e.into_inner()).remove(key).is_some())
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>> {
        Ok(self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, (m, _))| m.clone())
            .collect())
    }
}

struct QueuedJob {
    job: Job,
    run_at: Timestamp,
    lease_until: Option<Timestamp>,
    seq: u64,
}

/// A job queue in memory (jobs do not survive the process; the SQLite queue does).
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<(HashMap<String, QueuedJob>, u64)>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: NewJob) -> PortResult<String> {
        let mut guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 += 1;
        let seq = guard.1;
        let id = format!("{seq:016x}");
        guard.0.insert(
            id.clone(),
            QueuedJob {
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
            },
        );
        Ok(id)
    }

    async fn reserve(&self, now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>> {
        let mut guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let due = guard
            .0
            .values_mut()
            .filter(|q| match q.job.state {
                JobState::Pending => q.run_at <= now,
                JobState::InFlight => q.lease_until.is_some_and(|l| l <= now),
                JobState::Dead => false,
            })
            .min_by_key(|q| (q.run_at, q.seq));
        Ok(due.map(|q| {
            q.job.attempts += 1;
            q.job.state = JobState::InFlight;
            q.lease_until = Some(now.plus_ms(lease_ms as i64));
            q.job.clone()
        }))
    }

    async fn ack(&self, id: &str) -> PortResult<()> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).0.remove(id);
        Ok(())
    }

    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()> {
        let mut guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let q = guard.0.get_mut(id).ok_or(StoreError::NotFound)?;
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
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut dead: Vec<&QueuedJob> = guard.0.values().filter(|q| q.job.state == JobState::Dead).collect();
        dead.sort_by_key(|q| q.seq);
        Ok(dead.into_iter().take(limit).map(|q| q.job.clone()).collect())
    }

    async fn stats(&self) -> PortResult<QueueStats> {
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = QueueStats::default();
        for q in guard.0.values() {
            match q.job.state {
                JobState::Pending => s.pending += 1,
                JobState::InFlight => s.in_flight += 1,
                JobState::Dead => s.dead += 1,
            }
        }
        Ok(s)
    }
}

/// Message search by case-insensitive word match, in memory.
#[derive(Default)]
pub struct MemorySearchIndex {
    docs: Mutex<BTreeMap<MessageId, MessageDocument>>,
}

impl MemorySearchIndex {
    pub fn new() -> Self {
        Self::default()
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

#[async_trait]
impl SearchIndex for MemorySearchIndex {
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()> {
        let mut map = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        for d in docs {
            map.insert(d.id, d.clone());
        }
        Ok(())
    }

    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()> {
        let mut map = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            map.remove(id);
        }
        Ok(())
    }

    async fn commit(&self) -> PortResult<()> {
        Ok(())
    }

    async fn search_messages(&self, q: &MessageSearch) -> PortResult<SearchHits> {
        let map = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        let terms = q.content.as_deref().map(words).unwrap_or_default();
        let matches = |d: &MessageDocument| {
            let doc_words = words(&d.content);
            q.channel_ids.contains(&d.channel_id)
                && terms.iter().all(|t| doc_words.contains(t))
                && (q.author_ids.is_empty() || q.author_ids.contains(&d.author_id))
                && q.mentions.iter().all(|m| d.mentions.contains(m))
                && q.has.iter().all(|h| d.has.contains(h))
                && q.min_id.is_none_or(|min| d.id > min)
                && q.max_id.is_none_or(|max| d.id < max)
                && q.pinned.is_none_or(|p| d.pinned == p)
        };
        let mut hits: Vec<&MessageDocument> = map.values().filter(|d| matches(d)).collect();
        if !q.ascending {
            hits.reverse();
        }
        Ok(SearchHits {
            total: hits.len() as u64,
            hits: hits.into_iter().skip(q.offset).take(q.limit).map(|d| (d.channel_id, d.id)).collect(),
        })
    }
}
