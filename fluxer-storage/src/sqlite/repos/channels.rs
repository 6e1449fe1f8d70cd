//! Channels (guild channels, DMs and group DMs), their invites and their webhooks.

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, MessageId, PackId, UserId, WebhookId};
use fluxer_core::model::{Channel, ChannelType, Invite, Webhook};
use fluxer_core::ports::{ChannelRepository, InviteRepository, PortResult, WebhookRepository};
use fluxer_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::{
    db, execute, execute_existing, from_json, query_json, query_one_json, sql_id, to_json,
};
use crate::sqlite::SqliteStore;

pub(super) fn channel_kind(kind: ChannelType) -> i64 {
    i64::from(u16::from(kind))
}

pub(super) fn insert_channel(c: &Connection, ch: &Channel) -> PortResult<()> {
    execute(
        c,
        "INSERT INTO channels (id, guild_id, kind, position, last_message_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            sql_id(ch.id.get()),
            ch.guild_id.map(|g| sql_id(g.get())),
            channel_kind(ch.kind),
            ch.position,
            ch.last_message_id.map(|m| sql_id(m.get())),
            to_json(ch)?
        ],
    )?;
    for user in &ch.recipient_ids {
        execute(
            c,
            "INSERT OR IGNORE INTO channel_recipients (user_id, channel_id) VALUES (?1, ?2)",
            params![sql_id(user.get()), sql_id(ch.id.get())],
        )?;
    }
    Ok(())
}

/// Replaces a channel; its `last_message_id` never moves back.
fn update_channel_row(c: &Connection, ch: &Channel) -> PortResult<()> {
    execute_existing(
        c,
        "UPDATE channels SET guild_id = ?2, kind = ?3, position = ?4, data = ?5,
             last_message_id = MAX(COALESCE(last_message_id, 0), COALESCE(?6, 0)) WHERE id = ?1",
        params![
            sql_id(ch.id.get()),
            ch.guild_id.map(|g| sql_id(g.get())),
            channel_kind(ch.kind),
            ch.position,
            to_json(ch)?,
            ch.last_message_id.map(|m| sql_id(m.get()))
        ],
    )?;
    execute(
        c,
        "DELETE FROM channel_recipients WHERE channel_id = ?1",
        [sql_id(ch.id.get())],
    )?;
    for user in &ch.recipient_ids {
        execute(
            c,
            "INSERT OR IGNORE INTO channel_recipients (user_id, channel_id) VALUES (?1, ?2)",
            params![sql_id(user.get()), sql_id(ch.id.get())],
        )?;
    }
    Ok(())
}

/// Channels from `SELECT data, last_message_id ...` rows.
pub(super) fn select_channel(c: &Connection, id: ChannelId) -> PortResult<Option<Channel>> {
    Ok(query_channels(
        c,
        "SELECT data, last_message_id FROM channels WHERE id = ?1",
        [sql_id(id.get())],
    )?
    .pop())
}

fn query_channels(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> PortResult<Vec<Channel>> {
    let mut stmt = c.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (data, last) = row.map_err(db)?;
        let mut ch: Channel = from_json(&data)?;
        if let Some(last) = last.filter(|l| *l > 0) {
            let last = MessageId::new(last as u64);
            ch.last_message_id = Some(ch.last_message_id.map_or(last, |m| m.max(last)));
        }
        out.push(ch);
    }
    Ok(out)
}

/// Deletes a channel and what lives in it (a vanity invite stays: it belongs to the guild).
pub(super) fn delete_channel_rows(c: &Connection, id: i64) -> PortResult<()> {
    for sql in [
        "DELETE FROM messages WHERE channel_id = ?1",
        "DELETE FROM reactions WHERE channel_id = ?1",
        "DELETE FROM invites WHERE channel_id = ?1 AND vanity = 0",
        "DELETE FROM webhooks WHERE channel_id = ?1",
        "DELETE FROM read_states WHERE channel_id = ?1",
        "DELETE FROM channel_recipients WHERE channel_id = ?1",
        "DELETE FROM channels WHERE id = ?1",
    ] {
        execute(c, sql, [id])?;
    }
    Ok(())
}

#[async_trait]
impl ChannelRepository for SqliteStore {
    async fn create_channel(&self, channel: &Channel) -> PortResult<()> {
        let ch = channel.clone();
        self.write(move |c| insert_channel(c, &ch)).await
    }

    async fn update_channel(&self, channel: &Channel) -> PortResult<()> {
        let ch = channel.clone();
        self.write(move |c| update_channel_row(c, &ch)).await
    }

    async fn update_channels(&self, channels: &[Channel]) -> PortResult<()> {
        let channels = channels.to_vec();
        self.write(move |c| {
            for ch in &channels {
                update_channel_row(c, ch)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_channel(&self, id: ChannelId) -> PortResult<Option<Channel>> {
        self.lookup(move |c| select_channel(c, id)).await
    }

    async fn list_guild_channels(&self, guild: GuildId) -> PortResult<Vec<Channel>> {
        self.read(move |c| {
            query_channels(c, "SELECT data, last_message_id FROM channels WHERE guild_id = ?1 ORDER BY position, id", [sql_id(guild.get())])
        })
        .await
    }

    async fn delete_channel(&self, id: ChannelId) -> PortResult<()> {
        self.write(move |c| delete_channel_rows(c, sql_id(id.get())))
            .await
    }

    async fn find_dm_channel(&self, a: UserId, b: UserId) -> PortResult<Option<Channel>> {
        self.lookup(move |c| {
            Ok(query_channels(
                c,
                "SELECT ch.data, ch.last_message_id FROM channels ch
                 JOIN channel_recipients ra ON ra.channel_id = ch.id AND ra.user_id = ?1
                 JOIN channel_recipients rb ON rb.channel_id = ch.id AND rb.user_id = ?2
                 WHERE ch.kind = ?3 ORDER BY ch.id LIMIT 1",
                params![
                    sql_id(a.get()),
                    sql_id(b.get()),
                    channel_kind(ChannelType::Dm)
                ],
            )?
            .pop())
        })
        .await
    }

    async fn list_private_channels(&self, user: UserId) -> PortResult<Vec<Channel>> {
        self.read(move |c| {
            query_channels(
                c,
                "SELECT ch.data, ch.last_message_id FROM channel_recipients r JOIN channels ch ON ch.id = r.channel_id
                 WHERE r.user_id = ?1 AND ch.guild_id IS NULL ORDER BY ch.id",
                [sql_id(user.get())],
            )
        })
        .await
    }
}

#[async_trait]
impl InviteRepository for SqliteStore {
    async fn create_invite(&self, invite: &Invite) -> PortResult<()> {
        let (i, data) = (invite.clone(), to_json(invite)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT INTO invites (code, guild_id, channel_id, pack_id, created_at, expires_at, vanity, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    i.code,
                    i.guild_id.map(|g| sql_id(g.get())),
                    i.channel_id.map(|ch| sql_id(ch.get())),
                    i.pack_id.map(|p| sql_id(p.get())),
                    i.created_at.unix_ms(),
                    i.expires_at().map(|t| t.unix_ms()),
                    i.vanity,
                    data
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_invite(&self, code: &str) -> PortResult<Option<Invite>> {
        let code = code.to_owned();
        self.lookup(move |c| query_one_json(c, "SELECT data FROM invites WHERE code = ?1", [code]))
            .await
    }

    async fn list_guild_invites(&self, guild: GuildId) -> PortResult<Vec<Invite>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM invites WHERE guild_id = ?1 ORDER BY created_at, code",
                [sql_id(guild.get())],
            )
        })
        .await
    }

    async fn list_channel_invites(&self, channel: ChannelId) -> PortResult<Vec<Invite>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM invites WHERE channel_id = ?1 ORDER BY created_at, code",
                [sql_id(channel.get())],
            )
        })
        .await
    }

    async fn list_pack_invites(&self, pack: PackId) -> PortResult<Vec<Invite>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM invites WHERE pack_id = ?1 ORDER BY created_at, code",
                [sql_id(pack.get())],
            )
        })
        .await
    }

    async fn delete_invite(&self, code: &str) -> PortResult<bool> {
        let code = code.to_owned();
        self.write(move |c| Ok(execute(c, "DELETE FROM invites WHERE code = ?1", [code])? > 0))
            .await
    }

    async fn use_invite(&self, code: &str, now: Timestamp) -> PortResult<Option<Invite>> {
        let code = code.to_owned();
        self.write(move |c| {
            let Some(mut invite) =
                query_one_json::<Invite>(c, "SELECT data FROM invites WHERE code = ?1", [&code])?
            else {
                return Ok(None);
            };
            if invite.is_expired(now) || invite.is_used_up() {
                return Ok(None);
            }
            invite.uses += 1;
            execute(
                c,
                "UPDATE invites SET data = ?2 WHERE code = ?1",
                params![code, to_json(&invite)?],
            )?;
            Ok(Some(invite))
        })
        .await
    }

    async fn delete_expired_invites(&self, now: Timestamp) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM invites WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                [now.unix_ms()],
            )? as u64)
        })
        .await
    }
}

#[async_trait]
impl WebhookRepository for SqliteStore {
    async fn create_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        let (w, data) = (webhook.clone(), to_json(webhook)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT INTO webhooks (id, guild_id, channel_id, data) VALUES (?1, ?2, ?3, ?4)",
                params![
                    sql_id(w.id.get()),
                    sql_id(w.guild_id.get()),
                    sql_id(w.channel_id.get()),
                    data
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        let (w, data) = (webhook.clone(), to_json(webhook)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE webhooks SET guild_id = ?2, channel_id = ?3, data = ?4 WHERE id = ?1",
                params![
                    sql_id(w.id.get()),
                    sql_id(w.guild_id.get()),
                    sql_id(w.channel_id.get()),
                    data
                ],
            )
        })
        .await
    }

    async fn get_webhook(&self, id: WebhookId) -> PortResult<Option<Webhook>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM webhooks WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_channel_webhooks(&self, channel: ChannelId) -> PortResult<Vec<Webhook>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM webhooks WHERE channel_id = ?1 ORDER BY id",
                [sql_id(channel.get())],
            )
        })
        .await
    }

    async fn list_guild_webhooks(&self, guild: GuildId) -> PortResult<Vec<Webhook>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM webhooks WHERE guild_id = ?1 ORDER BY id",
                [sql_id(guild.get())],
            )
        })
        .await
    }

    async fn delete_webhook(&self, id: WebhookId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(c, "DELETE FROM webhooks WHERE id = ?1", [sql_id(id.get())])? > 0)
        })
        .await
    }
}
