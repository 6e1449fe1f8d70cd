//! Messages, pins and reactions.

use std::collections::HashMap;

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, MessageId, UserId};
use fluxer_core::model::{Message, ReactionCount, ReactionEmoji};
use fluxer_core::ports::{
    FollowupKind, HistoryPage, HistoryRepository, MessageFollowup, MessagePage, MessageRepository,
    PortResult,
};
use fluxer_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::{
    db, distinct_ids, execute, execute_existing, from_json, placeholders, query_json,
    query_json_by_ids, query_json_scoped_by_ids, query_one_json, sql_id, to_json,
};
use crate::sqlite::SqliteStore;
use crate::sqlite::writer::{raise_at_commit, undo_or_abandon};

#[async_trait]
impl MessageRepository for SqliteStore {
    async fn insert_message_with(
        &self,
        message: &Message,
        followups: &[FollowupKind],
    ) -> PortResult<()> {
        let data = to_json(message)?;
        let (channel, id) = (sql_id(message.channel_id.get()), sql_id(message.id.get()));
        let pinned_at = message.pinned_at.map(Timestamp::unix_ms);
        let followups = followups.to_vec();
        // The hottest write of all, so without a savepoint: a statement that fails changes nothing,
        // and a follow-up that cannot be written takes the message back out with it.
        self.write_undoing_itself(move |c| {
            execute(
                c,
                "INSERT INTO messages (channel_id, id, pinned_at, data) VALUES (?1, ?2, ?3, ?4)",
                params![channel, id, pinned_at, data],
            )?;
            for kind in followups {
                // The push fan-out only while someone has a subscription (see `FollowupKind::Push`):
                // the partial index answers it at once.
                let sql = match kind {
                    FollowupKind::Push => {
                        "INSERT INTO message_followups (message_id, kind, channel_id, due_at, attempts) \
                         SELECT ?1, ?2, ?3, 0, 0 \
                          WHERE EXISTS (SELECT 1 FROM user_documents WHERE kind = 17)"
                    }
                    FollowupKind::Index => {
                        "INSERT INTO message_followups (message_id, kind, channel_id, due_at, attempts) \
                         VALUES (?1, ?2, ?3, 0, 0)"
                    }
                };
                let written = execute(c, sql, params![id, kind.code(), channel]);
                if let Err(e) = written {
                    undo_or_abandon(c, |c| {
                        execute(
                            c,
                            "DELETE FROM message_followups WHERE message_id = ?1",
                            params![id],
                        )?;
                        execute(
                            c,
                            "DELETE FROM messages WHERE channel_id = ?1 AND id = ?2",
                            params![channel, id],
                        )?;
                        Ok(())
                    });
                    return Err(e);
                }
            }
            // Once per channel and group, however many of its messages the group stores. The access
            // cache learns of the new newest message below instead of being emptied.
            raise_at_commit(
                "UPDATE channels SET last_message_id = MAX(COALESCE(last_message_id, 0), ?2) WHERE id = ?1",
                channel,
                id,
            );
            Ok(())
        })
        .await?;
        self.inner
            .access
            .message_stored(message.channel_id, message.id);
        Ok(())
    }

    async fn claim_followups(
        &self,
        now: Timestamp,
        lease_ms: u64,
        limit: u32,
    ) -> PortResult<Vec<MessageFollowup>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.plus_ms(lease_ms as i64).unix_ms();
        let now = now.unix_ms();
        self.write(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "UPDATE message_followups SET due_at = ?2, attempts = attempts + 1 \
                     WHERE (message_id, kind) IN (SELECT message_id, kind FROM message_followups \
                     WHERE due_at <= ?1 AND kind IN (1, 2) ORDER BY due_at, message_id, kind \
                     LIMIT ?3) \
                     RETURNING channel_id, message_id, kind, attempts",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![now, until, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(db)?;
            let mut claimed = Vec::new();
            for row in rows {
                let (channel, message, kind, attempts) = row.map_err(db)?;
                // The kinds this build knows (the `IN` above): a newer build's are left to it.
                if let Some(kind) = FollowupKind::from_code(kind) {
                    claimed.push(MessageFollowup {
                        channel_id: ChannelId::new(channel as u64),
                        message_id: MessageId::new(message as u64),
                        kind,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    });
                }
            }
            claimed.sort_by_key(|f| (f.message_id, f.kind));
            Ok(claimed)
        })
        .await
    }

    async fn clear_followups(&self, done: &[(MessageId, FollowupKind)]) -> PortResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let done = done.to_vec();
        self.write(move |c| {
            for (message, kind) in done {
                execute(
                    c,
                    "DELETE FROM message_followups WHERE message_id = ?1 AND kind = ?2",
                    params![sql_id(message.get()), kind.code()],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn update_message(&self, message: &Message) -> PortResult<()> {
        let (m, data) = (message.clone(), to_json(message)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE messages SET pinned_at = ?3, data = ?4 WHERE channel_id = ?1 AND id = ?2",
                params![
                    sql_id(m.channel_id.get()),
                    sql_id(m.id.get()),
                    m.pinned_at.map(Timestamp::unix_ms),
                    data
                ],
            )
        })
        .await
    }

    async fn get_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<Message>> {
        let ids = distinct_ids(ids.iter().map(|id| id.get()));
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let channel = sql_id(channel.get());
        self.read(move |c| {
            query_json_scoped_by_ids(c, "messages", ("channel_id", channel), "id", &ids)
        })
        .await
    }

    async fn get_message(&self, channel: ChannelId, id: MessageId) -> PortResult<Option<Message>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM messages WHERE channel_id = ?1 AND id = ?2",
                params![sql_id(channel.get()), sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_messages(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        self.lookup(move |c| list_page(c, channel, page, limit))
            .await
    }

    async fn delete_message(&self, channel: ChannelId, id: MessageId) -> PortResult<bool> {
        self.write(move |c| {
            let (ch, mid) = (sql_id(channel.get()), sql_id(id.get()));
            let deleted = execute(
                c,
                "DELETE FROM messages WHERE channel_id = ?1 AND id = ?2",
                params![ch, mid],
            )? > 0;
            if deleted {
                execute(
                    c,
                    "DELETE FROM reactions WHERE channel_id = ?1 AND message_id = ?2",
                    params![ch, mid],
                )?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn delete_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<MessageId>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        self.write(move |c| {
            let ch = sql_id(channel.get());
            let mut deleted = Vec::new();
            for id in ids {
                let mid = sql_id(id.get());
                if execute(
                    c,
                    "DELETE FROM messages WHERE channel_id = ?1 AND id = ?2",
                    params![ch, mid],
                )? > 0
                {
                    execute(
                        c,
                        "DELETE FROM reactions WHERE channel_id = ?1 AND message_id = ?2",
                        params![ch, mid],
                    )?;
                    deleted.push(id);
                }
            }
            Ok(deleted)
        })
        .await
    }

    async fn list_pinned(
        &self,
        channel: ChannelId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM messages WHERE channel_id = ?1 AND pinned_at IS NOT NULL AND pinned_at < ?2
                 ORDER BY pinned_at DESC, id DESC LIMIT ?3",
                params![sql_id(channel.get()), before.map_or(i64::MAX, Timestamp::unix_ms), limit],
            )
        })
        .await
    }

    async fn add_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji: &ReactionEmoji,
        user: UserId,
    ) -> PortResult<bool> {
        let (key, json) = (emoji.key(), to_json(emoji)?);
        self.write(move |c| {
            let (ch, mid) = (sql_id(channel.get()), sql_id(message.get()));
            let exists: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM messages WHERE channel_id = ?1 AND id = ?2")
                .map_err(db)?
                .query_row(params![ch, mid], |r| r.get(0))
                .map_err(db)?;
            if exists == 0 {
                return Ok(false);
            }
            // The next sequence number on this message orders emojis by their first current reaction.
            Ok(execute(
                c,
                "INSERT OR IGNORE INTO reactions (channel_id, message_id, emoji_key, user_id, seq, emoji)
                 VALUES (?1, ?2, ?3, ?4,
                         (SELECT COALESCE(MAX(seq), 0) + 1 FROM reactions WHERE channel_id = ?1 AND message_id = ?2),
                         ?5)",
                params![ch, mid, key, sql_id(user.get()), json],
            )? > 0)
        })
        .await
    }

    async fn remove_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        user: UserId,
    ) -> PortResult<bool> {
        let key = emoji_key.to_owned();
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM reactions WHERE channel_id = ?1 AND message_id = ?2 AND emoji_key = ?3 AND user_id = ?4",
                params![sql_id(channel.get()), sql_id(message.get()), key, sql_id(user.get())],
            )? > 0)
        })
        .await
    }

    async fn remove_all_reactions(
        &self,
        channel: ChannelId,
        message: MessageId,
    ) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM reactions WHERE channel_id = ?1 AND message_id = ?2",
                params![sql_id(channel.get()), sql_id(message.get())],
            )? as u64)
        })
        .await
    }

    async fn remove_emoji_reactions(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
    ) -> PortResult<u64> {
        let key = emoji_key.to_owned();
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM reactions WHERE channel_id = ?1 AND message_id = ?2 AND emoji_key = ?3",
                params![sql_id(channel.get()), sql_id(message.get()), key],
            )? as u64)
        })
        .await
    }

    async fn list_reaction_users(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<UserId>> {
        let key = emoji_key.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT user_id FROM reactions WHERE channel_id = ?1 AND message_id = ?2 AND emoji_key = ?3 AND user_id > ?4
                     ORDER BY user_id LIMIT ?5",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(
                    params![sql_id(channel.get()), sql_id(message.get()), key, after.map_or(-1, |a| sql_id(a.get())), limit],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db)?;
            rows.map(|r| r.map(|id| UserId::new(id as u64)).map_err(db)).collect()
        })
        .await
    }

    async fn reaction_counts(
        &self,
        channel: ChannelId,
        messages: &[MessageId],
        viewer: UserId,
    ) -> PortResult<Vec<(MessageId, ReactionCount)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(messages.iter().map(|m| m.get()));
        self.lookup(move |c| reactions_of(c, channel, &ids, viewer))
            .await
    }
}

#[async_trait]
impl HistoryRepository for SqliteStore {
    /// The page, its users and its reactions on one read connection, without a hop per read.
    async fn history_page(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
        viewer: UserId,
    ) -> PortResult<HistoryPage> {
        self.lookup(move |c| {
            let messages = list_page(c, channel, page, limit)?;
            if messages.is_empty() {
                return Ok(HistoryPage::default());
            }
            let named = distinct_ids(
                messages
                    .iter()
                    .flat_map(Message::named_users)
                    .map(|u| u.get()),
            );
            let users = query_json_by_ids(c, "users", &named)?;
            let ids = distinct_ids(messages.iter().map(|m| m.id.get()));
            let reactions = reactions_of(c, channel, &ids, viewer)?;
            Ok(HistoryPage {
                messages,
                users,
                reactions,
            })
        })
        .await
    }
}

/// One page of a channel's history, newest first ([`MessagePage`]).
fn list_page(
    c: &Connection,
    channel: ChannelId,
    page: MessagePage,
    limit: u32,
) -> PortResult<Vec<Message>> {
    let ch = sql_id(channel.get());
    match page {
        MessagePage::Latest => query_json(
            c,
            "SELECT data FROM messages WHERE channel_id = ?1 ORDER BY id DESC LIMIT ?2",
            params![ch, limit],
        ),
        MessagePage::Before(cursor) => query_json(
            c,
            "SELECT data FROM messages WHERE channel_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            params![ch, sql_id(cursor.get()), limit],
        ),
        MessagePage::After(cursor) => {
            let mut v: Vec<Message> = query_json(
                c,
                "SELECT data FROM messages WHERE channel_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
                params![ch, sql_id(cursor.get()), limit],
            )?;
            v.reverse();
            Ok(v)
        }
        MessagePage::Around(cursor) => {
            let mut newer: Vec<Message> = query_json(
                c,
                "SELECT data FROM messages WHERE channel_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
                params![ch, sql_id(cursor.get()), limit / 2],
            )?;
            newer.reverse();
            let older: Vec<Message> = query_json(
                c,
                "SELECT data FROM messages WHERE channel_id = ?1 AND id <= ?2 ORDER BY id DESC LIMIT ?3",
                params![ch, sql_id(cursor.get()), limit as usize - newer.len()],
            )?;
            newer.extend(older);
            Ok(newer)
        }
    }
}

/// Reaction summaries of `ids` (distinct) as `viewer` sees them, in the order of `ids`.
fn reactions_of(
    c: &Connection,
    channel: ChannelId,
    ids: &[i64],
    viewer: UserId,
) -> PortResult<Vec<(MessageId, ReactionCount)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(400) {
        let sql = format!(
            "SELECT message_id, MIN(emoji), COUNT(*), MAX(user_id = ?), MIN(seq) AS first FROM reactions
             WHERE channel_id = ? AND message_id IN ({}) GROUP BY message_id, emoji_key ORDER BY message_id, first",
            placeholders(chunk.len())
        );
        let mut params: Vec<i64> = vec![sql_id(viewer.get()), sql_id(channel.get())];
        params.extend_from_slice(chunk);
        let mut stmt = c.prepare_cached(&sql).map_err(db)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (mid, emoji, count, me) = row.map_err(db)?;
            let emoji: ReactionEmoji = from_json(&emoji)?;
            out.push((
                MessageId::new(mid as u64),
                ReactionCount {
                    emoji,
                    count: count as u32,
                    me: me != 0,
                },
            ));
        }
    }
    // The caller's message order; a stable sort keeps each message's emojis in theirs.
    let rank: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    out.sort_by_key(|(m, _)| rank.get(&sql_id(m.get())).copied().unwrap_or(usize::MAX));
    Ok(out)
}
