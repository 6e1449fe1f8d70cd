//! Guild discovery and member search.

use axum::extract::State;
use axum::routing::get;
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
