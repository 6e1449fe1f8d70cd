//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::ApiState;

/// `/_health` (alive) and `/_ready` (the database answers), at the root.
pub(crate) fn health() -> Router<ApiState> {
    Router::new()
        .route("/_health", get(alive))
        .route("/_live", get(alive))
        .route("/_ready", get(ready))
}

/// `/_health` and `/_live` with no state, for services without an API.
pub(crate) fn liveness() -> Router {
    Router::new()
        .route("/_health", get(alive))
        .route("/_live", get(alive))
}

/// The same under the API prefixes.
pub(super) fn versioned() -> Router<ApiState> {
    Router::new()
        .route("/_health", get(alive))
        .route("/_ready", get(ready))
}

async fn alive() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<ApiState>) -> (StatusCode, Json<serde_json::Value>) {
    match state.fluxer.check_store().await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        Err(e) => {
            tracing::error!(error = %fluxer_core::error::chain(&e), "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "error" })),
            )
        }
    }
}
