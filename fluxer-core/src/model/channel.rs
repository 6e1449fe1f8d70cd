use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::permission::PermissionOverwrite;
use crate::time::Timestamp;

use super::user::UserPartial;

/// Channel types with upstream's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
pub enum ChannelType {
    /// 0: a guild text channel.
    GuildText,
    /// 1: a direct message between two users.
    Dm,
    /// 2: a guild voice channel.
    GuildVoice,
    /// 3: a group DM: an owner and the friends they added.
    GroupDm,
    /// 4: a guild category; other guild channels join it through `parent_id`.
    GuildCategory,
    /// 998 (Fluxer only): a guild channel that links out to its `url`.
    GuildLink,
    /// 999 (Fluxer only): a user's private notes channel.
    DmPersonalNotes,
}

impl From<ChannelType> for u16 {
    fn from(t: ChannelType) -> u16 {
        match t {
            ChannelType::GuildText => 0,
            ChannelType::Dm => 1,
            ChannelType::GuildVoice => 2,
            ChannelType::GroupDm => 3,
            ChannelType::GuildCategory => 4,
            ChannelType::GuildLink => 998,
            ChannelType::DmPersonalNotes => 999,
        }
    }
}

impl TryFrom<u16> for ChannelType {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, String> {
        Ok(match v {
            0 => ChannelType::GuildText,
            1 => ChannelType::Dm,
            2 => ChannelType::GuildVoice,
            3 => ChannelType::GroupDm,
            4 => ChannelType::GuildCategory,
            998 => ChannelType::GuildLink,
            999 => ChannelType::DmPersonalNotes,
            other => return Err(format!("unknown channel type {other}")),
        })
    }
}

impl ChannelType {
    /// Whether channels of this type belong to a guild (text, voice, category, link).
    pub fn is_guild(self) -> bool {
        matches!(
            self,
            ChannelType::GuildText
                | ChannelType::GuildVoice
                | ChannelType::GuildCategory
                | ChannelType::GuildLink
        )
    }

    /// Whether messages can be posted in channels of this type.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            ChannelType::GuildText
                | ChannelType::Dm
                | ChannelType::GroupDm
                | ChannelType::DmPersonalNotes
        )
    }
}

/// A channel, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Snowflake ID.
    pub id: ChannelId,
    /// The channel type (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// The owning guild; `None` for DMs, group DMs and personal notes.
    pub guild_id: Option<GuildId>,
    /// 1-100 characters; guild text channel names are lower-cased with dashes for spaces.
    /// `None` for DMs and unnamed group DMs.
    pub name: Option<String>,
    /// Guild channels only, up to 1024 characters; `None` rather than empty.
    pub topic: Option<String>,
    /// Group DM icon (image hash); `None` when unset.
    pub icon: Option<String>,
    /// Link channels' target URL; `None` for other types.
    pub url: Option<String>,
    /// The category this guild channel sits in; `None` at the top level (and for categories).
    pub parent_id: Option<ChannelId>,
    /// Sort order among the guild's channels, ascending; 0 for private channels.
    pub position: i32,
    /// Age-restricted guild channel.
    pub nsfw: bool,
    /// Slowmode: seconds a member waits between messages, 0-21600 (0 = off).
    pub rate_limit_per_user: u32,
    /// Voice channels: bits per second, 8000-320000 (64000 by default); `None` otherwise.
    pub bitrate: Option<u32>,
    /// Voice channels: most users at once, 0-99 (0 = unlimited); `None` otherwise.
    pub user_limit: Option<u32>,
    /// Voice region override; `None` means automatic.
    pub rtc_region: Option<String>,
    /// Group DM owner.
    pub owner_id: Option<UserId>,
    /// Private channels' members.
    pub recipient_ids: Vec<UserId>,
    /// Guild channels' per-role and per-member permission overrides; empty otherwise.
    pub permission_overwrites: Vec<PermissionOverwrite>,
    /// The newest message's ID (only ever moves forward); `None` before the first message.
    pub last_message_id: Option<MessageId>,
    /// When a message was last pinned here; `None` if never.
    pub last_pin_timestamp: Option<Timestamp>,
    /// Group DM nicknames by user ID; empty otherwise.
    pub nicks: BTreeMap<UserId, String>,
}

impl Channel {
    /// The wire shape; `recipients` are the other members of a private channel.
    pub fn response(&self, recipients: Vec<UserPartial>) -> ChannelResponse {
        let guild = self.kind.is_guild();
        ChannelResponse {
            id: self.id,
            kind: self.kind,
            guild_id: self.guild_id,
            name: self.name.clone(),
            topic: guild.then(|| self.topic.clone()).flatten(),
            icon: self.icon.clone(),
            url: self.url.clone(),
            parent_id: guild.then_some(self.parent_id).flatten(),
            position: guild.then_some(self.position),
            owner_id: self.owner_id,
            recipients: (!guild).then_some(recipients),
            nsfw: guild.then_some(self.nsfw),
            rate_limit_per_user: guild.then_some(self.rate_limit_per_user),
            bitrate: self.bitrate,
            user_limit: self.user_limit,
            rtc_region: self.rtc_region.clone(),
            last_message_id: self.last_message_id,
            last_pin_timestamp: self.last_pin_timestamp,
            permission_overwrites: guild.then(|| self.permission_overwrites.clone()),
            nicks: (!self.nicks.is_empty()).then(|| self.nicks.clone()),
        }
    }
}

/// `ChannelResponse`; absent fields are omitted as upstream does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelResponse {
    /// Snowflake ID.
    pub id: ChannelId,
    /// The channel type (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// The owning guild; omitted for private channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// Channel name; omitted when unset (DMs, unnamed group DMs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Guild channels' topic; omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Group DM icon hash; omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Link channels' target URL; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The parent category of a guild channel; omitted at the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<ChannelId>,
    /// Sort position; guild channels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    /// The group DM's owner; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// Private channels only: their members other than the viewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<UserPartial>>,
    /// Age-restricted flag; guild channels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsfw: Option<bool>,
    /// Slowmode in seconds (0 = off); guild channels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_user: Option<u32>,
    /// Voice channels: bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    /// Voice channels: most users at once (0 = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_limit: Option<u32>,
    /// Voice region override; omitted when automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc_region: Option<String>,
    /// The newest message's ID; `null` (never omitted) before the first message.
    pub last_message_id: Option<MessageId>,
    /// When a message was last pinned (ISO 8601); omitted if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pin_timestamp: Option<Timestamp>,
    /// Guild channels only: the per-role and per-member permission overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_overwrites: Option<Vec<PermissionOverwrite>>,
    /// Group DM nicknames by user ID; omitted when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nicks: Option<BTreeMap<UserId, String>>,
}
