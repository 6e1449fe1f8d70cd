//! `/admin/users/*`: staff actions on accounts (upstream's `UserAdminController`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::{GuildId, UserId};
use fluxer_core::model::User;
use fluxer_core::service::{AdminScheduleDeletion, AdminUserLookup};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::routes::no_content;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/users/me", get(me))
        .route("/admin/users/lookup", post(lookup))
        .route("/admin/users/search", post(search))
        .route("/admin/users/change-username", post(change_username))
        .route("/admin/users/change-email", post(change_email))
        .route("/admin/users/change-dob", post(change_dob))
        .route("/admin/users/update-flags", post(update_flags))
        .route("/admin/users/verify-email", post(verify_email))
        .route(
            "/admin/users/send-password-reset",
            post(send_password_reset),
        )
        .route("/admin/users/disable-mfa", post(disable_mfa))
        .route("/admin/users/list-sessions", post(list_sessions))
        .route("/admin/users/terminate-sessions", post(terminate_sessions))
        .route("/admin/users/list-guilds", post(list_guilds))
        .route("/admin/users/temp-ban", post(temp_ban))
        .route("/admin/users/unban", post(unban))
        .route("/admin/users/disable-suspicious", post(disable_suspicious))
        .route("/admin/users/schedule-deletion", post(schedule_deletion))
        .route("/admin/users/cancel-deletion", post(cancel_deletion))
        .route("/admin/users/set-bot-status", post(set_bot_status))
        .route("/admin/users/set-system-status", post(set_system_status))
        .route("/admin/users/set-acls", post(set_acls))
}

/// Upstream's `UserAdminResponseSchema`: everything staff see of an account. Fields this server
/// does not keep (phone, premium, last activity) are null or empty.
pub(crate) fn admin_user(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "discriminator": u.discriminator,
        "global_name": u.global_name,
        "bot": u.bot,
        "system": u.system,
        "flags": u.flags.to_string(),
        "avatar": u.avatar,
        "banner": u.banner,
        "bio": u.bio,
        "pronouns": u.pronouns,
        "accent_color": u.accent_color,
        "email": u.email,
        "email_verified": u.email_verified,
        "email_bounced": u.email_bounced,
        "phone": null,
        "date_of_birth": u.date_of_birth,
        "locale": u.locale,
        "premium_type": 0,
        "premium_since": null,
        "premium_until": null,
        "suspicious_activity_flags": u.suspicious_activity_flags,
        "temp_banned_until": u.temp_banned_until.map(|t| t.to_iso8601()),
        "disabled": u.staff_disabled,
        "pending_review": u.pending_review,
        "pending_deletion_at": u.deletion_requested_at.map(|t| t.to_iso8601()),
        "pending_bulk_message_deletion_at": u
            .pending_bulk_message_deletion
            .as_ref()
            .map(|p| p.scheduled_at.to_iso8601()),
        "deletion_reason_code": null,
        "deletion_public_reason": null,
        "acls": u.acls,
        "traits": u.traits,
        "has_totp": u.totp_enabled(),
        "authenticator_types": u.authenticator_types(),
        "last_active_at": null,
        "last_active_ip": null,
        "last_active_ip_reverse": null,
        "last_active_location": null,
    })
}

fn mutation(u: &User) -> Json<Value> {
    Json(json!({ "user": admin_user(u) }))
}

/// `{user_id}`: the body of most user actions.
#[derive(Deserialize)]
struct Target {
    user_id: UserId,
}

async fn me(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    Ok(mutation(&s.fluxer.admin_me(&auth.0)?))
}

#[derive(Deserialize)]
struct LookupRequest {
    #[serde(default)]
    user_ids: Option<Vec<UserId>>,
    #[serde(default)]
    query: Option<String>,
}

async fn lookup(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<LookupRequest>,
) -> ApiResult<Json<Value>> {
    let lookup = match (req.user_ids, req.query) {
        (Some(ids), None) => AdminUserLookup::Ids(ids),
        (None, Some(q)) => AdminUserLookup::Query(q),
        _ => {
            return Err(ApiError::invalid(
                "query",
                "BASE_TYPE_REQUIRED",
                "Give either user_ids or query.",
            ));
        }
    };
    let users = s.fluxer.admin_lookup_users(&auth.0, lookup).await?;
    Ok(Json(
        json!({ "users": users.iter().map(admin_user).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

async fn search(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let (users, total) = s
        .fluxer
        .admin_search_users(
            &auth.0,
            req.query.as_deref().unwrap_or(""),
            req.limit.unwrap_or(50),
            req.offset.unwrap_or(0),
        )
        .await?;
    Ok(Json(json!({
        "users": users.iter().map(admin_user).collect::<Vec<_>>(),
        "total": total,
    })))
}

#[derive(Deserialize)]
struct ChangeUsername {
    user_id: UserId,
    username: String,
    #[serde(default)]
    discriminator: Option<u16>,
}

async fn change_username(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<ChangeUsername>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_change_username(&auth.0, req.user_id, &req.username, req.discriminator)
        .await?;
    Ok(mutation(&user))
}

#[derive(Deserialize)]
struct ChangeEmail {
    user_id: UserId,
    email: String,
}

async fn change_email(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<ChangeEmail>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_change_email(&auth.0, req.user_id, &req.email)
        .await?;
    Ok(mutation(&user))
}

#[derive(Deserialize)]
struct ChangeDob {
    user_id: UserId,
    date_of_birth: String,
}

async fn change_dob(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<ChangeDob>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_change_dob(&auth.0, req.user_id, &req.date_of_birth)
        .await?;
    Ok(mutation(&user))
}

/// A flag as upstream sends it: a decimal string (`"4"`) or a number.
pub(super) fn flag_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Number(u64),
        Text(String),
    }
    Vec::<Flag>::deserialize(d)?
        .into_iter()
        .map(|f| match f {
            Flag::Number(n) => Ok(n),
            Flag::Text(t) => t
                .parse()
                .map_err(|_| serde::de::Error::custom("flags are decimal numbers")),
        })
        .collect()
}

#[derive(Deserialize)]
struct UpdateFlags {
    user_id: UserId,
    #[serde(default, deserialize_with = "flag_list")]
    add_flags: Vec<u64>,
    #[serde(default, deserialize_with = "flag_list")]
    remove_flags: Vec<u64>,
}

async fn update_flags(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<UpdateFlags>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_update_flags(&auth.0, req.user_id, &req.add_flags, &req.remove_flags)
        .await?;
    Ok(mutation(&user))
}

async fn verify_email(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(
        &s.fluxer.admin_verify_email(&auth.0, req.user_id).await?,
    ))
}

async fn send_password_reset(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .admin_send_password_reset(&auth.0, req.user_id)
        .await?;
    Ok(no_content())
}

async fn disable_mfa(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<StatusCode> {
    s.fluxer.admin_disable_mfa(&auth.0, req.user_id).await?;
    Ok(no_content())
}

async fn list_sessions(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    let sessions = s.fluxer.admin_list_sessions(&auth.0, req.user_id).await?;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|x| {
            json!({
                "session_id_hash": x.id_hash(),
                "created_at": x.created_at.to_iso8601(),
                "approx_last_used_at": x.last_used_at.to_iso8601(),
                "client_ip": x.client_ip.clone().unwrap_or_default(),
                "client_ip_reverse": null,
                "client_os": x.client_os,
                "client_platform": x.client_browser,
                "client_location": null,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn terminate_sessions(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    let n = s
        .fluxer
        .admin_terminate_sessions(&auth.0, req.user_id)
        .await?;
    Ok(Json(json!({ "terminated_count": n })))
}

#[derive(Deserialize)]
struct ListGuilds {
    user_id: UserId,
    #[serde(default)]
    before: Option<GuildId>,
    #[serde(default)]
    after: Option<GuildId>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn list_guilds(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<ListGuilds>,
) -> ApiResult<Json<Value>> {
    let guilds = s
        .fluxer
        .admin_list_user_guilds(
            &auth.0,
            req.user_id,
            req.before,
            req.after,
            req.limit.unwrap_or(200),
        )
        .await?;
    let mut out = Vec::with_capacity(guilds.len());
    for (g, members) in guilds {
        out.push(json!({
            "id": g.id.to_string(),
            "name": g.name,
            "features": g.features,
            "owner_id": g.owner_id.to_string(),
            "icon": g.icon,
            "banner": g.banner,
            "member_count": members,
        }));
    }
    Ok(Json(json!({ "guilds": out })))
}

#[derive(Deserialize)]
struct TempBan {
    user_id: UserId,
    duration_hours: i64,
    #[serde(default)]
    reason: Option<String>,
}

async fn temp_ban(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<TempBan>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_temp_ban(
            &auth.0,
            req.user_id,
            req.duration_hours,
            req.reason.as_deref(),
        )
        .await?;
    Ok(mutation(&user))
}

async fn unban(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(&s.fluxer.admin_unban(&auth.0, req.user_id).await?))
}

#[derive(Deserialize)]
struct DisableSuspicious {
    user_id: UserId,
    #[serde(default)]
    flags: u64,
}

async fn disable_suspicious(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<DisableSuspicious>,
) -> ApiResult<Json<Value>> {
    let user = s
        .fluxer
        .admin_disable_user(&auth.0, req.user_id, req.flags)
        .await?;
    Ok(mutation(&user))
}

async fn schedule_deletion(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<AdminScheduleDeletion>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(
        &s.fluxer.admin_schedule_deletion(&auth.0, req).await?,
    ))
}

async fn cancel_deletion(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(
        &s.fluxer.admin_cancel_deletion(&auth.0, req.user_id).await?,
    ))
}

#[derive(Deserialize)]
struct SetBot {
    user_id: UserId,
    bot: bool,
}

async fn set_bot_status(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<SetBot>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(
        &s.fluxer
            .admin_set_bot(&auth.0, req.user_id, req.bot)
            .await?,
    ))
}

#[derive(Deserialize)]
struct SetSystem {
    user_id: UserId,
    system: bool,
}

async fn set_system_status(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<SetSystem>,
) -> ApiResult<Json<Value>> {
    Ok(mutation(
        &s.fluxer
            .admin_set_system(&auth.0, req.user_id, req.system)
            .await?,
    ))
}

#[derive(Deserialize)]
struct SetAcls {
    user_id: UserId,
    acls: Vec<String>,
}

async fn set_acls(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<SetAcls>,
) -> ApiResult<Json<Value>> {
    if req.acls.len() > fluxer_core::model::MAX_ACLS {
        return Err(ApiError::invalid(
            "acls",
            "BASE_TYPE_MAX_LENGTH",
            "At most 100 ACLs.",
        ));
    }
    Ok(mutation(
        &s.fluxer
            .admin_set_acls(&auth.0, req.user_id, req.acls)
            .await?,
    ))
}
