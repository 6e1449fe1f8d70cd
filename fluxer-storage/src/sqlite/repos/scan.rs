//! Walking every row of a kind, for operator tools.

use async_trait::async_trait;
use fluxer_core::ports::{PortResult, Scan, ScanRepository};

use super::sql_id;
use crate::sqlite::{SqliteStore, backend};

#[async_trait]
impl ScanRepository for SqliteStore {
    async fn scan_ids(&self, what: Scan, after: u64, limit: usize) -> PortResult<Vec<u64>> {
        let table = match what {
            Scan::Users => "users",
            Scan::Guilds => "guilds",
            Scan::Channels => "channels",
        };
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT id FROM {table} WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map((sql_id(after), limit as i64), |r| r.get::<_, i64>(0))
                .map_err(backend)?;
            rows.map(|r| r.map(|id| id as u64).map_err(backend))
                .collect()
        })
        .await
    }
}
