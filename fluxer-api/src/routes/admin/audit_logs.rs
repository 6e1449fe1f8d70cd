//! `/admin/audit-logs` (+ `/search`): what the instance's staff did.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::id::UserId;
use fluxer_core::model::{AdminAuditEntry, AdminAuditQuery};
use fluxer_core::service::AdminAuditPage;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/audit-logs", post(list_logs))
        .route("/admin/audit-logs/search", post(search_logs))
}

#[derive(Deserialize)]
struct ListRequest {
    #[serde(default)]
    admin_user_id: Option<UserId>,
    #[serde(default)]
    target_type: Option<String>,
    #[serde(default)]
    target_id: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SortOrder {
    Asc,
    Desc,
}

#[derive(Deserialize)]
struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    admin_user_id: Option<UserId>,
    #[serde(default)]
    target_id: Option<String>,
    /// `createdAt` or `relevance`; entries come in time order either way (no ranking).
    #[serde(default)]
    sort_by: Option<String>,
    #[serde(default)]
    sort_order: Option<SortOrder>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u64>,
}

fn limit_of(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        Some(0) => Err(ApiError::invalid(
            "limit",
            "NUMBER_TYPE_OUT_OF_RANGE",
            "Must be between 1 and 200.",
        )),
        other => Ok(other.unwrap_or(50)),
    }
}

fn entry(e: &AdminAuditEntry) -> Value {
    json!({
        "log_id": e.id.to_string(),
        "admin_user_id": e.actor.to_string(),
        "target_type": e.target_type,
        "target_id": e.target_id,
        "action": e.action,
        "audit_log_reason": e.reason,
        "metadata": e.metadata,
        "created_at": e.created_at.to_iso8601(),
    })
}

fn page(p: AdminAuditPage) -> Json<Value> {
    Json(json!({
        "logs": p.entries.iter().map(entry).collect::<Vec<_>>(),
        "total": p.total,
    }))
}

async fn list_logs(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<ListRequest>,
) -> ApiResult<Json<Value>> {
    let query = AdminAuditQuery {
        actor: req.admin_user_id,
        target_type: req.target_type,
        target_id: req.target_id,
        text: None,
        oldest_first: false,
        offset: req.offset.unwrap_or(0),
        limit: limit_of(req.limit)?,
    };
    Ok(page(s.fluxer.search_admin_audit_log(&auth.0, query).await?))
}

async fn search_logs(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(req): JsonBody<SearchRequest>,
) -> ApiResult<Json<Value>> {
    if let Some(sort_by) = req.sort_by.as_deref()
        && !matches!(sort_by, "createdAt" | "relevance")
    {
        return Err(ApiError::invalid(
            "sort_by",
            "BASE_TYPE_INVALID",
            "Must be createdAt or relevance.",
        ));
    }
    let query = AdminAuditQuery {
        actor: req.admin_user_id,
        target_type: None,
        target_id: req.target_id,
        text: req.query,
        oldest_first: matches!(req.sort_order, Some(SortOrder::Asc)),
        offset: req.offset.unwrap_or(0),
        limit: limit_of(req.limit)?,
    };
    Ok(page(s.fluxer.search_admin_audit_log(&auth.0, query).await?))
}
