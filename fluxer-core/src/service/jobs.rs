//! Background work: the jobs the use-cases enqueue, and how a worker runs one.
//!
//! A use-case that has slow or retryable work to do (send an email, index a message, build a data
//! export) enqueues a job on the [`Queue`](crate::ports::Queue) port; a worker (the monolith runs one
//! in-process, `fluxer-worker` runs them across nodes; see `fluxer::worker`) reserves it and calls
//! [`Fluxer::run_job`]. Delivery is at least once, so every handler is idempotent: indexing replaces
//! the document, unindexing a missing one is a no-op, an export writes the same keys again, and an
//! email may at worst arrive twice.
//!
//! Without a queue in the [`Ports`](super::Ports) the job runs inline, inside the request that caused
//! it (and a search index is committed at once), which is what a test or a tiny embedding wants.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Fluxer;
use crate::error::{Error, Result};
use crate::id::{ChannelId, MessageId, UserId};
use crate::model::Message;
use crate::ports::{Email, Has, Job, MessageDocument, NewJob};

/// Messages per index job at most.
const INDEX_BATCH: usize = 256;

/// The job kinds this crate enqueues and runs.
pub mod kinds {
    /// Payload: an [`Email`](crate::ports::Email).
    pub const SEND_EMAIL: &str = "send_email";
    /// Payload: `{"messages": [[channel_id, message_id], ...]}`; each is read from the store and indexed,
    /// or removed from the index when it no longer exists.
    pub const INDEX_MESSAGES: &str = "index_messages";
    /// Payload: `{"ids": [message_id, ...]}`.
    pub const UNINDEX_MESSAGES: &str = "unindex_messages";
    /// Payload: `{"ids": [guild_id, ...]}`: refreshes guilds' discovery entries.
    pub const INDEX_GUILDS: &str = "index_guilds";
    /// Payload: `{"ids": [user_id, ...]}`: refreshes users' names in the index.
    pub const INDEX_USERS: &str = "index_users";
    /// Payload: `{"user_id", "harvest_id"}`: builds a user's data export.
    pub const HARVEST_USER_DATA: &str = "harvest_user_data";
    /// Payload: `{"keys": [blob_key, ...]}`: removes stored files (a deleted message's attachments,
    /// a replaced avatar).
    pub const DELETE_BLOBS: &str = "delete_blobs";
    /// Cron: removes attachments whose channel no longer exists.
    pub const CLEANUP_ATTACHMENTS: &str = "cleanup_attachments";
    /// Cron: erases accounts whose deletion grace period is over.
    pub const PURGE_DELETED_ACCOUNTS: &str = "purge_deleted_accounts";
    /// Cron: ends sessions unused for a long time.
    pub const EXPIRE_SESSIONS: &str = "expire_sessions";
    /// Cron: deletes invites past their expiry or use limit.
    pub const EXPIRE_INVITES: &str = "expire_invites";
    /// Cron: deletes data exports past their download window.
    pub const EXPIRE_HARVESTS: &str = "expire_harvests";
}

/// Scheduled jobs: what runs, and how often. A worker enqueues each kind once per period (across
/// nodes, once per period in all: the worker takes a cache lock per slot).
pub mod cron {
    use super::{Duration, kinds};

    pub const SCHEDULE: &[(&str, Duration)] = &[
        (kinds::EXPIRE_INVITES, Duration::from_secs(10 * 60)),
        (kinds::EXPIRE_HARVESTS, Duration::from_secs(60 * 60)),
        (kinds::CLEANUP_ATTACHMENTS, Duration::from_secs(6 * 60 * 60)),
        (kinds::PURGE_DELETED_ACCOUNTS, Duration::from_secs(60 * 60)),
        (kinds::EXPIRE_SESSIONS, Duration::from_secs(6 * 60 * 60)),
    ];
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No handler for this kind: retrying will not help.
    #[error("no handler for job kind `{0}`")]
    UnknownKind(String),
    /// The payload does not parse: retrying will not help.
    #[error("malformed payload: {0}")]
    BadPayload(String),
    /// The work failed (a backend was down, the SMTP server refused): retried with backoff.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl JobError {
    /// Whether retrying cannot succeed (the worker sends such a job to the dead letter at once).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, JobError::Failed(_))
    }
}

fn payload<T: for<'de> Deserialize<'de>>(v: &Value) -> std::result::Result<T, JobError> {
    serde_json::from_value(v.clone()).map_err(|e| JobError::BadPayload(e.to_string()))
}

#[derive(Deserialize)]
struct IndexPayload {
    messages: Vec<(ChannelId, MessageId)>,
}

#[derive(Deserialize)]
struct UnindexPayload {
    ids: Vec<MessageId>,
}

#[derive(Deserialize)]
struct IdsPayload<T> {
    ids: Vec<T>,
}

#[derive(Deserialize)]
struct BlobsPayload {
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct HarvestPayload {
    user_id: UserId,
    harvest_id: String,
}

/// The search document of a stored message.
pub(crate) fn message_document(m: &Message) -> MessageDocument {
    let mut has = Vec::new();
    let lower = m.content.to_ascii_lowercase();
    if lower.contains("http://") || lower.contains("https://") {
        has.push(Has::Link);
    }
    if !m.attachments.is_empty() {
        has.push(Has::File);
    }
    let kind_of = |prefix: &str| {
        m.attachments.iter().any(|a| {
            a.content_type
                .as_deref()
                .is_some_and(|t| t.starts_with(prefix))
        })
    };
    if kind_of("image/") {
        has.push(Has::Image);
    }
    if kind_of("video/") {
        has.push(Has::Video);
    }
    if !m.embeds.is_empty() {
        has.push(Has::Embed);
    }
    MessageDocument {
        id: m.id,
        channel_id: m.channel_id,
        guild_id: m.guild_id,
        author_id: m.author_id,
        content: m.content.clone(),
        timestamp: m.id.timestamp(),
        has,
        mentions: m.mention_ids.clone(),
        pinned: m.pinned_at.is_some(),
    }
}

impl Fluxer {
    /// Queues a job, or runs it now when there is no queue. A failure to enqueue is the caller's
    /// failure (nothing was promised yet); a failure of the inline run is too. Boxed because a job may
    /// enqueue another (an export sends its email), which recurses when jobs run inline.
    pub(crate) fn enqueue<'a>(
        &'a self,
        kind: &'a str,
        payload: Value,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(queue) = &self.ports().queue {
                queue.enqueue(NewJob::new(kind, payload)).await?;
                return Ok(());
            }
            match self.run(kind, &payload).await {
                Ok(()) => {}
                Err(JobError::Failed(e)) => return Err(e),
                Err(e) => return Err(Error::Internal(e.to_string())),
            }
            let indexing = matches!(
                kind,
                kinds::INDEX_MESSAGES
                    | kinds::UNINDEX_MESSAGES
                    | kinds::INDEX_GUILDS
                    | kinds::INDEX_USERS
            );
            if indexing && let Some(search) = &self.ports().search {
                search.commit().await?;
            }
            Ok(())
        })
    }

    /// Sends an email through the queue (or at once without one).
    pub(crate) async fn send_email(&self, email: Email) -> Result<()> {
        let payload = serde_json::to_value(&email).map_err(|e| Error::Internal(e.to_string()))?;
        self.enqueue(kinds::SEND_EMAIL, payload).await
    }

    /// Queues (re)indexing of messages, when search is enabled; returns once they are queued. Never
    /// fails the caller's write: a message that misses the index is found again by `reindex`.
    /// Messages from concurrent callers share one job (see `coalesce`).
    pub(crate) async fn index_later(&self, messages: &[(ChannelId, MessageId)]) {
        if self.ports().search.is_none() || messages.is_empty() {
            return;
        }
        let Some(mut lead) = self.inner.to_index.submit(messages.iter().copied()).await else {
            return;
        };
        loop {
            for chunk in lead.batch().chunks(INDEX_BATCH) {
                let _ = self
                    .enqueue(kinds::INDEX_MESSAGES, json!({ "messages": chunk }))
                    .await;
            }
            match lead.finish() {
                Some(next) => lead = next,
                None => return,
            }
        }
    }

    /// Queues removal from the index, when search is enabled.
    pub(crate) async fn unindex_later(&self, ids: &[MessageId]) {
        if self.ports().search.is_none() || ids.is_empty() {
            return;
        }
        let _ = self
            .enqueue(kinds::UNINDEX_MESSAGES, json!({ "ids": ids }))
            .await;
    }

    /// Runs one job: what a worker calls for each job it reserves.
    pub async fn run_job(&self, job: &Job) -> std::result::Result<(), JobError> {
        self.run(&job.kind, &job.payload).await
    }

    async fn run(&self, kind: &str, p: &Value) -> std::result::Result<(), JobError> {
        match kind {
            kinds::SEND_EMAIL => {
                let email: Email = payload(p)?;
                self.ports()
                    .mailer
                    .send(&email)
                    .await
                    .map_err(Error::from)?;
            }
            kinds::INDEX_MESSAGES => {
                let p: IndexPayload = payload(p)?;
                self.index_messages_now(&p.messages).await?;
            }
            kinds::UNINDEX_MESSAGES => {
                let p: UnindexPayload = payload(p)?;
                if let Some(search) = &self.ports().search {
                    search.delete_messages(&p.ids).await.map_err(Error::from)?;
                }
            }
            kinds::INDEX_GUILDS => {
                let p: IdsPayload<crate::id::GuildId> = payload(p)?;
                self.index_guilds_now(&p.ids).await?;
            }
            kinds::INDEX_USERS => {
                let p: IdsPayload<UserId> = payload(p)?;
                self.index_users_now(&p.ids).await?;
            }
            kinds::HARVEST_USER_DATA => {
                let p: HarvestPayload = payload(p)?;
                self.build_harvest(p.user_id, &p.harvest_id).await?;
            }
            kinds::DELETE_BLOBS => {
                let p: BlobsPayload = payload(p)?;
                if let Some(blobs) = &self.ports().blobs {
                    for key in &p.keys {
                        blobs.delete(key).await.map_err(Error::from)?;
                    }
                }
            }
            kinds::CLEANUP_ATTACHMENTS => {
                self.cleanup_orphaned_attachments().await?;
            }
            kinds::EXPIRE_INVITES => {
                self.store()
                    .delete_expired_invites(self.now())
                    .await
                    .map_err(Error::from)?;
            }
            kinds::PURGE_DELETED_ACCOUNTS => {
                self.purge_deleted_accounts().await?;
            }
            kinds::EXPIRE_SESSIONS => {
                self.expire_idle_sessions().await?;
            }
            kinds::EXPIRE_HARVESTS => {
                self.expire_harvests().await?;
            }
            other => return Err(JobError::UnknownKind(other.to_owned())),
        }
        Ok(())
    }

    /// Indexes the current state of these messages (without committing); deleted ones leave the index.
    pub async fn index_messages_now(&self, messages: &[(ChannelId, MessageId)]) -> Result<()> {
        let Some(search) = &self.ports().search else {
            return Ok(());
        };
        let mut docs = Vec::with_capacity(messages.len());
        let mut gone = Vec::new();
        for (channel, id) in messages {
            match self.store().get_message(*channel, *id).await? {
                Some(m) => docs.push(message_document(&m)),
                None => gone.push(*id),
            }
        }
        search.index_messages(&docs).await?;
        if !gone.is_empty() {
            search.delete_messages(&gone).await?;
        }
        Ok(())
    }

    /// The cron job: removes the files of channels that no longer exist (a deleted channel or guild
    /// takes its messages with it, and their files are found here).
    pub(crate) async fn cleanup_orphaned_attachments(&self) -> Result<()> {
        let Some(blobs) = self.ports().blobs.as_deref() else {
            return Ok(());
        };
        let mut checked: std::collections::HashMap<u64, bool> = std::collections::HashMap::new();
        for meta in blobs.list("attachments/").await? {
            let Some(channel) = meta
                .key
                .split('/')
                .nth(1)
                .and_then(|c| c.parse::<u64>().ok())
            else {
                continue;
            };
            let exists = match checked.get(&channel) {
                Some(e) => *e,
                None => {
                    let e = self
                        .store()
                        .get_channel(ChannelId::new(channel))
                        .await?
                        .is_some();
                    checked.insert(channel, e);
                    e
                }
            };
            if !exists {
                blobs.delete(&meta.key).await?;
            }
        }
        Ok(())
    }

    /// Indexes a batch of stored messages as they are (for `reindex`); returns how many.
    pub async fn index_stored_messages(&self, messages: &[Message]) -> Result<usize> {
        let Some(search) = &self.ports().search else {
            return Ok(0);
        };
        let docs: Vec<_> = messages.iter().map(message_document).collect();
        search.index_messages(&docs).await?;
        Ok(docs.len())
    }
}
