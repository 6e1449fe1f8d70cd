//! `/admin/voice/*`: voice regions and their LiveKit servers (upstream's `VoiceAdminController`),
//! with upstream's bodies and answers. A server's API secret is never shown.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::{VoiceRegion, VoiceRegionWrite, VoiceServer, VoiceServerWrite};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/voice/regions/list", post(list_regions))
        .route("/admin/voice/regions/get", post(get_region))
        .route("/admin/voice/regions/create", post(create_region))
        .route("/admin/voice/regions/update", post(update_region))
        .route("/admin/voice/regions/delete", post(delete_region))
        .route("/admin/voice/servers/list", post(list_servers))
        .route("/admin/voice/servers/get", post(get_server))
        .route("/admin/voice/servers/create", post(create_server))
        .route("/admin/voice/servers/update", post(update_server))
        .route("/admin/voice/servers/delete", post(delete_server))
}

/// Upstream's `VoiceServerAdminResponse`: no credentials but the endpoint.
fn server_json(region: &str, s: &VoiceServer) -> Value {
    json!({
        "region_id": region,
        "server_id": s.id,
        "endpoint": s.credentials.endpoint,
        "is_active": s.active,
        "vip_only": false,
        "required_guild_features": [],
        "allowed_guild_ids": [],
        "allowed_user_ids": [],
        "created_at": null,
        "updated_at": null,
    })
}

/// Upstream's `VoiceRegionAdminResponse`, with its servers when asked.
fn region_json(r: &VoiceRegion, with_servers: bool) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "emoji": r.emoji,
        "latitude": r.latitude,
        "longitude": r.longitude,
        "is_default": r.is_default,
        "vip_only": false,
        "required_guild_features": [],
        "allowed_guild_ids": [],
        "allowed_user_ids": [],
        "created_at": null,
        "updated_at": null,
    });
    if with_servers {
        v["servers"] = r.servers.iter().map(|s| server_json(&r.id, s)).collect();
    }
    v
}

#[derive(Deserialize)]
struct ListRegions {
    #[serde(default)]
    include_servers: bool,
}

async fn list_regions(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ListRegions = body.parse_for(&auth, acl::VOICE_REGION_LIST)?;
    let regions = s.fluxer.admin_voice_regions(&auth.0).await?;
    let list: Vec<Value> = regions
        .iter()
        .map(|r| region_json(r, req.include_servers))
        .collect();
    Ok(Json(json!({ "regions": list })))
}

#[derive(Deserialize)]
struct GetRegion {
    id: String,
    include_servers: Option<bool>,
}

async fn get_region(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: GetRegion = body.parse_for(&auth, acl::VOICE_REGION_LIST)?;
    let regions = s.fluxer.admin_voice_regions(&auth.0).await?;
    let region = regions
        .iter()
        .find(|r| r.id == req.id)
        .map(|r| region_json(r, req.include_servers.unwrap_or(true)));
    Ok(Json(json!({ "region": region })))
}

async fn create_region(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: VoiceRegionWrite = body.parse_for(&auth, acl::VOICE_REGION_CREATE)?;
    let region = s.fluxer.admin_create_voice_region(&auth.0, req).await?;
    Ok(Json(json!({ "region": region_json(&region, false) })))
}

async fn update_region(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: VoiceRegionWrite = body.parse_for(&auth, acl::VOICE_REGION_UPDATE)?;
    let region = s.fluxer.admin_update_voice_region(&auth.0, req).await?;
    Ok(Json(json!({ "region": region_json(&region, false) })))
}

#[derive(Deserialize)]
struct RegionId {
    id: String,
}

async fn delete_region(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: RegionId = body.parse_for(&auth, acl::VOICE_REGION_DELETE)?;
    s.fluxer.admin_delete_voice_region(&auth.0, &req.id).await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize)]
struct ListServers {
    region_id: String,
}

async fn list_servers(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ListServers = body.parse_for(&auth, acl::VOICE_SERVER_LIST)?;
    let servers = s
        .fluxer
        .admin_voice_servers(&auth.0, &req.region_id)
        .await?;
    let list: Vec<Value> = servers
        .iter()
        .map(|srv| server_json(&req.region_id, srv))
        .collect();
    Ok(Json(json!({ "servers": list })))
}

#[derive(Deserialize)]
struct ServerId {
    region_id: String,
    server_id: String,
}

async fn get_server(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ServerId = body.parse_for(&auth, acl::VOICE_SERVER_LIST)?;
    let regions = s.fluxer.admin_voice_regions(&auth.0).await?;
    let server = regions
        .iter()
        .find(|r| r.id == req.region_id)
        .and_then(|r| r.servers.iter().find(|srv| srv.id == req.server_id))
        .map(|srv| server_json(&req.region_id, srv));
    Ok(Json(json!({ "server": server })))
}

async fn create_server(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: VoiceServerWrite = body.parse_for(&auth, acl::VOICE_SERVER_CREATE)?;
    let region = req.region_id.clone();
    let server = s.fluxer.admin_create_voice_server(&auth.0, req).await?;
    Ok(Json(json!({ "server": server_json(&region, &server) })))
}

async fn update_server(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: VoiceServerWrite = body.parse_for(&auth, acl::VOICE_SERVER_UPDATE)?;
    let region = req.region_id.clone();
    let server = s.fluxer.admin_update_voice_server(&auth.0, req).await?;
    Ok(Json(json!({ "server": server_json(&region, &server) })))
}

async fn delete_server(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ServerId = body.parse_for(&auth, acl::VOICE_SERVER_DELETE)?;
    s.fluxer
        .admin_delete_voice_server(&auth.0, &req.region_id, &req.server_id)
        .await?;
    Ok(Json(json!({ "success": true })))
}
