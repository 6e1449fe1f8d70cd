//! What the handlers share.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;

use fluxer_core::ports::Cache;
use fluxer_core::service::Fluxer;

use crate::client_ip::ClientIp;

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The largest accepted request body.
    pub max_body_bytes: usize,
    /// The largest body of a request that carries files (a message with attachments).
    pub max_upload_bytes: usize,
    /// The gateway URL clients connect to, without query (`ws://127.0.0.1:8080/gateway`).
    pub gateway_url: String,
    pub rate_limits: RateLimits,
    /// Who the client is behind a reverse proxy: by default the socket's peer.
    pub client_ip: ClientIp,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 100 << 20,
            gateway_url: "ws://127.0.0.1:8080/gateway".to_owned(),
            rate_limits: RateLimits::default(),
            client_ip: ClientIp::default(),
        }
    }
}

/// The router's state: the use-cases, the cache (rate limits) and the settings.
#[derive(Clone)]
pub struct ApiState {
    pub fluxer: Fluxer,
    pub cache: Arc<dyn Cache>,
    pub config: Arc<ApiConfig>,
}

impl ApiState {
    pub fn new(fluxer: Fluxer, cache: Arc<dyn Cache>, config: ApiConfig) -> Self {
        ApiState {
            fluxer,
            cache,
            config: Arc::new(config),
        }
    }
}

/// A limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: u64,
    pub window: Duration,
}

impl Limit {
    pub const fn new(limit: u64, window_ms: u64) -> Self {
        Limit {
            limit,
            window: Duration::from_millis(window_ms),
        }
    }
}

/// The instance's rate limits: upstream's numbers by default.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    /// Per caller across all routes.
    pub global: Limit,
    /// Per client IP across all routes and callers: what one address may send in all.
    pub per_ip: Limit,
    /// Routes without a rule of their own.
    pub default: Limit,
    /// `(method, route template, limit)`; the template is the one in the router (`/channels/{channel_id}/messages`).
    pub routes: Vec<(Method, &'static str, Limit)>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            global: Limit::new(50, 1_000),
            per_ip: Limit::new(500, 1_000),
            default: Limit::new(50, 10_000),
            routes: vec![
                (
                    Method::POST,
                    "/channels/{channel_id}/messages",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::GET,
                    "/channels/{channel_id}/messages",
                    Limit::new(100, 10_000),
                ),
                (Method::POST, "/auth/login", Limit::new(10, 10_000)),
                (Method::POST, "/auth/register", Limit::new(10, 10_000)),
                (Method::POST, "/auth/forgot", Limit::new(5, 60_000)),
                (
                    Method::POST,
                    "/webhooks/{webhook_id}/{token}",
                    Limit::new(30, 10_000),
                ),
                (
                    Method::PUT,
                    "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                    Limit::new(20, 5_000),
                ),
                (Method::POST, "/guilds", Limit::new(10, 60_000)),
            ],
        }
    }
}
