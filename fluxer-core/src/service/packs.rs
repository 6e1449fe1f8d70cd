//! Users' emoji and sticker packs (`/packs`), as upstream: a user makes packs of one kind (up to
//! `packs_created` of each), fills them with emojis or stickers (`pack_expressions`), and shares
//! them by invite; whoever installs a pack (up to `packs_installed` of each kind) may use its
//! expressions anywhere, the way members use their guild's. Upstream keeps packs to accounts with
//! the STAFF flag for now (`FEATURE_TEMPORARILY_DISABLED` otherwise), and so does this server; the
//! pack invite routes and using a pack's expressions are open to everyone. Nothing is dispatched on
//! the gateway: clients read `GET /packs` again after a change.

use std::collections::HashSet;

use serde::Deserialize;

use super::{Actor, Fluxer};
use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{GuildId, PackId, UserId};
use crate::model::{
    ExpressionKind, Invite, Pack, PackDashboard, PackInfo, PackInstallation, PackInviteResponse,
    PackSection, PackSummary, pack_invite_type,
};
use crate::ports::PrivateDocument;
use crate::time::Timestamp;
use crate::validation::Validator;

/// `POST /packs/{emoji|sticker}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PackCreate {
    /// 1-64 characters.
    pub name: String,
    /// 1-256 characters; absent or `null` for none.
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /packs/{id}`: absent fields stay as they are; `"description": null` removes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PackUpdate {
    /// 1-64 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// 1-256 characters, or `null`.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub description: Option<Option<String>>,
}

/// `POST /packs/{id}/invites`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PackInviteCreate {
    /// How many installs it allows, 0 (unlimited, the default) to 100.
    #[serde(default)]
    pub max_uses: Option<u32>,
    /// Seconds until it expires, 0 (never, the default) to 604800 (7 days).
    #[serde(default)]
    pub max_age: Option<u32>,
    /// Always make a new invite; otherwise an identical live one of the caller's is returned.
    #[serde(default)]
    pub unique: Option<bool>,
}

fn validate_pack_fields(v: &mut Validator, name: Option<&str>, description: Option<&str>) {
    v.opt_length("name", name, 1, 64);
    v.opt_length("description", description, 1, 256);
}

impl Fluxer {
    /// `GET /packs`: the caller's packs of each kind, made and installed, with the limits.
    pub async fn pack_dashboard(&self, actor: &Actor) -> Result<PackDashboard> {
        actor.require_person("Bots have no packs.")?;
        require_pack_access(actor)?;
        let created = self.store().list_user_packs(actor.id()).await?;
        let installed = self.installed_packs(actor.id()).await?;
        let limits = self.limits().await?;
        let section = |kind: ExpressionKind| PackSection {
            installed_limit: limits.packs_installed as u32,
            created_limit: limits.packs_created as u32,
            installed: installed
                .iter()
                .filter(|(p, _)| p.kind == kind)
                .map(|(p, at)| p.summary(Some(*at)))
                .collect(),
            created: created
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.summary(None))
                .collect(),
        };
        Ok(PackDashboard {
            emoji: section(ExpressionKind::Emoji),
            sticker: section(ExpressionKind::Sticker),
        })
    }

    /// `POST /packs/{emoji|sticker}`: a new, empty pack (`MAX_PACKS` past `packs_created` of the
    /// kind).
    pub async fn create_pack(
        &self,
        actor: &Actor,
        kind: ExpressionKind,
        req: PackCreate,
    ) -> Result<PackSummary> {
        actor.require_person("Bots have no packs.")?;
        let name = req.name.trim().to_owned();
        let description = req.description.map(|d| d.trim().to_owned());
        let mut v = Validator::new();
        validate_pack_fields(&mut v, Some(&name), description.as_deref());
        v.finish()?;
        require_pack_access(actor)?;
        let made = self.store().list_user_packs(actor.id()).await?;
        let max = self.limits().await?.packs_created;
        if made.iter().filter(|p| p.kind == kind).count() >= max {
            return Err(Error::LimitReached {
                limit: Limit::CreatedPacks(kind),
                max: max as u64,
            });
        }
        let now = self.now();
        let pack = Pack {
            id: self.next_id(),
            kind,
            creator_id: actor.id(),
            name,
            description,
            created_at: now,
            updated_at: now,
        };
        self.store().put_pack(&pack).await?;
        Ok(pack.summary(None))
    }

    /// `PATCH /packs/{id}`: renames it or changes its description; its creator only.
    pub async fn update_pack(
        &self,
        actor: &Actor,
        id: PackId,
        req: PackUpdate,
    ) -> Result<PackSummary> {
        actor.require_person("Bots have no packs.")?;
        let name = req.name.map(|n| n.trim().to_owned());
        let description = req.description.map(|d| d.map(|d| d.trim().to_owned()));
        let mut v = Validator::new();
        validate_pack_fields(
            &mut v,
            name.as_deref(),
            description.clone().flatten().as_deref(),
        );
        v.finish()?;
        require_pack_access(actor)?;
        let mut pack = self.own_pack(actor, id).await?;
        if let Some(name) = name {
            pack.name = name;
        }
        if let Some(description) = description {
            pack.description = description;
        }
        pack.updated_at = self.now();
        self.store().put_pack(&pack).await?;
        Ok(pack.summary(None))
    }

    /// `DELETE /packs/{id}`: the pack, its emojis or stickers (their images too) and its invites;
    /// its creator only. Those who installed it lose it.
    pub async fn delete_pack(&self, actor: &Actor, id: PackId) -> Result<()> {
        actor.require_person("Bots have no packs.")?;
        require_pack_access(actor)?;
        let pack = self.own_pack(actor, id).await?;
        self.remove_pack(&pack).await
    }

    /// Deletes a pack with what it holds, and its images later.
    async fn remove_pack(&self, pack: &Pack) -> Result<()> {
        let images: Vec<String> = self
            .expressions(pack.id.expression_owner(), pack.kind)
            .await?
            .iter()
            .map(|e| e.blob_key())
            .collect();
        self.store().delete_pack(pack.id).await?;
        self.delete_blobs_later(images).await;
        Ok(())
    }

    /// Erasing an account: the packs it made go, with their expressions, images and invites (its
    /// installations are private documents, erased with the rest).
    pub(crate) async fn erase_packs(&self, user: UserId) -> Result<()> {
        for pack in self.store().list_user_packs(user).await? {
            self.remove_pack(&pack).await?;
        }
        Ok(())
    }

    /// `POST /packs/{id}/install`: anyone's pack, once (installing again changes nothing);
    /// `MAX_PACKS` past `packs_installed` of the kind.
    pub async fn install_pack(&self, actor: &Actor, id: PackId) -> Result<()> {
        actor.require_person("Bots cannot install packs.")?;
        require_pack_access(actor)?;
        let pack = self
            .store()
            .get_pack(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Pack))?;
        let user = actor.id();
        if self
            .store()
            .get_private_document(user, PrivateDocument::PackInstallation, id.get())
            .await?
            .is_some()
        {
            return Ok(());
        }
        let installed = self.installed_packs(user).await?;
        let max = self.limits().await?.packs_installed;
        if installed
            .iter()
            .filter(|(p, _)| p.kind == pack.kind)
            .count()
            >= max
        {
            return Err(Error::LimitReached {
                limit: Limit::InstalledPacks(pack.kind),
                max: max as u64,
            });
        }
        let record = PackInstallation {
            kind: pack.kind,
            installed_at: self.now(),
        };
        let data = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(
                user,
                PrivateDocument::PackInstallation,
                id.get(),
                Some(&data),
            )
            .await?;
        Ok(())
    }

    /// `DELETE /packs/{id}/install`: whether or not it was installed (or still exists).
    pub async fn uninstall_pack(&self, actor: &Actor, id: PackId) -> Result<()> {
        actor.require_person("Bots cannot install packs.")?;
        require_pack_access(actor)?;
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::PackInstallation,
                id.get(),
                None,
            )
            .await?;
        Ok(())
    }

    /// The packs a user installed that still exist, with when, oldest installation first; the
    /// installations of deleted packs are forgotten on the way.
    async fn installed_packs(&self, user: UserId) -> Result<Vec<(Pack, Timestamp)>> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::PackInstallation)
            .await?;
        let ids: Vec<PackId> = docs.iter().map(|(k, _)| PackId::new(*k)).collect();
        let packs = self.store().get_packs(&ids).await?;
        let mut out = Vec::with_capacity(packs.len());
        for (key, data) in docs {
            match packs.iter().find(|p| p.id.get() == key) {
                Some(pack) => {
                    let at = serde_json::from_str::<PackInstallation>(&data)
                        .map_or(pack.created_at, |i| i.installed_at);
                    out.push((pack.clone(), at));
                }
                None => {
                    self.store()
                        .put_private_document(user, PrivateDocument::PackInstallation, key, None)
                        .await?;
                }
            }
        }
        out.sort_by_key(|(p, at)| (*at, p.id));
        Ok(out)
    }

    /// The pack, when the caller made it: `UNKNOWN_PACK` when there is none, `PACK_ACCESS_DENIED`
    /// when it is someone else's.
    pub(super) async fn own_pack(&self, actor: &Actor, id: PackId) -> Result<Pack> {
        let pack = self
            .store()
            .get_pack(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Pack))?;
        if pack.creator_id != actor.id() {
            return Err(pack_access_denied());
        }
        Ok(pack)
    }

    /// Among expression owners other than the guild where they are used, the packs `user` may
    /// not use: packs neither made nor installed by them. Owners that are guilds are not packs,
    /// and are left to the usual checks.
    pub(super) async fn locked_packs(
        &self,
        user: UserId,
        owners: impl IntoIterator<Item = GuildId>,
    ) -> Result<HashSet<GuildId>> {
        let mut ids: Vec<PackId> = owners.into_iter().map(|g| PackId::new(g.get())).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let others: Vec<Pack> = self
            .store()
            .get_packs(&ids)
            .await?
            .into_iter()
            .filter(|p| p.creator_id != user)
            .collect();
        if others.is_empty() {
            return Ok(HashSet::new());
        }
        let installed: HashSet<u64> = self
            .store()
            .list_private_documents(user, PrivateDocument::PackInstallation)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        Ok(others
            .iter()
            .filter(|p| !installed.contains(&p.id.get()))
            .map(|p| p.id.expression_owner())
            .collect())
    }

    /// `POST /packs/{id}/invites`: an invite that installs the pack; its creator only. Without
    /// `unique`, an identical live invite of the caller's is returned instead. A pack holds at most
    /// `invites_per_guild` invites (`MAX_INVITES`). Not dispatched.
    pub async fn create_pack_invite(
        &self,
        actor: &Actor,
        id: PackId,
        req: PackInviteCreate,
    ) -> Result<PackInviteResponse> {
        actor.require_person("Bots cannot invite to packs.")?;
        let mut v = Validator::new();
        if let Some(a) = req.max_age {
            v.range("max_age", i64::from(a), 0, 604_800);
        }
        if let Some(u) = req.max_uses {
            v.range("max_uses", i64::from(u), 0, 100);
        }
        v.finish()?;
        let pack = self.own_pack(actor, id).await?;
        let (max_age, max_uses) = (req.max_age.unwrap_or(0), req.max_uses.unwrap_or(0));
        let existing = self.store().list_pack_invites(id).await?;
        if !req.unique.unwrap_or(false)
            && let Some(same) = existing.iter().find(|i| {
                i.inviter_id == Some(actor.id())
                    && i.max_age == max_age
                    && i.max_uses == max_uses
                    && !i.is_expired(self.now())
            })
        {
            return self.pack_invite_response(same, &pack).await;
        }
        if existing.len() >= self.limits().await?.invites_per_guild {
            return Err(Error::LimitReached {
                limit: Limit::Invites,
                max: self.limits().await?.invites_per_guild as u64,
            });
        }
        let invite = self
            .insert_invite(Invite {
                code: String::new(),
                guild_id: None,
                channel_id: None,
                pack_id: Some(id),
                inviter_id: Some(actor.id()),
                uses: 0,
                max_uses,
                max_age,
                temporary: false,
                created_at: self.now(),
                vanity: false,
            })
            .await?;
        self.pack_invite_response(&invite, &pack).await
    }

    /// `GET /packs/{id}/invites`: the pack's live invites, newest first; its creator only.
    pub async fn list_pack_invites(
        &self,
        actor: &Actor,
        id: PackId,
    ) -> Result<Vec<PackInviteResponse>> {
        actor.require_person("Bots cannot invite to packs.")?;
        let pack = self.own_pack(actor, id).await?;
        let now = self.now();
        let mut invites: Vec<Invite> = self
            .store()
            .list_pack_invites(id)
            .await?
            .into_iter()
            .filter(|i| !i.is_expired(now))
            .collect();
        invites.sort_by(|a, b| (b.created_at, &b.code).cmp(&(a.created_at, &a.code)));
        let mut out = Vec::with_capacity(invites.len());
        for invite in &invites {
            out.push(self.pack_invite_response(invite, &pack).await?);
        }
        Ok(out)
    }

    /// A pack invite as `/invites/{code}` shows it: `UNKNOWN_PACK` if the pack is gone.
    pub(super) async fn pack_invite_view(
        &self,
        invite: &Invite,
        id: PackId,
    ) -> Result<PackInviteResponse> {
        let pack = self
            .store()
            .get_pack(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Pack))?;
        self.pack_invite_response(invite, &pack).await
    }

    /// Accepting a pack invite claims one use, then installs the pack (as `POST
    /// /packs/{id}/install`; already installed is fine); a used-up invite is deleted. Claiming
    /// first means concurrent accepts of a one-use invite install the pack once.
    pub(super) async fn accept_pack_invite(
        &self,
        actor: &Actor,
        invite: &Invite,
        id: PackId,
    ) -> Result<PackInviteResponse> {
        actor.require_person("Bots cannot install packs.")?;
        require_pack_access(actor)?;
        let used = self
            .store()
            .use_invite(&invite.code, self.now())
            .await?
            .ok_or(Error::Unknown(Unknown::Invite))?;
        if used.is_used_up() {
            self.store().delete_invite(&used.code).await?;
        }
        self.install_pack(actor, id).await?;
        self.pack_invite_view(&used, id).await
    }

    /// Deleting a pack invite: its pack's creator only.
    pub(super) async fn delete_pack_invite(
        &self,
        actor: &Actor,
        invite: &Invite,
        id: PackId,
    ) -> Result<PackInviteResponse> {
        let pack = self.own_pack(actor, id).await?;
        let response = self.pack_invite_response(invite, &pack).await?;
        self.store().delete_invite(&invite.code).await?;
        Ok(response)
    }

    async fn pack_invite_response(
        &self,
        invite: &Invite,
        pack: &Pack,
    ) -> Result<PackInviteResponse> {
        let mut ids = vec![pack.creator_id];
        ids.extend(invite.inviter_id);
        let users = self.user_partials(&ids).await?;
        let creator = users
            .get(&pack.creator_id)
            .cloned()
            .ok_or_else(|| Error::Internal("the pack's creator has no partial".into()))?;
        Ok(PackInviteResponse {
            code: invite.code.clone(),
            kind: pack_invite_type(pack.kind),
            pack: PackInfo {
                summary: pack.summary(None),
                creator,
            },
            inviter: invite.inviter_id.and_then(|id| users.get(&id).cloned()),
            expires_at: invite.expires_at(),
            temporary: invite.temporary,
            created_at: invite.created_at,
            uses: invite.uses,
            max_uses: invite.max_uses,
        })
    }
}

/// Upstream opens packs to STAFF accounts only, for now.
pub(super) fn require_pack_access(actor: &Actor) -> Result<()> {
    if actor.user.is_staff() {
        Ok(())
    } else {
        Err(Error::forbidden(
            "FEATURE_TEMPORARILY_DISABLED",
            "Expression packs are not available to this account yet.",
        ))
    }
}

/// Someone else's pack (403 `PACK_ACCESS_DENIED`).
pub(super) fn pack_access_denied() -> Error {
    Error::forbidden("PACK_ACCESS_DENIED", "Only the pack's creator may do that.")
}
