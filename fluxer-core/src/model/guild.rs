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

/// A guild as `GET /guilds/{id}` serves it: the guild's own fields, its roles, the caller's
/// permissions and the member count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuildResponse {
    #[serde(flatten)]
    pub guild: Guild,
    pub roles: Vec<Role>,
    /// The caller's permissions in the guild.
    pub permissions: Permissions,
    pub member_count: u64,
    /// Custom emojis and stickers: none yet, served empty as upstream's clients expect the keys.
    pub emojis: [(); 0],
    pub stickers: [(); 0],
}

/// Everything a member needs about a guild it can see: the `GUILD_CREATE` payload, and a guild in
/// a user's READY.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuildSnapshot {
    #[serde(flatten)]
    pub guild: Guild,
    pub roles: Vec<Role>,
    /// The channels the member can view.
    pub channels: Vec<super::channel::ChannelResponse>,
    /// The first members, up to 100 (the rest on request: op 8).
    pub members: Vec<MemberResponse>,
    pub member_count: u64,
    /// When the member joined.
    pub joined_at: Timestamp,
    /// Presences, voice states, emojis and stickers: sent empty (presences follow as
    /// `PRESENCE_UPDATE`s; the others are not built yet).
    pub presences: [(); 0],
    pub voice_states: [(); 0],
    pub emojis: [(); 0],
    pub stickers: [(); 0],
    /// More than 250 members.
    pub large: bool,
    pub unavailable: bool,
    pub lazy: bool,
}

/// A guild's vanity invite (`GET|PATCH /guilds/{id}/vanity-url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VanityUrl {
    pub code: Option<String>,
    /// Times it was used; set on reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
}

/// One of the caller's guilds in `GET /users/@me/guilds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserGuild {
    pub id: GuildId,
    pub name: String,
    pub icon: Option<String>,
    pub banner: Option<String>,
    /// Whether the caller owns it.
    pub owner: bool,
    pub owner_id: UserId,
    /// The caller's permissions in it.
    pub permissions: Permissions,
    pub features: Vec<String>,
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
