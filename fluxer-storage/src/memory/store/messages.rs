//! Message history, pins and reactions.

use std::collections::BTreeMap;
use std::ops::Bound;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ChannelId, MessageId, UserId};
use fluxer_core::model::{Message, ReactionCount, ReactionEmoji};
use fluxer_core::ports::{
    FollowupKind, MessageFollowup, MessagePage, MessageRepository, PortResult,
};
use fluxer_core::time::Timestamp;

use super::{MemoryStore, ReactionGroup};

fn page(messages: &BTreeMap<MessageId, Message>, page: MessagePage, limit: u32) -> Vec<Message> {
    let limit = limit as usize;
    match page {
        MessagePage::Latest => messages.values().rev().take(limit).cloned().collect(),
        MessagePage::Before(c) => messages
            .range(..c)
            .rev()
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect(),
        MessagePage::After(c) => {
            let mut v: Vec<Message> = messages
                .range((Bound::Excluded(c), Bound::Unbounded))
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect();
            v.reverse();
            v
        }
        MessagePage::Around(c) => {
            let mut newer: Vec<Message> = messages
                .range((Bound::Excluded(c), Bound::Unbounded))
                .take(limit / 2)
                .map(|(_, m)| m.clone())
                .collect();
            newer.reverse();
            let older = messages
                .range(..=c)
                .rev()
                .take(limit - newer.len())
                .map(|(_, m)| m.clone());
            newer.extend(older);
            newer
        }
    }
}

#[async_trait]
impl MessageRepository for MemoryStore {
    async fn insert_message_with(
        &self,
        message: &Message,
        followups: &[FollowupKind],
    ) -> PortResult<()> {
        self.write(|d| {
            let channel = d.messages.entry(message.channel_id).or_default();
            if channel.contains_key(&message.id) {
                return Err(StoreError::backend_of(
                    "memory",
                    format!("message {} exists", message.id),
                ));
            }
            channel.insert(message.id, message.clone());
            if let Some(c) = d.channels.get_mut(&message.channel_id) {
                c.last_message_id =
                    Some(c.last_message_id.map_or(message.id, |l| l.max(message.id)));
            }
            // The push fan-out only while someone has a subscription (see `FollowupKind::Push`).
            let subscribed = !d.push_subscribers.is_empty();
            for kind in followups
                .iter()
                .copied()
                .filter(|kind| *kind != FollowupKind::Push || subscribed)
            {
                d.followups
                    .insert((message.id, kind), (message.channel_id, 0, 0));
            }
            Ok(())
        })
    }

    async fn claim_followups(
        &self,
        now: Timestamp,
        lease_ms: u64,
        limit: u32,
    ) -> PortResult<Vec<MessageFollowup>> {
        let (now, until) = (now.unix_ms(), now.plus_ms(lease_ms as i64).unix_ms());
        self.write(|d| {
            let mut due: Vec<(i64, (MessageId, FollowupKind))> = d
                .followups
                .iter()
                .filter(|(_, (_, due_at, _))| *due_at <= now)
                .map(|(key, (_, due_at, _))| (*due_at, *key))
                .collect();
            due.sort_unstable();
            let mut claimed = Vec::new();
            for (_, key) in due.into_iter().take(limit as usize) {
                if let Some((channel_id, due_at, attempts)) = d.followups.get_mut(&key) {
                    *due_at = until;
                    *attempts += 1;
                    claimed.push(MessageFollowup {
                        channel_id: *channel_id,
                        message_id: key.0,
                        kind: key.1,
                        attempts: *attempts,
                    });
                }
            }
            claimed.sort_by_key(|f| (f.message_id, f.kind));
            Ok(claimed)
        })
    }

    async fn clear_followups(&self, done: &[(MessageId, FollowupKind)]) -> PortResult<()> {
        self.write(|d| {
            for key in done {
                d.followups.remove(key);
            }
            Ok(())
        })
    }

    async fn update_message(&self, message: &Message) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .messages
                .get_mut(&message.channel_id)
                .and_then(|m| m.get_mut(&message.id))
                .ok_or(StoreError::NotFound)?;
            *slot = message.clone();
            Ok(())
        })
    }

    async fn get_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<Message>> {
        let wanted: std::collections::BTreeSet<MessageId> = ids.iter().copied().collect();
        Ok(self.read(|d| {
            let Some(messages) = d.messages.get(&channel) else {
                return Vec::new();
            };
            wanted
                .into_iter()
                .filter_map(|id| messages.get(&id).cloned())
                .collect()
        }))
    }

    async fn get_message(&self, channel: ChannelId, id: MessageId) -> PortResult<Option<Message>> {
        Ok(self.read(|d| d.messages.get(&channel).and_then(|m| m.get(&id)).cloned()))
    }

    async fn list_messages(
        &self,
        channel: ChannelId,
        p: MessagePage,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        Ok(self.read(|d| {
            d.messages
                .get(&channel)
                .map(|m| page(m, p, limit))
                .unwrap_or_default()
        }))
    }

    async fn delete_message(&self, channel: ChannelId, id: MessageId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d
                .messages
                .get_mut(&channel)
                .and_then(|m| m.remove(&id))
                .is_some();
            if removed {
                d.reactions.remove(&id);
            }
            removed
        }))
    }

    async fn delete_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<MessageId>> {
        Ok(self.write(|d| {
            let mut deleted = Vec::new();
            if let Some(m) = d.messages.get_mut(&channel) {
                for id in ids {
                    if m.remove(id).is_some() && !deleted.contains(id) {
                        deleted.push(*id);
                    }
                }
            }
            for id in &deleted {
                d.reactions.remove(id);
            }
            deleted
        }))
    }

    async fn list_pinned(
        &self,
        channel: ChannelId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        let mut pins: Vec<Message> = self.read(|d| {
            d.messages
                .get(&channel)
                .map(|m| {
                    m.values()
                        .filter(|m| m.pinned_at.is_some_and(|at| before.is_none_or(|b| at < b)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        pins.sort_by(|a, b| b.pinned_at.cmp(&a.pinned_at).then(b.id.cmp(&a.id)));
        pins.truncate(limit as usize);
        Ok(pins)
    }

    async fn add_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji: &ReactionEmoji,
        user: UserId,
    ) -> PortResult<bool> {
        Ok(self.write(|d| {
            if d.messages
                .get(&channel)
                .is_none_or(|m| !m.contains_key(&message))
            {
                return false;
            }
            let groups = d.reactions.entry(message).or_default();
            let key = emoji.key();
            match groups.iter_mut().find(|g| g.key == key) {
                Some(g) if g.users.contains(&user) => false,
                Some(g) => {
                    g.users.push(user);
                    true
                }
                None => {
                    groups.push(ReactionGroup {
                        key,
                        emoji: emoji.clone(),
                        users: vec![user],
                    });
                    true
                }
            }
        }))
    }

    async fn remove_reaction(
        &self,
        _channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        user: UserId,
    ) -> PortResult<bool> {
        Ok(self.write(|d| {
            let Some(groups) = d.reactions.get_mut(&message) else {
                return false;
            };
            let Some(g) = groups.iter_mut().find(|g| g.key == emoji_key) else {
                return false;
            };
            let before = g.users.len();
            g.users.retain(|u| *u != user);
            let removed = g.users.len() != before;
            groups.retain(|g| !g.users.is_empty());
            removed
        }))
    }

    async fn remove_all_reactions(
        &self,
        _channel: ChannelId,
        message: MessageId,
    ) -> PortResult<u64> {
        Ok(self.write(|d| {
            d.reactions
                .remove(&message)
                .map_or(0, |g| g.iter().map(|g| g.users.len() as u64).sum())
        }))
    }

    async fn remove_emoji_reactions(
        &self,
        _channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
    ) -> PortResult<u64> {
        Ok(self.write(|d| {
            let Some(groups) = d.reactions.get_mut(&message) else {
                return 0;
            };
            let count = groups
                .iter()
                .filter(|g| g.key == emoji_key)
                .map(|g| g.users.len() as u64)
                .sum();
            groups.retain(|g| g.key != emoji_key);
            count
        }))
    }

    async fn list_reaction_users(
        &self,
        _channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<UserId>> {
        let mut users: Vec<UserId> = self.read(|d| {
            d.reactions
                .get(&message)
                .and_then(|g| g.iter().find(|g| g.key == emoji_key))
                .map(|g| g.users.clone())
                .unwrap_or_default()
        });
        users.sort_unstable();
        Ok(users
            .into_iter()
            .filter(|u| after.is_none_or(|a| *u > a))
            .take(limit as usize)
            .collect())
    }

    async fn reaction_counts(
        &self,
        _channel: ChannelId,
        messages: &[MessageId],
        viewer: UserId,
    ) -> PortResult<Vec<(MessageId, ReactionCount)>> {
        Ok(self.read(|d| {
            let mut out = Vec::new();
            for id in messages {
                if let Some(groups) = d.reactions.get(id) {
                    for g in groups {
                        out.push((
                            *id,
                            ReactionCount {
                                emoji: g.emoji.clone(),
                                count: g.users.len() as u32,
                                me: g.users.contains(&viewer),
                            },
                        ));
                    }
                }
            }
            out
        }))
    }
}

impl fluxer_core::ports::HistoryRepository for MemoryStore {}
