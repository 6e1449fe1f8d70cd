//! Guilds, with their members, roles and bans.

use async_trait::async_trait;
use fluxer_core::id::{AuditLogId, ExpressionId, GuildId, RoleId, UserId};
use fluxer_core::model::{
    AuditEntry, AuditQuery, Ban, Channel, Expression, ExpressionKind, Guild, Member, Role,
};
use fluxer_core::ports::{
    AuditLogRepository, BanRepository, ExpressionRepository, GuildRepository, MemberRepository,
    PortResult, RoleRepository,
};
use rusqlite::{Connection, params};

use super::channels::{delete_channel_rows, insert_channel};
use super::{
    db, distinct_ids, execute, execute_existing, query_json, query_json_by_ids,
    query_json_scoped_by_ids, query_one_json, sql_id, to_json,
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
        self.lookup(move |c| select_guild(c, id)).await
    }

    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        self.read(move |c| query_json_by_ids(c, "guilds", &ids))
            .await
    }

    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>> {
        let code = code.to_owned();
        self.lookup(move |c| query_one_json(c, "SELECT data FROM guilds WHERE vanity = ?1", [code]))
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
                "DELETE FROM discovery_applications WHERE guild_id = ?1",
                "DELETE FROM expressions WHERE guild_id = ?1",
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
        self.lookup(move |c| select_member(c, guild, user)).await
    }

    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(users.iter().map(|u| u.get()));
        let guild = sql_id(guild.get());
        self.lookup(move |c| {
            query_json_scoped_by_ids(c, "members", ("guild_id", guild), "user_id", &ids)
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
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM roles WHERE guild_id = ?1 AND id = ?2",
                params![sql_id(guild.get()), sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>> {
        self.lookup(move |c| select_roles(c, guild)).await
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
            // Only the members holding the role are decoded and rewritten. A role ID is a JSON string
            // as written, though a number reads back too: compare as text.
            let members: Vec<Member> = query_json(
                c,
                "SELECT data FROM members WHERE guild_id = ?1 AND EXISTS (
                     SELECT 1 FROM json_each(members.data, '$.roles') WHERE CAST(value AS TEXT) = ?2)",
                params![gid, id.get().to_string()],
            )?;
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
        self.lookup(move |c| {
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

pub(super) fn select_guild(c: &Connection, id: GuildId) -> PortResult<Option<Guild>> {
    query_one_json(
        c,
        "SELECT data FROM guilds WHERE id = ?1",
        [sql_id(id.get())],
    )
}

pub(super) fn select_member(
    c: &Connection,
    guild: GuildId,
    user: UserId,
) -> PortResult<Option<Member>> {
    query_one_json(
        c,
        "SELECT data FROM members WHERE guild_id = ?1 AND user_id = ?2",
        params![sql_id(guild.get()), sql_id(user.get())],
    )
}

/// Sorted by position, then ID.
pub(super) fn select_roles(c: &Connection, guild: GuildId) -> PortResult<Vec<Role>> {
    query_json(
        c,
        "SELECT data FROM roles WHERE guild_id = ?1 ORDER BY position, id",
        [sql_id(guild.get())],
    )
}

#[async_trait]
impl AuditLogRepository for SqliteStore {
    async fn add_audit_entry(&self, entry: &AuditEntry) -> PortResult<()> {
        let (e, data) = (entry.clone(), to_json(entry)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO audit_log (guild_id, id, user_id, action_type, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sql_id(e.guild_id.get()),
                    sql_id(e.id.get()),
                    e.user_id.map(|u| sql_id(u.get())),
                    i64::from(e.action_type),
                    data
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_audit_entries(
        &self,
        guild: GuildId,
        query: &AuditQuery,
    ) -> PortResult<Vec<AuditEntry>> {
        let q = *query;
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM audit_log WHERE guild_id = ?1 \
                 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR id > ?3) \
                 AND (?4 IS NULL OR user_id = ?4) AND (?5 IS NULL OR action_type = ?5) \
                 ORDER BY id DESC LIMIT ?6",
                params![
                    sql_id(guild.get()),
                    q.before.map(|b| sql_id(b.get())),
                    q.after.map(|a| sql_id(a.get())),
                    q.user_id.map(|u| sql_id(u.get())),
                    q.action_type.map(i64::from),
                    i64::from(q.limit)
                ],
            )
        })
        .await
    }

    async fn delete_audit_entries_before(&self, before: AuditLogId) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM audit_log WHERE id < ?1",
                [sql_id(before.get())],
            )? as u64)
        })
        .await
    }
}

#[async_trait]
impl ExpressionRepository for SqliteStore {
    async fn put_expression(&self, expression: &Expression) -> PortResult<()> {
        let (e, data) = (expression.clone(), to_json(expression)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO expressions (id, guild_id, kind, data) VALUES (?1, ?2, ?3, ?4)",
                params![sql_id(e.id.get()), sql_id(e.guild_id.get()), e.kind.code(), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_expression(&self, id: ExpressionId) -> PortResult<Option<Expression>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM expressions WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn get_expressions(&self, ids: &[ExpressionId]) -> PortResult<Vec<Expression>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        self.read(move |c| query_json_by_ids(c, "expressions", &ids))
            .await
    }

    async fn list_guild_expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> PortResult<Vec<Expression>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM expressions WHERE guild_id = ?1 AND kind = ?2 ORDER BY id",
                params![sql_id(guild.get()), kind.code()],
            )
        })
        .await
    }

    async fn delete_expression(&self, id: ExpressionId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM expressions WHERE id = ?1",
                [sql_id(id.get())],
            )? > 0)
        })
        .await
    }
}
