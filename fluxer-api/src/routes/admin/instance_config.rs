//! `/admin/instance-config/{get,update}`: registration mode, manual review, the instance's name,
//! description, policy texts and home page.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::InstanceConfig;
use fluxer_core::service::InstanceConfigUpdate;
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/instance-config/get", post(get_config))
        .route("/admin/instance-config/update", post(update_config))
}

/// Upstream's `InstanceConfigResponse`, with this server's additions (registration mode, texts,
/// home page, `sso.enforced`). SSO shows the settings in effect (staff's once stored, else the
/// config file's); the client secret only as `client_secret_set`.
fn response(s: &ApiState, c: &InstanceConfig) -> Json<Value> {
    let sso = c.sso.as_ref().unwrap_or(&s.fluxer.config().sso);
    let or_null = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Json(json!({
        "registration_mode": c.registration_mode,
        "manual_review_enabled": c.manual_review_enabled,
        "manual_review_schedule_enabled": c.manual_review_schedule_enabled,
        "manual_review_schedule_start_hour_utc": c.manual_review_schedule_start_hour_utc,
        "manual_review_schedule_end_hour_utc": c.manual_review_schedule_end_hour_utc,
        "manual_review_active_now": c.manual_review_active_at(s.fluxer.now()),
        "registration_alerts_webhook_url": c.registration_alerts_webhook_url,
        "system_alerts_webhook_url": c.system_alerts_webhook_url,
        "name": c.name,
        "description": c.description,
        "terms_of_service": c.terms_of_service,
        "privacy_policy": c.privacy_policy,
        "home_page_enabled": c.home_page_enabled,
        "sso": {
            "enabled": sso.enabled,
            "enforced": sso.enforced,
            "display_name": sso.display_name,
            "issuer": or_null(&sso.issuer),
            "authorization_url": null,
            "token_url": null,
            "userinfo_url": null,
            "jwks_url": null,
            "client_id": or_null(&sso.client_id),
            "client_secret_set": sso.client_secret.as_deref().is_some_and(|s| !s.is_empty()),
            "scope": or_null(&sso.scopes.join(" ")),
            "allowed_domains": sso.allowed_domains,
            "auto_provision": sso.auto_provision,
            "redirect_uri": sso.redirect_uri,
        },
        "self_hosted": true,
    }))
}

async fn get_config(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    let config = s.fluxer.get_instance_config(&auth.0).await?;
    Ok(response(&s, &config))
}

async fn update_config(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(update): JsonBody<InstanceConfigUpdate>,
) -> ApiResult<Json<Value>> {
    let config = s.fluxer.update_instance_config(&auth.0, update).await?;
    Ok(response(&s, &config))
}
