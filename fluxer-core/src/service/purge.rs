//! Deleting all of one's own messages (`/users/@me/messages/delete`), as upstream: asked for with
//! the password, carried out after a delay (a day by default) unless cancelled, announced on the
//! private user as `pending_bulk_message_deletion`.
//!
//! The worker deletes, in every channel the author can still reach (the channels of their guilds,
//! their DMs and group DMs), each message they wrote before the deletion's time, 100 at a time, with
//! its files, and tells each channel with `MESSAGE_DELETE_BULK`. Messages in guilds the author has
//! left are out of reach here: the store keeps no index by author.

use serde_json::json;

use super::jobs::Task;
use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{ChannelId, MessageId, UserId};
use crate::model::{Channel, PendingBulkDeletion, User};
use crate::ports::EventKind;
use crate::time::Timestamp;

/// Messages deleted per store call and per `MESSAGE_DELETE_BULK`.
const BATCH: usize = 100;

impl Fluxer {
    /// `POST /users/@me/messages/delete`: after the password check, schedules the deletion (a new
    /// request restarts the delay) and publishes `USER_UPDATE` with what it will take.
    pub async fn request_message_purge(
        &self,
        actor: &Actor,
        password: Option<&str>,
    ) -> Result<User> {
        actor.require_person("Bots cannot delete all their messages.")?;
        self.require_password(actor, password).await?;
        let Some(queue) = &self.ports().queue else {
            return Err(Error::Unavailable {
                code: "BULK_MESSAGE_DELETION_UNAVAILABLE",
                message: "Deleting all messages needs a job queue.".into(),
            });
        };
        let scheduled_at = self
            .now()
            .plus_secs(self.config().message_deletion_delay_secs);
        let (mut channel_count, mut message_count) = (0u64, 0u64);
        for channel in self.reachable_channels(actor.id()).await? {
            let mine = self
                .own_message_ids(channel.id, actor.id(), scheduled_at)
                .await?;
            if !mine.is_empty() {
                channel_count += 1;
                message_count += mine.len() as u64;
            }
        }
        let mut user = self.fresh_user(actor.id()).await?;
        user.pending_bulk_message_deletion = Some(PendingBulkDeletion {
            scheduled_at,
            channel_count,
            message_count,
        });
        self.store().update_user(&user).await?;
        let mut job = Task::PurgeUserMessages {
            user_id: user.id,
            scheduled_at,
        }
        .to_job();
        job.run_at = Some(scheduled_at);
        queue.enqueue(job).await?;
        self.emit_user_update(&user).await;
        Ok(user)
    }

    /// `DELETE /users/@me/messages/delete`: cancels a pending deletion (also when none is pending)
    /// and publishes `USER_UPDATE`.
    pub async fn cancel_message_purge(&self, actor: &Actor) -> Result<()> {
        actor.require_person("Bots cannot delete all their messages.")?;
        let mut user = self.fresh_user(actor.id()).await?;
        if user.pending_bulk_message_deletion.take().is_some() {
            self.store().update_user(&user).await?;
        }
        self.emit_user_update(&user).await;
        Ok(())
    }

    /// The job: deletes the author's messages written up to `scheduled_at`, if that deletion is
    /// still the pending one (a cancelled or re-requested deletion's job does nothing), then clears
    /// it. Safe to run again: what is gone is not found twice.
    pub(crate) async fn purge_user_messages(
        &self,
        user: UserId,
        scheduled_at: Timestamp,
    ) -> Result<()> {
        let Some(account) = self.store().get_user(user).await? else {
            return Ok(());
        };
        if account
            .pending_bulk_message_deletion
            .as_ref()
            .is_none_or(|p| p.scheduled_at != scheduled_at)
        {
            return Ok(());
        }
        for channel in self.reachable_channels(user).await? {
            let mine = self.own_message_ids(channel.id, user, scheduled_at).await?;
            for ids in mine.chunks(BATCH) {
                self.purge_batch(&channel, ids).await?;
            }
        }
        let mut account = self.fresh_user(user).await?;
        if account
            .pending_bulk_message_deletion
            .as_ref()
            .is_some_and(|p| p.scheduled_at == scheduled_at)
        {
            account.pending_bulk_message_deletion = None;
            self.store().update_user(&account).await?;
        }
        Ok(())
    }

    pub(crate) async fn purge_batch(&self, channel: &Channel, ids: &[MessageId]) -> Result<()> {
        let mut with_files = Vec::new();
        for id in ids {
            if let Some(m) = self.store().get_message(channel.id, *id).await?
                && !m.attachments.is_empty()
            {
                with_files.push(m);
            }
        }
        let deleted = self.store().delete_messages(channel.id, ids).await?;
        if deleted.is_empty() {
            return Ok(());
        }
        self.unindex_later(&deleted).await;
        with_files.retain(|m| deleted.contains(&m.id));
        self.delete_message_files(&with_files).await;
        let payload =
            json!({ "ids": deleted, "channel_id": channel.id, "guild_id": channel.guild_id });
        self.emit_channel_event(EventKind::MessageDeleteBulk, channel, &payload)
            .await;
        Ok(())
    }

    /// The text channels of the user's guilds, and their DMs and group DMs.
    pub(crate) async fn reachable_channels(&self, user: UserId) -> Result<Vec<Channel>> {
        let mut channels = Vec::new();
        for guild in self.store().list_user_guild_ids(user).await? {
            channels.extend(self.store().list_guild_channels(guild).await?);
        }
        channels.extend(self.store().list_private_channels(user).await?);
        channels.retain(|c| c.kind.is_text());
        Ok(channels)
    }

    /// The IDs of the messages `author` wrote in `channel` up to `until` (not through a webhook).
    async fn own_message_ids(
        &self,
        channel: ChannelId,
        author: UserId,
        until: Timestamp,
    ) -> Result<Vec<MessageId>> {
        let mine = self.authored_messages(channel, author, Some(until)).await?;
        Ok(mine.iter().map(|m| m.id).collect())
    }

    /// The account as stored now (the actor's copy may predate a concurrent change).
    async fn fresh_user(&self, id: UserId) -> Result<User> {
        self.store()
            .get_user(id)
            .await?
            .ok_or(Error::Unknown(crate::error::Unknown::User))
    }
}
