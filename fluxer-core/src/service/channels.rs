//! Channels: guild channel creation and ordering, settings, deletion, permission overwrites, typing.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, GuildId, Snowflake};
use crate::model::{Channel, ChannelResponse, ChannelType, audit_action};
use crate::permission::{OverwriteType, PermissionOverwrite, Permissions};
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

use super::audit::{Audited, change, diff};
use super::guilds::new_guild_channel;
use super::{Actor, Fluxer};

/// `POST /guilds/{id}/channels`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelCreate {
    /// 1 to 100 characters once trimmed. Text channel names are lowercased with spaces turned into
    /// dashes.
    pub name: String,
    /// Channel type (`type` on the wire): 0 text (default), 2 voice, 4 category, 998 link. Other
    /// types fail with `INVALID_CHANNEL_TYPE`.
    #[serde(rename = "type", default)]
    pub kind: Option<u16>,
    /// Up to 1024 characters; empty means none.
    pub topic: Option<String>,
    /// The category to create the channel in; must be a category of this guild, and a category
    /// cannot have one (`INVALID_PARENT`).
    pub parent_id: Option<ChannelId>,
    /// Sort position. Absent: after the last channel of the same type.
    pub position: Option<i32>,
    /// Age-restricted channel (default false).
    pub nsfw: Option<bool>,
    /// Slowmode: seconds a member waits between messages, 0 to 21600 (default 0).
    pub rate_limit_per_user: Option<u32>,
    /// Voice bitrate in bits per second, 8000 to 320000 (default 64000). Kept only for voice
    /// channels.
    pub bitrate: Option<u32>,
    /// Most users in the voice channel, 0 (no limit, the default) to 99. Kept only for voice
    /// channels.
    pub user_limit: Option<u32>,
    /// Target of a link channel; kept only for type 998 and not validated.
    pub url: Option<String>,
    /// Initial overwrites, at most `overwrites_per_channel`. Stored as given: the targets and
    /// permissions are not checked.
    #[serde(default)]
    pub permission_overwrites: Vec<PermissionOverwrite>,
}

/// `PATCH /channels/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelUpdate {
    /// New name, 1 to 100 characters once trimmed (normalized like on create). The only field
    /// applied to a group DM; DMs cannot be edited (`CANNOT_EDIT_DM`).
    pub name: Option<String>,
    /// Up to 1024 characters. Absent leaves it unchanged; `null` or empty clears it.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub topic: Option<Option<String>>,
    /// Absent leaves it unchanged; `null` moves the channel to the top level; an ID moves it into
    /// that category of this guild (a category cannot be moved into one: `INVALID_PARENT`).
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub parent_id: Option<Option<ChannelId>>,
    /// New sort position. Absent leaves it unchanged.
    pub position: Option<i32>,
    /// Age-restricted or not. Absent leaves it unchanged.
    pub nsfw: Option<bool>,
    /// Slowmode seconds, 0 to 21600. Absent leaves it unchanged.
    pub rate_limit_per_user: Option<u32>,
    /// Voice bitrate, 8000 to 320000. Absent leaves it unchanged; ignored for non-voice channels.
    pub bitrate: Option<u32>,
    /// Voice user limit, 0 (none) to 99. Absent leaves it unchanged; ignored for non-voice
    /// channels.
    pub user_limit: Option<u32>,
    /// Replaces all overwrites (at most `overwrites_per_channel`); needs `MANAGE_ROLES` as well.
    /// Absent leaves them unchanged.
    pub permission_overwrites: Option<Vec<PermissionOverwrite>>,
}

/// One entry of `PATCH /guilds/{id}/channels`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelPosition {
    /// The channel to move; must be in this guild (`UNKNOWN_CHANNEL`).
    pub id: ChannelId,
    /// New sort position. Absent leaves it unchanged.
    pub position: Option<i32>,
    /// Absent leaves the category unchanged; `null` moves the channel to the top level; an ID moves
    /// it into that category (`INVALID_PARENT` when it is not one).
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub parent_id: Option<Option<ChannelId>>,
}

/// `PUT /channels/{id}/permissions/{overwrite_id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct OverwritePut {
    /// Whom the overwrite targets (`type` on the wire): `0` / `"role"` or `1` / `"member"`. The
    /// target must be a role or member of the guild (`UNKNOWN_ROLE`, `UNKNOWN_MEMBER`).
    #[serde(rename = "type")]
    pub kind: OverwriteType,
    /// Permissions the overwrite grants (decimal string or integer; default none). Unless an
    /// administrator, the caller must hold every bit of `allow` and `deny` in the channel.
    #[serde(default)]
    pub allow: Permissions,
    /// Permissions the overwrite removes (default none).
    #[serde(default)]
    pub deny: Permissions,
}

/// The guild feature that keeps text channel names as written.
pub(crate) const FLEXIBLE_NAMES: &str = "TEXT_CHANNEL_FLEXIBLE_NAMES";

/// Whether the guild keeps text channel names as written.
fn flexible_names(guild: &crate::model::Guild) -> bool {
    guild.features.iter().any(|f| f == FLEXIBLE_NAMES)
}

/// Text channel names are lower-case with dashes for spaces (unless the guild opted out with
/// `TEXT_CHANNEL_FLEXIBLE_NAMES`: `flexible`).
fn normalize_name(kind: ChannelType, name: &str, flexible: bool) -> String {
    let trimmed = name.trim();
    if kind == ChannelType::GuildText && !flexible {
        trimmed
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
    } else {
        trimmed.to_owned()
    }
}

fn validate_common(
    v: &mut Validator,
    topic: Option<&str>,
    rate_limit: Option<u32>,
    bitrate: Option<u32>,
    user_limit: Option<u32>,
) {
    v.opt_length("topic", topic, 0, 1024);
    if let Some(r) = rate_limit {
        v.range("rate_limit_per_user", i64::from(r), 0, 21_600);
    }
    if let Some(b) = bitrate {
        v.range("bitrate", i64::from(b), 8_000, 320_000);
    }
    if let Some(u) = user_limit {
        v.range("user_limit", i64::from(u), 0, 99);
    }
}

impl Fluxer {
    /// The guild's channels the caller can view (`GET /guilds/{id}/channels`). Any member may call
    /// it; `UNKNOWN_GUILD` for non-members.
    pub async fn list_guild_channels(
        &self,
        actor: &Actor,
        guild_id: GuildId,
    ) -> Result<Vec<ChannelResponse>> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        Ok(self
            .store()
            .list_guild_channels(guild_id)
            .await?
            .into_iter()
            .filter(|c| {
                access
                    .channel_permissions(c)
                    .contains(Permissions::VIEW_CHANNEL)
            })
            .map(|c| c.response(Vec::new()))
            .collect())
    }

    /// Creates a channel in a guild (`POST /guilds/{id}/channels`). Needs `MANAGE_CHANNELS`; fails
    /// with `MAX_CHANNELS` at the guild's channel limit. Publishes `CHANNEL_CREATE`.
    pub async fn create_guild_channel(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: ChannelCreate,
    ) -> Result<ChannelResponse> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_CHANNELS)?;
        let kind = ChannelType::try_from(req.kind.unwrap_or(0))
            .ok()
            .filter(|k| k.is_guild())
            .ok_or_else(|| {
                Error::field("type", "INVALID_CHANNEL_TYPE", "Not a guild channel type.")
            })?;
        let mut v = Validator::new();
        v.length("name", req.name.trim(), 1, 100);
        validate_common(
            &mut v,
            req.topic.as_deref(),
            req.rate_limit_per_user,
            req.bitrate,
            req.user_limit,
        );
        v.count(
            "permission_overwrites",
            req.permission_overwrites.len(),
            self.limits().await?.overwrites_per_channel,
        );
        v.finish()?;
        let existing = self.store().list_guild_channels(guild_id).await?;
        if existing.len() >= self.limits().await?.channels_per_guild {
            return Err(Error::LimitReached {
                limit: Limit::Channels,
                max: self.limits().await?.channels_per_guild as u64,
            });
        }
        if req.parent_id.is_some() && kind == ChannelType::GuildCategory {
            return Err(Error::field(
                "parent_id",
                "INVALID_PARENT",
                "A category cannot have a parent.",
            ));
        }
        if let Some(parent) = req.parent_id
            && !existing
                .iter()
                .any(|c| c.id == parent && c.kind == ChannelType::GuildCategory)
        {
            return Err(Error::field(
                "parent_id",
                "INVALID_PARENT",
                "The parent must be a category of this guild.",
            ));
        }
        let position = req.position.unwrap_or_else(|| {
            existing
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.position + 1)
                .max()
                .unwrap_or(0)
        });
        let mut channel = new_guild_channel(
            self.next_id(),
            guild_id,
            kind,
            &normalize_name(kind, &req.name, flexible_names(&access.guild)),
            position,
        );
        channel.topic = req.topic.filter(|t| !t.is_empty());
        channel.parent_id = req.parent_id;
        channel.nsfw = req.nsfw.unwrap_or(false);
        channel.rate_limit_per_user = req.rate_limit_per_user.unwrap_or(0);
        if kind == ChannelType::GuildVoice {
            channel.bitrate = req.bitrate.or(channel.bitrate);
            channel.user_limit = req.user_limit.or(channel.user_limit);
        }
        if kind == ChannelType::GuildLink {
            channel.url = req.url;
        }
        channel.permission_overwrites = req.permission_overwrites;
        self.store().create_channel(&channel).await?;
        let response = channel.response(Vec::new());
        self.emit(
            Dispatch::new(EventKind::ChannelCreate, Topic::Guild(guild_id), &response)
                .in_channel(channel.id),
        )
        .await;
        let changes = diff(
            &serde_json::json!({}),
            &response,
            &["id", "guild_id", "last_message_id"],
        );
        self.audit(
            actor,
            guild_id,
            Audited::new(audit_action::CHANNEL_CREATE, channel.id, changes),
        )
        .await?;
        Ok(response)
    }

    /// Reorders guild channels (and moves them between categories) in one step.
    pub async fn reorder_channels(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        moves: Vec<ChannelPosition>,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_CHANNELS)?;
        let mut v = Validator::new();
        v.count(
            "channels",
            moves.len(),
            self.limits().await?.channels_per_guild,
        );
        v.finish()?;
        let mut channels = self.store().list_guild_channels(guild_id).await?;
        let mut changed = Vec::new();
        for (i, m) in moves.iter().enumerate() {
            if let Some(Some(parent)) = m.parent_id
                && !channels
                    .iter()
                    .any(|c| c.id == parent && c.kind == ChannelType::GuildCategory)
            {
                return Err(Error::field(
                    format!("{i}.parent_id"),
                    "INVALID_PARENT",
                    "The parent must be a category.",
                ));
            }
            let Some(c) = channels.iter_mut().find(|c| c.id == m.id) else {
                return Err(Error::field(
                    format!("{i}.id"),
                    "UNKNOWN_CHANNEL",
                    "Unknown channel.",
                ));
            };
            if let Some(p) = m.position {
                c.position = p;
            }
            if let Some(parent) = m.parent_id {
                c.parent_id = parent;
            }
            changed.push(c.clone());
        }
        self.store().update_channels(&changed).await?;
        for c in &changed {
            let response = c.response(Vec::new());
            self.emit(
                Dispatch::new(EventKind::ChannelUpdate, Topic::Guild(guild_id), &response)
                    .in_channel(c.id),
            )
            .await;
        }
        Ok(())
    }

    /// A channel the caller can view (`GET /channels/{id}`): a guild channel it has `VIEW_CHANNEL`
    /// in, or a private channel it is a recipient of.
    pub async fn get_channel(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
    ) -> Result<ChannelResponse> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        self.channel_response(Some(actor.id()), &access.channel)
            .await
    }

    /// Edits a channel's settings (`PATCH /channels/{id}`): needs `MANAGE_CHANNELS` in a guild
    /// channel (and `MANAGE_ROLES` to replace overwrites); in a group DM any recipient may rename
    /// it. Publishes `CHANNEL_UPDATE`.
    pub async fn update_channel(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        req: ChannelUpdate,
    ) -> Result<ChannelResponse> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let mut channel = access.channel.clone();
        let mut v = Validator::new();
        if let Some(name) = &req.name {
            v.length("name", name.trim(), 1, 100);
        }
        validate_common(
            &mut v,
            req.topic.as_ref().and_then(|t| t.as_deref()),
            req.rate_limit_per_user,
            req.bitrate,
            req.user_limit,
        );
        if let Some(o) = &req.permission_overwrites {
            v.count(
                "permission_overwrites",
                o.len(),
                self.limits().await?.overwrites_per_channel,
            );
        }
        v.finish()?;
        match channel.guild_id {
            Some(guild_id) => {
                access.require(Permissions::MANAGE_CHANNELS)?;
                if req.permission_overwrites.is_some() {
                    access.require(Permissions::MANAGE_ROLES)?;
                }
                if let Some(Some(parent)) = req.parent_id {
                    let siblings = self.store().list_guild_channels(guild_id).await?;
                    if channel.kind == ChannelType::GuildCategory
                        || !siblings
                            .iter()
                            .any(|c| c.id == parent && c.kind == ChannelType::GuildCategory)
                    {
                        return Err(Error::field(
                            "parent_id",
                            "INVALID_PARENT",
                            "The parent must be a category of this guild.",
                        ));
                    }
                }
                if let Some(name) = &req.name {
                    let flexible = access
                        .guild
                        .as_ref()
                        .is_some_and(|g| flexible_names(&g.guild));
                    channel.name = Some(normalize_name(channel.kind, name, flexible));
                }
                if let Some(t) = req.topic {
                    channel.topic = t.filter(|t| !t.is_empty());
                }
                if let Some(p) = req.parent_id {
                    channel.parent_id = p;
                }
                if let Some(p) = req.position {
                    channel.position = p;
                }
                if let Some(n) = req.nsfw {
                    channel.nsfw = n;
                }
                if let Some(r) = req.rate_limit_per_user {
                    channel.rate_limit_per_user = r;
                }
                if channel.kind == ChannelType::GuildVoice {
                    channel.bitrate = req.bitrate.or(channel.bitrate);
                    channel.user_limit = req.user_limit.or(channel.user_limit);
                }
                if let Some(o) = req.permission_overwrites {
                    channel.permission_overwrites = o;
                }
            }
            None => {
                if channel.kind != ChannelType::GroupDm {
                    // A 1:1 DM has nothing to edit.
                    return Err(Error::MissingPermissions);
                }
                if let Some(name) = &req.name {
                    channel.name = Some(name.trim().to_owned());
                }
            }
        }
        self.store().update_channel(&channel).await?;
        let response = self.channel_response(Some(actor.id()), &channel).await?;
        self.emit_channel_event(EventKind::ChannelUpdate, &channel, &response)
            .await;
        if let Some(guild_id) = channel.guild_id {
            let changes = diff(
                &access.channel.response(Vec::new()),
                &channel.response(Vec::new()),
                &["last_message_id", "last_pin_timestamp"],
            );
            if !changes.is_empty() {
                let entry = Audited::new(audit_action::CHANNEL_UPDATE, channel.id, changes);
                self.audit(actor, guild_id, entry).await?;
            }
        }
        Ok(response)
    }

    /// Deletes a guild channel (with its history), or closes a DM for the caller.
    pub async fn delete_channel(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
    ) -> Result<ChannelResponse> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let channel = access.channel.clone();
        let response = self.channel_response(Some(actor.id()), &channel).await?;
        match channel.guild_id {
            Some(guild_id) => {
                access.require(Permissions::MANAGE_CHANNELS)?;
                self.emit(
                    Dispatch::new(EventKind::ChannelDelete, Topic::Guild(guild_id), &response)
                        .in_channel(channel_id),
                )
                .await;
                self.store().delete_channel(channel_id).await?;
                let changes = diff(
                    &response,
                    &serde_json::json!({}),
                    &["id", "guild_id", "last_message_id"],
                );
                let entry = Audited::new(audit_action::CHANNEL_DELETE, channel_id, changes);
                self.audit(actor, guild_id, entry).await?;
                // Children of a deleted category move to the top level.
                if channel.kind == ChannelType::GuildCategory {
                    let orphans: Vec<Channel> = self
                        .store()
                        .list_guild_channels(guild_id)
                        .await?
                        .into_iter()
                        .filter(|c| c.parent_id == Some(channel_id))
                        .map(|mut c| {
                            c.parent_id = None;
                            c
                        })
                        .collect();
                    self.store().update_channels(&orphans).await?;
                }
            }
            None if channel.kind == ChannelType::GroupDm => {
                let mut channel = channel;
                channel.recipient_ids.retain(|id| *id != actor.id());
                if channel.recipient_ids.is_empty() {
                    self.store().delete_channel(channel_id).await?;
                } else {
                    if channel.owner_id == Some(actor.id()) {
                        channel.owner_id = channel.recipient_ids.first().copied();
                    }
                    self.store().update_channel(&channel).await?;
                    let remaining = self.channel_response(None, &channel).await?;
                    self.emit_channel_event(EventKind::ChannelUpdate, &channel, &remaining)
                        .await;
                }
                self.emit(Dispatch::new(
                    EventKind::ChannelDelete,
                    Topic::User(actor.id()),
                    &response,
                ))
                .await;
            }
            None => {
                // Closing a DM only hides it for the caller; history stays for both.
                self.emit(Dispatch::new(
                    EventKind::ChannelDelete,
                    Topic::User(actor.id()),
                    &response,
                ))
                .await;
            }
        }
        Ok(response)
    }

    /// Creates or replaces a permission overwrite on a guild channel.
    pub async fn put_overwrite(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        target: Snowflake,
        req: OverwritePut,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let guild = access
            .guild
            .as_ref()
            .ok_or(Error::Unknown(Unknown::Channel))?;
        access.require(Permissions::MANAGE_ROLES)?;
        // One cannot grant what one does not hold.
        if !guild.permissions.contains(Permissions::ADMINISTRATOR)
            && !access.permissions.contains(req.allow | req.deny)
        {
            return Err(Error::MissingPermissions);
        }
        match req.kind {
            OverwriteType::Role => {
                if self
                    .store()
                    .get_role(guild.guild.id, target.into())
                    .await?
                    .is_none()
                {
                    return Err(Error::Unknown(Unknown::Role));
                }
            }
            OverwriteType::Member => {
                if self
                    .store()
                    .get_member(guild.guild.id, target.into())
                    .await?
                    .is_none()
                {
                    return Err(Error::Unknown(Unknown::Member));
                }
            }
        }
        let mut channel = access.channel.clone();
        let previous = channel
            .permission_overwrites
            .iter()
            .find(|o| o.id == target)
            .cloned();
        channel.permission_overwrites.retain(|o| o.id != target);
        if channel.permission_overwrites.len() >= self.limits().await?.overwrites_per_channel {
            return Err(Error::LimitReached {
                limit: Limit::Overwrites,
                max: self.limits().await?.overwrites_per_channel as u64,
            });
        }
        channel.permission_overwrites.push(PermissionOverwrite {
            id: target,
            kind: req.kind,
            allow: req.allow,
            deny: req.deny,
        });
        self.store().update_channel(&channel).await?;
        let response = channel.response(Vec::new());
        self.emit_channel_event(EventKind::ChannelUpdate, &channel, &response)
            .await;
        let (action, changes) = match &previous {
            Some(old) => (
                audit_action::CHANNEL_OVERWRITE_UPDATE,
                vec![
                    change("allow", Some(old.allow), Some(req.allow)),
                    change("deny", Some(old.deny), Some(req.deny)),
                ],
            ),
            None => (
                audit_action::CHANNEL_OVERWRITE_CREATE,
                vec![
                    change("allow", None, Some(req.allow)),
                    change("deny", None, Some(req.deny)),
                ],
            ),
        };
        let entry = Audited::new(action, channel.id, changes)
            .options(serde_json::json!({ "id": target, "type": req.kind }));
        self.audit(actor, guild.guild.id, entry).await?;
        Ok(())
    }

    /// Removes the overwrite for a role or member
    /// (`DELETE /channels/{id}/permissions/{overwrite_id}`). Needs `MANAGE_ROLES`;
    /// `UNKNOWN_OVERWRITE` when there is none. Publishes `CHANNEL_UPDATE`.
    pub async fn delete_overwrite(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        target: Snowflake,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        if access.guild.is_none() {
            return Err(Error::Unknown(Unknown::Channel));
        }
        access.require(Permissions::MANAGE_ROLES)?;
        let mut channel = access.channel.clone();
        let Some(removed) = channel
            .permission_overwrites
            .iter()
            .find(|o| o.id == target)
            .cloned()
        else {
            return Err(Error::Unknown(Unknown::Overwrite));
        };
        channel.permission_overwrites.retain(|o| o.id != target);
        self.store().update_channel(&channel).await?;
        let response = channel.response(Vec::new());
        self.emit_channel_event(EventKind::ChannelUpdate, &channel, &response)
            .await;
        if let Some(guild_id) = channel.guild_id {
            let entry = Audited::new(
                audit_action::CHANNEL_OVERWRITE_DELETE,
                channel.id,
                vec![
                    change("allow", Some(removed.allow), None),
                    change("deny", Some(removed.deny), None),
                ],
            )
            .options(serde_json::json!({ "id": target, "type": removed.kind }));
            self.audit(actor, guild_id, entry).await?;
        }
        Ok(())
    }

    /// `POST /channels/{id}/typing`: tells the channel the caller is typing.
    pub async fn trigger_typing(&self, actor: &Actor, channel_id: ChannelId) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::SEND_MESSAGES)?;
        let mut payload = json!({
            "channel_id": channel_id,
            "user_id": actor.id(),
            "timestamp": self.now().unix_secs(),
        });
        if let Some(g) = &access.guild {
            payload["guild_id"] = json!(g.guild.id);
            let user = actor.user.partial();
            payload["member"] = serde_json::to_value(g.member.response(user)).unwrap_or_default();
        }
        self.emit_channel_event(EventKind::TypingStart, &access.channel, &payload)
            .await;
        Ok(())
    }

    /// Publishes an event about a channel to whoever can see it: guild members who can view it, or
    /// the recipients of a private channel.
    /// Text channel names back to lower case with dashes (flexible names were turned off); each
    /// renamed channel is announced with `CHANNEL_UPDATE` to those who see it.
    pub(crate) async fn normalize_channel_names(&self, guild_id: GuildId) -> Result<()> {
        let mut renamed = Vec::new();
        for mut channel in self.store().list_guild_channels(guild_id).await? {
            let Some(name) = &channel.name else { continue };
            let normal = normalize_name(channel.kind, name, false);
            if *name != normal {
                channel.name = Some(normal);
                renamed.push(channel);
            }
        }
        if renamed.is_empty() {
            return Ok(());
        }
        self.store().update_channels(&renamed).await?;
        for channel in &renamed {
            let response = channel.response(Vec::new());
            self.emit_channel_event(EventKind::ChannelUpdate, channel, &response)
                .await;
        }
        Ok(())
    }

    pub(crate) async fn emit_channel_event(
        &self,
        event: EventKind,
        channel: &Channel,
        payload: &impl serde::Serialize,
    ) {
        let text = serde_json::to_string(payload).unwrap_or_else(|_| "null".to_owned());
        self.emit_channel_event_text(event, channel, text).await
    }

    /// [`Fluxer::emit_channel_event`] with the payload already written as JSON text.
    pub(crate) async fn emit_channel_event_text(
        &self,
        event: EventKind,
        channel: &Channel,
        payload: String,
    ) {
        match channel.guild_id {
            Some(guild_id) => {
                self.emit(
                    Dispatch::from_json(event, Topic::Guild(guild_id), payload)
                        .in_channel(channel.id),
                )
                .await
            }
            None => {
                let body =
                    Dispatch::from_json(event, Topic::User(crate::id::UserId::default()), payload);
                for user in &channel.recipient_ids {
                    let mut d = body.clone();
                    d.topic = Topic::User(*user);
                    self.emit(d).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_channel_names_are_normalized() {
        assert_eq!(
            normalize_name(ChannelType::GuildText, "  General Chat  ", false),
            "general-chat"
        );
        assert_eq!(
            normalize_name(ChannelType::GuildVoice, "General Chat", false),
            "General Chat"
        );
    }
}
