//! `POST /admin/assets/purge`: staff deleting emojis and stickers, and their files, by ID
//! (upstream's path, body and ACL).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::{AdminAssetPurge, AdminAssetPurgeResult};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/admin/assets/purge", post(purge))
}

async fn purge(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminAssetPurgeResult>> {
    let req: AdminAssetPurge = body.parse_for(&auth, acl::ASSET_PURGE)?;
    Ok(Json(s.fluxer.admin_purge_assets(&auth.0, req).await?))
}
