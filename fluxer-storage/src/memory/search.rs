//! Message search in memory by case-insensitive word match.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::id::MessageId;
use fluxer_core::ports::{MessageDocument, MessageSearch, PortResult, SearchHits, SearchIndex};

use super::lock;

/// Documents by message ID (so results come out in ID order); every search scans them all.
#[derive(Default)]
pub struct MemorySearchIndex {
    docs: Mutex<BTreeMap<MessageId, MessageDocument>>,
}

impl MemorySearchIndex {
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
}
