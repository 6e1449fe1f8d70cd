//! The durable job queue of the monolith: one SQLite table in a database file of its own.
//!
//! A job is a row; its state, due time and lease live in columns, so reserving is one indexed
//! `UPDATE ... RETURNING` in a transaction. A job leased by a process that dies is due again when its
//! lease ends, and the next reservation delivers it with `attempts + 1`: delivery is at least once.
//! Every operation runs on a writer thread of the queue's own, which commits what is queued in groups as
//! the store's writer does (see `writer`): a burst of jobs enqueued at once costs one WAL commit per
//! group instead of one per job, and each answer still waits for its commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{Job, JobState, NewJob, PortResult, Queue, QueueStats};
use fluxer_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::mpsc;

use super::writer;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state INTEGER NOT NULL,          -- 0 pending, 1 in flight, 2 dead
    due_at INTEGER NOT NULL,         -- pending: run_at; in flight: lease end (ms)
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, due_at, id);
";

const PENDING: i64 = 0;
const IN_FLIGHT: i64 = 1;
const DEAD: i64 = 2;

/// A durable queue on SQLite. Cheap to clone; the writer thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteQueue {
    writer: mpsc::Sender<writer::Command>,
    path: PathBuf,
}

impl SqliteQueue {
    /// Opens (or creates) the queue database at `path`; missing parent directories are created.
    pub fn open(path: impl AsRef<Path>) -> PortResult<SqliteQueue> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::backend_of("sqlite", e))?;
        }
        let conn = Connection::open(&path).map_err(|e| StoreError::backend_of("sqlite", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )
        .map_err(|e| StoreError::backend_of("sqlite", e))?;
        super::keep_plans(&conn).map_err(|e| StoreError::backend_of("sqlite", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| StoreError::backend_of("sqlite", e))?;
        let (tx, rx) = mpsc::channel(4096);
        std::thread::Builder::new()
            .name("fluxer-queue-writer".into())
            .spawn(move || writer::run(conn, rx, Arc::default()))
            .map_err(|e| StoreError::backend_of("sqlite", e))?;
        Ok(SqliteQueue { writer: tx, path })
    }

    /// Makes every job in flight due at once, and returns how many there were. For a process that
    /// is the queue's only consumer, at start: the jobs leased before belong to a run that is gone
    /// (killed, or stopped mid-job), and waiting for their leases to end would only delay them.
    pub async fn release_in_flight(&self) -> PortResult<usize> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = ?1, due_at = 0 WHERE state = ?2",
                params![PENDING, IN_FLIGHT],
            )
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's next group and answers once that group has committed.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> PortResult<T> {
        let (command, answer) =
            writer::job(move |c| f(c).map_err(|e| StoreError::backend_of("sqlite", e)));
        let stopped = || StoreError::backend_of("sqlite", "the queue's writer has stopped");
        self.writer.send(command).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let id: i64 = row.get("id")?;
    let payload: String = row.get("payload")?;
    let state = match row.get::<_, i64>("state")? {
        PENDING => JobState::Pending,
        IN_FLIGHT => JobState::InFlight,
        _ => JobState::Dead,
    };
    Ok(Job {
        id: id.to_string(),
        kind: row.get("kind")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        attempts: row.get("attempts")?,
        max_attempts: row.get("max_attempts")?,
        state,
        last_error: row.get("last_error")?,
    })
}

/// Job IDs are the row IDs in decimal; anything else names no job.
fn parse_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

fn ms(t: Timestamp) -> i64 {
    t.unix_ms()
}

#[async_trait]
impl Queue for SqliteQueue {
    #[tracing::instrument(level = "debug", name = "queue.enqueue", skip_all, fields(otel.kind = "producer"))]
    async fn enqueue(&self, job: NewJob) -> PortResult<String> {
        let mut ids = self.enqueue_many(vec![job]).await?;
        ids.pop()
            .ok_or_else(|| StoreError::backend_of("sqlite", "no job was stored"))
    }

    /// One write in the writer's next group, whatever the number of jobs.
    #[tracing::instrument(level = "debug", name = "queue.enqueue", skip_all, fields(otel.kind = "producer"))]
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> PortResult<Vec<String>> {
        let now = ms(Timestamp::now());
        let rows = jobs
            .into_iter()
            .map(|job| {
                let payload = serde_json::to_string(&job.payload)
                    .map_err(|e| StoreError::backend_of("sqlite", e))?;
                Ok((
                    job.kind,
                    payload,
                    job.run_at.map(ms).unwrap_or(0),
                    job.max_attempts.max(1),
                ))
            })
            .collect::<PortResult<Vec<_>>>()?;
        let ids = self
            .with(move |c| {
                let mut insert = c.prepare_cached(
                    "INSERT INTO jobs (kind, payload, state, due_at, max_attempts, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut ids = Vec::with_capacity(rows.len());
                for (kind, payload, run_at, max_attempts) in rows {
                    insert.execute(params![kind, payload, PENDING, run_at, max_attempts, now])?;
                    ids.push(c.last_insert_rowid());
                }
                Ok(ids)
            })
            .await?;
        Ok(ids.iter().map(i64::to_string).collect())
    }

    async fn reserve(&self, now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>> {
        let now = ms(now);
        let lease_end = now.saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        self.with(move |c| {
            // Pending jobs whose time has come and in-flight jobs whose lease ran out, oldest due first.
            c.prepare_cached(
                "UPDATE jobs SET state = ?1, due_at = ?2, attempts = attempts + 1
                 WHERE id = (
                     SELECT id FROM jobs WHERE state IN (?3, ?1) AND due_at <= ?4
                     ORDER BY due_at, id LIMIT 1
                 )
                 RETURNING *",
            )?
            .query_row(params![IN_FLIGHT, lease_end, PENDING, now], job_from_row)
            .optional()
        })
        .await
    }

    async fn ack(&self, id: &str) -> PortResult<()> {
        let Some(id) = parse_id(id) else {
            return Ok(());
        };
        self.with(move |c| {
            c.prepare_cached("DELETE FROM jobs WHERE id = ?1")?
                .execute([id])
        })
        .await?;
        Ok(())
    }

    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()> {
        let id = parse_id(id).ok_or(StoreError::NotFound)?;
        let error = error.to_owned();
        let retry_at = ms(retry_at);
        let changed = self
            .with(move |c| {
                c.prepare_cached(
                    "UPDATE jobs SET last_error = ?2,
                         state = CASE WHEN attempts >= max_attempts THEN ?3 ELSE ?4 END,
                         due_at = ?5
                     WHERE id = ?1 AND state != ?3",
                )?
                .execute(params![id, error, DEAD, PENDING, retry_at])
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> PortResult<Vec<Job>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare("SELECT * FROM jobs WHERE state = ?1 ORDER BY id LIMIT ?2")?;
            let rows = stmt.query_map(params![DEAD, limit], job_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn stats(&self) -> PortResult<QueueStats> {
        self.with(|c| {
            let mut stats = QueueStats::default();
            let mut stmt = c.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let n: i64 = row.get(1)?;
                let n = u64::try_from(n).unwrap_or(0);
                match row.get::<_, i64>(0)? {
                    PENDING => stats.pending = n,
                    IN_FLIGHT => stats.in_flight = n,
                    _ => stats.dead = n,
                }
            }
            Ok(stats)
        })
        .await
    }
}
