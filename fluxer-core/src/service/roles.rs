//! Roles: create, edit, reorder, delete, with the hierarchy rule (one manages only roles below one's
//! top role, and grants only permissions one holds).

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{GuildId, RoleId};
use crate::model::{Role, audit_action};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

use super::audit::{Audited, diff};
use super::{Actor, Fluxer, GuildAccess};

/// `POST /guilds/{id}/roles`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleCreate {
    /// 1 to 100 characters. Absent: `new role` on create, unchanged on update. @everyone cannot be
    /// renamed (the name is ignored).
    pub name: Option<String>,
    /// Color as `0xRRGGBB` (0 to 16777215); 0 means none. Absent: 0 on create, unchanged on update.
    pub color: Option<u32>,
    /// Permission bits, a decimal string or integer. The caller must hold each bit granted (on
    /// update, each bit that changes). Absent: none on create, unchanged on update.
    pub permissions: Option<Permissions>,
    /// Show the role's members apart in the member list. Absent: false on create, unchanged on
    /// update.
    pub hoist: Option<bool>,
    /// Let anyone mention the role (members with `MENTION_EVERYONE` always can). Absent: false on
    /// create, unchanged on update.
    pub mentionable: Option<bool>,
    /// An emoji shown with the role, up to 32 characters. On update, an empty string clears it.
    pub unicode_emoji: Option<String>,
    /// On update: where the role's group sits in the member list (`null` clears it); not for
    /// @everyone. Ignored on create.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub hoist_position: Option<Option<i32>>,
}

/// `PATCH /guilds/{id}/roles/{role_id}`.
pub type RoleUpdate = RoleCreate;

/// One entry of `PATCH /guilds/{id}/roles/hoist-positions`.
#[derive(Debug, Clone, Deserialize)]
pub struct HoistPosition {
    /// The role; not @everyone (`CANNOT_SET_HOIST_FOR_EVERYONE_ROLE`).
    pub id: RoleId,
    /// Where its group sits in the member list.
    pub hoist_position: i32,
}

/// One entry of `PATCH /guilds/{id}/roles`.
#[derive(Debug, Clone, Deserialize)]
pub struct RolePosition {
    /// The role to move; @everyone cannot be moved (`UNKNOWN_ROLE`).
    pub id: RoleId,
    /// The new position, 1 or more. Both the old and the new position must be below the caller's
    /// top role.
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
    /// The guild's roles, @everyone included, by position (`GET /guilds/{id}/roles`). Any member
    /// may call it.
    pub async fn list_roles(&self, actor: &Actor, guild_id: GuildId) -> Result<Vec<Role>> {
        Ok(self.guild_access(actor.id(), guild_id).await?.roles)
    }

    /// Creates a role right above @everyone, moving the others up one (`POST /guilds/{id}/roles`).
    /// Needs `MANAGE_ROLES`; `MAX_ROLES` at the guild's limit. Publishes `GUILD_ROLE_CREATE`, then
    /// `GUILD_ROLE_UPDATE` for each role that moved.
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
        if access.roles.len() >= self.limits().await?.roles_per_guild {
            return Err(Error::LimitReached {
                limit: Limit::Roles,
                max: self.limits().await?.roles_per_guild as u64,
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
            hoist_position: None,
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
        let changes = diff(&json!({}), &role, &["id", "guild_id", "position"]);
        let entry = Audited::new(audit_action::ROLE_CREATE, role.id, changes);
        self.audit(actor, guild_id, entry).await?;
        Ok(role)
    }

    /// Edits a role (`PATCH /guilds/{id}/roles/{role_id}`); only the fields given change. Needs
    /// `MANAGE_ROLES` and, except for @everyone, a top role above it. Publishes
    /// `GUILD_ROLE_UPDATE`.
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
        let before = role.clone();
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
        if let Some(h) = req.hoist_position
            && !role.is_everyone()
        {
            role.hoist_position = h;
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
        let changes = diff(&before, &role, &[]);
        if !changes.is_empty() {
            let entry = Audited::new(audit_action::ROLE_UPDATE, role.id, changes);
            self.audit(actor, guild_id, entry).await?;
        }
        Ok(role)
    }

    /// Sets the positions of several roles at once (`PATCH /guilds/{id}/roles`) and returns every
    /// role. Needs `MANAGE_ROLES`. Publishes `GUILD_ROLE_UPDATE` for each role moved.
    pub async fn reorder_roles(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        moves: Vec<RolePosition>,
    ) -> Result<Vec<Role>> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut v = Validator::new();
        v.count("roles", moves.len(), self.limits().await?.roles_per_guild);
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

    /// `PATCH /guilds/{id}/roles/hoist-positions`: where hoisted roles' groups sit in the member
    /// list. Needs MANAGE_ROLES, and roles below the caller's top role (owners: any); not
    /// @everyone. One `GUILD_ROLE_UPDATE_BULK` with the roles that changed.
    pub async fn set_hoist_positions(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        positions: Vec<HoistPosition>,
    ) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut v = Validator::new();
        v.count(
            "roles",
            positions.len(),
            self.limits().await?.roles_per_guild,
        );
        for (i, p) in positions.iter().enumerate() {
            let path = format!("{i}.id");
            v.check(
                p.id != guild_id.everyone_role(),
                &path,
                "CANNOT_SET_HOIST_FOR_EVERYONE_ROLE",
                "@everyone has no place of its own in the member list.",
            );
            v.check(
                access.roles.iter().any(|r| r.id == p.id),
                &path,
                "INVALID_ROLE_ID",
                "No such role in this guild.",
            );
        }
        v.finish()?;
        let mut changed = Vec::new();
        for p in &positions {
            let Some(role) = access.roles.iter().find(|r| r.id == p.id) else {
                continue;
            };
            access.require_role_below(role.position)?;
            if role.hoist_position != Some(p.hoist_position) {
                let mut role = role.clone();
                role.hoist_position = Some(p.hoist_position);
                changed.retain(|r: &Role| r.id != role.id);
                changed.push(role);
            }
        }
        self.store_role_bulk(guild_id, changed).await
    }

    /// `DELETE /guilds/{id}/roles/hoist-positions`: every role back to its `position`.
    pub async fn reset_hoist_positions(&self, actor: &Actor, guild_id: GuildId) -> Result<()> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_ROLES)?;
        let mut changed = Vec::new();
        for role in access.roles.iter().filter(|r| r.hoist_position.is_some()) {
            access.require_role_below(role.position)?;
            changed.push(Role {
                hoist_position: None,
                ..role.clone()
            });
        }
        self.store_role_bulk(guild_id, changed).await
    }

    async fn store_role_bulk(&self, guild_id: GuildId, changed: Vec<Role>) -> Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        self.store().update_roles(&changed).await?;
        self.emit(Dispatch::new(
            EventKind::GuildRoleUpdateBulk,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "roles": changed }),
        ))
        .await;
        Ok(())
    }

    /// Deletes a role (`DELETE /guilds/{id}/roles/{role_id}`). Needs `MANAGE_ROLES` and a top role
    /// above it; @everyone cannot be deleted (`CANNOT_DELETE_EVERYONE_ROLE`). Publishes
    /// `GUILD_ROLE_DELETE`.
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
            // Upstream answers as for a role that does not exist.
            return Err(Error::Unknown(Unknown::Role));
        }
        access.require_role_below(role.position)?;
        let changes = diff(role, &json!({}), &["id", "guild_id", "position"]);
        self.store().delete_role(guild_id, role_id).await?;
        self.emit(Dispatch::new(
            EventKind::GuildRoleDelete,
            Topic::Guild(guild_id),
            &json!({ "guild_id": guild_id, "role_id": role_id }),
        ))
        .await;
        let entry = Audited::new(audit_action::ROLE_DELETE, role_id, changes);
        self.audit(actor, guild_id, entry).await
    }
}
