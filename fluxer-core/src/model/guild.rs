use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, RoleId, UserId};
use crate::permission::Permissions;
use crate::time::Timestamp;

use super::user::UserPartial;

/// A guild (community), as stored and as served (`GuildResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guild {
    /// Snowflake ID; the @everyone role has the same ID.
    pub id: GuildId,
    /// Display name, 1-100 characters (trimmed).
    pub name: String,
    /// Icon image hash (`a_`-prefixed when animated); `None` without one.
    pub icon: Option<String>,
    /// Banner image hash (`a_`-prefixed when animated); `None` without one.
    pub banner: Option<String>,
    /// Invite splash image hash; `None` without one.
    pub splash: Option<String>,
    /// Up to 300 characters; `None` when unset.
    pub description: Option<String>,
    /// The owner: the only one who may delete the guild or transfer it.
    pub owner_id: UserId,
    /// Upstream feature strings, e.g. `DISCOVERABLE` (listed in discovery).
    pub features: Vec<String>,
    /// 0-4, upstream's levels: none, low, medium, high, very high.
    pub verification_level: u8,
    /// Whether moderators need two-factor login: 0 none, 1 elevated (upstream's levels).
    pub mfa_level: u8,
    /// Upstream's guild NSFW level; 0 is the default.
    pub nsfw_level: u8,
    /// 0-2: scan no one's media, members without roles, or all members.
    pub explicit_content_filter: u8,
    /// Members' default: 0 = all messages, 1 = only mentions.
    pub default_message_notifications: u8,
    /// Where upstream posts system messages such as joins; new guilds use `general`.
    pub system_channel_id: Option<ChannelId>,
    /// Bits that silence system messages; 1 = no member join notifications.
    pub system_channel_flags: u32,
    /// The channel holding the rules; `None` when unset.
    pub rules_channel_id: Option<ChannelId>,
    /// The voice channel idle members are moved to; `None` when unset.
    pub afk_channel_id: Option<ChannelId>,
    /// Seconds of voice inactivity before the AFK move, 60-3600 (300 by default).
    pub afk_timeout: u32,
    /// Unique across the instance when set.
    pub vanity_url_code: Option<String>,
    /// Upstream's `GuildOperations` bits, set = disabled: 1 push notifications, 2 @everyone
    /// mentions, 4 typing, 8 invites, 16 sending messages, 32 reactions. Not enforced here.
    pub disabled_operations: u32,
}

/// A role, as stored and as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Snowflake ID; the @everyone role's ID equals the guild's.
    pub id: RoleId,
    /// The guild it belongs to.
    pub guild_id: GuildId,
    /// 1-100 characters; `@everyone` for the default role.
    pub name: String,
    /// RGB as an integer, 0x000000-0xFFFFFF; 0 = no color.
    pub color: u32,
    /// Rank in the hierarchy: higher outranks lower; @everyone is 0.
    pub position: i32,
    /// Whether its members are listed separately in the member list.
    pub hoist: bool,
    /// Whether anyone may mention it; otherwise only members with MENTION_EVERYONE.
    pub mentionable: bool,
    /// What it grants (a decimal string on the wire).
    pub permissions: Permissions,
    /// A unicode emoji shown with the role, up to 32 characters; `None` when unset.
    pub unicode_emoji: Option<String>,
    /// Where its group sits in the member list when it differs from `position` (clients sort
    /// hoisted roles by `hoist_position`, else `position`); `None` when unset.
    #[serde(default)]
    pub hoist_position: Option<i32>,
}

impl Role {
    /// Whether this is the guild's @everyone role (same ID as the guild).
    pub fn is_everyone(&self) -> bool {
        self.id.0 == self.guild_id.0
    }
}

/// A user's membership in a guild, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The guild.
    pub guild_id: GuildId,
    /// The member's user.
    pub user_id: UserId,
    /// Guild nickname, 1-32 characters; `None` shows the user's own name.
    pub nick: Option<String>,
    /// Guild-specific avatar hash (upstream's); `None` shows the user's avatar.
    pub avatar: Option<String>,
    /// Role IDs, excluding @everyone.
    pub roles: Vec<RoleId>,
    /// When they joined the guild.
    pub joined_at: Timestamp,
    /// Server-muted in voice channels.
    pub mute: bool,
    /// Server-deafened in voice channels.
    pub deaf: bool,
    /// When a timeout ends (set at most 28 days ahead); may be in the past once it has ended.
    pub communication_disabled_until: Option<Timestamp>,
}

impl Member {
    /// Whether a timeout is still running at `now`.
    pub fn is_timed_out(&self, now: Timestamp) -> bool {
        self.communication_disabled_until
            .is_some_and(|until| until > now)
    }

    /// The wire shape, with `user` as the member's public user.
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
    /// The guild's own fields, flattened into the object.
    #[serde(flatten)]
    pub guild: Guild,
    /// Every role, @everyone included.
    pub roles: Vec<Role>,
    /// The caller's permissions in the guild.
    pub permissions: Permissions,
    /// How many members the guild has.
    pub member_count: u64,
    /// The guild's custom emojis.
    pub emojis: Vec<super::EmojiResponse>,
    /// The guild's stickers.
    pub stickers: Vec<super::StickerResponse>,
}

/// Everything a member needs about a guild it can see: the `GUILD_CREATE` payload, and a guild in
/// a user's READY. The guild's own fields appear twice: flat, as Discord-style bots read them, and
/// in `properties`, as Fluxer's clients do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuildSnapshot {
    /// The guild's own fields, flattened into the object.
    #[serde(flatten)]
    pub guild: Guild,
    /// The same fields again, as upstream's clients read them.
    pub properties: Guild,
    /// Every role, @everyone included.
    pub roles: Vec<Role>,
    /// The channels the member can view.
    pub channels: Vec<super::channel::ChannelResponse>,
    /// The first members (all of them in a guild that is not large; the rest on request: op 8,
    /// op 14).
    pub members: Vec<MemberResponse>,
    /// How many members the guild has in all, not only those in `members`.
    pub member_count: u64,
    /// How many members are online (recomputed at most every few seconds).
    pub online_count: u64,
    /// When the member joined.
    pub joined_at: Timestamp,
    /// The online presences of `members` in a guild that is not large; `[]` in a large one, whose
    /// presences come through member list subscriptions (op 14).
    pub presences: Vec<super::PresenceResponse>,
    /// Who is connected to the guild's voice channels (confirmed connections only).
    pub voice_states: Vec<super::VoiceState>,
    /// The guild's custom emojis (without uploaders).
    pub emojis: Vec<super::EmojiResponse>,
    /// The guild's stickers (without uploaders).
    pub stickers: Vec<super::StickerResponse>,
    /// More members than the session's `large_threshold`.
    pub large: bool,
    /// Always false: the guild is sent in full (upstream sets it during outages).
    pub unavailable: bool,
    /// Always true: members beyond the first page come on request.
    pub lazy: bool,
}

/// A guild's vanity invite (`GET|PATCH /guilds/{id}/vanity-url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VanityUrl {
    /// The vanity code, 2-32 ASCII letters, digits or dashes; `null` when there is none.
    pub code: Option<String>,
    /// Times it was used; set on reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
}

/// One of the caller's guilds in `GET /users/@me/guilds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserGuild {
    /// Snowflake ID.
    pub id: GuildId,
    /// Guild name.
    pub name: String,
    /// Icon image hash; `None` without one.
    pub icon: Option<String>,
    /// Banner image hash; `None` without one.
    pub banner: Option<String>,
    /// Whether the caller owns it.
    pub owner: bool,
    /// The owner's user ID.
    pub owner_id: UserId,
    /// The caller's permissions in it.
    pub permissions: Permissions,
    /// Upstream feature strings, such as `DISCOVERABLE`.
    pub features: Vec<String>,
    /// Members in all; with `with_counts=true` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_member_count: Option<u64>,
    /// Members online; with `with_counts=true` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_presence_count: Option<u64>,
}

/// `GuildMemberResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberResponse {
    /// The member's public user.
    pub user: UserPartial,
    /// Guild nickname; `null` when unset.
    pub nick: Option<String>,
    /// Guild avatar hash; `null` when unset.
    pub avatar: Option<String>,
    /// Role IDs, excluding @everyone.
    pub roles: Vec<RoleId>,
    /// When they joined (ISO 8601).
    pub joined_at: Timestamp,
    /// Server-muted in voice channels.
    pub mute: bool,
    /// Server-deafened in voice channels.
    pub deaf: bool,
    /// End of the latest timeout (ISO 8601); `null` when none was set. May be past.
    pub communication_disabled_until: Option<Timestamp>,
}

/// A ban, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ban {
    /// The guild.
    pub guild_id: GuildId,
    /// The banned user (who need not have been a member).
    pub user_id: UserId,
    /// The moderator's reason, up to 512 characters.
    pub reason: Option<String>,
    /// Who issued the ban.
    pub moderator_id: UserId,
    /// When the ban was issued.
    pub created_at: Timestamp,
    /// A temporary ban lifts itself at this time.
    pub expires_at: Option<Timestamp>,
}

/// `GuildBanResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanResponse {
    /// The banned user.
    pub user: UserPartial,
    /// The moderator's reason; `null` when none was given.
    pub reason: Option<String>,
}
