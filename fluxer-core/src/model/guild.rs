use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, RoleId, UserId};
use crate::permission::Permissions;
use crate::time::Timestamp;

use super::user::UserPartial;

/// A guild (community), as stored and as served (`GuildResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guild {
    pub id: GuildId,
    pub name: String,
    pub icon: Option<String>,
    pub banner: Option<String>,
    pub splash: Option<String>,
    pub description: Option<String>,
    pub owner_id: UserId,
    pub features: Vec<String>,
    pub verification_level: u8,
    pub mfa_level: u8,
    pub nsfw_level: u8,
    pub explicit_content_filter: u8,
    pub default_message_notifications: u8,
    pub system_channel_id: Option<ChannelId>,
    pub system_channel_flags: u32,
    pub rules_channel_id: Option<ChannelId>,
    pub afk_channel_id: Option<ChannelId>,
    pub afk_timeout: u32,
    /// Unique across the instance when set.
    pub vanity_url_code: Option<String>,
    pub disabled_operations: u32,
}

/// A role, as stored and as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: RoleId,
    pub guild_id: GuildId,
    pub name: String,
    pub color: u32,
    pub position: i32,
    pub hoist: bool,
    pub mentionable: bool,
    pub permissions: Permissions,
    pub unicode_emoji: Option<String>,
}

impl Role {
    pub fn is_everyone(&self) -> bool {
        self.id.0 == self.guild_id.0
    }
}

/// A user's membership in a guild, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub guild_id: GuildId,
    pub user_id: UserId,
    pub nick: Option<String>,
    pub avatar: Option<String>,
    /// Role IDs, excluding @everyone.
    pub roles: Vec<RoleId>,
    pub joined_at: Timestamp,
    pub mute: bool,
    pub deaf: bool,
    pub communication_disabled_until: Option<Timestamp>,
}

impl Member {
    pub fn is_timed_out(&self, now: Timestamp) -> bool {
        self.communication_disabled_until
            .is_some_and(|until| until > now)
    }

    pub fn response(&self, user: UserPartial) -> MemberResponse {
        MemberResponse {
            user,
            nick: self.nick.clone(),
            avatar: self.avatar.clone(),
            roles: self.roles.clone(),
            joined_at: self.joined_at,
            mute: self.mute,
            deaf: self.deaf,
            communication_disabled_until: self.communication_disabled_until,
        }
    }
}

/// `GuildMemberResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberResponse {
    pub user: UserPartial,
    pub nick: Option<String>,
    pub avatar: Option<String>,
    pub roles: Vec<RoleId>,
    pub joined_at: Timestamp,
    pub mute: bool,
    pub deaf: bool,
    pub communication_disabled_until: Option<Timestamp>,
}

/// A ban, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ban {
    pub guild_id: GuildId,
    pub user_id: UserId,
    pub reason: Option<String>,
    pub moderator_id: UserId,
    pub created_at: Timestamp,
    /// A temporary ban lifts itself at this time.
    pub expires_at: Option<Timestamp>,
}

/// `GuildBanResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanResponse {
    pub user: UserPartial,
    pub reason: Option<String>,
}
