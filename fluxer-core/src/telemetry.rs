//! The measurements the server takes (request latency, database time, cache hits, gateway
//! connections, message delivery, jobs), handed to a [`Recorder`] the host installs once at start.
//!
//! The domain names what is measured; the host decides where it goes (`fluxer-server` exports it as
//! OpenTelemetry metrics when `telemetry.enabled` is set). Without a recorder every measuring site
//! costs one atomic load: [`recorder`] answers `None` and nothing is timed, formatted or allocated.
//!
//! ```
//! use std::time::Duration;
//! use fluxer_core::telemetry::{self, JobOutcome, Recorder};
//!
//! struct Count(std::sync::atomic::AtomicU64);
//! impl Recorder for Count {
//!     fn job_finished(&self, _kind: &str, _outcome: JobOutcome) {
//!         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!     }
//! }
//! // Before installation nothing is recorded.
//! assert!(telemetry::recorder().is_none());
//! ```

use std::sync::OnceLock;
use std::time::Duration;

/// How a job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// It succeeded.
    Done,
    /// It failed and will be retried.
    Failed,
    /// It failed its last attempt and went to the dead letter.
    DeadLettered,
}

/// A cache the server keeps, for hit and miss counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheKind {
    /// The in-process answers of access checks (sessions, guild standings, channels).
    Access,
    /// The shared key-value cache port (memory or Redis).
    Shared,
}

impl CacheKind {
    /// The name measurements carry (`access`, `shared`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheKind::Access => "access",
            CacheKind::Shared => "shared",
        }
    }
}

/// Receives measurements. Every method has an empty default, so a recorder implements only what it
/// keeps and new measurements do not break existing recorders. Calls come from request handlers and
/// the gateway's hot paths: an implementation must not block.
pub trait Recorder: Send + Sync + 'static {
    /// One HTTP request answered: its route template (`/api/v1/channels/{channel_id}/messages`, never
    /// the raw path), method, status and duration.
    fn http_request(&self, route: &str, method: &str, status: u16, duration: Duration) {
        let _ = (route, method, status, duration);
    }

    /// One database operation: the backend (`sqlite`, `postgresql`), the operation's name (the
    /// repository method, `create_message`) and how long it took, queueing included.
    fn db_operation(&self, system: &'static str, operation: &str, duration: Duration) {
        let _ = (system, operation, duration);
    }

    /// A cache lookup that found its entry (`hit`) or not.
    fn cache_lookup(&self, cache: CacheKind, hit: bool) {
        let _ = (cache, hit);
    }

    /// A gateway WebSocket connection opened (`+1`) or closed (`-1`).
    fn gateway_connections(&self, delta: i64) {
        let _ = delta;
    }

    /// A gateway session started (`+1`) or ended (`-1`).
    fn gateway_sessions(&self, delta: i64) {
        let _ = delta;
    }

    /// A message reached a client's socket, `duration` after it was created.
    fn message_delivered(&self, duration: Duration) {
        let _ = duration;
    }

    /// The job queue's size now.
    fn queue_depth(&self, pending: u64, in_flight: u64, dead: u64) {
        let _ = (pending, in_flight, dead);
    }

    /// A job of `kind` ran to `outcome`.
    fn job_finished(&self, kind: &str, outcome: JobOutcome) {
        let _ = (kind, outcome);
    }

    /// Whether requests to `path` are traced (hosts open their request spans only then); `false`
    /// when the recorder keeps metrics alone.
    fn traces(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// The trace ID of the current span, for logs to carry so they join their trace.
    fn trace_id(&self) -> Option<String> {
        None
    }
}

static RECORDER: OnceLock<Box<dyn Recorder>> = OnceLock::new();

/// Installs the process's recorder; `false` if one was installed already (the first one stays).
pub fn install(recorder: Box<dyn Recorder>) -> bool {
    RECORDER.set(recorder).is_ok()
}

/// The installed recorder, if any. Measuring sites check this first, so an uninstrumented process
/// does not even read the clock.
#[inline]
pub fn recorder() -> Option<&'static dyn Recorder> {
    RECORDER.get().map(|r| &**r)
}
