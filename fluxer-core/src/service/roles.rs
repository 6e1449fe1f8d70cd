//! Roles: create, edit, reorder, delete, with the hierarchy rule (one manages only roles below one's
//! top role, and grants only permissions one holds).

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{GuildId, RoleId};
use crate::model::Role;
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

use super::{Actor, Fluxer, GuildAccess};

/// `POST /guilds/{id}/roles`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleCreate {
    pub name: Option<String>,
    pub color: Option<u32>,
    pub permissions: Option<Permissions>,
    pub hoist: Option<bool>,
    pub mentionable: Option<bool>,
    pub unicode_emoji: Option<String>,
}

/// `PATCH /guilds/{id}/roles/{role_id}`.
pub type RoleUpdate = RoleCreate;

/// One entry of `PATCH /guilds/{id}/roles`.
#[derive(Debug, Clone, Deserialize)]
pub struct RolePosition {
    pub id: RoleId,
    pub position: i32,
}

fn validate(v: &mut Validator, req: &RoleCreate) {
    if let Some(n) = &req.name {
        v.length("name", n, 1, 100);
    }
    if let Some(c) = req.color {
        v.range("color", i64::from(c), 0, 0xFF_FFFF);
    }
    v.opt_length("unicode_emoji", req.unicode_emoji.as_deref(), 0, 32);
}

/// Granting a permission needs holding it (administrators hold all).
fn require_grantable(access: &GuildAccess, perms: Permissions) -> Result<()> {
    if access.permissions.contains(perms) {
        Ok(())
    } else {
        Err(Error::MissingPermissions)
    }
}

impl Fluxer {
    pub async fn list_roles(&self, actor: &Actor, guild_id: GuildId) -> Result<Vec<Role>> {
        Ok(self.guild_access(actor.id(), guild_id).await?.roles)
    }

    pub async fn create_role(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: RoleCreate,
    ) -> Result<Role> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut v = Validator::new();
        validate(&mut v, &req);
        v.finish()?;
        if access.roles.len() >= self.limits().roles_per_guild {
            return Err(Error::LimitReached {
                limit: Limit::Roles,
                max: self.limits().roles_per_guild as u64,
            });
        }
        let permissions = req.permissions.unwrap_or(Permissions::empty());
        require_grantable(&access, permissions)?;
        // New roles go right above @everyone; the others move up one.
        let mut shifted: Vec<Role> = access
            .roles
            .iter()
            .filter(|r| !r.is_everyone())
            .cloned()
            .map(|mut r| {
                r.position += 1;
                r
            })
            .collect();
        let role = Role {
            id: self.next_id(),
            guild_id,
            name: req.name.unwrap_or_else(|| "new role".to_owned()),
            color: req.color.unwrap_or(0),
            position: 1,
            hoist: req.hoist.unwrap_or(false),
            mentionable: req.mentionable.unwrap_or(false),
            permissions,
            unicode_emoji: req.unicode_emoji,
        };
        self.store().create_role(&role).await?;
        if !shifted.is_empty() {
            self.store().update_roles(&shifted).await?;
        }
        self.emit(Dispatch::new(
            EventKind::GuildRoleCreate,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "role": role }),
        ))
        .await;
        for r in shifted.drain(..) {
            self.emit(Dispatch::new(
                EventKind::GuildRoleUpdate,
                Topic::Guild(guild_id),
                &json!({ "guild_id": guild_id, "role": r }),
            ))
            .await;
        }
        Ok(role)
    }

    pub async fn update_role(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        role_id: RoleId,
        req: RoleUpdate,
    ) -> Result<Role> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut v = Validator::new();
        validate(&mut v, &req);
        v.finish()?;
        let mut role = access
            .roles
            .iter()
            .find(|r| r.id == role_id)
            .cloned()
            .ok_or(Error::Unknown(Unknown::Role))?;
        if !role.is_everyone() {
            access.require_role_below(role.position)?;
        }
        if let Some(p) = req.permissions {
            // Only the permissions that change need to be held.
            require_grantable(&access, p ^ role.permissions)?;
            role.permissions = p;
        }
        if let Some(n) = req.name
            && !role.is_everyone()
        {
            role.name = n;
        }
        if let Some(c) = req.color {
            role.color = c;
        }
        if let Some(h) = req.hoist {
            role.hoist = h;
        }
        if let Some(m) = req.mentionable {
            role.mentionable = m;
        }
        if req.unicode_emoji.is_some() {
            role.unicode_emoji = req.unicode_emoji.filter(|e| !e.is_empty());
        }
        self.store()
            .update_roles(std::slice::from_ref(&role))
            .await?;
        self.emit(Dispatch::new(
            EventKind::GuildRoleUpdate,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "role": role }),
        ))
        .await;
        Ok(role)
    }

    pub async fn reorder_roles(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        moves: Vec<RolePosition>,
    ) -> Result<Vec<Role>> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut v = Validator::new();
        v.count("roles", moves.len(), self.limits().roles_per_guild);
        for (i, m) in moves.iter().enumerate() {
            v.range(
                &format!("{i}.position"),
                i64::from(m.position),
                1,
                i64::from(i32::MAX),
            );
        }
        v.finish()?;
        let mut roles = access.roles.clone();
        let mut changed = Vec::new();
        for m in &moves {
            let role = roles
                .iter_mut()
                .find(|r| r.id == m.id && !r.is_everyone())
                .ok_or(Error::Unknown(Unknown::Role))?;
            access.require_role_below(role.position)?;
            access.require_role_below(m.position)?;
            role.position = m.position;
            changed.push(role.clone());
        }
        self.store().update_roles(&changed).await?;
        for r in &changed {
            self.emit(Dispatch::new(
                EventKind::GuildRoleUpdate,
                Topic::Guild(guild_id),
                &json!({ "guild_id": guild_id, "role": r }),
            ))
            .await;
        }
        Ok(self.store().list_roles(guild_id).await?)
    }

    pub async fn delete_role(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        role_id: RoleId,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let role = access
            .roles
            .iter()
            .find(|r| r.id == role_id)
            .ok_or(Error::Unknown(Unknown::Role))?;
        if role.is_everyone() {
            return Err(Error::rejected(
                "CANNOT_DELETE_EVERYONE_ROLE",
                "The @everyone role cannot be deleted.",
            ));
        }
        access.require_role_below(role.position)?;
        self.store().delete_role(guild_id, role_id).await?;
        self.emit(Dispatch::new(
            EventKind::GuildRoleDelete,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "role_id": role_id }),
        ))
        .await;
        Ok(())
    }
}
