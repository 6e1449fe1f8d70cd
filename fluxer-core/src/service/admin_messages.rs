//! Staff looking messages up and deleting them (`/admin/messages/*`, upstream's paths and bodies):
//! a message with its neighbours, a message by one of its files, one deletion, and the deletion of
//! everything a user wrote. Deletions publish what a moderator's deletion publishes
//! (`MESSAGE_DELETE`, `MESSAGE_DELETE_BULK`) and leave an admin audit entry; a report filed about
//! a deleted message keeps its own copy (see `reports`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Fluxer;
use super::admin_reports::ReportMessageView;
use super::{AdminAction, AdminPrincipal};
use crate::error::{Error, Result, Unknown};
use crate::id::{AttachmentId, ChannelId, MessageId, UserId};
use crate::model::Message;
use crate::model::acl;
use crate::ports::{EventKind, MessagePage};
use crate::validation::Validator;

/// Messages scanned after an attachment's upload time for the message that carries it.
const ATTACHMENT_SCAN: usize = 1_000;
/// Messages deleted per store call and `MESSAGE_DELETE_BULK`.
const DELETE_BATCH: usize = 100;

/// `POST /admin/messages/lookup`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminMessageLookup {
    /// The channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// 1 to 100 (default 50): messages around it, half on each side.
    pub context_limit: Option<u32>,
}

/// `POST /admin/messages/lookup-by-attachment`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminAttachmentLookup {
    /// The channel.
    pub channel_id: ChannelId,
    /// The file's ID.
    pub attachment_id: AttachmentId,
    /// The file's name.
    pub filename: String,
    /// 1 to 100 (default 50).
    pub context_limit: Option<u32>,
}

/// `POST /admin/messages/delete`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminMessageDelete {
    /// The channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
}

/// `POST /admin/messages/delete-all`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminDeleteAllMessages {
    /// The author.
    pub user_id: UserId,
    /// Only count what would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /admin/messages/lookup*`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct AdminMessageLookupResult {
    /// The message and its neighbours, oldest first.
    pub messages: Vec<ReportMessageView>,
    /// The message found (`null` when a file lookup found none).
    pub message_id: Option<MessageId>,
}

/// `POST /admin/messages/delete-all`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct AdminDeleteAllResult {
    /// Always true.
    pub success: bool,
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// Channels holding the user's messages.
    pub channel_count: usize,
    /// The user's messages (deleted, or that would be).
    pub message_count: usize,
}

fn context_limit(v: &mut Validator, limit: Option<u32>) -> u32 {
    let limit = limit.unwrap_or(50);
    v.range("context_limit", i64::from(limit), 1, 100);
    limit
}

impl Fluxer {
    /// `POST /admin/messages/lookup`: the message with up to `context_limit / 2` on each side;
    /// `UNKNOWN_CHANNEL` for no such channel. A missing message gives its neighbours only.
    pub async fn admin_lookup_message(
        &self,
        who: &AdminPrincipal,
        req: AdminMessageLookup,
    ) -> Result<AdminMessageLookupResult> {
        who.require(acl::MESSAGE_LOOKUP)?;
        let mut v = Validator::new();
        let limit = context_limit(&mut v, req.context_limit);
        v.finish()?;
        self.store()
            .get_channel(req.channel_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        let messages = self
            .admin_message_window(req.channel_id, req.message_id, limit / 2)
            .await?;
        Ok(AdminMessageLookupResult {
            messages,
            message_id: Some(req.message_id),
        })
    }

    async fn admin_message_window(
        &self,
        channel: ChannelId,
        id: MessageId,
        per_side: u32,
    ) -> Result<Vec<ReportMessageView>> {
        let store = self.store();
        let mut all: Vec<Message> = Vec::new();
        if per_side > 0 {
            all.extend(
                store
                    .list_messages(channel, MessagePage::Before(id), per_side)
                    .await?,
            );
            all.extend(
                store
                    .list_messages(channel, MessagePage::After(id), per_side)
                    .await?,
            );
        }
        all.extend(store.get_message(channel, id).await?);
        all.sort_by_key(|m| m.id);
        let authors: Vec<UserId> = all.iter().map(|m| m.author_id).collect();
        let users = self.user_partials(&authors).await?;
        Ok(all
            .iter()
            .map(|m| self.admin_message_view(m, users.get(&m.author_id)))
            .collect())
    }

    /// `POST /admin/messages/lookup-by-attachment`: the message carrying the file (looked for among
    /// the [`ATTACHMENT_SCAN`] messages sent after its upload), with its neighbours;
    /// `message_id: null` when none does.
    pub async fn admin_lookup_message_by_attachment(
        &self,
        who: &AdminPrincipal,
        req: AdminAttachmentLookup,
    ) -> Result<AdminMessageLookupResult> {
        who.require(acl::MESSAGE_LOOKUP)?;
        let mut v = Validator::new();
        let limit = context_limit(&mut v, req.context_limit);
        v.length("filename", &req.filename, 1, 255);
        v.finish()?;
        self.store()
            .get_channel(req.channel_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        // Files get their ID before the message that carries them is written.
        let mut cursor = MessageId::new(req.attachment_id.get().saturating_sub(1));
        let mut read = 0;
        let mut found = None;
        while read < ATTACHMENT_SCAN && found.is_none() {
            let mut page = self
                .store()
                .list_messages(req.channel_id, MessagePage::After(cursor), 100)
                .await?;
            if page.is_empty() {
                break;
            }
            read += page.len();
            page.sort_by_key(|m| m.id);
            cursor = page.last().map(|m| m.id).unwrap_or(cursor);
            found = page
                .iter()
                .find(|m| {
                    m.attachments
                        .iter()
                        .any(|a| a.id == req.attachment_id && a.filename == req.filename)
                })
                .map(|m| m.id);
        }
        let Some(id) = found else {
            return Ok(AdminMessageLookupResult {
                messages: Vec::new(),
                message_id: None,
            });
        };
        let messages = self
            .admin_message_window(req.channel_id, id, limit / 2)
            .await?;
        Ok(AdminMessageLookupResult {
            messages,
            message_id: Some(id),
        })
    }

    /// `POST /admin/messages/delete`: as a moderator's deletion (`MESSAGE_DELETE`, the files
    /// removed later); `UNKNOWN_MESSAGE` when there is none.
    pub async fn admin_delete_message(
        &self,
        by: &AdminPrincipal,
        req: AdminMessageDelete,
    ) -> Result<()> {
        let channel = self
            .store()
            .get_channel(req.channel_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        let message = self
            .store()
            .get_message(req.channel_id, req.message_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Message))?;
        if !self
            .store()
            .delete_message(req.channel_id, req.message_id)
            .await?
        {
            return Err(Error::Unknown(Unknown::Message));
        }
        self.unindex_later(&[message.id]).await;
        self.delete_message_files(std::slice::from_ref(&message))
            .await;
        let payload =
            json!({ "id": message.id, "channel_id": channel.id, "guild_id": channel.guild_id });
        self.emit_channel_event(EventKind::MessageDelete, &channel, &payload)
            .await;
        let entry = AdminAction::new("message.delete", "message", message.id)
            .with("channel_id", channel.id)
            .with("message_id", message.id)
            .with("author_id", message.author_id);
        self.record_admin_action(by, entry).await
    }

    /// `POST /admin/messages/delete-all`: every message the user wrote in the channels they can
    /// reach now (their guilds' text channels, their DMs and group DMs), deleted in batches with
    /// `MESSAGE_DELETE_BULK`; with `dry_run`, only counted. Messages in guilds they have left are
    /// not reached.
    pub async fn admin_delete_all_user_messages(
        &self,
        by: &AdminPrincipal,
        req: AdminDeleteAllMessages,
    ) -> Result<AdminDeleteAllResult> {
        self.store()
            .get_user(req.user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        let mut channel_count = 0;
        let mut message_count = 0;
        for channel in self.reachable_channels(req.user_id).await? {
            let ids: Vec<MessageId> = self
                .authored_messages(channel.id, req.user_id, None)
                .await?
                .iter()
                .map(|m| m.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            channel_count += 1;
            message_count += ids.len();
            if !req.dry_run {
                for batch in ids.chunks(DELETE_BATCH) {
                    self.purge_batch(&channel, batch).await?;
                }
            }
        }
        if !req.dry_run {
            let entry = AdminAction::new("message.delete_all", "user", req.user_id)
                .with("channel_count", channel_count)
                .with("message_count", message_count);
            self.record_admin_action(by, entry).await?;
        }
        Ok(AdminDeleteAllResult {
            success: true,
            dry_run: req.dry_run,
            channel_count,
            message_count,
        })
    }
}
