//! `/admin/messages/*`: staff looking messages up and deleting them (upstream's paths and bodies).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::{
    AdminAttachmentLookup, AdminDeleteAllMessages, AdminDeleteAllResult, AdminMessageDelete,
    AdminMessageLookup, AdminMessageLookupResult, AdminMessageShred, ShredQueued,
};
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/messages/lookup", post(lookup))
        .route(
            "/admin/messages/lookup-by-attachment",
            post(lookup_by_attachment),
        )
        .route("/admin/messages/delete", post(delete))
        .route("/admin/messages/delete-all", post(delete_all))
        .route("/admin/messages/shred", post(shred))
        .route("/admin/messages/shred-status", post(shred_status))
}

async fn shred(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<ShredQueued>> {
    let req: AdminMessageShred = body.parse_for(&auth, acl::MESSAGE_SHRED)?;
    Ok(Json(
        s.fluxer.admin_queue_message_shred(&auth.0, req).await?,
    ))
}

/// `{ "job_id": ... }`.
#[derive(serde::Deserialize)]
struct ShredJob {
    job_id: String,
}

async fn shred_status(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: ShredJob = body.parse_for(&auth, acl::MESSAGE_SHRED)?;
    Ok(Json(
        match s
            .fluxer
            .admin_message_shred_status(&auth.0, &req.job_id)
            .await?
        {
            Some(status) => serde_json::to_value(status).unwrap_or_default(),
            None => json!({ "status": "not_found" }),
        },
    ))
}

async fn lookup(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminMessageLookupResult>> {
    let req: AdminMessageLookup = body.parse_for(&auth, acl::MESSAGE_LOOKUP)?;
    Ok(Json(s.fluxer.admin_lookup_message(&auth.0, req).await?))
}

async fn lookup_by_attachment(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminMessageLookupResult>> {
    let req: AdminAttachmentLookup = body.parse_for(&auth, acl::MESSAGE_LOOKUP)?;
    Ok(Json(
        s.fluxer
            .admin_lookup_message_by_attachment(&auth.0, req)
            .await?,
    ))
}

async fn delete(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminMessageDelete = body.parse_for(&auth, acl::MESSAGE_DELETE)?;
    s.fluxer.admin_delete_message(&auth.0, req).await?;
    Ok(Json(json!({ "success": true })))
}

async fn delete_all(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminDeleteAllResult>> {
    let req: AdminDeleteAllMessages = body.parse_for(&auth, acl::MESSAGE_DELETE_ALL)?;
    Ok(Json(
        s.fluxer
            .admin_delete_all_user_messages(&auth.0, req)
            .await?,
    ))
}
