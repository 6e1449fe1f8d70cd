//! Connections: domains (and Bluesky accounts) a user proves are theirs, shown on their profile.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::service::{
    Connection, ConnectionCreate, ConnectionUpdate, ConnectionVerification,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/connections", get(list).post(initiate))
        .route("/users/@me/connections/verify", post(verify_and_create))
        .route("/users/@me/connections/reorder", patch(reorder))
        .route(
            "/users/@me/connections/bluesky/authorize",
            post(authorize_bluesky),
        )
        .route(
            "/users/@me/connections/{type}/{connection_id}",
            patch(update).delete(remove),
        )
        .route(
            "/users/@me/connections/{type}/{connection_id}/verify",
            post(verify),
        )
}

async fn list(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Vec<Connection>>> {
    Ok(Json(s.fluxer.connections(&actor).await?))
}

async fn initiate(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<ConnectionCreate>,
) -> ApiResult<(StatusCode, Json<ConnectionVerification>)> {
    let started = s.fluxer.initiate_connection(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

#[derive(Deserialize)]
struct VerifyBody {
    #[serde(default)]
    initiation_token: Option<String>,
    #[serde(default)]
    visibility_flags: Option<i64>,
}

async fn verify_and_create(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<(StatusCode, Json<Connection>)> {
    let created = s
        .fluxer
        .verify_and_create_connection(
            &actor,
            body.initiation_token.as_deref(),
            body.visibility_flags,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize)]
struct ReorderBody {
    #[serde(default)]
    connection_ids: Option<Vec<String>>,
}

async fn reorder(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<ReorderBody>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .reorder_connections(&actor, body.connection_ids)
        .await?;
    Ok(no_content())
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((kind, id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<ConnectionUpdate>,
) -> ApiResult<StatusCode> {
    s.fluxer.update_connection(&actor, &kind, &id, body).await?;
    Ok(no_content())
}

async fn remove(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((kind, id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_connection(&actor, &kind, &id).await?;
    Ok(no_content())
}

async fn verify(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((kind, id)): PathParams<(String, String)>,
) -> ApiResult<Json<Connection>> {
    Ok(Json(
        s.fluxer.reverify_connection(&actor, &kind, &id).await?,
    ))
}

#[derive(Deserialize)]
struct AuthorizeBody {
    #[serde(default)]
    handle: Option<String>,
}

async fn authorize_bluesky(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<AuthorizeBody>,
) -> ApiResult<Json<Value>> {
    let url = s
        .fluxer
        .authorize_bluesky(&actor, body.handle.as_deref())
        .await?;
    Ok(Json(json!({ "authorize_url": url })))
}
