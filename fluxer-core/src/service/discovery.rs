//! Guild discovery and member search on the search index.
//!
//! A guild gets into discovery by applying (`POST /guilds/{id}/discovery`, MANAGE_GUILD, a
//! description and a category, enough members); staff approve the application, which gives the
//! guild the `DISCOVERABLE` feature, or reject it; they may later remove an approved listing. The
//! guild may edit its application while pending or listed, withdraw it, and apply again after a
//! rejection or removal. Listed guilds' names, descriptions and member counts are reindexed through
//! the queue when they change. User names are indexed for mention and DM autocomplete; member
//! search narrows name matches to a guild's members.

use serde::{Deserialize, Serialize};

use super::admin::{AdminAction, AdminPrincipal};
use super::{Actor, Fluxer, jobs::Task};
use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, UserId};
use crate::model::acl;
use crate::model::{
    DiscoveryApplication, DiscoveryApplicationResponse, DiscoveryStatus, MemberResponse,
};
use crate::permission::Permissions;
use crate::ports::{GuildDocument, SearchIndex, UserDocument};
use crate::validation::Validator;

/// Instance settings for discovery (upstream's `discovery` config section).
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// Whether guilds may apply to and be found in discovery.
    pub enabled: bool,
    /// Members a guild needs before it may apply (upstream's default: 1).
    pub min_member_count: u64,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            enabled: true,
            min_member_count: 1,
        }
    }
}

/// Shortest listing description (upstream's `DISCOVERY_DESCRIPTION_MIN_LENGTH`).
pub const DISCOVERY_DESCRIPTION_MIN: usize = 10;
/// Longest listing description (upstream's `DISCOVERY_DESCRIPTION_MAX_LENGTH`).
pub const DISCOVERY_DESCRIPTION_MAX: usize = 300;
/// Most applications one staff listing returns.
pub const MAX_DISCOVERY_REVIEW_LIMIT: u32 = 100;

/// `POST /guilds/{id}/discovery`: what a guild applies with.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryApply {
    /// The listing's description (10 to 300 characters).
    pub description: String,
    /// Discovery's category, 0 to 8.
    pub category_type: i64,
}

/// `PATCH /guilds/{id}/discovery`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DiscoveryEdit {
    /// A new description (10 to 300 characters).
    pub description: Option<String>,
    /// A new category, 0 to 8.
    pub category_type: Option<i64>,
}

/// `GET /guilds/{id}/discovery`: the guild's application and whether it may apply.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryState {
    /// The current application, if any.
    pub application: Option<DiscoveryApplicationResponse>,
    /// Whether discovery is on and the guild has enough members to apply.
    pub eligible: bool,
    /// Members a guild needs to apply.
    pub min_member_count: u64,
}

/// The feature flag that lists a guild in discovery.
pub const DISCOVERABLE: &str = "DISCOVERABLE";
/// Discovery pages hold at most this many guilds (upstream's limit).
pub const MAX_DISCOVERY_LIMIT: usize = 48;

/// A guild in discovery results.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveredGuild {
    /// The guild's ID.
    pub id: GuildId,
    /// The guild's name.
    pub name: String,
    /// The guild's description, if set.
    pub description: Option<String>,
    /// The icon's image hash (`a_`-prefixed when animated), if set.
    pub icon: Option<String>,
    /// The banner's image hash, if set.
    pub banner: Option<String>,
    /// How many members the guild has now.
    pub member_count: u64,
    /// Members online now (0 without a presence service).
    pub online_count: u64,
    /// The listing's category.
    pub category_type: u8,
    /// The guild's feature flags.
    pub features: Vec<String>,
    /// The guild's verification level.
    pub verification_level: u8,
}

/// The `Other` category, which guilds listed before applications existed read as.
const DISCOVERY_OTHER: u8 = 8;

/// Discovery's categories (upstream's fixed list: `category_type` 0 to 8).
pub const DISCOVERY_CATEGORIES: &[&str] = &[
    "Gaming",
    "Music",
    "Entertainment",
    "Education",
    "Science & Technology",
    "Content Creator",
    "Anime & Manga",
    "Movies & TV",
    "Other",
];

impl Fluxer {
    /// `POST /discovery/guilds/{id}/join`: joins a guild listed in discovery, no invite needed
    /// (`DISCOVERY_NOT_DISCOVERABLE` for any other, unknown ones included); a member already is
    /// left as they are. Bans and the guild limit apply as for invites.
    pub async fn join_discoverable_guild(&self, actor: &Actor, guild_id: GuildId) -> Result<()> {
        self.require_discovery_enabled()?;
        let listed = self
            .store()
            .get_guild(guild_id)
            .await?
            .is_some_and(|g| g.features.iter().any(|f| f == DISCOVERABLE));
        if !listed {
            return Err(Error::rejected(
                "DISCOVERY_NOT_DISCOVERABLE",
                "This guild is not in discovery.",
            ));
        }
        self.join_guild(guild_id, actor.id()).await?;
        Ok(())
    }

    /// The invite code a visitor joins a listed guild with, for the home page's directory: the
    /// guild's vanity code, else its oldest invite that never expires, has no use limit and gives
    /// full membership. `None` for a guild that is not listed or has no such invite (then only
    /// the discovery join, `POST /discovery/guilds/{id}/join`, lets people in).
    pub async fn discovery_invite_code(&self, guild_id: GuildId) -> Result<Option<String>> {
        self.require_discovery_enabled()?;
        let listed = self
            .store()
            .get_guild(guild_id)
            .await?
            .is_some_and(|g| g.features.iter().any(|f| f == DISCOVERABLE));
        if !listed {
            return Ok(None);
        }
        let now = self.now();
        let mut usable: Vec<_> = self
            .store()
            .list_guild_invites(guild_id)
            .await?
            .into_iter()
            .filter(|i| i.pack_id.is_none() && i.guild_id == Some(guild_id))
            .filter(|i| i.max_age == 0 && i.max_uses == 0 && !i.temporary)
            .filter(|i| !i.is_expired(now) && !i.is_used_up())
            .collect();
        // The vanity code first, then the oldest.
        usable.sort_by_key(|i| (!i.vanity, i.created_at, i.code.clone()));
        Ok(usable.into_iter().next().map(|i| i.code))
    }

    fn search_index(&self) -> Result<&dyn SearchIndex> {
        self.ports()
            .search
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "SEARCH_UNAVAILABLE",
                message: "Search is not enabled on this instance.".to_owned(),
            })
    }

    /// Queues reindexing of a guild's discovery entry (added, updated or removed).
    pub(crate) async fn index_guild_later(&self, guild: GuildId) {
        if self.ports().search.is_some() {
            let _ = self.enqueue(Task::IndexGuilds { ids: vec![guild] }).await;
        }
    }

    /// Queues reindexing of a user's names.
    pub(crate) async fn index_user_later(&self, user: UserId) {
        if self.ports().search.is_some() {
            let _ = self.enqueue(Task::IndexUsers { ids: vec![user] }).await;
        }
    }

    /// Indexes discoverable guilds as they are now and removes the others (the job, and `reindex`).
    pub async fn index_guilds_now(&self, ids: &[GuildId]) -> Result<()> {
        let Some(search) = self.ports().search.as_deref() else {
            return Ok(());
        };
        let (mut docs, mut gone) = (Vec::new(), Vec::new());
        for id in ids {
            match self.store().get_guild(*id).await? {
                Some(g) if g.features.iter().any(|f| f == DISCOVERABLE) => {
                    let listing = self.store().get_discovery_application(g.id).await?;
                    docs.push(GuildDocument {
                        id: g.id,
                        member_count: self.store().count_members(g.id).await?,
                        name: g.name,
                        description: listing.map(|a| a.description).or(g.description),
                    })
                }
                _ => gone.push(*id),
            }
        }
        search.index_guilds(&docs).await?;
        search.delete_guilds(&gone).await?;
        Ok(())
    }

    /// Indexes users' names as they are now; deleted accounts leave the index (the job, and `reindex`).
    pub async fn index_users_now(&self, ids: &[UserId]) -> Result<()> {
        let Some(search) = self.ports().search.as_deref() else {
            return Ok(());
        };
        let (mut docs, mut gone) = (Vec::new(), Vec::new());
        for id in ids {
            match self.store().get_user(*id).await? {
                Some(u) if u.deleted_at.is_none() => docs.push(UserDocument {
                    id: u.id,
                    username: u.username,
                    global_name: u.global_name,
                }),
                _ => gone.push(*id),
            }
        }
        search.index_users(&docs).await?;
        search.delete_users(&gone).await?;
        Ok(())
    }

    /// Discoverable guilds matching `query` (every word, in name or description), most members
    /// first; only those in `category` when given (`GET /discovery/guilds`).
    pub async fn discover_guilds(
        &self,
        query: &str,
        category: Option<i64>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DiscoveredGuild>, u64)> {
        self.require_discovery_enabled()?;
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, MAX_DISCOVERY_LIMIT as i64);
        v.range("offset", offset as i64, 0, 10_000);
        v.length("query", query, 0, 100);
        if let Some(c) = category {
            v.range("category", c, 0, DISCOVERY_CATEGORIES.len() as i64 - 1);
        }
        v.finish()?;
        let search = self.search_index()?;
        let Some(category) = category else {
            let (ids, total) = search.search_guilds(query, offset, limit).await?;
            let found = self.discovered(&ids, None).await?;
            return Ok((found, total));
        };
        // The index does not hold categories: walk its ranking in windows and keep this
        // category's guilds, as far as `CATEGORY_SCAN` entries.
        const WINDOW: usize = 200;
        const CATEGORY_SCAN: usize = 2_000;
        let (mut matched, mut page) = (0usize, Vec::new());
        let mut from = 0;
        while from < CATEGORY_SCAN {
            let (ids, total) = search.search_guilds(query, from, WINDOW).await?;
            for g in self.discovered(&ids, Some(category as u8)).await? {
                if matched >= offset && page.len() < limit {
                    page.push(g);
                }
                matched += 1;
            }
            from += WINDOW;
            if ids.len() < WINDOW || from as u64 >= total {
                break;
            }
        }
        Ok((page, matched as u64))
    }

    /// The listed guilds among `ids`, in that order, with their listing; only `category`'s when given.
    async fn discovered(
        &self,
        ids: &[GuildId],
        category: Option<u8>,
    ) -> Result<Vec<DiscoveredGuild>> {
        let mut out = Vec::with_capacity(ids.len());
        for g in self.store().get_guilds(ids).await? {
            if !g.features.iter().any(|f| f == DISCOVERABLE) {
                continue;
            }
            let listing = self.store().get_discovery_application(g.id).await?;
            let category_type = listing
                .as_ref()
                .map_or(DISCOVERY_OTHER, |a| a.category_type);
            if category.is_some_and(|c| c != category_type) {
                continue;
            }
            out.push(DiscoveredGuild {
                member_count: self.store().count_members(g.id).await?,
                online_count: self.guild_online_count(g.id).await?,
                category_type,
                description: listing.map(|a| a.description).or(g.description),
                features: g.features,
                verification_level: g.verification_level,
                id: g.id,
                name: g.name,
                icon: g.icon,
                banner: g.banner,
            });
        }
        // The store returns guilds in its own order: keep the index's ranking.
        out.sort_by_key(|g| ids.iter().position(|id| *id == g.id));
        Ok(out)
    }

    fn require_discovery_enabled(&self) -> Result<()> {
        if self.config().discovery.enabled {
            Ok(())
        } else {
            Err(Error::rejected(
                "DISCOVERY_DISABLED",
                "Discovery is not enabled on this instance.",
            ))
        }
    }

    /// Checks that the caller may manage the guild's listing (MANAGE_GUILD).
    async fn require_listing_manager(&self, actor: &Actor, guild_id: GuildId) -> Result<()> {
        self.guild_access(actor.id(), guild_id)
            .await?
            .require(Permissions::MANAGE_GUILD)
    }

    async fn discovery_eligible(&self, guild_id: GuildId) -> Result<bool> {
        let members = self.store().count_members(guild_id).await?;
        Ok(members >= self.config().discovery.min_member_count)
    }

    /// `GET /guilds/{id}/discovery`: the guild's application and whether it may apply (MANAGE_GUILD).
    pub async fn discovery_state(
        &self,
        actor: &Actor,
        guild_id: GuildId,
    ) -> Result<DiscoveryState> {
        self.require_listing_manager(actor, guild_id).await?;
        let application = self.store().get_discovery_application(guild_id).await?;
        let settings = &self.config().discovery;
        Ok(DiscoveryState {
            application: application.as_ref().map(DiscoveryApplicationResponse::from),
            eligible: settings.enabled && self.discovery_eligible(guild_id).await?,
            min_member_count: settings.min_member_count,
        })
    }

    /// `POST /guilds/{id}/discovery`: applies for a listing (MANAGE_GUILD). A pending or listed
    /// guild gets `DISCOVERY_ALREADY_APPLIED` (409); a rejected or removed one may apply again.
    pub async fn apply_for_discovery(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: DiscoveryApply,
    ) -> Result<DiscoveryApplicationResponse> {
        self.require_discovery_enabled()?;
        self.require_listing_manager(actor, guild_id).await?;
        let mut v = Validator::new();
        validate_listing(&mut v, Some(&req.description), Some(req.category_type));
        v.finish()?;
        if !self.discovery_eligible(guild_id).await? {
            return Err(Error::rejected(
                "DISCOVERY_INSUFFICIENT_MEMBERS",
                format!(
                    "A guild needs at least {} members to apply for discovery.",
                    self.config().discovery.min_member_count
                ),
            ));
        }
        let existing = self.store().get_discovery_application(guild_id).await?;
        if existing.is_some_and(|a| {
            matches!(
                a.status,
                DiscoveryStatus::Pending | DiscoveryStatus::Approved
            )
        }) {
            return Err(Error::Conflict {
                code: "DISCOVERY_ALREADY_APPLIED",
                message: "This guild has already applied for discovery.".to_owned(),
            });
        }
        let application = DiscoveryApplication {
            guild_id,
            status: DiscoveryStatus::Pending,
            description: req.description.trim().to_owned(),
            category_type: req.category_type as u8,
            applied_by: actor.id(),
            applied_at: self.now(),
            reviewed_at: None,
            reviewed_by: None,
            review_reason: None,
            removed_at: None,
            removed_by: None,
            removal_reason: None,
        };
        self.store().put_discovery_application(&application).await?;
        Ok(DiscoveryApplicationResponse::from(&application))
    }

    /// `PATCH /guilds/{id}/discovery`: edits a pending or listed application's description or
    /// category (MANAGE_GUILD); a listed guild is reindexed.
    pub async fn edit_discovery_application(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: DiscoveryEdit,
    ) -> Result<DiscoveryApplicationResponse> {
        self.require_discovery_enabled()?;
        self.require_listing_manager(actor, guild_id).await?;
        let mut v = Validator::new();
        validate_listing(&mut v, req.description.as_deref(), req.category_type);
        v.finish()?;
        let mut application = self.discovery_application(guild_id).await?;
        if !matches!(
            application.status,
            DiscoveryStatus::Pending | DiscoveryStatus::Approved
        ) {
            return Err(already_reviewed());
        }
        if let Some(d) = req.description {
            application.description = d.trim().to_owned();
        }
        if let Some(c) = req.category_type {
            application.category_type = c as u8;
        }
        self.store().put_discovery_application(&application).await?;
        if application.status == DiscoveryStatus::Approved {
            self.index_guild_later(guild_id).await;
        }
        Ok(DiscoveryApplicationResponse::from(&application))
    }

    /// `DELETE /guilds/{id}/discovery`: withdraws the application, taking a listed guild out of
    /// discovery (MANAGE_GUILD).
    pub async fn withdraw_discovery_application(
        &self,
        actor: &Actor,
        guild_id: GuildId,
    ) -> Result<()> {
        self.require_discovery_enabled()?;
        self.require_listing_manager(actor, guild_id).await?;
        let application = self.discovery_application(guild_id).await?;
        self.store().delete_discovery_application(guild_id).await?;
        if application.status == DiscoveryStatus::Approved {
            self.set_discoverable(guild_id, false).await?;
        }
        Ok(())
    }

    /// Staff (`discovery:review`): applications with `status`, by guild ID after `after`
    /// (`GET /admin/discovery/applications`).
    pub async fn list_discovery_applications(
        &self,
        who: &AdminPrincipal,
        status: DiscoveryStatus,
        after: Option<GuildId>,
        limit: u32,
    ) -> Result<Vec<DiscoveryApplication>> {
        who.require(acl::DISCOVERY_REVIEW)?;
        let mut v = Validator::new();
        v.range(
            "limit",
            i64::from(limit),
            1,
            i64::from(MAX_DISCOVERY_REVIEW_LIMIT),
        );
        v.finish()?;
        Ok(self
            .store()
            .list_discovery_applications(status, after, limit)
            .await?)
    }

    /// Staff (`discovery:review`): approves a pending application, listing the guild (the
    /// `DISCOVERABLE` feature, `GUILD_UPDATE`, reindexed). Logged in the admin audit log.
    pub async fn approve_discovery(
        &self,
        who: &AdminPrincipal,
        guild_id: GuildId,
        reason: Option<String>,
    ) -> Result<DiscoveryApplication> {
        who.require(acl::DISCOVERY_REVIEW)?;
        let mut v = Validator::new();
        if let Some(r) = &reason {
            v.length("reason", r, 0, 500);
        }
        v.finish()?;
        let mut application = self.discovery_application(guild_id).await?;
        if application.status != DiscoveryStatus::Pending {
            return Err(already_reviewed());
        }
        application.status = DiscoveryStatus::Approved;
        application.reviewed_at = Some(self.now());
        application.reviewed_by = Some(who.id());
        application.review_reason = reason.clone();
        self.store().put_discovery_application(&application).await?;
        self.set_discoverable(guild_id, true).await?;
        let entry = AdminAction::new("discovery.approve", "guild", guild_id)
            .change("status", "pending", "approved")
            .with("review_reason", reason.unwrap_or_default());
        self.record_admin_action(who, entry).await?;
        Ok(application)
    }

    /// Staff (`discovery:review`): rejects a pending application, with a reason the guild sees.
    pub async fn reject_discovery(
        &self,
        who: &AdminPrincipal,
        guild_id: GuildId,
        reason: String,
    ) -> Result<DiscoveryApplication> {
        who.require(acl::DISCOVERY_REVIEW)?;
        let mut v = Validator::new();
        v.length("reason", &reason, 1, 500);
        v.finish()?;
        let mut application = self.discovery_application(guild_id).await?;
        if application.status != DiscoveryStatus::Pending {
            return Err(already_reviewed());
        }
        application.status = DiscoveryStatus::Rejected;
        application.reviewed_at = Some(self.now());
        application.reviewed_by = Some(who.id());
        application.review_reason = Some(reason.clone());
        self.store().put_discovery_application(&application).await?;
        let entry = AdminAction::new("discovery.reject", "guild", guild_id)
            .change("status", "pending", "rejected")
            .with("review_reason", reason);
        self.record_admin_action(who, entry).await?;
        Ok(application)
    }

    /// Staff (`discovery:remove`): takes a listed guild out of discovery, with a reason the
    /// guild sees.
    pub async fn remove_from_discovery(
        &self,
        who: &AdminPrincipal,
        guild_id: GuildId,
        reason: String,
    ) -> Result<DiscoveryApplication> {
        who.require(acl::DISCOVERY_REMOVE)?;
        let mut v = Validator::new();
        v.length("reason", &reason, 1, 500);
        v.finish()?;
        let mut application = self.discovery_application(guild_id).await?;
        if application.status != DiscoveryStatus::Approved {
            return Err(Error::rejected(
                "DISCOVERY_NOT_DISCOVERABLE",
                "This guild is not in discovery.",
            ));
        }
        application.status = DiscoveryStatus::Removed;
        application.removed_at = Some(self.now());
        application.removed_by = Some(who.id());
        application.removal_reason = Some(reason.clone());
        self.store().put_discovery_application(&application).await?;
        self.set_discoverable(guild_id, false).await?;
        let entry = AdminAction::new("discovery.remove", "guild", guild_id)
            .change("status", "approved", "removed")
            .with("removal_reason", reason);
        self.record_admin_action(who, entry).await?;
        Ok(application)
    }

    async fn discovery_application(&self, guild_id: GuildId) -> Result<DiscoveryApplication> {
        self.store()
            .get_discovery_application(guild_id)
            .await?
            .ok_or(Error::Unknown(Unknown::DiscoveryApplication))
    }

    /// Turns the guild's `DISCOVERABLE` feature on or off (a staff decision, not a member's edit):
    /// stored, `GUILD_UPDATE` dispatched, the index entry added or removed.
    async fn set_discoverable(&self, guild_id: GuildId, on: bool) -> Result<()> {
        let Some(mut guild) = self.store().get_guild(guild_id).await? else {
            return Err(Error::Unknown(Unknown::Guild));
        };
        let listed = guild.features.iter().any(|f| f == DISCOVERABLE);
        if listed == on {
            self.index_guild_later(guild_id).await;
            return Ok(());
        }
        guild.features.retain(|f| f != DISCOVERABLE);
        if on {
            guild.features.push(DISCOVERABLE.to_owned());
        }
        self.store().update_guild(&guild).await?;
        self.emit_guild_update(&guild).await;
        Ok(())
    }

    /// Members of a guild whose username or global name has a word starting with `query`
    /// (`GET /guilds/{id}/members/search`).
    pub async fn search_members(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemberResponse>> {
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, 1000);
        v.length("query", query, 1, 100);
        v.finish()?;
        self.guild_access(actor.id(), guild_id).await?;
        // Name matches across the instance, narrowed to this guild's members.
        let candidates = self.search_index()?.search_users(query, 1000).await?;
        let members = self.store().get_members(guild_id, &candidates).await?;
        let mut found = self.member_responses(members).await?;
        found.truncate(limit);
        Ok(found)
    }
}

fn validate_listing(v: &mut Validator, description: Option<&str>, category: Option<i64>) {
    if let Some(d) = description {
        v.length(
            "description",
            d.trim(),
            DISCOVERY_DESCRIPTION_MIN,
            DISCOVERY_DESCRIPTION_MAX,
        );
    }
    if let Some(c) = category {
        v.range("category_type", c, 0, DISCOVERY_CATEGORIES.len() as i64 - 1);
    }
}

fn already_reviewed() -> Error {
    Error::Conflict {
        code: "DISCOVERY_APPLICATION_ALREADY_REVIEWED",
        message: "This discovery application has already been reviewed.".to_owned(),
    }
}
