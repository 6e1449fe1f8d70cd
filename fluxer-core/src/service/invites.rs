//! Invites: create, list, look up (public), accept (join), delete. Pack invites (made in
//! `packs`) share the codes and these routes: accepting one installs its pack.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, GuildId};
use crate::model::{
    Invite, InviteResponse, InviteView, PartialChannel, PartialGuild, audit_action,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, Topic, conflict, is_conflict};
use crate::validation::Validator;

use super::audit::Audited;
use super::tokens::random_base62;
use super::{Actor, Fluxer};

/// `POST /channels/{id}/invites`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteCreate {
    /// Seconds until the invite expires, 0 (never) to 604800 (7 days). Absent: 86400 (one day).
    pub max_age: Option<u32>,
    /// How many joins it allows, 0 (unlimited, the default) to 100. The invite is deleted when used
    /// up.
    pub max_uses: Option<u32>,
    /// Upstream's temporary-membership flag (default false). Stored and shown; joining works the
    /// same.
    #[serde(default)]
    pub temporary: bool,
    /// Always create a new invite (default false). Otherwise an identical live invite the caller
    /// made for this channel is returned instead.
    #[serde(default)]
    pub unique: bool,
}

impl Fluxer {
    /// Creates an invite to a guild channel (`POST /channels/{id}/invites`). Needs
    /// `CREATE_INSTANT_INVITE` there; fails with `MAX_INVITES` at the guild's limit and
    /// `UNKNOWN_CHANNEL` for private channels. Publishes `INVITE_CREATE` unless an existing invite
    /// is reused.
    pub async fn create_invite(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        req: InviteCreate,
    ) -> Result<InviteResponse> {
        let mut v = Validator::new();
        if let Some(a) = req.max_age {
            v.range("max_age", i64::from(a), 0, 604_800);
        }
        if let Some(u) = req.max_uses {
            v.range("max_uses", i64::from(u), 0, 100);
        }
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        let guild_id = access.guild_id().ok_or(Error::Unknown(Unknown::Channel))?;
        access.require(Permissions::CREATE_INSTANT_INVITE)?;
        let existing = self.store().list_guild_invites(guild_id).await?;
        if existing.len() >= self.limits().await?.invites_per_guild {
            return Err(Error::LimitReached {
                limit: Limit::Invites,
                max: self.limits().await?.invites_per_guild as u64,
            });
        }
        let max_age = req.max_age.unwrap_or(86_400);
        let max_uses = req.max_uses.unwrap_or(0);
        // Without `unique`, an identical live invite by the same person is reused (as Discord does).
        if !req.unique
            && let Some(same) = existing.iter().find(|i| {
                i.channel_id == Some(channel_id)
                    && i.inviter_id == Some(actor.id())
                    && i.max_age == max_age
                    && i.max_uses == max_uses
                    && i.temporary == req.temporary
                    && !i.vanity
                    && !i.is_expired(self.now())
            })
        {
            return self.invite_response(same.clone()).await;
        }
        let invite = self
            .insert_invite(Invite {
                code: String::new(),
                guild_id: Some(guild_id),
                channel_id: Some(channel_id),
                pack_id: None,
                inviter_id: Some(actor.id()),
                uses: 0,
                max_uses,
                max_age,
                temporary: req.temporary,
                created_at: self.now(),
                vanity: false,
            })
            .await?;
        let details = json!({
            "code": invite.code,
            "channel_id": channel_id,
            "max_age": invite.max_age,
            "max_uses": invite.max_uses,
            "temporary": invite.temporary,
        });
        let changes = super::audit::diff(&json!({}), &details, &[]);
        let entry = Audited::new(audit_action::INVITE_CREATE, &invite.code, changes);
        let response = self.invite_response(invite).await?;
        let mut payload = serde_json::to_value(&response).unwrap_or_default();
        payload["guild_id"] = json!(guild_id);
        payload["channel_id"] = json!(channel_id);
        self.emit(
            Dispatch::new(EventKind::InviteCreate, Topic::Guild(guild_id), &payload)
                .in_channel(channel_id),
        )
        .await;
        self.audit(actor, guild_id, entry).await?;
        Ok(response)
    }

    /// Stores a new invite under a fresh random code (8 base62 characters), drawing again in the
    /// rare case the code is taken.
    pub(super) async fn insert_invite(&self, mut invite: Invite) -> Result<Invite> {
        for _ in 0..8 {
            invite.code = random_base62(8);
            match self.store().create_invite(&invite).await {
                Ok(()) => return Ok(invite),
                Err(e) if is_conflict(&e, conflict::INVITE_CODE) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("could not find a free invite code".into()))
    }

    /// What `/invites/{code}` shows of an invite: a guild's or a pack's.
    async fn invite_view(&self, invite: Invite) -> Result<InviteView> {
        Ok(match invite.pack_id {
            Some(pack) => InviteView::Pack(self.pack_invite_view(&invite, pack).await?),
            None => InviteView::Guild(self.invite_response(invite).await?),
        })
    }

    /// The public view of a guild invite.
    pub async fn invite_response(&self, invite: Invite) -> Result<InviteResponse> {
        let channel = match invite.channel_id {
            Some(c) => self.store().get_channel(c).await?,
            None => None,
        };
        let guild = match invite.guild_id {
            Some(g) => self.store().get_guild(g).await?,
            None => None,
        };
        let member_count = match invite.guild_id {
            Some(g) => self.store().count_members(g).await?,
            None => channel.as_ref().map_or(0, |c| c.recipient_ids.len() as u64),
        };
        let presence_count = match invite.guild_id {
            Some(g) => self.guild_online_count(g).await?,
            None => 0,
        };
        let inviter = match invite.inviter_id {
            Some(id) => self.user_partials(&[id]).await?.remove(&id),
            None => None,
        };
        Ok(InviteResponse {
            kind: if invite.guild_id.is_some() { 0 } else { 1 },
            code: invite.code.clone(),
            guild: guild.map(|g| PartialGuild {
                id: g.id,
                name: g.name,
                icon: g.icon,
                banner: g.banner,
                splash: g.splash,
                features: g.features,
                vanity_url_code: g.vanity_url_code,
            }),
            channel: PartialChannel {
                id: invite.channel_id.unwrap_or_default(),
                kind: channel
                    .as_ref()
                    .map_or(crate::model::ChannelType::GuildText, |c| c.kind),
                name: channel.and_then(|c| c.name),
            },
            inviter,
            member_count,
            presence_count,
            expires_at: invite.expires_at(),
            temporary: invite.temporary,
            uses: invite.uses,
            max_uses: invite.max_uses,
            max_age: invite.max_age,
            created_at: invite.created_at,
        })
    }

    /// Looks up a live invite by code (no authentication needed).
    pub async fn get_invite(&self, code: &str) -> Result<InviteView> {
        let invite = self.live_invite(code).await?;
        self.invite_view(invite).await
    }

    async fn live_invite(&self, code: &str) -> Result<Invite> {
        if code.is_empty() || code.len() > 64 {
            return Err(Error::Unknown(Unknown::Invite));
        }
        let invite = self
            .store()
            .get_invite(code)
            .await?
            .ok_or(Error::Unknown(Unknown::Invite))?;
        if invite.is_expired(self.now()) || invite.is_used_up() {
            return Err(Error::Unknown(Unknown::Invite));
        }
        Ok(invite)
    }

    /// Joins the invite's guild, or installs its pack.
    pub async fn accept_invite(&self, actor: &Actor, code: &str) -> Result<InviteView> {
        let invite = self.live_invite(code).await?;
        if let Some(pack) = invite.pack_id {
            let view = self.accept_pack_invite(actor, &invite, pack).await?;
            return Ok(InviteView::Pack(view));
        }
        let guild_id = invite.guild_id.ok_or(Error::Unknown(Unknown::Invite))?;
        if self
            .store()
            .get_member(guild_id, actor.id())
            .await?
            .is_some()
        {
            return self.invite_view(invite).await;
        }
        if self
            .store()
            .get_ban(guild_id, actor.id())
            .await?
            .is_some_and(|b| b.expires_at.is_none_or(|at| at > self.now()))
        {
            return Err(Error::Banned);
        }
        let used = self
            .store()
            .use_invite(code, self.now())
            .await?
            .ok_or(Error::Unknown(Unknown::Invite))?;
        self.join_guild(guild_id, actor.id()).await?;
        if used.is_used_up() && !used.vanity {
            self.store().delete_invite(code).await?;
            self.emit_invite_delete(&used).await;
        }
        self.invite_view(used).await
    }

    /// The channel's unexpired invites, vanity code excluded (`GET /channels/{id}/invites`). Needs
    /// `MANAGE_CHANNELS` in the channel.
    pub async fn list_channel_invites(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
    ) -> Result<Vec<InviteResponse>> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::MANAGE_CHANNELS)?;
        let invites = self.store().list_channel_invites(channel_id).await?;
        self.live_responses(invites).await
    }

    /// The guild's unexpired invites, vanity code excluded (`GET /guilds/{id}/invites`). Needs
    /// `MANAGE_GUILD`.
    pub async fn list_guild_invites(
        &self,
        actor: &Actor,
        guild_id: GuildId,
    ) -> Result<Vec<InviteResponse>> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;
        let invites = self.store().list_guild_invites(guild_id).await?;
        self.live_responses(invites).await
    }

    async fn live_responses(&self, invites: Vec<Invite>) -> Result<Vec<InviteResponse>> {
        let now = self.now();
        let mut out = Vec::new();
        for i in invites
            .into_iter()
            .filter(|i| !i.vanity && !i.is_expired(now))
        {
            out.push(self.invite_response(i).await?);
        }
        Ok(out)
    }

    /// Deletes an invite: its creator, or someone with MANAGE_CHANNELS / MANAGE_GUILD; a pack
    /// invite, the pack's creator.
    pub async fn delete_invite(&self, actor: &Actor, code: &str) -> Result<InviteView> {
        let invite = self
            .store()
            .get_invite(code)
            .await?
            .ok_or(Error::Unknown(Unknown::Invite))?;
        if let Some(pack) = invite.pack_id {
            let view = self.delete_pack_invite(actor, &invite, pack).await?;
            return Ok(InviteView::Pack(view));
        }
        let guild_id = invite.guild_id.ok_or(Error::Unknown(Unknown::Invite))?;
        if invite.vanity {
            // Upstream: the vanity invite is not an invite one can delete.
            return Err(Error::Unknown(Unknown::Invite));
        }
        let access = self
            .guild_access(actor.id(), guild_id)
            .await
            .map_err(|_| Error::Unknown(Unknown::Invite))?;
        let channel = match invite.channel_id {
            Some(c) => self.store().get_channel(c).await?,
            None => None,
        };
        let may = invite.inviter_id == Some(actor.id())
            || access.permissions.contains(Permissions::MANAGE_GUILD)
            || channel.as_ref().is_some_and(|c| {
                access
                    .channel_permissions(c)
                    .contains(Permissions::MANAGE_CHANNELS)
            });
        if !may {
            return Err(Error::MissingPermissions);
        }
        let response = self.invite_response(invite.clone()).await?;
        self.store().delete_invite(code).await?;
        self.emit_invite_delete(&invite).await;
        let changes = vec![
            super::audit::change("code", Some(invite.code.as_str()), None),
            super::audit::change(
                "channel_id",
                invite.channel_id.map(|c| c.to_string()).as_deref(),
                None,
            ),
        ];
        let entry = Audited::new(audit_action::INVITE_DELETE, &invite.code, changes);
        self.audit(actor, guild_id, entry).await?;
        Ok(InviteView::Guild(response))
    }

    async fn emit_invite_delete(&self, invite: &Invite) {
        if let (Some(g), Some(c)) = (invite.guild_id, invite.channel_id) {
            let payload = json!({ "code": invite.code, "channel_id": c, "guild_id": g });
            self.emit(
                Dispatch::new(EventKind::InviteDelete, Topic::Guild(g), &payload).in_channel(c),
            )
            .await;
        }
    }
}
