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

/// A guild the gateway of this process holds in memory (`/admin/gateway/memory-stats`,
/// `/admin/gateway/reload-all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedGuildStats {
    /// The guild.
    pub guild_id: fluxer_core::id::GuildId,
    /// Its name.
    pub name: String,
    /// Its icon hash.
    pub icon: Option<String>,
    /// About how many bytes its state takes.
    pub state_bytes: usize,
    /// Sessions here that follow it.
    pub sessions: usize,
    /// Distinct users of those sessions.
    pub users: usize,
}

/// A gateway running in this process, as the admin API sees it.
pub trait GatewayStats: Send + Sync {
    /// Its counts now; `None` while it is not (yet) running.
    fn counts(&self) -> Option<GatewayCounts>;

    /// The guilds it holds in memory now (none while it is not running).
    fn loaded_guilds(&self) -> Vec<LoadedGuildStats> {
        Vec::new()
    }
}
