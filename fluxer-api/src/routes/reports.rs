//! `/reports/*`: reporting a message, a user or a guild to the instance's staff.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::ReportResponse;
use fluxer_core::service::{GuildReport, MessageReport, UserReport};

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/reports/message", post(report_message))
        .route("/reports/user", post(report_user))
        .route("/reports/guild", post(report_guild))
}

async fn report_message(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<MessageReport>,
) -> ApiResult<Json<ReportResponse>> {
    Ok(Json(s.fluxer.report_message(&actor, req).await?))
}

async fn report_user(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<UserReport>,
) -> ApiResult<Json<ReportResponse>> {
    Ok(Json(s.fluxer.report_user(&actor, req).await?))
}

async fn report_guild(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<GuildReport>,
) -> ApiResult<Json<ReportResponse>> {
    Ok(Json(s.fluxer.report_guild(&actor, req).await?))
}
