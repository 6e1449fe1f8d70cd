//! Rebuilding the search index from the store: what `fluxer-server reindex` runs after a crash lost
//! the index, after search was off for a while, or after an upgrade changed the index's schema.

use super::Fluxer;
use crate::error::{Error, Result};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::ports::{MessagePage, Scan};

/// Documents between two commits: bounds the work an interrupted rebuild loses.
const COMMIT_EVERY: usize = 50_000;

/// IDs read per page of a scan, and messages per page of a channel's history.
const PAGE: usize = 500;
const MESSAGE_PAGE: u32 = 100;

/// How far a rebuild has come; the last one is its summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReindexProgress {
    /// Channels whose whole history is indexed.
    pub channels_done: usize,
    /// Channels to go through.
    pub channels_total: usize,
    /// Messages indexed so far.
    pub messages: usize,
    /// Guilds whose discovery entry was checked (once channels are done).
    pub guilds: usize,
    /// Users whose names were indexed (once channels are done).
    pub users: usize,
}

impl Fluxer {
    /// Indexes every stored message, every discoverable guild and every user's names, committing
    /// as it goes and calling `progress` after each channel and at the end. The caller empties the
    /// index first (so documents of deleted messages do not linger) and makes sure nothing else
    /// writes to it. Without a search index there is nothing to rebuild: `SEARCH_UNAVAILABLE`.
    pub async fn rebuild_search_index(
        &self,
        mut progress: impl FnMut(&ReindexProgress),
    ) -> Result<ReindexProgress> {
        let Some(search) = self.ports().search.clone() else {
            return Err(Error::Unavailable {
                code: "SEARCH_UNAVAILABLE",
                message: "Search is not enabled on this instance.".to_owned(),
            });
        };
        let channels = self.scan_all(Scan::Channels).await?;
        let mut done = ReindexProgress {
            channels_total: channels.len(),
            ..ReindexProgress::default()
        };
        let mut since_commit = 0;
        for channel in channels {
            let mut cursor = MessageId::new(0);
            loop {
                let page = self
                    .store()
                    .list_messages(
                        ChannelId::new(channel),
                        MessagePage::After(cursor),
                        MESSAGE_PAGE,
                    )
                    .await?;
                let Some(newest) = page.iter().map(|m| m.id).max() else {
                    break;
                };
                cursor = newest;
                let n = self.index_stored_messages(&page).await?;
                done.messages += n;
                since_commit += n;
                if since_commit >= COMMIT_EVERY {
                    search.commit().await?;
                    since_commit = 0;
                }
            }
            done.channels_done += 1;
            progress(&done);
        }
        for batch in self.scan_all(Scan::Guilds).await?.chunks(PAGE) {
            let ids: Vec<GuildId> = batch.iter().copied().map(GuildId::new).collect();
            self.index_guilds_now(&ids).await?;
            done.guilds += ids.len();
        }
        for batch in self.scan_all(Scan::Users).await?.chunks(PAGE) {
            let ids: Vec<UserId> = batch.iter().copied().map(UserId::new).collect();
            self.index_users_now(&ids).await?;
            done.users += ids.len();
        }
        search.commit().await?;
        progress(&done);
        Ok(done)
    }

    /// Every ID of a kind, ascending.
    async fn scan_all(&self, what: Scan) -> Result<Vec<u64>> {
        let (mut all, mut after) = (Vec::new(), 0);
        loop {
            let page = self.store().scan_ids(what, after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(all);
            };
            after = *last;
            all.extend(page);
        }
    }
}
