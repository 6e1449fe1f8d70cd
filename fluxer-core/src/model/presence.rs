//! Presences as clients see them.

use serde::{Deserialize, Serialize};

use crate::id::{GuildId, UserId};
use crate::ports::{PresenceEntry, Status};

/// A user's presence in READY and `GUILD_CREATE` (upstream's `PresenceResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceResponse {
    /// Whose presence: the ID only (clients hold the users elsewhere).
    pub user: PresenceUser,
    /// The guild the presence was sent for; omitted outside guilds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// What others see: invisible users are offline.
    pub status: Status,
    /// Away from keyboard.
    pub afk: bool,
    /// On a mobile client.
    pub mobile: bool,
    /// The custom status the client set (text, emoji), as it sent it.
    pub custom_status: Option<serde_json::Value>,
    /// Activities: none are tracked, always `[]`.
    pub activities: Vec<serde_json::Value>,
}

/// The user of a [`PresenceResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceUser {
    /// Snowflake ID.
    pub id: UserId,
}

impl PresenceResponse {
    /// What others see of `entry`, sent for `guild` (`None` outside guilds).
    pub fn of(entry: &PresenceEntry, guild: Option<GuildId>) -> PresenceResponse {
        let status = entry.status.public();
        PresenceResponse {
            user: PresenceUser { id: entry.user_id },
            guild_id: guild,
            status,
            afk: entry.afk,
            mobile: entry.mobile,
            custom_status: if status == Status::Offline {
                None
            } else {
                entry.custom_status.clone()
            },
            activities: Vec::new(),
        }
    }

    /// Whether others see the user connected.
    pub fn is_online(&self) -> bool {
        self.status != Status::Offline
    }
}
