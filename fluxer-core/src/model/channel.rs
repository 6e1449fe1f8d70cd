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
    GuildText,
    Dm,
    GuildVoice,
    GroupDm,
    GuildCategory,
    GuildLink,
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
    pub id: ChannelId,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    pub guild_id: Option<GuildId>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub icon: Option<String>,
    pub url: Option<String>,
    pub parent_id: Option<ChannelId>,
    pub position: i32,
    pub nsfw: bool,
    pub rate_limit_per_user: u32,
    pub bitrate: Option<u32>,
    pub user_limit: Option<u32>,
    pub rtc_region: Option<String>,
    /// Group DM owner.
    pub owner_id: Option<UserId>,
    /// Private channels' members.
    pub recipient_ids: Vec<UserId>,
    pub permission_overwrites: Vec<PermissionOverwrite>,
    pub last_message_id: Option<MessageId>,
    pub last_pin_timestamp: Option<Timestamp>,
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
    pub id: ChannelId,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<UserPartial>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsfw: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_user: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc_region: Option<String>,
    pub last_message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pin_timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_overwrites: Option<Vec<PermissionOverwrite>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nicks: Option<BTreeMap<UserId, String>>,
}
