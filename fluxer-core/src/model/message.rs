use serde::{Deserialize, Serialize};

use crate::id::{AttachmentId, ChannelId, EmojiId, GuildId, MessageId, RoleId, UserId, WebhookId};
use crate::time::Timestamp;

use super::user::UserPartial;

/// Message types with upstream's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum MessageType {
    /// 0: an ordinary message.
    Default,
    /// 1: system message: someone was added to a group DM.
    RecipientAdd,
    /// 2: system message: someone left or was removed from a group DM.
    RecipientRemove,
    /// 3: system message about a call.
    Call,
    /// 4: system message: the group DM was renamed.
    ChannelNameChange,
    /// 5: system message: the group DM's icon changed.
    ChannelIconChange,
    /// 6: system message: a message was pinned.
    ChannelPinnedMessage,
    /// 7: system message: a member joined the guild.
    UserJoin,
    /// 19: a reply to another message (`message_reference` says which).
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
    /// Snowflake ID.
    pub id: AttachmentId,
    /// Sanitized name: ASCII letters, digits, `.`, `-` and `_`, at most 128 characters;
    /// a `SPOILER_` prefix marks a spoiler.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// As stored, the blob key `attachments/{channel_id}/{id}/{filename}` (or a URL a host
    /// gave); responses carry a signed URL built from it.
    pub url: String,
    /// Same as `url`: there is no separate media proxy.
    pub proxy_url: String,
    /// MIME type sniffed from the bytes (the client's claim is ignored).
    pub content_type: Option<String>,
    /// Width in pixels when the server could read it from the file; `None` otherwise.
    pub width: Option<u32>,
    /// Height in pixels when the server could read it from the file; `None` otherwise.
    pub height: Option<u32>,
    /// Alt text, up to 1024 characters.
    pub description: Option<String>,
    /// Bits: 8 = spoiler, 32 = animated image.
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
    /// Up to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Up to 4096 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Link of the title, up to 2048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A time shown with the embed (ISO 8601 on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Side bar color as RGB, 0x000000-0xFFFFFF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<u32>,
    /// `{text, icon_url}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<serde_json::Value>,
    /// `{url, ...}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
    /// `{url, ...}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<serde_json::Value>,
    /// `{url, ...}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<serde_json::Value>,
    /// `{name, url}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<serde_json::Value>,
    /// `{name, url, icon_url}`, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<serde_json::Value>,
    /// Up to 25 fields. Titles, descriptions and fields of all of a message's embeds hold
    /// at most 6000 characters together.
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
    /// The message referred to.
    pub message_id: MessageId,
    /// Its channel; a reply must be in the same channel (the server fills it in).
    pub channel_id: Option<ChannelId>,
    /// Its guild; omitted in private channels.
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
    /// When set, only these of the mentioned users are notified (overrides `parse`).
    #[serde(default)]
    pub users: Option<Vec<UserId>>,
    /// When set, only these of the mentioned roles are notified (overrides `parse`).
    #[serde(default)]
    pub roles: Option<Vec<RoleId>>,
    /// Whether a reply notifies the replied-to author; true when absent.
    #[serde(default)]
    pub replied_user: Option<bool>,
}

/// A message, as stored. Reactions live in their own table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Snowflake ID; it also tells when the message was sent.
    pub id: MessageId,
    /// The channel it was posted in.
    pub channel_id: ChannelId,
    /// The channel's guild; `None` in private channels.
    pub guild_id: Option<GuildId>,
    /// The sender; for a webhook message, the webhook's ID.
    pub author_id: UserId,
    /// The webhook that posted it; `None` for users' and bots' messages.
    pub webhook_id: Option<WebhookId>,
    /// A webhook may post under its own name and avatar.
    pub webhook_name: Option<String>,
    /// The avatar a webhook posted with: the request's `avatar_url`, else the webhook's own.
    pub webhook_avatar: Option<String>,
    /// The message type (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Flag bits; senders may set only 4 (SUPPRESS_EMBEDS) and 4096 (SUPPRESS_NOTIFICATIONS).
    pub flags: u32,
    /// Text, up to the instance limit (4000 characters by default); may be empty when
    /// there are embeds or attachments.
    pub content: String,
    /// When it was last edited; `None` if never.
    pub edited_timestamp: Option<Timestamp>,
    /// When it was pinned; `None` when not pinned.
    pub pinned_at: Option<Timestamp>,
    /// Whether it pings @everyone/@here (needs MENTION_EVERYONE).
    pub mention_everyone: bool,
    /// Users it notifies: those mentioned, filtered by `allowed_mentions` and to those who
    /// are in the guild (or the DM), plus the replied-to author.
    pub mention_ids: Vec<UserId>,
    /// Roles it notifies: mentioned roles that are mentionable (any role, with MENTION_EVERYONE);
    /// never @everyone. Always empty in private channels.
    pub mention_role_ids: Vec<RoleId>,
    /// Uploaded files, up to 10 by default.
    pub attachments: Vec<Attachment>,
    /// Rich embeds, up to 10 by default.
    pub embeds: Vec<Embed>,
    /// The message it replies to; `None` for a plain message.
    pub message_reference: Option<MessageReference>,
    /// The sender's nonce, 1-32 characters, echoed back so a client can match its pending message.
    pub nonce: Option<String>,
    /// Text-to-speech; a user's request for it is dropped without SEND_TTS_MESSAGES.
    pub tts: bool,
    /// Stickers sent with it (up to 3), as they were then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stickers: Vec<super::StickerItem>,
}

impl Message {
    /// When it was sent, read from its snowflake ID.
    pub fn timestamp(&self) -> Timestamp {
        self.id.timestamp()
    }

    /// The users its wire shape shows: its author (unless a webhook posted it) and those it
    /// mentions. May repeat one.
    pub fn named_users(&self) -> impl Iterator<Item = UserId> + '_ {
        let author = self.webhook_id.is_none().then_some(self.author_id);
        author.into_iter().chain(self.mention_ids.iter().copied())
    }
}

/// A reaction's emoji: unicode (`name` only) or custom (`id` + `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReactionEmoji {
    /// A custom emoji's ID; `None` for a unicode emoji.
    pub id: Option<EmojiId>,
    /// The unicode emoji itself, or the custom emoji's name.
    pub name: String,
    /// Whether a custom emoji is animated; omitted when unknown.
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
    /// The emoji reacted with.
    pub emoji: ReactionEmoji,
    /// How many users reacted with it.
    pub count: u32,
    /// Whether the viewing user is one of them.
    pub me: bool,
}

/// `MessageResponse`. Lists are never null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResponse {
    /// Snowflake ID.
    pub id: MessageId,
    /// The channel it was posted in.
    pub channel_id: ChannelId,
    /// The channel's guild; omitted in private channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// The sender; for a webhook message, a bot pseudo-user with the webhook's ID, name and avatar.
    pub author: UserPartial,
    /// The message type (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Flag bits (4 = SUPPRESS_EMBEDS, 4096 = SUPPRESS_NOTIFICATIONS).
    pub flags: u32,
    /// Text; may be empty.
    pub content: String,
    /// When it was sent (from its ID), ISO 8601.
    pub timestamp: Timestamp,
    /// When it was last edited (ISO 8601); `null` if never.
    pub edited_timestamp: Option<Timestamp>,
    /// Whether it is pinned in its channel.
    pub pinned: bool,
    /// Whether it pings @everyone/@here.
    pub mention_everyone: bool,
    /// Text-to-speech message.
    pub tts: bool,
    /// The users it notifies.
    pub mentions: Vec<UserPartial>,
    /// The roles it notifies.
    pub mention_roles: Vec<RoleId>,
    /// Rich embeds.
    pub embeds: Vec<Embed>,
    /// Stickers sent with it; `[]` for none.
    pub stickers: Vec<super::StickerItem>,
    /// Attached files, with download URLs.
    pub attachments: Vec<Attachment>,
    /// Reaction summaries; `me` refers to the viewer.
    pub reactions: Vec<ReactionCount>,
    /// The message it replies to; omitted for a plain message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_reference: Option<MessageReference>,
    /// The replied-to message in full (one level deep); omitted for a plain message or when
    /// the original is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_message: Option<Box<MessageResponse>>,
    /// The sender's nonce; omitted when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The webhook that posted it; omitted otherwise.
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
