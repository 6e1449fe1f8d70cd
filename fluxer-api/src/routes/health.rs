//! Liveness and readiness, answered as upstream's server does: `/_live` and `/_health` cost
//! nothing and say the process answers; `/_ready` runs the node's [`Readiness`] checks and answers
//! 503 naming the one that failed (without its cause, which goes to the log).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use fluxer_core::time::Timestamp;
use serde_json::{Map, Value, json};

use crate::readiness::{DatabaseCheck, Readiness, ReadinessCheck};
use crate::state::ApiState;

/// `/_health`, `/_live` and `/_ready` at the root, on the API's state.
pub(crate) fn health() -> Router<ApiState> {
    Router::new()
        .route("/_health", get(alive))
        .route("/_live", get(live))
        .route("/_ready", get(api_ready))
}

/// The same for services without an API, with their own checks.
pub(crate) fn standalone(readiness: Readiness) -> Router {
    Router::new()
        .route("/_health", get(alive))
        .route("/_live", get(live))
        .route("/_ready", get(ready))
        .with_state(readiness)
}

/// The same under the API prefixes.
pub(super) fn versioned() -> Router<ApiState> {
    Router::new()
        .route("/_health", get(alive))
        .route("/_ready", get(api_ready))
}

async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn live() -> Json<Value> {
    Json(json!({ "alive": true, "timestamp": Timestamp::now().to_iso8601() }))
}

async fn api_ready(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    if state.readiness.is_empty() {
        let database: Arc<dyn ReadinessCheck> = Arc::new(DatabaseCheck(state.fluxer.clone()));
        return ready(State(Readiness::new(vec![database]))).await;
    }
    ready(State(state.readiness.clone())).await
}

/// `{"ready": bool, "timestamp", "checks": {"database": {"ready": true}, ...}}`, 503 unless all
/// passed: upstream's shape.
async fn ready(State(readiness): State<Readiness>) -> (StatusCode, Json<Value>) {
    let outcomes = readiness.run().await;
    let all = outcomes.iter().all(|o| o.ready);
    let checks: Map<String, Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut check = json!({ "ready": o.ready });
            if !o.ready {
                check["message"] = json!(format!("{} check failed", o.name));
            }
            (o.name.to_owned(), check)
        })
        .collect();
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": all,
        "timestamp": Timestamp::now().to_iso8601(),
        "checks": checks,
    });
    (status, Json(body))
}
