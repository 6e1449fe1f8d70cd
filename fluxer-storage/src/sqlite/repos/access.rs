//! What authorizing a request reads, each in one read transaction on one pooled connection: one
//! snapshot, one lookup, instead of a lookup (and a read transaction to begin and end) per piece. The
//! statements are the single-entity getters' own. Answers are kept in the store's access cache (see
//! `crate::access_cache`), which the writer invalidates.

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::model::{AuthSession, Channel, User};
use fluxer_core::ports::{AccessRepository, GuildStanding, PortResult};
use rusqlite::Connection;

use super::accounts::{select_session, select_user};
use super::channels::select_channel;
use super::db;
use super::guilds::{select_guild, select_member, select_roles};
use crate::sqlite::{SqliteStore, run_cached};

/// Runs `f` inside one read transaction, so every statement sees the same snapshot. (The connections
/// are read-only: ending with COMMIT after a failed read is the same as a rollback.)
fn in_snapshot<T>(c: &Connection, f: impl FnOnce(&Connection) -> PortResult<T>) -> PortResult<T> {
    run_cached(c, "BEGIN").map_err(db)?;
    let result = f(c);
    run_cached(c, "COMMIT").map_err(db)?;
    result
}

fn guild_standing(
    c: &Connection,
    guild: GuildId,
    user: UserId,
) -> PortResult<Option<GuildStanding>> {
    let Some(found) = select_guild(c, guild)? else {
        return Ok(None);
    };
    let Some(member) = select_member(c, guild, user)? else {
        return Ok(None);
    };
    Ok(Some(GuildStanding {
        guild: found,
        member,
        roles: select_roles(c, guild)?,
    }))
}

#[async_trait]
impl AccessRepository for SqliteStore {
    async fn get_session_user(
        &self,
        token_hash: &[u8; 32],
    ) -> PortResult<Option<(AuthSession, User)>> {
        let cache = &self.inner.access;
        if let Some(found) = cache.session(token_hash) {
            return Ok(found);
        }
        let (hash, generation) = (*token_hash, cache.generation());
        let found = self
            .lookup(move |c| {
                in_snapshot(c, |c| {
                    let Some(session) = select_session(c, &hash)? else {
                        return Ok(None);
                    };
                    Ok(select_user(c, session.user_id)?.map(|u| (session, u)))
                })
            })
            .await?;
        cache.put_session(hash, generation, found.clone());
        Ok(found)
    }

    async fn get_guild_standing(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> PortResult<Option<GuildStanding>> {
        let cache = &self.inner.access;
        if let Some(found) = cache.guild(guild, user) {
            return Ok(found);
        }
        let generation = cache.generation();
        let found = self
            .lookup(move |c| in_snapshot(c, |c| guild_standing(c, guild, user)))
            .await?;
        cache.put_guild(guild, user, generation, found.clone());
        Ok(found)
    }

    async fn get_channel_standing(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> PortResult<Option<(Channel, Option<GuildStanding>)>> {
        let cache = &self.inner.access;
        if let Some(found) = cache.channel(channel, user) {
            return Ok(found);
        }
        let generation = cache.generation();
        let found = self
            .lookup(move |c| {
                in_snapshot(c, |c| {
                    let Some(found) = select_channel(c, channel)? else {
                        return Ok(None);
                    };
                    let standing = match found.guild_id {
                        Some(guild) => guild_standing(c, guild, user)?,
                        None => None,
                    };
                    Ok(Some((found, standing)))
                })
            })
            .await?;
        cache.put_channel(channel, user, generation, found.clone());
        Ok(found)
    }
}
