//! What authorizing a request reads, each in one statement: one snapshot and one round trip, instead
//! of a pooled connection and a round trip per piece (two for a session, four for a channel). On a
//! history page these were six of the nine statements a request ran. Answers are kept in the store's
//! access cache (see `crate::access_cache` and `listener`).

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::model::{AuthSession, Channel, Guild, Member, Role, User};
use fluxer_core::ports::{AccessRepository, GuildStanding, PortResult};
use tokio_postgres::Row;

use super::{column, decode, decode_optional, query, sql_id};
use crate::access_cache::AccessCache;
use crate::postgres::{Failure, PostgresStore};

/// Every role of the guild `$g` names, as one JSON array sorted as `list_roles` sorts them.
macro_rules! roles_of {
    ($g:literal) => {
        concat!(
            "(SELECT COALESCE(jsonb_agg(r.data ORDER BY r.position, r.id), '[]'::jsonb) FROM roles r WHERE r.guild_id = ",
            $g,
            ")"
        )
    };
}

/// The standing in columns `guild`, `guild + 1` (the member) and `guild + 2` (the roles).
fn standing(row: &Row, guild: usize) -> Result<Option<GuildStanding>, Failure> {
    let (Some(found), Some(member)) = (
        decode_optional::<Guild>(row, guild)?,
        decode_optional::<Member>(row, guild + 1)?,
    ) else {
        return Ok(None);
    };
    let roles = decode_optional::<Vec<Role>>(row, guild + 2)?.unwrap_or_default();
    Ok(Some(GuildStanding {
        guild: found,
        member,
        roles,
    }))
}

#[async_trait]
impl AccessRepository for PostgresStore {
    async fn get_session_user(
        &self,
        token_hash: &[u8; 32],
    ) -> PortResult<Option<(AuthSession, User)>> {
        let cache = self.access_cache();
        if let Some(found) = cache.and_then(|cache| cache.session(token_hash)) {
            return Ok(found);
        }
        let generation = cache.map(AccessCache::generation);
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT s.data, u.data FROM sessions s JOIN users u ON u.id = s.user_id
              WHERE s.token_hash = $1",
            &[&token_hash.as_slice()],
        )
        .await?;
        let found = match rows.first() {
            Some(row) => match (decode_optional(row, 0)?, decode_optional(row, 1)?) {
                (Some(session), Some(user)) => Some((session, user)),
                _ => None,
            },
            None => None,
        };
        if let (Some(cache), Some(generation)) = (cache, generation) {
            cache.put_session(*token_hash, generation, found.clone());
        }
        Ok(found)
    }

    async fn get_guild_standing(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> PortResult<Option<GuildStanding>> {
        let cache = self.access_cache();
        if let Some(found) = cache.and_then(|cache| cache.guild(guild, user)) {
            return Ok(found);
        }
        let generation = cache.map(AccessCache::generation);
        let c = self.client().await?;
        let rows = query(
            &c,
            concat!(
                "SELECT g.data, m.data, ",
                roles_of!("g.id"),
                " FROM guilds g JOIN members m ON m.guild_id = g.id AND m.user_id = $2
                 WHERE g.id = $1"
            ),
            &[&sql_id(guild.get()), &sql_id(user.get())],
        )
        .await?;
        let found = match rows.first() {
            Some(row) => standing(row, 0)?,
            None => None,
        };
        if let (Some(cache), Some(generation)) = (cache, generation) {
            cache.put_guild(guild, user, generation, found.clone());
        }
        Ok(found)
    }

    async fn get_channel_standing(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> PortResult<Option<(Channel, Option<GuildStanding>)>> {
        let cache = self.access_cache();
        if let Some(found) = cache.and_then(|cache| cache.channel(channel, user)) {
            return Ok(found);
        }
        let generation = cache.map(AccessCache::generation);
        let c = self.client().await?;
        let rows = query(
            &c,
            concat!(
                "SELECT c.data, c.last_message_id, g.data, m.data, ",
                roles_of!("g.id"),
                " FROM channels c
                  LEFT JOIN guilds g ON g.id = c.guild_id
                  LEFT JOIN members m ON m.guild_id = c.guild_id AND m.user_id = $2
                 WHERE c.id = $1"
            ),
            &[&sql_id(channel.get()), &sql_id(user.get())],
        )
        .await?;
        let Some(row) = rows.first() else {
            if let (Some(cache), Some(generation)) = (cache, generation) {
                cache.put_channel(channel, user, generation, None);
            }
            return Ok(None);
        };
        let mut found: Channel = decode(row, 0)?;
        // As `get_channel`: the column moves with every message, the JSON does not.
        let last: Option<i64> = column(row, 1)?;
        if let Some(last) = last.filter(|l| *l > 0) {
            let last = MessageId::new(last as u64);
            found.last_message_id = Some(found.last_message_id.map_or(last, |m| m.max(last)));
        }
        let standing = match found.guild_id {
            Some(_) => standing(row, 2)?,
            None => None,
        };
        let found = Some((found, standing));
        if let (Some(cache), Some(generation)) = (cache, generation) {
            cache.put_channel(channel, user, generation, found.clone());
        }
        Ok(found)
    }
}
