//! `/admin/discovery/*`: staff review of guilds' discovery applications (upstream's
//! `DiscoveryAdminController`): list by status, approve, reject, and remove a listed guild.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplicationResponse, DiscoveryStatus};
use serde::Deserialize;

use super::AdminAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/discovery/applications", get(list))
        .route(
            "/admin/discovery/applications/{guild_id}/approve",
            post(approve),
        )
        .route(
            "/admin/discovery/applications/{guild_id}/reject",
            post(reject),
        )
        .route("/admin/discovery/guilds/{guild_id}/remove", post(remove))
}

#[derive(Deserialize)]
struct ListQuery {
    /// `pending` (default), `approved`, `rejected` or `removed`.
    status: Option<String>,
    /// 1 to 100, 25 by default.
    limit: Option<u32>,
    /// The last guild ID of the previous page.
    cursor: Option<GuildId>,
}

async fn list(
    State(s): State<ApiState>,
    auth: AdminAuth,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<DiscoveryApplicationResponse>>> {
    let status = match q.status.as_deref() {
        None => DiscoveryStatus::Pending,
        Some(name) => DiscoveryStatus::parse(name).ok_or_else(|| {
            ApiError::from(fluxer_core::Error::field(
                "status",
                "BASE_TYPE_CHOICES",
                "Must be one of pending, approved, rejected, removed.",
            ))
        })?,
    };
    let rows = s
        .fluxer
        .list_discovery_applications(&auth.0, status, q.cursor, q.limit.unwrap_or(25))
        .await?;
    Ok(Json(rows.iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
struct Review {
    reason: Option<String>,
}

#[derive(Deserialize)]
struct Reasoned {
    reason: String,
}

async fn approve(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(guild_id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Review>,
) -> ApiResult<Json<DiscoveryApplicationResponse>> {
    let row = s
        .fluxer
        .approve_discovery(&auth.0, guild_id, req.reason)
        .await?;
    Ok(Json((&row).into()))
}

async fn reject(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(guild_id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Reasoned>,
) -> ApiResult<Json<DiscoveryApplicationResponse>> {
    let row = s
        .fluxer
        .reject_discovery(&auth.0, guild_id, req.reason)
        .await?;
    Ok(Json((&row).into()))
}

async fn remove(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(guild_id): PathParams<GuildId>,
    JsonBody(req): JsonBody<Reasoned>,
) -> ApiResult<Json<DiscoveryApplicationResponse>> {
    let row = s
        .fluxer
        .remove_from_discovery(&auth.0, guild_id, req.reason)
        .await?;
    Ok(Json((&row).into()))
}
