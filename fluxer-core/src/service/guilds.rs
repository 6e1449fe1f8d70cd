//! Guilds: creation, settings, deletion, ownership, vanity codes, leaving, and the guild snapshot the
//! gateway sends in `GUILD_CREATE`.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::{
    Channel, ChannelType, Guild, GuildResponse, GuildSnapshot, Invite, Member, PresenceResponse,
    Role, UserGuild, VanityUrl, audit_action,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, Topic, conflict, is_conflict};
use crate::validation::Validator;

use super::audit::Audited;
use super::{Actor, DEFAULT_LARGE_THRESHOLD, Fluxer};

/// `POST /guilds`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GuildCreate {
    /// 1 to 100 characters once trimmed.
    pub name: String,
    /// A data URI (`data:image/png;base64,...`): PNG, JPEG, GIF or WebP, at most 10 MiB. Fails with
    /// `UPLOADS_UNAVAILABLE` when the instance has no file storage.
    #[serde(default)]
    pub icon: Option<String>,
    /// Accepted from upstream clients and ignored: new guilds start with no features anyway.
    #[serde(default)]
    pub empty_features: bool,
}

/// A guild feature its managers may turn on and off themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuildFeature {
    /// `DETACHED_BANNER`: the banner shown apart from the guild's header.
    DetachedBanner,
    /// `TEXT_CHANNEL_FLEXIBLE_NAMES`: text channel names kept as written (capitals, spaces).
    TextChannelFlexibleNames,
}

impl GuildFeature {
    /// The feature string.
    pub fn as_str(self) -> &'static str {
        match self {
            GuildFeature::DetachedBanner => "DETACHED_BANNER",
            GuildFeature::TextChannelFlexibleNames => super::channels::FLEXIBLE_NAMES,
        }
    }
}

/// `PATCH /guilds/{id}`: absent fields are left alone; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GuildUpdate {
    /// New name, 1 to 100 characters once trimmed.
    pub name: Option<String>,
    /// Up to 300 characters; `null` clears it.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub description: Option<Option<String>>,
    /// 0 to 4, as Discord. Stored and echoed for clients; the server does not enforce it.
    pub verification_level: Option<u8>,
    /// 0 (all messages) or 1 (mentions only). Stored for clients.
    pub default_message_notifications: Option<u8>,
    /// 0 to 2, as Discord. Stored for clients; nothing filters content.
    pub explicit_content_filter: Option<u8>,
    /// A channel of this guild (`UNKNOWN_CHANNEL` otherwise), or `null` for none. The vanity invite
    /// points to it.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub system_channel_id: Option<Option<ChannelId>>,
    /// Upstream's system channel flag bits, stored as given.
    pub system_channel_flags: Option<u32>,
    /// A channel of this guild, or `null` for none.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub rules_channel_id: Option<Option<ChannelId>>,
    /// A channel of this guild, or `null` for none.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub afk_channel_id: Option<Option<ChannelId>>,
    /// Seconds of voice idleness before a user counts as AFK (as Discord), 60 to 3600. Stored for
    /// clients.
    pub afk_timeout: Option<u32>,
    /// A data URI (`data:image/png;base64,...`) to set, `null` to remove.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub icon: Option<Option<String>>,
    /// A data URI to set (same rules as `icon`), `null` to remove.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub banner: Option<Option<String>>,
    /// Other feature flags to turn on or off (the toggle routes set them).
    #[serde(skip)]
    pub(crate) feature_toggles: Vec<(&'static str, bool)>,
}

fn validate_guild_name(v: &mut Validator, name: &str) {
    v.length("name", name.trim(), 1, 100);
}

impl Fluxer {
    /// Creates a guild owned by the caller, with an @everyone role and a `general` text channel.
    pub async fn create_guild(&self, actor: &Actor, req: GuildCreate) -> Result<Guild> {
        let mut v = Validator::new();
        validate_guild_name(&mut v, &req.name);
        v.finish()?;
        let owned = self.store().list_user_guild_ids(actor.id()).await?;
        let max = self.limits_for(&actor.user).await?.guilds_per_user;
        if owned.len() >= max {
            return Err(Error::LimitReached {
                limit: Limit::Guilds,
                max: max as u64,
            });
        }
        let guild_id: GuildId = self.next_id();
        let general: ChannelId = self.next_id();
        let icon = match req.icon.as_deref() {
            Some(uri) => Some(self.store_image("icon", "icons", guild_id, uri).await?),
            None => None,
        };
        let guild = Guild {
            id: guild_id,
            name: req.name.trim().to_owned(),
            icon,
            banner: None,
            splash: None,
            description: None,
            owner_id: actor.id(),
            features: Vec::new(),
            verification_level: 0,
            mfa_level: 0,
            nsfw_level: 0,
            explicit_content_filter: 0,
            default_message_notifications: 0,
            system_channel_id: Some(general),
            system_channel_flags: 0,
            rules_channel_id: None,
            afk_channel_id: None,
            afk_timeout: 300,
            vanity_url_code: None,
            disabled_operations: 0,
        };
        let everyone = Role {
            id: guild_id.everyone_role(),
            guild_id,
            name: "@everyone".to_owned(),
            color: 0,
            position: 0,
            hoist: false,
            mentionable: false,
            permissions: Permissions::DEFAULT,
            unicode_emoji: None,
            hoist_position: None,
        };
        let channel = new_guild_channel(general, guild_id, ChannelType::GuildText, "general", 0);
        let owner = Member {
            guild_id,
            user_id: actor.id(),
            nick: None,
            avatar: None,
            roles: Vec::new(),
            joined_at: self.now(),
            mute: false,
            deaf: false,
            communication_disabled_until: None,
        };
        self.store()
            .create_guild(&guild, &[everyone], &[channel], &owner)
            .await?;
        let snapshot = self.guild_snapshot(guild_id, actor.id()).await?;
        self.emit(
            Dispatch::new(EventKind::GuildCreate, Topic::User(actor.id()), &snapshot)
                .about_guild(guild_id),
        )
        .await;
        if !actor.is_bot() {
            self.settings_guild_added(actor.id(), guild_id).await?;
        }
        self.index_guild_later(guild_id).await;
        Ok(guild)
    }

    /// The guild as `GET /guilds/{id}` returns it.
    /// `GET /guilds/{id}`: the guild, its roles, the caller's permissions and the member count.
    pub async fn get_guild(&self, actor: &Actor, guild_id: GuildId) -> Result<GuildResponse> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        let member_count = self.store().count_members(guild_id).await?;
        Ok(GuildResponse {
            guild: access.guild,
            roles: access.roles,
            permissions: access.permissions,
            member_count,
            emojis: self.emoji_responses(guild_id).await?,
            stickers: self.sticker_responses(guild_id).await?,
        })
    }

    /// Everything a client needs about a guild it can see: the `GUILD_CREATE` payload, for a
    /// session with the default `large_threshold`.
    pub async fn guild_snapshot(&self, guild_id: GuildId, viewer: UserId) -> Result<GuildSnapshot> {
        self.guild_snapshot_for(guild_id, viewer, DEFAULT_LARGE_THRESHOLD)
            .await
    }

    /// [`Fluxer::guild_snapshot`] for a session whose guilds with more than `large_threshold`
    /// members are large: those come with their first 100 members and no presences; others with
    /// every member and the presences of those online.
    pub async fn guild_snapshot_for(
        &self,
        guild_id: GuildId,
        viewer: UserId,
        large_threshold: u64,
    ) -> Result<GuildSnapshot> {
        let access = self.guild_access(viewer, guild_id).await?;
        let channels: Vec<Channel> = self
            .store()
            .list_guild_channels(guild_id)
            .await?
            .into_iter()
            .filter(|c| {
                access
                    .channel_permissions(c)
                    .contains(Permissions::VIEW_CHANNEL)
            })
            .collect();
        let member_count = self.store().count_members(guild_id).await?;
        let large = member_count > large_threshold;
        let page = if large { 100 } else { member_count.max(1) };
        let members = self
            .store()
            .list_members(guild_id, None, u32::try_from(page).unwrap_or(u32::MAX))
            .await?;
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let users = self.user_partials(&ids).await?;
        let members: Vec<_> = members
            .iter()
            .filter_map(|m| users.get(&m.user_id).map(|u| m.response(u.clone())))
            .collect();
        let (presences, online_count) = if large {
            (Vec::new(), self.guild_online_count(guild_id).await?)
        } else {
            let online: Vec<PresenceResponse> = self
                .presences(&ids)
                .await?
                .iter()
                .map(|p| PresenceResponse::of(p, Some(guild_id)))
                .filter(PresenceResponse::is_online)
                .collect();
            let count = online.len() as u64;
            (online, count)
        };
        Ok(GuildSnapshot {
            channels: channels.iter().map(|c| c.response(Vec::new())).collect(),
            members,
            member_count,
            online_count,
            joined_at: access.member.joined_at,
            presences,
            voice_states: self
                .guild_voice_states(guild_id)
                .await?
                .into_iter()
                .filter(|v| {
                    v.channel_id
                        .is_some_and(|c| channels.iter().any(|ch| ch.id == c))
                })
                .collect(),
            emojis: self.emoji_responses(guild_id).await?,
            stickers: self.sticker_responses(guild_id).await?,
            large,
            unavailable: false,
            lazy: true,
            roles: access.roles,
            properties: access.guild.clone(),
            guild: access.guild,
        })
    }

    /// Edits guild settings (`PATCH /guilds/{id}`); needs `MANAGE_GUILD`. Replaced images are
    /// deleted later and the discovery entry is reindexed. Publishes `GUILD_UPDATE`.
    pub async fn update_guild(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: GuildUpdate,
    ) -> Result<Guild> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;
        let mut v = Validator::new();
        if let Some(name) = &req.name {
            validate_guild_name(&mut v, name);
        }
        if let Some(Some(d)) = &req.description {
            v.length("description", d, 0, 300);
        }
        if let Some(l) = req.verification_level {
            v.range("verification_level", i64::from(l), 0, 4);
        }
        if let Some(l) = req.default_message_notifications {
            v.range("default_message_notifications", i64::from(l), 0, 1);
        }
        if let Some(l) = req.explicit_content_filter {
            v.range("explicit_content_filter", i64::from(l), 0, 2);
        }
        if let Some(t) = req.afk_timeout {
            v.range("afk_timeout", i64::from(t), 60, 3600);
        }
        v.finish()?;
        let channels = self.store().list_guild_channels(guild_id).await?;
        let check_channel = |path: &str, id: Option<Option<ChannelId>>| -> Result<()> {
            match id {
                Some(Some(id)) if !channels.iter().any(|c| c.id == id) => {
                    Err(Error::field(path, "UNKNOWN_CHANNEL", "Unknown channel."))
                }
                _ => Ok(()),
            }
        };
        check_channel("system_channel_id", req.system_channel_id)?;
        check_channel("rules_channel_id", req.rules_channel_id)?;
        check_channel("afk_channel_id", req.afk_channel_id)?;
        let before = access.guild.clone();
        let mut guild = access.guild;
        if let Some(name) = req.name {
            guild.name = name.trim().to_owned();
        }
        if let Some(d) = req.description {
            guild.description = d;
        }
        if let Some(l) = req.verification_level {
            guild.verification_level = l;
        }
        if let Some(l) = req.default_message_notifications {
            guild.default_message_notifications = l;
        }
        if let Some(l) = req.explicit_content_filter {
            guild.explicit_content_filter = l;
        }
        if let Some(c) = req.system_channel_id {
            guild.system_channel_id = c;
        }
        if let Some(f) = req.system_channel_flags {
            guild.system_channel_flags = f;
        }
        if let Some(c) = req.rules_channel_id {
            guild.rules_channel_id = c;
        }
        if let Some(c) = req.afk_channel_id {
            guild.afk_channel_id = c;
        }
        if let Some(t) = req.afk_timeout {
            guild.afk_timeout = t;
        }
        for (feature, on) in req.feature_toggles {
            guild.features.retain(|f| f != feature);
            if on {
                guild.features.push(feature.to_owned());
            }
        }
        let mut replaced = Vec::new();
        for (field, kind, value) in [
            ("icon", "icons", req.icon),
            ("banner", "banners", req.banner),
        ] {
            let Some(value) = value else { continue };
            let new = match value {
                Some(uri) => Some(self.store_image(field, kind, guild.id, &uri).await?),
                None => None,
            };
            let slot = if field == "icon" {
                &mut guild.icon
            } else {
                &mut guild.banner
            };
            if let Some(old) = slot.take().filter(|o| Some(o) != new.as_ref()) {
                replaced.push(super::image_key(kind, guild.id, &old));
            }
            *slot = new;
        }
        self.store().update_guild(&guild).await?;
        self.delete_blobs_later(replaced).await;
        self.emit_guild_update(&guild).await;
        let changes = super::audit::diff(&before, &guild, &[]);
        if !changes.is_empty() {
            let entry = Audited::new(audit_action::GUILD_UPDATE, guild.id, changes);
            self.audit(actor, guild.id, entry).await?;
        }
        Ok(guild)
    }

    /// `PATCH /guilds/{id}/detached-banner` and `/text-channel-flexible-names`: turns one of the
    /// guild's optional features on or off, as an edit of the guild (MANAGE_GUILD, `GUILD_UPDATE`,
    /// the audit log). Turning flexible channel names off normalises text channel names again.
    pub async fn set_guild_feature(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        feature: GuildFeature,
        enabled: bool,
    ) -> Result<Guild> {
        let name = feature.as_str();
        let was_on = self
            .guild_access(actor.id(), guild_id)
            .await?
            .guild
            .features
            .iter()
            .any(|f| f == name);
        let req = GuildUpdate {
            feature_toggles: vec![(name, enabled)],
            ..GuildUpdate::default()
        };
        let guild = self.update_guild(actor, guild_id, req).await?;
        if feature == GuildFeature::TextChannelFlexibleNames && was_on && !enabled {
            self.normalize_channel_names(guild_id).await?;
        }
        Ok(guild)
    }

    /// Deletes a guild; owner only. A person must confirm with the password (bots need not).
    pub async fn delete_guild(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        password: Option<&str>,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        if !access.is_owner() {
            return Err(Error::MissingPermissions);
        }
        if !actor.is_bot() {
            self.require_password(actor, password).await?;
        }
        self.erase_guild(guild_id).await
    }

    /// Deletes a guild with its expressions' images, telling its members first (`GUILD_DELETE`):
    /// what the owner's deletion and staff's do once allowed.
    pub(crate) async fn erase_guild(&self, guild_id: GuildId) -> Result<()> {
        let payload = json!({ "id": guild_id, "unavailable": false });
        // Tell members before the topic's membership vanishes.
        self.emit(Dispatch::new(
            EventKind::GuildDelete,
            Topic::Guild(guild_id),
            &payload,
        ))
        .await;
        // The guild's emoji and sticker images go with it.
        let mut images = Vec::new();
        for kind in [
            crate::model::ExpressionKind::Emoji,
            crate::model::ExpressionKind::Sticker,
        ] {
            for e in self.store().list_guild_expressions(guild_id, kind).await? {
                images.push(e.blob_key());
            }
        }
        self.store().delete_guild(guild_id).await?;
        self.delete_blobs_later(images).await;
        self.index_guild_later(guild_id).await;
        Ok(())
    }

    /// Hands the guild to another member; owner only.
    pub async fn transfer_ownership(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        new_owner: UserId,
        password: Option<&str>,
    ) -> Result<Guild> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        if !access.is_owner() {
            return Err(Error::MissingPermissions);
        }
        if !actor.is_bot() {
            self.require_password(actor, password).await?;
        }
        if self
            .store()
            .get_member(guild_id, new_owner)
            .await?
            .is_none()
        {
            return Err(Error::Unknown(Unknown::Member));
        }
        let mut guild = access.guild;
        guild.owner_id = new_owner;
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        Ok(guild)
    }

    /// `GET /guilds/{id}/vanity-url`.
    pub async fn get_vanity(&self, actor: &Actor, guild_id: GuildId) -> Result<VanityUrl> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;
        let uses = match &access.guild.vanity_url_code {
            Some(code) => self
                .store()
                .get_invite(code)
                .await?
                .map(|i| i.uses)
                .unwrap_or(0),
            None => 0,
        };
        Ok(VanityUrl {
            code: access.guild.vanity_url_code,
            uses: Some(uses),
        })
    }

    /// Sets or clears the guild's vanity invite code (unique across the instance, shared with invites).
    pub async fn set_vanity(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        code: Option<String>,
    ) -> Result<VanityUrl> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;
        self.apply_vanity(access.guild, code).await
    }

    /// Sets or clears a guild's vanity code once allowed (the owner's change and staff's): checks
    /// the code's shape and uniqueness, swaps the vanity invite, publishes `GUILD_UPDATE`.
    pub(crate) async fn apply_vanity(
        &self,
        guild: Guild,
        code: Option<String>,
    ) -> Result<VanityUrl> {
        let guild_id = guild.id;
        if let Some(c) = &code {
            let ok = (2..=32).contains(&c.len())
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(Error::field(
                    "code",
                    "INVALID_VANITY_URL_CODE",
                    "2-32 letters, digits or dashes.",
                ));
            }
        }
        let mut guild = guild;
        let old = guild.vanity_url_code.clone();
        if old == code {
            return Ok(VanityUrl { code, uses: None });
        }
        if let Some(c) = &code {
            let invite = Invite {
                code: c.clone(),
                guild_id: Some(guild_id),
                channel_id: Some(
                    guild
                        .system_channel_id
                        .or(guild.rules_channel_id)
                        .unwrap_or(ChannelId(guild_id.0)),
                ),
                pack_id: None,
                inviter_id: None,
                uses: 0,
                max_uses: 0,
                max_age: 0,
                temporary: false,
                created_at: self.now(),
                vanity: true,
            };
            match self.store().create_invite(&invite).await {
                Ok(()) => {}
                Err(e) if is_conflict(&e, conflict::INVITE_CODE) => {
                    return Err(Error::field(
                        "code",
                        "VANITY_URL_CODE_ALREADY_TAKEN",
                        "That vanity code is taken.",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        guild.vanity_url_code = code.clone();
        match self.store().update_guild(&guild).await {
            Ok(()) => {}
            Err(e) if is_conflict(&e, conflict::GUILD_VANITY) => {
                if let Some(c) = &code {
                    self.store().delete_invite(c).await?;
                }
                return Err(Error::field(
                    "code",
                    "VANITY_URL_CODE_ALREADY_TAKEN",
                    "That vanity code is taken.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(old) = old {
            self.store().delete_invite(&old).await?;
        }
        self.emit_guild_update(&guild).await;
        Ok(VanityUrl { code, uses: None })
    }

    /// Tells the guild its settings changed.
    pub(crate) async fn emit_guild_update(&self, guild: &Guild) {
        self.index_guild_later(guild.id).await;
        self.emit(Dispatch::new(
            EventKind::GuildUpdate,
            Topic::Guild(guild.id),
            guild,
        ))
        .await;
    }

    /// The caller's guilds (`GET /users/@me/guilds`), by ascending ID, paged with before/after;
    /// `with_counts` adds each guild's member and online counts. Through an OAuth2 token it needs
    /// the `guilds` scope.
    pub async fn list_user_guilds(
        &self,
        actor: &Actor,
        before: Option<GuildId>,
        after: Option<GuildId>,
        limit: u32,
        with_counts: bool,
    ) -> Result<Vec<UserGuild>> {
        actor.require_scope(crate::model::OAuth2Scope::Guilds)?;
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 200);
        v.finish()?;
        let ids: Vec<GuildId> = self
            .store()
            .list_user_guild_ids(actor.id())
            .await?
            .into_iter()
            .filter(|id| before.is_none_or(|b| *id < b) && after.is_none_or(|a| *id > a))
            .collect();
        let ids: Vec<GuildId> = if before.is_some() && after.is_none() {
            let skip = ids.len().saturating_sub(limit as usize);
            ids[skip..].to_vec()
        } else {
            ids.into_iter().take(limit as usize).collect()
        };
        let guilds = self.store().get_guilds(&ids).await?;
        let mut out = Vec::with_capacity(guilds.len());
        for id in ids {
            let Some(g) = guilds.iter().find(|g| g.id == id) else {
                continue;
            };
            let access = self.guild_access(actor.id(), id).await?;
            let (members, online) = if with_counts {
                (
                    Some(self.store().count_members(id).await?),
                    Some(self.guild_online_count(id).await?),
                )
            } else {
                (None, None)
            };
            out.push(UserGuild {
                approximate_member_count: members,
                approximate_presence_count: online,
                id: g.id,
                name: g.name.clone(),
                icon: g.icon.clone(),
                banner: g.banner.clone(),
                owner: g.owner_id == actor.id(),
                owner_id: g.owner_id,
                permissions: access.permissions,
                features: g.features.clone(),
            });
        }
        Ok(out)
    }

    /// Leaves a guild. The owner must transfer or delete it instead.
    pub async fn leave_guild(&self, actor: &Actor, guild_id: GuildId) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        if access.is_owner() {
            return Err(Error::field(
                "guild_id",
                "CANNOT_LEAVE_GUILD_AS_OWNER",
                "Transfer ownership or delete the guild instead.",
            ));
        }
        self.remove_member_and_notify(guild_id, actor.id()).await?;
        self.settings_guild_removed(actor.id(), guild_id).await
    }

    /// Removes a membership and tells the guild and the user.
    pub(crate) async fn remove_member_and_notify(
        &self,
        guild_id: GuildId,
        user: UserId,
    ) -> Result<()> {
        if !self.store().remove_member(guild_id, user).await? {
            return Err(Error::Unknown(Unknown::Member));
        }
        let partial = self.user_partials(&[user]).await?.remove(&user);
        self.emit(
            Dispatch::new(
                EventKind::GuildMemberRemove,
                Topic::Guild(guild_id),
                &json!({ "guild_id": guild_id, "user": partial }),
            )
            .about_user(user),
        )
        .await;
        self.emit(
            Dispatch::new(
                EventKind::GuildDelete,
                Topic::User(user),
                &json!({ "id": guild_id }),
            )
            .about_guild(guild_id),
        )
        .await;
        self.index_guild_later(guild_id).await;
        Ok(())
    }
}

/// A new guild channel with defaults.
pub(crate) fn new_guild_channel(
    id: ChannelId,
    guild_id: GuildId,
    kind: ChannelType,
    name: &str,
    position: i32,
) -> Channel {
    Channel {
        id,
        kind,
        guild_id: Some(guild_id),
        name: Some(name.to_owned()),
        topic: None,
        icon: None,
        url: None,
        parent_id: None,
        position,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: (kind == ChannelType::GuildVoice).then_some(64_000),
        user_limit: (kind == ChannelType::GuildVoice).then_some(0),
        rtc_region: None,
        owner_id: None,
        recipient_ids: Vec::new(),
        permission_overwrites: Vec::new(),
        last_message_id: None,
        last_pin_timestamp: None,
        nicks: Default::default(),
    }
}
