//! Staff refreshing the search index (`/admin/search/refresh-index`, `/refresh-status`, upstream's
//! paths and bodies): a refresh is a job with an ID whose progress is kept in the cache for a day.
//! [`admin_start_search_refresh`](Fluxer::admin_start_search_refresh) records the job; the host runs
//! [`admin_run_search_refresh`](Fluxer::admin_run_search_refresh) in the background, which walks the
//! store and hands the items to the indexing jobs the worker runs (it holds the index's writer).
//!
//! The indexes here are the guild (discovery), user and message ones; upstream's `reports`,
//! `audit_logs`, `guild_members` and `favorite_memes` are read from the store directly on this
//! instance, so there is nothing to refresh for them (`INVALID_FORM_BODY`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AdminAction, AdminPrincipal, Fluxer, Task};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::ports::{MessagePage, Scan};
use crate::time::Timestamp;
use crate::validation::Validator;

/// How long a job's status is kept.
const STATUS_TTL: Duration = Duration::from_secs(24 * 3600);
/// IDs per scan page and per indexing job.
const PAGE: usize = 500;
/// Messages per indexing job (the jobs take at most 256).
const MESSAGE_BATCH: u32 = 100;

/// Which index to refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchIndexKind {
    /// Guild names (the discovery directory).
    Guilds,
    /// User names.
    Users,
    /// Upstream's report index (not an index here).
    Reports,
    /// Upstream's admin audit log index (not an index here).
    AuditLogs,
    /// Messages: one guild's with `guild_id`, else every channel's.
    ChannelMessages,
    /// Upstream's member index (not an index here).
    GuildMembers,
    /// Upstream's saved-media index (not an index here).
    FavoriteMemes,
    /// The discovery directory (the guild index).
    Discovery,
}

impl SearchIndexKind {
    fn as_str(self) -> &'static str {
        match self {
            SearchIndexKind::Guilds => "guilds",
            SearchIndexKind::Users => "users",
            SearchIndexKind::Reports => "reports",
            SearchIndexKind::AuditLogs => "audit_logs",
            SearchIndexKind::ChannelMessages => "channel_messages",
            SearchIndexKind::GuildMembers => "guild_members",
            SearchIndexKind::FavoriteMemes => "favorite_memes",
            SearchIndexKind::Discovery => "discovery",
        }
    }
}

/// `POST /admin/search/refresh-index`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchRefresh {
    /// The index.
    pub index_type: SearchIndexKind,
    /// For `channel_messages`: only this guild's channels.
    pub guild_id: Option<GuildId>,
    /// Accepted as upstream does; not used by the indexes here.
    pub user_id: Option<UserId>,
}

/// A refresh job's state (`POST /admin/search/refresh-status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRefreshStatus {
    /// `in_progress`, `completed` or `failed`.
    pub status: String,
    /// The index.
    pub index_type: String,
    /// Items to index (known once counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Items indexed so far.
    pub indexed: u64,
    /// When it started.
    pub started_at: Timestamp,
    /// When it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// When it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Timestamp>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn status_key(job: &str) -> String {
    format!("admin:search-refresh:{job}")
}

impl Fluxer {
    fn require_search(&self) -> Result<()> {
        if self.ports().search.is_none() {
            return Err(Error::Unavailable {
                code: "SEARCH_UNAVAILABLE",
                message: "Search is not enabled on this instance.".to_owned(),
            });
        }
        Ok(())
    }

    /// Checks the request, records a new job as `in_progress` and the staff action; returns the
    /// job's ID. The host then runs [`admin_run_search_refresh`](Self::admin_run_search_refresh).
    pub async fn admin_start_search_refresh(
        &self,
        by: &AdminPrincipal,
        req: &SearchRefresh,
    ) -> Result<String> {
        let mut v = Validator::new();
        v.check(
            matches!(
                req.index_type,
                SearchIndexKind::Guilds
                    | SearchIndexKind::Users
                    | SearchIndexKind::ChannelMessages
                    | SearchIndexKind::Discovery
            ),
            "index_type",
            "BASE_TYPE_CHOICES",
            "This instance keeps no such search index: guilds, users, channel_messages or discovery.",
        );
        v.finish()?;
        self.require_search()?;
        if let Some(g) = req.guild_id {
            self.store()
                .get_guild(g)
                .await?
                .ok_or(Error::Unknown(Unknown::Guild))?;
        }
        let job = self.next_id::<crate::id::Snowflake>().0.to_string();
        let status = SearchRefreshStatus {
            status: "in_progress".to_owned(),
            index_type: req.index_type.as_str().to_owned(),
            total: None,
            indexed: 0,
            started_at: self.now(),
            completed_at: None,
            failed_at: None,
            error: None,
        };
        self.save_refresh_status(&job, &status).await?;
        let mut entry = AdminAction::new(
            "search.refresh_index",
            "search_index",
            req.index_type.as_str(),
        )
        .with("job_id", &job);
        if let Some(g) = req.guild_id {
            entry = entry.with("guild_id", g);
        }
        self.record_admin_action(by, entry).await?;
        Ok(job)
    }

    /// Runs a job [`admin_start_search_refresh`](Self::admin_start_search_refresh) recorded,
    /// keeping its status current; ends `completed` or `failed` (with the error's text).
    pub async fn admin_run_search_refresh(&self, job: &str, req: &SearchRefresh) {
        let Ok(Some(mut status)) = self.admin_search_refresh_status(job).await else {
            return;
        };
        match self.refresh_index(job, req, &mut status).await {
            Ok(()) => {
                status.status = "completed".to_owned();
                status.completed_at = Some(self.now());
            }
            Err(e) => {
                status.status = "failed".to_owned();
                status.failed_at = Some(self.now());
                status.error = Some(e.to_string());
            }
        }
        // Nothing to tell anyone if the cache is gone too: the status then reads `not_found`.
        let _ = self.save_refresh_status(job, &status).await;
    }

    /// A job's status; `None` for an unknown or expired job.
    pub async fn admin_search_refresh_status(
        &self,
        job: &str,
    ) -> Result<Option<SearchRefreshStatus>> {
        if job.is_empty() || job.len() > 32 {
            return Ok(None);
        }
        let raw = self.ports().cache.get(&status_key(job)).await?;
        Ok(raw.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    async fn save_refresh_status(&self, job: &str, status: &SearchRefreshStatus) -> Result<()> {
        let bytes = serde_json::to_vec(status).map_err(|e| Error::Internal(e.to_string()))?;
        self.ports()
            .cache
            .set(&status_key(job), &bytes, Some(STATUS_TTL))
            .await?;
        Ok(())
    }

    /// Walks the store and hands every item to the indexing jobs (the worker holds the index's
    /// writer, so this works from any API node); `indexed` counts the items handed over.
    async fn refresh_index(
        &self,
        job: &str,
        req: &SearchRefresh,
        status: &mut SearchRefreshStatus,
    ) -> Result<()> {
        self.require_search()?;
        match req.index_type {
            SearchIndexKind::Guilds | SearchIndexKind::Discovery => {
                let ids = self.admin_scan(Scan::Guilds).await?;
                status.total = Some(ids.len() as u64);
                for batch in ids.chunks(PAGE) {
                    let ids: Vec<GuildId> = batch.iter().copied().map(GuildId::new).collect();
                    status.indexed += ids.len() as u64;
                    self.enqueue(Task::IndexGuilds { ids }).await?;
                    self.save_refresh_status(job, status).await?;
                }
            }
            SearchIndexKind::Users => {
                let ids = self.admin_scan(Scan::Users).await?;
                status.total = Some(ids.len() as u64);
                for batch in ids.chunks(PAGE) {
                    let ids: Vec<UserId> = batch.iter().copied().map(UserId::new).collect();
                    status.indexed += ids.len() as u64;
                    self.enqueue(Task::IndexUsers { ids }).await?;
                    self.save_refresh_status(job, status).await?;
                }
            }
            SearchIndexKind::ChannelMessages => {
                let channels: Vec<ChannelId> = match req.guild_id {
                    Some(g) => self
                        .store()
                        .list_guild_channels(g)
                        .await?
                        .into_iter()
                        .filter(|c| c.kind.is_text())
                        .map(|c| c.id)
                        .collect(),
                    None => self
                        .admin_scan(Scan::Channels)
                        .await?
                        .into_iter()
                        .map(ChannelId::new)
                        .collect(),
                };
                for channel in channels {
                    let mut cursor = MessageId::new(0);
                    loop {
                        let page = self
                            .store()
                            .list_messages(channel, MessagePage::After(cursor), MESSAGE_BATCH)
                            .await?;
                        let Some(newest) = page.iter().map(|m| m.id).max() else {
                            break;
                        };
                        cursor = newest;
                        let messages: Vec<(ChannelId, MessageId)> =
                            page.iter().map(|m| (channel, m.id)).collect();
                        status.indexed += messages.len() as u64;
                        self.enqueue(Task::IndexMessages { messages }).await?;
                    }
                    self.save_refresh_status(job, status).await?;
                }
                status.total = Some(status.indexed);
            }
            _ => {}
        }
        Ok(())
    }

    async fn admin_scan(&self, what: Scan) -> Result<Vec<u64>> {
        let (mut all, mut after) = (Vec::new(), 0);
        loop {
            let page = self.store().scan_ids(what, after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(all);
            };
            after = *last;
            all.extend(page);
        }
    }
}
