//! What the handlers share.

use std::sync::Arc;

use fluxer_core::ports::Cache;
use fluxer_core::service::Fluxer;

use crate::ratelimit::{ClientIp, RateLimits};

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
