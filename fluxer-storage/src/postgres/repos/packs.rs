//! Users' emoji and sticker packs.

use async_trait::async_trait;
use fluxer_core::id::{PackId, UserId};
use fluxer_core::model::Pack;
use fluxer_core::ports::{PackRepository, PortResult};
use tokio_postgres::types::Json;

use super::{distinct_ids, execute, query_json, query_one_json, sql_id};
use crate::postgres::{PostgresStore, transaction};

#[async_trait]
impl PackRepository for PostgresStore {
    async fn put_pack(&self, pack: &Pack) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO packs (id, creator_id, data) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET creator_id = EXCLUDED.creator_id, data = EXCLUDED.data",
            &[
                &sql_id(pack.id.get()),
                &sql_id(pack.creator_id.get()),
                &Json(pack),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_pack(&self, id: PackId) -> PortResult<Option<Pack>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM packs WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn get_packs(&self, ids: &[PackId]) -> PortResult<Vec<Pack>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        let c = self.client().await?;
        Ok(query_json(&c, "SELECT data FROM packs WHERE id = ANY($1)", &[&ids]).await?)
    }

    async fn list_user_packs(&self, creator: UserId) -> PortResult<Vec<Pack>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM packs WHERE creator_id = $1 ORDER BY id",
            &[&sql_id(creator.get())],
        )
        .await?)
    }

    async fn delete_pack(&self, id: PackId) -> PortResult<bool> {
        let (pid, owner) = (sql_id(id.get()), sql_id(id.expression_owner().get()));
        transaction!(self, |tx| {
            execute(tx, "DELETE FROM expressions WHERE guild_id = $1", &[&owner]).await?;
            execute(tx, "DELETE FROM invites WHERE pack_id = $1", &[&pid]).await?;
            execute(tx, "DELETE FROM packs WHERE id = $1", &[&pid]).await? > 0
        })
    }
}
