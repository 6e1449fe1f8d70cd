//! A guild's custom emojis and stickers.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::id::{ExpressionId, GuildId};
use fluxer_core::model::{EmojiResponse, ExpressionKind, StickerResponse};
use fluxer_core::service::{BulkCreated, EmojiCreate, EmojiUpdate, StickerCreate, StickerUpdate};
use serde::Deserialize;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

/// A bulk upload carries up to 50 images of at most 512 KiB each, as base64.
pub(super) const BULK_BODY_BYTES: usize = 40 << 20;

pub(super) fn routes() -> Router<ApiState> {
    let bulk_limit = DefaultBodyLimit::max(BULK_BODY_BYTES);
    Router::new()
        .route("/guilds/{guild_id}/emojis", get(emojis).post(create_emoji))
        .route(
            "/guilds/{guild_id}/emojis/bulk",
            post(create_emojis).layer(bulk_limit),
        )
        .route(
            "/guilds/{guild_id}/emojis/{emoji_id}",
            patch(update_emoji).delete(delete_emoji),
        )
        .route(
            "/guilds/{guild_id}/stickers",
            get(stickers).post(create_sticker),
        )
        .route(
            "/guilds/{guild_id}/stickers/bulk",
            post(create_stickers).layer(bulk_limit),
        )
        .route(
            "/guilds/{guild_id}/stickers/{sticker_id}",
            patch(update_sticker).delete(delete_sticker),
        )
}

async fn emojis(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
) -> ApiResult<Json<Vec<EmojiResponse>>> {
    Ok(Json(s.fluxer.list_emojis(&actor, guild).await?))
}

async fn create_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
    JsonBody(body): JsonBody<EmojiCreate>,
) -> ApiResult<Json<EmojiResponse>> {
    Ok(Json(s.fluxer.create_emoji(&actor, guild, body).await?))
}

#[derive(Deserialize)]
pub(super) struct EmojiBulk {
    pub(super) emojis: Vec<EmojiCreate>,
}

async fn create_emojis(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
    JsonBody(body): JsonBody<EmojiBulk>,
) -> ApiResult<Json<BulkCreated<EmojiResponse>>> {
    Ok(Json(
        s.fluxer.create_emojis(&actor, guild, body.emojis).await?,
    ))
}

async fn update_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((guild, id)): PathParams<(GuildId, ExpressionId)>,
    JsonBody(body): JsonBody<EmojiUpdate>,
) -> ApiResult<Json<EmojiResponse>> {
    Ok(Json(s.fluxer.update_emoji(&actor, guild, id, body).await?))
}

/// `?purge=true|True|1` also deletes the image.
#[derive(Deserialize, Default)]
pub(super) struct PurgeQuery {
    #[serde(default)]
    purge: Option<String>,
}

impl PurgeQuery {
    pub(super) fn purge(&self) -> bool {
        matches!(
            self.purge.as_deref().map(str::trim),
            Some("true" | "True" | "1")
        )
    }
}

async fn delete_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((guild, id)): PathParams<(GuildId, ExpressionId)>,
    QueryParams(q): QueryParams<PurgeQuery>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_expression(&actor, guild, id, ExpressionKind::Emoji, q.purge())
        .await?;
    Ok(no_content())
}

async fn stickers(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
) -> ApiResult<Json<Vec<StickerResponse>>> {
    Ok(Json(s.fluxer.list_stickers(&actor, guild).await?))
}

async fn create_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
    JsonBody(body): JsonBody<StickerCreate>,
) -> ApiResult<Json<StickerResponse>> {
    Ok(Json(s.fluxer.create_sticker(&actor, guild, body).await?))
}

#[derive(Deserialize)]
pub(super) struct StickerBulk {
    pub(super) stickers: Vec<StickerCreate>,
}

async fn create_stickers(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
    JsonBody(body): JsonBody<StickerBulk>,
) -> ApiResult<Json<BulkCreated<StickerResponse>>> {
    Ok(Json(
        s.fluxer
            .create_stickers(&actor, guild, body.stickers)
            .await?,
    ))
}

async fn update_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((guild, id)): PathParams<(GuildId, ExpressionId)>,
    JsonBody(body): JsonBody<StickerUpdate>,
) -> ApiResult<Json<StickerResponse>> {
    Ok(Json(
        s.fluxer.update_sticker(&actor, guild, id, body).await?,
    ))
}

async fn delete_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((guild, id)): PathParams<(GuildId, ExpressionId)>,
    QueryParams(q): QueryParams<PurgeQuery>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_expression(&actor, guild, id, ExpressionKind::Sticker, q.purge())
        .await?;
    Ok(no_content())
}
