//! Guilds, with their members, roles and bans.

use crate::postgres::Db;
use async_trait::async_trait;
use fluxer_core::id::{AuditLogId, ExpressionId, GuildId, RoleId, UserId};
use fluxer_core::model::{
    AuditEntry, AuditQuery, Ban, Channel, Expression, ExpressionKind, Guild, Member, Role,
};
use fluxer_core::ports::{
    AuditLogRepository, BanRepository, ExpressionRepository, GuildRepository, MemberRepository,
    PortResult, RoleRepository,
};
use tokio_postgres::types::Json;

use super::channels::{delete_channel_rows, insert_channel};
use super::{
    column, distinct_ids, execute, execute_existing, query, query_json, query_one_json, sql_id,
    sql_limit,
};
use crate::postgres::{Failure, PostgresStore, transaction};

async fn insert_guild(c: &impl Db, guild: &Guild) -> Result<(), Failure> {
    execute(
        c,
        "INSERT INTO guilds (id, vanity, data) VALUES ($1, $2, $3)",
        &[
            &sql_id(guild.id.get()),
            &guild.vanity_url_code,
            &Json(guild),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_role(c: &impl Db, role: &Role) -> Result<(), Failure> {
    execute(
        c,
        "INSERT INTO roles (guild_id, id, position, data) VALUES ($1, $2, $3, $4)",
        &[
            &sql_id(role.guild_id.get()),
            &sql_id(role.id.get()),
            &role.position,
            &Json(role),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_member(c: &impl Db, m: &Member) -> Result<(), Failure> {
    execute(
        c,
        "INSERT INTO members (guild_id, user_id, data) VALUES ($1, $2, $3)",
        &[
            &sql_id(m.guild_id.get()),
            &sql_id(m.user_id.get()),
            &Json(m),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl GuildRepository for PostgresStore {
    async fn create_guild(
        &self,
        guild: &Guild,
        roles: &[Role],
        channels: &[Channel],
        owner: &Member,
    ) -> PortResult<()> {
        transaction!(self, |tx| {
            insert_guild(tx, guild).await?;
            for r in roles {
                insert_role(tx, r).await?;
            }
            for ch in channels {
                insert_channel(tx, ch).await?;
            }
            insert_member(tx, owner).await?;
        })
    }

    async fn update_guild(&self, guild: &Guild) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE guilds SET vanity = $2, data = $3 WHERE id = $1",
            &[
                &sql_id(guild.id.get()),
                &guild.vanity_url_code,
                &Json(guild),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_guild(&self, id: GuildId) -> PortResult<Option<Guild>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM guilds WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        let c = self.client().await?;
        Ok(query_json(&c, "SELECT data FROM guilds WHERE id = ANY($1)", &[&ids]).await?)
    }

    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>> {
        let c = self.client().await?;
        Ok(query_one_json(&c, "SELECT data FROM guilds WHERE vanity = $1", &[&code]).await?)
    }

    async fn delete_guild(&self, id: GuildId) -> PortResult<()> {
        let gid = sql_id(id.get());
        transaction!(self, |tx| {
            let channels: Vec<i64> =
                query(tx, "SELECT id FROM channels WHERE guild_id = $1", &[&gid])
                    .await?
                    .iter()
                    .map(|row| column(row, 0))
                    .collect::<Result<_, _>>()?;
            delete_channel_rows(tx, &channels).await?;
            for sql in [
                "DELETE FROM roles WHERE guild_id = $1",
                "DELETE FROM members WHERE guild_id = $1",
                "DELETE FROM invites WHERE guild_id = $1",
                "DELETE FROM bans WHERE guild_id = $1",
                "DELETE FROM webhooks WHERE guild_id = $1",
                "DELETE FROM discovery_applications WHERE guild_id = $1",
                "DELETE FROM expressions WHERE guild_id = $1",
                "DELETE FROM guilds WHERE id = $1",
            ] {
                execute(tx, sql, &[&gid]).await?;
            }
        })
    }
}

#[async_trait]
impl MemberRepository for PostgresStore {
    async fn add_member(&self, member: &Member) -> PortResult<()> {
        let c = self.client().await?;
        Ok(insert_member(&c, member).await?)
    }

    async fn update_member(&self, member: &Member) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE members SET data = $3 WHERE guild_id = $1 AND user_id = $2",
            &[
                &sql_id(member.guild_id.get()),
                &sql_id(member.user_id.get()),
                &Json(member),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_member(&self, guild: GuildId, user: UserId) -> PortResult<Option<Member>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM members WHERE guild_id = $1 AND user_id = $2",
            &[&sql_id(guild.get()), &sql_id(user.get())],
        )
        .await?)
    }

    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(users.iter().map(|u| u.get()));
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM members WHERE guild_id = $1 AND user_id = ANY($2)",
            &[&sql_id(guild.get()), &ids],
        )
        .await?)
    }

    async fn list_members(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Member>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM members WHERE guild_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
            &[
                &sql_id(guild.get()),
                &after.map_or(-1, |a| sql_id(a.get())),
                &sql_limit(limit),
            ],
        )
        .await?)
    }

    async fn remove_member(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM members WHERE guild_id = $1 AND user_id = $2",
            &[&sql_id(guild.get()), &sql_id(user.get())],
        )
        .await?
            > 0)
    }

    async fn count_members(&self, guild: GuildId) -> PortResult<u64> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT COUNT(*) FROM members WHERE guild_id = $1",
            &[&sql_id(guild.get())],
        )
        .await?;
        let count: i64 = match rows.first() {
            Some(row) => column(row, 0)?,
            None => 0,
        };
        Ok(count as u64)
    }

    async fn list_user_guild_ids(&self, user: UserId) -> PortResult<Vec<GuildId>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT guild_id FROM members WHERE user_id = $1 ORDER BY guild_id",
            &[&sql_id(user.get())],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| column::<i64>(row, 0).map(|id| GuildId::new(id as u64)))
            .collect::<Result<_, _>>()?)
    }
}

#[async_trait]
impl RoleRepository for PostgresStore {
    async fn create_role(&self, role: &Role) -> PortResult<()> {
        let c = self.client().await?;
        Ok(insert_role(&c, role).await?)
    }

    async fn update_roles(&self, roles: &[Role]) -> PortResult<()> {
        // Rows locked in key order, so two batches over the same roles cannot deadlock. A stable sort
        // keeps the last of two edits of one role last.
        let mut ordered: Vec<&Role> = roles.iter().collect();
        ordered.sort_by_key(|r| (r.guild_id, r.id));
        let ordered = &ordered;
        transaction!(self, |tx| {
            for r in ordered {
                execute_existing(
                    tx,
                    "UPDATE roles SET position = $3, data = $4 WHERE guild_id = $1 AND id = $2",
                    &[
                        &sql_id(r.guild_id.get()),
                        &sql_id(r.id.get()),
                        &r.position,
                        &Json(r),
                    ],
                )
                .await?;
            }
        })
    }

    async fn get_role(&self, guild: GuildId, id: RoleId) -> PortResult<Option<Role>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM roles WHERE guild_id = $1 AND id = $2",
            &[&sql_id(guild.get()), &sql_id(id.get())],
        )
        .await?)
    }

    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM roles WHERE guild_id = $1 ORDER BY position, id",
            &[&sql_id(guild.get())],
        )
        .await?)
    }

    async fn delete_role(&self, guild: GuildId, id: RoleId) -> PortResult<bool> {
        let (gid, rid) = (sql_id(guild.get()), sql_id(id.get()));
        let role_text = id.get().to_string();
        let role_text = role_text.as_str();
        transaction!(self, |tx| {
            let deleted = execute(
                tx,
                "DELETE FROM roles WHERE guild_id = $1 AND id = $2",
                &[&gid, &rid],
            )
            .await?
                > 0;
            if deleted {
                // Only the members holding the role are rewritten, in SQL, keeping the order of their
                // other roles. A role ID is a JSON string as written, though a number reads back too:
                // compare as text.
                execute(
                    tx,
                    "UPDATE members SET data = jsonb_set(data, '{roles}', COALESCE(
                         (SELECT jsonb_agg(e.role ORDER BY e.n)
                            FROM jsonb_array_elements(members.data->'roles') WITH ORDINALITY AS e(role, n)
                           WHERE e.role #>> '{}' <> $2),
                         '[]'::JSONB))
                     WHERE guild_id = $1 AND EXISTS (
                         SELECT 1 FROM jsonb_array_elements_text(members.data->'roles') AS r(role)
                          WHERE r.role = $2)",
                    &[&gid, &role_text],
                )
                .await?;
            }
            deleted
        })
    }
}

#[async_trait]
impl BanRepository for PostgresStore {
    async fn put_ban(&self, ban: &Ban) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO bans (guild_id, user_id, data) VALUES ($1, $2, $3)
             ON CONFLICT (guild_id, user_id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(ban.guild_id.get()),
                &sql_id(ban.user_id.get()),
                &Json(ban),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_ban(&self, guild: GuildId, user: UserId) -> PortResult<Option<Ban>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM bans WHERE guild_id = $1 AND user_id = $2",
            &[&sql_id(guild.get()), &sql_id(user.get())],
        )
        .await?)
    }

    async fn list_bans(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Ban>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM bans WHERE guild_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
            &[
                &sql_id(guild.get()),
                &after.map_or(-1, |a| sql_id(a.get())),
                &sql_limit(limit),
            ],
        )
        .await?)
    }

    async fn delete_ban(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2",
            &[&sql_id(guild.get()), &sql_id(user.get())],
        )
        .await?
            > 0)
    }
}

#[async_trait]
impl AuditLogRepository for PostgresStore {
    async fn add_audit_entry(&self, entry: &AuditEntry) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO audit_log (guild_id, id, user_id, action_type, data)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (guild_id, id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(entry.guild_id.get()),
                &sql_id(entry.id.get()),
                &entry.user_id.map(|u| sql_id(u.get())),
                &i32::from(entry.action_type),
                &Json(entry),
            ],
        )
        .await?;
        Ok(())
    }

    async fn list_audit_entries(
        &self,
        guild: GuildId,
        query: &AuditQuery,
    ) -> PortResult<Vec<AuditEntry>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM audit_log WHERE guild_id = $1
             AND ($2::BIGINT IS NULL OR id < $2) AND ($3::BIGINT IS NULL OR id > $3)
             AND ($4::BIGINT IS NULL OR user_id = $4) AND ($5::INTEGER IS NULL OR action_type = $5)
             ORDER BY id DESC LIMIT $6",
            &[
                &sql_id(guild.get()),
                &query.before.map(|b| sql_id(b.get())),
                &query.after.map(|a| sql_id(a.get())),
                &query.user_id.map(|u| sql_id(u.get())),
                &query.action_type.map(i32::from),
                &i64::from(query.limit),
            ],
        )
        .await?)
    }

    async fn delete_audit_entries_before(&self, before: AuditLogId) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM audit_log WHERE id < $1",
            &[&sql_id(before.get())],
        )
        .await?)
    }
}

#[async_trait]
impl ExpressionRepository for PostgresStore {
    async fn put_expression(&self, expression: &Expression) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO expressions (id, guild_id, kind, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(expression.id.get()),
                &sql_id(expression.guild_id.get()),
                &(expression.kind.code() as i16),
                &Json(expression),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_expression(&self, id: ExpressionId) -> PortResult<Option<Expression>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM expressions WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn get_expressions(&self, ids: &[ExpressionId]) -> PortResult<Vec<Expression>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM expressions WHERE id = ANY($1)",
            &[&ids],
        )
        .await?)
    }

    async fn list_guild_expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> PortResult<Vec<Expression>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM expressions WHERE guild_id = $1 AND kind = $2 ORDER BY id",
            &[&sql_id(guild.get()), &(kind.code() as i16)],
        )
        .await?)
    }

    async fn delete_expression(&self, id: ExpressionId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM expressions WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?
            > 0)
    }
}
