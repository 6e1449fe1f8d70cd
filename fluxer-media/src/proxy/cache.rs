//! A bounded in-memory LRU of rendered variants (and fetched external originals), with concurrent
//! identical renders coalesced into one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lru::LruCache;
use tokio::sync::OnceCell;

use super::error::MediaError;

/// What identifies a variant: the source, the source's version, and the rendition asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// A blob key, or `external:{url}`.
    pub source: String,
    /// The source's etag: a replaced object never serves a stale variant.
    pub etag: String,
    /// [`Transform::key`](super::transform::Transform::key), or empty for an original.
    pub transform: String,
}

impl CacheKey {
    fn cost(&self) -> usize {
        self.source.len() + self.etag.len() + self.transform.len()
    }
}

/// Bytes ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub bytes: Bytes,
    pub content_type: String,
    /// The quoted entity tag.
    pub etag: String,
}

impl Variant {
    fn cost(&self) -> usize {
        self.bytes.len() + self.content_type.len() + self.etag.len()
    }
}

type Flight = Arc<OnceCell<Result<Variant, MediaError>>>;

struct Entries {
    lru: LruCache<CacheKey, Variant>,
    bytes: usize,
}

/// The variant cache. A budget of 0 disables caching (coalescing still applies).
pub(crate) struct VariantCache {
    budget: usize,
    entries: Mutex<Entries>,
    in_flight: Mutex<HashMap<CacheKey, Flight>>,
}

impl VariantCache {
    pub(crate) fn new(budget_bytes: usize) -> Self {
        VariantCache {
            budget: budget_bytes,
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The cached variant, or the result of `render` — run once for all concurrent callers asking for
    /// the same key (if the running caller is cancelled, a waiting one takes over). Errors are not
    /// cached.
    pub(crate) async fn get_or_render<F, Fut>(
        &self,
        key: CacheKey,
        render: F,
    ) -> Result<Variant, MediaError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Variant, MediaError>>,
    {
        if let Some(hit) = self.get(&key) {
            return Ok(hit);
        }
        let flight = lock(&self.in_flight)
            .entry(key.clone())
            .or_default()
            .clone();
        let result = flight
            .get_or_init(|| async {
                let result = render().await;
                if let Ok(variant) = &result {
                    self.insert(key.clone(), variant.clone());
                }
                result
            })
            .await
            .clone();
        let mut in_flight = lock(&self.in_flight);
        if in_flight.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            in_flight.remove(&key);
        }
        result
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Variant> {
        lock(&self.entries).lru.get(key).cloned()
    }

    fn insert(&self, key: CacheKey, variant: Variant) {
        let cost = key.cost() + variant.cost();
        if cost > self.budget {
            return;
        }
        let mut entries = lock(&self.entries);
        if let Some((old_key, old)) = entries.lru.push(key, variant) {
            entries.bytes -= old_key.cost() + old.cost();
        }
        entries.bytes += cost;
        while entries.bytes > self.budget {
            let Some((old_key, old)) = entries.lru.pop_lru() else {
                break;
            };
            entries.bytes -= old_key.cost() + old.cost();
        }
    }

    #[cfg(test)]
    fn stored_bytes(&self) -> usize {
        lock(&self.entries).bytes
    }
}

/// The maps stay consistent across a panic elsewhere (every update is a single step), so a poisoned
/// lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn key(name: &str) -> CacheKey {
        CacheKey {
            source: name.into(),
            etag: String::new(),
            transform: String::new(),
        }
    }

    fn variant(len: usize) -> Variant {
        Variant {
            bytes: Bytes::from(vec![0; len]),
            content_type: String::new(),
            etag: String::new(),
        }
    }

    #[tokio::test]
    async fn evicts_least_recently_used_within_budget() {
        let cache = VariantCache::new(250);
        for name in ["a", "b"] {
            cache
                .get_or_render(key(name), || async { Ok(variant(100)) })
                .await
                .unwrap();
        }
        assert!(cache.get(&key("a")).is_some()); // a is now the most recent
        cache
            .get_or_render(key("c"), || async { Ok(variant(100)) })
            .await
            .unwrap();
        assert!(cache.get(&key("b")).is_none());
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.stored_bytes() <= 250);
        // larger than the whole budget: served, not stored
        cache
            .get_or_render(key("big"), || async { Ok(variant(1000)) })
            .await
            .unwrap();
        assert!(cache.get(&key("big")).is_none());
    }

    #[tokio::test]
    async fn coalesces_concurrent_renders_and_forgets_errors() {
        let cache = Arc::new(VariantCache::new(0));
        let renders = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, renders) = (cache.clone(), renders.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_render(key("x"), || async {
                            renders.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(variant(1))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        let failed = cache
            .get_or_render(key("y"), || async { Err(MediaError::NotFound) })
            .await;
        assert_eq!(failed.unwrap_err(), MediaError::NotFound);
        let retried = cache
            .get_or_render(key("y"), || async { Ok(variant(1)) })
            .await;
        assert!(retried.is_ok());
    }
}
