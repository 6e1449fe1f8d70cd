//! Walking every row of a kind, for operator tools.

use async_trait::async_trait;
use fluxer_core::ports::{MAX_TALLY_BUCKETS, PortResult, Scan, ScanRepository, Tally};

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

    async fn count_rows(&self, what: Tally) -> PortResult<u64> {
        let sql = match what {
            Tally::Users => "SELECT COUNT(*) FROM users",
            Tally::Guilds => "SELECT COUNT(*) FROM guilds",
            Tally::Messages => "SELECT COUNT(*) FROM messages",
        };
        let c = self.client().await?;
        let rows = query(&c, sql, &[]).await?;
        let n: i64 = match rows.first() {
            Some(row) => column(row, 0)?,
            None => 0,
        };
        Ok(n as u64)
    }

    async fn count_ids_per_bucket(
        &self,
        what: Tally,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> PortResult<Vec<u64>> {
        let buckets = buckets.min(MAX_TALLY_BUCKETS);
        let sql = match what {
            Tally::Users => {
                "SELECT (id - $1) / $2, COUNT(*) FROM users WHERE id >= $1 AND id < $3 GROUP BY 1"
            }
            Tally::Guilds => {
                "SELECT (id - $1) / $2, COUNT(*) FROM guilds WHERE id >= $1 AND id < $3 GROUP BY 1"
            }
            Tally::Messages => {
                "SELECT (id - $1) / $2, COUNT(*) FROM messages WHERE id >= $1 AND id < $3 GROUP BY 1"
            }
        };
        let width = width.max(1);
        let below = from
            .saturating_add(width.saturating_mul(buckets as u64))
            .min(i64::MAX as u64);
        let c = self.client().await?;
        let rows = query(&c, sql, &[&sql_id(from), &sql_id(width), &sql_id(below)]).await?;
        let mut counts = vec![0u64; buckets];
        for row in &rows {
            let bucket: i64 = column(row, 0)?;
            let n: i64 = column(row, 1)?;
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot = n as u64;
            }
        }
        Ok(counts)
    }
}
