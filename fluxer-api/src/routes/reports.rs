//! `/reports/*`: reporting a message, a user or a guild to the instance's staff, and legal notices
//! under the EU Digital Services Act (`/reports/dsa/*`, no account needed).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::ReportResponse;
use fluxer_core::service::{DsaNotice, GuildReport, MessageReport, UserReport};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/reports/message", post(report_message))
        .route("/reports/user", post(report_user))
        .route("/reports/guild", post(report_guild))
        .route("/reports/dsa/email/send", post(send_dsa_code))
        .route("/reports/dsa/email/verify", post(verify_dsa_email))
        .route("/reports/dsa", post(file_dsa_notice))
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

#[derive(Deserialize)]
struct DsaEmail {
    email: String,
}

#[derive(Deserialize)]
struct DsaVerify {
    email: String,
    code: String,
}

async fn send_dsa_code(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<DsaEmail>,
) -> ApiResult<Json<Value>> {
    s.fluxer.send_dsa_code(&req.email).await?;
    Ok(Json(json!({ "ok": true })))
}

async fn verify_dsa_email(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<DsaVerify>,
) -> ApiResult<Json<Value>> {
    let ticket = s.fluxer.verify_dsa_email(&req.email, &req.code).await?;
    Ok(Json(json!({ "ticket": ticket })))
}

async fn file_dsa_notice(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<DsaNotice>,
) -> ApiResult<Json<ReportResponse>> {
    Ok(Json(s.fluxer.file_dsa_notice(req).await?))
}
