use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, UserId};
use crate::time::Timestamp;

use super::channel::ChannelType;
use super::user::UserPartial;

/// An invite, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    /// Unique across the instance (shared namespace with vanity codes).
    pub code: String,
    pub guild_id: Option<GuildId>,
    pub channel_id: ChannelId,
    pub inviter_id: Option<UserId>,
    pub uses: u32,
    /// 0 = unlimited.
    pub max_uses: u32,
    /// Seconds; 0 = never expires.
    pub max_age: u32,
    pub temporary: bool,
    pub created_at: Timestamp,
    /// A guild's vanity invite.
    pub vanity: bool,
}

impl Invite {
    pub fn expires_at(&self) -> Option<Timestamp> {
        (self.max_age > 0).then(|| self.created_at.plus_secs(i64::from(self.max_age)))
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    pub fn is_used_up(&self) -> bool {
        self.max_uses > 0 && self.uses >= self.max_uses
    }
}

/// The guild as an invite shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialGuild {
    pub id: GuildId,
    pub name: String,
    pub icon: Option<String>,
    pub banner: Option<String>,
    pub splash: Option<String>,
    pub features: Vec<String>,
    pub vanity_url_code: Option<String>,
}

/// The channel as an invite shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialChannel {
    pub id: ChannelId,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    pub name: Option<String>,
}

/// `InviteResponse` (+ metadata when the caller may manage it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteResponse {
    /// 0 guild, 1 group DM.
    #[serde(rename = "type")]
    pub kind: u8,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild: Option<PartialGuild>,
    pub channel: PartialChannel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter: Option<UserPartial>,
    pub member_count: u64,
    pub presence_count: u64,
    pub expires_at: Option<Timestamp>,
    pub temporary: bool,
    pub uses: u32,
    pub max_uses: u32,
    pub max_age: u32,
    pub created_at: Timestamp,
}
