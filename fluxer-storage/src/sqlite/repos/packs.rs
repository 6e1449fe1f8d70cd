//! Users' emoji and sticker packs.

use async_trait::async_trait;
use fluxer_core::id::{PackId, UserId};
use fluxer_core::model::Pack;
use fluxer_core::ports::{PackRepository, PortResult};
use rusqlite::params;

use super::{
    distinct_ids, execute, query_json, query_json_by_ids, query_one_json, sql_id, to_json,
};
use crate::sqlite::SqliteStore;

#[async_trait]
impl PackRepository for SqliteStore {
    async fn put_pack(&self, pack: &Pack) -> PortResult<()> {
        let (p, data) = (pack.clone(), to_json(pack)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO packs (id, creator_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(p.id.get()), sql_id(p.creator_id.get()), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_pack(&self, id: PackId) -> PortResult<Option<Pack>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM packs WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn get_packs(&self, ids: &[PackId]) -> PortResult<Vec<Pack>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        self.read(move |c| query_json_by_ids(c, "packs", &ids))
            .await
    }

    async fn list_user_packs(&self, creator: UserId) -> PortResult<Vec<Pack>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM packs WHERE creator_id = ?1 ORDER BY id",
                [sql_id(creator.get())],
            )
        })
        .await
    }

    async fn delete_pack(&self, id: PackId) -> PortResult<bool> {
        let (pid, owner) = (sql_id(id.get()), sql_id(id.expression_owner().get()));
        self.write(move |c| {
            execute(c, "DELETE FROM expressions WHERE guild_id = ?1", [owner])?;
            execute(c, "DELETE FROM invites WHERE pack_id = ?1", [pid])?;
            Ok(execute(c, "DELETE FROM packs WHERE id = ?1", [pid])? > 0)
        })
        .await
    }
}
