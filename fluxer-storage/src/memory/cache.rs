//! A cache in this process's memory: values with expiry, fixed-window counters and locks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fluxer_core::ports::{Cache, PortResult, WindowCount};

use super::lock;

enum Value {
    Bytes(Vec<u8>),
    /// Hits in the window that ends at the entry's expiry.
    Counter(u64),
    /// The holder's token.
    Lock(String),
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// Values, counters and locks share one key space, as in Redis. Expired entries are ignored when read and
/// swept every 1024 calls.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
    calls: AtomicU64,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            map.retain(|_, e| e.is_live(now));
        }
        f(&mut map, now)
    }
}

/// The live entry under `key`.
fn live<'a>(map: &'a HashMap<String, Entry>, key: &str, now: Instant) -> Option<&'a Entry> {
    map.get(key).filter(|e| e.is_live(now))
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        let found = self.with(|map, now| match live(map, key, now).map(|e| &e.value) {
            Some(Value::Bytes(b)) => Some(b.clone()),
            _ => None,
        });
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.cache_lookup(fluxer_core::telemetry::CacheKind::Shared, found.is_some());
        }
        Ok(found)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> PortResult<()> {
        self.with(|map, now| {
            let entry = Entry {
                value: Value::Bytes(value.to_vec()),
                expires: ttl.map(|t| now + t),
            };
            map.insert(key.to_owned(), entry);
        });
        Ok(())
    }

    async fn delete(&self, key: &str) -> PortResult<bool> {
        Ok(self.with(|map, now| map.remove(key).is_some_and(|e| e.is_live(now))))
    }

    async fn hit(&self, key: &str, window: Duration) -> PortResult<WindowCount> {
        Ok(self.with(|map, now| {
            let (count, ends) = match map.get(key) {
                Some(Entry {
                    value: Value::Counter(count),
                    expires: Some(ends),
                }) if *ends > now => (count + 1, *ends),
                _ => (1, now + window),
            };
            let entry = Entry {
                value: Value::Counter(count),
                expires: Some(ends),
            };
            map.insert(key.to_owned(), entry);
            WindowCount {
                count,
                reset_after_ms: u64::try_from((ends - now).as_millis()).unwrap_or(u64::MAX),
            }
        }))
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> PortResult<Option<String>> {
        let token = fluxer_core::secret::random_hex(20);
        Ok(self.with(|map, now| {
            if live(map, key, now).is_some() {
                return None;
            }
            let entry = Entry {
                value: Value::Lock(token.clone()),
                expires: Some(now + ttl),
            };
            map.insert(key.to_owned(), entry);
            Some(token)
        }))
    }

    async fn unlock(&self, key: &str, token: &str) -> PortResult<bool> {
        Ok(self.with(|map, now| {
            let held =
                matches!(live(map, key, now).map(|e| &e.value), Some(Value::Lock(t)) if t == token);
            if held {
                map.remove(key);
            }
            held
        }))
    }
}
