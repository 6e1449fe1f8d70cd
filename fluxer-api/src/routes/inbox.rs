//! The user's own lists of messages: the mentions inbox and saved messages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, MessageId};
use fluxer_core::model::MessageResponse;
use fluxer_core::service::{MentionsQuery, SavedMessage};
use serde::Deserialize;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/mentions", get(mentions))
        .route("/users/@me/mentions/{message_id}", delete(delete_mention))
        .route("/users/@me/saved-messages", get(saved).post(save))
        .route("/users/@me/saved-messages/{message_id}", delete(unsave))
}

async fn mentions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<MentionsQuery>,
) -> ApiResult<Json<Vec<MessageResponse>>> {
    Ok(Json(s.fluxer.recent_mentions(&actor, q).await?))
}

async fn delete_mention(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(message): PathParams<MessageId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_recent_mention(&actor, message).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct SavedQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    25
}

async fn saved(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<SavedQuery>,
) -> ApiResult<Json<Vec<SavedMessage>>> {
    Ok(Json(s.fluxer.saved_messages(&actor, q.limit).await?))
}

#[derive(Deserialize)]
struct SaveBody {
    channel_id: ChannelId,
    message_id: MessageId,
}

async fn save(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<SaveBody>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .save_message(&actor, body.channel_id, body.message_id)
        .await?;
    Ok(no_content())
}

async fn unsave(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(message): PathParams<MessageId>,
) -> ApiResult<StatusCode> {
    s.fluxer.unsave_message(&actor, message).await?;
    Ok(no_content())
}
