//! `/webhooks/*`: manage with a user token, or use with the webhook's own token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::WebhookId;
use fluxer_core::model::WebhookResponse;
use fluxer_core::service::{WebhookExecute, WebhookFormat, WebhookUpdate};
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
        .route("/webhooks/{webhook_id}/{token}/github", post(github))
        .route("/webhooks/{webhook_id}/{token}/slack", post(slack))
        .route("/webhooks/{webhook_id}/{token}/sentry", post(sentry))
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

/// The event header a service sends, if any.
fn event_header(headers: &axum::http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `POST /webhooks/{id}/{token}/github`: a GitHub event (`X-GitHub-Event`) as a message; 204.
async fn github(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
    headers: axum::http::HeaderMap,
    JsonBody(payload): JsonBody<serde_json::Value>,
) -> ApiResult<StatusCode> {
    let event = event_header(&headers, "x-github-event");
    s.fluxer
        .execute_foreign_webhook(id, &token, WebhookFormat::GitHub, &event, &payload)
        .await?;
    Ok(no_content())
}

/// `POST /webhooks/{id}/{token}/slack`: a Slack incoming-webhook payload; answers `ok` as Slack
/// does.
async fn slack(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
    JsonBody(payload): JsonBody<serde_json::Value>,
) -> ApiResult<Response> {
    s.fluxer
        .execute_foreign_webhook(id, &token, WebhookFormat::Slack, "", &payload)
        .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "ok",
    )
        .into_response())
}

/// `POST /webhooks/{id}/{token}/sentry`: a Sentry event (`X-Sentry-Event`) as a message; 204.
async fn sentry(
    State(s): State<ApiState>,
    PathParams((id, token)): PathParams<(WebhookId, String)>,
    headers: axum::http::HeaderMap,
    JsonBody(payload): JsonBody<serde_json::Value>,
) -> ApiResult<StatusCode> {
    let event = event_header(&headers, "sentry-hook-resource");
    let event = if event.is_empty() {
        event_header(&headers, "x-sentry-event")
    } else {
        event
    };
    s.fluxer
        .execute_foreign_webhook(id, &token, WebhookFormat::Sentry, &event, &payload)
        .await?;
    Ok(no_content())
}
