//! `/admin/archives/*`: staff archives of a user's or a guild's data, built by a job, listed, read
//! and downloaded through a signed link (upstream's paths, bodies and ACLs). The link's target,
//! `GET /admin/archives/{type}/{subject}/{archive}/file`, needs no credentials but the link's
//! signature (as upstream's presigned storage URL).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::{GuildId, Snowflake, UserId};
use fluxer_core::service::{
    AdminArchive, ArchiveDownload, ArchiveListRequest, ArchiveSubject, require_any_archive_acl,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/archives/user", post(archive_user))
        .route("/admin/archives/guild", post(archive_guild))
        .route("/admin/archives/list", post(list))
        .route(
            "/admin/archives/{subject_type}/{subject_id}/{archive_id}",
            get(get_archive),
        )
        .route(
            "/admin/archives/{subject_type}/{subject_id}/{archive_id}/download",
            get(download),
        )
        .route(
            "/admin/archives/{subject_type}/{subject_id}/{archive_id}/file",
            get(file),
        )
}

#[derive(Deserialize)]
struct UserTarget {
    user_id: UserId,
}

#[derive(Deserialize)]
struct GuildTarget {
    guild_id: GuildId,
}

/// A path's subject type: `user` or `guild` (anything else is an unknown route's 404).
fn subject(s: &str) -> ApiResult<ArchiveSubject> {
    match s {
        "user" => Ok(ArchiveSubject::User),
        "guild" => Ok(ArchiveSubject::Guild),
        _ => Err(ApiError::from(fluxer_core::Error::field(
            "subjectType",
            "BASE_TYPE_CHOICES",
            "Must be user or guild.",
        ))),
    }
}

async fn archive_user(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminArchive>> {
    let req: UserTarget = body.parse_for(&auth, fluxer_core::model::acl::ARCHIVE_TRIGGER_USER)?;
    Ok(Json(
        s.fluxer
            .admin_start_archive(&auth.0, ArchiveSubject::User, req.user_id.get())
            .await?,
    ))
}

async fn archive_guild(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<AdminArchive>> {
    let req: GuildTarget = body.parse_for(&auth, fluxer_core::model::acl::ARCHIVE_TRIGGER_GUILD)?;
    Ok(Json(
        s.fluxer
            .admin_start_archive(&auth.0, ArchiveSubject::Guild, req.guild_id.get())
            .await?,
    ))
}

async fn list(State(s): State<ApiState>, auth: AdminAuth, body: RawBody) -> ApiResult<Json<Value>> {
    require_any_archive_acl(&auth.0)?;
    let req: ArchiveListRequest = crate::extract::parse_json(&body.0)?;
    let archives = s.fluxer.admin_list_archives(&auth.0, req).await?;
    Ok(Json(json!({ "archives": archives })))
}

async fn get_archive(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams((kind, subject_id, archive_id)): PathParams<(String, Snowflake, Snowflake)>,
) -> ApiResult<Json<Value>> {
    require_any_archive_acl(&auth.0)?;
    let kind = subject(&kind)?;
    let archive = s
        .fluxer
        .admin_get_archive(&auth.0, kind, subject_id.0, archive_id.0)
        .await?;
    Ok(Json(json!({ "archive": archive })))
}

async fn download(
    State(s): State<ApiState>,
    auth: AdminAuth,
    PathParams((kind, subject_id, archive_id)): PathParams<(String, Snowflake, Snowflake)>,
) -> ApiResult<Json<ArchiveDownload>> {
    require_any_archive_acl(&auth.0)?;
    let kind = subject(&kind)?;
    Ok(Json(
        s.fluxer
            .admin_archive_download(&auth.0, kind, subject_id.0, archive_id.0)
            .await?,
    ))
}

#[derive(Deserialize)]
struct Signed {
    expires: i64,
    signature: String,
}

async fn file(
    State(s): State<ApiState>,
    PathParams((kind, subject_id, archive_id)): PathParams<(String, Snowflake, Snowflake)>,
    QueryParams(q): QueryParams<Signed>,
) -> ApiResult<Response> {
    let kind = subject(&kind)?;
    let bytes = s
        .fluxer
        .admin_archive_zip_signed(kind, subject_id.0, archive_id.0, q.expires, &q.signature)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"fluxer-{}-{}-{}.zip\"",
                    kind.as_str(),
                    subject_id.0,
                    archive_id.0
                ),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
