//! Users' emoji and sticker packs: the packs, their installs and invites, and their emojis and
//! stickers.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::id::{ExpressionId, PackId};
use fluxer_core::model::{
    EmojiResponse, ExpressionKind, PackDashboard, PackInviteResponse, PackSummary, StickerResponse,
};
use fluxer_core::service::{
    BulkCreated, EmojiCreate, EmojiUpdate, PackCreate, PackInviteCreate, PackUpdate, StickerCreate,
    StickerUpdate,
};

use super::expressions::{BULK_BODY_BYTES, EmojiBulk, PurgeQuery, StickerBulk};
use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    let bulk_limit = DefaultBodyLimit::max(BULK_BODY_BYTES);
    Router::new()
        .route("/packs", get(dashboard))
        // One parameter name per position: `POST` reads it as the pack type.
        .route(
            "/packs/{pack_id}",
            post(create).patch(update).delete(delete),
        )
        .route("/packs/{pack_id}/install", post(install).delete(uninstall))
        .route("/packs/{pack_id}/invites", get(invites).post(create_invite))
        .route("/packs/emojis/{pack_id}", get(emojis).post(create_emoji))
        .route(
            "/packs/emojis/{pack_id}/bulk",
            post(create_emojis).layer(bulk_limit),
        )
        .route(
            "/packs/emojis/{pack_id}/{emoji_id}",
            patch(update_emoji).delete(delete_emoji),
        )
        .route(
            "/packs/stickers/{pack_id}",
            get(stickers).post(create_sticker),
        )
        .route(
            "/packs/stickers/{pack_id}/bulk",
            post(create_stickers).layer(bulk_limit),
        )
        .route(
            "/packs/stickers/{pack_id}/{sticker_id}",
            patch(update_sticker).delete(delete_sticker),
        )
}

async fn dashboard(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<PackDashboard>> {
    Ok(Json(s.fluxer.pack_dashboard(&actor).await?))
}

async fn create(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(kind): PathParams<String>,
    JsonBody(body): JsonBody<PackCreate>,
) -> ApiResult<Json<PackSummary>> {
    let kind = match kind.as_str() {
        "emoji" => ExpressionKind::Emoji,
        "sticker" => ExpressionKind::Sticker,
        _ => {
            return Err(ApiError::invalid(
                "pack_type",
                "BASE_TYPE_CHOICES",
                "Must be emoji or sticker.",
            ));
        }
    };
    Ok(Json(s.fluxer.create_pack(&actor, kind, body).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<PackUpdate>,
) -> ApiResult<Json<PackSummary>> {
    Ok(Json(s.fluxer.update_pack(&actor, id, body).await?))
}

async fn delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_pack(&actor, id).await?;
    Ok(no_content())
}

async fn install(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<StatusCode> {
    s.fluxer.install_pack(&actor, id).await?;
    Ok(no_content())
}

async fn uninstall(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<StatusCode> {
    s.fluxer.uninstall_pack(&actor, id).await?;
    Ok(no_content())
}

async fn invites(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<Json<Vec<PackInviteResponse>>> {
    Ok(Json(s.fluxer.list_pack_invites(&actor, id).await?))
}

async fn create_invite(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<PackInviteCreate>,
) -> ApiResult<Json<PackInviteResponse>> {
    Ok(Json(s.fluxer.create_pack_invite(&actor, id, body).await?))
}

async fn emojis(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<Json<Vec<EmojiResponse>>> {
    Ok(Json(s.fluxer.list_pack_emojis(&actor, id).await?))
}

async fn create_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<EmojiCreate>,
) -> ApiResult<Json<EmojiResponse>> {
    Ok(Json(s.fluxer.create_pack_emoji(&actor, id, body).await?))
}

async fn create_emojis(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<EmojiBulk>,
) -> ApiResult<Json<BulkCreated<EmojiResponse>>> {
    Ok(Json(
        s.fluxer.create_pack_emojis(&actor, id, body.emojis).await?,
    ))
}

async fn update_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, emoji)): PathParams<(PackId, ExpressionId)>,
    JsonBody(body): JsonBody<EmojiUpdate>,
) -> ApiResult<Json<EmojiResponse>> {
    Ok(Json(
        s.fluxer.update_pack_emoji(&actor, id, emoji, body).await?,
    ))
}

async fn delete_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, emoji)): PathParams<(PackId, ExpressionId)>,
    QueryParams(q): QueryParams<PurgeQuery>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_pack_expression(&actor, id, emoji, ExpressionKind::Emoji, q.purge())
        .await?;
    Ok(no_content())
}

async fn stickers(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
) -> ApiResult<Json<Vec<StickerResponse>>> {
    Ok(Json(s.fluxer.list_pack_stickers(&actor, id).await?))
}

async fn create_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<StickerCreate>,
) -> ApiResult<Json<StickerResponse>> {
    Ok(Json(s.fluxer.create_pack_sticker(&actor, id, body).await?))
}

async fn create_stickers(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<PackId>,
    JsonBody(body): JsonBody<StickerBulk>,
) -> ApiResult<Json<BulkCreated<StickerResponse>>> {
    Ok(Json(
        s.fluxer
            .create_pack_stickers(&actor, id, body.stickers)
            .await?,
    ))
}

async fn update_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, sticker)): PathParams<(PackId, ExpressionId)>,
    JsonBody(body): JsonBody<StickerUpdate>,
) -> ApiResult<Json<StickerResponse>> {
    Ok(Json(
        s.fluxer
            .update_pack_sticker(&actor, id, sticker, body)
            .await?,
    ))
}

async fn delete_sticker(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, sticker)): PathParams<(PackId, ExpressionId)>,
    QueryParams(q): QueryParams<PurgeQuery>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_pack_expression(&actor, id, sticker, ExpressionKind::Sticker, q.purge())
        .await?;
    Ok(no_content())
}
