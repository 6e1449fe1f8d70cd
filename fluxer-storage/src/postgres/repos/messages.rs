//! Messages, pins and reactions.

use std::collections::HashMap;

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, MessageId, UserId};
use fluxer_core::model::{Message, ReactionCount, ReactionEmoji, User};
use fluxer_core::ports::{
    FollowupKind, HistoryPage, HistoryRepository, MessageFollowup, MessagePage, MessageRepository,
    PortResult,
};
use fluxer_core::time::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::{
    column, decode, decode_text, distinct_ids, execute, execute_existing, execute_untracked, query,
    query_json, query_one_json, sql_id, sql_limit,
};
use crate::access_cache::AccessCache;
use crate::postgres::{Failure, PostgresStore, transaction};

#[async_trait]
impl MessageRepository for PostgresStore {
    async fn insert_message_with(
        &self,
        message: &Message,
        followups: &[FollowupKind],
    ) -> PortResult<()> {
        // One statement stores the message and its follow-ups and advances the channel's last
        // message. The channel row is only written (and locked) when the new ID is larger; a
        // concurrent insert that finds it locked re-checks against the committed value, so it never
        // moves back.
        let c = self.client().await?;
        let kinds: Vec<i16> = followups.iter().map(|k| k.code()).collect();
        execute_untracked(
            &c,
            "WITH inserted AS (
                 INSERT INTO messages (channel_id, id, pinned_at, data) VALUES ($1, $2, $3, $4) RETURNING id
             ), followed AS (
                 INSERT INTO message_followups (message_id, kind, channel_id, due_at, attempts)
                 SELECT $2, k, $1, 0, 0 FROM unnest($5::smallint[]) AS k
                  -- The push fan-out only while someone has a subscription (kind 17; see
                  -- `FollowupKind::Push`): one probe of a partial index, once per statement.
                  WHERE k <> 2 OR EXISTS (SELECT 1 FROM user_documents WHERE kind = 17)
             )
             UPDATE channels SET last_message_id = $2
              WHERE id = $1 AND (last_message_id IS NULL OR last_message_id < $2)
                AND EXISTS (SELECT 1 FROM inserted)",
            &[
                &sql_id(message.channel_id.get()),
                &sql_id(message.id.get()),
                &message.pinned_at.map(Timestamp::unix_ms),
                &Json(message),
                &kinds,
            ],
        )
        .await?;
        self.access.message_stored(message.channel_id, message.id);
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
        let c = self.client().await?;
        // Rows another worker is claiming right now are skipped, not waited for.
        let rows = query(
            &c,
            "UPDATE message_followups f SET due_at = $2, attempts = f.attempts + 1
               FROM (SELECT message_id, kind FROM message_followups
                      WHERE due_at <= $1 AND kind IN (1, 2) ORDER BY due_at, message_id, kind
                      LIMIT $3 FOR UPDATE SKIP LOCKED) due
              WHERE f.message_id = due.message_id AND f.kind = due.kind
             RETURNING f.channel_id, f.message_id, f.kind, f.attempts",
            &[&now.unix_ms(), &until, &sql_limit(limit)],
        )
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: i16 = column(&row, 2)?;
            // The kinds this build knows (the `IN` above): a newer build's are left to it.
            if let Some(kind) = FollowupKind::from_code(i64::from(kind)) {
                let attempts: i32 = column(&row, 3)?;
                claimed.push(MessageFollowup {
                    channel_id: ChannelId::new(column::<i64>(&row, 0)? as u64),
                    message_id: MessageId::new(column::<i64>(&row, 1)? as u64),
                    kind,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                });
            }
        }
        claimed.sort_by_key(|f| (f.message_id, f.kind));
        Ok(claimed)
    }

    async fn clear_followups(&self, done: &[(MessageId, FollowupKind)]) -> PortResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = done.iter().map(|(m, _)| sql_id(m.get())).collect();
        let kinds: Vec<i16> = done.iter().map(|(_, k)| k.code()).collect();
        let c = self.client().await?;
        execute(
            &c,
            "DELETE FROM message_followups
              WHERE (message_id, kind) IN (SELECT * FROM unnest($1::bigint[], $2::smallint[]))",
            &[&ids, &kinds],
        )
        .await?;
        Ok(())
    }

    async fn update_message(&self, message: &Message) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE messages SET pinned_at = $3, data = $4 WHERE channel_id = $1 AND id = $2",
            &[
                &sql_id(message.channel_id.get()),
                &sql_id(message.id.get()),
                &message.pinned_at.map(Timestamp::unix_ms),
                &Json(message),
            ],
        )
        .await?;
        Ok(())
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
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM messages WHERE channel_id = $1 AND id = ANY($2)",
            &[&sql_id(channel.get()), &ids],
        )
        .await?)
    }

    async fn get_message(&self, channel: ChannelId, id: MessageId) -> PortResult<Option<Message>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM messages WHERE channel_id = $1 AND id = $2",
            &[&sql_id(channel.get()), &sql_id(id.get())],
        )
        .await?)
    }

    async fn list_messages(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        let ch = sql_id(channel.get());
        let c = self.client().await?;
        let messages = match page {
            MessagePage::Latest => {
                query_json(
                    &c,
                    "SELECT data FROM messages WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
                    &[&ch, &sql_limit(limit)],
                )
                .await?
            }
            MessagePage::Before(cursor) => {
                query_json(
                    &c,
                    "SELECT data FROM messages WHERE channel_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                    &[&ch, &sql_id(cursor.get()), &sql_limit(limit)],
                )
                .await?
            }
            MessagePage::After(cursor) => {
                let mut newer: Vec<Message> = query_json(
                    &c,
                    "SELECT data FROM messages WHERE channel_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3",
                    &[&ch, &sql_id(cursor.get()), &sql_limit(limit)],
                )
                .await?;
                newer.reverse();
                newer
            }
            MessagePage::Around(cursor) => {
                let mut newer: Vec<Message> = query_json(
                    &c,
                    "SELECT data FROM messages WHERE channel_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3",
                    &[&ch, &sql_id(cursor.get()), &sql_limit(limit / 2)],
                )
                .await?;
                newer.reverse();
                let rest = i64::from(limit) - newer.len() as i64;
                let older: Vec<Message> = query_json(
                    &c,
                    "SELECT data FROM messages WHERE channel_id = $1 AND id <= $2 ORDER BY id DESC LIMIT $3",
                    &[&ch, &sql_id(cursor.get()), &rest],
                )
                .await?;
                newer.extend(older);
                newer
            }
        };
        Ok(messages)
    }

    async fn delete_message(&self, channel: ChannelId, id: MessageId) -> PortResult<bool> {
        let (ch, mid) = (sql_id(channel.get()), sql_id(id.get()));
        transaction!(self, |tx| {
            let deleted = execute(
                tx,
                "DELETE FROM messages WHERE channel_id = $1 AND id = $2",
                &[&ch, &mid],
            )
            .await?
                > 0;
            if deleted {
                execute(
                    tx,
                    "DELETE FROM reactions WHERE channel_id = $1 AND message_id = $2",
                    &[&ch, &mid],
                )
                .await?;
            }
            deleted
        })
    }

    async fn delete_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<MessageId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ch = sql_id(channel.get());
        let ids = distinct_ids(ids.iter().map(|m| m.get()));
        let ids = &ids;
        let mut deleted: Vec<MessageId> = transaction!(self, |tx| {
            let rows = query(
                tx,
                "DELETE FROM messages WHERE channel_id = $1 AND id = ANY($2) RETURNING id",
                &[&ch, ids],
            )
            .await?;
            let deleted: Vec<i64> = rows
                .iter()
                .map(|row| column(row, 0))
                .collect::<Result<_, Failure>>()?;
            if !deleted.is_empty() {
                execute(
                    tx,
                    "DELETE FROM reactions WHERE channel_id = $1 AND message_id = ANY($2)",
                    &[&ch, &deleted],
                )
                .await?;
            }
            deleted
                .into_iter()
                .map(|id| MessageId::new(id as u64))
                .collect()
        })?;
        deleted.sort_unstable();
        Ok(deleted)
    }

    async fn list_pinned(
        &self,
        channel: ChannelId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> PortResult<Vec<Message>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL AND pinned_at < $2
             ORDER BY pinned_at DESC, id DESC LIMIT $3",
            &[
                &sql_id(channel.get()),
                &before.map_or(i64::MAX, Timestamp::unix_ms),
                &sql_limit(limit),
            ],
        )
        .await?)
    }

    async fn add_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji: &ReactionEmoji,
        user: UserId,
    ) -> PortResult<bool> {
        // The message row is share-locked while the reaction goes in: a concurrent deletion of the
        // message either runs first (and nothing is inserted) or waits and then deletes the reaction.
        // `seq` comes from an identity column, so emojis order by their first current reaction.
        let json = serde_json::to_string(emoji).map_err(fluxer_core::StoreError::backend)?;
        let c = self.client().await?;
        Ok(execute(
            &c,
            "INSERT INTO reactions (channel_id, message_id, emoji_key, user_id, emoji)
             SELECT channel_id, id, $3, $4, $5 FROM messages WHERE channel_id = $1 AND id = $2 FOR SHARE
             ON CONFLICT DO NOTHING",
            &[
                &sql_id(channel.get()),
                &sql_id(message.get()),
                &emoji.key(),
                &sql_id(user.get()),
                &json,
            ],
        )
        .await?
            > 0)
    }

    async fn remove_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        user: UserId,
    ) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM reactions WHERE channel_id = $1 AND message_id = $2 AND emoji_key = $3 AND user_id = $4",
            &[&sql_id(channel.get()), &sql_id(message.get()), &emoji_key, &sql_id(user.get())],
        )
        .await?
            > 0)
    }

    async fn remove_all_reactions(
        &self,
        channel: ChannelId,
        message: MessageId,
    ) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM reactions WHERE channel_id = $1 AND message_id = $2",
            &[&sql_id(channel.get()), &sql_id(message.get())],
        )
        .await?)
    }

    async fn remove_emoji_reactions(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
    ) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM reactions WHERE channel_id = $1 AND message_id = $2 AND emoji_key = $3",
            &[&sql_id(channel.get()), &sql_id(message.get()), &emoji_key],
        )
        .await?)
    }

    async fn list_reaction_users(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<UserId>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT user_id FROM reactions
             WHERE channel_id = $1 AND message_id = $2 AND emoji_key = $3 AND user_id > $4
             ORDER BY user_id LIMIT $5",
            &[
                &sql_id(channel.get()),
                &sql_id(message.get()),
                &emoji_key,
                &after.map_or(-1, |a| sql_id(a.get())),
                &sql_limit(limit),
            ],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| column::<i64>(row, 0).map(|id| UserId::new(id as u64)))
            .collect::<Result<_, _>>()?)
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
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT message_id, MIN(emoji), COUNT(*), BOOL_OR(user_id = $1), MIN(seq) AS first
               FROM reactions
              WHERE channel_id = $2 AND message_id = ANY($3)
              GROUP BY message_id, emoji_key
              ORDER BY message_id, first",
            &[&sql_id(viewer.get()), &sql_id(channel.get()), &ids],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (mid, emoji, count, me): (i64, String, i64, bool) = (
                column(row, 0)?,
                column(row, 1)?,
                column(row, 2)?,
                column(row, 3)?,
            );
            out.push((
                MessageId::new(mid as u64),
                ReactionCount {
                    emoji: decode_text(&emoji)?,
                    count: count as u32,
                    me,
                },
            ));
        }
        // The caller's message order; a stable sort keeps each message's emojis in theirs.
        let rank: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        out.sort_by_key(|(m, _)| rank.get(&sql_id(m.get())).copied().unwrap_or(usize::MAX));
        Ok(out)
    }
}

/// The rest of a history page's statement after its `page (id, data)` CTE: the page's messages
/// (part 0) and their reactions grouped as `reaction_counts` groups them (part 1), newest message
/// first. `$1` is the channel and `$2` the viewer. The users the messages name are read apart: their
/// IDs are inside the messages' JSON text, which PostgreSQL would parse again for every message
/// (measured: that made the page three times as costly as the reads it replaced).
macro_rules! with_page {
    ($page:literal) => {
        concat!(
            "WITH page AS (",
            $page,
            ")
            SELECT 0 AS part, p.id, p.data, NULL::text AS emoji, NULL::bigint AS n, NULL::bool AS me,
                   NULL::bigint AS first
              FROM page p
            UNION ALL
            SELECT 1, r.message_id, NULL, MIN(r.emoji), COUNT(*), BOOL_OR(r.user_id = $2), MIN(r.seq)
              FROM reactions r
             WHERE r.channel_id = (SELECT $1::BIGINT) AND r.message_id IN (SELECT id FROM page)
             GROUP BY r.message_id, r.emoji_key"
        )
    };
}

#[async_trait]
impl HistoryRepository for PostgresStore {
    /// At most two statements on one connection: the page with its reactions, then the users it
    /// names that the access cache does not hold. The page size is written into the statement (one
    /// prepared statement per size and kind of page): with `LIMIT $n` PostgreSQL either plans the
    /// page again on every execution (its default: a generic plan for an unknown limit looks
    /// costlier) or, forced to keep one plan, reads a tenth of the channel to sort it. A written
    /// limit gives one plan that walks the index. The channel and the cursor are read through
    /// `(SELECT $n)`, which hides their values from the planner: otherwise a channel holding much of
    /// a large table (a million of its two million messages, measured) makes a plan for its value
    /// look cheaper than the shared one, and PostgreSQL plans the page again on every execution.
    async fn history_page(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
        viewer: UserId,
    ) -> PortResult<HistoryPage> {
        let (ch, viewer) = (sql_id(channel.get()), sql_id(viewer.get()));
        let c = self.client().await?;
        let rows = match page {
            MessagePage::Latest => {
                let sql = format!(
                    with_page!(
                        "SELECT id, data FROM messages WHERE channel_id = (SELECT $1::BIGINT) ORDER BY id DESC LIMIT {limit}"
                    ),
                    limit = limit
                );
                query(&c, &sql, &[&ch, &viewer]).await?
            }
            MessagePage::Before(cursor) | MessagePage::After(cursor) => {
                // Older than the cursor from the newest down, or newer from the oldest up.
                let (op, order) = match page {
                    MessagePage::Before(_) => ("<", "DESC"),
                    _ => (">", "ASC"),
                };
                let sql = format!(
                    with_page!(
                        "SELECT id, data FROM messages WHERE channel_id = (SELECT $1::BIGINT) AND id {op} (SELECT $3::BIGINT)
                           ORDER BY id {order} LIMIT {limit}"
                    ),
                    op = op,
                    order = order,
                    limit = limit
                );
                query(&c, &sql, &[&ch, &viewer, &sql_id(cursor.get())]).await?
            }
            MessagePage::Around(cursor) => {
                let sql = format!(
                    with_page!(
                        "WITH newer AS (SELECT id, data FROM messages
                                         WHERE channel_id = (SELECT $1::BIGINT) AND id > (SELECT $3::BIGINT)
                                          ORDER BY id ASC LIMIT {half})
                         SELECT id, data FROM newer
                         UNION ALL
                         (SELECT id, data FROM messages
                           WHERE channel_id = (SELECT $1::BIGINT) AND id <= (SELECT $3::BIGINT)
                           ORDER BY id DESC LIMIT {limit} - (SELECT count(*) FROM newer))"
                    ),
                    half = limit / 2,
                    limit = limit
                );
                query(&c, &sql, &[&ch, &viewer, &sql_id(cursor.get())]).await?
            }
        };
        let mut read = history_rows(&rows)?;
        if read.messages.is_empty() {
            return Ok(read);
        }
        // The users named are mostly the same few: those the access cache holds are not read again.
        let cache = self.access_cache();
        let generation = cache.map(AccessCache::generation);
        let mut unread = Vec::new();
        for id in distinct_ids(
            read.messages
                .iter()
                .flat_map(Message::named_users)
                .map(|u| u.get()),
        ) {
            match cache.and_then(|cache| cache.user(UserId::new(id as u64))) {
                Some(found) => read.users.extend(found),
                None => unread.push(id),
            }
        }
        if !unread.is_empty() {
            let users: Vec<User> =
                query_json(&c, "SELECT data FROM users WHERE id = ANY($1)", &[&unread]).await?;
            if let (Some(cache), Some(generation)) = (cache, generation) {
                for id in &unread {
                    let id = UserId::new(*id as u64);
                    cache.put_user(id, generation, users.iter().find(|u| u.id == id).cloned());
                }
            }
            read.users.extend(users);
        }
        Ok(read)
    }
}

/// Splits a history statement's rows into the page and its reactions.
/// The page's messages newest first, and its reactions by message (newest first), then in
/// first-reacted order. The statement leaves the order to this: sorting the rows cost the database
/// a tenth of its time on every page, and the database is what the page waits for.
fn history_rows(rows: &[Row]) -> Result<HistoryPage, Failure> {
    let mut out = HistoryPage::default();
    let mut reactions = Vec::new();
    for row in rows {
        match column::<i32>(row, 0)? {
            0 => out.messages.push(decode::<Message>(row, 2)?),
            _ => {
                let (mid, emoji, count, me, first): (i64, String, i64, bool, i64) = (
                    column(row, 1)?,
                    column(row, 3)?,
                    column(row, 4)?,
                    column(row, 5)?,
                    column(row, 6)?,
                );
                let count = ReactionCount {
                    emoji: decode_text(&emoji)?,
                    count: count as u32,
                    me,
                };
                reactions.push((MessageId::new(mid as u64), first, count));
            }
        }
    }
    // Already in order but for a page read oldest first (`after`): a stable sort costs one pass.
    out.messages.sort_by_key(|m| std::cmp::Reverse(m.id));
    reactions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.reactions = reactions.into_iter().map(|(m, _, r)| (m, r)).collect();
    Ok(out)
}
