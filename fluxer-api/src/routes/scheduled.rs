//! Scheduled messages, and deleting all of one's own messages: what the worker does later for the
//! caller.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, MessageId};
use fluxer_core::service::ScheduledMessage;
use serde::Deserialize;
use serde_json::{Value, json};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/channels/{channel_id}/messages/schedule", post(schedule))
        .route("/users/@me/scheduled-messages", get(list))
        .route(
            "/users/@me/scheduled-messages/{scheduled_message_id}",
            get(one).patch(edit).delete(cancel),
        )
        .route(
            "/users/@me/messages/delete",
            post(request_purge).delete(cancel_purge),
        )
        .route("/users/@me/messages/delete/test", post(request_test_purge))
}

async fn schedule(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<ScheduledMessage>)> {
    let message = s.fluxer.schedule_message(&actor, channel, body).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

async fn list(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<ScheduledMessage>>> {
    Ok(Json(s.fluxer.scheduled_messages(&actor).await?))
}

async fn one(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<MessageId>,
) -> ApiResult<Json<ScheduledMessage>> {
    Ok(Json(s.fluxer.scheduled_message(&actor, id).await?))
}

async fn edit(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<MessageId>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<ScheduledMessage>> {
    Ok(Json(
        s.fluxer.edit_scheduled_message(&actor, id, body).await?,
    ))
}

async fn cancel(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<MessageId>,
) -> ApiResult<StatusCode> {
    s.fluxer.cancel_scheduled_message(&actor, id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct PasswordBody {
    #[serde(default)]
    password: Option<String>,
}

async fn request_purge(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .request_message_purge(&actor, body.password.as_deref())
        .await?;
    Ok(no_content())
}

/// Staff only: the same deletion, one minute from now, without a password.
async fn request_test_purge(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    s.fluxer.request_test_message_purge(&actor).await?;
    Ok(no_content())
}

async fn cancel_purge(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    s.fluxer.cancel_message_purge(&actor).await?;
    Ok(Json(json!({ "success": true })))
}
