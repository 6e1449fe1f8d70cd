//! Discovery applications, by guild.

use async_trait::async_trait;
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplication, DiscoveryStatus};
use fluxer_core::ports::{DiscoveryRepository, PortResult};
use rusqlite::params;

use super::{execute, query_json, query_one_json, sql_id, to_json};
use crate::sqlite::SqliteStore;

#[async_trait]
impl DiscoveryRepository for SqliteStore {
    async fn put_discovery_application(
        &self,
        application: &DiscoveryApplication,
    ) -> PortResult<()> {
        let (guild, status, data) = (
            application.guild_id,
            application.status,
            to_json(application)?,
        );
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO discovery_applications (guild_id, status, data)
                 VALUES (?1, ?2, ?3)",
                params![sql_id(guild.get()), status.code(), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_discovery_application(
        &self,
        guild: GuildId,
    ) -> PortResult<Option<DiscoveryApplication>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM discovery_applications WHERE guild_id = ?1",
                [sql_id(guild.get())],
            )
        })
        .await
    }

    async fn delete_discovery_application(&self, guild: GuildId) -> PortResult<bool> {
        self.write(move |c| {
            let n = execute(
                c,
                "DELETE FROM discovery_applications WHERE guild_id = ?1",
                [sql_id(guild.get())],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_discovery_applications(
        &self,
        status: DiscoveryStatus,
        after: Option<GuildId>,
        limit: u32,
    ) -> PortResult<Vec<DiscoveryApplication>> {
        let after = after.map_or(i64::MIN, |id| sql_id(id.get()));
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM discovery_applications WHERE status = ?1 AND guild_id > ?2
                 ORDER BY guild_id LIMIT ?3",
                params![status.code(), after, i64::from(limit)],
            )
        })
        .await
    }
}
