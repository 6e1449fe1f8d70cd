//! Data exports: `/users/@me/harvest*` (upstream's routes) and the signed download link the ready
//! email carries.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::UserId;
use fluxer_core::service::Harvest;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Auth, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/harvest", post(request))
        .route("/users/@me/harvest/latest", get(latest))
        .route("/users/@me/harvest/{harvest_id}", get(status))
        .route("/users/@me/harvest/{harvest_id}/download", get(download))
        .route(
            "/harvests/{user_id}/{harvest_id}/download",
            get(download_signed),
        )
}

async fn request(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Harvest>> {
    Ok(Json(s.fluxer.request_harvest(&actor).await?))
}

async fn latest(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<Option<Harvest>>> {
    Ok(Json(s.fluxer.latest_harvest(&actor).await?))
}

async fn status(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Harvest>> {
    Ok(Json(s.fluxer.get_harvest(&actor, &id).await?))
}

fn zip_response(id: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"fluxer-data-{id}.zip\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

async fn download(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    let bytes = s.fluxer.harvest_zip(&actor, &id).await?;
    Ok(zip_response(&id, bytes))
}

#[derive(Deserialize)]
struct Signed {
    expires: i64,
    signature: String,
}

async fn download_signed(
    State(s): State<ApiState>,
    PathParams((user, id)): PathParams<(UserId, String)>,
    QueryParams(q): QueryParams<Signed>,
) -> ApiResult<Response> {
    let bytes = s
        .fluxer
        .harvest_zip_signed(user, &id, q.expires, &q.signature)
        .await?;
    Ok(zip_response(&id, bytes))
}
