//! `/admin/search/*`: staff refreshing the search index (upstream's paths and bodies). A refresh
//! runs in the background; its status is polled with the job ID it answers.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::SearchRefresh;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/search/refresh-index", post(refresh_index))
        .route("/admin/search/refresh-status", post(refresh_status))
}

#[derive(Deserialize)]
struct StatusRequest {
    job_id: String,
}

async fn refresh_index(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: SearchRefresh = body.parse_for(&auth, acl::GUILD_LOOKUP)?;
    let job = s.fluxer.admin_start_search_refresh(&auth.0, &req).await?;
    let fluxer = s.fluxer.clone();
    let run = job.clone();
    tokio::spawn(async move { fluxer.admin_run_search_refresh(&run, &req).await });
    Ok(Json(json!({ "success": true, "job_id": job })))
}

async fn refresh_status(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: StatusRequest = body.parse_for(&auth, acl::GUILD_LOOKUP)?;
    Ok(Json(
        match s.fluxer.admin_search_refresh_status(&req.job_id).await? {
            Some(status) => serde_json::to_value(status).unwrap_or_default(),
            None => json!({ "status": "not_found" }),
        },
    ))
}
