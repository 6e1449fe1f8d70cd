//! # fluxer-api
//!
//! Fluxer's REST API (v1) as an axum [`Router`] a host mounts in its own server. Routes, JSON shapes,
//! status codes and error bodies follow upstream Fluxer, so its clients (and Discord-style libraries
//! such as `@discordjs/rest`) work unchanged. The same routes are served under `/api/v1`, `/api` and `/v1`.
//!
//! ```
//! use std::sync::Arc;
//!
//! use fluxer_core::service::{Config, Fluxer, Ports};
//! use fluxer_storage::memory::{InProcessEventBus, LogMailer, MemoryCache, MemoryStore};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let cache = Arc::new(MemoryCache::new());
//! let ports = Ports::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(InProcessEventBus::new()),
//!     Arc::new(LogMailer),
//!     cache.clone(),
//! );
//! let fluxer = Fluxer::new(ports, Config::default());
//! let app = fluxer_api::router(fluxer_api::ApiState::new(fluxer, cache, Default::default()));
//!
//! // Serve it with `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`,
//! // or call it directly:
//! let request = axum::http::Request::get("/api/v1/users/@me").body(axum::body::Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 401); // Fluxer's UNAUTHORIZED: no token
//! # });
//! ```

mod client_ip;
mod error;
mod extract;
mod hasher;
mod node_stats;
mod observe;
mod pages;
mod path;
pub mod ratelimit;
mod readiness;
mod routes;
mod state;
mod webauthn;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;

pub use error::{ApiError, ApiResult};
pub use hasher::{HashingLimits, SpawnBlockingHasher};
pub use node_stats::{GatewayCounts, GatewayStats, LoadedGuildStats};
pub use pages::PagesConfig;
pub use path::canonical_uri;
pub use readiness::{CheckOutcome, DatabaseCheck, Readiness, ReadinessCheck};
pub use state::{ApiConfig, ApiState, InstanceInfo, StateParts};
pub use webauthn::WebAuthnRelyingParty;

/// `/_health`, `/_live` and `/_ready` (running `readiness`) alone, for services that serve no API
/// (a worker, the media proxy, a gateway node).
pub fn health_router(readiness: Readiness) -> Router {
    routes::standalone_health(readiness)
}

/// The whole API, with its middleware (limits, rate limits, request logging, panic recovery).
pub fn router(state: ApiState) -> Router {
    let v1 = routes::v1(state.config.max_upload_bytes)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::rate_limit,
        ))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() });
    let api = Router::new()
        .nest("/v1", v1.clone())
        .merge(v1.clone())
        .merge(routes::instance());
    Router::new()
        .nest("/api", api)
        .nest("/v1", v1)
        .merge(routes::instance())
        .merge(routes::health())
        .merge(pages::routes(&state))
        .fallback(|| async { ApiError::not_found().into_response() })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::refuse_banned_ips,
        ))
        .layer(axum::middleware::from_fn(observe::log_requests))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            observe::panic_response,
        ))
        .with_state(state)
}
