//! Message search in memory by case-insensitive word match.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::id::{GuildId, MessageId, UserId};
use fluxer_core::ports::{
    GuildDocument, MessageDocument, MessageSearch, PortResult, SearchHits, SearchIndex,
    UserDocument,
};

use super::lock;

/// Documents by message ID (so results come out in ID order); every search scans them all.
#[derive(Default)]
pub struct MemorySearchIndex {
    docs: Mutex<BTreeMap<MessageId, MessageDocument>>,
    guilds: Mutex<BTreeMap<GuildId, GuildDocument>>,
    users: Mutex<BTreeMap<UserId, UserDocument>>,
}

impl MemorySearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Lower-cased alphanumeric words.
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn matches(q: &MessageSearch, terms: &[String], d: &MessageDocument) -> bool {
    q.channel_ids.contains(&d.channel_id)
        && (q.author_ids.is_empty() || q.author_ids.contains(&d.author_id))
        && q.mentions.iter().all(|m| d.mentions.contains(m))
        && q.has.iter().all(|h| d.has.contains(h))
        && q.min_id.is_none_or(|min| d.id > min)
        && q.max_id.is_none_or(|max| d.id < max)
        && q.pinned.is_none_or(|p| d.pinned == p)
        && (terms.is_empty() || {
            let doc_words: Vec<String> = words(&d.content).collect();
            terms.iter().all(|t| doc_words.contains(t))
        })
}

#[async_trait]
impl SearchIndex for MemorySearchIndex {
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()> {
        let mut map = lock(&self.docs);
        for d in docs {
            map.insert(d.id, d.clone());
        }
        Ok(())
    }

    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()> {
        let mut map = lock(&self.docs);
        for id in ids {
            map.remove(id);
        }
        Ok(())
    }

    async fn commit(&self) -> PortResult<()> {
        Ok(())
    }

    async fn search_messages(&self, q: &MessageSearch) -> PortResult<SearchHits> {
        let terms: Vec<String> = q
            .content
            .as_deref()
            .map(|c| words(c).collect())
            .unwrap_or_default();
        let map = lock(&self.docs);
        let mut hits: Vec<&MessageDocument> =
            map.values().filter(|d| matches(q, &terms, d)).collect();
        if !q.ascending {
            hits.reverse();
        }
        Ok(SearchHits {
            total: hits.len() as u64,
            hits: hits
                .into_iter()
                .skip(q.offset)
                .take(q.limit)
                .map(|d| (d.channel_id, d.id))
                .collect(),
        })
    }

    async fn index_guilds(&self, docs: &[GuildDocument]) -> PortResult<()> {
        let mut map = lock(&self.guilds);
        for d in docs {
            map.insert(d.id, d.clone());
        }
        Ok(())
    }

    async fn delete_guilds(&self, ids: &[GuildId]) -> PortResult<()> {
        let mut map = lock(&self.guilds);
        for id in ids {
            map.remove(id);
        }
        Ok(())
    }

    async fn search_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<GuildId>, u64)> {
        let terms: Vec<String> = words(query).collect();
        let map = lock(&self.guilds);
        let mut found: Vec<&GuildDocument> = map
            .values()
            .filter(|g| {
                let mut w: Vec<String> = words(&g.name).collect();
                w.extend(g.description.as_deref().map(words).into_iter().flatten());
                terms.iter().all(|t| w.contains(t))
            })
            .collect();
        found.sort_by_key(|g| (std::cmp::Reverse(g.member_count), g.id));
        let total = found.len() as u64;
        Ok((
            found
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|g| g.id)
                .collect(),
            total,
        ))
    }

    async fn index_users(&self, docs: &[UserDocument]) -> PortResult<()> {
        let mut map = lock(&self.users);
        for d in docs {
            map.insert(d.id, d.clone());
        }
        Ok(())
    }

    async fn delete_users(&self, ids: &[UserId]) -> PortResult<()> {
        let mut map = lock(&self.users);
        for id in ids {
            map.remove(id);
        }
        Ok(())
    }

    async fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>> {
        let prefix = prefix.to_lowercase();
        let map = lock(&self.users);
        Ok(map
            .values()
            .filter(|u| {
                words(&u.username)
                    .chain(u.global_name.as_deref().map(words).into_iter().flatten())
                    .any(|w| !prefix.is_empty() && w.starts_with(&prefix))
            })
            .take(limit)
            .map(|u| u.id)
            .collect())
    }
}
