//! A guild's custom emojis and stickers ("expressions"): images members upload and use in messages
//! and reactions.

use serde::{Deserialize, Serialize};

use super::UserPartial;
use crate::id::{ExpressionId, GuildId, UserId};

/// Which kind of expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpressionKind {
    /// A custom emoji: `<:name:id>` in text, `name:id` in reactions.
    Emoji,
    /// A sticker, sent as a message of its own (`sticker_ids`).
    Sticker,
}

impl ExpressionKind {
    /// The number backends store for this kind.
    pub fn code(self) -> i64 {
        match self {
            ExpressionKind::Emoji => 1,
            ExpressionKind::Sticker => 2,
        }
    }

    /// Where its images live in the blob store, and its path on the media proxy.
    pub fn blob_prefix(self) -> &'static str {
        match self {
            ExpressionKind::Emoji => "emojis",
            ExpressionKind::Sticker => "stickers",
        }
    }
}

/// A custom emoji or sticker as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expression {
    /// Snowflake ID; its image is `{emojis|stickers}/{id}` in the blob store.
    pub id: ExpressionId,
    /// The guild it belongs to.
    pub guild_id: GuildId,
    /// Emoji or sticker.
    pub kind: ExpressionKind,
    /// Emoji: 2-32 of `A-Za-z0-9_`; sticker: 2-30 characters.
    pub name: String,
    /// Who uploaded it (they may edit and delete it with CREATE_EXPRESSIONS alone).
    pub creator_id: UserId,
    /// More than one frame.
    pub animated: bool,
    /// The stored image's type (`image/png`, `image/gif`, ...).
    pub content_type: String,
    /// Sticker only: up to 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sticker only: up to 10 tags of 1-30 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Expression {
    /// Its image's key in the blob store.
    pub fn blob_key(&self) -> String {
        format!("{}/{}", self.kind.blob_prefix(), self.id)
    }
}

/// `GuildEmojiResponse` (with `user` in `GuildEmojiWithUserResponse`, the list's form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmojiResponse {
    /// Snowflake ID.
    pub id: ExpressionId,
    /// Its name.
    pub name: String,
    /// More than one frame.
    pub animated: bool,
    /// Who uploaded it; in the guild's list only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserPartial>,
}

/// `GuildStickerResponse` (with `user` in the list's form).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StickerResponse {
    /// Snowflake ID.
    pub id: ExpressionId,
    /// Its name.
    pub name: String,
    /// Its description; `""` when none.
    pub description: String,
    /// Its tags; `[]` when none.
    pub tags: Vec<String>,
    /// More than one frame.
    pub animated: bool,
    /// Who uploaded it; in the guild's list only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserPartial>,
}

impl Expression {
    /// The emoji's wire form, without its uploader.
    pub fn emoji_response(&self) -> EmojiResponse {
        EmojiResponse {
            id: self.id,
            name: self.name.clone(),
            animated: self.animated,
            user: None,
        }
    }

    /// The sticker's wire form, without its uploader.
    pub fn sticker_response(&self) -> StickerResponse {
        StickerResponse {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
            tags: self.tags.clone(),
            animated: self.animated,
            user: None,
        }
    }

    /// What a message that carries this sticker keeps of it (a snapshot: renaming or deleting
    /// the sticker later leaves old messages as they were).
    pub fn sticker_item(&self) -> StickerItem {
        StickerItem {
            id: self.id,
            name: self.name.clone(),
            animated: self.animated,
        }
    }
}

/// A sticker on a message (`stickers` in the message object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StickerItem {
    /// The sticker's ID.
    pub id: ExpressionId,
    /// Its name when the message was sent.
    pub name: String,
    /// Whether it is animated.
    pub animated: bool,
}
