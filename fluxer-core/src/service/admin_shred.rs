//! Staff shredding a listed set of one author's messages (`/admin/messages/shred` and
//! `/shred-status`, upstream's paths and bodies). The request is checked and queued as a
//! [`Task::ShredMessages`] job, which any worker runs; its progress is kept in the cache for an hour
//! (as upstream), so any API node answers the status. Messages not found or by someone else are
//! counted as skipped; deletions publish `MESSAGE_DELETE_BULK` per channel batch as a moderator's
//! bulk deletion does.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AdminAction, AdminPrincipal, Fluxer, Task};
use crate::error::{Error, Result};
use crate::id::{ChannelId, MessageId, UserId};
use crate::model::acl;
use crate::time::Timestamp;
use crate::validation::Validator;

/// Most entries one shred takes (upstream's schema limit).
pub const MAX_SHRED_ENTRIES: usize = 1_000;
/// How long a job's status is kept (upstream: an hour).
const STATUS_TTL: Duration = Duration::from_secs(3600);
/// Messages checked, then deleted, per step; the status is saved after each.
const STEP: usize = 50;

/// One message to shred.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ShredEntry {
    /// Its channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
}

/// `POST /admin/messages/shred`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminMessageShred {
    /// The author whose messages go; others' are skipped.
    pub user_id: UserId,
    /// 1 to 1000 messages.
    pub entries: Vec<ShredEntry>,
}

/// What `/admin/messages/shred` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShredQueued {
    /// Always `true`.
    pub success: bool,
    /// The job, for `/admin/messages/shred-status`.
    pub job_id: String,
    /// How many entries were asked for.
    pub requested: usize,
}

/// A shred job's progress (`/admin/messages/shred-status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredStatus {
    /// `in_progress`, `completed` or `failed`.
    pub status: String,
    /// Entries asked for.
    pub requested: usize,
    /// Entries found to be the author's messages so far.
    pub total: usize,
    /// Messages deleted so far.
    pub processed: usize,
    /// Entries repeated, missing, or someone else's.
    pub skipped: usize,
    /// When it was queued.
    pub started_at: Timestamp,
    /// When it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// When it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Timestamp>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn status_key(job: &str) -> String {
    format!("admin:message-shred:{job}")
}

impl Fluxer {
    /// `POST /admin/messages/shred`: checks the request, records the job as `in_progress`, queues
    /// it and the staff action.
    pub async fn admin_queue_message_shred(
        &self,
        by: &AdminPrincipal,
        req: AdminMessageShred,
    ) -> Result<ShredQueued> {
        by.require(acl::MESSAGE_SHRED)?;
        let mut v = Validator::new();
        v.check(
            !req.entries.is_empty(),
            "entries",
            "AT_LEAST_ONE_ENTRY_IS_REQUIRED",
            "At least one entry is required.",
        );
        v.count("entries", req.entries.len(), MAX_SHRED_ENTRIES);
        v.finish()?;
        let job = self.next_id::<crate::id::Snowflake>().0.to_string();
        let status = ShredStatus {
            status: "in_progress".to_owned(),
            requested: req.entries.len(),
            total: 0,
            processed: 0,
            skipped: 0,
            started_at: self.now(),
            completed_at: None,
            failed_at: None,
            error: None,
        };
        self.save_shred_status(&job, &status).await?;
        let entries = req
            .entries
            .iter()
            .map(|e| (e.channel_id, e.message_id))
            .collect();
        self.enqueue(Task::ShredMessages {
            job_id: job.clone(),
            user_id: req.user_id,
            entries,
        })
        .await?;
        let entry = AdminAction::new("message.shred", "user", req.user_id)
            .with("job_id", &job)
            .with("requested_entries", req.entries.len());
        self.record_admin_action(by, entry).await?;
        Ok(ShredQueued {
            success: true,
            job_id: job,
            requested: req.entries.len(),
        })
    }

    /// `POST /admin/messages/shred-status`: `None` for an unknown or expired job.
    pub async fn admin_message_shred_status(
        &self,
        by: &AdminPrincipal,
        job: &str,
    ) -> Result<Option<ShredStatus>> {
        by.require(acl::MESSAGE_SHRED)?;
        if job.is_empty() || job.len() > 32 {
            return Ok(None);
        }
        let raw = self.ports().cache.get(&status_key(job)).await?;
        Ok(raw.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    async fn save_shred_status(&self, job: &str, status: &ShredStatus) -> Result<()> {
        let bytes = serde_json::to_vec(status).map_err(|e| Error::Internal(e.to_string()))?;
        self.ports()
            .cache
            .set(&status_key(job), &bytes, Some(STATUS_TTL))
            .await?;
        Ok(())
    }

    /// Runs a shred job: ends `completed`, or `failed` with the error's text (not retried, as
    /// upstream; running it again would skip what is gone).
    pub(crate) async fn run_message_shred(
        &self,
        job: &str,
        author: UserId,
        entries: &[(ChannelId, MessageId)],
    ) {
        let mut status = match self.ports().cache.get(&status_key(job)).await {
            Ok(Some(raw)) => match serde_json::from_slice::<ShredStatus>(&raw) {
                Ok(s) => s,
                Err(_) => return,
            },
            // Expired or never recorded: nobody is waiting for it.
            _ => return,
        };
        match self.shred(job, author, entries, &mut status).await {
            Ok(()) => {
                status.status = "completed".to_owned();
                status.completed_at = Some(self.now());
            }
            Err(e) => {
                tracing::warn!(job, error = %crate::error::chain(&e), "message shred failed");
                status.status = "failed".to_owned();
                status.failed_at = Some(self.now());
                status.error = Some(e.to_string());
            }
        }
        let _ = self.save_shred_status(job, &status).await;
    }

    async fn shred(
        &self,
        job: &str,
        author: UserId,
        entries: &[(ChannelId, MessageId)],
        status: &mut ShredStatus,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        for step in entries.chunks(STEP) {
            let mut by_channel: BTreeMap<ChannelId, Vec<MessageId>> = BTreeMap::new();
            for &(channel, id) in step {
                if !seen.insert((channel, id)) {
                    status.skipped += 1;
                    continue;
                }
                match self.store().get_message(channel, id).await? {
                    Some(m) if m.author_id == author => {
                        by_channel.entry(channel).or_default().push(id)
                    }
                    _ => status.skipped += 1,
                }
            }
            for (channel_id, ids) in by_channel {
                status.total += ids.len();
                let Some(channel) = self.store().get_channel(channel_id).await? else {
                    status.skipped += ids.len();
                    continue;
                };
                self.purge_batch(&channel, &ids).await?;
                status.processed += ids.len();
            }
            self.save_shred_status(job, status).await?;
        }
        Ok(())
    }
}
