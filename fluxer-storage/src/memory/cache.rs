//! In-process cache (values with expiry, fixed-window counters, locks) and presence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fluxer_core::id::UserId;
use fluxer_core::ports::{Cache, PortResult, Presence, PresenceEntry, Status, WindowCount};
use fluxer_core::time::Timestamp;

enum Value {
    Bytes(Vec<u8>),
    Counter { count: u64, window_ends: Instant },
    Lock(String),
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

/// A cache in this process's memory. Expired entries are dropped lazily and by a sweep every 1024 writes.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
    writes: std::sync::atomic::AtomicU64,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1024 == 0 {
            map.retain(|_, e| e.expires.is_none_or(|at| at > now));
        }
        f(&mut map, now)
    }
}

fn live(entry: Option<&Entry>, now: Instant) -> Option<&Entry> {
    entry.filter(|e| e.expires.is_none_or(|at| at > now))
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        Ok(self.with(|map, now| match live(map.get(key), now).map(|e| &e.value) {
            Some(Value::Bytes(b)) => Some(b.clone()),
            _ => None,
        }))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> PortResult<()> {
        self.with(|map, now| {
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Bytes(value.to_vec()),
                    expires: ttl.map(|t| now + t),
                },
            );
        });
        Ok(())
    }

    async fn delete(&self, key: &str) -> PortResult<bool> {
        Ok(self.with(|map, now| map.remove(key).is_some_and(|e| e.expires.is_none_or(|at| at > now))))
    }

    async fn hit(&self, key: &str, window: Duration) -> PortResult<WindowCount> {
        Ok(self.with(|map, now| {
            let entry = map.entry(key.to_owned()).or_insert(Entry {
                value: Value::Counter { count: 0, window_ends: now + window },
                expires: Some(now + window),
            });
            let fresh = match &entry.value {
                Value::Counter { window_ends, .. } => *window_ends <= now,
                _ => true,
            };
            if fresh {
                entry.value = Value::Counter { count: 0, window_ends: now + window };
                entry.expires = Some(now + window);
            }
            match &mut entry.value {
                Value::Counter { count, window_ends } => {
                    *count += 1;
                    WindowCount {
                        count: *count,
                        reset_after_ms: window_ends.saturating_duration_since(now).as_millis() as u64,
                    }
                }
                _ => WindowCount { count: 1, reset_after_ms: window.as_millis() as u64 },
            }
        }))
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> PortResult<Option<String>> {
        let token = fluxer_core::service::SessionToken::generate().0;
        Ok(self.with(|map, now| {
            if live(map.get(key), now).is_some() {
                return None;
            }
            map.insert(
                key.to_owned(),
                Entry {
                    value: Value::Lock(token.clone()),
                    expires: Some(now + ttl),
                },
            );
            Some(token)
        }))
    }

    async fn unlock(&self, key: &str, token: &str) -> PortResult<bool> {
        Ok(self.with(|map, now| {
            let held = matches!(live(map.get(key), now).map(|e| &e.value), Some(Value::Lock(t)) if t == token);
            if held {
                map.remove(key);
            }
            held
        }))
    }
}

struct PresenceSession {
    entry: PresenceEntry,
    updated: Timestamp,
    expires: Timestamp,
}

/// Presence in this process's memory: per-user sessions with expiry.
#[derive(Default)]
pub struct MemoryPresence {
    users: Mutex<HashMap<UserId, (HashMap<String, PresenceSession>, Option<Timestamp>)>>,
}

impl MemoryPresence {
    pub fn new() -> Self {
        Self::default()
    }
}

fn aggregate(user: UserId, sessions: &HashMap<String, PresenceSession>, last_seen: Option<Timestamp>, now: Timestamp) -> PresenceEntry {
    match sessions.values().filter(|s| s.expires > now).max_by_key(|s| s.updated) {
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
            last_seen: sessions.values().map(|s| s.expires.min(now)).max().or(last_seen),
        },
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn set_session(&self, user: UserId, session_id: &str, entry: &PresenceEntry, now: Timestamp, ttl_ms: u64) -> PortResult<()> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let (sessions, _) = users.entry(user).or_default();
        let updated = sessions
            .get(session_id)
            .filter(|s| s.entry.status == entry.status && s.entry.afk == entry.afk && s.entry.custom_status == entry.custom_status)
            .map_or(now, |s| s.updated);
        sessions.insert(
            session_id.to_owned(),
            PresenceSession {
                entry: entry.clone(),
                updated,
                expires: now.plus_ms(ttl_ms as i64),
            },
        );
        Ok(())
    }

    async fn remove_session(&self, user: UserId, session_id: &str, now: Timestamp) -> PortResult<PresenceEntry> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let (sessions, last_seen) = users.entry(user).or_default();
        if sessions.remove(session_id).is_some() {
            *last_seen = Some(now);
        }
        sessions.retain(|_, s| s.expires > now);
        Ok(aggregate(user, sessions, *last_seen, now))
    }

    async fn get_presence(&self, user: UserId, now: Timestamp) -> PortResult<PresenceEntry> {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match users.get(&user) {
            Some((sessions, last_seen)) => aggregate(user, sessions, *last_seen, now),
            None => aggregate(user, &HashMap::new(), None, now),
        })
    }
}
