use serde::{Deserialize, Serialize};

use crate::id::{AttachmentId, ChannelId, EmojiId, GuildId, MessageId, RoleId, UserId, WebhookId};
use crate::time::Timestamp;

use super::user::UserPartial;

/// Message types with upstream's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum MessageType {
    Default,
    RecipientAdd,
    RecipientRemove,
    Call,
    ChannelNameChange,
    ChannelIconChange,
    ChannelPinnedMessage,
    UserJoin,
    Reply,
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Default => 0,
            MessageType::RecipientAdd => 1,
            MessageType::RecipientRemove => 2,
            MessageType::Call => 3,
            MessageType::ChannelNameChange => 4,
            MessageType::ChannelIconChange => 5,
            MessageType::ChannelPinnedMessage => 6,
            MessageType::UserJoin => 7,
            MessageType::Reply => 19,
        }
    }
}

impl TryFrom<u8> for MessageType {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Ok(match v {
            0 => MessageType::Default,
            1 => MessageType::RecipientAdd,
            2 => MessageType::RecipientRemove,
            3 => MessageType::Call,
            4 => MessageType::ChannelNameChange,
            5 => MessageType::ChannelIconChange,
            6 => MessageType::ChannelPinnedMessage,
            7 => MessageType::UserJoin,
            19 => MessageType::Reply,
            other => return Err(format!("unknown message type {other}")),
        })
    }
}

/// A file attached to a message (`MessageAttachmentResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub size: u64,
    pub url: String,
    pub proxy_url: String,
    pub content_type: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub description: Option<String>,
    pub flags: u32,
}

/// A field of a rich embed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedField {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub inline: bool,
}

/// An embed. Nested media objects (`image`, `footer`, ...) are kept as given after validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    /// `rich` for embeds sent by clients (the services fill it in when omitted).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EmbedField>,
}

impl Embed {
    /// Embeds from clients are `rich` unless they say otherwise.
    pub fn with_default_kind(mut self) -> Self {
        self.kind.get_or_insert_with(|| "rich".to_owned());
        self
    }
}

/// A reply or forward reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageReference {
    pub message_id: MessageId,
    pub channel_id: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// 0 reply, 1 forward.
    #[serde(rename = "type", default)]
    pub kind: u8,
}

/// Which mentions in a message may notify (Discord's `allowed_mentions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllowedMentions {
    /// Any of `"users"`, `"roles"`, `"everyone"`.
    #[serde(default)]
    pub parse: Option<Vec<String>>,
    #[serde(default)]
    pub users: Option<Vec<UserId>>,
    #[serde(default)]
    pub roles: Option<Vec<RoleId>>,
    #[serde(default)]
    pub replied_user: Option<bool>,
}

/// A message, as stored. Reactions live in their own table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub guild_id: Option<GuildId>,
    pub author_id: UserId,
    pub webhook_id: Option<WebhookId>,
    /// A webhook may post under its own name and avatar.
    pub webhook_name: Option<String>,
    pub webhook_avatar: Option<String>,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub flags: u32,
    pub content: String,
    pub edited_timestamp: Option<Timestamp>,
    /// When it was pinned; `None` when not pinned.
    pub pinned_at: Option<Timestamp>,
    pub mention_everyone: bool,
    pub mention_ids: Vec<UserId>,
    pub mention_role_ids: Vec<RoleId>,
    pub attachments: Vec<Attachment>,
    pub embeds: Vec<Embed>,
    pub message_reference: Option<MessageReference>,
    pub nonce: Option<String>,
    pub tts: bool,
}

impl Message {
    pub fn timestamp(&self) -> Timestamp {
        self.id.timestamp()
    }
}

/// A reaction's emoji: unicode (`name` only) or custom (`id` + `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReactionEmoji {
    pub id: Option<EmojiId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
}

/// The emoji key as used in reaction routes: `😀` or `name:id`.
pub type Emoji = ReactionEmoji;

impl ReactionEmoji {
    /// Parses the decoded `{emoji}` path segment: a unicode emoji or `name:id` (optionally `a:name:id`).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 100 {
            return None;
        }
        let parts: Vec<&str> = raw.split(':').collect();
        match parts.as_slice() {
            [name] => Some(ReactionEmoji {
                id: None,
                name: (*name).to_owned(),
                animated: None,
            }),
            [name, id] | ["a", name, id] if !name.is_empty() => Some(ReactionEmoji {
                id: Some(id.parse().ok()?),
                name: (*name).to_owned(),
                animated: None,
            }),
            _ => None,
        }
    }

    /// The storage key: the unicode text, or the custom emoji's ID.
    pub fn key(&self) -> String {
        match self.id {
            Some(id) => id.to_string(),
            None => self.name.clone(),
        }
    }
}

/// A reaction summary on a message (`{emoji, count, me}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReactionCount {
    pub emoji: ReactionEmoji,
    pub count: u32,
    pub me: bool,
}

/// `MessageResponse`. Lists are never null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub id: MessageId,
    pub channel_id: ChannelId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    pub author: UserPartial,
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub flags: u32,
    pub content: String,
    pub timestamp: Timestamp,
    pub edited_timestamp: Option<Timestamp>,
    pub pinned: bool,
    pub mention_everyone: bool,
    pub tts: bool,
    pub mentions: Vec<UserPartial>,
    pub mention_roles: Vec<RoleId>,
    pub embeds: Vec<Embed>,
    pub attachments: Vec<Attachment>,
    pub reactions: Vec<ReactionCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_reference: Option<MessageReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_message: Option<Box<MessageResponse>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<WebhookId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reaction_emoji_forms() {
        assert_eq!(ReactionEmoji::parse("👍").unwrap().key(), "👍");
        let custom = ReactionEmoji::parse("blob:123").unwrap();
        assert_eq!(custom.id, Some(EmojiId::new(123)));
        assert_eq!(custom.key(), "123");
        assert!(ReactionEmoji::parse("a:blob:123").unwrap().id.is_some());
        assert!(ReactionEmoji::parse("").is_none());
        assert!(ReactionEmoji::parse("blob:notanid").is_none());
        assert!(ReactionEmoji::parse("a:b:c:d").is_none());
    }
}
