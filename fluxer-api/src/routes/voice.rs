//! Voice: the regions clients may pick, LiveKit's webhook (which confirms joins and clears
//! departures), and upstream's test-mode confirmation. Joining and leaving happen on the gateway
//! (op 4); see `fluxer_core::service` `voice`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fluxer_core::id::ChannelId;
use fluxer_core::service::{
    CallEligibility, CallRing, CallUpdate, RtcRegion, StreamPreviewUpload, StreamUpdate,
};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

/// Largest webhook body read (LiveKit's events are a few KiB).
const MAX_WEBHOOK_BYTES: usize = 256 << 10;
/// Largest stream preview body: a base64 thumbnail of up to 2,000,000 characters (upstream's
/// schema) and the rest of the JSON.
const MAX_PREVIEW_BODY_BYTES: usize = 2_000_000 + 4096;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/voice/regions", get(regions))
        .route("/channels/{channel_id}/rtc-regions", get(channel_regions))
        .route("/webhooks/livekit", post(livekit_webhook))
        .route("/test/voice/confirm-connection", post(confirm_connection))
        .route(
            "/channels/{channel_id}/call",
            get(call_eligibility).patch(update_call),
        )
        .route("/channels/{channel_id}/call/ring", post(ring))
        .route(
            "/channels/{channel_id}/call/stop-ringing",
            post(stop_ringing),
        )
        .route("/channels/{channel_id}/call/end", post(end_call))
        .route(
            "/streams/{stream_key}/preview",
            // The larger body limit is the upload's only.
            post(upload_stream_preview)
                .layer(DefaultBodyLimit::max(MAX_PREVIEW_BODY_BYTES))
                .get(stream_preview),
        )
        .route("/streams/{stream_key}/stream", patch(update_stream))
}

/// A stream's preview JPEG, never cached; 404 with an empty body when there is none, as upstream.
async fn stream_preview(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(key): PathParams<String>,
) -> ApiResult<Response> {
    let Some(preview) = s.fluxer.stream_preview(actor.id(), &key).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    Ok((
        [
            (header::CONTENT_TYPE, preview.content_type),
            (header::CACHE_CONTROL, "no-store, private"),
            (header::PRAGMA, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        preview.bytes,
    )
        .into_response())
}

async fn upload_stream_preview(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(key): PathParams<String>,
    JsonBody(body): JsonBody<StreamPreviewUpload>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .upload_stream_preview(actor.id(), &key, body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_stream(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(key): PathParams<String>,
    JsonBody(body): JsonBody<StreamUpdate>,
) -> ApiResult<StatusCode> {
    s.fluxer.update_stream(actor.id(), &key, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn call_eligibility(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
) -> ApiResult<Json<CallEligibility>> {
    Ok(Json(s.fluxer.call_eligibility(actor.id(), channel).await?))
}

async fn update_call(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
    JsonBody(body): JsonBody<CallUpdate>,
) -> ApiResult<StatusCode> {
    s.fluxer.update_call(actor.id(), channel, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ring(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
    JsonBody(body): JsonBody<CallRing>,
) -> ApiResult<StatusCode> {
    s.fluxer.ring_call(actor.id(), channel, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop_ringing(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
    JsonBody(body): JsonBody<CallRing>,
) -> ApiResult<StatusCode> {
    s.fluxer.stop_ringing(actor.id(), channel, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn end_call(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.end_call(actor.id(), channel).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn regions(State(s): State<ApiState>, Auth(_actor): Auth) -> Json<Vec<RtcRegion>> {
    Json(s.fluxer.voice_regions())
}

async fn channel_regions(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
) -> ApiResult<Json<Vec<RtcRegion>>> {
    Ok(Json(
        s.fluxer.channel_rtc_regions(actor.id(), channel).await?,
    ))
}

/// LiveKit signs each webhook with a token in `Authorization` whose `sha256` claim is the body's
/// hash; anything that does not verify is 401 and changes nothing.
async fn livekit_webhook(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "The webhook is too large",
        ));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = std::str::from_utf8(&body).map_err(|_| ApiError::unauthorized())?;
    s.fluxer.receive_voice_webhook(body, authorization).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ConfirmConnection {
    connection_id: String,
}

/// Upstream's test harness: marks a pending join as confirmed, as LiveKit's webhook would. Only
/// with `dev.test_mode_enabled`; otherwise the route does not exist.
async fn confirm_connection(
    State(s): State<ApiState>,
    JsonBody(body): JsonBody<ConfirmConnection>,
) -> ApiResult<StatusCode> {
    if !s.config.test_mode {
        return Err(ApiError::not_found());
    }
    if body.connection_id.len() > 64
        || !s
            .fluxer
            .confirm_voice_connection(&body.connection_id)
            .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "VOICE_CONNECTION_NOT_FOUND",
            "Voice connection not found",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
