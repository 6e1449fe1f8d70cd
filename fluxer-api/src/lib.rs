//! # fluxer-api
//!
//! Fluxer's REST API (v1) as an axum [`Router`] a host mounts in its own server. Routes, JSON shapes,
//! status codes and error bodies follow upstream Fluxer, so its clients (and Discord-style libraries
//! such as `@discordjs/rest`) work unchanged. The same routes are served under `/api/v1`, `/api` and `/v1`.
//!
//! ```no_run
//! # async fn demo(fluxer: fluxer_core::service::Fluxer, cache: std::sync::Arc<dyn fluxer_core::ports::Cache>) {
//! let app = fluxer_api::router(fluxer_api::ApiState::new(fluxer, cache, Default::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
//! # }
//! ```

mod client_ip;
mod error;
mod extract;
mod hasher;
mod observe;
pub mod ratelimit;
mod routes;
mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;

pub use error::{ApiError, ApiResult};
pub use hasher::{HashingLimits, SpawnBlockingHasher};
pub use state::{ApiConfig, ApiState};

/// `/_health` and `/_live` alone, for services that serve no API (a worker, the media proxy, a
/// gateway node).
pub fn health_router() -> Router {
    routes::liveness()
}

/// The whole API, with its middleware (limits, rate limits, request logging, panic recovery).
pub fn router(state: ApiState) -> Router {
    let v1 = routes::v1(state.config.max_upload_bytes)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::rate_limit,
        ))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() });
    let api = Router::new().nest("/v1", v1.clone()).merge(v1.clone());
    Router::new()
        .nest("/api", api)
        .nest("/v1", v1)
        .merge(routes::health())
        .fallback(|| async { ApiError::not_found().into_response() })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn(observe::log_requests))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            observe::panic_response,
        ))
        .with_state(state)
}
