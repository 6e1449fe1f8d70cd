//! The [`Cache`] conformance suite. Expiry cases use short real TTLs and sleep past them.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::Cache;

/// Generates one test per [`Cache`] case; see [`crate::testing`].
#[macro_export]
macro_rules! cache_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(cache, cache_conformance, [$($factory)+], [
            set_get_delete,
            values_expire_after_ttl,
            set_replaces_value_and_ttl,
            hit_counts_within_window,
            hit_window_resets,
            lock_is_exclusive_until_unlock,
            lock_expires_after_ttl,
        ]);
    };
}

/// Short, yet long enough that a second call right after the first (a lock tried again) still
/// falls within it on a slow backend or a loaded machine.
const SHORT: Duration = Duration::from_millis(150);
/// Comfortably past [`SHORT`], even on a busy machine.
const PAST_SHORT: Duration = Duration::from_millis(500);
/// Long enough never to lapse during a case.
const LONG: Duration = Duration::from_secs(60);

/// Values are set, replaced and read back (empty ones too); `delete` answers whether a value was
/// there.
pub async fn set_get_delete(cache: Arc<dyn Cache>) {
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache.set("k", b"v1", None).await.unwrap();
    cache.set("other", b"x", Some(LONG)).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b"v1".to_vec()));
    cache.set("k", b"v2", None).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b"v2".to_vec()));
    cache.set("empty", b"", None).await.unwrap();
    assert_eq!(cache.get("empty").await.unwrap(), Some(Vec::new()));

    assert!(cache.delete("k").await.unwrap());
    assert!(!cache.delete("k").await.unwrap());
    assert!(!cache.delete("never").await.unwrap());
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert_eq!(cache.get("other").await.unwrap(), Some(b"x".to_vec()));
}

/// A value is gone after its TTL (and `delete` finds nothing), others stay; the key can be set again.
pub async fn values_expire_after_ttl(cache: Arc<dyn Cache>) {
    cache.set("short", b"v", Some(SHORT)).await.unwrap();
    cache.set("long", b"v", Some(LONG)).await.unwrap();
    cache.set("forever", b"v", None).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
    assert!(
        !cache.delete("short").await.unwrap(),
        "an expired value is already gone"
    );
    assert_eq!(cache.get("long").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(cache.get("forever").await.unwrap(), Some(b"v".to_vec()));
    // An expired key can be set again.
    cache.set("short", b"again", None).await.unwrap();
    assert_eq!(cache.get("short").await.unwrap(), Some(b"again".to_vec()));
}

/// `set` replaces the TTL with the value: a TTL can be removed or added.
pub async fn set_replaces_value_and_ttl(cache: Arc<dyn Cache>) {
    cache.set("a", b"1", Some(SHORT)).await.unwrap();
    cache.set("a", b"2", None).await.unwrap();
    cache.set("b", b"1", None).await.unwrap();
    cache.set("b", b"2", Some(SHORT)).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(cache.get("a").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(cache.get("b").await.unwrap(), None);
}

/// `hit` counts per key in a fixed window whose reset time does not move.
pub async fn hit_counts_within_window(cache: Arc<dyn Cache>) {
    let window = Duration::from_secs(30);
    let first = cache.hit("rl:a", window).await.unwrap();
    assert_eq!(first.count, 1);
    assert!(
        first.reset_after_ms > 0 && first.reset_after_ms <= 30_000,
        "{first:?}"
    );
    let mut last = first;
    for expected in 2..=5 {
        let now = cache.hit("rl:a", window).await.unwrap();
        assert_eq!(now.count, expected);
        // A fixed window: its end does not move.
        assert!(
            now.reset_after_ms <= last.reset_after_ms,
            "{now:?} after {last:?}"
        );
        last = now;
    }
    assert_eq!(cache.hit("rl:b", window).await.unwrap().count, 1);
    assert_eq!(cache.hit("rl:a", window).await.unwrap().count, 6);
}

/// The first hit after a window ends starts a new one at 1.
pub async fn hit_window_resets(cache: Arc<dyn Cache>) {
    // The window starts at the key's first hit; the first hit after it ends starts a new one.
    // Long enough for three hits (and, after the reset, two) on a slow backend or a loaded machine.
    let window = Duration::from_millis(900);
    for expected in 1..=3 {
        assert_eq!(cache.hit("rl", window).await.unwrap().count, expected);
    }
    tokio::time::sleep(Duration::from_millis(1_350)).await;
    let fresh = cache.hit("rl", window).await.unwrap();
    assert_eq!(fresh.count, 1);
    assert!(
        fresh.reset_after_ms > 0 && fresh.reset_after_ms <= 900,
        "{fresh:?}"
    );
    assert_eq!(cache.hit("rl", window).await.unwrap().count, 2);
}

/// A lock is held until its token unlocks it: other tries, wrong or stale tokens fail; every
/// acquisition gets a new token.
pub async fn lock_is_exclusive_until_unlock(cache: Arc<dyn Cache>) {
    let token = cache
        .try_lock("job", LONG)
        .await
        .unwrap()
        .expect("a free lock is taken");
    assert_eq!(cache.try_lock("job", LONG).await.unwrap(), None);
    // Other keys are other locks.
    let other = cache
        .try_lock("job2", LONG)
        .await
        .unwrap()
        .expect("another lock is free");
    assert_ne!(other, token);

    assert!(!cache.unlock("job", "not-the-token").await.unwrap());
    assert_eq!(
        cache.try_lock("job", LONG).await.unwrap(),
        None,
        "a wrong token must not release it"
    );
    assert!(cache.unlock("job", &token).await.unwrap());
    assert!(!cache.unlock("job", &token).await.unwrap());

    let next = cache
        .try_lock("job", LONG)
        .await
        .unwrap()
        .expect("released lock is free");
    assert_ne!(next, token);
    assert!(
        !cache.unlock("job", &token).await.unwrap(),
        "an old token must not release a new holder"
    );
    assert_eq!(cache.try_lock("job", LONG).await.unwrap(), None);
    assert!(!cache.unlock("never-locked", &next).await.unwrap());
}

/// A lock past its TTL is free to take again (the old token no longer unlocks); of many concurrent
/// tries exactly one wins.
pub async fn lock_expires_after_ttl(cache: Arc<dyn Cache>) {
    let first = cache.try_lock("lease", SHORT).await.unwrap().expect("free");
    assert_eq!(cache.try_lock("lease", SHORT).await.unwrap(), None);
    tokio::time::sleep(PAST_SHORT).await;
    let second = cache
        .try_lock("lease", LONG)
        .await
        .unwrap()
        .expect("an expired lock is free");
    assert_ne!(first, second);
    assert!(!cache.unlock("lease", &first).await.unwrap());
    assert!(cache.unlock("lease", &second).await.unwrap());

    // Many contenders at once: exactly one wins.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.try_lock("contended", LONG).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}
