//! Web Push subscriptions: a browser registers where its push service reaches it, and the worker
//! sends it notifications while its user is away (see `fluxer_core::service` `push`).

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use fluxer_core::service::PushSubscribe;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/push/subscribe", post(subscribe))
        .route("/users/@me/push/subscriptions", get(list))
        .route(
            "/users/@me/push/subscriptions/{subscription_id}",
            delete(unsubscribe),
        )
}

async fn subscribe(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<PushSubscribe>,
) -> ApiResult<Json<Value>> {
    let id = s.fluxer.subscribe_push(&actor, body).await?;
    Ok(Json(json!({ "subscription_id": id })))
}

async fn list(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    let subscriptions: Vec<Value> = s
        .fluxer
        .push_subscriptions(&actor)
        .await?
        .into_iter()
        .map(|sub| json!({"subscription_id": sub.subscription_id, "user_agent": sub.user_agent}))
        .collect();
    Ok(Json(json!({ "subscriptions": subscriptions })))
}

async fn unsubscribe(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    s.fluxer.unsubscribe_push(&actor, &id).await?;
    Ok(Json(json!({ "success": true })))
}
