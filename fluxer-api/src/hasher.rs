//! Password hashing moved off the async workers, with a bound on how much of it runs at once.
//!
//! An argon2 hash costs about 19 MiB and tens of milliseconds of one core. Anyone can ask for one
//! (register, login, password reset), so without a bound a flood of logins holds as many hashes in
//! memory as it sends requests. Here at most one hash per core runs; a bounded number of callers
//! waits for a turn, for a bounded time; everyone else is told to retry later (429 with
//! `Retry-After`), which costs no memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::Error;
use fluxer_core::service::{Argon2Hasher, PasswordHasher};
use tokio::sync::Semaphore;

/// How many hashes run at once and how many callers may wait for one.
#[derive(Debug, Clone, Copy)]
pub struct HashingLimits {
    /// Hashes computed at once (default: the number of cores).
    pub concurrent: usize,
    /// Callers waiting for a turn beyond those; more are refused at once.
    pub queued: usize,
    /// How long a caller waits for a turn before it is refused.
    pub wait: Duration,
}

impl Default for HashingLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingLimits {
            concurrent: cores,
            queued: cores * 16,
            wait: Duration::from_secs(5),
        }
    }
}

/// Runs an [`Argon2Hasher`] on tokio's blocking pool, so a login never stalls other requests, at
/// most [`HashingLimits::concurrent`] at a time.
#[derive(Debug, Clone)]
pub struct SpawnBlockingHasher {
    inner: Arc<Argon2Hasher>,
    turns: Arc<Semaphore>,
    /// Callers inside `hash`/`verify`, running or waiting.
    callers: Arc<AtomicUsize>,
    limits: HashingLimits,
}

impl Default for SpawnBlockingHasher {
    fn default() -> Self {
        SpawnBlockingHasher::new(Argon2Hasher::default())
    }
}

/// Counts a caller in for as long as it holds this.
struct Caller<'a>(&'a AtomicUsize);

impl Drop for Caller<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SpawnBlockingHasher {
    /// The hasher with [`HashingLimits::default`].
    pub fn new(inner: Argon2Hasher) -> Self {
        SpawnBlockingHasher::with_limits(inner, HashingLimits::default())
    }

    /// The hasher with explicit limits.
    pub fn with_limits(inner: Argon2Hasher, limits: HashingLimits) -> Self {
        let limits = HashingLimits {
            concurrent: limits.concurrent.max(1),
            ..limits
        };
        SpawnBlockingHasher {
            inner: Arc::new(inner),
            turns: Arc::new(Semaphore::new(limits.concurrent)),
            callers: Arc::new(AtomicUsize::new(0)),
            limits,
        }
    }

    /// Runs `work` on the blocking pool once a turn is free, or refuses with a retryable error.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2Hasher) -> fluxer_core::Result<T> + Send + 'static,
    ) -> fluxer_core::Result<T> {
        let busy = || Error::RateLimited {
            retry_after_ms: 1_000,
            global: true,
        };
        let before = self.callers.fetch_add(1, Ordering::AcqRel);
        let _caller = Caller(&self.callers);
        if before >= self.limits.concurrent + self.limits.queued {
            return Err(busy());
        }
        let turn = tokio::time::timeout(self.limits.wait, Arc::clone(&self.turns).acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let inner = Arc::clone(&self.inner);
        // The turn moves into the blocking task: a request cancelled meanwhile does not free it
        // before the hash (and its memory) is actually done.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work(&inner)
        })
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }
}

#[async_trait]
impl PasswordHasher for SpawnBlockingHasher {
    async fn hash(&self, password: &str) -> fluxer_core::Result<String> {
        let password = password.to_owned();
        self.run(move |h| h.hash_sync(&password)).await
    }

    async fn verify(&self, password: &str, phc: &str) -> fluxer_core::Result<bool> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |h| h.verify_sync(&password, &phc)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_beyond_the_queue_are_refused_and_the_rest_finish() {
        let hasher = SpawnBlockingHasher::with_limits(
            Argon2Hasher::default(),
            HashingLimits {
                concurrent: 1,
                queued: 2,
                wait: Duration::from_secs(30),
            },
        );
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(&format!("password {i}")).await })
            })
            .collect();
        let mut done = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(phc) => {
                    assert!(phc.starts_with("$argon2"));
                    done += 1;
                }
                Err(Error::RateLimited { .. }) => refused += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert!((1..=3).contains(&done), "{done} hashed with room for 3");
        assert_eq!(done + refused, 8);
        assert_eq!(hasher.callers.load(Ordering::Acquire), 0);
        // With the flood over, the next caller is served.
        assert!(hasher.hash("x").await.is_ok());
    }

    #[tokio::test]
    async fn a_caller_waits_no_longer_than_the_limit() {
        let hasher = SpawnBlockingHasher::with_limits(
            Argon2Hasher::default(),
            HashingLimits {
                concurrent: 1,
                queued: 8,
                wait: Duration::from_millis(50),
            },
        );
        let held = Arc::clone(&hasher.turns).acquire_owned().await.unwrap();
        let refused = hasher.hash("password").await;
        assert!(matches!(refused, Err(Error::RateLimited { .. })));
        drop(held);
        assert!(hasher.hash("password").await.is_ok());
    }
}
