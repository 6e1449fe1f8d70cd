//! Staff administering guilds (`/admin/guilds/*`, upstream's paths and bodies): look up, search,
//! rename, change settings, features and vanity code, transfer ownership, list members, ban, kick,
//! force-add a user, delete. Each change publishes the gateway events the owner's or a
//! moderator's change publishes and leaves an admin audit entry; none needs membership.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Audited;
use super::{Actor, AdminAction, AdminPrincipal};
use super::{BanCreate, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, RoleId, UserId};
use crate::model::acl;
use crate::model::{ChannelType, Guild, MemberResponse, audit_action};
use crate::permission::Permissions;
use crate::ports::Scan;
use crate::validation::Validator;

/// Largest page of guilds or members.
pub(crate) const MAX_ADMIN_PAGE: u32 = 200;
/// Largest `offset` of a guild search or member list.
pub(crate) const MAX_ADMIN_OFFSET: u64 = 100_000;
/// Most guilds a name search reads (by ascending ID).
pub(crate) const GUILD_SEARCH_SCAN: usize = 100_000;
/// Most features added or removed at once.
const MAX_FEATURES: usize = 100;
/// Store page size while walking guilds or members.
const WALK_PAGE: usize = 500;

/// `{ "guild_id": ... }`: lookup and delete.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildTarget {
    /// The guild.
    pub guild_id: GuildId,
}

/// `POST /admin/guilds/search`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminGuildSearch {
    /// A guild ID, or text found (case-insensitively) in the name or vanity code; empty lists all.
    pub query: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Matches to skip.
    pub offset: Option<u64>,
}

/// `POST /admin/guilds/update-name`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildName {
    /// The guild.
    pub guild_id: GuildId,
    /// 1 to 100 characters once trimmed.
    pub name: String,
}

/// `POST /admin/guilds/update-settings`: absent fields are left alone.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildSettings {
    /// The guild.
    pub guild_id: GuildId,
    /// 0 to 4.
    pub verification_level: Option<u8>,
    /// 0 or 1.
    pub mfa_level: Option<u8>,
    /// 0 to 3.
    pub nsfw_level: Option<u8>,
    /// 0 to 2.
    pub explicit_content_filter: Option<u8>,
    /// 0 or 1.
    pub default_message_notifications: Option<u8>,
    /// Upstream's `GuildOperations` bits that are switched off (0 to 127).
    pub disabled_operations: Option<u32>,
}

/// `POST /admin/guilds/update-features`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildFeatures {
    /// The guild.
    pub guild_id: GuildId,
    /// Features to add (`VERIFIED`, `VANITY_URL`, ...), at most 100.
    #[serde(default)]
    pub add_features: Vec<String>,
    /// Features to remove, at most 100.
    #[serde(default)]
    pub remove_features: Vec<String>,
}

/// `POST /admin/guilds/update-vanity`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildVanity {
    /// The guild.
    pub guild_id: GuildId,
    /// The new code, or `null` to remove it.
    pub vanity_url_code: Option<String>,
}

/// `POST /admin/guilds/transfer-ownership`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildTransfer {
    /// The guild.
    pub guild_id: GuildId,
    /// A member, who becomes the owner.
    pub new_owner_id: UserId,
}

/// `POST /admin/guilds/list-members`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildMembers {
    /// The guild.
    pub guild_id: GuildId,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Members to skip, by ascending user ID.
    pub offset: Option<u64>,
}

/// `POST /admin/guilds/kick-member` and `force-add-user`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildMember {
    /// The guild.
    pub guild_id: GuildId,
    /// The user.
    pub user_id: UserId,
}

/// `POST /admin/guilds/ban-member`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGuildBan {
    /// The guild.
    pub guild_id: GuildId,
    /// The user, member or not.
    pub user_id: UserId,
    /// Also delete their messages of the last 0 to 7 days.
    pub delete_message_days: Option<u32>,
    /// Up to 512 characters, shown in the guild's ban list.
    pub reason: Option<String>,
    /// Lift the ban after this many seconds; absent or 0 bans for good.
    pub ban_duration_seconds: Option<u32>,
}

/// A guild as the admin lists show it (upstream's `GuildAdminResponse`).
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildSummary {
    /// Its ID.
    pub id: GuildId,
    /// Its name.
    pub name: String,
    /// Its features.
    pub features: Vec<String>,
    /// Its owner.
    pub owner_id: UserId,
    /// Icon hash.
    pub icon: Option<String>,
    /// Banner hash.
    pub banner: Option<String>,
    /// Members.
    pub member_count: u64,
}

/// `{ "guild": ... }`: what the update operations answer.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildUpdated {
    /// The guild after the change.
    pub guild: AdminGuildSummary,
}

/// A channel in a guild lookup.
#[derive(Debug, Clone, Serialize)]
pub struct AdminChannelSummary {
    /// Its ID.
    pub id: ChannelId,
    /// Its name.
    pub name: Option<String>,
    /// Its type number.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Its position.
    pub position: i32,
    /// Its category.
    pub parent_id: Option<ChannelId>,
}

/// A role in a guild lookup.
#[derive(Debug, Clone, Serialize)]
pub struct AdminRoleSummary {
    /// Its ID.
    pub id: RoleId,
    /// Its name.
    pub name: String,
    /// Its colour.
    pub color: u32,
    /// Its position.
    pub position: i32,
    /// Its permissions (a decimal string).
    pub permissions: Permissions,
    /// Shown apart in the member list.
    pub hoist: bool,
    /// Anyone may mention it.
    pub mentionable: bool,
}

/// `POST /admin/guilds/lookup`'s guild.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildDetail {
    /// The guild's stored fields.
    #[serde(flatten)]
    pub guild: Guild,
    /// Upstream's `embed_splash` (not kept here: always `null`).
    pub embed_splash: Option<String>,
    /// Members.
    pub member_count: u64,
    /// Its channels.
    pub channels: Vec<AdminChannelSummary>,
    /// Its roles.
    pub roles: Vec<AdminRoleSummary>,
}

/// `POST /admin/guilds/lookup`'s answer: `guild` is `null` when there is none.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildLookup {
    /// The guild.
    pub guild: Option<AdminGuildDetail>,
}

/// `POST /admin/guilds/search`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildSearchPage {
    /// This page.
    pub guilds: Vec<AdminGuildSummary>,
    /// How many match.
    pub total: usize,
}

/// `POST /admin/guilds/list-members`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGuildMemberPage {
    /// This page.
    pub members: Vec<MemberResponse>,
    /// How many members the guild has.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The offset asked for.
    pub offset: u64,
}

fn page(v: &mut Validator, limit: Option<u32>, offset: Option<u64>) -> (u32, u64) {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    v.range("limit", i64::from(limit), 1, i64::from(MAX_ADMIN_PAGE));
    v.check(
        offset <= MAX_ADMIN_OFFSET,
        "offset",
        "BASE_TYPE_MAX_VALUE",
        &format!("Offset may be at most {MAX_ADMIN_OFFSET}."),
    );
    (limit, offset)
}

/// Checks lists of features to add and remove: at most 100 each, each shaped like a feature.
pub(crate) fn validate_features(v: &mut Validator, add: &[String], remove: &[String]) {
    for (path, list) in [("add_features", add), ("remove_features", remove)] {
        v.count(path, list.len(), MAX_FEATURES);
        for (i, f) in list.iter().enumerate() {
            v.check(
                is_feature_name(f),
                &format!("{path}.{i}"),
                "INVALID_FORMAT",
                "Features are 1-64 capital letters, digits or underscores.",
            );
        }
    }
}

fn is_feature_name(f: &str) -> bool {
    (1..=64).contains(&f.len())
        && f.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Fluxer {
    /// Writes a staff action into the guild's own audit log too, as the staff account (upstream's
    /// admin actions run through the guild's use-cases, which log them there).
    async fn guild_audit_as_staff(
        &self,
        by: &AdminPrincipal,
        guild: GuildId,
        what: Audited,
    ) -> Result<()> {
        let actor = Actor {
            user: by.user.clone(),
            session: None,
            reason: by.reason.clone(),
            oauth2: None,
        };
        self.audit(&actor, guild, what).await
    }

    async fn admin_load_guild(&self, id: GuildId) -> Result<Guild> {
        self.store()
            .get_guild(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))
    }

    async fn admin_guild_summary(&self, guild: Guild) -> Result<AdminGuildSummary> {
        let member_count = self.store().count_members(guild.id).await?;
        Ok(AdminGuildSummary {
            id: guild.id,
            name: guild.name,
            features: guild.features,
            owner_id: guild.owner_id,
            icon: guild.icon,
            banner: guild.banner,
            member_count,
        })
    }

    async fn admin_updated(&self, guild: Guild) -> Result<AdminGuildUpdated> {
        Ok(AdminGuildUpdated {
            guild: self.admin_guild_summary(guild).await?,
        })
    }

    /// `POST /admin/guilds/lookup`: the guild with its channels and roles, or `null`.
    pub async fn admin_lookup_guild(
        &self,
        who: &AdminPrincipal,
        id: GuildId,
    ) -> Result<AdminGuildLookup> {
        who.require(acl::GUILD_LOOKUP)?;
        let Some(guild) = self.store().get_guild(id).await? else {
            return Ok(AdminGuildLookup { guild: None });
        };
        let member_count = self.store().count_members(id).await?;
        let mut channels: Vec<AdminChannelSummary> = self
            .store()
            .list_guild_channels(id)
            .await?
            .into_iter()
            .map(|c| AdminChannelSummary {
                id: c.id,
                name: c.name,
                kind: c.kind,
                position: c.position,
                parent_id: c.parent_id,
            })
            .collect();
        channels.sort_by_key(|c| (c.position, c.id));
        let mut roles: Vec<AdminRoleSummary> = self
            .store()
            .list_roles(id)
            .await?
            .into_iter()
            .map(|r| AdminRoleSummary {
                id: r.id,
                name: r.name,
                color: r.color,
                position: r.position,
                permissions: r.permissions,
                hoist: r.hoist,
                mentionable: r.mentionable,
            })
            .collect();
        roles.sort_by_key(|r| (r.position, r.id));
        Ok(AdminGuildLookup {
            guild: Some(AdminGuildDetail {
                guild,
                embed_splash: None,
                member_count,
                channels,
                roles,
            }),
        })
    }

    /// `POST /admin/guilds/search`: a guild's ID finds that guild; other text is looked for in the
    /// names and vanity codes of the first [`GUILD_SEARCH_SCAN`] guilds, by ascending ID.
    pub async fn admin_search_guilds(
        &self,
        who: &AdminPrincipal,
        req: AdminGuildSearch,
    ) -> Result<AdminGuildSearchPage> {
        who.require(acl::GUILD_LOOKUP)?;
        let mut v = Validator::new();
        let (limit, offset) = page(&mut v, req.limit, req.offset);
        v.opt_length("query", req.query.as_deref(), 0, 256);
        v.finish()?;
        let q = req.query.as_deref().unwrap_or("").trim().to_lowercase();
        // An ID finds that guild; a number that is no guild's ID is searched as text.
        if let Ok(id) = q.parse::<u64>()
            && let Some(g) = self.store().get_guild(GuildId::new(id)).await?
        {
            let mut guilds = Vec::new();
            if offset == 0 {
                guilds.push(self.admin_guild_summary(g).await?);
            }
            return Ok(AdminGuildSearchPage { guilds, total: 1 });
        }
        let mut hits = Vec::new();
        let (mut after, mut read) = (0u64, 0usize);
        while read < GUILD_SEARCH_SCAN {
            let ids = self
                .store()
                .scan_ids(Scan::Guilds, after, WALK_PAGE)
                .await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            after = last;
            read += ids.len();
            let ids: Vec<GuildId> = ids.into_iter().map(GuildId::new).collect();
            let mut guilds = self.store().get_guilds(&ids).await?;
            guilds.sort_by_key(|g| g.id);
            hits.extend(guilds.into_iter().filter(|g| {
                q.is_empty()
                    || g.name.to_lowercase().contains(&q)
                    || g.vanity_url_code
                        .as_deref()
                        .is_some_and(|c| c.to_lowercase().contains(&q))
            }));
        }
        let total = hits.len();
        let mut guilds = Vec::new();
        for g in hits.into_iter().skip(offset as usize).take(limit as usize) {
            guilds.push(self.admin_guild_summary(g).await?);
        }
        Ok(AdminGuildSearchPage { guilds, total })
    }

    /// `POST /admin/guilds/update-name`: publishes `GUILD_UPDATE`.
    pub async fn admin_update_guild_name(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildName,
    ) -> Result<AdminGuildUpdated> {
        let mut v = Validator::new();
        v.length("name", req.name.trim(), 1, 100);
        v.finish()?;
        let mut guild = self.admin_load_guild(req.guild_id).await?;
        let old = guild.clone();
        let before = guild.name.clone();
        guild.name = req.name.trim().to_owned();
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        let changes = super::audit::diff(&old, &guild, &[]);
        if !changes.is_empty() {
            let entry = Audited::new(audit_action::GUILD_UPDATE, guild.id, changes);
            self.guild_audit_as_staff(by, guild.id, entry).await?;
        }
        let entry = AdminAction::new("guild.update_name", "guild", guild.id).change(
            "name",
            &before,
            &guild.name,
        );
        self.record_admin_action(by, entry).await?;
        self.admin_updated(guild).await
    }

    /// `POST /admin/guilds/update-settings`: publishes `GUILD_UPDATE`.
    pub async fn admin_update_guild_settings(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildSettings,
    ) -> Result<AdminGuildUpdated> {
        let mut v = Validator::new();
        let checks = [
            ("verification_level", req.verification_level, 4),
            ("mfa_level", req.mfa_level, 1),
            ("nsfw_level", req.nsfw_level, 3),
            ("explicit_content_filter", req.explicit_content_filter, 2),
            (
                "default_message_notifications",
                req.default_message_notifications,
                1,
            ),
        ];
        for (path, value, max) in checks {
            if let Some(x) = value {
                v.range(path, i64::from(x), 0, max);
            }
        }
        if let Some(ops) = req.disabled_operations {
            v.range("disabled_operations", i64::from(ops), 0, 127);
        }
        v.finish()?;
        let mut guild = self.admin_load_guild(req.guild_id).await?;
        let before = guild.clone();
        if let Some(x) = req.verification_level {
            guild.verification_level = x;
        }
        if let Some(x) = req.mfa_level {
            guild.mfa_level = x;
        }
        if let Some(x) = req.nsfw_level {
            guild.nsfw_level = x;
        }
        if let Some(x) = req.explicit_content_filter {
            guild.explicit_content_filter = x;
        }
        if let Some(x) = req.default_message_notifications {
            guild.default_message_notifications = x;
        }
        if let Some(x) = req.disabled_operations {
            guild.disabled_operations = x;
        }
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        let changes = super::audit::diff(&before, &guild, &[]);
        if !changes.is_empty() {
            let entry = Audited::new(audit_action::GUILD_UPDATE, guild.id, changes);
            self.guild_audit_as_staff(by, guild.id, entry).await?;
        }
        let mut entry = AdminAction::new("guild.update_settings", "guild", guild.id);
        for (field, old, new) in [
            (
                "verification_level",
                u32::from(before.verification_level),
                u32::from(guild.verification_level),
            ),
            (
                "mfa_level",
                u32::from(before.mfa_level),
                u32::from(guild.mfa_level),
            ),
            (
                "nsfw_level",
                u32::from(before.nsfw_level),
                u32::from(guild.nsfw_level),
            ),
            (
                "explicit_content_filter",
                u32::from(before.explicit_content_filter),
                u32::from(guild.explicit_content_filter),
            ),
            (
                "default_message_notifications",
                u32::from(before.default_message_notifications),
                u32::from(guild.default_message_notifications),
            ),
            (
                "disabled_operations",
                before.disabled_operations,
                guild.disabled_operations,
            ),
        ] {
            if old != new {
                entry = entry.change(field, old, new);
            }
        }
        self.record_admin_action(by, entry).await?;
        self.admin_updated(guild).await
    }

    /// `POST /admin/guilds/update-features`: adds, then removes; publishes `GUILD_UPDATE`.
    pub async fn admin_update_guild_features(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildFeatures,
    ) -> Result<AdminGuildUpdated> {
        let mut v = Validator::new();
        validate_features(&mut v, &req.add_features, &req.remove_features);
        v.finish()?;
        let (before, guild) = self
            .change_guild_features(req.guild_id, &req.add_features, &req.remove_features)
            .await?;
        let entry = AdminAction::new("guild.update_features", "guild", guild.id).change(
            "features",
            before,
            guild.features.join(","),
        );
        self.record_admin_action(by, entry).await?;
        self.admin_updated(guild).await
    }

    /// Adds then removes features of one guild, publishing `GUILD_UPDATE`; the features before
    /// (comma-separated) and the guild after.
    pub(crate) async fn change_guild_features(
        &self,
        guild_id: GuildId,
        add: &[String],
        remove: &[String],
    ) -> Result<(String, Guild)> {
        let mut guild = self.admin_load_guild(guild_id).await?;
        let before = guild.features.join(",");
        for f in add {
            if !guild.features.contains(f) {
                guild.features.push(f.clone());
            }
        }
        guild.features.retain(|f| !remove.contains(f));
        if guild.features.len() > MAX_FEATURES {
            return Err(Error::field(
                "add_features",
                "BASE_TYPE_MAX_LENGTH",
                format!("A guild has at most {MAX_FEATURES} features."),
            ));
        }
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        Ok((before, guild))
    }

    /// `POST /admin/guilds/update-vanity`: the same checks as the owner's change
    /// (`VANITY_URL_CODE_ALREADY_TAKEN`, ...); publishes `GUILD_UPDATE`.
    pub async fn admin_update_guild_vanity(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildVanity,
    ) -> Result<AdminGuildUpdated> {
        let guild = self.admin_load_guild(req.guild_id).await?;
        let before = guild.vanity_url_code.clone().unwrap_or_default();
        let code = req.vanity_url_code.filter(|c| !c.is_empty());
        self.apply_vanity(guild, code.clone())
            .await
            .map_err(|e| rename_field(e, "code", "vanity_url_code"))?;
        let guild = self.admin_load_guild(req.guild_id).await?;
        let entry = AdminAction::new("guild.update_vanity", "guild", guild.id).change(
            "vanity_url_code",
            before,
            code.unwrap_or_default(),
        );
        self.record_admin_action(by, entry).await?;
        self.admin_updated(guild).await
    }

    /// `POST /admin/guilds/transfer-ownership`: the new owner must be a member (`UNKNOWN_MEMBER`);
    /// publishes `GUILD_UPDATE`.
    pub async fn admin_transfer_guild_ownership(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildTransfer,
    ) -> Result<AdminGuildUpdated> {
        let mut guild = self.admin_load_guild(req.guild_id).await?;
        if self
            .store()
            .get_member(guild.id, req.new_owner_id)
            .await?
            .is_none()
        {
            return Err(Error::Unknown(Unknown::Member));
        }
        let before = guild.owner_id;
        guild.owner_id = req.new_owner_id;
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        let entry = AdminAction::new("guild.transfer_ownership", "guild", guild.id).change(
            "owner_id",
            before,
            guild.owner_id,
        );
        self.record_admin_action(by, entry).await?;
        self.admin_updated(guild).await
    }

    /// `POST /admin/guilds/list-members`: by ascending user ID.
    pub async fn admin_list_guild_members(
        &self,
        who: &AdminPrincipal,
        req: AdminGuildMembers,
    ) -> Result<AdminGuildMemberPage> {
        who.require(acl::GUILD_LIST_MEMBERS)?;
        let mut v = Validator::new();
        let (limit, offset) = page(&mut v, req.limit, req.offset);
        v.finish()?;
        let guild = self.admin_load_guild(req.guild_id).await?;
        let total = self.store().count_members(guild.id).await?;
        let mut skipped = 0u64;
        let mut after = None;
        let mut members = Vec::new();
        while members.len() < limit as usize {
            let batch = self
                .store()
                .list_members(guild.id, after, WALK_PAGE as u32)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.user_id);
            let full = batch.len() == WALK_PAGE;
            for m in batch {
                if skipped < offset {
                    skipped += 1;
                } else if members.len() < limit as usize {
                    members.push(m);
                }
            }
            if !full {
                break;
            }
        }
        let members = self.member_responses(members).await?;
        Ok(AdminGuildMemberPage {
            members,
            total,
            limit,
            offset,
        })
    }

    /// `POST /admin/guilds/ban-member`: as a moderator's ban (`GUILD_BAN_ADD`, the membership
    /// removed with `GUILD_MEMBER_REMOVE`, recent messages deleted on request), without rank checks.
    pub async fn admin_ban_guild_member(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildBan,
    ) -> Result<()> {
        let mut v = Validator::new();
        v.opt_length("reason", req.reason.as_deref(), 0, 512);
        if let Some(d) = req.delete_message_days {
            v.range("delete_message_days", i64::from(d), 0, 7);
        }
        v.finish()?;
        let guild = self.admin_load_guild(req.guild_id).await?;
        if self.store().get_user(req.user_id).await?.is_none() {
            return Err(Error::Unknown(Unknown::User));
        }
        if guild.owner_id == req.user_id {
            return Err(Error::rejected(
                "CANNOT_BAN_GUILD_OWNER",
                "Transfer the guild's ownership before banning its owner.",
            ));
        }
        let days = req.delete_message_days.unwrap_or(0);
        let mut entry = AdminAction::new("guild.ban_member", "user", req.user_id)
            .with("guild_id", guild.id)
            .with("user_id", req.user_id)
            .with("delete_message_days", days);
        if let Some(r) = &req.reason {
            entry = entry.with("reason", r);
        }
        if let Some(s) = req.ban_duration_seconds {
            entry = entry.with("ban_duration_seconds", s);
        }
        let ban = BanCreate {
            reason: req.reason,
            delete_message_days: Some(days),
            delete_message_seconds: None,
            ban_duration_seconds: req.ban_duration_seconds,
        };
        let window = self.apply_ban(guild.id, req.user_id, by.id(), ban).await?;
        let logged = Audited::new(audit_action::MEMBER_BAN_ADD, req.user_id, Vec::new())
            .options(json!({ "delete_member_days": (window / 86_400).to_string() }));
        self.guild_audit_as_staff(by, guild.id, logged).await?;
        self.record_admin_action(by, entry).await
    }

    /// `POST /admin/guilds/kick-member`: `GUILD_MEMBER_REMOVE` to the guild, `GUILD_DELETE` to the
    /// user; the owner cannot be kicked.
    pub async fn admin_kick_guild_member(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildMember,
    ) -> Result<()> {
        let guild = self.admin_load_guild(req.guild_id).await?;
        if guild.owner_id == req.user_id {
            return Err(Error::rejected(
                "CANNOT_KICK_GUILD_OWNER",
                "Transfer the guild's ownership before removing its owner.",
            ));
        }
        self.remove_member_and_notify(guild.id, req.user_id).await?;
        self.settings_guild_removed(req.user_id, guild.id).await?;
        let logged = Audited::new(audit_action::MEMBER_KICK, req.user_id, Vec::new());
        self.guild_audit_as_staff(by, guild.id, logged).await?;
        let entry = AdminAction::new("guild.kick_member", "user", req.user_id)
            .with("guild_id", guild.id)
            .with("user_id", req.user_id);
        self.record_admin_action(by, entry).await
    }

    /// `POST /admin/guilds/force-add-user`: joins the user as an accepted invite does
    /// (`GUILD_MEMBER_ADD`, `GUILD_CREATE` to the user), past a guild ban as upstream; a member
    /// already is left as is.
    pub async fn admin_force_add_member(
        &self,
        by: &AdminPrincipal,
        req: AdminGuildMember,
    ) -> Result<()> {
        let guild = self.admin_load_guild(req.guild_id).await?;
        self.store()
            .get_user(req.user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))?;
        let added = self.add_to_guild(guild.id, req.user_id, false).await?;
        let entry = AdminAction::new("guild.force_add_member", "user", req.user_id)
            .with("guild_id", guild.id)
            .with("added", added);
        self.record_admin_action(by, entry).await
    }

    /// `POST /admin/guilds/delete`: as the owner's deletion (`GUILD_DELETE` to its members).
    pub async fn admin_delete_guild(&self, by: &AdminPrincipal, id: GuildId) -> Result<()> {
        let guild = self.admin_load_guild(id).await?;
        self.erase_guild(id).await?;
        let entry = AdminAction::new("guild.delete", "guild", id)
            .with("name", &guild.name)
            .with("owner_id", guild.owner_id);
        self.record_admin_action(by, entry).await
    }
}

/// The owner's vanity route names its field `code`; the admin body names it `vanity_url_code`.
fn rename_field(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::InvalidForm(mut fields) => {
            for f in &mut fields {
                if f.path == from {
                    f.path = to.to_owned();
                }
            }
            Error::InvalidForm(fields)
        }
        other => other,
    }
}
