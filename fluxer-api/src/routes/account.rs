//! Changing one's email address or password with emailed codes, and undoing an email change from
//! the old address.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::model::UserPrivate;
use fluxer_core::service::{
    BouncedEmailRequested, EmailChangeRequested, EmailChangeStart, PasswordChangeStart,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PeerIp, client_info};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/email-change/start", post(email_start))
        .route(
            "/users/@me/email-change/resend-original",
            post(email_resend_original),
        )
        .route(
            "/users/@me/email-change/verify-original",
            post(email_verify_original),
        )
        .route(
            "/users/@me/email-change/request-new",
            post(email_request_new),
        )
        .route("/users/@me/email-change/resend-new", post(email_resend_new))
        .route("/users/@me/email-change/verify-new", post(email_verify_new))
        .route(
            "/users/@me/email-change/bounced/request-new",
            post(bounced_request_new),
        )
        .route(
            "/users/@me/email-change/bounced/resend-new",
            post(bounced_resend_new),
        )
        .route(
            "/users/@me/email-change/bounced/verify-new",
            post(bounced_verify_new),
        )
        .route("/users/@me/password-change/start", post(password_start))
        .route("/users/@me/password-change/resend", post(password_resend))
        .route("/users/@me/password-change/verify", post(password_verify))
        .route(
            "/users/@me/password-change/complete",
            post(password_complete),
        )
        .route("/users/@me/sudo/mfa-methods", get(sudo_mfa_methods))
        .route("/auth/email-revert", post(email_revert))
}

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
}

#[derive(Deserialize)]
struct TicketCode {
    ticket: String,
    code: String,
}

#[derive(Deserialize)]
struct NewEmail {
    ticket: String,
    new_email: String,
    original_proof: String,
}

#[derive(Deserialize)]
struct NewEmailCode {
    ticket: String,
    code: String,
    original_proof: String,
}

#[derive(Deserialize)]
struct Complete {
    ticket: String,
    verification_proof: String,
    new_password: String,
}

#[derive(Deserialize)]
struct Revert {
    token: String,
    password: String,
}

async fn email_start(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<EmailChangeStart>> {
    Ok(Json(s.fluxer.start_email_change(&actor).await?))
}

async fn email_resend_original(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<Ticket>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .resend_email_change_original(&actor, &body.ticket)
        .await?;
    Ok(no_content())
}

async fn email_verify_original(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<TicketCode>,
) -> ApiResult<Json<Value>> {
    let proof = s
        .fluxer
        .verify_email_change_original(&actor, &body.ticket, &body.code)
        .await?;
    Ok(Json(json!({ "original_proof": proof })))
}

async fn email_request_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewEmail>,
) -> ApiResult<Json<EmailChangeRequested>> {
    Ok(Json(
        s.fluxer
            .request_email_change_new(&actor, &body.ticket, &body.new_email, &body.original_proof)
            .await?,
    ))
}

async fn email_resend_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<Ticket>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .resend_email_change_new(&actor, &body.ticket)
        .await?;
    Ok(no_content())
}

async fn email_verify_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewEmailCode>,
) -> ApiResult<Json<Value>> {
    let token = s
        .fluxer
        .verify_email_change_new(&actor, &body.ticket, &body.code, &body.original_proof)
        .await?;
    Ok(Json(json!({ "email_token": token })))
}

async fn password_start(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<PasswordChangeStart>> {
    Ok(Json(s.fluxer.start_password_change(&actor).await?))
}

async fn password_resend(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<Ticket>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .resend_password_change(&actor, &body.ticket)
        .await?;
    Ok(no_content())
}

async fn password_verify(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<TicketCode>,
) -> ApiResult<Json<Value>> {
    let proof = s
        .fluxer
        .verify_password_change(&actor, &body.ticket, &body.code)
        .await?;
    Ok(Json(json!({ "verification_proof": proof })))
}

async fn password_complete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<Complete>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .complete_password_change(
            &actor,
            &body.ticket,
            &body.verification_proof,
            &body.new_password,
        )
        .await?;
    Ok(no_content())
}

async fn sudo_mfa_methods(State(s): State<ApiState>, Auth(actor): Auth) -> Json<Value> {
    Json(s.fluxer.sudo_mfa_methods(&actor))
}

async fn email_revert(
    State(s): State<ApiState>,
    peer: PeerIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Revert>,
) -> ApiResult<Json<Value>> {
    let client = client_info(&headers, peer.0.clone());
    let (user_id, token) = s
        .fluxer
        .revert_email_change(&body.token, &body.password, client)
        .await?;
    Ok(Json(json!({ "user_id": user_id, "token": token })))
}

#[derive(Deserialize)]
struct BouncedNewEmail {
    new_email: String,
}

/// The replacement of an address mail servers refuse: no proof from the dead address.
async fn bounced_request_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<BouncedNewEmail>,
) -> ApiResult<Json<BouncedEmailRequested>> {
    Ok(Json(
        s.fluxer
            .request_bounced_email_replacement(&actor, &body.new_email)
            .await?,
    ))
}

async fn bounced_resend_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<Ticket>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .resend_bounced_email_replacement(&actor, &body.ticket)
        .await?;
    Ok(no_content())
}

async fn bounced_verify_new(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<TicketCode>,
) -> ApiResult<Json<UserPrivate>> {
    let user = s
        .fluxer
        .verify_bounced_email_replacement(&actor, &body.ticket, &body.code)
        .await?;
    Ok(Json(user.private()))
}
