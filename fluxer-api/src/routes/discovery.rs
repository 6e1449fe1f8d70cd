//! Guild discovery and member search.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplicationResponse, MemberResponse};
use fluxer_core::service::{DiscoveryApply, DiscoveryEdit, DiscoveryState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/discovery/guilds", get(discover))
        .route("/discovery/categories", get(categories))
        .route("/discovery/guilds/{guild_id}/join", post(join))
        .route(
            "/guilds/{guild_id}/discovery",
            get(application_state)
                .post(apply)
                .patch(edit_application)
                .delete(withdraw),
        )
        .route("/guilds/{guild_id}/members/search", get(search_members))
}

#[derive(Deserialize)]
struct DiscoveryQuery {
    #[serde(default)]
    query: String,
    /// Only this category's guilds. (`sort_by` is accepted and ignored: results come in the
    /// index's ranking, matches first, then most members.)
    category: Option<i64>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// `{guilds, total, offset, limit}`, most members first.
async fn discover(
    State(s): State<ApiState>,
    Auth(_actor): Auth,
    QueryParams(q): QueryParams<DiscoveryQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(24);
    let (guilds, total) = s
        .fluxer
        .discover_guilds(&q.query, q.category, q.offset, limit)
        .await?;
    Ok(Json(json!({
        "guilds": guilds, "total": total, "offset": q.offset, "limit": limit,
    })))
}

/// `[{id, name}]`, upstream's fixed list.
async fn categories(Auth(_actor): Auth) -> Json<Value> {
    let list: Vec<Value> = fluxer_core::service::DISCOVERY_CATEGORIES
        .iter()
        .enumerate()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    Json(Value::Array(list))
}

async fn join(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
) -> ApiResult<StatusCode> {
    s.fluxer.join_discoverable_guild(&actor, guild_id).await?;
    Ok(super::no_content())
}

/// `{application, eligible, min_member_count}` (MANAGE_GUILD).
async fn application_state(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
) -> ApiResult<Json<DiscoveryState>> {
    Ok(Json(s.fluxer.discovery_state(&actor, guild_id).await?))
}

async fn apply(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
    JsonBody(req): JsonBody<DiscoveryApply>,
) -> ApiResult<Json<DiscoveryApplicationResponse>> {
    Ok(Json(
        s.fluxer.apply_for_discovery(&actor, guild_id, req).await?,
    ))
}

async fn edit_application(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
    JsonBody(req): JsonBody<DiscoveryEdit>,
) -> ApiResult<Json<DiscoveryApplicationResponse>> {
    Ok(Json(
        s.fluxer
            .edit_discovery_application(&actor, guild_id, req)
            .await?,
    ))
}

async fn withdraw(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .withdraw_discovery_application(&actor, guild_id)
        .await?;
    Ok(super::no_content())
}

#[derive(Deserialize)]
struct MemberSearchQuery {
    query: String,
    limit: Option<usize>,
}

async fn search_members(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
    QueryParams(q): QueryParams<MemberSearchQuery>,
) -> ApiResult<Json<Vec<MemberResponse>>> {
    Ok(Json(
        s.fluxer
            .search_members(&actor, guild_id, &q.query, q.limit.unwrap_or(1))
            .await?,
    ))
}
