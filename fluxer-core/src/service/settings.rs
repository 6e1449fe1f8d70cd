//! What users keep for themselves: settings (`/users/@me/settings`), notification settings per
//! guild (`/users/@me/guilds/{id}/settings`), notes on other users and pinned DMs. Each change is
//! dispatched to the user's sessions in full, as upstream's clients expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;

use super::users::nullable;
use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::{
    ChannelOverride, ChannelType, CustomStatus, GuildFolder, MuteConfig, UNCATEGORISED_FOLDER,
    UserGuildSettings, UserSettings,
};
use crate::ports::{Dispatch, EventKind, PrivateDocument, Topic};
use crate::time::Timestamp;
use crate::validation::Validator;

/// Most guild folders, guilds per folder, and restricted guilds a user may list.
const MAX_FOLDER_ENTRIES: usize = 200;
/// Most trusted domains.
const MAX_TRUSTED_DOMAINS: usize = 1000;
/// Most pinned DMs.
const MAX_PINNED_DMS: usize = 100;
/// Most per-channel overrides in one guild's settings.
const MAX_CHANNEL_OVERRIDES: usize = 500;
/// The icons a folder may have.
const FOLDER_ICONS: &[&str] = &[
    "folder",
    "star",
    "heart",
    "bookmark",
    "game_controller",
    "shield",
    "music_note",
];

/// `PATCH /users/@me/settings`: every field optional; those given replace the stored value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserSettingsUpdate {
    /// `online`, `idle`, `dnd` or `invisible`.
    pub status: Option<String>,
    /// When a temporary status ends; `null` for never.
    #[serde(default, deserialize_with = "nullable")]
    pub status_resets_at: Option<Option<Timestamp>>,
    /// The status it returns to.
    #[serde(default, deserialize_with = "nullable")]
    pub status_resets_to: Option<Option<String>>,
    /// `dark`, `coal`, `light` or `system`.
    pub theme: Option<String>,
    /// A language tag such as `en-US`.
    pub locale: Option<String>,
    /// At most 200 guild IDs.
    pub restricted_guilds: Option<Vec<GuildId>>,
    /// At most 200 guild IDs.
    pub bot_restricted_guilds: Option<Vec<GuildId>>,
    /// See [`UserSettings`].
    pub default_guilds_restricted: Option<bool>,
    /// See [`UserSettings`].
    pub bot_default_guilds_restricted: Option<bool>,
    /// See [`UserSettings`].
    pub inline_attachment_media: Option<bool>,
    /// See [`UserSettings`].
    pub inline_embed_media: Option<bool>,
    /// See [`UserSettings`].
    pub gif_auto_play: Option<bool>,
    /// See [`UserSettings`].
    pub render_embeds: Option<bool>,
    /// See [`UserSettings`].
    pub render_reactions: Option<bool>,
    /// See [`UserSettings`].
    pub animate_emoji: Option<bool>,
    /// 0 to 2.
    pub animate_stickers: Option<i64>,
    /// 0 to 2.
    pub render_spoilers: Option<i64>,
    /// See [`UserSettings`].
    pub message_display_compact: Option<bool>,
    /// Bits 1, 2 and 4; 4 (anyone) only with both others.
    pub friend_source_flags: Option<i64>,
    /// Upstream's alias that sets `friend_source_flags` as given.
    pub flags: Option<i64>,
    /// Bits 1 to 32; "friends only" (8) and "nobody" (16) exclude the others but 32.
    pub incoming_call_flags: Option<i64>,
    /// Bits 1 to 16, the same rules.
    pub group_dm_add_permission_flags: Option<i64>,
    /// At most 200 folders of at most 200 guilds; replaces the list.
    pub guild_folders: Option<Vec<GuildFolder>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub custom_status: Option<Option<CustomStatus>>,
    /// Seconds.
    pub afk_timeout: Option<i64>,
    /// 0 to 2.
    pub time_format: Option<i64>,
    /// See [`UserSettings`].
    pub developer_mode: Option<bool>,
    /// At most 1000 domains of 1 to 253 characters; `*` alone trusts every domain.
    pub trusted_domains: Option<Vec<String>>,
    /// See [`UserSettings`].
    pub default_hide_muted_channels: Option<bool>,
}

/// `PATCH /users/@me/guilds/{id}/settings`: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserGuildSettingsUpdate {
    /// 0 to 3.
    pub message_notifications: Option<i64>,
    /// Muted.
    pub muted: Option<bool>,
    /// `null` for a mute without end.
    #[serde(default, deserialize_with = "nullable")]
    pub mute_config: Option<Option<MuteConfig>>,
    /// Push on mobile.
    pub mobile_push: Option<bool>,
    /// Ignore @everyone.
    pub suppress_everyone: Option<bool>,
    /// Ignore role mentions.
    pub suppress_roles: Option<bool>,
    /// Hide muted channels.
    pub hide_muted_channels: Option<bool>,
    /// Replaces every channel's settings; `null` or `{}` clears them.
    #[serde(default, deserialize_with = "nullable")]
    pub channel_overrides: Option<Option<BTreeMap<ChannelId, ChannelOverride>>>,
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("a stored user document does not decode: {e}")))
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Keeps only the bits a flag set allows, as upstream normalises them.
fn call_flags(v: &mut Validator, path: &str, value: i64, with_silent: bool) -> u32 {
    let max = if with_silent { 63 } else { 31 };
    v.range(path, value, 0, max);
    let value = value.clamp(0, max) as u32;
    let silent = value & 32;
    if value & 8 != 0 {
        8 | silent
    } else if value & 16 != 0 {
        16 | silent
    } else {
        value
    }
}

impl Fluxer {
    async fn private_doc<T: DeserializeOwned>(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> Result<Option<T>> {
        match self.store().get_private_document(user, kind, key).await? {
            Some(text) => Ok(Some(decode(&text)?)),
            None => Ok(None),
        }
    }

    /// The stored settings, or a new account's (in the user's locale).
    async fn stored_settings(&self, user: UserId) -> Result<UserSettings> {
        if let Some(settings) = self.private_doc(user, PrivateDocument::Settings, 0).await? {
            return Ok(settings);
        }
        let mut settings = UserSettings::default();
        if let Some(u) = self.store().get_user(user).await? {
            settings.locale = u.locale;
        }
        Ok(settings)
    }

    /// The user's settings as clients get them: folders in line with the guilds the user is in.
    pub async fn settings_of(&self, user: UserId) -> Result<UserSettings> {
        let guilds = self.store().list_user_guild_ids(user).await?;
        self.settings_in(user, &guilds).await
    }

    /// [`Fluxer::settings_of`] for a caller that has just read the user's guilds.
    pub(crate) async fn settings_in(
        &self,
        user: UserId,
        guilds: &[GuildId],
    ) -> Result<UserSettings> {
        let mut settings = self.stored_settings(user).await?;
        settings.reconcile_folders(guilds);
        Ok(settings)
    }

    /// `GET /users/@me/settings`.
    pub async fn user_settings(&self, actor: &Actor) -> Result<UserSettings> {
        self.settings_of(actor.id()).await
    }

    async fn save_settings(&self, user: UserId, settings: &UserSettings) -> Result<UserSettings> {
        self.store()
            .put_private_document(user, PrivateDocument::Settings, 0, Some(&encode(settings)))
            .await?;
        let mut current = settings.clone();
        current.reconcile_folders(&self.store().list_user_guild_ids(user).await?);
        self.emit(Dispatch::new(
            EventKind::UserSettingsUpdate,
            Topic::User(user),
            &current,
        ))
        .await;
        Ok(current)
    }

    /// `PATCH /users/@me/settings`: validates, stores and dispatches `USER_SETTINGS_UPDATE` with
    /// the whole settings object.
    pub async fn update_user_settings(
        &self,
        actor: &Actor,
        req: UserSettingsUpdate,
    ) -> Result<UserSettings> {
        let mut s = self.stored_settings(actor.id()).await?;
        let mut v = Validator::new();
        let one_of = |v: &mut Validator, path: &str, value: &str, allowed: &[&str]| {
            v.check(
                allowed.contains(&value),
                path,
                "BASE_TYPE_CHOICES",
                &format!("Must be one of: {}.", allowed.join(", ")),
            );
        };
        const STATUSES: &[&str] = &["online", "idle", "dnd", "invisible"];
        if let Some(status) = req.status {
            one_of(&mut v, "status", &status, STATUSES);
            s.status = status;
        }
        if let Some(at) = req.status_resets_at {
            s.status_resets_at = at;
        }
        if let Some(to) = req.status_resets_to {
            if let Some(to) = &to {
                one_of(&mut v, "status_resets_to", to, STATUSES);
            }
            s.status_resets_to = to;
        }
        if let Some(theme) = req.theme {
            one_of(
                &mut v,
                "theme",
                &theme,
                &["dark", "coal", "light", "system"],
            );
            s.theme = theme;
        }
        if let Some(locale) = req.locale {
            v.check(
                (2..=10).contains(&locale.len())
                    && locale
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "locale",
                "INVALID_LOCALE",
                "Not a locale.",
            );
            s.locale = locale;
        }
        if let Some(g) = req.restricted_guilds {
            v.count("restricted_guilds", g.len(), MAX_FOLDER_ENTRIES);
            s.restricted_guilds = g;
        }
        if let Some(g) = req.bot_restricted_guilds {
            v.count("bot_restricted_guilds", g.len(), MAX_FOLDER_ENTRIES);
            s.bot_restricted_guilds = g;
        }
        let flags = [
            (
                req.default_guilds_restricted,
                &mut s.default_guilds_restricted,
            ),
            (
                req.bot_default_guilds_restricted,
                &mut s.bot_default_guilds_restricted,
            ),
            (req.inline_attachment_media, &mut s.inline_attachment_media),
            (req.inline_embed_media, &mut s.inline_embed_media),
            (req.gif_auto_play, &mut s.gif_auto_play),
            (req.render_embeds, &mut s.render_embeds),
            (req.render_reactions, &mut s.render_reactions),
            (req.animate_emoji, &mut s.animate_emoji),
            (req.message_display_compact, &mut s.message_display_compact),
            (req.developer_mode, &mut s.developer_mode),
            (
                req.default_hide_muted_channels,
                &mut s.default_hide_muted_channels,
            ),
        ];
        for (given, field) in flags {
            if let Some(value) = given {
                *field = value;
            }
        }
        for (path, given, field) in [
            (
                "animate_stickers",
                req.animate_stickers,
                &mut s.animate_stickers,
            ),
            (
                "render_spoilers",
                req.render_spoilers,
                &mut s.render_spoilers,
            ),
            ("time_format", req.time_format, &mut s.time_format),
        ] {
            if let Some(value) = given {
                v.range(path, value, 0, 2);
                *field = value.clamp(0, 2) as u8;
            }
        }
        if let Some(flags) = req.flags {
            v.range("flags", flags, 0, 7);
            s.friend_source_flags = flags.clamp(0, 7) as u32;
        }
        if let Some(flags) = req.friend_source_flags {
            v.range("friend_source_flags", flags, 0, 7);
            let mut flags = flags.clamp(0, 7) as u32;
            if flags & 3 != 3 {
                flags &= !4;
            }
            s.friend_source_flags = flags;
        }
        if let Some(flags) = req.incoming_call_flags {
            s.incoming_call_flags = call_flags(&mut v, "incoming_call_flags", flags, true);
        }
        if let Some(flags) = req.group_dm_add_permission_flags {
            s.group_dm_add_permission_flags =
                call_flags(&mut v, "group_dm_add_permission_flags", flags, false);
        }
        if let Some(mut folders) = req.guild_folders {
            v.count("guild_folders", folders.len(), MAX_FOLDER_ENTRIES);
            for (i, f) in folders.iter().enumerate() {
                let path = format!("guild_folders.{i}");
                v.check(
                    f.id >= UNCATEGORISED_FOLDER,
                    &format!("{path}.id"),
                    "NUMBER_TYPE_MIN",
                    "Folder IDs are -1 or more.",
                );
                v.opt_length(&format!("{path}.name"), f.name.as_deref(), 0, 100);
                one_of(&mut v, &format!("{path}.icon"), &f.icon, FOLDER_ICONS);
                v.count(
                    &format!("{path}.guild_ids"),
                    f.guild_ids.len(),
                    MAX_FOLDER_ENTRIES,
                );
            }
            if !folders.iter().any(|f| f.id == UNCATEGORISED_FOLDER) {
                folders.insert(0, GuildFolder::uncategorised(Vec::new()));
            }
            s.guild_folders = folders;
        }
        if let Some(status) = req.custom_status {
            if let Some(c) = &status {
                v.opt_length("custom_status.text", c.text.as_deref(), 1, 128);
                v.opt_length("custom_status.emoji_name", c.emoji_name.as_deref(), 1, 32);
                if let Some(at) = c.expires_at {
                    v.check(
                        at > self.now(),
                        "custom_status.expires_at",
                        "DATE_MUST_BE_IN_FUTURE",
                        "The status must expire in the future.",
                    );
                }
                if c.emoji_id.is_some() {
                    v.check(
                        false,
                        "custom_status.emoji_id",
                        "CUSTOM_EMOJI_NOT_FOUND",
                        "Custom emojis are not available on this instance.",
                    );
                }
            }
            s.custom_status = status;
        }
        if let Some(t) = req.afk_timeout {
            v.range("afk_timeout", t, 0, 86_400);
            s.afk_timeout = t;
        }
        if let Some(domains) = req.trusted_domains {
            v.count("trusted_domains", domains.len(), MAX_TRUSTED_DOMAINS);
            for (i, d) in domains.iter().enumerate() {
                v.length(&format!("trusted_domains.{i}"), d, 1, 253);
            }
            v.check(
                !(domains.len() > 1 && domains.iter().any(|d| d == "*")),
                "trusted_domains",
                "INVALID_TRUSTED_DOMAINS",
                "Trust every domain (*) or list domains, not both.",
            );
            s.trusted_domains = domains;
        }
        v.finish()?;
        self.save_settings(actor.id(), &s).await
    }

    /// A guild the user just created or joined goes first in the uncategorised folder.
    pub(crate) async fn settings_guild_added(&self, user: UserId, guild: GuildId) -> Result<()> {
        let mut s = self.stored_settings(user).await?;
        s.add_guild(guild);
        self.save_settings(user, &s).await?;
        Ok(())
    }

    /// A guild the user left (or that was deleted) leaves the folders.
    pub(crate) async fn settings_guild_removed(&self, user: UserId, guild: GuildId) -> Result<()> {
        let mut s = self.stored_settings(user).await?;
        if s.remove_guild(guild) {
            self.save_settings(user, &s).await?;
        }
        Ok(())
    }

    /// Every guild's notification settings the user changed (the DMs' with `guild_id` `null`).
    pub async fn guild_settings_of(&self, user: UserId) -> Result<Vec<UserGuildSettings>> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::GuildSettings)
            .await?;
        docs.iter().map(|(_, text)| decode(text)).collect()
    }

    /// `PATCH /users/@me/guilds/{id}/settings` (`guild` `None`: the DMs'). Dispatches
    /// `USER_GUILD_SETTINGS_UPDATE` with the whole object.
    pub async fn update_guild_settings(
        &self,
        actor: &Actor,
        guild: Option<GuildId>,
        req: UserGuildSettingsUpdate,
    ) -> Result<UserGuildSettings> {
        let key = guild.map_or(0, |g| g.get());
        let mut s: UserGuildSettings = self
            .private_doc(actor.id(), PrivateDocument::GuildSettings, key)
            .await?
            .unwrap_or_else(|| UserGuildSettings::new(guild));
        let mut v = Validator::new();
        if let Some(n) = req.message_notifications {
            v.range("message_notifications", n, 0, 3);
            s.message_notifications = n.clamp(0, 3) as u8;
        }
        for (given, field) in [
            (req.muted, &mut s.muted),
            (req.mobile_push, &mut s.mobile_push),
            (req.suppress_everyone, &mut s.suppress_everyone),
            (req.suppress_roles, &mut s.suppress_roles),
            (req.hide_muted_channels, &mut s.hide_muted_channels),
        ] {
            if let Some(value) = given {
                *field = value;
            }
        }
        if let Some(mute) = req.mute_config {
            s.mute_config = mute;
        }
        if let Some(overrides) = req.channel_overrides {
            if let Some(o) = &overrides {
                v.count("channel_overrides", o.len(), MAX_CHANNEL_OVERRIDES);
                for (channel, c) in o {
                    v.range(
                        &format!("channel_overrides.{channel}.message_notifications"),
                        i64::from(c.message_notifications),
                        0,
                        3,
                    );
                }
            }
            s.channel_overrides = overrides.filter(|o| !o.is_empty());
        }
        v.finish()?;
        s.version += 1;
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::GuildSettings,
                key,
                Some(&encode(&s)),
            )
            .await?;
        self.emit(Dispatch::new(
            EventKind::UserGuildSettingsUpdate,
            Topic::User(actor.id()),
            &s,
        ))
        .await;
        Ok(s)
    }

    /// The user's notes on others (`GET /users/@me/notes`), by user ID.
    pub async fn notes_of(&self, user: UserId) -> Result<BTreeMap<UserId, String>> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::Note)
            .await?;
        Ok(docs
            .into_iter()
            .map(|(key, note)| (UserId::new(key), note))
            .collect())
    }

    /// `GET /users/@me/notes/{id}`; `UNKNOWN_USER` without one.
    pub async fn note(&self, actor: &Actor, target: UserId) -> Result<String> {
        self.store()
            .get_private_document(actor.id(), PrivateDocument::Note, target.get())
            .await?
            .ok_or(Error::Unknown(Unknown::User))
    }

    /// `PUT /users/@me/notes/{id}`: 1 to 256 characters, or `None` to delete. Dispatches
    /// `USER_NOTE_UPDATE` (`note` empty once deleted).
    pub async fn set_note(
        &self,
        actor: &Actor,
        target: UserId,
        note: Option<String>,
    ) -> Result<()> {
        let note = note.map(|n| n.trim().to_owned());
        let mut v = Validator::new();
        v.opt_length("note", note.as_deref(), 1, 256);
        v.finish()?;
        if self.store().get_user(target).await?.is_none() {
            return Err(Error::Unknown(Unknown::User));
        }
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::Note,
                target.get(),
                note.as_deref(),
            )
            .await?;
        self.emit(Dispatch::new(
            EventKind::UserNoteUpdate,
            Topic::User(actor.id()),
            &json!({ "id": target, "note": note.unwrap_or_default() }),
        ))
        .await;
        Ok(())
    }

    /// The DMs the user pinned, in pin order.
    pub async fn pinned_dms_of(&self, user: UserId) -> Result<Vec<ChannelId>> {
        Ok(self
            .private_doc(user, PrivateDocument::PinnedDms, 0)
            .await?
            .unwrap_or_default())
    }

    /// `PUT|DELETE /users/@me/channels/{id}/pin`: pins a DM or group DM the user is in to the top
    /// of the list (appended), or unpins it. Dispatches `USER_PINNED_DMS_UPDATE` (the list).
    pub async fn set_dm_pinned(
        &self,
        actor: &Actor,
        channel: ChannelId,
        pinned: bool,
    ) -> Result<()> {
        let found = self
            .store()
            .get_channel(channel)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        if !matches!(found.kind, ChannelType::Dm | ChannelType::GroupDm) {
            return Err(Error::rejected(
                "CHANNEL_MUST_BE_DM_OR_GROUP_DM",
                "Only DMs and group DMs can be pinned.",
            ));
        }
        if !found.recipient_ids.contains(&actor.id()) {
            return Err(Error::MissingAccess);
        }
        let mut pins = self.pinned_dms_of(actor.id()).await?;
        let before = pins.clone();
        pins.retain(|c| *c != channel);
        if pinned {
            if pins.len() >= MAX_PINNED_DMS {
                return Err(Error::rejected(
                    "MAX_PINNED_DMS",
                    format!("At most {MAX_PINNED_DMS} DMs can be pinned."),
                ));
            }
            pins.push(channel);
        }
        if pinned && before.contains(&channel) {
            return Ok(());
        }
        if pins != before {
            self.store()
                .put_private_document(
                    actor.id(),
                    PrivateDocument::PinnedDms,
                    0,
                    Some(&encode(&pins)),
                )
                .await?;
            self.emit(Dispatch::new(
                EventKind::UserPinnedDmsUpdate,
                Topic::User(actor.id()),
                &pins,
            ))
            .await;
        }
        Ok(())
    }
}
