//! Guild audit logs: who changed what in a guild, and why.

use serde::{Deserialize, Serialize};

use crate::id::{AuditLogId, GuildId, UserId};

/// Upstream's audit log action types (`action_type` on the wire).
pub mod action {
    /// The guild's settings changed.
    pub const GUILD_UPDATE: u16 = 1;
    /// A channel was created.
    pub const CHANNEL_CREATE: u16 = 10;
    /// A channel's settings changed.
    pub const CHANNEL_UPDATE: u16 = 11;
    /// A channel was deleted.
    pub const CHANNEL_DELETE: u16 = 12;
    /// A permission overwrite was added.
    pub const CHANNEL_OVERWRITE_CREATE: u16 = 13;
    /// A permission overwrite changed.
    pub const CHANNEL_OVERWRITE_UPDATE: u16 = 14;
    /// A permission overwrite was removed.
    pub const CHANNEL_OVERWRITE_DELETE: u16 = 15;
    /// A member was kicked.
    pub const MEMBER_KICK: u16 = 20;
    /// A user was banned.
    pub const MEMBER_BAN_ADD: u16 = 22;
    /// A ban was lifted.
    pub const MEMBER_BAN_REMOVE: u16 = 23;
    /// A member's nickname, timeout or voice state changed.
    pub const MEMBER_UPDATE: u16 = 24;
    /// A member's roles changed.
    pub const MEMBER_ROLE_UPDATE: u16 = 25;
    /// A bot was added.
    pub const BOT_ADD: u16 = 28;
    /// A role was created.
    pub const ROLE_CREATE: u16 = 30;
    /// A role changed.
    pub const ROLE_UPDATE: u16 = 31;
    /// A role was deleted.
    pub const ROLE_DELETE: u16 = 32;
    /// An invite was created.
    pub const INVITE_CREATE: u16 = 40;
    /// An invite was deleted.
    pub const INVITE_DELETE: u16 = 42;
    /// A webhook was created.
    pub const WEBHOOK_CREATE: u16 = 50;
    /// A webhook changed.
    pub const WEBHOOK_UPDATE: u16 = 51;
    /// A webhook was deleted.
    pub const WEBHOOK_DELETE: u16 = 52;
    /// A custom emoji was uploaded.
    pub const EMOJI_CREATE: u16 = 60;
    /// A custom emoji was renamed.
    pub const EMOJI_UPDATE: u16 = 61;
    /// A custom emoji was deleted.
    pub const EMOJI_DELETE: u16 = 62;
    /// Someone else's message was deleted by a moderator.
    pub const MESSAGE_DELETE: u16 = 72;
    /// Messages were deleted in bulk.
    pub const MESSAGE_BULK_DELETE: u16 = 73;
    /// A message was pinned.
    pub const MESSAGE_PIN: u16 = 74;
    /// A message was unpinned.
    pub const MESSAGE_UNPIN: u16 = 75;
    /// A sticker was uploaded.
    pub const STICKER_CREATE: u16 = 90;
    /// A sticker's name, description or tags changed.
    pub const STICKER_UPDATE: u16 = 91;
    /// A sticker was deleted.
    pub const STICKER_DELETE: u16 = 92;
}

/// One entry (`GuildAuditLogEntryResponse`, and the stored form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A snowflake: entries sort by time.
    pub id: AuditLogId,
    /// The guild.
    pub guild_id: GuildId,
    /// Upstream's action type (see [`action`]).
    pub action_type: u16,
    /// Who did it; `None` for the system.
    pub user_id: Option<UserId>,
    /// What it was done to: a user, channel, role or webhook ID, or an invite code.
    pub target_id: Option<String>,
    /// The reason given (`X-Audit-Log-Reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details that depend on the action (`channel_id`, `count`, `id`, `type`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// What changed, field by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AuditChange>,
}

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditChange {
    /// The field's wire name.
    pub key: String,
    /// Before; omitted for a creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_value: Option<serde_json::Value>,
    /// After; omitted for a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<serde_json::Value>,
}

/// Which entries of a guild's log to read, newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries older than this one.
    pub before: Option<AuditLogId>,
    /// Only entries newer than this one.
    pub after: Option<AuditLogId>,
    /// Only what this user did.
    pub user_id: Option<UserId>,
    /// Only this action type.
    pub action_type: Option<u16>,
    /// At most this many (1 to 100).
    pub limit: u32,
}
