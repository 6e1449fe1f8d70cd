use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::time::Timestamp;

/// What a message contains, for `has:` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Has {
    Link,
    File,
    Image,
    Video,
    Embed,
}

/// A message as the search index sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDocument {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub guild_id: Option<GuildId>,
    pub author_id: UserId,
    pub content: String,
    pub timestamp: Timestamp,
    pub has: Vec<Has>,
    pub mentions: Vec<UserId>,
    pub pinned: bool,
}

/// A message search. `channel_ids` is the set the caller may read: results come only from these (none
/// when empty). `content` matches whole words case-insensitively, every word required; `None` matches
/// everything. `author_ids` match any of them; `mentions` and `has` require all of theirs; `min_id` and
/// `max_id` are exclusive bounds. Results are ordered by message ID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageSearch {
    pub content: Option<String>,
    pub channel_ids: Vec<ChannelId>,
    pub author_ids: Vec<UserId>,
    pub mentions: Vec<UserId>,
    pub has: Vec<Has>,
    pub min_id: Option<MessageId>,
    pub max_id: Option<MessageId>,
    pub pinned: Option<bool>,
    /// Oldest first when true; newest first otherwise.
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// Search results: a page of IDs and the total number of matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHits {
    pub hits: Vec<(ChannelId, MessageId)>,
    /// All matches, whatever the page.
    pub total: u64,
}

/// A guild listed in discovery (only discoverable guilds are indexed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildDocument {
    pub id: GuildId,
    pub name: String,
    pub description: Option<String>,
    pub member_count: u64,
}

/// A user as the index sees it: names for mention and DM autocomplete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDocument {
    pub id: UserId,
    pub username: String,
    pub global_name: Option<String>,
}

/// Full-text search over messages, discoverable guilds and user names. Every write becomes visible at
/// the next [`commit`](Self::commit) (or sooner).
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Adds or replaces documents (by message ID).
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()>;
    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()>;
    /// Makes everything indexed or deleted so far visible to searches.
    async fn commit(&self) -> PortResult<()>;
    async fn search_messages(&self, query: &MessageSearch) -> PortResult<SearchHits>;

    /// Adds or replaces guilds (by ID).
    async fn index_guilds(&self, docs: &[GuildDocument]) -> PortResult<()>;
    async fn delete_guilds(&self, ids: &[GuildId]) -> PortResult<()>;
    /// Guilds whose name or description has every word of `query` (whole words, any case; an empty
    /// query matches all), most members first then lowest ID: a page of IDs and the total.
    async fn search_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<GuildId>, u64)>;

    /// Adds or replaces users (by ID).
    async fn index_users(&self, docs: &[UserDocument]) -> PortResult<()>;
    async fn delete_users(&self, ids: &[UserId]) -> PortResult<()>;
    /// Users with a word of their username or global name starting with `prefix` (any case), lowest
    /// ID first, at most `limit`.
    async fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>>;
}
