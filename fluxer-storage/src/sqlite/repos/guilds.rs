//! Guilds, channels, members, roles, invites, bans and webhooks.

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, RoleId, UserId, WebhookId};
use fluxer_core::model::{Ban, Channel, ChannelType, Guild, Invite, Member, Role, Webhook};
use fluxer_core::ports::{
    BanRepository, ChannelRepository, GuildRepository, InviteRepository, MemberRepository,
    PortResult, RoleRepository, WebhookRepository,
};
use fluxer_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::{
    db, execute, execute_existing, from_json, placeholders, query_json, query_one_json, sql_id,
    to_json,
};
use crate::sqlite::SqliteStore;

fn insert_guild(c: &Connection, guild: &Guild) -> PortResult<()> {
    execute(
        c,
        "INSERT INTO guilds (id, vanity, data) VALUES (?1, ?2, ?3)",
        params![
            sql_id(guild.id.get()),
            guild.vanity_url_code,
            to_json(guild)?
        ],
    )?;
    Ok(())
}

fn insert_role(c: &Connection, role: &Role) -> PortResult<()> {
    execute(
        c,
        "INSERT INTO roles (guild_id, id, position, data) VALUES (?1, ?2, ?3, ?4)",
        params![
            sql_id(role.guild_id.get()),
            sql_id(role.id.get()),
            role.position,
            to_json(role)?
        ],
    )?;
    Ok(())
}

fn insert_member(c: &Connection, m: &Member) -> PortResult<()> {
    execute(
        c,
        "INSERT INTO members (guild_id, user_id, data) VALUES (?1, ?2, ?3)",
        params![
            sql_id(m.guild_id.get()),
            sql_id(m.user_id.get()),
            to_json(m)?
        ],
    )?;
    Ok(())
}

fn channel_kind(kind: ChannelType) -> i64 {
    i64::from(u16::from(kind))
}

fn insert_channel(c: &Connection, ch: &Channel) -> PortResult<()> {
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
            let last = fluxer_core::id::MessageId::new(last as u64);
            ch.last_message_id = Some(ch.last_message_id.map_or(last, |m| m.max(last)));
        }
        out.push(ch);
    }
    Ok(out)
}

/// Deletes a channel and what lives in it (a vanity invite stays: it belongs to the guild).
fn delete_channel_rows(c: &Connection, id: i64) -> PortResult<()> {
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
impl GuildRepository for SqliteStore {
    async fn create_guild(
        &self,
        guild: &Guild,
        roles: &[Role],
        channels: &[Channel],
        owner: &Member,
    ) -> PortResult<()> {
        let (guild, roles, channels, owner) = (
            guild.clone(),
            roles.to_vec(),
            channels.to_vec(),
            owner.clone(),
        );
        self.write(move |c| {
            insert_guild(c, &guild)?;
            for r in &roles {
                insert_role(c, r)?;
            }
            for ch in &channels {
                insert_channel(c, ch)?;
            }
            insert_member(c, &owner)
        })
        .await
    }

    async fn update_guild(&self, guild: &Guild) -> PortResult<()> {
        let (g, data) = (guild.clone(), to_json(guild)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE guilds SET vanity = ?2, data = ?3 WHERE id = ?1",
                params![sql_id(g.id.get()), g.vanity_url_code, data],
            )
        })
        .await
    }

    async fn get_guild(&self, id: GuildId) -> PortResult<Option<Guild>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM guilds WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|i| sql_id(i.get())).collect();
        self.read(move |c| {
            let mut out = Vec::new();
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "SELECT data FROM guilds WHERE id IN ({})",
                    placeholders(chunk.len())
                );
                out.extend(query_json::<Guild>(
                    c,
                    &sql,
                    rusqlite::params_from_iter(chunk),
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>> {
        let code = code.to_owned();
        self.read(move |c| query_one_json(c, "SELECT data FROM guilds WHERE vanity = ?1", [code]))
            .await
    }

    async fn delete_guild(&self, id: GuildId) -> PortResult<()> {
        let gid = sql_id(id.get());
        self.write(move |c| {
            let channels: Vec<i64> = {
                let mut stmt = c
                    .prepare_cached("SELECT id FROM channels WHERE guild_id = ?1")
                    .map_err(db)?;
                let rows = stmt.query_map([gid], |r| r.get(0)).map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)?
            };
            for ch in channels {
                delete_channel_rows(c, ch)?;
            }
            for sql in [
                "DELETE FROM roles WHERE guild_id = ?1",
                "DELETE FROM members WHERE guild_id = ?1",
                "DELETE FROM invites WHERE guild_id = ?1",
                "DELETE FROM bans WHERE guild_id = ?1",
                "DELETE FROM webhooks WHERE guild_id = ?1",
                "DELETE FROM guilds WHERE id = ?1",
            ] {
                execute(c, sql, [gid])?;
            }
            Ok(())
        })
        .await
    }
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
        self.read(move |c| {
            Ok(query_channels(
                c,
                "SELECT data, last_message_id FROM channels WHERE id = ?1",
                [sql_id(id.get())],
            )?
            .pop())
        })
        .await
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
        self.read(move |c| {
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
impl MemberRepository for SqliteStore {
    async fn add_member(&self, member: &Member) -> PortResult<()> {
        let m = member.clone();
        self.write(move |c| insert_member(c, &m)).await
    }

    async fn update_member(&self, member: &Member) -> PortResult<()> {
        let (m, data) = (member.clone(), to_json(member)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE members SET data = ?3 WHERE guild_id = ?1 AND user_id = ?2",
                params![sql_id(m.guild_id.get()), sql_id(m.user_id.get()), data],
            )
        })
        .await
    }

    async fn get_member(&self, guild: GuildId, user: UserId) -> PortResult<Option<Member>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM members WHERE guild_id = ?1 AND user_id = ?2",
                params![sql_id(guild.get()), sql_id(user.get())],
            )
        })
        .await
    }

    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = users.iter().map(|u| sql_id(u.get())).collect();
        self.read(move |c| {
            let mut out = Vec::new();
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "SELECT data FROM members WHERE guild_id = ? AND user_id IN ({})",
                    placeholders(chunk.len())
                );
                let mut params: Vec<i64> = vec![sql_id(guild.get())];
                params.extend_from_slice(chunk);
                out.extend(query_json::<Member>(
                    c,
                    &sql,
                    rusqlite::params_from_iter(params),
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_members(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Member>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM members WHERE guild_id = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3",
                params![sql_id(guild.get()), after.map_or(-1, |a| sql_id(a.get())), limit],
            )
        })
        .await
    }

    async fn remove_member(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM members WHERE guild_id = ?1 AND user_id = ?2",
                params![sql_id(guild.get()), sql_id(user.get())],
            )? > 0)
        })
        .await
    }

    async fn count_members(&self, guild: GuildId) -> PortResult<u64> {
        self.read(move |c| {
            c.prepare_cached("SELECT COUNT(*) FROM members WHERE guild_id = ?1")
                .map_err(db)?
                .query_row([sql_id(guild.get())], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db)
        })
        .await
    }

    async fn list_user_guild_ids(&self, user: UserId) -> PortResult<Vec<GuildId>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT guild_id FROM members WHERE user_id = ?1 ORDER BY guild_id")
                .map_err(db)?;
            let rows = stmt
                .query_map([sql_id(user.get())], |r| r.get::<_, i64>(0))
                .map_err(db)?;
            rows.map(|r| r.map(|id| GuildId::new(id as u64)).map_err(db))
                .collect()
        })
        .await
    }
}

#[async_trait]
impl RoleRepository for SqliteStore {
    async fn create_role(&self, role: &Role) -> PortResult<()> {
        let r = role.clone();
        self.write(move |c| insert_role(c, &r)).await
    }

    async fn update_roles(&self, roles: &[Role]) -> PortResult<()> {
        let roles = roles.to_vec();
        self.write(move |c| {
            for r in &roles {
                execute_existing(
                    c,
                    "UPDATE roles SET position = ?3, data = ?4 WHERE guild_id = ?1 AND id = ?2",
                    params![
                        sql_id(r.guild_id.get()),
                        sql_id(r.id.get()),
                        r.position,
                        to_json(r)?
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_role(&self, guild: GuildId, id: RoleId) -> PortResult<Option<Role>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM roles WHERE guild_id = ?1 AND id = ?2",
                params![sql_id(guild.get()), sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM roles WHERE guild_id = ?1 ORDER BY position, id",
                [sql_id(guild.get())],
            )
        })
        .await
    }

    async fn delete_role(&self, guild: GuildId, id: RoleId) -> PortResult<bool> {
        self.write(move |c| {
            let gid = sql_id(guild.get());
            if execute(
                c,
                "DELETE FROM roles WHERE guild_id = ?1 AND id = ?2",
                params![gid, sql_id(id.get())],
            )? == 0
            {
                return Ok(false);
            }
            let members: Vec<Member> =
                query_json(c, "SELECT data FROM members WHERE guild_id = ?1", [gid])?;
            for mut m in members.into_iter().filter(|m| m.roles.contains(&id)) {
                m.roles.retain(|r| *r != id);
                execute(
                    c,
                    "UPDATE members SET data = ?3 WHERE guild_id = ?1 AND user_id = ?2",
                    params![gid, sql_id(m.user_id.get()), to_json(&m)?],
                )?;
            }
            Ok(true)
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
                "INSERT INTO invites (code, guild_id, channel_id, created_at, expires_at, vanity, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    i.code,
                    i.guild_id.map(|g| sql_id(g.get())),
                    sql_id(i.channel_id.get()),
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
        self.read(move |c| query_one_json(c, "SELECT data FROM invites WHERE code = ?1", [code]))
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
impl BanRepository for SqliteStore {
    async fn put_ban(&self, ban: &Ban) -> PortResult<()> {
        let (b, data) = (ban.clone(), to_json(ban)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO bans (guild_id, user_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(b.guild_id.get()), sql_id(b.user_id.get()), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_ban(&self, guild: GuildId, user: UserId) -> PortResult<Option<Ban>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM bans WHERE guild_id = ?1 AND user_id = ?2",
                params![sql_id(guild.get()), sql_id(user.get())],
            )
        })
        .await
    }

    async fn list_bans(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Ban>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM bans WHERE guild_id = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3",
                params![sql_id(guild.get()), after.map_or(-1, |a| sql_id(a.get())), limit],
            )
        })
        .await
    }

    async fn delete_ban(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM bans WHERE guild_id = ?1 AND user_id = ?2",
                params![sql_id(guild.get()), sql_id(user.get())],
            )? > 0)
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
        self.read(move |c| {
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
