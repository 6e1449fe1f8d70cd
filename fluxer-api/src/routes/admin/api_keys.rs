//! `/admin/api-keys`: staff create, list and revoke their admin API keys.

use axum::extract::State;
use axum::routing::{delete, post};
use axum::{Json, Router};
use fluxer_core::model::AdminApiKey;
use fluxer_core::service::AdminApiKeyCreate;
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::ApiResult;
use crate::extract::{JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/api-keys", post(create_key).get(list_keys))
        .route("/admin/api-keys/{key_id}", delete(revoke_key))
}

fn iso(t: Option<fluxer_core::time::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_iso8601()))
}

async fn create_key(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<AdminApiKeyCreate>,
) -> ApiResult<Json<Value>> {
    let created = s.fluxer.create_admin_api_key(&auth.0, req).await?;
    let k = &created.api_key;
    Ok(Json(json!({
        "key_id": k.id.to_string(),
        "key": created.key,
        "name": k.name,
        "created_at": k.created_at.to_iso8601(),
        "expires_at": iso(k.expires_at),
        "acls": k.acls,
    })))
}

fn listed(k: &AdminApiKey) -> Value {
    json!({
        "key_id": k.id.to_string(),
        "name": k.name,
        "created_at": k.created_at.to_iso8601(),
        "last_used_at": iso(k.last_used_at),
        "expires_at": iso(k.expires_at),
        "created_by_user_id": k.created_by.to_string(),
        "acls": k.acls,
    })
}

async fn list_keys(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    let keys = s.fluxer.list_admin_api_keys(&auth.0).await?;
    Ok(Json(Value::Array(keys.iter().map(listed).collect())))
}

async fn revoke_key(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams(key_id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    s.fluxer.revoke_admin_api_key(&auth.0, &key_id).await?;
    Ok(Json(json!({ "success": true })))
}
