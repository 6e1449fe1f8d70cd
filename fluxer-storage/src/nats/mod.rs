//! NATS: the event bus across nodes, with a short history in JetStream for resuming sessions on
//! another node ([`NatsEventBus`]), and the durable job queue on JetStream ([`JetStreamQueue`]).
//!
//! Everything lives under one configurable prefix (`fluxer` by default), so several deployments (or
//! test runs) can share a NATS server or account:
//!
//! - events published on `<prefix>.events.<topic>` (`fluxer.events.guild.123`), kept for a few
//!   minutes in the stream `<prefix>_EVENTS`, which republishes each one it stored on
//!   `<prefix>.live.<topic>` for live delivery;
//! - jobs in the work-queue stream `<prefix>_JOBS` (subjects `<prefix>.jobs.>`), dead letters in
//!   `<prefix>_DEAD` (subject `<prefix>.dead.jobs`).
//!
//! ```no_run
//! # async fn example() -> Result<(), fluxer_core::StoreError> {
//! use std::sync::Arc;
//! use fluxer_core::ports::{EventBus, Queue};
//! use fluxer_storage::nats::{JetStreamQueue, NatsConfig, NatsEventBus};
//!
//! let config = NatsConfig::new("nats://127.0.0.1:4222");
//! let client = config.connect().await?;
//! let bus: Arc<dyn EventBus> = Arc::new(NatsEventBus::new(client.clone(), &config.prefix)?);
//! let queue: Arc<dyn Queue> = Arc::new(JetStreamQueue::open(client, &config).await?);
//! # Ok(())
//! # }
//! ```

mod events;
mod queue;

/// The NATS connection the bus and the queue share.
pub use async_nats::Client as NatsClient;
pub use events::NatsEventBus;
pub use queue::JetStreamQueue;

use fluxer_core::StoreError;
use fluxer_core::ports::PortResult;
use serde::{Deserialize, Serialize};

/// Where the NATS adapters connect and how the queue is set up; deserializable from the host's
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NatsConfig {
    /// A `nats://` URL (or a comma-separated list of them), with credentials if any.
    pub url: String,
    /// The first token of every subject and of the stream and consumer names (`fluxer`): ASCII letters,
    /// digits, `-` and `_`.
    #[serde(default = "NatsConfig::default_prefix")]
    pub prefix: String,
    /// How long a reserved job may go without word from its worker before JetStream delivers it again:
    /// the work consumer's `ack_wait`. It only matters when the process holding the job dies; while it
    /// lives, each reservation's own lease applies (see [`JetStreamQueue`]).
    #[serde(default = "NatsConfig::default_ack_wait_ms")]
    pub ack_wait_ms: u64,
    /// Replicas of the queue's and the events' streams (1 on a single server, 3 on a typical cluster).
    #[serde(default = "NatsConfig::default_replicas")]
    pub replicas: usize,
    /// How long events are kept for replay (resuming a gateway session on another node): at least a
    /// gateway's resume window.
    #[serde(default = "NatsConfig::default_event_history_ms")]
    pub event_history_ms: u64,
}

impl NatsConfig {
    /// The defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            prefix: Self::default_prefix(),
            ack_wait_ms: Self::default_ack_wait_ms(),
            replicas: Self::default_replicas(),
            event_history_ms: Self::default_event_history_ms(),
        }
    }

    /// The same configuration under another prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> NatsConfig {
        self.prefix = prefix.into();
        self
    }

    fn default_prefix() -> String {
        "fluxer".to_owned()
    }

    fn default_ack_wait_ms() -> u64 {
        30_000
    }

    fn default_replicas() -> usize {
        1
    }

    fn default_event_history_ms() -> u64 {
        5 * 60 * 1000
    }

    /// Connects to the configured server; fails if it cannot be reached now (afterwards, the client
    /// reconnects on its own).
    pub async fn connect(&self) -> PortResult<async_nats::Client> {
        async_nats::connect(self.url.as_str()).await.map_err(|e| {
            StoreError::backend_of("nats", format!("nats: connecting to {}: {e}", self.url))
        })
    }
}

/// Refuses a prefix that would not make valid subjects, stream names and consumer names.
fn check_prefix(prefix: &str) -> PortResult<()> {
    let valid = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::backend_of(
            "nats",
            format!("nats: invalid prefix {prefix:?} (ASCII letters, digits, - and _ only)"),
        ))
    }
}
