//! Message search: the caller's query, narrowed to the channels the caller can read, run on the
//! [`SearchIndex`](crate::ports::SearchIndex) port, and the hits read back from the store (so a result
//! is always the message as it is now; hits whose message is gone are dropped from the page).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::model::{Channel, MessageResponse};
use crate::permission::Permissions;
use crate::ports::{Has, MessageSearch};
use crate::validation::Validator;

/// Newest or oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Newest first (the default; `desc` on the wire).
    #[default]
    Desc,
    /// Oldest first (`asc`).
    Asc,
}

/// A message search as the API takes it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Words that must all appear (whole words, any case).
    pub content: Option<String>,
    /// Search this guild's channels (all the caller can read)...
    pub guild_id: Option<GuildId>,
    /// ...or only these channels. With neither, every guild channel and DM the caller can read.
    pub channel_ids: Vec<ChannelId>,
    /// Messages by any of these authors (at most 100); empty for any author.
    pub author_ids: Vec<UserId>,
    /// Messages that mention every one of these users (at most 100).
    pub mentions: Vec<UserId>,
    /// Messages that have every one of these (link, file, image, video, embed).
    pub has: Vec<Has>,
    /// Only pinned (`true`) or only unpinned (`false`) messages; `None` for both.
    pub pinned: Option<bool>,
    /// Only messages after this ID.
    pub min_id: Option<MessageId>,
    /// Only messages before this ID.
    pub max_id: Option<MessageId>,
    /// Order of the results, by message ID.
    pub sort_order: SortOrder,
    /// Matches to skip, 0 to 5000.
    pub offset: usize,
    /// Results per page, 1 to 100.
    pub limit: usize,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The page's messages as they are now; hits whose message is gone are left out, so a page may
    /// be short.
    pub messages: Vec<MessageResponse>,
    /// Matches in all, whatever the page.
    pub total: u64,
}

/// Results per page at most, and how deep paging may go.
pub(super) const MAX_SEARCH_LIMIT: usize = 100;
pub(super) const MAX_SEARCH_OFFSET: usize = 5_000;
const READ: Permissions = Permissions::VIEW_CHANNEL.union(Permissions::READ_MESSAGE_HISTORY);

impl Fluxer {
    /// Searches the messages the caller can read.
    pub async fn search_messages(&self, actor: &Actor, req: SearchRequest) -> Result<SearchPage> {
        let mut v = Validator::new();
        v.range("limit", req.limit as i64, 1, MAX_SEARCH_LIMIT as i64);
        v.range("offset", req.offset as i64, 0, MAX_SEARCH_OFFSET as i64);
        v.count("channel_ids", req.channel_ids.len(), 500);
        v.count("author_ids", req.author_ids.len(), 100);
        v.count("mentions", req.mentions.len(), 100);
        if let Some(c) = &req.content {
            v.length("content", c, 0, 1024);
        }
        v.finish()?;
        let Some(search) = self.ports().search.clone() else {
            return Err(Error::Unavailable {
                code: "SEARCH_UNAVAILABLE",
                message: "Search is not enabled on this instance.".to_owned(),
            });
        };
        let readable = self.readable_channels(actor, &req).await?;
        let query = MessageSearch {
            content: req.content.filter(|c| !c.trim().is_empty()),
            channel_ids: readable.keys().copied().collect(),
            author_ids: req.author_ids,
            mentions: req.mentions,
            has: req.has,
            min_id: req.min_id,
            max_id: req.max_id,
            pinned: req.pinned,
            ascending: req.sort_order == SortOrder::Asc,
            offset: req.offset,
            limit: req.limit,
        };
        let hits = search.search_messages(&query).await?;
        let mut messages = Vec::with_capacity(hits.hits.len());
        for (channel_id, message_id) in hits.hits {
            if !readable.contains_key(&channel_id) {
                continue;
            }
            if let Some(m) = self.store().get_message(channel_id, message_id).await? {
                messages.extend(self.message_responses(actor.id(), vec![m]).await?);
            }
        }
        Ok(SearchPage {
            messages,
            total: hits.total,
        })
    }

    /// The channels in the request's scope where the caller has VIEW_CHANNEL and READ_MESSAGE_HISTORY.
    async fn readable_channels(
        &self,
        actor: &Actor,
        req: &SearchRequest,
    ) -> Result<BTreeMap<ChannelId, Channel>> {
        let mut readable = BTreeMap::new();
        let wanted: HashSet<ChannelId> = req.channel_ids.iter().copied().collect();
        if !wanted.is_empty() && req.guild_id.is_none() {
            for id in &wanted {
                let access = self.channel_access(actor.id(), *id).await?;
                if access.permissions.contains(READ) {
                    readable.insert(*id, access.channel);
                }
            }
            return Ok(readable);
        }
        let guilds = match req.guild_id {
            Some(g) => vec![g],
            None => self.store().list_user_guild_ids(actor.id()).await?,
        };
        for guild_id in guilds {
            let access = self.guild_access(actor.id(), guild_id).await?;
            for channel in self.store().list_guild_channels(guild_id).await? {
                if !channel.kind.is_text() || (!wanted.is_empty() && !wanted.contains(&channel.id))
                {
                    continue;
                }
                if access.channel_permissions(&channel).contains(READ) {
                    readable.insert(channel.id, channel);
                }
            }
        }
        if req.guild_id.is_none() {
            for channel in self.store().list_private_channels(actor.id()).await? {
                readable.insert(channel.id, channel);
            }
        }
        Ok(readable)
    }
}
