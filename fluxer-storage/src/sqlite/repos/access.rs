//! What authorizing a request reads, each in one read transaction on one pooled connection: one
//! snapshot, one lookup, instead of a lookup (and a read transaction to begin and end) per piece.

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::model::{AuthSession, Channel, Guild, Member, Role, User};
use fluxer_core::ports::{AccessRepository, GuildStanding, PortResult};
use rusqlite::{Connection, params};

use super::channels::query_channels;
use super::{db, query_json, query_one_json, sql_id};
use crate::sqlite::SqliteStore;

/// Runs `f` inside one read transaction, so every statement sees the same snapshot.
fn in_snapshot<T>(c: &Connection, f: impl FnOnce(&Connection) -> PortResult<T>) -> PortResult<T> {
    let snapshot = c.unchecked_transaction().map_err(db)?;
    let result = f(c)?;
    snapshot.commit().map_err(db)?;
    Ok(result)
}

fn guild_standing(
    c: &Connection,
    guild: GuildId,
    user: UserId,
) -> PortResult<Option<GuildStanding>> {
    let guild_row: Option<Guild> = query_one_json(
        c,
        "SELECT data FROM guilds WHERE id = ?1",
        [sql_id(guild.get())],
    )?;
    let Some(found) = guild_row else {
        return Ok(None);
    };
    let member: Option<Member> = query_one_json(
        c,
        "SELECT data FROM members WHERE guild_id = ?1 AND user_id = ?2",
        params![sql_id(guild.get()), sql_id(user.get())],
    )?;
    let Some(member) = member else {
        return Ok(None);
    };
    let roles: Vec<Role> = query_json(
        c,
        "SELECT data FROM roles WHERE guild_id = ?1 ORDER BY position, id",
        [sql_id(guild.get())],
    )?;
    Ok(Some(GuildStanding {
        guild: found,
        member,
        roles,
    }))
}

#[async_trait]
impl AccessRepository for SqliteStore {
    async fn get_session_user(
        &self,
        token_hash: &[u8; 32],
    ) -> PortResult<Option<(AuthSession, User)>> {
        let hash = *token_hash;
        self.lookup(move |c| {
            in_snapshot(c, |c| {
                let session: Option<AuthSession> = query_one_json(
                    c,
                    "SELECT data FROM sessions WHERE token_hash = ?1",
                    [&hash[..]],
                )?;
                let Some(session) = session else {
                    return Ok(None);
                };
                let user: Option<User> = query_one_json(
                    c,
                    "SELECT data FROM users WHERE id = ?1",
                    [sql_id(session.user_id.get())],
                )?;
                Ok(user.map(|u| (session, u)))
            })
        })
        .await
    }

    async fn get_guild_standing(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> PortResult<Option<GuildStanding>> {
        self.lookup(move |c| in_snapshot(c, |c| guild_standing(c, guild, user)))
            .await
    }

    async fn get_channel_standing(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> PortResult<Option<(Channel, Option<GuildStanding>)>> {
        self.lookup(move |c| {
            in_snapshot(c, |c| {
                let Some(found) = query_channels(
                    c,
                    "SELECT data, last_message_id FROM channels WHERE id = ?1",
                    [sql_id(channel.get())],
                )?
                .pop() else {
                    return Ok(None);
                };
                let standing = match found.guild_id {
                    Some(guild) => guild_standing(c, guild, user)?,
                    None => None,
                };
                Ok(Some((found, standing)))
            })
        })
        .await
    }
}
