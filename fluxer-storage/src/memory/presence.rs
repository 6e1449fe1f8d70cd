//! Presence in this process's memory: per-user gateway sessions with expiry.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::id::UserId;
use fluxer_core::ports::{PortResult, Presence, PresenceEntry, Status};
use fluxer_core::time::Timestamp;

use super::lock;

struct Session {
    entry: PresenceEntry,
    /// When this session's presence last changed (a refresh with the same presence keeps it).
    updated: Timestamp,
    expires: Timestamp,
}

#[derive(Default)]
struct UserPresence {
    sessions: HashMap<String, Session>,
    /// When the user was last connected, as of the sessions that ended or lapsed and were forgotten.
    last_seen: Option<Timestamp>,
}

impl UserPresence {
    /// Forgets sessions that lapsed at `now`, remembering when.
    fn prune(&mut self, now: Timestamp) {
        let last_seen = &mut self.last_seen;
        self.sessions.retain(|_, s| {
            let live = s.expires > now;
            if !live {
                *last_seen = (*last_seen).max(Some(s.expires));
            }
            live
        });
    }

    /// The most recently updated live session's presence, or offline since the last session ended.
    fn aggregate(&self, user: UserId, now: Timestamp) -> PresenceEntry {
        let live = self.sessions.values().filter(|s| s.expires > now);
        match live.max_by_key(|s| s.updated) {
            Some(s) => PresenceEntry {
                user_id: user,
                last_seen: Some(now),
                ..s.entry.clone()
            },
            None => PresenceEntry {
                user_id: user,
                status: Status::Offline,
                afk: false,
                mobile: false,
                custom_status: None,
                last_seen: self
                    .sessions
                    .values()
                    .map(|s| s.expires)
                    .max()
                    .max(self.last_seen),
            },
        }
    }
}

/// Per-user sessions; a user's entry stays after its last session so "last seen" is remembered.
/// Users are spread over shards (upstream's `presence_shards`), each behind its own lock, so sessions of
/// different users rarely wait for each other.
pub struct MemoryPresence {
    shards: Vec<Mutex<HashMap<UserId, UserPresence>>>,
}

impl Default for MemoryPresence {
    fn default() -> Self {
        Self::with_shards(0)
    }
}

impl MemoryPresence {
    /// One shard per available CPU, as `with_shards(0)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `shards` locks (0: one per available CPU, as upstream's default).
    pub fn with_shards(shards: usize) -> Self {
        let n = if shards == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            shards
        };
        MemoryPresence {
            shards: (0..n).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, user: UserId) -> &Mutex<HashMap<UserId, UserPresence>> {
        // Snowflakes' low bits are a per-millisecond sequence: mix in the timestamp bits too.
        let raw = user.get();
        let index = (raw ^ (raw >> 22)) as usize % self.shards.len();
        &self.shards[index]
    }
}

/// Whether two presences look the same to others (a heartbeat refresh, not an update).
fn same_presence(a: &PresenceEntry, b: &PresenceEntry) -> bool {
    a.status == b.status
        && a.afk == b.afk
        && a.mobile == b.mobile
        && a.custom_status == b.custom_status
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn set_session(
        &self,
        user: UserId,
        session_id: &str,
        entry: &PresenceEntry,
        now: Timestamp,
        ttl_ms: u64,
    ) -> PortResult<()> {
        let mut users = lock(self.shard(user));
        let presence = users.entry(user).or_default();
        presence.prune(now);
        let updated = presence
            .sessions
            .get(session_id)
            .filter(|s| same_presence(&s.entry, entry))
            .map_or(now, |s| s.updated);
        let session = Session {
            entry: entry.clone(),
            updated,
            expires: now.plus_ms(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
        };
        presence.sessions.insert(session_id.to_owned(), session);
        Ok(())
    }

    async fn remove_session(
        &self,
        user: UserId,
        session_id: &str,
        now: Timestamp,
    ) -> PortResult<PresenceEntry> {
        let mut users = lock(self.shard(user));
        let Some(presence) = users.get_mut(&user) else {
            return Ok(UserPresence::default().aggregate(user, now));
        };
        if let Some(removed) = presence.sessions.remove(session_id) {
            presence.last_seen = presence.last_seen.max(Some(removed.expires.min(now)));
        }
        presence.prune(now);
        Ok(presence.aggregate(user, now))
    }

    async fn get_presence(&self, user: UserId, now: Timestamp) -> PortResult<PresenceEntry> {
        let users = lock(self.shard(user));
        Ok(match users.get(&user) {
            Some(presence) => presence.aggregate(user, now),
            None => UserPresence::default().aggregate(user, now),
        })
    }
}
