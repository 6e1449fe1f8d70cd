//! Guild discovery and member search on the search index.
//!
//! A guild is listed once its owner (or a MANAGE_GUILD member) turns on `discoverable` (the
//! `DISCOVERABLE` feature); its name, description and member count are reindexed through the queue
//! when they change. User names are indexed for mention and DM autocomplete; member search narrows
//! name matches to a guild's members.

use serde::Serialize;

use super::{Actor, Fluxer, jobs::Task};
use crate::error::{Error, Result};
use crate::id::{GuildId, UserId};
use crate::model::MemberResponse;
use crate::ports::{GuildDocument, SearchIndex, UserDocument};
use crate::validation::Validator;

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
}

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
                    docs.push(GuildDocument {
                        id: g.id,
                        member_count: self.store().count_members(g.id).await?,
                        name: g.name,
                        description: g.description,
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

    /// Discoverable guilds matching `query` (every word, in name or description), most members first.
    pub async fn discover_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DiscoveredGuild>, u64)> {
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, MAX_DISCOVERY_LIMIT as i64);
        v.range("offset", offset as i64, 0, 10_000);
        v.length("query", query, 0, 100);
        v.finish()?;
        let (ids, total) = self
            .search_index()?
            .search_guilds(query, offset, limit)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for g in self.store().get_guilds(&ids).await? {
            if g.features.iter().any(|f| f == DISCOVERABLE) {
                out.push(DiscoveredGuild {
                    member_count: self.store().count_members(g.id).await?,
                    id: g.id,
                    name: g.name,
                    description: g.description,
                    icon: g.icon,
                    banner: g.banner,
                });
            }
        }
        // The store returns guilds in its own order: keep the index's ranking.
        out.sort_by_key(|g| ids.iter().position(|id| *id == g.id));
        Ok((out, total))
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
