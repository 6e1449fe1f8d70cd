//! Discovery applications, by guild.

use async_trait::async_trait;
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplication, DiscoveryStatus};
use fluxer_core::ports::{DiscoveryRepository, PortResult};

use super::MemoryStore;

#[async_trait]
impl DiscoveryRepository for MemoryStore {
    async fn put_discovery_application(
        &self,
        application: &DiscoveryApplication,
    ) -> PortResult<()> {
        self.write(|d| {
            d.discovery
                .insert(application.guild_id, application.clone());
            Ok(())
        })
    }

    async fn get_discovery_application(
        &self,
        guild: GuildId,
    ) -> PortResult<Option<DiscoveryApplication>> {
        Ok(self.read(|d| d.discovery.get(&guild).cloned()))
    }

    async fn delete_discovery_application(&self, guild: GuildId) -> PortResult<bool> {
        Ok(self.write(|d| d.discovery.remove(&guild).is_some()))
    }

    async fn list_discovery_applications(
        &self,
        status: DiscoveryStatus,
        after: Option<GuildId>,
        limit: u32,
    ) -> PortResult<Vec<DiscoveryApplication>> {
        Ok(self.read(|d| {
            d.discovery
                .values()
                .filter(|a| after.is_none_or(|after| a.guild_id > after) && a.status == status)
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }
}
