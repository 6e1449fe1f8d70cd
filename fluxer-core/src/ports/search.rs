use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::time::Timestamp;

/// What a message contains, for `has:` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Has {
    /// The content has an `http://` or `https://` link.
    Link,
    /// The message has at least one attachment.
    File,
    /// An attachment is an image (`image/*`).
    Image,
    /// An attachment is a video (`video/*`).
    Video,
    /// The message has at least one embed.
    Embed,
}

/// A message as the search index sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDocument {
    /// The message; documents are keyed by it.
    pub id: MessageId,
    /// The channel the message is in: searches return only readable ones.
    pub channel_id: ChannelId,
    /// The guild of the channel; `None` in private channels.
    pub guild_id: Option<GuildId>,
    /// Who sent it, for `author_ids`.
    pub author_id: UserId,
    /// The text matched word by word.
    pub content: String,
    /// When it was sent (the ID's timestamp).
    pub timestamp: Timestamp,
    /// What it contains, for `has`.
    pub has: Vec<Has>,
    /// The users it mentions, for `mentions`.
    pub mentions: Vec<UserId>,
    /// Whether it is pinned, for `pinned`.
    pub pinned: bool,
}

/// A message search. `channel_ids` is the set the caller may read: results come only from these (none
/// when empty). `content` matches whole words case-insensitively, every word required; `None` matches
/// everything. `author_ids` match any of them; `mentions` and `has` require all of theirs; `min_id` and
/// `max_id` are exclusive bounds. Results are ordered by message ID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageSearch {
    /// Words that must all appear in the content; `None` (or no words) matches every message.
    pub content: Option<String>,
    /// The channels to search: the ones the caller may read. Empty finds nothing.
    pub channel_ids: Vec<ChannelId>,
    /// Messages by any of these authors; empty for any author.
    pub author_ids: Vec<UserId>,
    /// Messages that mention every one of these users.
    pub mentions: Vec<UserId>,
    /// Messages that have every one of these.
    pub has: Vec<Has>,
    /// Only messages with an ID above this one (exclusive).
    pub min_id: Option<MessageId>,
    /// Only messages with an ID below this one (exclusive).
    pub max_id: Option<MessageId>,
    /// Only pinned (`true`) or only unpinned (`false`) messages; `None` for both.
    pub pinned: Option<bool>,
    /// Oldest first when true; newest first otherwise.
    pub ascending: bool,
    /// How many matches to skip, in result order.
    pub offset: usize,
    /// The most hits to return.
    pub limit: usize,
}

/// Search results: a page of IDs and the total number of matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHits {
    /// The page: each match's channel and message ID, in the requested order.
    pub hits: Vec<(ChannelId, MessageId)>,
    /// All matches, whatever the page.
    pub total: u64,
}

/// A guild listed in discovery (only discoverable guilds are indexed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildDocument {
    /// The guild; documents are keyed by it.
    pub id: GuildId,
    /// Matched word by word.
    pub name: String,
    /// Matched word by word, like the name.
    pub description: Option<String>,
    /// Ranks results: most members first.
    pub member_count: u64,
}

/// A user as the index sees it: names for mention and DM autocomplete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDocument {
    /// The user; documents are keyed by it.
    pub id: UserId,
    /// Matched by word prefix.
    pub username: String,
    /// The display name, matched by word prefix like the username.
    pub global_name: Option<String>,
}

/// Full-text search over messages, discoverable guilds and user names. Every write becomes visible at
/// the next [`commit`](Self::commit) (or sooner).
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Adds or replaces documents (by message ID).
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()>;
    /// Removes documents by message ID; unknown IDs (and an empty list) are no error.
    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()>;
    /// Makes everything indexed or deleted so far visible to searches.
    async fn commit(&self) -> PortResult<()>;
    /// The page of matches `query` asks for (see [`MessageSearch`]), with the total number of
    /// matches; it sees at least every write committed before it.
    async fn search_messages(&self, query: &MessageSearch) -> PortResult<SearchHits>;

    /// Adds or replaces guilds (by ID).
    async fn index_guilds(&self, docs: &[GuildDocument]) -> PortResult<()>;
    /// Removes guilds by ID (one no longer discoverable, or deleted); unknown IDs are no error.
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
    /// Removes users by ID; unknown IDs are no error.
    async fn delete_users(&self, ids: &[UserId]) -> PortResult<()>;
    /// Users with a word of their username or global name starting with `prefix` (any case), lowest
    /// ID first, at most `limit`.
    async fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>>;
}
