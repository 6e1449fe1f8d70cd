//! `/webhooks/*`: manage with a user token, or use with the webhook's own token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::WebhookId;
use fluxer_core::model::WebhookResponse;
use fluxer_core::service::{WebhookExecute, WebhookUpdate};
use serde::Deserialize;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, MessageBody, PathParams, QueryParams};
use crate::state::ApiState;

/// `upload_limit` raises the body limit of execute, which takes files.
pub(super) fn routes(upload_limit: axum::extract::DefaultBodyLimit) -> Router<ApiState> {
    Router::new()
        .route(
            "/webhooks/{webhook_id}",
            get(get_hook).patch(update).delete(delete),
        )
        .route(
            "/webhooks/{webhook_id}/{token}",
            get(get_with_token)
                .patch(update_with_token)
                .delete(delete_with_token)
                .merge(post(execute).layer(upload_limit)),
        )
}

async fn get_hook(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<WebhookId>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(s.fluxer.get_webhook(&actor, id).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<WebhookId>,
    JsonBody(req): JsonBody<WebhookUpdate>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(
        s.fluxer.update_webhook(Some(&actor), id, None, req).await?,
    ))
}

async fn delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<WebhookId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_webhook(Some(&actor), id, None).await?;
    Ok(no_content())
}

async fn get_with_token(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(s.fluxer.get_webhook_with_token(id, &token).await?))
}

async fn update_with_token(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
    JsonBody(req): JsonBody<WebhookUpdate>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(
        s.fluxer.update_webhook(None, id, Some(&token), req).await?,
    ))
}

async fn delete_with_token(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_webhook(None, id, Some(&token)).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct ExecuteQuery {
    wait: Option<bool>,
}

async fn execute(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
    QueryParams(q): QueryParams<ExecuteQuery>,
    body: MessageBody<WebhookExecute>,
) -> ApiResult<Response> {
    let message = s
        .fluxer
        .execute_webhook_with_files(id, &token, body.payload, body.files)
        .await?;
    Ok(if q.wait.unwrap_or(false) {
        Json(message).into_response()
    } else {
        no_content().into_response()
    })
}
