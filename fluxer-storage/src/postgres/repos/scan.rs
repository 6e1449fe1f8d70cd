//! Walking every row of a kind, for operator tools.

use async_trait::async_trait;
use fluxer_core::ports::{PortResult, Scan, ScanRepository};

use super::{column, query, sql_id, sql_limit};
use crate::postgres::PostgresStore;

#[async_trait]
impl ScanRepository for PostgresStore {
    async fn scan_ids(&self, what: Scan, after: u64, limit: usize) -> PortResult<Vec<u64>> {
        let sql = match what {
            Scan::Users => "SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2",
            Scan::Guilds => "SELECT id FROM guilds WHERE id > $1 ORDER BY id LIMIT $2",
            Scan::Channels => "SELECT id FROM channels WHERE id > $1 ORDER BY id LIMIT $2",
        };
        let c = self.client().await?;
        let limit = sql_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = query(&c, sql, &[&sql_id(after), &limit]).await?;
        Ok(rows
            .iter()
            .map(|row| column::<i64>(row, 0).map(|id| id as u64))
            .collect::<Result<_, _>>()?)
    }
}
