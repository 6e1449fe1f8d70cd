//! Connections: domains (and Bluesky accounts) a user proves are theirs, shown on their profile.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::service::{
    Connection, ConnectionCreate, ConnectionUpdate, ConnectionVerification,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
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
        .route(
            "/connections/bluesky/client-metadata.json",
            get(bluesky_client_metadata),
        )
        .route("/connections/bluesky/jwks.json", get(bluesky_jwks))
        .route("/connections/bluesky/callback", get(bluesky_callback))
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

/// Upstream's answer for the client documents while Bluesky is off.
fn bluesky_off() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "Bluesky OAuth is not enabled" })),
    )
        .into_response()
}

async fn bluesky_client_metadata(State(s): State<ApiState>) -> Response {
    match s.fluxer.bluesky_client_documents() {
        Some((metadata, _)) => Json(metadata).into_response(),
        None => bluesky_off(),
    }
}

async fn bluesky_jwks(State(s): State<ApiState>) -> Response {
    match s.fluxer.bluesky_client_documents() {
        Some((_, jwks)) => Json(jwks).into_response(),
        None => bluesky_off(),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    iss: Option<String>,
}

/// Where the user's server sends them back: the account is linked, then the browser goes on to
/// the web app's `/connection-callback` with `status=connected`, or `status=error&reason=...`.
async fn bluesky_callback(
    State(s): State<ApiState>,
    QueryParams(q): QueryParams<CallbackQuery>,
) -> Response {
    let outcome = s
        .fluxer
        .complete_bluesky(q.state.as_deref(), q.code.as_deref(), q.iss.as_deref())
        .await;
    let query = match outcome {
        Ok(()) => "status=connected".to_owned(),
        Err(reason) => format!("status=error&reason={reason}"),
    };
    let target = format!(
        "{}/connection-callback?{query}",
        s.config.instance.webapp.trim_end_matches('/')
    );
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}
