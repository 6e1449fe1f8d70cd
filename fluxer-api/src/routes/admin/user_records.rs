//! The rest of `/admin/users/*`: clear-fields, set-traits, update-suspicious-activity-flags,
//! cancel-bulk-message-deletion, unlink-phone, change-log, resend-verification-email, the passkeys, and the
//! DM channels; and the user side of `/admin/bulk/*` (update-user-flags,
//! schedule-user-deletion). Bodies are parsed after the ACL check ([`RawBody`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, UserId};
use fluxer_core::model::{User, acl};
use fluxer_core::service::{BulkOutcome, BulkScheduleUserDeletion, ClearableUserField};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use super::users::admin_user;
use crate::error::ApiResult;
use crate::routes::no_content;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/users/clear-fields", post(clear_fields))
        .route("/admin/users/set-traits", post(set_traits))
        .route(
            "/admin/users/update-suspicious-activity-flags",
            post(update_suspicious_flags),
        )
        .route(
            "/admin/users/cancel-bulk-message-deletion",
            post(cancel_bulk_message_deletion),
        )
        .route("/admin/users/unlink-phone", post(unlink_phone))
        .route(
            "/admin/users/resend-verification-email",
            post(resend_verification_email),
        )
        .route(
            "/admin/users/list-webauthn-credentials",
            post(list_webauthn_credentials),
        )
        .route(
            "/admin/users/delete-webauthn-credential",
            post(delete_webauthn_credential),
        )
        .route("/admin/users/list-dm-channels", post(list_dm_channels))
        .route("/admin/users/change-log", post(change_log))
        .route(
            "/admin/bulk/update-user-flags",
            post(bulk_update_user_flags),
        )
        .route(
            "/admin/bulk/schedule-user-deletion",
            post(bulk_schedule_user_deletion),
        )
}

fn mutation(u: &User) -> Json<Value> {
    Json(json!({ "user": admin_user(u) }))
}

#[derive(Deserialize)]
struct Target {
    user_id: UserId,
}

#[derive(Deserialize)]
struct ClearFields {
    user_id: UserId,
    fields: Vec<ClearableUserField>,
}

async fn clear_fields(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ClearFields = body.parse_for(&auth, acl::USER_UPDATE_PROFILE)?;
    let user = s
        .fluxer
        .admin_clear_user_fields(&auth.0, req.user_id, &req.fields)
        .await?;
    Ok(mutation(&user))
}

#[derive(Deserialize)]
struct SetTraits {
    user_id: UserId,
    traits: Vec<String>,
}

async fn set_traits(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: SetTraits = body.parse_for(&auth, acl::USER_UPDATE_TRAITS)?;
    let user = s
        .fluxer
        .admin_set_user_traits(&auth.0, req.user_id, req.traits)
        .await?;
    Ok(mutation(&user))
}

#[derive(Deserialize)]
struct SuspiciousFlags {
    user_id: UserId,
    flags: u32,
}

async fn update_suspicious_flags(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: SuspiciousFlags = body.parse_for(&auth, acl::USER_UPDATE_SUSPICIOUS_ACTIVITY)?;
    let user = s
        .fluxer
        .admin_set_suspicious_flags(&auth.0, req.user_id, req.flags)
        .await?;
    Ok(mutation(&user))
}

async fn cancel_bulk_message_deletion(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: Target = body.parse_for(&auth, acl::USER_CANCEL_BULK_MESSAGE_DELETION)?;
    let user = s
        .fluxer
        .admin_cancel_message_purge(&auth.0, req.user_id)
        .await?;
    Ok(mutation(&user))
}

async fn unlink_phone(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: Target = body.parse_for(&auth, acl::USER_UPDATE_PHONE)?;
    Ok(mutation(
        &s.fluxer.admin_unlink_phone(&auth.0, req.user_id).await?,
    ))
}

async fn resend_verification_email(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let req: Target = body.parse_for(&auth, acl::USER_UPDATE_EMAIL)?;
    s.fluxer
        .admin_resend_verification_email(&auth.0, req.user_id)
        .await?;
    Ok(no_content())
}

/// Upstream answers a bare array of `WebAuthnCredentialResponse`.
async fn list_webauthn_credentials(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: Target = body.parse_for(&auth, acl::USER_UPDATE_MFA)?;
    let credentials = s
        .fluxer
        .admin_list_webauthn_credentials(&auth.0, req.user_id)
        .await?;
    let list: Vec<_> = credentials.iter().map(|c| c.response()).collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
struct DeleteCredential {
    user_id: UserId,
    credential_id: String,
}

async fn delete_webauthn_credential(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let req: DeleteCredential = body.parse_for(&auth, acl::USER_UPDATE_MFA)?;
    if req.credential_id.is_empty() || req.credential_id.len() > 512 {
        return Err(crate::error::ApiError::invalid(
            "credential_id",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 512 characters.",
        ));
    }
    s.fluxer
        .admin_delete_webauthn_credential(&auth.0, req.user_id, &req.credential_id)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct ListDmChannels {
    user_id: UserId,
    #[serde(default)]
    before: Option<ChannelId>,
    #[serde(default)]
    after: Option<ChannelId>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    50
}

async fn list_dm_channels(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ListDmChannels = body.parse_for(&auth, acl::USER_LIST_DM_CHANNELS)?;
    let channels = s
        .fluxer
        .admin_list_user_dm_channels(&auth.0, req.user_id, req.before, req.after, req.limit)
        .await?;
    let channels: Vec<Value> = channels
        .iter()
        .map(|c| {
            json!({
                "channel_id": c.id.to_string(),
                "channel_type": u16::from(c.kind),
                "recipient_ids": c.recipient_ids.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                "last_message_id": c.last_message_id.map(|m| m.to_string()),
                // This server has no closed DMs: every DM the account is in is open.
                "is_open": true,
            })
        })
        .collect();
    Ok(Json(json!({ "channels": channels })))
}

#[derive(Deserialize)]
struct BulkUpdateUserFlags {
    user_ids: Vec<UserId>,
    #[serde(default, deserialize_with = "super::users::flag_list")]
    add_flags: Vec<u64>,
    #[serde(default, deserialize_with = "super::users::flag_list")]
    remove_flags: Vec<u64>,
}

async fn bulk_update_user_flags(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<BulkOutcome>> {
    let req: BulkUpdateUserFlags = body.parse_for(&auth, acl::BULK_UPDATE_USER_FLAGS)?;
    Ok(Json(
        s.fluxer
            .admin_bulk_update_user_flags(&auth.0, &req.user_ids, &req.add_flags, &req.remove_flags)
            .await?,
    ))
}

async fn bulk_schedule_user_deletion(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<BulkOutcome>> {
    let req: BulkScheduleUserDeletion = body.parse_for(&auth, acl::BULK_DELETE_USERS)?;
    Ok(Json(
        s.fluxer
            .admin_bulk_schedule_user_deletion(&auth.0, req)
            .await?,
    ))
}

#[derive(Deserialize)]
struct ChangeLog {
    user_id: UserId,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    page_token: Option<String>,
}

/// Upstream's `ListUserChangeLogResponse`: email and tag changes, newest first.
async fn change_log(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ChangeLog = body.parse_for(&auth, acl::USER_LOOKUP)?;
    let (entries, next) = s
        .fluxer
        .admin_user_change_log(&auth.0, req.user_id, req.limit, req.page_token.as_deref())
        .await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "event_id": e.event_id.0.to_string(),
                "field": e.field,
                "old_value": e.old_value,
                "new_value": e.new_value,
                "reason": e.reason,
                "actor_user_id": e.actor_user_id.map(|a| a.to_string()),
                "event_at": e.event_at.to_iso8601(),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries, "next_page_token": next })))
}
