//! `/guilds/*`: guilds, their channels, members, roles and bans.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use fluxer_core::id::{GuildId, RoleId, UserId};
use fluxer_core::model::{
    BanResponse, ChannelResponse, Guild, GuildResponse, MemberResponse, Role, VanityUrl,
};
use fluxer_core::service::{
    BanCreate, ChannelCreate, ChannelPosition, GuildCreate, GuildFeature, GuildUpdate,
    HoistPosition, MemberUpdate, RoleCreate, RolePosition, RoleUpdate,
};
use serde::Deserialize;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/guilds", post(create))
        .route(
            "/guilds/{guild_id}",
            get(get_guild).patch(update).delete(delete_guild),
        )
        .route("/guilds/{guild_id}/delete", post(delete_guild))
        .route("/guilds/{guild_id}/transfer-ownership", post(transfer))
        .route(
            "/guilds/{guild_id}/vanity-url",
            get(get_vanity).patch(set_vanity),
        )
        .route(
            "/guilds/{guild_id}/channels",
            get(channels).post(create_channel).patch(reorder_channels),
        )
        .route("/guilds/{guild_id}/members", get(members))
        .route("/guilds/{guild_id}/members-search", post(member_directory))
        .route("/guilds/{guild_id}/audit-logs", get(audit_log))
        .route(
            "/guilds/{guild_id}/members/@me",
            get(my_member).patch(update_my_member),
        )
        .route(
            "/guilds/{guild_id}/members/{user_id}",
            get(member).patch(update_member).delete(kick),
        )
        .route(
            "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
            put(add_role).delete(remove_role),
        )
        .route(
            "/guilds/{guild_id}/roles",
            get(roles).post(create_role).patch(reorder_roles),
        )
        .route(
            "/guilds/{guild_id}/roles/hoist-positions",
            patch(set_hoist_positions).delete(reset_hoist_positions),
        )
        .route(
            "/guilds/{guild_id}/roles/{role_id}",
            patch(update_role).delete(delete_role),
        )
        .route(
            "/guilds/{guild_id}/detached-banner",
            patch(|s, a, p, b| toggle(s, a, p, b, GuildFeature::DetachedBanner)),
        )
        .route(
            "/guilds/{guild_id}/text-channel-flexible-names",
            patch(|s, a, p, b| toggle(s, a, p, b, GuildFeature::TextChannelFlexibleNames)),
        )
        .route("/guilds/{guild_id}/bans", get(bans))
        .route(
            "/guilds/{guild_id}/bans/{user_id}",
            get(ban).put(create_ban).delete(unban),
        )
}

async fn create(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<GuildCreate>,
) -> ApiResult<Json<Guild>> {
    Ok(Json(s.fluxer.create_guild(&actor, req).await?))
}

async fn get_guild(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<GuildResponse>> {
    Ok(Json(s.fluxer.get_guild(&actor, id).await?))
}

async fn update(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<GuildUpdate>,
) -> ApiResult<Json<Guild>> {
    Ok(Json(s.fluxer.update_guild(&actor, id, req).await?))
}

#[derive(Deserialize)]
struct Toggle {
    enabled: bool,
}

async fn toggle(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Toggle>,
    feature: GuildFeature,
) -> ApiResult<Json<Guild>> {
    Ok(Json(
        s.fluxer
            .set_guild_feature(&actor, id, feature, req.enabled)
            .await?,
    ))
}

async fn set_hoist_positions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Vec<HoistPosition>>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_hoist_positions(&actor, id, req).await?;
    Ok(no_content())
}

async fn reset_hoist_positions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<StatusCode> {
    s.fluxer.reset_hoist_positions(&actor, id).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct Sudo {
    password: Option<String>,
}

async fn delete_guild(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Sudo>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_guild(&actor, id, req.password.as_deref())
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct Transfer {
    new_owner_id: UserId,
    password: Option<String>,
}

async fn transfer(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Transfer>,
) -> ApiResult<Json<Guild>> {
    Ok(Json(
        s.fluxer
            .transfer_ownership(&actor, id, req.new_owner_id, req.password.as_deref())
            .await?,
    ))
}

async fn get_vanity(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<VanityUrl>> {
    Ok(Json(s.fluxer.get_vanity(&actor, id).await?))
}

#[derive(Deserialize)]
struct Vanity {
    code: Option<String>,
}

async fn set_vanity(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Vanity>,
) -> ApiResult<Json<VanityUrl>> {
    Ok(Json(
        s.fluxer
            .set_vanity(&actor, id, req.code.filter(|c| !c.is_empty()))
            .await?,
    ))
}

async fn channels(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<Vec<ChannelResponse>>> {
    Ok(Json(s.fluxer.list_guild_channels(&actor, id).await?))
}

async fn create_channel(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<ChannelCreate>,
) -> ApiResult<Json<ChannelResponse>> {
    Ok(Json(s.fluxer.create_guild_channel(&actor, id, req).await?))
}

async fn reorder_channels(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Vec<ChannelPosition>>,
) -> ApiResult<StatusCode> {
    s.fluxer.reorder_channels(&actor, id, req).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct Page {
    after: Option<UserId>,
    limit: Option<u32>,
}

async fn members(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    QueryParams(q): QueryParams<Page>,
) -> ApiResult<Json<Vec<MemberResponse>>> {
    Ok(Json(
        s.fluxer.list_members(&actor, id, q.after, q.limit).await?,
    ))
}

async fn my_member(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<MemberResponse>> {
    let me = actor.id();
    Ok(Json(s.fluxer.get_member(&actor, id, me).await?))
}

async fn update_my_member(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<MemberUpdate>,
) -> ApiResult<Json<MemberResponse>> {
    let me = actor.id();
    Ok(Json(s.fluxer.update_member(&actor, id, me, req).await?))
}

async fn member(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
) -> ApiResult<Json<MemberResponse>> {
    Ok(Json(s.fluxer.get_member(&actor, id, user).await?))
}

async fn update_member(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
    JsonBody(req): JsonBody<MemberUpdate>,
) -> ApiResult<Json<MemberResponse>> {
    Ok(Json(s.fluxer.update_member(&actor, id, user, req).await?))
}

async fn kick(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.kick_member(&actor, id, user).await?;
    Ok(no_content())
}

async fn add_role(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user, role)): PathParams<(GuildId, UserId, RoleId)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .set_member_role(&actor, id, user, role, true)
        .await?;
    Ok(no_content())
}

async fn remove_role(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user, role)): PathParams<(GuildId, UserId, RoleId)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .set_member_role(&actor, id, user, role, false)
        .await?;
    Ok(no_content())
}

async fn roles(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<Json<Vec<Role>>> {
    Ok(Json(s.fluxer.list_roles(&actor, id).await?))
}

async fn create_role(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<RoleCreate>,
) -> ApiResult<Json<Role>> {
    Ok(Json(s.fluxer.create_role(&actor, id, req).await?))
}

async fn reorder_roles(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Vec<RolePosition>>,
) -> ApiResult<Json<Vec<Role>>> {
    Ok(Json(s.fluxer.reorder_roles(&actor, id, req).await?))
}

async fn update_role(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, role)): PathParams<(GuildId, RoleId)>,
    JsonBody(req): JsonBody<RoleUpdate>,
) -> ApiResult<Json<Role>> {
    Ok(Json(s.fluxer.update_role(&actor, id, role, req).await?))
}

async fn delete_role(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, role)): PathParams<(GuildId, RoleId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_role(&actor, id, role).await?;
    Ok(no_content())
}

async fn bans(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    QueryParams(q): QueryParams<Page>,
) -> ApiResult<Json<Vec<BanResponse>>> {
    Ok(Json(
        s.fluxer.list_bans(&actor, id, q.after, q.limit).await?,
    ))
}

async fn ban(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
) -> ApiResult<Json<BanResponse>> {
    Ok(Json(s.fluxer.get_ban(&actor, id, user).await?))
}

async fn create_ban(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
    JsonBody(req): JsonBody<BanCreate>,
) -> ApiResult<StatusCode> {
    s.fluxer.ban_member(&actor, id, user, req).await?;
    Ok(no_content())
}

async fn unban(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((id, user)): PathParams<(GuildId, UserId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.unban_member(&actor, id, user).await?;
    Ok(no_content())
}

async fn member_directory(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    JsonBody(req): JsonBody<fluxer_core::service::MemberSearch>,
) -> ApiResult<Json<fluxer_core::service::MemberSearchPage>> {
    Ok(Json(s.fluxer.member_directory(&actor, id, req).await?))
}

#[derive(Deserialize, Default)]
struct AuditLogParams {
    limit: Option<u32>,
    before: Option<fluxer_core::id::AuditLogId>,
    after: Option<fluxer_core::id::AuditLogId>,
    user_id: Option<fluxer_core::id::UserId>,
    action_type: Option<u16>,
}

async fn audit_log(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
    QueryParams(q): QueryParams<AuditLogParams>,
) -> ApiResult<Json<fluxer_core::service::AuditLogPage>> {
    let query = fluxer_core::model::AuditQuery {
        before: q.before,
        after: q.after,
        user_id: q.user_id,
        action_type: q.action_type,
        limit: q.limit.unwrap_or(50),
    };
    Ok(Json(s.fluxer.guild_audit_log(&actor, id, query).await?))
}
