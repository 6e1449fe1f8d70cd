//! A user's own lists of messages: the mentions inbox (`/users/@me/mentions`) and saved messages
//! (`/users/@me/saved-messages`), kept as private documents keyed by message ID.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Actor, Fluxer, member_channel_permissions};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::model::{Message, MessageResponse};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, PrivateDocument, Topic};
use crate::validation::Validator;

/// Mentions kept per user; older ones drop out of the inbox when it is next read.
const MAX_RECENT_MENTIONS: usize = 500;
/// Guilds up to this size get @everyone and role mentions in each member's inbox; in bigger ones
/// only mentions by name land there.
pub(crate) const MAX_EXPANDED_MEMBERS: u64 = 1000;
/// Saved messages per user (upstream's limit without premium).
pub(crate) const MAX_SAVED_MESSAGES: usize = 50;

/// Where a mention was, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MentionRecord {
    channel_id: ChannelId,
    guild_id: Option<GuildId>,
    /// Through @everyone or @here.
    #[serde(default)]
    everyone: bool,
    /// Through a role.
    #[serde(default)]
    role: bool,
}

/// `GET /users/@me/mentions`.
#[derive(Debug, Clone, Deserialize)]
pub struct MentionsQuery {
    /// 1 to 100 (25).
    #[serde(default = "default_page")]
    pub limit: i64,
    /// Include mentions through a role (`true`).
    #[serde(default = "yes")]
    pub roles: bool,
    /// Include @everyone and @here (`true`).
    #[serde(default = "yes")]
    pub everyone: bool,
    /// Include guild messages (`true`); `false` keeps only DMs.
    #[serde(default = "yes")]
    pub guilds: bool,
    /// Only mentions older than this message.
    pub before: Option<MessageId>,
}

impl Default for MentionsQuery {
    fn default() -> Self {
        MentionsQuery {
            limit: default_page(),
            roles: true,
            everyone: true,
            guilds: true,
            before: None,
        }
    }
}

fn default_page() -> i64 {
    25
}

fn yes() -> bool {
    true
}

/// One saved message (`SavedMessageEntryResponse`).
#[derive(Debug, Clone, Serialize)]
pub struct SavedMessage {
    /// The entry (the message's ID).
    pub id: MessageId,
    /// Where it is.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// `available`, or `missing_permissions` when the user can no longer read it.
    pub status: &'static str,
    /// The message, when available.
    pub message: Option<MessageResponse>,
}

impl Fluxer {
    /// Puts a new message in the inbox of each user it mentions (the author excepted): by name,
    /// and, in a guild of at most [`MAX_EXPANDED_MEMBERS`] members, through @everyone or a role
    /// for each member who can see the channel.
    pub(crate) async fn record_mentions(&self, message: &Message) -> Result<()> {
        let mut recipients: Vec<(UserId, bool, bool)> = message
            .mention_ids
            .iter()
            .filter(|u| **u != message.author_id)
            .map(|u| (*u, false, false))
            .collect();
        let expands = message.mention_everyone || !message.mention_role_ids.is_empty();
        if let (true, Some(guild_id)) = (expands, message.guild_id)
            && self.store().count_members(guild_id).await? <= MAX_EXPANDED_MEMBERS
            && let Some(view) = self.guild_view(guild_id).await?
            && let Some(channel) = view.channels.iter().find(|c| c.id == message.channel_id)
        {
            let now = self.now();
            let members = self
                .store()
                .list_members(guild_id, None, MAX_EXPANDED_MEMBERS as u32)
                .await?;
            for m in &members {
                if m.user_id == message.author_id
                    || recipients.iter().any(|(u, _, _)| *u == m.user_id)
                {
                    continue;
                }
                let by_role = m.roles.iter().any(|r| message.mention_role_ids.contains(r));
                if !(message.mention_everyone || by_role) {
                    continue;
                }
                let sees = member_channel_permissions(&view.guild, &view.roles, m, channel, now)
                    .contains(Permissions::VIEW_CHANNEL);
                if sees {
                    recipients.push((m.user_id, message.mention_everyone, by_role));
                }
            }
        }
        let store = self.store();
        for (user, everyone, role) in recipients {
            let record = serde_json::to_string(&MentionRecord {
                channel_id: message.channel_id,
                guild_id: message.guild_id,
                everyone,
                role: role && !everyone,
            })
            .unwrap_or_default();
            // One write per recipient: the inbox is trimmed when it is read.
            store
                .put_private_document(
                    user,
                    PrivateDocument::Mention,
                    message.id.get(),
                    Some(&record),
                )
                .await?;
        }
        Ok(())
    }

    /// `GET /users/@me/mentions`: newest first, the messages the user can still read.
    pub async fn recent_mentions(
        &self,
        actor: &Actor,
        query: MentionsQuery,
    ) -> Result<Vec<MessageResponse>> {
        let mut v = Validator::new();
        v.range("limit", query.limit, 1, 100);
        v.finish()?;
        let mut docs = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::Mention)
            .await?;
        // Only the newest are kept.
        let excess = docs.len().saturating_sub(MAX_RECENT_MENTIONS);
        for (old, _) in docs.drain(..excess) {
            self.store()
                .put_private_document(actor.id(), PrivateDocument::Mention, old, None)
                .await?;
        }
        let mut out = Vec::new();
        for (key, text) in docs.iter().rev() {
            if out.len() as i64 >= query.limit {
                break;
            }
            if query.before.is_some_and(|b| *key >= b.get()) {
                continue;
            }
            let Ok(record) = serde_json::from_str::<MentionRecord>(text) else {
                continue;
            };
            if (!query.guilds && record.guild_id.is_some())
                || (!query.everyone && record.everyone)
                || (!query.roles && record.role)
            {
                continue;
            }
            match self
                .get_message(actor, record.channel_id, MessageId::new(*key))
                .await
            {
                Ok(m) => out.push(m),
                Err(e) if e.is_client_error() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `DELETE /users/@me/mentions/{id}`: takes a message out of the inbox; `RECENT_MENTION_DELETE`.
    pub async fn delete_recent_mention(&self, actor: &Actor, message: MessageId) -> Result<()> {
        let store = self.store();
        if store
            .get_private_document(actor.id(), PrivateDocument::Mention, message.get())
            .await?
            .is_none()
        {
            return Ok(());
        }
        store
            .put_private_document(actor.id(), PrivateDocument::Mention, message.get(), None)
            .await?;
        self.emit(Dispatch::new(
            EventKind::RecentMentionDelete,
            Topic::User(actor.id()),
            &json!({ "message_id": message }),
        ))
        .await;
        Ok(())
    }

    /// `GET /users/@me/saved-messages`: newest first, at most `limit` (1 to 100, 25); messages
    /// deleted since are dropped from the list.
    pub async fn saved_messages(&self, actor: &Actor, limit: i64) -> Result<Vec<SavedMessage>> {
        let mut v = Validator::new();
        v.range("limit", limit, 1, 100);
        v.finish()?;
        let docs = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::SavedMessage)
            .await?;
        let mut out = Vec::new();
        for (key, channel) in docs.iter().rev() {
            if out.len() as i64 >= limit {
                break;
            }
            let (Ok(channel_id), message_id) = (channel.parse::<ChannelId>(), MessageId::new(*key))
            else {
                continue;
            };
            let (status, message) = match self.get_message(actor, channel_id, message_id).await {
                Ok(m) => ("available", Some(m)),
                Err(Error::Unknown(Unknown::Message)) => {
                    self.store()
                        .put_private_document(actor.id(), PrivateDocument::SavedMessage, *key, None)
                        .await?;
                    continue;
                }
                Err(e) if e.is_client_error() => ("missing_permissions", None),
                Err(e) => return Err(e),
            };
            out.push(SavedMessage {
                id: message_id,
                channel_id,
                message_id,
                status,
                message,
            });
        }
        Ok(out)
    }

    /// `POST /users/@me/saved-messages`: saves a message the user can read (at most 50);
    /// `SAVED_MESSAGE_CREATE` with the message.
    pub async fn save_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
    ) -> Result<()> {
        let saved = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::SavedMessage)
            .await?;
        if saved.len() >= MAX_SAVED_MESSAGES && !saved.iter().any(|(k, _)| *k == message_id.get()) {
            return Err(Error::rejected(
                "MAX_BOOKMARKS",
                format!("At most {MAX_SAVED_MESSAGES} messages can be saved."),
            ));
        }
        let message = self.get_message(actor, channel_id, message_id).await?;
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::SavedMessage,
                message_id.get(),
                Some(&channel_id.to_string()),
            )
            .await?;
        self.emit(Dispatch::new(
            EventKind::SavedMessageCreate,
            Topic::User(actor.id()),
            &message,
        ))
        .await;
        Ok(())
    }

    /// `DELETE /users/@me/saved-messages/{id}`; `SAVED_MESSAGE_DELETE`.
    pub async fn unsave_message(&self, actor: &Actor, message_id: MessageId) -> Result<()> {
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::SavedMessage,
                message_id.get(),
                None,
            )
            .await?;
        self.emit(Dispatch::new(
            EventKind::SavedMessageDelete,
            Topic::User(actor.id()),
            &json!({ "message_id": message_id }),
        ))
        .await;
        Ok(())
    }
}
