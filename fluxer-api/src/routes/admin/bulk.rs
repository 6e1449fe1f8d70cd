//! `/admin/bulk/*` (the guild side): many members added, many guilds' features changed.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::service::{BulkAddGuildMembers, BulkOutcome, BulkUpdateGuildFeatures};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/bulk/add-guild-members", post(add_guild_members))
        .route(
            "/admin/bulk/update-guild-features",
            post(update_guild_features),
        )
}

async fn add_guild_members(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<BulkOutcome>> {
    let req: BulkAddGuildMembers =
        body.parse_for(&auth, fluxer_core::model::acl::BULK_ADD_GUILD_MEMBERS)?;
    Ok(Json(
        s.fluxer.admin_bulk_add_guild_members(&auth.0, req).await?,
    ))
}

async fn update_guild_features(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<BulkOutcome>> {
    let req: BulkUpdateGuildFeatures =
        body.parse_for(&auth, fluxer_core::model::acl::BULK_UPDATE_GUILD_FEATURES)?;
    Ok(Json(
        s.fluxer
            .admin_bulk_update_guild_features(&auth.0, req)
            .await?,
    ))
}
