//! `/invites/{code}`: look up (public), accept, delete.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fluxer_core::model::InviteView;

use crate::error::ApiResult;
use crate::extract::{Auth, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route(
        "/invites/{code}",
        get(get_invite).post(accept).delete(delete),
    )
}

async fn get_invite(
    State(s): State<ApiState>,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<InviteView>> {
    Ok(Json(s.fluxer.get_invite(&code).await?))
}

async fn accept(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<InviteView>> {
    Ok(Json(s.fluxer.accept_invite(&actor, &code).await?))
}

async fn delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<InviteView>> {
    Ok(Json(s.fluxer.delete_invite(&actor, &code).await?))
}
