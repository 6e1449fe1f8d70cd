//! Applications, bots, the OAuth2 bot-authorize flow, and gateway discovery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::ApplicationId;
use fluxer_core::model::ApplicationResponse;
use fluxer_core::service::{ApplicationCreate, ApplicationUpdate, BotAuthorize};
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/oauth2/applications", post(create))
        .route("/oauth2/applications/@me", get(list))
        .route("/users/@me/applications", get(list))
        .route(
            "/oauth2/applications/{application_id}",
            get(get_app).patch(update).delete(delete),
        )
        .route(
            "/oauth2/applications/{application_id}/bot/reset-token",
            post(reset_token),
        )
        .route("/oauth2/authorize", post(authorize))
        .route("/applications/@me", get(current))
        .route("/gateway", get(gateway))
        .route("/gateway/bot", get(gateway_bot))
}

async fn create(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<ApplicationCreate>,
) -> ApiResult<Json<ApplicationResponse>> {
    Ok(Json(s.fluxer.create_application(&actor, req).await?))
}

async fn list(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<ApplicationResponse>>> {
    Ok(Json(s.fluxer.list_applications(&actor).await?))
}

async fn get_app(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
) -> ApiResult<Json<ApplicationResponse>> {
    Ok(Json(s.fluxer.get_application(&actor, id).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
    JsonBody(req): JsonBody<ApplicationUpdate>,
) -> ApiResult<Json<ApplicationResponse>> {
    Ok(Json(s.fluxer.update_application(&actor, id, req).await?))
}

#[derive(Deserialize, Default)]
struct Sudo {
    password: Option<String>,
}

async fn delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
    JsonBody(req): JsonBody<Sudo>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_application(&actor, id, req.password.as_deref())
        .await?;
    Ok(no_content())
}

async fn reset_token(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
    JsonBody(req): JsonBody<Sudo>,
) -> ApiResult<Json<serde_json::Value>> {
    let token = s
        .fluxer
        .reset_bot_token(&actor, id, req.password.as_deref())
        .await?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize, Default)]
struct AuthorizeQuery {
    client_id: Option<ApplicationId>,
    scope: Option<String>,
}

/// Discord's bot-authorize form: the client ID and scope in the query or the body, the guild in the
/// body. (Upstream's consent, which also issues a code, is `POST /oauth2/authorize/consent`.)
async fn authorize(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<AuthorizeQuery>,
    JsonBody(mut req): JsonBody<BotAuthorize>,
) -> ApiResult<Json<serde_json::Value>> {
    let app = req.client_id.or(q.client_id).ok_or_else(|| {
        ApiError::invalid("client_id", "BASE_TYPE_REQUIRED", "This field is required.")
    })?;
    if req.scope.is_none() {
        req.scope = q.scope;
    }
    let guild_id = req.guild_id;
    s.fluxer.authorize_bot(&actor, app, req).await?;
    Ok(Json(json!({ "location": null, "guild_id": guild_id })))
}

async fn current(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<ApplicationResponse>> {
    Ok(Json(s.fluxer.current_application(&actor).await?))
}

async fn gateway(State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(json!({ "url": s.config.gateway_url }))
}

async fn gateway_bot(State(s): State<ApiState>, Auth(_actor): Auth) -> Json<serde_json::Value> {
    Json(json!({
        "url": s.config.gateway_url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 14_400_000,
            "max_concurrency": 1,
        },
    }))
}
