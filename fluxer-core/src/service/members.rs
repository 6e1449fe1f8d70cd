//! Members: joining, listing, editing (nick, roles, mute, timeout), kicking and banning.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, RoleId, UserId};
use crate::model::{Ban, BanResponse, Member, MemberResponse, audit_action};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, MessagePage, Topic, conflict, is_conflict};
use crate::time::Timestamp;
use crate::validation::Validator;

use super::audit::{Audited, change, diff};
use super::{Actor, Fluxer};

/// `PATCH /guilds/{id}/members/{user_id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberUpdate {
    /// Guild nickname, 1 to 32 characters; `null` clears it. For oneself it needs `CHANGE_NICKNAME`
    /// or `MANAGE_NICKNAMES`; for another member, `MANAGE_NICKNAMES` and a higher top role.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub nick: Option<Option<String>>,
    /// Replaces the member's roles (at most `roles_per_guild`; duplicates and @everyone are
    /// dropped). Needs `MANAGE_ROLES`, and every role added or removed must sit below the caller's
    /// top role.
    pub roles: Option<Vec<RoleId>>,
    /// Server-mute in voice; needs `MUTE_MEMBERS`.
    pub mute: Option<bool>,
    /// Server-deafen in voice; needs `DEAFEN_MEMBERS`.
    pub deaf: Option<bool>,
    /// Timeout end (ISO 8601), at most 28 days ahead (`TIMEOUT_TOO_LONG`); `null` or a past time
    /// lifts the timeout. Needs `MODERATE_MEMBERS` and a higher top role; administrators cannot be
    /// timed out.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub communication_disabled_until: Option<Option<Timestamp>>,
    /// Moves the member's voice connections to another voice channel of the guild, or
    /// disconnects them (`null`); needs `MOVE_MEMBERS` (and `CONNECT` in the target).
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub channel_id: Option<Option<ChannelId>>,
}

/// `PUT /guilds/{id}/bans/{user_id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BanCreate {
    /// Why, up to 512 characters; shown in the ban list.
    pub reason: Option<String>,
    /// Also delete the user's messages from the last 0 to 7 days. Ignored when
    /// `delete_message_seconds` is given.
    pub delete_message_days: Option<u32>,
    /// Also delete the user's messages from the last 0 to 604800 seconds, in every text channel of
    /// the guild (each channel publishes `MESSAGE_DELETE_BULK`).
    pub delete_message_seconds: Option<u32>,
    /// Lift the ban after this many seconds; absent or 0 bans for good.
    pub ban_duration_seconds: Option<u32>,
}

/// Longest allowed timeout: 28 days.
const MAX_TIMEOUT_MS: i64 = 28 * 24 * 3600 * 1000;

impl Fluxer {
    /// Adds a user to a guild (invite accepted, bot authorized) and tells everyone concerned.
    /// Returns `false` when the user was already a member.
    pub(crate) async fn join_guild(&self, guild_id: GuildId, user: UserId) -> Result<bool> {
        self.add_to_guild(guild_id, user, true).await
    }

    /// [`join_guild`](Self::join_guild), with the ban check optional: staff force-adding a user
    /// skip it, as upstream does.
    pub(crate) async fn add_to_guild(
        &self,
        guild_id: GuildId,
        user: UserId,
        check_ban: bool,
    ) -> Result<bool> {
        if check_ban
            && self
                .store()
                .get_ban(guild_id, user)
                .await?
                .is_some_and(|b| b.expires_at.is_none_or(|at| at > self.now()))
        {
            return Err(Error::Banned);
        }
        let count = self.store().list_user_guild_ids(user).await?.len();
        if count >= self.limits().await?.guilds_per_user {
            return Err(Error::LimitReached {
                limit: crate::error::Limit::Guilds,
                max: self.limits().await?.guilds_per_user as u64,
            });
        }
        let member = Member {
            guild_id,
            user_id: user,
            nick: None,
            avatar: None,
            roles: Vec::new(),
            joined_at: self.now(),
            mute: false,
            deaf: false,
            communication_disabled_until: None,
        };
        match self.store().add_member(&member).await {
            Ok(()) => {}
            Err(e) if is_conflict(&e, conflict::MEMBER) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let partial = self.user_partials(&[user]).await?.remove(&user);
        let is_bot = partial.as_ref().is_some_and(|p| p.bot == Some(true));
        if let Some(p) = partial {
            let mut payload = serde_json::to_value(member.response(p)).unwrap_or_default();
            payload["guild_id"] = json!(guild_id);
            self.emit(
                Dispatch::new(EventKind::GuildMemberAdd, Topic::Guild(guild_id), &payload)
                    .about_user(user),
            )
            .await;
        }
        let snapshot = self.guild_snapshot(guild_id, user).await?;
        self.emit(
            Dispatch::new(EventKind::GuildCreate, Topic::User(user), &snapshot)
                .about_guild(guild_id),
        )
        .await;
        if !is_bot {
            self.settings_guild_added(user, guild_id).await?;
        }
        self.index_guild_later(guild_id).await;
        Ok(true)
    }

    /// A page of the guild's members by ascending user ID, after `after`
    /// (`GET /guilds/{id}/members`). `limit` is 1 to 1000, default 1. Any member may call it.
    pub async fn list_members(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<Vec<MemberResponse>> {
        let limit = limit.unwrap_or(1);
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 1000);
        v.finish()?;
        self.guild_access(actor.id(), guild_id).await?;
        let members = self.store().list_members(guild_id, after, limit).await?;
        self.member_responses(members).await
    }

    pub(crate) async fn member_responses(
        &self,
        members: Vec<Member>,
    ) -> Result<Vec<MemberResponse>> {
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let users = self.user_partials(&ids).await?;
        Ok(members
            .iter()
            .filter_map(|m| users.get(&m.user_id).map(|u| m.response(u.clone())))
            .collect())
    }

    /// One member of the guild (`GET /guilds/{id}/members/{user_id}`, `.../members/@me`). Any
    /// member may call it; `UNKNOWN_MEMBER` when `user` is not in the guild.
    pub async fn get_member(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        user: UserId,
    ) -> Result<MemberResponse> {
        self.guild_access(actor.id(), guild_id).await?;
        let member = self
            .store()
            .get_member(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Member))?;
        let mut v = self.member_responses(vec![member]).await?;
        v.pop().ok_or(Error::Unknown(Unknown::Member))
    }

    /// Edits a member (`user` = the caller for `@me`).
    pub async fn update_member(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        user: UserId,
        req: MemberUpdate,
    ) -> Result<MemberResponse> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        let mut member = self
            .store()
            .get_member(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Member))?;
        let before = member.clone();
        let is_self = user == actor.id();
        let mut v = Validator::new();
        if let Some(Some(n)) = &req.nick {
            v.length("nick", n, 1, 32);
        }
        if let Some(r) = &req.roles {
            v.count("roles", r.len(), self.limits().await?.roles_per_guild);
        }
        v.finish()?;
        if let Some(nick) = req.nick {
            if is_self {
                if !access
                    .permissions
                    .intersects(Permissions::CHANGE_NICKNAME | Permissions::MANAGE_NICKNAMES)
                {
                    return Err(Error::MissingPermissions);
                }
            } else {
                access.require(Permissions::MANAGE_NICKNAMES)?;
                access.require_outranks(&member)?;
            }
            member.nick = nick;
        }
        if let Some(mut roles) = req.roles {
            access.require(Permissions::MANAGE_ROLES)?;
            roles.sort_unstable();
            roles.dedup();
            roles.retain(|r| r.0 != guild_id.0);
            // Every role added or removed must sit below the caller's top role.
            for r in roles.iter().chain(member.roles.iter()) {
                let in_new = roles.contains(r);
                let in_old = member.roles.contains(r);
                if in_new != in_old {
                    let role = access
                        .roles
                        .iter()
                        .find(|x| x.id == *r)
                        .ok_or(Error::Unknown(Unknown::Role))?;
                    access.require_role_below(role.position)?;
                }
            }
            member.roles = roles;
        }
        if let Some(m) = req.mute {
            access.require(Permissions::MUTE_MEMBERS)?;
            member.mute = m;
        }
        if let Some(d) = req.deaf {
            access.require(Permissions::DEAFEN_MEMBERS)?;
            member.deaf = d;
        }
        if let Some(until) = req.communication_disabled_until {
            access.require(Permissions::MODERATE_MEMBERS)?;
            access.require_outranks(&member)?;
            if let Some(t) = until
                && t.ms_since(self.now()) > MAX_TIMEOUT_MS
            {
                return Err(Error::field(
                    "communication_disabled_until",
                    "TIMEOUT_TOO_LONG",
                    "Timeouts last at most 28 days.",
                ));
            }
            let target_perms = access.permissions_of(&member, None);
            if target_perms.contains(Permissions::ADMINISTRATOR) {
                return Err(Error::MissingPermissions);
            }
            member.communication_disabled_until = until.filter(|t| *t > self.now());
        }
        if let Some(target) = req.channel_id {
            access.require(Permissions::MOVE_MEMBERS)?;
            if let Some(channel) = target {
                // The mover must be able to connect there itself, as upstream.
                self.check_voice_move(actor.id(), guild_id, channel).await?;
            }
        }
        let after = member.clone();
        let response = self.save_member(member).await?;
        self.audit_member_change(actor, &before, &after).await?;
        match req.channel_id {
            Some(None) => self.voice_member_updated(guild_id, user, true).await?,
            Some(Some(channel)) => {
                self.voice_move_member(actor.id(), guild_id, user, channel)
                    .await?
            }
            None => {}
        }
        Ok(response)
    }

    /// Records a member's changed roles (`MEMBER_ROLE_UPDATE`, `$add`/`$remove`) and other
    /// fields (`MEMBER_UPDATE`).
    async fn audit_member_change(
        &self,
        actor: &Actor,
        before: &Member,
        after: &Member,
    ) -> Result<()> {
        let (guild, target) = (after.guild_id, after.user_id);
        let added: Vec<RoleId> = after
            .roles
            .iter()
            .filter(|r| !before.roles.contains(r))
            .copied()
            .collect();
        let removed: Vec<RoleId> = before
            .roles
            .iter()
            .filter(|r| !after.roles.contains(r))
            .copied()
            .collect();
        let mut roles = Vec::new();
        if !added.is_empty() {
            roles.push(change("$add", None, Some(added)));
        }
        if !removed.is_empty() {
            roles.push(change("$remove", None, Some(removed)));
        }
        if !roles.is_empty() {
            let entry = Audited::new(audit_action::MEMBER_ROLE_UPDATE, target, roles);
            self.audit(actor, guild, entry).await?;
        }
        let fields = |m: &Member| {
            json!({
                "nick": m.nick,
                "mute": m.mute,
                "deaf": m.deaf,
                "communication_disabled_until": m.communication_disabled_until,
            })
        };
        let changes = diff(&fields(before), &fields(after), &[]);
        if !changes.is_empty() {
            let entry = Audited::new(audit_action::MEMBER_UPDATE, target, changes);
            self.audit(actor, guild, entry).await?;
        }
        Ok(())
    }

    /// Adds or removes one role of a member.
    pub async fn set_member_role(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        user: UserId,
        role: RoleId,
        present: bool,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let target_role = access
            .roles
            .iter()
            .find(|r| r.id == role && !r.is_everyone())
            .ok_or(Error::Unknown(Unknown::Role))?;
        access.require_role_below(target_role.position)?;
        let mut member = self
            .store()
            .get_member(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Member))?;
        let had = member.roles.contains(&role);
        if had == present {
            return Ok(());
        }
        let before = member.clone();
        if present {
            member.roles.push(role);
        } else {
            member.roles.retain(|r| *r != role);
        }
        let after = member.clone();
        self.save_member(member).await?;
        self.audit_member_change(actor, &before, &after).await
    }

    /// Stores a changed membership and tells the guild (`GUILD_MEMBER_UPDATE`).
    pub(crate) async fn save_member(&self, member: Member) -> Result<MemberResponse> {
        let (guild_id, user) = (member.guild_id, member.user_id);
        self.store().update_member(&member).await?;
        let response = self
            .member_responses(vec![member])
            .await?
            .pop()
            .ok_or(Error::Unknown(Unknown::Member))?;
        let mut payload = serde_json::to_value(&response).unwrap_or_default();
        payload["guild_id"] = json!(guild_id);
        self.emit(
            Dispatch::new(
                EventKind::GuildMemberUpdate,
                Topic::Guild(guild_id),
                &payload,
            )
            .about_user(user),
        )
        .await;
        Ok(response)
    }

    /// Removes a member from the guild.
    pub async fn kick_member(&self, actor: &Actor, guild_id: GuildId, user: UserId) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::KICK_MEMBERS)?;
        let member = self
            .store()
            .get_member(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Member))?;
        access.require_outranks(&member)?;
        self.remove_member_and_notify(guild_id, user).await?;
        let entry = Audited::new(audit_action::MEMBER_KICK, user, Vec::new());
        self.audit(actor, guild_id, entry).await
    }

    /// A page of the guild's bans by ascending user ID, after `after` (`GET /guilds/{id}/bans`).
    /// `limit` is 1 to 1000, default 1000. Needs `BAN_MEMBERS`.
    pub async fn list_bans(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<Vec<BanResponse>> {
        let limit = limit.unwrap_or(1000);
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 1000);
        v.finish()?;
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::BAN_MEMBERS)?;
        let bans = self.store().list_bans(guild_id, after, limit).await?;
        let ids: Vec<UserId> = bans.iter().map(|b| b.user_id).collect();
        let users = self.user_partials(&ids).await?;
        Ok(bans
            .iter()
            .filter_map(|b| {
                users.get(&b.user_id).map(|u| BanResponse {
                    user: u.clone(),
                    reason: b.reason.clone(),
                })
            })
            .collect())
    }

    /// The ban of one user (`GET /guilds/{id}/bans/{user_id}`). Needs `BAN_MEMBERS`; `UNKNOWN_BAN`
    /// when the user is not banned.
    pub async fn get_ban(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        user: UserId,
    ) -> Result<BanResponse> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::BAN_MEMBERS)?;
        let ban = self
            .store()
            .get_ban(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Ban))?;
        let u = self
            .user_partials(&[user])
            .await?
            .remove(&user)
            .ok_or(Error::Unknown(Unknown::User))?;
        Ok(BanResponse {
            user: u,
            reason: ban.reason,
        })
    }

    /// Bans a user (member or not), removing the membership and optionally recent messages.
    pub async fn ban_member(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        user: UserId,
        req: BanCreate,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::BAN_MEMBERS)?;
        let mut v = Validator::new();
        v.opt_length("reason", req.reason.as_deref(), 0, 512);
        if let Some(d) = req.delete_message_days {
            v.range("delete_message_days", i64::from(d), 0, 7);
        }
        if let Some(s) = req.delete_message_seconds {
            v.range("delete_message_seconds", i64::from(s), 0, 604_800);
        }
        v.finish()?;
        if user == actor.id() {
            // Upstream answers a self-ban as an unknown member.
            return Err(Error::Unknown(Unknown::Member));
        }
        if self.store().get_user(user).await?.is_none() {
            return Err(Error::Unknown(Unknown::User));
        }
        let member = self.store().get_member(guild_id, user).await?;
        if let Some(m) = &member {
            access.require_outranks(m)?;
        }
        let window_secs = self.apply_ban(guild_id, user, actor.id(), req).await?;
        // The ban's own reason when no header gave one.
        let mut by = actor.clone();
        if by.reason.is_none() {
            by.reason = self
                .store()
                .get_ban(guild_id, user)
                .await?
                .and_then(|b| b.reason);
        }
        let entry = Audited::new(audit_action::MEMBER_BAN_ADD, user, Vec::new())
            .options(json!({ "delete_member_days": (window_secs / 86_400).to_string() }));
        self.audit(&by, guild_id, entry).await
    }

    /// Bans `user` from the guild once allowed (a moderator's ban and staff's): stores the ban,
    /// removes the membership, deletes the recent messages asked for, publishes `GUILD_BAN_ADD`.
    /// Returns the message window deleted, in seconds. `req` is validated by the caller.
    pub(crate) async fn apply_ban(
        &self,
        guild_id: GuildId,
        user: UserId,
        moderator: UserId,
        req: BanCreate,
    ) -> Result<i64> {
        let member = self.store().get_member(guild_id, user).await?;
        let now = self.now();
        self.store()
            .put_ban(&Ban {
                guild_id,
                user_id: user,
                reason: req.reason,
                moderator_id: moderator,
                created_at: now,
                expires_at: req
                    .ban_duration_seconds
                    .filter(|s| *s > 0)
                    .map(|s| now.plus_secs(i64::from(s))),
            })
            .await?;
        if member.is_some() {
            self.remove_member_and_notify(guild_id, user).await?;
        }
        let window_secs = req
            .delete_message_seconds
            .map(i64::from)
            .or(req.delete_message_days.map(|d| i64::from(d) * 86_400))
            .unwrap_or(0);
        if window_secs > 0 {
            self.purge_recent_messages(guild_id, user, now.plus_secs(-window_secs))
                .await?;
        }
        let partial = self.user_partials(&[user]).await?.remove(&user);
        self.emit(Dispatch::new(
            EventKind::GuildBanAdd,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "user": partial }),
        ))
        .await;
        Ok(window_secs)
    }

    /// Deletes a user's messages newer than `since` in every channel of the guild.
    async fn purge_recent_messages(
        &self,
        guild_id: GuildId,
        user: UserId,
        since: Timestamp,
    ) -> Result<()> {
        let floor = crate::id::MessageId(crate::id::Snowflake::min_at(since));
        for channel in self.store().list_guild_channels(guild_id).await? {
            if !channel.kind.is_text() {
                continue;
            }
            let mut cursor = MessagePage::Latest;
            loop {
                let page = self.store().list_messages(channel.id, cursor, 100).await?;
                let Some(oldest) = page.last().map(|m| m.id) else {
                    break;
                };
                let ids: Vec<_> = page
                    .iter()
                    .filter(|m| m.author_id == user && m.id >= floor)
                    .map(|m| m.id)
                    .collect();
                if !ids.is_empty() {
                    let deleted = self.store().delete_messages(channel.id, &ids).await?;
                    let payload =
                        json!({ "ids": deleted, "channel_id": channel.id, "guild_id": guild_id });
                    self.emit(
                        Dispatch::new(
                            EventKind::MessageDeleteBulk,
                            Topic::Guild(guild_id),
                            &payload,
                        )
                        .in_channel(channel.id),
                    )
                    .await;
                }
                if oldest < floor || page.len() < 100 {
                    break;
                }
                cursor = MessagePage::Before(oldest);
            }
        }
        Ok(())
    }

    /// Lifts a ban (`DELETE /guilds/{id}/bans/{user_id}`). Needs `BAN_MEMBERS`; `UNKNOWN_BAN` when
    /// there is none. Publishes `GUILD_BAN_REMOVE`.
    pub async fn unban_member(&self, actor: &Actor, guild_id: GuildId, user: UserId) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::BAN_MEMBERS)?;
        if !self.store().delete_ban(guild_id, user).await? {
            return Err(Error::Unknown(Unknown::Ban));
        }
        let partial = self.user_partials(&[user]).await?.remove(&user);
        self.emit(Dispatch::new(
            EventKind::GuildBanRemove,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "user": partial }),
        ))
        .await;
        let entry = Audited::new(audit_action::MEMBER_BAN_REMOVE, user, Vec::new());
        self.audit(actor, guild_id, entry).await
    }
}
