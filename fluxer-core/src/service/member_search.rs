//! The member directory moderators page through (`POST /guilds/{id}/members-search`).

use serde::{Deserialize, Serialize};

use super::{Actor, Fluxer};
use crate::error::Result;
use crate::id::{GuildId, RoleId, UserId};
use crate::permission::Permissions;
use crate::validation::Validator;

/// `POST /guilds/{id}/members-search`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberSearch {
    /// Part of a username, display name or nickname (case-insensitive), or a user ID; up to 100
    /// characters.
    pub query: Option<String>,
    /// 1 to 100 (25).
    pub limit: Option<i64>,
    /// Results to skip (0).
    pub offset: Option<i64>,
    /// Members holding every one of these roles (at most 10).
    pub role_ids: Option<Vec<RoleId>>,
    /// Bots only (`true`) or people only (`false`).
    pub is_bot: Option<bool>,
    /// Joined at or after this time (Unix seconds).
    pub joined_at_gte: Option<i64>,
    /// Joined at or before this time (Unix seconds).
    pub joined_at_lte: Option<i64>,
    /// `joinedAt` (default) or `relevance`.
    pub sort_by: Option<String>,
    /// `asc` or `desc` (default).
    pub sort_order: Option<String>,
}

/// The page `members-search` answers.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSearchPage {
    /// The guild searched.
    pub guild_id: GuildId,
    /// This page of results.
    pub members: Vec<MemberSearchHit>,
    /// How many are on this page.
    pub page_result_count: usize,
    /// How many matched in all.
    pub total_result_count: usize,
    /// Whether the directory is still being built (never: it is read live).
    pub indexing: bool,
}

/// One member found.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSearchHit {
    /// `{guild_id}:{user_id}`.
    pub id: String,
    /// The guild.
    pub guild_id: GuildId,
    /// The member.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// Four-digit discriminator.
    pub discriminator: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Guild nickname.
    pub nickname: Option<String>,
    /// Roles, @everyone excluded.
    pub role_ids: Vec<RoleId>,
    /// When they joined, in Unix seconds.
    pub joined_at: i64,
    /// How they joined: not recorded (`join_source_type` 0, no invite).
    pub supplemental: serde_json::Value,
    /// A bot account.
    pub is_bot: bool,
}

impl Fluxer {
    /// Searches a guild's members for the moderators' directory; needs `MANAGE_GUILD`.
    pub async fn member_directory(
        &self,
        actor: &Actor,
        guild_id: GuildId,
        req: MemberSearch,
    ) -> Result<MemberSearchPage> {
        let limit = req.limit.unwrap_or(25);
        let offset = req.offset.unwrap_or(0);
        let mut v = Validator::new();
        v.range("limit", limit, 1, 100);
        v.range("offset", offset, 0, i64::from(u32::MAX));
        v.opt_length("query", req.query.as_deref(), 0, 100);
        if let Some(roles) = &req.role_ids {
            v.count("role_ids", roles.len(), 10);
        }
        let sort_by = req.sort_by.as_deref().unwrap_or("joinedAt");
        v.check(
            matches!(sort_by, "joinedAt" | "relevance"),
            "sort_by",
            "BASE_TYPE_CHOICES",
            "Sort by joinedAt or relevance.",
        );
        let ascending = match req.sort_order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => {
                v.check(false, "sort_order", "BASE_TYPE_CHOICES", "asc or desc.");
                false
            }
        };
        v.finish()?;
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;

        let query = req
            .query
            .as_deref()
            .map(str::to_lowercase)
            .unwrap_or_default();
        let mut hits = Vec::new();
        let mut after = None;
        loop {
            let page = self.store().list_members(guild_id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.user_id);
            let ids: Vec<UserId> = page.iter().map(|m| m.user_id).collect();
            let users = self.user_partials(&ids).await?;
            for m in &page {
                let Some(u) = users.get(&m.user_id) else {
                    continue;
                };
                let is_bot = u.bot == Some(true);
                let joined = m.joined_at.unix_ms() / 1000;
                let matches_query = query.is_empty()
                    || m.user_id.to_string() == query
                    || u.username.to_lowercase().contains(&query)
                    || u.global_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&query))
                    || m.nick
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&query));
                let keep = matches_query
                    && req.is_bot.is_none_or(|b| b == is_bot)
                    && req.joined_at_gte.is_none_or(|t| joined >= t)
                    && req.joined_at_lte.is_none_or(|t| joined <= t)
                    && req
                        .role_ids
                        .as_ref()
                        .is_none_or(|roles| roles.iter().all(|r| m.roles.contains(r)));
                if keep {
                    hits.push(MemberSearchHit {
                        id: format!("{guild_id}:{}", m.user_id),
                        guild_id,
                        user_id: m.user_id,
                        username: u.username.clone(),
                        discriminator: u.discriminator.clone(),
                        global_name: u.global_name.clone(),
                        nickname: m.nick.clone(),
                        role_ids: m.roles.clone(),
                        joined_at: joined,
                        supplemental: serde_json::json!({
                            "join_source_type": 0,
                            "source_invite_code": null,
                            "inviter_id": null,
                        }),
                        is_bot,
                    });
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        hits.sort_by_key(|h| (h.joined_at, h.user_id));
        if !ascending {
            hits.reverse();
        }
        let total = hits.len();
        let members: Vec<MemberSearchHit> = hits
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Ok(MemberSearchPage {
            guild_id,
            page_result_count: members.len(),
            total_result_count: total,
            members,
            indexing: false,
        })
    }
}
