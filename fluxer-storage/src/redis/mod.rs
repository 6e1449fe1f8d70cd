//! Redis (or Valkey): the cache shared by every node ([`RedisCache`]: values, rate-limit counters and
//! locks), presence ([`RedisPresence`]) and voice connections ([`RedisVoiceStates`]).
//!
//! Both sit on a [`redis::aio::ConnectionManager`], which multiplexes calls over one connection and
//! reconnects after a failure, and keep every key under a configurable prefix so several deployments
//! (or test runs) can share one Redis. Operations that read and then write run as Lua scripts, so they
//! are atomic and take one round trip.
//!
//! ```no_run
//! # async fn example() -> Result<(), fluxer_core::StoreError> {
//! use std::sync::Arc;
//! use fluxer_core::ports::{Cache, Presence};
//! use fluxer_storage::redis::{RedisCache, RedisConfig, RedisPresence};
//!
//! let config = RedisConfig::new("redis://127.0.0.1:6379").with_key_prefix("fluxer:");
//! let cache = RedisCache::connect(&config).await?;
//! // Presence shares the cache's connection.
//! let presence = RedisPresence::new(cache.connection(), &config.key_prefix);
//! let (cache, presence): (Arc<dyn Cache>, Arc<dyn Presence>) = (Arc::new(cache), Arc::new(presence));
//! # Ok(())
//! # }
//! ```

mod cache;
mod presence;
mod voice_states;

pub use cache::RedisCache;
pub use presence::RedisPresence;
pub use voice_states::RedisVoiceStates;

use std::time::Duration;

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

/// Where the Redis adapters connect; deserializable from the host's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RedisConfig {
    /// A `redis://` (or `rediss://`) URL, with the database number and credentials if any.
    pub url: String,
    /// Prepended verbatim to every key (`fluxer:` by default). Deployments sharing a Redis need
    /// distinct prefixes. Avoid `{` and `}`: presence keys use a `{user}` hash tag for Redis Cluster.
    #[serde(default = "RedisConfig::default_key_prefix")]
    pub key_prefix: String,
}

impl RedisConfig {
    /// The defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            key_prefix: Self::default_key_prefix(),
        }
    }

    /// The same configuration under another key prefix.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.key_prefix = prefix.into();
        self
    }

    fn default_key_prefix() -> String {
        "fluxer:".to_owned()
    }

    /// Opens a reconnecting connection to the configured server; fails (within seconds) if it cannot
    /// be reached now.
    pub async fn connect(&self) -> PortResult<ConnectionManager> {
        let client = redis::Client::open(self.url.as_str()).map_err(backend)?;
        // The retry delays start at 1 s and grow by `factor`, up to `max_delay` ms. The crate's default
        // factor of 100 makes a refused first connection retry for minutes.
        let config = ConnectionManagerConfig::new()
            .set_factor(2)
            .set_max_delay(2_000)
            .set_number_of_retries(3)
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(10));
        ConnectionManager::new_with_config(client, config)
            .await
            .map_err(backend)
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::backend_of("redis", e)
}

/// Milliseconds for a Redis expiry argument: at least 1 (Redis rejects 0, which a sub-millisecond
/// duration would round to) and at most about 35,000 years (Redis rejects expiries that overflow its
/// clock arithmetic).
fn expiry_ms(d: Duration) -> u64 {
    const MAX: u64 = 1 << 50;
    u64::try_from(d.as_millis()).unwrap_or(MAX).clamp(1, MAX)
}
