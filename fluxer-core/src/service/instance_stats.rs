//! The numbers operators watch on the admin dashboard: accounts, guilds, messages (in all and per
//! day), the job queue's depth and dead letters, and the bytes the blob store holds.

use super::{AdminPrincipal, Fluxer};
use crate::error::Result;
use crate::id::Snowflake;
use crate::ports::{BlobFolderUsage, QueueStats, Tally};

/// Days of message history the dashboard charts.
pub const STATS_DAYS: usize = 14;

const DAY_MS: i64 = 86_400_000;

/// The instance's numbers now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceStats {
    /// Accounts, those pending deletion included.
    pub users: u64,
    /// Guilds.
    pub guilds: u64,
    /// Messages kept, in every channel.
    pub messages: u64,
    /// Messages sent on each of the last [`STATS_DAYS`] UTC days (still kept), oldest first; the
    /// last is today so far.
    pub messages_per_day: Vec<u64>,
    /// Accounts created on each of the same days.
    pub users_per_day: Vec<u64>,
    /// The job queue's depth and dead letters; `None` when this node has no queue.
    pub queue: Option<QueueStats>,
    /// What the blob store holds (attachments, avatars, exports, ...) per top-level folder, as its
    /// listing says; `None` when this node has no blob store.
    pub storage: Option<Vec<BlobFolderUsage>>,
    /// The first day charted, as a timestamp of its start (UTC midnight).
    pub first_day: crate::time::Timestamp,
}

impl Fluxer {
    /// The dashboard's numbers (`metrics:view`).
    pub async fn instance_stats(&self, who: &AdminPrincipal) -> Result<InstanceStats> {
        who.require(crate::model::acl::METRICS_VIEW)?;
        let store = self.store();
        let now = self.now().unix_ms();
        let today = now - now.rem_euclid(DAY_MS);
        let first_ms = today - (STATS_DAYS as i64 - 1) * DAY_MS;
        let from = Snowflake::from_parts(first_ms, 0, 0).0;
        // A day's IDs span `DAY_MS` milliseconds shifted past the worker and sequence bits.
        let width = Snowflake::from_parts(crate::id::FLUXER_EPOCH_MS + DAY_MS, 0, 0).0;
        let queue = match &self.ports().queue {
            Some(queue) => Some(queue.stats().await?),
            None => None,
        };
        let storage = match &self.ports().blobs {
            Some(blobs) => Some(blobs.usage().await?),
            None => None,
        };
        Ok(InstanceStats {
            users: store.count_rows(Tally::Users).await?,
            guilds: store.count_rows(Tally::Guilds).await?,
            messages: store.count_rows(Tally::Messages).await?,
            messages_per_day: store
                .count_ids_per_bucket(Tally::Messages, from, width, STATS_DAYS)
                .await?,
            users_per_day: store
                .count_ids_per_bucket(Tally::Users, from, width, STATS_DAYS)
                .await?,
            queue,
            storage,
            first_day: crate::time::Timestamp::from_unix_ms(first_ms),
        })
    }
}
