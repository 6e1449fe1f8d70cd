use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

/// A fixed-window counter's state after an increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// Milliseconds until the window resets.
    pub reset_after_ms: u64,
}

/// A shared key-value cache with expiry, counters (rate limits) and locks. Values, counters and locks share
/// one key space (keep them apart with prefixes); an expired entry is absent.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value stored under `key`; `None` when missing or expired.
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>>;
    /// Stores a value; `ttl` of `None` keeps it until deleted.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> PortResult<()>;
    /// Whether a live value was removed.
    async fn delete(&self, key: &str) -> PortResult<bool>;
    /// Atomically counts a hit in the fixed window of length `window` that `key` is in. A window starts
    /// at the first hit on the key; the first hit after it ends starts a new one.
    async fn hit(&self, key: &str, window: Duration) -> PortResult<WindowCount>;
    /// Takes the lock `key` for `ttl` if nobody holds it (a lock past its `ttl` is free); returns the
    /// holder's token, new for every acquisition.
    async fn try_lock(&self, key: &str, ttl: Duration) -> PortResult<Option<String>>;
    /// Releases the lock if `token` still holds it.
    async fn unlock(&self, key: &str, token: &str) -> PortResult<bool>;
}
