//! `/admin/system-dm-jobs`: staff composing a DM from the instance's system account to an
//! audience, approving it, and following its sending (upstream's paths, bodies and ACL).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::{SystemDmCreate, SystemDmJob, SystemDmJobPage};
use serde::Deserialize;

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::extract::{PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/system-dm-jobs", get(list).post(create))
        .route("/admin/system-dm-jobs/{job_id}/approve", post(approve))
}

/// `GET /admin/system-dm-jobs?limit=&before_job_id=`.
#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    before_job_id: Option<fluxer_core::id::Snowflake>,
}

async fn list(
    State(s): State<ApiState>,
    auth: AdminAuth,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<SystemDmJobPage>> {
    auth.require(acl::SYSTEM_DM_SEND)?;
    Ok(Json(
        s.fluxer
            .admin_list_system_dms(&auth.0, q.limit, q.before_job_id.map(|id| id.0))
            .await?,
    ))
}

async fn create(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<SystemDmJob>> {
    let req: SystemDmCreate = body.parse_for(&auth, acl::SYSTEM_DM_SEND)?;
    Ok(Json(s.fluxer.admin_create_system_dm(&auth.0, req).await?))
}

async fn approve(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(job): PathParams<fluxer_core::id::Snowflake>,
) -> ApiResult<Json<SystemDmJob>> {
    auth.require(acl::SYSTEM_DM_SEND)?;
    Ok(Json(
        s.fluxer.admin_approve_system_dm(&auth.0, job.0).await?,
    ))
}
