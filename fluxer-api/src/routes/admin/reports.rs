//! `/admin/reports/*`: staff listing, searching, reading and resolving reports (upstream's paths
//! and bodies).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::ReportId;
use fluxer_core::model::acl;
use fluxer_core::service::{
    AdminReportView, LegalHoldRequest, ReportListRequest, ReportResolve, ReportResolved,
    ReportSearchPage, ReportSearchRequest,
};
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::extract::PathParams;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/reports/list", post(list))
        .route("/admin/reports/search", post(search))
        .route("/admin/reports/resolve", post(resolve))
        .route("/admin/reports/{report_id}", get(get_report))
        .route(
            "/admin/reports/{report_id}/legal-hold",
            get(legal_hold)
                .post(place_legal_hold)
                .delete(release_legal_hold),
        )
}

async fn legal_hold(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(id): PathParams<ReportId>,
) -> ApiResult<Json<Value>> {
    auth.require(acl::REPORT_VIEW)?;
    let held = s.fluxer.admin_legal_hold(&auth.0, id).await?;
    Ok(Json(json!({ "held": held })))
}

async fn place_legal_hold(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(id): PathParams<ReportId>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: LegalHoldRequest = body.parse_for(&auth, acl::REPORT_RESOLVE)?;
    let held = s.fluxer.admin_place_legal_hold(&auth.0, id, req).await?;
    Ok(Json(json!({ "held": held })))
}

async fn release_legal_hold(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(id): PathParams<ReportId>,
) -> ApiResult<Json<Value>> {
    auth.require(acl::REPORT_RESOLVE)?;
    let held = s.fluxer.admin_release_legal_hold(&auth.0, id).await?;
    Ok(Json(json!({ "held": held })))
}

async fn list(State(s): State<ApiState>, auth: AdminAuth, body: RawBody) -> ApiResult<Json<Value>> {
    let req: ReportListRequest = body.parse_for(&auth, acl::REPORT_VIEW)?;
    let reports = s.fluxer.admin_list_reports(&auth.0, req).await?;
    Ok(Json(json!({ "reports": reports })))
}

async fn search(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<ReportSearchPage>> {
    let req: ReportSearchRequest = body.parse_for(&auth, acl::REPORT_VIEW)?;
    Ok(Json(s.fluxer.admin_search_reports(&auth.0, req).await?))
}

async fn get_report(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(id): PathParams<ReportId>,
) -> ApiResult<Json<AdminReportView>> {
    auth.require(acl::REPORT_VIEW)?;
    Ok(Json(s.fluxer.admin_get_report(&auth.0, id).await?))
}

async fn resolve(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<ReportResolved>> {
    let req: ReportResolve = body.parse_for(&auth, acl::REPORT_RESOLVE)?;
    Ok(Json(s.fluxer.admin_resolve_report(&auth.0, req).await?))
}
