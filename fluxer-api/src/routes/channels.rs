//! `/channels/{id}`: settings, overwrites, typing, invites and webhooks of a channel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, GuildId, Snowflake, UserId};
use fluxer_core::model::{ChannelResponse, InviteResponse, WebhookResponse};
use fluxer_core::service::{ChannelUpdate, InviteCreate, OverwritePut, WebhookCreate};

use super::no_content;
use crate::error::ApiResult;
use serde::Deserialize;

use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/channels/{channel_id}",
            get(get_channel).patch(update).delete(delete),
        )
        .route(
            "/channels/{channel_id}/permissions/{overwrite_id}",
            put(put_overwrite).delete(delete_overwrite),
        )
        .route("/channels/{channel_id}/typing", post(typing))
        .route(
            "/channels/{channel_id}/recipients/{user_id}",
            put(add_recipient).delete(remove_recipient),
        )
        .route(
            "/channels/{channel_id}/invites",
            get(invites).post(create_invite),
        )
        .route(
            "/channels/{channel_id}/webhooks",
            get(webhooks).post(create_webhook),
        )
        .route("/guilds/{guild_id}/invites", get(guild_invites))
        .route("/guilds/{guild_id}/webhooks", get(guild_webhooks))
}

async fn get_channel(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<Json<ChannelResponse>> {
    Ok(Json(s.fluxer.get_channel(&actor, id).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    JsonBody(req): JsonBody<ChannelUpdate>,
) -> ApiResult<Json<ChannelResponse>> {
    Ok(Json(s.fluxer.update_channel(&actor, id, req).await?))
}

async fn delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_channel(&actor, id).await?;
    Ok(no_content())
}

async fn put_overwrite(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, target)): PathParams<(ChannelId, Snowflake)>,
    JsonBody(req): JsonBody<OverwritePut>,
) -> ApiResult<StatusCode> {
    s.fluxer.put_overwrite(&actor, id, target, req).await?;
    Ok(no_content())
}

async fn delete_overwrite(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, target)): PathParams<(ChannelId, Snowflake)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_overwrite(&actor, id, target).await?;
    Ok(no_content())
}

async fn typing(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.trigger_typing(&actor, id).await?;
    Ok(no_content())
}

async fn invites(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<Json<Vec<InviteResponse>>> {
    Ok(Json(s.fluxer.list_channel_invites(&actor, id).await?))
}

async fn create_invite(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    JsonBody(req): JsonBody<InviteCreate>,
) -> ApiResult<Json<InviteResponse>> {
    Ok(Json(s.fluxer.create_invite(&actor, id, req).await?))
}

async fn guild_invites(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<Vec<InviteResponse>>> {
    Ok(Json(s.fluxer.list_guild_invites(&actor, id).await?))
}

async fn webhooks(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<Json<Vec<WebhookResponse>>> {
    Ok(Json(s.fluxer.list_channel_webhooks(&actor, id).await?))
}

async fn create_webhook(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    JsonBody(req): JsonBody<WebhookCreate>,
) -> ApiResult<Json<WebhookResponse>> {
    Ok(Json(s.fluxer.create_webhook(&actor, id, req).await?))
}

async fn guild_webhooks(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<Vec<WebhookResponse>>> {
    Ok(Json(s.fluxer.list_guild_webhooks(&actor, id).await?))
}

async fn add_recipient(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((channel, user)): PathParams<(ChannelId, UserId)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .add_group_dm_recipient(&actor, channel, user)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct RemoveRecipient {
    #[serde(default)]
    silent: bool,
}

async fn remove_recipient(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((channel, user)): PathParams<(ChannelId, UserId)>,
    QueryParams(q): QueryParams<RemoveRecipient>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .remove_group_dm_recipient(&actor, channel, user, q.silent)
        .await?;
    Ok(no_content())
}
