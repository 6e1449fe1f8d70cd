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

/// Full-text search over messages.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Adds or replaces documents (by message ID).
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()>;
    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()>;
    /// Makes everything indexed or deleted so far visible to searches.
    async fn commit(&self) -> PortResult<()>;
    async fn search_messages(&self, query: &MessageSearch) -> PortResult<SearchHits>;
}
