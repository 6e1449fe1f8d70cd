//! Walking every row of a kind, for operator tools.

use async_trait::async_trait;
use fluxer_core::ports::{MAX_TALLY_BUCKETS, PortResult, Scan, ScanRepository, Tally};

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

    async fn count_rows(&self, what: Tally) -> PortResult<u64> {
        let table = tally_table(what);
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT COUNT(*) FROM {table}"))
                .map_err(backend)?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }

    async fn count_ids_per_bucket(
        &self,
        what: Tally,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> PortResult<Vec<u64>> {
        let buckets = buckets.min(MAX_TALLY_BUCKETS);
        let table = tally_table(what);
        let width = width.max(1);
        let below = from
            .saturating_add(width.saturating_mul(buckets as u64))
            .min(i64::MAX as u64);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT (id - ?1) / ?2, COUNT(*) FROM {table} \
                     WHERE id >= ?1 AND id < ?3 GROUP BY 1"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map((sql_id(from), sql_id(width), sql_id(below)), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(backend)?;
            let mut counts = vec![0u64; buckets];
            for row in rows {
                let (bucket, n) = row.map_err(backend)?;
                if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                    *slot = n as u64;
                }
            }
            Ok(counts)
        })
        .await
    }
}

fn tally_table(what: Tally) -> &'static str {
    match what {
        Tally::Users => "users",
        Tally::Guilds => "guilds",
        Tally::Messages => "messages",
    }
}
