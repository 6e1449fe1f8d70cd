//! What users keep for themselves: their settings (theme, status, guild folders...), notification
//! settings per guild, in upstream's wire shapes, with upstream's defaults for a new account.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, EmojiId, GuildId};
use crate::time::Timestamp;

/// The ID of the folder that holds guilds the user has not put in a folder of its own.
pub const UNCATEGORISED_FOLDER: i32 = -1;

/// `UserSettingsResponse`: every key always present (clients spread the arrays).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// `online`, `idle`, `dnd` or `invisible`: the status sessions start with.
    pub status: String,
    /// When a temporary status ends; `null` when it does not.
    pub status_resets_at: Option<Timestamp>,
    /// The status it then returns to.
    pub status_resets_to: Option<String>,
    /// `dark`, `coal`, `light` or `system`.
    pub theme: String,
    /// The interface language.
    pub locale: String,
    /// Guilds whose members may not DM the user.
    pub restricted_guilds: Vec<GuildId>,
    /// Guilds whose bots may not DM the user.
    pub bot_restricted_guilds: Vec<GuildId>,
    /// New guilds join `restricted_guilds`.
    pub default_guilds_restricted: bool,
    /// New guilds join `bot_restricted_guilds`.
    pub bot_default_guilds_restricted: bool,
    /// Show attachments inline.
    pub inline_attachment_media: bool,
    /// Show embedded media inline.
    pub inline_embed_media: bool,
    /// Play GIFs without hovering.
    pub gif_auto_play: bool,
    /// Show link previews.
    pub render_embeds: bool,
    /// Show reactions.
    pub render_reactions: bool,
    /// Animate emojis.
    pub animate_emoji: bool,
    /// 0 always, 1 on interaction, 2 never.
    pub animate_stickers: u8,
    /// 0 always, 1 on click, 2 if moderator.
    pub render_spoilers: u8,
    /// The compact message layout.
    pub message_display_compact: bool,
    /// Who may send friend requests: bits mutual friends 1, mutual guilds 2, anyone 4.
    pub friend_source_flags: u32,
    /// Who may call: friends of friends 1, guild members 2, everyone 4, friends only 8, nobody 16,
    /// silently for everyone 32.
    pub incoming_call_flags: u32,
    /// Who may add the user to a group DM (the same bits, without 32).
    pub group_dm_add_permission_flags: u32,
    /// The guild rail: folders of guild IDs, the uncategorised one with ID -1.
    pub guild_folders: Vec<GuildFolder>,
    /// The custom status; `null` when none.
    pub custom_status: Option<CustomStatus>,
    /// Seconds idle before the client reports the user away.
    pub afk_timeout: i64,
    /// 0 automatic, 1 12-hour, 2 24-hour.
    pub time_format: u8,
    /// Show IDs in the interface.
    pub developer_mode: bool,
    /// Domains whose links open without a warning (`*` for all).
    pub trusted_domains: Vec<String>,
    /// Hide muted channels in new guilds.
    pub default_hide_muted_channels: bool,
}

impl Default for UserSettings {
    /// A new adult account's settings, as upstream makes them.
    fn default() -> Self {
        UserSettings {
            status: "online".to_owned(),
            status_resets_at: None,
            status_resets_to: None,
            theme: "system".to_owned(),
            locale: "en-US".to_owned(),
            restricted_guilds: Vec::new(),
            bot_restricted_guilds: Vec::new(),
            default_guilds_restricted: false,
            bot_default_guilds_restricted: false,
            inline_attachment_media: true,
            inline_embed_media: true,
            gif_auto_play: true,
            render_embeds: true,
            render_reactions: true,
            animate_emoji: true,
            animate_stickers: 0,
            render_spoilers: 1,
            message_display_compact: false,
            friend_source_flags: 7,
            incoming_call_flags: 8,
            group_dm_add_permission_flags: 8,
            guild_folders: Vec::new(),
            custom_status: None,
            afk_timeout: 600,
            time_format: 0,
            developer_mode: false,
            trusted_domains: Vec::new(),
            default_hide_muted_channels: false,
        }
    }
}

impl UserSettings {
    /// Brings `guild_folders` in line with the guilds the user is in (`member_of`, in join order):
    /// IDs of other guilds and repeats are dropped, guilds in no folder are added to the
    /// uncategorised folder, and folders left empty are dropped.
    pub fn reconcile_folders(&mut self, member_of: &[GuildId]) {
        let mut seen = std::collections::HashSet::new();
        for folder in &mut self.guild_folders {
            folder
                .guild_ids
                .retain(|g| member_of.contains(g) && seen.insert(*g));
        }
        let missing: Vec<GuildId> = member_of
            .iter()
            .filter(|g| !seen.contains(*g))
            .copied()
            .collect();
        if !missing.is_empty() {
            match self
                .guild_folders
                .iter_mut()
                .find(|f| f.id == UNCATEGORISED_FOLDER)
            {
                Some(folder) => folder.guild_ids.extend(missing),
                None => self.guild_folders.push(GuildFolder::uncategorised(missing)),
            }
        }
        self.guild_folders.retain(|f| !f.guild_ids.is_empty());
    }

    /// Puts `guild` first in the uncategorised folder (a guild just created or joined).
    pub fn add_guild(&mut self, guild: GuildId) {
        for folder in &mut self.guild_folders {
            folder.guild_ids.retain(|g| *g != guild);
        }
        match self
            .guild_folders
            .iter_mut()
            .find(|f| f.id == UNCATEGORISED_FOLDER)
        {
            Some(folder) => folder.guild_ids.insert(0, guild),
            None => self
                .guild_folders
                .insert(0, GuildFolder::uncategorised(vec![guild])),
        }
    }

    /// Takes `guild` out of every folder, dropping folders of its own left empty; `true` if it was
    /// in one.
    pub fn remove_guild(&mut self, guild: GuildId) -> bool {
        let mut found = false;
        for folder in &mut self.guild_folders {
            let before = folder.guild_ids.len();
            folder.guild_ids.retain(|g| *g != guild);
            found |= folder.guild_ids.len() != before;
        }
        self.guild_folders
            .retain(|f| f.id == UNCATEGORISED_FOLDER || !f.guild_ids.is_empty());
        found
    }
}

/// A folder of the guild rail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuildFolder {
    /// A signed 32-bit ID chosen by the client; -1 is the uncategorised folder.
    pub id: i32,
    /// Up to 100 characters; `null` for none.
    #[serde(default)]
    pub name: Option<String>,
    /// RGB colour; `null` for none.
    #[serde(default)]
    pub color: Option<u32>,
    /// Bit 1: show the icon while collapsed.
    #[serde(default)]
    pub flags: u32,
    /// `folder`, `star`, `heart`, `bookmark`, `game_controller`, `shield` or `music_note`.
    #[serde(default = "folder_icon")]
    pub icon: String,
    /// Its guilds, in rail order.
    #[serde(default)]
    pub guild_ids: Vec<GuildId>,
}

fn folder_icon() -> String {
    "folder".to_owned()
}

impl GuildFolder {
    /// The uncategorised folder holding `guild_ids`.
    pub fn uncategorised(guild_ids: Vec<GuildId>) -> GuildFolder {
        GuildFolder {
            id: UNCATEGORISED_FOLDER,
            name: None,
            color: None,
            flags: 0,
            icon: folder_icon(),
            guild_ids,
        }
    }
}

/// A custom status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomStatus {
    /// Up to 128 characters; `null` for an emoji alone.
    #[serde(default)]
    pub text: Option<String>,
    /// When it clears itself; omitted when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// A custom emoji; omitted for none (custom emojis are not built: always omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji_id: Option<EmojiId>,
    /// A Unicode emoji; `null` for none.
    #[serde(default)]
    pub emoji_name: Option<String>,
    /// Whether the custom emoji is animated.
    #[serde(default)]
    pub emoji_animated: bool,
}

/// `UserGuildSettingsResponse`: how one guild (or, with `guild_id` `null`, the DMs) notifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserGuildSettings {
    /// The guild; `null` for the DM settings.
    pub guild_id: Option<GuildId>,
    /// 0 all messages, 1 mentions only, 2 nothing, 3 the guild's default.
    pub message_notifications: u8,
    /// Muted.
    pub muted: bool,
    /// Until when, when muted for a while; `null` otherwise.
    pub mute_config: Option<MuteConfig>,
    /// Push notifications on mobile.
    pub mobile_push: bool,
    /// Ignore @everyone and @here.
    pub suppress_everyone: bool,
    /// Ignore role mentions.
    pub suppress_roles: bool,
    /// Hide muted channels.
    pub hide_muted_channels: bool,
    /// Per-channel settings; `null` when there are none.
    pub channel_overrides: Option<BTreeMap<ChannelId, ChannelOverride>>,
    /// Starts at 1, one more on every change.
    pub version: u32,
}

impl UserGuildSettings {
    /// The settings a first change starts from, as upstream makes them.
    pub fn new(guild_id: Option<GuildId>) -> UserGuildSettings {
        UserGuildSettings {
            guild_id,
            message_notifications: 3,
            muted: false,
            mute_config: None,
            mobile_push: false,
            suppress_everyone: false,
            suppress_roles: false,
            hide_muted_channels: false,
            channel_overrides: None,
            version: 0,
        }
    }
}

/// How long a mute lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MuteConfig {
    /// When the mute ends; `null` for never.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    /// The duration the user picked, as the client counts it.
    #[serde(default)]
    pub selected_time_window: i64,
}

/// One channel's notification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelOverride {
    /// Collapsed in the channel list (categories).
    #[serde(default)]
    pub collapsed: bool,
    /// 0 all messages, 1 mentions only, 2 nothing, 3 the guild's setting.
    #[serde(default)]
    pub message_notifications: u8,
    /// Muted.
    #[serde(default)]
    pub muted: bool,
    /// Until when, when muted for a while.
    #[serde(default)]
    pub mute_config: Option<MuteConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: u64) -> GuildId {
        GuildId::new(n)
    }

    #[test]
    fn folders_follow_memberships() {
        let mut s = UserSettings::default();
        s.reconcile_folders(&[]);
        assert!(s.guild_folders.is_empty());
        s.add_guild(g(1));
        s.add_guild(g(2));
        assert_eq!(
            s.guild_folders,
            vec![GuildFolder::uncategorised(vec![g(2), g(1)])]
        );
        // A folder of the user's own, a stale ID and a repeat.
        s.guild_folders.push(GuildFolder {
            id: 7,
            name: Some("mine".into()),
            color: None,
            flags: 0,
            icon: "star".into(),
            guild_ids: vec![g(1), g(9), g(2)],
        });
        s.reconcile_folders(&[g(1), g(2), g(3)]);
        assert_eq!(s.guild_folders[0].guild_ids, vec![g(2), g(1), g(3)]);
        assert_eq!(s.guild_folders.len(), 1);
        assert!(s.remove_guild(g(2)));
        assert!(!s.remove_guild(g(2)));
        assert_eq!(s.guild_folders[0].guild_ids, vec![g(1), g(3)]);
    }

    #[test]
    fn stored_settings_missing_new_keys_read_with_defaults() {
        let s: UserSettings = serde_json::from_str(r#"{"theme":"dark"}"#).unwrap();
        assert_eq!(s.theme, "dark");
        assert_eq!(s.render_spoilers, 1);
        let wire = serde_json::to_value(&s).unwrap();
        assert_eq!(wire.as_object().unwrap().len(), 28);
    }
}
