//! The readiness checks of a node's roles: each dependency a role needs, checked the way the role
//! uses it (a node that writes the search index checks that it can write there).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use fluxer_api::ReadinessCheck;
use fluxer_core::error::BoxError;
use fluxer_core::ports::{BlobStore, Queue};

/// The job queue answers.
pub(super) struct QueueCheck(pub(super) Arc<dyn Queue>);

#[async_trait]
impl ReadinessCheck for QueueCheck {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<(), BoxError> {
        self.0.stats().await?;
        Ok(())
    }
}

/// The blob store takes a write: a small object put and deleted.
pub(super) struct BlobsCheck(pub(super) Arc<dyn BlobStore>);

#[async_trait]
impl ReadinessCheck for BlobsCheck {
    fn name(&self) -> &'static str {
        "blobs"
    }

    async fn check(&self) -> Result<(), BoxError> {
        let key = format!("_ready/{}-{}", std::process::id(), next_probe());
        self.0.put(&key, b"ready".to_vec(), None).await?;
        self.0.delete(&key).await?;
        Ok(())
    }
}

/// The search index's directory is there and, for the node that writes the index, takes a file.
pub(super) struct SearchDirCheck {
    pub(super) dir: PathBuf,
    pub(super) writer: bool,
}

#[async_trait]
impl ReadinessCheck for SearchDirCheck {
    fn name(&self) -> &'static str {
        "search"
    }

    async fn check(&self) -> Result<(), BoxError> {
        let (dir, writer) = (self.dir.clone(), self.writer);
        tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
            if !std::fs::metadata(&dir)?.is_dir() {
                return Err(format!("{} is not a directory", dir.display()).into());
            }
            if writer {
                // tantivy leaves files it does not manage alone.
                let probe = dir.join(format!(".ready-{}-{}", std::process::id(), next_probe()));
                std::fs::write(&probe, b"ready")?;
                std::fs::remove_file(&probe)?;
            }
            Ok(())
        })
        .await?
    }
}

/// A number no other probe of this process uses (probes may run at once).
fn next_probe() -> u64 {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    PROBES.fetch_add(1, Ordering::Relaxed)
}
