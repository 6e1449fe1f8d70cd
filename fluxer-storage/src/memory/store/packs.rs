//! Users' emoji and sticker packs.

use async_trait::async_trait;
use fluxer_core::id::{PackId, UserId};
use fluxer_core::model::Pack;
use fluxer_core::ports::{PackRepository, PortResult};

use super::MemoryStore;

#[async_trait]
impl PackRepository for MemoryStore {
    async fn put_pack(&self, pack: &Pack) -> PortResult<()> {
        self.write(|d| d.packs.insert(pack.id, pack.clone()));
        Ok(())
    }

    async fn get_pack(&self, id: PackId) -> PortResult<Option<Pack>> {
        Ok(self.read(|d| d.packs.get(&id).cloned()))
    }

    async fn get_packs(&self, ids: &[PackId]) -> PortResult<Vec<Pack>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(self.read(|d| {
            ids.iter()
                .filter_map(|id| d.packs.get(id).cloned())
                .collect()
        }))
    }

    async fn list_user_packs(&self, creator: UserId) -> PortResult<Vec<Pack>> {
        Ok(self.read(|d| {
            d.packs
                .values()
                .filter(|p| p.creator_id == creator)
                .cloned()
                .collect()
        }))
    }

    async fn delete_pack(&self, id: PackId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let owner = id.expression_owner();
            d.expressions.retain(|_, e| e.guild_id != owner);
            d.invites.retain(|_, i| i.pack_id != Some(id));
            d.packs.remove(&id).is_some()
        }))
    }
}
