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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Fluxer;
use crate::error::{Error, Result};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::model::Message;
use crate::ports::{Email, FollowupKind, Has, Job, MessageDocument, MessageFollowup, NewJob};
use crate::time::Timestamp;

/// Messages per index job at most.
const INDEX_BATCH: usize = 256;

/// Follow-ups [`Fluxer::run_followups`] claims from the store at most.
pub const FOLLOWUP_BATCH: u32 = 256;

/// Claims of a follow-up before it moves to the job queue: there its retries back off, and one
/// that never succeeds ends in the dead letters instead of being claimed again forever.
const FOLLOWUP_CLAIMS: u32 = 3;

/// What one [`Fluxer::run_followups`] did.
#[derive(Debug, Default)]
pub struct FollowupRun {
    /// Follow-ups claimed: [`FOLLOWUP_BATCH`] means more may be due.
    pub claimed: usize,
    /// Messages indexed whose writes the search index has not committed yet: to clear with
    /// [`Fluxer::clear_followups`] once a commit holds them (until then they stay claimed, and
    /// run again if their lease ends first).
    pub indexed: Vec<(MessageId, FollowupKind)>,
    /// What failed, if anything did; the follow-ups it concerned run again once their lease ends.
    pub error: Option<Error>,
}

/// A job this crate enqueues and runs, typed. On the [`Queue`](crate::ports::Queue) port it
/// travels as a [`NewJob`] whose `kind` is [`Task::kind`] and whose payload is the variant's fields
/// as JSON; [`Task::from_job`] reads it back. Every handler is idempotent (delivery is at least once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Task {
    /// Sends an email.
    SendEmail(Email),
    /// Reads each message from the store and indexes it, or removes it from the index when it no
    /// longer exists.
    IndexMessages {
        /// The messages, by channel and ID; at most 256 per job when the use-cases enqueue them.
        messages: Vec<(ChannelId, MessageId)>,
    },
    /// Removes messages from the index.
    UnindexMessages {
        /// The messages to remove; IDs not in the index are skipped.
        ids: Vec<MessageId>,
    },
    /// Refreshes guilds' discovery entries.
    IndexGuilds {
        /// The guilds; those gone or no longer discoverable leave the index.
        ids: Vec<GuildId>,
    },
    /// Refreshes users' names in the index.
    IndexUsers {
        /// The users; deleted accounts leave the index.
        ids: Vec<UserId>,
    },
    /// Builds a user's data export.
    HarvestUserData {
        /// The user whose data is exported.
        user_id: UserId,
        /// The export to build, as `request_harvest` recorded it.
        harvest_id: String,
    },
    /// Removes stored files (a deleted message's attachments, a replaced avatar).
    DeleteBlobs {
        /// Blob-store keys (`attachments/...`, `avatars/...`); skipped when the instance has no
        /// blob store.
        keys: Vec<String>,
    },
    /// Scheduled: removes attachments whose channel no longer exists.
    CleanupAttachments,
    /// Scheduled: erases accounts whose deletion grace period is over.
    PurgeDeletedAccounts,
    /// Scheduled: ends sessions unused for a long time.
    ExpireSessions,
    /// Scheduled: deletes invites past their expiry or use limit, and audit log entries past
    /// their retention.
    ExpireInvites,
    /// Scheduled: deletes data exports past their download window.
    ExpireHarvests,
    /// Posts a scheduled message at its time (queued to run then), if it is still pending for
    /// that time.
    SendScheduledMessage {
        /// Its author.
        user_id: UserId,
        /// The scheduled message.
        scheduled_message_id: MessageId,
        /// The instant it was queued for; a message rescheduled since is left to its newer job.
        expected_scheduled_at: Timestamp,
    },
    /// Deletes every message a user wrote (queued to run at the deletion's time), if that
    /// deletion is still the pending one.
    PurgeUserMessages {
        /// The author.
        user_id: UserId,
        /// The deletion's time: messages written until then go.
        scheduled_at: Timestamp,
    },
    /// Previews the links of a message (see `service::unfurl`).
    ExtractEmbeds {
        /// Its channel.
        channel_id: ChannelId,
        /// The message.
        message_id: MessageId,
    },
    /// [`Task::PushMessages`] for one message, as versions before it queued them; still run, so
    /// that jobs queued before an upgrade are not lost.
    PushMessage {
        /// Its channel.
        channel_id: ChannelId,
        /// The message.
        message_id: MessageId,
    },
    /// Sends one Web Push notification to one subscription; retried (with the queue's backoff)
    /// while the push service answers 429 or 5xx.
    SendPush {
        /// The subscriber.
        user_id: UserId,
        /// Their subscription; gone ones are skipped.
        subscription_id: String,
        /// The notification, upstream's JSON as the service worker reads it.
        payload: String,
        /// Delivered with `Urgency: high` (a DM or a mention) rather than `normal`.
        urgent: bool,
    },
    /// Deletes the listed messages of one author for staff (`/admin/messages/shred`), keeping
    /// the job's progress where `/admin/messages/shred-status` reads it; run once, not retried.
    ShredMessages {
        /// The job, as `/admin/messages/shred` answered it.
        job_id: String,
        /// The author: messages by anyone else are skipped.
        user_id: UserId,
        /// The messages, by channel.
        entries: Vec<(ChannelId, MessageId)>,
    },
    /// Sends an approved system DM job (`/admin/system-dm-jobs`); a job no longer `approved` is
    /// skipped, so a retry never sends twice.
    SendSystemDm {
        /// The job.
        job_id: String,
    },
    /// Builds a staff archive of a user's or a guild's data (`/admin/archives/*`).
    BuildArchive {
        /// User or guild.
        subject_type: super::admin_archives::ArchiveSubject,
        /// The user or guild.
        subject_id: u64,
        /// The archive, as `/admin/archives/{user,guild}` answered it.
        archive_id: String,
    },
    /// Decides who gets a Web Push notification of each of these new messages and queues a
    /// [`Task::SendPush`] for each of their subscriptions (see `service::push`). New messages'
    /// fan-outs run from the store's outbox ([`Fluxer::run_followups`]); this job is for those
    /// without a queue (run inline) and for outbox rows that failed too often.
    PushMessages {
        /// (channel, message) pairs.
        messages: Vec<(ChannelId, MessageId)>,
    },
}

impl Task {
    /// Every kind, as the queue names it.
    pub const KINDS: &[&str] = &[
        "send_email",
        "index_messages",
        "unindex_messages",
        "index_guilds",
        "index_users",
        "harvest_user_data",
        "delete_blobs",
        "cleanup_attachments",
        "purge_deleted_accounts",
        "expire_sessions",
        "expire_invites",
        "expire_harvests",
        "send_scheduled_message",
        "purge_user_messages",
        "extract_embeds",
        "push_message",
        "send_push",
        "shred_messages",
        "send_system_dm",
        "build_archive",
        "push_messages",
    ];

    /// The kind, as the queue names it (the serde tag).
    pub fn kind(&self) -> &'static str {
        let i = match self {
            Task::SendEmail(_) => 0,
            Task::IndexMessages { .. } => 1,
            Task::UnindexMessages { .. } => 2,
            Task::IndexGuilds { .. } => 3,
            Task::IndexUsers { .. } => 4,
            Task::HarvestUserData { .. } => 5,
            Task::DeleteBlobs { .. } => 6,
            Task::CleanupAttachments => 7,
            Task::PurgeDeletedAccounts => 8,
            Task::ExpireSessions => 9,
            Task::ExpireInvites => 10,
            Task::ExpireHarvests => 11,
            Task::SendScheduledMessage { .. } => 12,
            Task::PurgeUserMessages { .. } => 13,
            Task::ExtractEmbeds { .. } => 14,
            Task::PushMessage { .. } => 15,
            Task::SendPush { .. } => 16,
            Task::ShredMessages { .. } => 17,
            Task::SendSystemDm { .. } => 18,
            Task::BuildArchive { .. } => 19,
            Task::PushMessages { .. } => 20,
        };
        Self::KINDS[i]
    }

    /// Whether running it writes to the search index (which the worker then commits).
    pub fn writes_search(&self) -> bool {
        matches!(
            self,
            Task::IndexMessages { .. }
                | Task::UnindexMessages { .. }
                | Task::IndexGuilds { .. }
                | Task::IndexUsers { .. }
        )
    }

    /// The job to enqueue.
    pub fn to_job(&self) -> NewJob {
        let mut payload = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(fields) = payload.as_object_mut() {
            fields.remove("kind");
        }
        NewJob::new(self.kind(), payload)
    }

    /// The task a reserved job carries.
    pub fn from_job(job: &Job) -> std::result::Result<Task, JobError> {
        if !Self::KINDS.contains(&job.kind.as_str()) {
            return Err(JobError::UnknownKind(job.kind.clone()));
        }
        let mut tagged = match &job.payload {
            Value::Object(fields) => fields.clone(),
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(JobError::BadPayload(format!(
                    "expected an object, got {other}"
                )));
            }
        };
        tagged.insert("kind".to_owned(), Value::String(job.kind.clone()));
        serde_json::from_value(Value::Object(tagged))
            .map_err(|e| JobError::BadPayload(e.to_string()))
    }
}

/// Scheduled jobs: what runs, and how often. A worker enqueues each once per period (across nodes,
/// once per period in all: the worker takes a cache lock per slot).
pub mod cron {
    use super::{Duration, Task};

    /// Each scheduled task with its period.
    pub const SCHEDULE: &[(Task, Duration)] = &[
        (Task::ExpireInvites, Duration::from_secs(10 * 60)),
        (Task::ExpireHarvests, Duration::from_secs(60 * 60)),
        (Task::CleanupAttachments, Duration::from_secs(6 * 60 * 60)),
        (Task::PurgeDeletedAccounts, Duration::from_secs(60 * 60)),
        (Task::ExpireSessions, Duration::from_secs(6 * 60 * 60)),
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

/// `messages` grouped by channel, in the order each channel first appears.
pub(crate) fn by_channel(messages: &[(ChannelId, MessageId)]) -> Vec<(ChannelId, Vec<MessageId>)> {
    let mut grouped: Vec<(ChannelId, Vec<MessageId>)> = Vec::new();
    for &(channel, id) in messages {
        match grouped.iter_mut().find(|(c, _)| *c == channel) {
            Some((_, ids)) => ids.push(id),
            None => grouped.push((channel, vec![id])),
        }
    }
    grouped
}

/// What a write of one message leaves to the queue: indexing it, and (for a new message without a
/// queue, run inline) the Web Push fan-out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Followup {
    pub(crate) channel_id: ChannelId,
    pub(crate) message_id: MessageId,
    /// (Re)index it (when search is enabled).
    pub(crate) index: bool,
    /// Notify those away (when this instance sends Web Push).
    pub(crate) push: bool,
}

impl Fluxer {
    /// Queues a job, or runs it now when there is no queue. A failure to enqueue is the caller's
    /// failure (nothing was promised yet); a failure of the inline run is too. Boxed because a job may
    /// enqueue another (an export sends its email), which recurses when jobs run inline.
    pub(crate) fn enqueue<'a>(
        &'a self,
        task: Task,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(queue) = &self.ports().queue {
                queue.enqueue(task.to_job()).await?;
                return Ok(());
            }
            let writes_search = task.writes_search();
            match self.run_task(task).await {
                Ok(()) => {}
                Err(JobError::Failed(e)) => return Err(e),
                Err(e) => return Err(Error::Internal(e.to_string())),
            }
            if writes_search && let Some(search) = &self.ports().search {
                search.commit().await?;
            }
            Ok(())
        })
    }

    /// Queues several jobs in one round trip to the queue (or runs each now when there is none).
    pub(crate) async fn enqueue_all(&self, tasks: Vec<Task>) -> Result<()> {
        if let Some(queue) = &self.ports().queue {
            queue
                .enqueue_many(tasks.iter().map(Task::to_job).collect())
                .await?;
            return Ok(());
        }
        for task in tasks {
            self.enqueue(task).await?;
        }
        Ok(())
    }

    /// Sends an email through the queue (or at once without one).
    pub(crate) async fn send_email(&self, email: Email) -> Result<()> {
        self.enqueue(Task::SendEmail(email)).await
    }

    /// Stores a new message with what follows it: its indexing (when search is enabled) and, when
    /// `push`, the Web Push fan-out (when this instance sends any). With a queue (and so a worker)
    /// they go into the store's outbox in the message's own transaction (the fan-out only while
    /// anyone has a push subscription: see [`FollowupKind::Push`]), for the worker to run
    /// (see [`run_followups`](Self::run_followups)): the request waits for one commit, and a crash
    /// after it loses neither. Without one they run inline after the insert.
    pub(crate) async fn store_new_message(&self, message: &Message, push: bool) -> Result<()> {
        let index = self.ports().search.is_some();
        let push = push && self.ports().push.is_some();
        let kinds: &[FollowupKind] = match (index, push) {
            (true, true) => &[FollowupKind::Index, FollowupKind::Push],
            (true, false) => &[FollowupKind::Index],
            (false, true) => &[FollowupKind::Push],
            (false, false) => &[],
        };
        if self.ports().queue.is_none() || kinds.is_empty() {
            self.store().insert_message(message).await?;
            self.follow_up_later(&[Followup {
                channel_id: message.channel_id,
                message_id: message.id,
                index,
                push,
            }])
            .await;
            return Ok(());
        }
        self.store().insert_message_with(message, kinds).await?;
        self.inner.followups_stored.notify_one();
        Ok(())
    }

    /// Returns once a message was stored with follow-ups since the last call returned (at once if
    /// one was): what a worker waits for between [`run_followups`](Self::run_followups).
    pub async fn followups_stored(&self) {
        self.inner.followups_stored.notified().await;
    }

    /// Runs up to [`FOLLOWUP_BATCH`] due follow-ups of new messages from the store's outbox,
    /// claimed for `lease_ms`: indexes those messages (without committing; see
    /// [`FollowupRun::indexed`]) and fans out their Web Push notifications, in one pass for the
    /// batch. A follow-up claimed [`FOLLOWUP_CLAIMS`] times already (it failed, or its worker
    /// died) moves to the job queue instead. An error of the store's claim is returned; what
    /// fails after it is in [`FollowupRun::error`].
    pub async fn run_followups(&self, now: Timestamp, lease_ms: u64) -> Result<FollowupRun> {
        let claimed = self
            .store()
            .claim_followups(now, lease_ms, FOLLOWUP_BATCH)
            .await?;
        let mut run = FollowupRun {
            claimed: claimed.len(),
            ..FollowupRun::default()
        };
        let (stuck, fresh): (Vec<MessageFollowup>, Vec<MessageFollowup>) = claimed
            .into_iter()
            .partition(|f| f.attempts > FOLLOWUP_CLAIMS);
        let keys = |of: &[MessageFollowup], kind: Option<FollowupKind>| -> Vec<_> {
            of.iter()
                .filter(|f| kind.is_none_or(|k| f.kind == k))
                .map(|f| (f.message_id, f.kind))
                .collect()
        };
        if !stuck.is_empty() {
            // One job each: a message that cannot be followed up holds back no other.
            let tasks = stuck
                .iter()
                .map(|f| {
                    let messages = vec![(f.channel_id, f.message_id)];
                    match f.kind {
                        FollowupKind::Index => Task::IndexMessages { messages },
                        FollowupKind::Push => Task::PushMessages { messages },
                    }
                })
                .collect();
            let moved = async {
                self.enqueue_all(tasks).await?;
                self.clear_followups(&keys(&stuck, None)).await
            };
            if let Err(e) = moved.await {
                run.error = Some(e);
            }
        }
        let messages = |kind: FollowupKind| -> Vec<(ChannelId, MessageId)> {
            fresh
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| (f.channel_id, f.message_id))
                .collect()
        };
        let (to_index, to_push) = (messages(FollowupKind::Index), messages(FollowupKind::Push));
        if !to_push.is_empty() {
            // Channel by channel: a channel whose fan-out fails keeps its own follow-ups only, and
            // the others' notifications, queued already, are not queued again with them.
            let mut pushed = Vec::new();
            for (channel, ids) in by_channel(&to_push) {
                let of_channel: Vec<_> = ids.iter().map(|id| (channel, *id)).collect();
                match self.fan_out_push(&of_channel).await {
                    Ok(()) => pushed.extend(ids.into_iter().map(|id| (id, FollowupKind::Push))),
                    Err(e) => {
                        run.error.get_or_insert(e);
                    }
                }
            }
            if let Err(e) = self.clear_followups(&pushed).await {
                run.error.get_or_insert(e);
            }
        }
        if !to_index.is_empty() {
            let done = keys(&fresh, Some(FollowupKind::Index));
            match self.index_messages_now(&to_index).await {
                // Search was turned off since they were stored: nothing to wait for.
                Ok(()) if self.ports().search.is_none() => {
                    if let Err(e) = self.clear_followups(&done).await {
                        run.error.get_or_insert(e);
                    }
                }
                Ok(()) => run.indexed = done,
                Err(e) => {
                    run.error.get_or_insert(e);
                }
            }
        }
        Ok(run)
    }

    /// Removes follow-ups that are done from the store's outbox (see
    /// [`FollowupRun::indexed`]).
    pub async fn clear_followups(&self, done: &[(MessageId, FollowupKind)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        Ok(self.store().clear_followups(done).await?)
    }

    /// Queues (re)indexing of messages, when search is enabled; returns once they are queued. Never
    /// fails the caller's write: a message that misses the index is found again by `reindex`.
    pub(crate) async fn index_later(&self, messages: &[(ChannelId, MessageId)]) {
        let followups: Vec<Followup> = messages
            .iter()
            .map(|&(channel_id, message_id)| Followup {
                channel_id,
                message_id,
                index: true,
                push: false,
            })
            .collect();
        self.follow_up_later(&followups).await;
    }

    /// Queues what follows a write of messages: indexing (when search is enabled) and the Web Push
    /// fan-out (when this instance sends any; new messages with a queue leave theirs in the
    /// store's outbox instead, see [`store_new_message`](Self::store_new_message)); returns once
    /// queued. Never fails the caller's write: a message that misses the index is found again by
    /// `reindex`, and a notification that cannot be queued is a notification missed. Messages from
    /// concurrent callers share one job of each kind (see `coalesce`), so a burst of writes costs a
    /// few queue writes rather than two per message.
    pub(crate) async fn follow_up_later(&self, followups: &[Followup]) {
        let index = self.ports().search.is_some();
        let push = self.ports().push.is_some();
        let wanted = followups
            .iter()
            .map(|f| Followup {
                index: f.index && index,
                push: f.push && push,
                ..*f
            })
            .filter(|f| f.index || f.push)
            .collect::<Vec<_>>();
        if wanted.is_empty() {
            return;
        }
        let Some(mut lead) = self.inner.followups.submit(wanted).await else {
            return;
        };
        loop {
            let messages = |wanted: fn(&Followup) -> bool| -> Vec<(ChannelId, MessageId)> {
                lead.batch()
                    .iter()
                    .filter(|f| wanted(f))
                    .map(|f| (f.channel_id, f.message_id))
                    .collect()
            };
            let (to_index, to_push) = (messages(|f| f.index), messages(|f| f.push));
            let tasks = to_index
                .chunks(INDEX_BATCH)
                .map(|chunk| Task::IndexMessages {
                    messages: chunk.to_vec(),
                })
                .chain(to_push.chunks(INDEX_BATCH).map(|chunk| Task::PushMessages {
                    messages: chunk.to_vec(),
                }))
                .collect();
            let _ = self.enqueue_all(tasks).await;
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
            .enqueue(Task::UnindexMessages { ids: ids.to_vec() })
            .await;
    }

    /// Runs one job: what a worker calls for each job it reserves.
    pub async fn run_job(&self, job: &Job) -> std::result::Result<(), JobError> {
        self.run_task(Task::from_job(job)?).await
    }

    /// Runs one task.
    pub async fn run_task(&self, task: Task) -> std::result::Result<(), JobError> {
        match task {
            Task::SendEmail(email) => match self.ports().mailer.send(&email).await {
                Ok(()) => {}
                // The address is dead: retrying cannot help, and its owner should learn of it.
                Err(crate::StoreError::Refused { .. }) => {
                    self.mark_email_bounced(&email.to).await?
                }
                Err(e) => return Err(Error::from(e).into()),
            },
            Task::IndexMessages { messages } => {
                self.index_messages_now(&messages).await?;
            }
            Task::UnindexMessages { ids } => {
                if let Some(search) = &self.ports().search {
                    search.delete_messages(&ids).await.map_err(Error::from)?;
                }
            }
            Task::IndexGuilds { ids } => {
                self.index_guilds_now(&ids).await?;
            }
            Task::IndexUsers { ids } => {
                self.index_users_now(&ids).await?;
            }
            Task::HarvestUserData {
                user_id,
                harvest_id,
            } => {
                self.build_harvest(user_id, &harvest_id).await?;
            }
            Task::DeleteBlobs { keys } => {
                if let Some(blobs) = &self.ports().blobs {
                    for key in &keys {
                        blobs.delete(key).await.map_err(Error::from)?;
                    }
                }
            }
            Task::CleanupAttachments => {
                self.cleanup_orphaned_attachments().await?;
            }
            Task::ExpireInvites => {
                self.store()
                    .delete_expired_invites(self.now())
                    .await
                    .map_err(Error::from)?;
                self.expire_audit_log().await?;
            }
            Task::PurgeDeletedAccounts => {
                self.purge_deleted_accounts().await?;
            }
            Task::ExpireSessions => {
                self.expire_idle_sessions().await?;
            }
            Task::ExpireHarvests => {
                self.expire_harvests().await?;
            }
            Task::SendScheduledMessage {
                user_id,
                scheduled_message_id,
                expected_scheduled_at,
            } => {
                self.send_scheduled_message(user_id, scheduled_message_id, expected_scheduled_at)
                    .await?;
            }
            Task::PurgeUserMessages {
                user_id,
                scheduled_at,
            } => {
                self.purge_user_messages(user_id, scheduled_at).await?;
            }
            Task::ExtractEmbeds {
                channel_id,
                message_id,
            } => {
                self.extract_embeds(channel_id, message_id).await?;
            }
            Task::PushMessage {
                channel_id,
                message_id,
            } => {
                self.fan_out_push(&[(channel_id, message_id)]).await?;
            }
            Task::PushMessages { messages } => {
                self.fan_out_push(&messages).await?;
            }
            Task::SendPush {
                user_id,
                subscription_id,
                payload,
                urgent,
            } => {
                self.deliver_push(user_id, &subscription_id, &payload, urgent)
                    .await?;
            }
            Task::ShredMessages {
                job_id,
                user_id,
                entries,
            } => {
                self.run_message_shred(&job_id, user_id, &entries).await;
            }
            Task::SendSystemDm { job_id } => {
                self.run_system_dm(&job_id).await?;
            }
            Task::BuildArchive {
                subject_type,
                subject_id,
                archive_id,
            } => {
                self.build_archive(subject_type, subject_id, &archive_id)
                    .await?;
            }
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
        // One read per channel: a batch is mostly a few busy channels' messages.
        for (channel, ids) in by_channel(messages) {
            let found = self.store().get_messages(channel, &ids).await?;
            let found_ids: std::collections::HashSet<MessageId> =
                found.iter().map(|m| m.id).collect();
            gone.extend(ids.into_iter().filter(|id| !found_ids.contains(id)));
            docs.extend(found.iter().map(message_document));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved(kind: &str, payload: Value) -> Job {
        Job {
            id: "1".to_owned(),
            kind: kind.to_owned(),
            payload,
            attempts: 1,
            max_attempts: 5,
            state: crate::ports::JobState::InFlight,
            last_error: None,
        }
    }

    #[test]
    fn tasks_round_trip_through_queue_jobs() {
        let tasks = [
            Task::IndexMessages {
                messages: vec![(ChannelId::new(1), MessageId::new(2))],
            },
            Task::PushMessages {
                messages: vec![(ChannelId::new(1), MessageId::new(2))],
            },
            Task::ShredMessages {
                job_id: "7".to_owned(),
                user_id: UserId::new(3),
                entries: vec![(ChannelId::new(1), MessageId::new(2))],
            },
            Task::SendSystemDm {
                job_id: "8".to_owned(),
            },
            Task::BuildArchive {
                subject_type: crate::service::ArchiveSubject::Guild,
                subject_id: 9,
                archive_id: "10".to_owned(),
            },
            Task::HarvestUserData {
                user_id: UserId::new(3),
                harvest_id: "h".to_owned(),
            },
            Task::ExpireInvites,
            Task::SendEmail(Email {
                to: "a@example.com".to_owned(),
                subject: "s".to_owned(),
                text: "t".to_owned(),
                html: None,
            }),
        ];
        for task in tasks {
            let job = task.to_job();
            assert_eq!(job.kind, task.kind());
            assert!(
                job.payload.get("kind").is_none(),
                "the kind is not repeated"
            );
            let back = Task::from_job(&reserved(&job.kind, job.payload)).unwrap();
            assert_eq!(back, task);
        }
        // The serde tags and the queue's names are one list.
        for kind in Task::KINDS {
            if let Ok(task) = serde_json::from_value::<Task>(serde_json::json!({ "kind": kind })) {
                assert_eq!(task.kind(), *kind);
            }
        }
    }

    #[test]
    fn unknown_kinds_and_bad_payloads_are_permanent_failures() {
        let unknown = Task::from_job(&reserved("no_such_job", Value::Null)).unwrap_err();
        assert!(matches!(unknown, JobError::UnknownKind(_)) && unknown.is_permanent());
        let bad = Task::from_job(&reserved(
            Task::ExpireInvites.kind(),
            serde_json::json!([1]),
        ))
        .unwrap_err();
        assert!(matches!(bad, JobError::BadPayload(_)) && bad.is_permanent());
        let ids = Task::IndexUsers { ids: vec![] }.kind();
        let bad = Task::from_job(&reserved(ids, serde_json::json!({ "ids": "nope" }))).unwrap_err();
        assert!(matches!(bad, JobError::BadPayload(_)));
    }
}
