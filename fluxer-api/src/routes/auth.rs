//! `/auth/*` and MFA settings.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use fluxer_core::service::{
    HandoffStarted, HandoffStatus, IpAuthorizationPoll, LoginOutcome, LoginRequest,
    RegisterRequest, SsoCompletion, SsoStart, SsoStatus,
};
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, PeerIp, QueryParams, client_info};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/username-suggestions", post(username_suggestions))
        .route("/auth/login/mfa/totp", post(login_totp))
        .route("/auth/logout", post(logout))
        .route("/auth/sessions", get(sessions))
        .route("/auth/sessions/logout", post(logout_sessions))
        .route("/auth/verify", post(verify))
        .route("/auth/verify/resend", post(resend))
        .route("/auth/forgot", post(forgot))
        .route("/auth/reset", post(reset))
        .route("/users/@me/mfa/totp/setup", post(totp_setup))
        .route("/users/@me/mfa/totp/enable", post(totp_enable))
        .route("/users/@me/mfa/totp/disable", post(totp_disable))
        .route("/users/@me/mfa/backup-codes", post(backup_codes))
        .route("/auth/authorize-ip", post(authorize_ip))
        .route("/auth/ip-authorization/poll", get(poll_ip_authorization))
        .route(
            "/auth/ip-authorization/resend",
            post(resend_ip_authorization),
        )
        .route("/auth/handoff/initiate", post(initiate_handoff))
        .route("/auth/handoff/complete", post(complete_handoff))
        .route("/auth/handoff/{code}/status", get(handoff_status))
        .route("/auth/handoff/{code}", delete(cancel_handoff))
        .route("/auth/sso/status", get(sso_status))
        .route("/auth/sso/start", post(sso_start))
        .route("/auth/sso/complete", post(sso_complete))
}

async fn sso_status(State(s): State<ApiState>) -> ApiResult<Json<SsoStatus>> {
    Ok(Json(s.fluxer.sso_status().await?))
}

#[derive(Deserialize)]
struct SsoStartBody {
    #[serde(default)]
    redirect_to: Option<String>,
}

async fn sso_start(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<SsoStartBody>,
) -> ApiResult<Json<SsoStart>> {
    Ok(Json(s.fluxer.start_sso(req.redirect_to.as_deref()).await?))
}

#[derive(Deserialize)]
struct SsoCompleteBody {
    code: String,
    state: String,
}

async fn sso_complete(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(req): JsonBody<SsoCompleteBody>,
) -> ApiResult<Json<SsoCompletion>> {
    let client = client_info(&headers, ip(&peer));
    Ok(Json(
        s.fluxer
            .complete_sso(&req.code, &req.state, &client)
            .await?,
    ))
}

type Peer = PeerIp;

fn ip(peer: &Peer) -> Option<String> {
    peer.0.clone()
}

async fn register(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<LoginOutcome>)> {
    req.client = client_info(&headers, ip(&peer));
    Ok((StatusCode::OK, Json(s.fluxer.register(req).await?)))
}

#[derive(Deserialize)]
struct SuggestionsRequest {
    global_name: String,
}

/// `{suggestions}`: the username the display name suggests (none when it has no usable letters).
async fn username_suggestions(
    JsonBody(req): JsonBody<SuggestionsRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut v = fluxer_core::validation::Validator::new();
    v.length("global_name", req.global_name.trim(), 1, 32);
    v.finish()?;
    let suggestions: Vec<String> = fluxer_core::service::suggest_username(&req.global_name)
        .into_iter()
        .collect();
    Ok(Json(json!({ "suggestions": suggestions })))
}

async fn login(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<LoginRequest>,
) -> ApiResult<Json<LoginOutcome>> {
    req.client = client_info(&headers, ip(&peer));
    Ok(Json(s.fluxer.login(req).await?))
}

#[derive(Deserialize)]
struct TotpLogin {
    code: String,
    ticket: String,
}

async fn login_totp(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TotpLogin>,
) -> ApiResult<Json<LoginOutcome>> {
    let client = client_info(&headers, ip(&peer));
    Ok(Json(
        s.fluxer.login_totp(&req.ticket, &req.code, client).await?,
    ))
}

async fn logout(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    s.fluxer.logout(&actor).await?;
    Ok(no_content())
}

async fn sessions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(s.fluxer.list_sessions(&actor).await?)))
}

#[derive(Deserialize)]
struct LogoutSessions {
    session_id_hashes: Vec<String>,
}

async fn logout_sessions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<LogoutSessions>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .logout_sessions(&actor, &req.session_id_hashes)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn verify(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<TokenBody>,
) -> ApiResult<StatusCode> {
    s.fluxer.verify_email(&req.token).await?;
    Ok(no_content())
}

async fn resend(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    s.fluxer.resend_verification(&actor).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct Forgot {
    email: String,
}

async fn forgot(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<Forgot>,
) -> ApiResult<StatusCode> {
    s.fluxer.forgot_password(&req.email).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct Reset {
    token: String,
    password: String,
}

async fn reset(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Reset>,
) -> ApiResult<Json<LoginOutcome>> {
    let client = client_info(&headers, ip(&peer));
    Ok(Json(
        s.fluxer
            .reset_password(&req.token, &req.password, client)
            .await?,
    ))
}

async fn totp_setup(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(s.fluxer.totp_setup(&actor))))
}

#[derive(Deserialize)]
struct TotpEnable {
    secret: String,
    code: String,
    password: Option<String>,
}

async fn totp_enable(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<TotpEnable>,
) -> ApiResult<Json<serde_json::Value>> {
    let (user, codes) = s
        .fluxer
        .enable_totp(&actor, &req.secret, &req.code, req.password.as_deref())
        .await?;
    Ok(Json(
        json!({ "token": null, "backup_codes": codes, "user": user.private() }),
    ))
}

#[derive(Deserialize)]
struct BackupCodesRequest {
    #[serde(default)]
    regenerate: bool,
    password: Option<String>,
    mfa_code: Option<String>,
}

async fn backup_codes(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<BackupCodesRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let codes = s
        .fluxer
        .backup_codes(
            &actor,
            req.regenerate,
            req.password.as_deref(),
            req.mfa_code.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "backup_codes": codes })))
}

#[derive(Deserialize)]
struct TotpDisable {
    code: String,
}

async fn totp_disable(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<TotpDisable>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = s.fluxer.disable_totp(&actor, &req.code).await?;
    Ok(Json(json!({ "token": null, "user": user.private() })))
}

/// `POST /auth/authorize-ip`: the emailed link approves a login from a new address.
async fn authorize_ip(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<TokenBody>,
) -> ApiResult<StatusCode> {
    s.fluxer.authorize_ip(&req.token).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: String,
}

async fn poll_ip_authorization(
    State(s): State<ApiState>,
    QueryParams(q): QueryParams<TicketQuery>,
) -> ApiResult<Json<IpAuthorizationPoll>> {
    Ok(Json(s.fluxer.poll_ip_authorization(&q.ticket).await?))
}

async fn resend_ip_authorization(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<TicketQuery>,
) -> ApiResult<StatusCode> {
    s.fluxer.resend_ip_authorization(&req.ticket).await?;
    Ok(no_content())
}

async fn initiate_handoff(State(s): State<ApiState>) -> ApiResult<Json<HandoffStarted>> {
    Ok(Json(s.fluxer.initiate_handoff().await?))
}

#[derive(Deserialize)]
struct HandoffComplete {
    code: String,
    token: String,
    user_id: String,
}

async fn complete_handoff(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    JsonBody(req): JsonBody<HandoffComplete>,
) -> ApiResult<StatusCode> {
    let client = client_info(&headers, ip(&peer));
    s.fluxer
        .complete_handoff(&req.code, &req.token, &req.user_id, &client)
        .await?;
    Ok(no_content())
}

async fn handoff_status(
    State(s): State<ApiState>,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<HandoffStatus>> {
    Ok(Json(s.fluxer.handoff_status(&code).await?))
}

async fn cancel_handoff(
    State(s): State<ApiState>,
    PathParams(code): PathParams<String>,
) -> ApiResult<StatusCode> {
    s.fluxer.cancel_handoff(&code).await?;
    Ok(no_content())
}
