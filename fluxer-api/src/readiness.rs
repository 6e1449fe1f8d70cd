//! What `/_ready` checks: the dependencies a node's roles need, each by name.
//!
//! The composition root decides the checks (a gateway node does not check the blob store it never
//! writes); an [`ApiState`](crate::ApiState) without any checks the database alone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::error::BoxError;
use fluxer_core::service::Fluxer;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One dependency `/_ready` checks.
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// Its name in the answer: `database`, `queue`, `search`, `blobs`.
    fn name(&self) -> &'static str;

    /// Succeeds when the dependency works (and takes writes, for one this node writes). The error
    /// goes to the log, never to the wire.
    async fn check(&self) -> Result<(), BoxError>;
}

/// The checks of one node, run together by `/_ready`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The check's name.
    pub name: &'static str,
    /// Whether it passed.
    pub ready: bool,
}

impl Readiness {
    /// The node's checks.
    pub fn new(checks: Vec<Arc<dyn ReadinessCheck>>) -> Readiness {
        Readiness {
            checks: Arc::new(checks),
        }
    }

    /// Whether there is no check at all.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Runs every check at once, each within a few seconds; failures are logged with their cause.
    pub async fn run(&self) -> Vec<CheckOutcome> {
        let running: Vec<_> = self
            .checks
            .iter()
            .map(|check| {
                let check = Arc::clone(check);
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check.check()).await;
                    let ready = match outcome {
                        Ok(Ok(())) => true,
                        Ok(Err(e)) => {
                            tracing::error!(check = check.name(), error = %fluxer_core::error::chain(&*e), "readiness check failed");
                            false
                        }
                        Err(_) => {
                            tracing::error!(check = check.name(), "readiness check timed out");
                            false
                        }
                    };
                    CheckOutcome {
                        name: check.name(),
                        ready,
                    }
                })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(running.len());
        for (task, check) in running.into_iter().zip(self.checks.iter()) {
            outcomes.push(task.await.unwrap_or(CheckOutcome {
                name: check.name(),
                ready: false,
            }));
        }
        outcomes
    }
}

/// The database answers a read.
pub struct DatabaseCheck(pub Fluxer);

#[async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), BoxError> {
        Ok(self.0.check_store().await?)
    }
}
