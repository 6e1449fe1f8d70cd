//! The gateway's settings.

/// Gateway settings. Defaults are upstream's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How often clients are asked to heartbeat, in milliseconds (HELLO's `heartbeat_interval`).
    /// Default 41 250.
    pub heartbeat_interval_ms: u64,
    /// A connection without a heartbeat for this long is closed (4009).
    pub heartbeat_timeout_ms: u64,
    /// How long a session waits for a RESUME after its socket drops.
    pub resume_window_ms: u64,
    /// Dispatches kept for RESUME until the client acknowledges them. Past this (or
    /// `max_buffered_bytes`) the oldest are let go: the client still receives everything live, and
    /// only a RESUME from before them is refused (INVALID_SESSION, then a new IDENTIFY).
    pub max_unacked: usize,
    /// Bytes of dispatches kept for RESUME per session (payloads are shared between sessions, so
    /// this counts each session's share in full: a bound, not the memory used).
    pub max_buffered_bytes: usize,
    /// A connection that has not identified (or resumed) within this is closed (4009).
    pub identify_timeout_ms: u64,
    /// Events buffered between the bus and a session before it counts as lagging.
    pub subscription_capacity: usize,
    /// Inbound frames allowed per window (4008 beyond).
    pub rate_limit_frames: u32,
    /// The window `rate_limit_frames` counts over, in milliseconds (fixed, restarting once it has
    /// passed). Default 60 000.
    pub rate_window_ms: u64,
    /// IDENTIFYs allowed per user per day (`session_start_limit`).
    pub identifies_per_day: u32,
    /// Presence entries lapse after this long without a refresh.
    pub presence_ttl_ms: u64,
    /// Frames queued for a connection before its client counts as too slow and is disconnected.
    pub outbound_capacity: usize,
    /// A socket write that takes longer than this disconnects the client (resumably).
    pub write_timeout_ms: u64,
    /// Locks the shared guild state is spread over (upstream's `guild_shards`; 0: one per CPU).
    pub guild_shards: usize,
    /// The URL sessions are told to resume at.
    pub public_url: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            heartbeat_interval_ms: 41_250,
            heartbeat_timeout_ms: 45_000,
            resume_window_ms: 60_000,
            max_unacked: 4096,
            max_buffered_bytes: 16 << 20,
            identify_timeout_ms: 30_000,
            subscription_capacity: 4096,
            rate_limit_frames: 120,
            rate_window_ms: 60_000,
            identifies_per_day: 1000,
            presence_ttl_ms: 120_000,
            outbound_capacity: 1024,
            write_timeout_ms: 10_000,
            guild_shards: 0,
            public_url: "ws://127.0.0.1:8080/gateway".to_owned(),
        }
    }
}
