//! Passkeys and security keys: `/users/@me/mfa/webauthn/*`, `/auth/webauthn/*`,
//! `/auth/login/mfa/webauthn*` and `/users/@me/sudo/webauthn/authentication-options`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::model::WebAuthnCredentialResponse;
use fluxer_core::service::{LoginOutcome, SudoProof};
use serde::Deserialize;
use serde_json::Value;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, PeerIp, client_info};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/users/@me/mfa/webauthn/credentials",
            get(list_credentials).post(register_credential),
        )
        .route(
            "/users/@me/mfa/webauthn/credentials/registration-options",
            post(registration_options),
        )
        .route(
            "/users/@me/mfa/webauthn/credentials/{credential_id}",
            patch(rename_credential).delete(delete_credential),
        )
        .route(
            "/users/@me/sudo/webauthn/authentication-options",
            post(sudo_options),
        )
        .route(
            "/auth/webauthn/authentication-options",
            post(passwordless_options),
        )
        .route("/auth/webauthn/authenticate", post(passwordless_login))
        .route(
            "/auth/login/mfa/webauthn/authentication-options",
            post(mfa_options),
        )
        .route("/auth/login/mfa/webauthn", post(mfa_login))
}

async fn list_credentials(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<WebAuthnCredentialResponse>>> {
    Ok(Json(s.fluxer.webauthn_credentials(&actor).await?))
}

async fn registration_options(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(sudo): JsonBody<SudoProof>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fluxer
            .webauthn_registration_options(&actor, &sudo)
            .await?,
    ))
}

/// `WebAuthnRegisterRequest`.
#[derive(Deserialize)]
struct Register {
    response: Value,
    challenge: String,
    name: String,
    #[serde(flatten)]
    sudo: SudoProof,
}

async fn register_credential(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<Register>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .register_webauthn_credential(&actor, &req.response, &req.challenge, &req.name, &req.sudo)
        .await?;
    Ok(no_content())
}

/// `WebAuthnCredentialUpdateRequest`.
#[derive(Deserialize)]
struct Rename {
    name: String,
    #[serde(flatten)]
    sudo: SudoProof,
}

async fn rename_credential(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<Rename>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .rename_webauthn_credential(&actor, &id, &req.name, &req.sudo)
        .await?;
    Ok(no_content())
}

async fn delete_credential(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<String>,
    JsonBody(sudo): JsonBody<SudoProof>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .delete_webauthn_credential(&actor, &id, &sudo)
        .await?;
    Ok(no_content())
}

async fn sudo_options(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(s.fluxer.sudo_webauthn_options(&actor).await?))
}

async fn passwordless_options(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    Ok(Json(s.fluxer.webauthn_login_options().await?))
}

/// `WebAuthnAuthenticateRequest`.
#[derive(Deserialize)]
struct Authenticate {
    response: Value,
    challenge: String,
}

async fn passwordless_login(
    State(s): State<ApiState>,
    peer: PeerIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Authenticate>,
) -> ApiResult<Json<LoginOutcome>> {
    let client = client_info(&headers, peer.0.clone());
    Ok(Json(
        s.fluxer
            .webauthn_login(&req.response, &req.challenge, client)
            .await?,
    ))
}

/// `MfaTicketRequest`.
#[derive(Deserialize)]
struct Ticket {
    ticket: String,
}

async fn mfa_options(
    State(s): State<ApiState>,
    JsonBody(req): JsonBody<Ticket>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fluxer.webauthn_mfa_options(&req.ticket).await?))
}

/// `WebAuthnMfaRequest`.
#[derive(Deserialize)]
struct MfaLogin {
    response: Value,
    challenge: String,
    ticket: String,
}

async fn mfa_login(
    State(s): State<ApiState>,
    peer: PeerIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<MfaLogin>,
) -> ApiResult<Json<LoginOutcome>> {
    let client = client_info(&headers, peer.0.clone());
    Ok(Json(
        s.fluxer
            .login_webauthn_mfa(&req.ticket, &req.response, &req.challenge, client)
            .await?,
    ))
}
