//! Who is online, as the use-cases read it: presences for READY, guild snapshots and member lists,
//! and each guild's online count.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Fluxer;
use crate::error::Result;
use crate::id::{GuildId, UserId};
use crate::ports::{PresenceEntry, Status};

/// A guild with more members than this is "large" unless the session asks otherwise (IDENTIFY's
/// `large_threshold`): its snapshot carries no presences and only the first members.
pub const DEFAULT_LARGE_THRESHOLD: u64 = 250;

/// The lowest and highest `large_threshold` a session may ask for (as upstream). A guild with more
/// members than the highest is large for every session: its presence changes go to
/// [`Topic::GuildPresence`](crate::ports::Topic::GuildPresence), not to every member.
pub const LARGE_THRESHOLD_RANGE: std::ops::RangeInclusive<u64> = 50..=250;

/// How long a large guild's online count is reused before it is counted again.
const ONLINE_COUNT_TTL_MS: i64 = 10_000;

/// Online counts of large guilds, counted at most once per [`ONLINE_COUNT_TTL_MS`] per process.
#[derive(Default)]
pub(crate) struct OnlineCounts(Mutex<HashMap<GuildId, (i64, u64)>>);

impl Fluxer {
    /// The presence of each of `users`, in their order; everyone is offline without a presence port.
    pub async fn presences(&self, users: &[UserId]) -> Result<Vec<PresenceEntry>> {
        let now = self.now();
        match &self.ports().presence {
            Some(presence) => Ok(presence.get_presences(users, now).await?),
            None => Ok(users
                .iter()
                .map(|u| PresenceEntry {
                    user_id: *u,
                    status: Status::Offline,
                    afk: false,
                    mobile: false,
                    custom_status: None,
                    last_seen: None,
                })
                .collect()),
        }
    }

    /// How many members of `guild` others see online. Counted over every member, and reused for a
    /// few seconds (a storm of sessions opening does not count a large guild once each).
    pub async fn guild_online_count(&self, guild: GuildId) -> Result<u64> {
        let now = self.now().unix_ms();
        if let Ok(counts) = self.inner.online_counts.0.lock()
            && let Some((at, count)) = counts.get(&guild)
            && now - at < ONLINE_COUNT_TTL_MS
        {
            return Ok(*count);
        }
        let mut count = 0;
        let mut after = None;
        loop {
            let page = self.store().list_members(guild, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.user_id);
            let ids: Vec<UserId> = page.iter().map(|m| m.user_id).collect();
            count += self
                .presences(&ids)
                .await?
                .iter()
                .filter(|p| p.status.public() != Status::Offline)
                .count() as u64;
            if page.len() < 1000 {
                break;
            }
        }
        if let Ok(mut counts) = self.inner.online_counts.0.lock() {
            counts.retain(|_, (at, _)| now - *at < ONLINE_COUNT_TTL_MS);
            counts.insert(guild, (now, count));
        }
        Ok(count)
    }
}
