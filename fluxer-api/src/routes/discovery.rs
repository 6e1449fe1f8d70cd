//! Guild discovery and member search.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::GuildId;
use fluxer_core::model::MemberResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Auth, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/discovery/guilds", get(discover))
        .route("/discovery/categories", get(categories))
        .route("/discovery/guilds/{guild_id}/join", post(join))
        .route("/guilds/{guild_id}/members/search", get(search_members))
}

#[derive(Deserialize)]
struct DiscoveryQuery {
    #[serde(default)]
    query: String,
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
    let (guilds, total) = s.fluxer.discover_guilds(&q.query, q.offset, limit).await?;
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
