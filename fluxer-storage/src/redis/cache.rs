//! The shared cache on Redis: values with expiry, fixed-window counters and locks.

use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::ports::{Cache, PortResult, WindowCount};
use redis::Script;
use redis::aio::ConnectionManager;

use super::{RedisConfig, backend, expiry_ms};

/// Counts a hit: `INCR`, starting the window on the first hit, and reports how long the window has
/// left. A counter found without an expiry (written by something else, or left by a Redis that lost the
/// expiry) gets one, so a window always ends.
const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// Deletes the lock only if it still holds the caller's token (another holder may have taken it after
/// the caller's lease ran out).
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// [`Cache`] on Redis. Values, counters and locks are plain Redis strings under one key prefix, with
/// Redis's own expiry: the entries expire on the Redis server's clock, which all nodes share.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
    hit: Script,
    unlock: Script,
}

impl RedisCache {
    /// Connects to the configured server.
    pub async fn connect(config: &RedisConfig) -> PortResult<RedisCache> {
        Ok(Self::new(config.connect().await?, &config.key_prefix))
    }

    /// A cache on an existing connection, keeping its keys under `prefix`.
    pub fn new(connection: ConnectionManager, prefix: &str) -> RedisCache {
        RedisCache {
            connection,
            prefix: prefix.to_owned(),
            hit: Script::new(HIT),
            unlock: Script::new(UNLOCK),
        }
    }

    /// The connection, to share with other Redis adapters.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        let found: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.cache_lookup(fluxer_core::telemetry::CacheKind::Shared, found.is_some());
        }
        Ok(found)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> PortResult<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(expiry_ms(ttl));
        }
        cmd.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn delete(&self, key: &str) -> PortResult<bool> {
        let removed: u64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }

    async fn hit(&self, key: &str, window: Duration) -> PortResult<WindowCount> {
        let (count, left): (u64, i64) = self
            .hit
            .key(self.key(key))
            .arg(expiry_ms(window))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(WindowCount {
            count,
            // PTTL is 0 only in the last millisecond of a window; report at least 1 so callers
            // never see a window that has already ended.
            reset_after_ms: u64::try_from(left).unwrap_or(0).max(1),
        })
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> PortResult<Option<String>> {
        let token = fluxer_core::secret::random_hex(20);
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(expiry_ms(ttl))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(taken.map(|_| token))
    }

    async fn unlock(&self, key: &str, token: &str) -> PortResult<bool> {
        let removed: u64 = self
            .unlock
            .key(self.key(key))
            .arg(token)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }
}
