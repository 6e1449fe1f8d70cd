//! Discovery applications, by guild.

use async_trait::async_trait;
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplication, DiscoveryStatus};
use fluxer_core::ports::{DiscoveryRepository, PortResult};
use tokio_postgres::types::Json;

use super::{execute, query_json, query_one_json, sql_id, sql_limit};
use crate::postgres::PostgresStore;

#[async_trait]
impl DiscoveryRepository for PostgresStore {
    async fn put_discovery_application(
        &self,
        application: &DiscoveryApplication,
    ) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO discovery_applications (guild_id, status, data) VALUES ($1, $2, $3)
             ON CONFLICT (guild_id) DO UPDATE SET status = EXCLUDED.status, data = EXCLUDED.data",
            &[
                &sql_id(application.guild_id.get()),
                &(application.status.code() as i16),
                &Json(application),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_discovery_application(
        &self,
        guild: GuildId,
    ) -> PortResult<Option<DiscoveryApplication>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM discovery_applications WHERE guild_id = $1",
            &[&sql_id(guild.get())],
        )
        .await?)
    }

    async fn delete_discovery_application(&self, guild: GuildId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM discovery_applications WHERE guild_id = $1",
            &[&sql_id(guild.get())],
        )
        .await?
            > 0)
    }

    async fn list_discovery_applications(
        &self,
        status: DiscoveryStatus,
        after: Option<GuildId>,
        limit: u32,
    ) -> PortResult<Vec<DiscoveryApplication>> {
        let after = after.map_or(i64::MIN, |id| sql_id(id.get()));
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM discovery_applications WHERE status = $1 AND guild_id > $2
             ORDER BY guild_id LIMIT $3",
            &[
                &(status.code() as i16),
                &after,
                &sql_limit(i64::from(limit)),
            ],
        )
        .await?)
    }
}
