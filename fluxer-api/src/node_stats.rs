//! What `/admin/gateway/stats` reports about the process serving it: the gateway's counts when
//! this process runs one (the host hands a [`GatewayStats`] to [`ApiState::with_gateway_stats`]),
//! and the process's own memory.
//!
//! [`ApiState::with_gateway_stats`]: crate::ApiState::with_gateway_stats

/// A gateway's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayCounts {
    /// Live sessions (connected or waiting for a resume).
    pub sessions: usize,
    /// Open WebSocket connections.
    pub connections: usize,
    /// Guilds held in memory.
    pub guilds: usize,
}

/// A gateway running in this process, as the admin API sees it.
pub trait GatewayStats: Send + Sync {
    /// Its counts now; `None` while it is not (yet) running.
    fn counts(&self) -> Option<GatewayCounts>;
}
