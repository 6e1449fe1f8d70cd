//! Channels (guild channels, DMs and group DMs), their invites and their webhooks.

use crate::postgres::Db;
use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, MessageId, PackId, UserId, WebhookId};
use fluxer_core::model::{Channel, ChannelType, Invite, Webhook};
use fluxer_core::ports::{ChannelRepository, InviteRepository, PortResult, WebhookRepository};
use fluxer_core::time::Timestamp;
use tokio_postgres::types::Json;

use super::{
    Params, column, decode, execute, execute_existing, query, query_json, query_one_json, sql_id,
};
use crate::postgres::{Failure, PostgresStore, transaction};

pub(super) fn channel_kind(kind: ChannelType) -> i32 {
    i32::from(u16::from(kind))
}

/// Records the channel's recipients (none for a guild channel).
async fn insert_recipients(c: &impl Db, ch: &Channel) -> Result<(), Failure> {
    if ch.recipient_ids.is_empty() {
        return Ok(());
    }
    let users: Vec<i64> = ch.recipient_ids.iter().map(|u| sql_id(u.get())).collect();
    execute(
        c,
        "INSERT INTO channel_recipients (user_id, channel_id)
         SELECT u, $2 FROM UNNEST($1::BIGINT[]) AS r(u) ON CONFLICT DO NOTHING",
        &[&users, &sql_id(ch.id.get())],
    )
    .await?;
    Ok(())
}

pub(super) async fn insert_channel(c: &impl Db, ch: &Channel) -> Result<(), Failure> {
    execute(
        c,
        "INSERT INTO channels (id, guild_id, kind, position, last_message_id, data) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &sql_id(ch.id.get()),
            &ch.guild_id.map(|g| sql_id(g.get())),
            &channel_kind(ch.kind),
            &ch.position,
            &ch.last_message_id.map(|m| sql_id(m.get())),
            &Json(ch),
        ],
    )
    .await?;
    insert_recipients(c, ch).await
}

/// Replaces a channel; its `last_message_id` never moves back.
async fn update_channel_row(c: &impl Db, ch: &Channel) -> Result<(), Failure> {
    execute_existing(
        c,
        "UPDATE channels SET guild_id = $2, kind = $3, position = $4, data = $5,
             last_message_id = NULLIF(GREATEST(COALESCE(last_message_id, 0), COALESCE($6::BIGINT, 0)), 0)
         WHERE id = $1",
        &[
            &sql_id(ch.id.get()),
            &ch.guild_id.map(|g| sql_id(g.get())),
            &channel_kind(ch.kind),
            &ch.position,
            &Json(ch),
            &ch.last_message_id.map(|m| sql_id(m.get())),
        ],
    )
    .await?;
    execute(
        c,
        "DELETE FROM channel_recipients WHERE channel_id = $1",
        &[&sql_id(ch.id.get())],
    )
    .await?;
    insert_recipients(c, ch).await
}

/// Channels from `SELECT data, last_message_id ...` rows: the column is the authority on the last
/// message, the JSON's copy may predate it.
async fn query_channels(
    c: &impl Db,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Channel>, Failure> {
    let rows = query(c, sql, params).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut ch: Channel = decode(row, 0)?;
        let last: Option<i64> = column(row, 1)?;
        if let Some(last) = last.filter(|l| *l > 0) {
            let last = MessageId::new(last as u64);
            ch.last_message_id = Some(ch.last_message_id.map_or(last, |m| m.max(last)));
        }
        out.push(ch);
    }
    Ok(out)
}

/// Deletes channels and what lives in them (a vanity invite stays: it belongs to the guild). The
/// channel rows go first, so a concurrent message insert that updates one waits for this transaction.
pub(super) async fn delete_channel_rows(c: &impl Db, ids: &[i64]) -> Result<(), Failure> {
    for sql in [
        "DELETE FROM channels WHERE id = ANY($1)",
        "DELETE FROM messages WHERE channel_id = ANY($1)",
        "DELETE FROM reactions WHERE channel_id = ANY($1)",
        "DELETE FROM invites WHERE channel_id = ANY($1) AND NOT vanity",
        "DELETE FROM webhooks WHERE channel_id = ANY($1)",
        "DELETE FROM read_states WHERE channel_id = ANY($1)",
        "DELETE FROM channel_recipients WHERE channel_id = ANY($1)",
    ] {
        execute(c, sql, &[&ids]).await?;
    }
    Ok(())
}

#[async_trait]
impl ChannelRepository for PostgresStore {
    async fn create_channel(&self, channel: &Channel) -> PortResult<()> {
        transaction!(self, |tx| { insert_channel(tx, channel).await? })
    }

    async fn update_channel(&self, channel: &Channel) -> PortResult<()> {
        transaction!(self, |tx| { update_channel_row(tx, channel).await? })
    }

    async fn update_channels(&self, channels: &[Channel]) -> PortResult<()> {
        // Rows locked in ID order, so two batches over the same channels cannot deadlock. A stable
        // sort keeps the last of two edits of one channel last.
        let mut ordered: Vec<&Channel> = channels.iter().collect();
        ordered.sort_by_key(|ch| ch.id);
        let ordered = &ordered;
        transaction!(self, |tx| {
            for ch in ordered {
                update_channel_row(tx, ch).await?;
            }
        })
    }

    async fn get_channel(&self, id: ChannelId) -> PortResult<Option<Channel>> {
        let c = self.client().await?;
        Ok(query_channels(
            &c,
            "SELECT data, last_message_id FROM channels WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?
        .pop())
    }

    async fn list_guild_channels(&self, guild: GuildId) -> PortResult<Vec<Channel>> {
        let c = self.client().await?;
        Ok(query_channels(
            &c,
            "SELECT data, last_message_id FROM channels WHERE guild_id = $1 ORDER BY position, id",
            &[&sql_id(guild.get())],
        )
        .await?)
    }

    async fn delete_channel(&self, id: ChannelId) -> PortResult<()> {
        let ids = [sql_id(id.get())];
        let ids = &ids[..];
        transaction!(self, |tx| { delete_channel_rows(tx, ids).await? })
    }

    async fn find_dm_channel(&self, a: UserId, b: UserId) -> PortResult<Option<Channel>> {
        let c = self.client().await?;
        Ok(query_channels(
            &c,
            "SELECT ch.data, ch.last_message_id FROM channels ch
             JOIN channel_recipients ra ON ra.channel_id = ch.id AND ra.user_id = $1
             JOIN channel_recipients rb ON rb.channel_id = ch.id AND rb.user_id = $2
             WHERE ch.kind = $3 ORDER BY ch.id LIMIT 1",
            &[
                &sql_id(a.get()),
                &sql_id(b.get()),
                &channel_kind(ChannelType::Dm),
            ],
        )
        .await?
        .pop())
    }

    async fn list_private_channels(&self, user: UserId) -> PortResult<Vec<Channel>> {
        let c = self.client().await?;
        Ok(query_channels(
            &c,
            "SELECT ch.data, ch.last_message_id FROM channel_recipients r JOIN channels ch ON ch.id = r.channel_id
             WHERE r.user_id = $1 AND ch.guild_id IS NULL ORDER BY ch.id",
            &[&sql_id(user.get())],
        )
        .await?)
    }
}

#[async_trait]
impl InviteRepository for PostgresStore {
    async fn create_invite(&self, invite: &Invite) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO invites (code, guild_id, channel_id, pack_id, created_at, expires_at, vanity, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &invite.code,
                &invite.guild_id.map(|g| sql_id(g.get())),
                &invite.channel_id.map(|ch| sql_id(ch.get())),
                &invite.pack_id.map(|p| sql_id(p.get())),
                &invite.created_at.unix_ms(),
                &invite.expires_at().map(Timestamp::unix_ms),
                &invite.vanity,
                &Json(invite),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_invite(&self, code: &str) -> PortResult<Option<Invite>> {
        let c = self.client().await?;
        Ok(query_one_json(&c, "SELECT data FROM invites WHERE code = $1", &[&code]).await?)
    }

    async fn list_guild_invites(&self, guild: GuildId) -> PortResult<Vec<Invite>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM invites WHERE guild_id = $1 ORDER BY created_at, code",
            &[&sql_id(guild.get())],
        )
        .await?)
    }

    async fn list_channel_invites(&self, channel: ChannelId) -> PortResult<Vec<Invite>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM invites WHERE channel_id = $1 ORDER BY created_at, code",
            &[&sql_id(channel.get())],
        )
        .await?)
    }

    async fn list_pack_invites(&self, pack: PackId) -> PortResult<Vec<Invite>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM invites WHERE pack_id = $1 ORDER BY created_at, code",
            &[&sql_id(pack.get())],
        )
        .await?)
    }

    async fn delete_invite(&self, code: &str) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(&c, "DELETE FROM invites WHERE code = $1", &[&code]).await? > 0)
    }

    async fn use_invite(&self, code: &str, now: Timestamp) -> PortResult<Option<Invite>> {
        // One conditional update: the row lock orders concurrent uses, and each re-checks the limit
        // against the count the previous one left (`Invite::is_expired` and `is_used_up` in SQL).
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "UPDATE invites SET data = jsonb_set(data, '{uses}', to_jsonb((data->>'uses')::BIGINT + 1))
             WHERE code = $1
               AND (expires_at IS NULL OR expires_at > $2)
               AND ((data->>'max_uses')::BIGINT = 0 OR (data->>'uses')::BIGINT < (data->>'max_uses')::BIGINT)
             RETURNING data",
            &[&code, &now.unix_ms()],
        )
        .await?)
    }

    async fn delete_expired_invites(&self, now: Timestamp) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM invites WHERE expires_at IS NOT NULL AND expires_at <= $1",
            &[&now.unix_ms()],
        )
        .await?)
    }
}

#[async_trait]
impl WebhookRepository for PostgresStore {
    async fn create_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO webhooks (id, guild_id, channel_id, data) VALUES ($1, $2, $3, $4)",
            &[
                &sql_id(webhook.id.get()),
                &sql_id(webhook.guild_id.get()),
                &sql_id(webhook.channel_id.get()),
                &Json(webhook),
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE webhooks SET guild_id = $2, channel_id = $3, data = $4 WHERE id = $1",
            &[
                &sql_id(webhook.id.get()),
                &sql_id(webhook.guild_id.get()),
                &sql_id(webhook.channel_id.get()),
                &Json(webhook),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_webhook(&self, id: WebhookId) -> PortResult<Option<Webhook>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM webhooks WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn list_channel_webhooks(&self, channel: ChannelId) -> PortResult<Vec<Webhook>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM webhooks WHERE channel_id = $1 ORDER BY id",
            &[&sql_id(channel.get())],
        )
        .await?)
    }

    async fn list_guild_webhooks(&self, guild: GuildId) -> PortResult<Vec<Webhook>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM webhooks WHERE guild_id = $1 ORDER BY id",
            &[&sql_id(guild.get())],
        )
        .await?)
    }

    async fn delete_webhook(&self, id: WebhookId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM webhooks WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?
            > 0)
    }
}
