//! Member list subscriptions (op 14, LAZY_REQUEST) and the `GUILD_MEMBER_LIST_UPDATE`s that keep a
//! client's sidebar current.
//!
//! A session subscribes to ranges of a channel's list. It gets a `SYNC` of each range at once;
//! afterwards, when something a list shows changes (a member joins, leaves, changes roles or
//! presence; roles or the channel's overwrites change), the session marks the guild's lists dirty
//! and, a moment later, compares the list it last sent with the current one and sends the
//! difference as `DELETE`, `INSERT` and `UPDATE` ops (or a fresh `SYNC` when rows moved). The
//! moment's delay coalesces bursts (a storm of members coming online is one update), and the node
//! computes each channel's list once per change for all its sessions ([`SidebarCache`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::service::{Fluxer, Sidebar, SidebarRow};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long after a change a session refreshes its lists.
pub(crate) const REFRESH_DELAY: Duration = Duration::from_millis(150);
/// Highest row index a client may ask for (upstream's bound).
const MAX_INDEX: u64 = 100_000;
/// Most ranges per channel, channels per guild and guilds per request.
const MAX_RANGES: usize = 10;
const MAX_CHANNELS: usize = 10;
const MAX_GUILDS: usize = 100;
/// Most users a session follows the presence of per guild (op 14 `members`).
const MAX_MEMBERS: usize = 1000;
/// Cached lists unused for this long are dropped.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Op 14's data.
#[derive(Debug, Deserialize)]
pub(crate) struct LazyRequest {
    subscriptions: HashMap<GuildId, GuildRequest>,
}

#[derive(Debug, Deserialize)]
struct GuildRequest {
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    sync: Option<bool>,
    #[serde(default)]
    member_list_channels: Option<HashMap<ChannelId, Vec<[i64; 2]>>>,
    #[serde(default)]
    members: Option<Vec<UserId>>,
}

impl LazyRequest {
    /// Whether the request stays within the bounds a client may ask for.
    pub(crate) fn within_bounds(&self) -> bool {
        self.subscriptions.len() <= MAX_GUILDS
            && self.subscriptions.values().all(|g| {
                g.member_list_channels.as_ref().is_none_or(|c| {
                    c.len() <= MAX_CHANNELS && c.values().all(|r| r.len() <= MAX_RANGES)
                }) && g.members.as_ref().is_none_or(|m| m.len() <= MAX_MEMBERS)
            })
    }
}

/// What a session must do after a request: guilds to send `GUILD_SYNC` for, lists to `SYNC`.
#[derive(Default)]
pub(crate) struct Requested {
    pub(crate) sync_guilds: Vec<GuildId>,
    pub(crate) lists: Vec<(GuildId, ChannelId)>,
    /// Every guild the request changed subscriptions of.
    pub(crate) touched: Vec<GuildId>,
}

/// One session's subscriptions.
#[derive(Default)]
pub(crate) struct Subscriptions {
    guilds: HashMap<GuildId, GuildSub>,
}

#[derive(Default)]
struct GuildSub {
    synced: bool,
    channels: HashMap<ChannelId, Watched>,
    members: HashSet<UserId>,
    dirty_at: Option<Instant>,
}

struct Watched {
    ranges: Vec<(u64, u64)>,
    /// The list as the client last got it (`None` before the first SYNC).
    shown: Option<Arc<Sidebar>>,
}

/// Sorted, merged, bounded ranges; invalid ones dropped.
fn normalise(ranges: &[[i64; 2]]) -> Vec<(u64, u64)> {
    let mut r: Vec<(u64, u64)> = ranges
        .iter()
        .filter(|[s, e]| *s >= 0 && s <= e && (*e as u64) <= MAX_INDEX)
        .map(|[s, e]| (*s as u64, *e as u64))
        .collect();
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(r.len());
    for (s, e) in r {
        match out.last_mut() {
            Some(last) if s <= last.1 + 1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

impl Subscriptions {
    /// Records a request of guilds the session is in; says what to send now.
    pub(crate) fn apply(
        &mut self,
        request: LazyRequest,
        member_of: &HashSet<GuildId>,
    ) -> Requested {
        let mut out = Requested::default();
        for (guild, req) in request.subscriptions {
            if !member_of.contains(&guild) {
                continue;
            }
            out.touched.push(guild);
            let sub = self.guilds.entry(guild).or_default();
            let wants_sync = req.sync == Some(true) || req.active == Some(true);
            if wants_sync && !sub.synced {
                sub.synced = true;
                out.sync_guilds.push(guild);
            }
            if let Some(channels) = req.member_list_channels {
                for (channel, ranges) in channels {
                    let ranges = normalise(&ranges);
                    if ranges.is_empty() {
                        sub.channels.remove(&channel);
                        continue;
                    }
                    let changed = sub
                        .channels
                        .get(&channel)
                        .is_none_or(|w| w.ranges != ranges);
                    if changed {
                        let shown = sub.channels.remove(&channel).and_then(|w| w.shown);
                        sub.channels.insert(channel, Watched { ranges, shown });
                        out.lists.push((guild, channel));
                    }
                }
            }
            if let Some(members) = req.members {
                sub.members = members.into_iter().collect();
            }
        }
        out
    }

    /// Whether the session shows a member list of `guild` or follows some of its members: then
    /// it wants the guild's presence changes.
    pub(crate) fn wants_presence(&self, guild: GuildId) -> bool {
        self.guilds
            .get(&guild)
            .is_some_and(|g| !g.channels.is_empty() || !g.members.is_empty())
    }

    /// Forgets a guild the session left.
    pub(crate) fn leave(&mut self, guild: GuildId) {
        self.guilds.remove(&guild);
    }

    /// Whether the session wants `user`'s presence in `guild`: it follows the user (op 14
    /// `members`) or one of its lists shows them.
    pub(crate) fn follows(&self, guild: GuildId, user: UserId) -> bool {
        let Some(sub) = self.guilds.get(&guild) else {
            return false;
        };
        // Only the rows in the client's ranges: a presence event is checked against every session
        // of a large guild, so this stays bounded by what one client holds.
        let shown_in_range = |w: &Watched| {
            let Some(list) = &w.shown else { return false };
            w.ranges.iter().any(|(start, end)| {
                list.rows
                    .iter()
                    .skip(*start as usize)
                    .take((end - start) as usize + 1)
                    .any(|r| matches!(r, SidebarRow::Member(m) if m.member.user.id == user))
            })
        };
        sub.members.contains(&user) || sub.channels.values().any(shown_in_range)
    }

    /// Something `guild`'s lists show changed: refresh them shortly.
    pub(crate) fn mark_dirty(&mut self, guild: GuildId) {
        if let Some(sub) = self.guilds.get_mut(&guild)
            && !sub.channels.is_empty()
            && sub.dirty_at.is_none()
        {
            sub.dirty_at = Some(Instant::now());
        }
    }

    /// When the next refresh is due.
    pub(crate) fn next_refresh(&self) -> Option<Instant> {
        self.guilds
            .values()
            .filter_map(|g| g.dirty_at)
            .min()
            .map(|at| at + REFRESH_DELAY)
    }

    /// Guilds whose refresh is due, with when each became dirty; clears their marks.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<(GuildId, Instant)> {
        let mut due = Vec::new();
        for (guild, sub) in &mut self.guilds {
            if let Some(at) = sub.dirty_at
                && at + REFRESH_DELAY <= now
            {
                sub.dirty_at = None;
                due.push((*guild, at));
            }
        }
        due
    }

    /// The channels of `guild` the session shows.
    pub(crate) fn channels(&self, guild: GuildId) -> Vec<ChannelId> {
        self.guilds
            .get(&guild)
            .map(|g| g.channels.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The `GUILD_MEMBER_LIST_UPDATE` that brings the client's list of `channel` to `current`
    /// (`None`: the channel is gone), remembering `current` as shown; `None` when nothing changed.
    pub(crate) fn update(
        &mut self,
        guild: GuildId,
        channel: ChannelId,
        current: Option<Arc<Sidebar>>,
    ) -> Option<Value> {
        let sub = self.guilds.get_mut(&guild)?;
        let Some(current) = current else {
            sub.channels.remove(&channel);
            return None;
        };
        let watched = sub.channels.get_mut(&channel)?;
        let (ops, first) = match &watched.shown {
            None => (sync_ops(&current, &watched.ranges), true),
            Some(shown) if Arc::ptr_eq(shown, &current) || **shown == *current => return None,
            Some(shown) => (diff_ops(shown, &current, &watched.ranges), false),
        };
        watched.shown = Some(current.clone());
        let mut update = json!({
            "guild_id": guild,
            "id": channel.to_string(),
            "member_count": current.member_count,
            "online_count": current.online_count,
            "groups": current.groups,
            "ops": ops,
        });
        if first {
            update["channel_id"] = json!(channel);
        }
        Some(update)
    }
}

fn row(list: &Sidebar, i: usize) -> Value {
    serde_json::to_value(&list.rows[i]).unwrap_or_default()
}

/// A `SYNC` of each range.
fn sync_ops(list: &Sidebar, ranges: &[(u64, u64)]) -> Vec<Value> {
    ranges
        .iter()
        .map(|(s, e)| {
            let items: Vec<Value> = (*s as usize
                ..=(*e as usize).min(list.rows.len().saturating_sub(1)))
                .filter(|i| *i < list.rows.len())
                .map(|i| row(list, i))
                .collect();
            json!({ "op": "SYNC", "range": [s, e], "items": items })
        })
        .collect()
}

/// The ops that turn `old` into `new`: rows gone are deleted (from the end, so indexes hold),
/// new rows inserted (from the start), and rows kept but changed updated where the client holds
/// them. When kept rows changed order the ranges are synced afresh instead.
fn diff_ops(old: &Sidebar, new: &Sidebar, ranges: &[(u64, u64)]) -> Vec<Value> {
    let (old_keys, new_keys) = (old.keys(), new.keys());
    let new_set: HashSet<_> = new_keys.iter().collect();
    let old_set: HashSet<_> = old_keys.iter().collect();
    let kept_old: Vec<_> = old_keys.iter().filter(|k| new_set.contains(k)).collect();
    let kept_new: Vec<_> = new_keys.iter().filter(|k| old_set.contains(k)).collect();
    if kept_old != kept_new {
        return sync_ops(new, ranges);
    }
    let in_range = |i: usize| {
        ranges
            .iter()
            .any(|(s, e)| (*s as usize..=*e as usize).contains(&i))
    };
    let mut ops = Vec::new();
    for (i, k) in old_keys.iter().enumerate().rev() {
        if !new_set.contains(k) {
            ops.push(json!({ "op": "DELETE", "index": i }));
        }
    }
    let old_index: HashMap<_, usize> = old_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    for (i, k) in new_keys.iter().enumerate() {
        match old_index.get(k) {
            None => ops.push(json!({ "op": "INSERT", "index": i, "item": row(new, i) })),
            Some(&j) if in_range(i) && old.rows[j] != new.rows[i] => {
                ops.push(json!({ "op": "UPDATE", "index": i, "item": row(new, i) }));
            }
            Some(_) => {}
        }
    }
    ops
}

/// A channel's list and when it was computed.
type Computed = (Instant, Arc<Sidebar>);

/// Each channel's current list, computed once per change for every session of the node.
#[derive(Default)]
pub(crate) struct SidebarCache {
    lists: Mutex<HashMap<(GuildId, ChannelId), Computed>>,
}

impl SidebarCache {
    /// The list of `channel`, computed at or after `fresh_after`; `None` when the channel is gone.
    pub(crate) async fn get(
        &self,
        fluxer: &Fluxer,
        guild: GuildId,
        channel: ChannelId,
        fresh_after: Option<Instant>,
    ) -> fluxer_core::Result<Option<Arc<Sidebar>>> {
        if let Ok(lists) = self.lists.lock()
            && let Some((at, list)) = lists.get(&(guild, channel))
            && fresh_after.is_some_and(|f| *at >= f)
        {
            return Ok(Some(list.clone()));
        }
        let computed_at = Instant::now();
        let Some(list) = fluxer.sidebar(guild, channel).await? else {
            return Ok(None);
        };
        let list = Arc::new(list);
        if let Ok(mut lists) = self.lists.lock() {
            lists.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            lists.insert((guild, channel), (computed_at, list.clone()));
        }
        Ok(Some(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_merged_and_bounded() {
        assert_eq!(
            normalise(&[
                [100, 199],
                [0, 99],
                [-1, 5],
                [5, 2],
                [300, 100_001],
                [150, 250]
            ]),
            vec![(0, 250)]
        );
        assert!(normalise(&[]).is_empty());
    }
}
