//! `/admin/guilds/{reload,shutdown,clear-fields}` and `/admin/guilds/{id}/{emojis,stickers}`:
//! staff acting on a guild's live state and its images (upstream's paths, bodies and ACLs; what
//! reload and shutdown mean here is in `fluxer_core::service`'s `admin_guild_ops`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::GuildId;
use fluxer_core::model::{Expression, ExpressionKind, acl};
use fluxer_core::service::{AdminClearGuildFields, AdminGuildTarget};
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::extract::PathParams;
use crate::routes::no_content;
use crate::state::ApiState;

/// The size upstream's admin lists ask the media proxy for.
const LIST_ICON_SIZE: u32 = 160;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/guilds/{guild_id}/emojis", get(emojis))
        .route("/admin/guilds/{guild_id}/stickers", get(stickers))
        .route("/admin/guilds/clear-fields", post(clear_fields))
        .route("/admin/guilds/reload", post(reload))
        .route("/admin/guilds/shutdown", post(shutdown))
}

/// An expression as upstream's admin lists show it, with its media proxy URL.
fn listed(s: &ApiState, e: &Expression) -> Value {
    let animated = if e.animated { "&animated=true" } else { "" };
    json!({
        "id": e.id,
        "name": e.name,
        "animated": e.animated,
        "creator_id": e.creator_id,
        "media_url": format!(
            "{}/{}/{}.webp?size={LIST_ICON_SIZE}{animated}",
            s.config.instance.media,
            e.kind.blob_prefix(),
            e.id
        ),
    })
}

async fn list(
    s: &ApiState,
    auth: &AdminAuth,
    guild: GuildId,
    kind: ExpressionKind,
) -> ApiResult<Json<Value>> {
    auth.require(acl::ASSET_PURGE)?;
    let found = s
        .fluxer
        .admin_list_guild_expressions(&auth.0, guild, kind)
        .await?;
    let items: Vec<Value> = found.iter().map(|e| listed(s, e)).collect();
    let field = match kind {
        ExpressionKind::Emoji => "emojis",
        _ => "stickers",
    };
    Ok(Json(json!({ "guild_id": guild, field: items })))
}

async fn emojis(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(guild): PathParams<GuildId>,
) -> ApiResult<Json<Value>> {
    list(&s, &auth, guild, ExpressionKind::Emoji).await
}

async fn stickers(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(guild): PathParams<GuildId>,
) -> ApiResult<Json<Value>> {
    list(&s, &auth, guild, ExpressionKind::Sticker).await
}

async fn clear_fields(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let req: AdminClearGuildFields = body.parse_for(&auth, acl::GUILD_UPDATE_SETTINGS)?;
    s.fluxer.admin_clear_guild_fields(&auth.0, req).await?;
    Ok(no_content())
}

async fn reload(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminGuildTarget = body.parse_for(&auth, acl::GUILD_RELOAD)?;
    s.fluxer.admin_reload_guild(&auth.0, req.guild_id).await?;
    Ok(Json(json!({ "success": true })))
}

async fn shutdown(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminGuildTarget = body.parse_for(&auth, acl::GUILD_SHUTDOWN)?;
    s.fluxer.admin_shutdown_guild(&auth.0, req.guild_id).await?;
    Ok(Json(json!({ "success": true })))
}
