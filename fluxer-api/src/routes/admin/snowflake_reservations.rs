//! `/admin/snowflake-reservations/{add,list,delete}`: user IDs promised to email addresses,
//! given to whoever registers with the address.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::id::UserId;
use fluxer_core::model::acl;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/snowflake-reservations/list", post(list))
        .route("/admin/snowflake-reservations/add", post(add))
        .route("/admin/snowflake-reservations/delete", post(delete))
}

async fn list(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    let all = s.fluxer.list_snowflake_reservations(&auth.0).await?;
    let reservations: Vec<Value> = all
        .iter()
        .map(|r| {
            json!({
                "email": r.email,
                "snowflake": r.snowflake.to_string(),
                "updated_at": r.updated_at.to_iso8601(),
            })
        })
        .collect();
    Ok(Json(json!({ "reservations": reservations })))
}

#[derive(Deserialize)]
struct Add {
    email: String,
    snowflake: UserId,
}

async fn add(State(s): State<ApiState>, auth: AdminAuth, body: RawBody) -> ApiResult<Json<Value>> {
    let req: Add = body.parse_for(&auth, acl::INSTANCE_SNOWFLAKE_RESERVATION_MANAGE)?;
    s.fluxer
        .add_snowflake_reservation(&auth.0, &req.email, req.snowflake)
        .await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize)]
struct Delete {
    email: String,
}

async fn delete(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: Delete = body.parse_for(&auth, acl::INSTANCE_SNOWFLAKE_RESERVATION_MANAGE)?;
    s.fluxer
        .delete_snowflake_reservation(&auth.0, &req.email)
        .await?;
    Ok(Json(json!({ "success": true })))
}
