//! `/admin/guilds/*`: staff looking guilds up and changing them (upstream's paths and bodies).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::{
    AdminGuildBan, AdminGuildFeatures, AdminGuildLookup, AdminGuildMember, AdminGuildMemberPage,
    AdminGuildMembers, AdminGuildName, AdminGuildSearch, AdminGuildSearchPage, AdminGuildSettings,
    AdminGuildTarget, AdminGuildTransfer, AdminGuildUpdated, AdminGuildVanity,
};
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::routes::no_content;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/guilds/lookup", post(lookup))
        .route("/admin/guilds/search", post(search))
        .route("/admin/guilds/update-name", post(update_name))
        .route("/admin/guilds/update-settings", post(update_settings))
        .route("/admin/guilds/update-features", post(update_features))
        .route("/admin/guilds/update-vanity", post(update_vanity))
        .route("/admin/guilds/transfer-ownership", post(transfer_ownership))
        .route("/admin/guilds/list-members", post(list_members))
        .route("/admin/guilds/ban-member", post(ban_member))
        .route("/admin/guilds/kick-member", post(kick_member))
        .route("/admin/guilds/force-add-user", post(force_add_user))
        .route("/admin/guilds/delete", post(delete))
}

async fn lookup(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildLookup>> {
    let req: AdminGuildTarget = body.parse_for(&auth, acl::GUILD_LOOKUP)?;
    Ok(Json(
        s.fluxer.admin_lookup_guild(&auth.0, req.guild_id).await?,
    ))
}

async fn search(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildSearchPage>> {
    let req: AdminGuildSearch = body.parse_for(&auth, acl::GUILD_LOOKUP)?;
    Ok(Json(s.fluxer.admin_search_guilds(&auth.0, req).await?))
}

async fn update_name(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildUpdated>> {
    let req: AdminGuildName = body.parse_for(&auth, acl::GUILD_UPDATE_NAME)?;
    Ok(Json(s.fluxer.admin_update_guild_name(&auth.0, req).await?))
}

async fn update_settings(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildUpdated>> {
    let req: AdminGuildSettings = body.parse_for(&auth, acl::GUILD_UPDATE_SETTINGS)?;
    Ok(Json(
        s.fluxer.admin_update_guild_settings(&auth.0, req).await?,
    ))
}

async fn update_features(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildUpdated>> {
    let req: AdminGuildFeatures = body.parse_for(&auth, acl::GUILD_UPDATE_FEATURES)?;
    Ok(Json(
        s.fluxer.admin_update_guild_features(&auth.0, req).await?,
    ))
}

async fn update_vanity(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildUpdated>> {
    let req: AdminGuildVanity = body.parse_for(&auth, acl::GUILD_UPDATE_VANITY)?;
    Ok(Json(
        s.fluxer.admin_update_guild_vanity(&auth.0, req).await?,
    ))
}

async fn transfer_ownership(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildUpdated>> {
    let req: AdminGuildTransfer = body.parse_for(&auth, acl::GUILD_TRANSFER_OWNERSHIP)?;
    Ok(Json(
        s.fluxer
            .admin_transfer_guild_ownership(&auth.0, req)
            .await?,
    ))
}

async fn list_members(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminGuildMemberPage>> {
    let req: AdminGuildMembers = body.parse_for(&auth, acl::GUILD_LIST_MEMBERS)?;
    Ok(Json(s.fluxer.admin_list_guild_members(&auth.0, req).await?))
}

async fn ban_member(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let req: AdminGuildBan = body.parse_for(&auth, acl::GUILD_BAN_MEMBER)?;
    s.fluxer.admin_ban_guild_member(&auth.0, req).await?;
    Ok(no_content())
}

async fn kick_member(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let req: AdminGuildMember = body.parse_for(&auth, acl::GUILD_KICK_MEMBER)?;
    s.fluxer.admin_kick_guild_member(&auth.0, req).await?;
    Ok(no_content())
}

async fn force_add_user(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminGuildMember = body.parse_for(&auth, acl::GUILD_FORCE_ADD_MEMBER)?;
    s.fluxer.admin_force_add_member(&auth.0, req).await?;
    Ok(Json(json!({ "success": true })))
}

async fn delete(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminGuildTarget = body.parse_for(&auth, acl::GUILD_DELETE)?;
    s.fluxer.admin_delete_guild(&auth.0, req.guild_id).await?;
    Ok(Json(json!({ "success": true })))
}
