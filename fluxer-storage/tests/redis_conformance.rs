//! The Redis adapters against the cache, presence and voice states suites, on a real Redis.
//!
//! The server is `FLUXER_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); the tests fail when it
//! cannot be reached. Every case gets a fresh key prefix, so runs can share a server; keys that
//! previous runs left behind (values without expiry, presence) are removed after an hour.

#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fluxer_core::ports::{Cache, Presence, VoiceStates};
use fluxer_core::service::SessionToken;
use fluxer_storage::redis::{RedisCache, RedisConfig, RedisPresence, RedisVoiceStates};

const ROOT: &str = "fluxer-test";
/// Keys of runs older than this are garbage.
const STALE_SECS: u64 = 3600;

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A configuration with a key prefix no other case uses: `fluxer-test:<unix secs>:<random>:`.
async fn fresh_config() -> RedisConfig {
    let url = std::env::var("FLUXER_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let random = &SessionToken::generate().0[4..20];
    let config = RedisConfig::new(url).with_key_prefix(format!("{ROOT}:{}:{random}:", unix_secs()));
    remove_stale_keys(&config).await;
    config
}

/// Deletes keys that runs older than [`STALE_SECS`] left behind.
async fn remove_stale_keys(config: &RedisConfig) {
    let mut connection = config
        .connect()
        .await
        .unwrap_or_else(|e| panic!("Redis at {} is required for these tests: {e}", config.url));
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{ROOT}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        let stale: Vec<&String> = keys
            .iter()
            .filter(|key| {
                key.split(':')
                    .nth(1)
                    .and_then(|secs| secs.parse::<u64>().ok())
                    .is_some_and(|secs| secs + STALE_SECS < unix_secs())
            })
            .collect();
        if !stale.is_empty() {
            redis::cmd("DEL")
                .arg(&stale)
                .query_async::<()>(&mut connection)
                .await
                .expect("DEL");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

async fn cache() -> Arc<dyn Cache> {
    let config = fresh_config().await;
    Arc::new(
        RedisCache::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("Redis at {} is required for these tests: {e}", config.url)),
    )
}

async fn presence() -> Arc<dyn Presence> {
    let config = fresh_config().await;
    Arc::new(
        RedisPresence::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("Redis at {} is required for these tests: {e}", config.url)),
    )
}

async fn voice_states() -> Arc<dyn VoiceStates> {
    let config = fresh_config().await;
    Arc::new(
        RedisVoiceStates::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("Redis at {} is required for these tests: {e}", config.url)),
    )
}

fluxer_core::cache_conformance_tests!(async { cache().await });
fluxer_core::voice_states_conformance_tests!(async { voice_states().await });
fluxer_core::presence_conformance_tests!(async { presence().await });
