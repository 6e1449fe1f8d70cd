//! Favorite memes ("saved media").

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::{AttachmentId, ChannelId, MessageId};
use fluxer_core::service::{FavoriteMeme, MemeFromMessage, MemeFromUrl, MemeUpdate};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/memes", get(list).post(from_url))
        .route(
            "/users/@me/memes/{meme_id}",
            get(one).patch(update).delete(remove),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/memes",
            post(from_message),
        )
}

async fn list(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Vec<FavoriteMeme>>> {
    Ok(Json(s.fluxer.favorite_memes(&actor).await?))
}

async fn from_url(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<MemeFromUrl>,
) -> ApiResult<(StatusCode, Json<FavoriteMeme>)> {
    let meme = s.fluxer.save_meme_from_url(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(meme)))
}

async fn from_message(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((channel, message)): PathParams<(ChannelId, MessageId)>,
    JsonBody(body): JsonBody<MemeFromMessage>,
) -> ApiResult<(StatusCode, Json<FavoriteMeme>)> {
    let meme = s
        .fluxer
        .save_meme_from_message(&actor, channel, message, body)
        .await?;
    Ok((StatusCode::CREATED, Json(meme)))
}

async fn one(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<AttachmentId>,
) -> ApiResult<Json<FavoriteMeme>> {
    Ok(Json(s.fluxer.favorite_meme(&actor, id).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<AttachmentId>,
    JsonBody(body): JsonBody<MemeUpdate>,
) -> ApiResult<Json<FavoriteMeme>> {
    Ok(Json(s.fluxer.update_favorite_meme(&actor, id, body).await?))
}

async fn remove(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<AttachmentId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_favorite_meme(&actor, id).await?;
    Ok(no_content())
}
