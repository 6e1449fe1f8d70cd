//! Password hashing moved off the async workers.

use std::sync::Arc;

use async_trait::async_trait;
use fluxer_core::Error;
use fluxer_core::service::{Argon2Hasher, PasswordHasher};

/// Runs an [`Argon2Hasher`] on tokio's blocking pool, so a login never stalls other requests.
#[derive(Debug, Clone, Default)]
pub struct SpawnBlockingHasher(Arc<Argon2Hasher>);

impl SpawnBlockingHasher {
    pub fn new(inner: Argon2Hasher) -> Self {
        SpawnBlockingHasher(Arc::new(inner))
    }
}

#[async_trait]
impl PasswordHasher for SpawnBlockingHasher {
    async fn hash(&self, password: &str) -> fluxer_core::Result<String> {
        let (h, p) = (self.0.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || h.hash_sync(&p))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }

    async fn verify(&self, password: &str, phc: &str) -> fluxer_core::Result<bool> {
        let (h, p, phc) = (self.0.clone(), password.to_owned(), phc.to_owned());
        tokio::task::spawn_blocking(move || h.verify_sync(&p, &phc))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }
}
