use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, PackId, UserId};
use crate::time::Timestamp;

use super::channel::ChannelType;
use super::pack::PackInviteResponse;
use super::user::UserPartial;

/// An invite, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    /// Unique across the instance (shared namespace with vanity codes).
    pub code: String,
    /// The guild it joins; `None` for a group DM or pack invite.
    pub guild_id: Option<GuildId>,
    /// The channel it lands on; a vanity invite uses the system channel, else the rules channel.
    /// `None` for a pack invite.
    pub channel_id: Option<ChannelId>,
    /// The pack it installs, for a pack invite (which has neither guild nor channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<PackId>,
    /// Who created it; `None` for vanity invites.
    pub inviter_id: Option<UserId>,
    /// How many times it has been accepted.
    pub uses: u32,
    /// 0 = unlimited.
    pub max_uses: u32,
    /// Seconds; 0 = never expires.
    pub max_age: u32,
    /// Upstream's temporary-membership flag; stored and served, not enforced here.
    pub temporary: bool,
    /// When it was created; `max_age` counts from here.
    pub created_at: Timestamp,
    /// A guild's vanity invite.
    pub vanity: bool,
}

impl Invite {
    /// When it stops working (`created_at` + `max_age`); `None` when it never expires.
    pub fn expires_at(&self) -> Option<Timestamp> {
        (self.max_age > 0).then(|| self.created_at.plus_secs(i64::from(self.max_age)))
    }

    /// Whether it has expired at `now` (it is dead from `expires_at` on).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    /// Whether it has reached `max_uses` (never, for unlimited invites).
    pub fn is_used_up(&self) -> bool {
        self.max_uses > 0 && self.uses >= self.max_uses
    }
}

/// What `/invites/{code}` answers: a guild invite, or a pack invite.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InviteView {
    /// An invite to a guild (or group DM).
    Guild(InviteResponse),
    /// An invite to install a pack.
    Pack(PackInviteResponse),
}

/// The guild as an invite shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialGuild {
    /// Snowflake ID.
    pub id: GuildId,
    /// Guild name.
    pub name: String,
    /// Icon image hash (`a_`-prefixed when animated); `None` without one.
    pub icon: Option<String>,
    /// Banner image hash; `None` without one.
    pub banner: Option<String>,
    /// Invite splash image hash; `None` without one.
    pub splash: Option<String>,
    /// Upstream feature strings, such as `DISCOVERABLE`.
    pub features: Vec<String>,
    /// The guild's vanity invite code, if it has one.
    pub vanity_url_code: Option<String>,
}

/// The channel as an invite shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialChannel {
    /// Snowflake ID.
    pub id: ChannelId,
    /// The channel type (`type` on the wire); guild text when the channel no longer exists.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Channel name; `None` when it has none (or no longer exists).
    pub name: Option<String>,
}

/// `InviteResponse` (+ metadata when the caller may manage it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteResponse {
    /// 0 guild, 1 group DM.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The invite code: 8 random base62 characters, or the guild's vanity code.
    pub code: String,
    /// The guild it joins; absent for group DM invites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild: Option<PartialGuild>,
    /// The channel it lands on.
    pub channel: PartialChannel,
    /// Who created it; absent for vanity invites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter: Option<UserPartial>,
    /// The guild's member count, or the group DM's recipient count.
    pub member_count: u64,
    /// Online members; always 0 here (presences are not counted).
    pub presence_count: u64,
    /// When it expires (ISO 8601); `null` if never.
    pub expires_at: Option<Timestamp>,
    /// Upstream's temporary-membership flag (not enforced here).
    pub temporary: bool,
    /// How many times it has been accepted.
    pub uses: u32,
    /// Most uses allowed, 0-100; 0 = unlimited.
    pub max_uses: u32,
    /// Lifetime in seconds, 0-604800 (7 days); 0 = never expires.
    pub max_age: u32,
    /// When it was created (ISO 8601).
    pub created_at: Timestamp,
}
