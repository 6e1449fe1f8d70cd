//! `/channels/{id}/messages/*`: history, send, edit, delete, bulk delete, reactions, pins, acks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use fluxer_core::id::{AttachmentId, ChannelId, MessageId, UserId};
use fluxer_core::model::{MessageResponse, ReactionEmoji, UserPartial};
use fluxer_core::service::{MessageCreate, MessageEdit, MessageQuery};
use fluxer_core::time::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::{encoded_json, no_content};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, MessageBody, PathParams, QueryParams};
use crate::state::ApiState;

/// `upload_limit` raises the body limit of the routes that take files.
pub(super) fn routes(upload_limit: axum::extract::DefaultBodyLimit) -> Router<ApiState> {
    Router::new()
        .route(
            "/channels/{channel_id}/messages",
            get(list).post(create).layer(upload_limit),
        )
        .route(
            "/channels/{channel_id}/messages/bulk-delete",
            post(bulk_delete),
        )
        .route(
            "/channels/{channel_id}/messages/bulk_delete",
            post(bulk_delete),
        )
        .route("/channels/{channel_id}/messages/pins", get(pins))
        .route(
            "/channels/{channel_id}/messages/pins/{message_id}",
            put(pin).delete(unpin),
        )
        .route("/channels/{channel_id}/pins", get(pins_legacy))
        .route("/channels/{channel_id}/pins/ack", post(ack_pins))
        .route(
            "/channels/{channel_id}/messages/ack",
            delete(forget_read_state),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/attachments/{attachment_id}",
            delete(delete_attachment),
        )
        .route(
            "/channels/{channel_id}/pins/{message_id}",
            put(pin).delete(unpin),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}",
            get(get_message).patch(edit).delete(delete_message),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/ack",
            post(ack),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions",
            delete(clear_all),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
            get(reaction_users).delete(clear_emoji),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
            put(react).delete(unreact),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
            delete(remove_user_reaction),
        )
}

async fn list(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    QueryParams(q): QueryParams<MessageQuery>,
) -> ApiResult<Json<Vec<MessageResponse>>> {
    Ok(Json(s.fluxer.list_messages(&actor, id, q).await?))
}

async fn create(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    body: MessageBody<MessageCreate>,
) -> ApiResult<Response> {
    let sent = s
        .fluxer
        .send_message_with_files(&actor, id, body.payload, body.files)
        .await?;
    Ok(encoded_json(sent))
}

async fn get_message(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
) -> ApiResult<Json<MessageResponse>> {
    Ok(Json(s.fluxer.get_message(&actor, c, m).await?))
}

async fn edit(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
    JsonBody(req): JsonBody<MessageEdit>,
) -> ApiResult<Json<MessageResponse>> {
    Ok(Json(s.fluxer.edit_message(&actor, c, m, req).await?))
}

async fn delete_message(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_message(&actor, c, m).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct BulkDelete {
    #[serde(alias = "message_ids")]
    messages: Vec<MessageId>,
}

async fn bulk_delete(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    JsonBody(req): JsonBody<BulkDelete>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .bulk_delete_messages(&actor, id, req.messages)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct PinQuery {
    before: Option<String>,
    limit: Option<u32>,
}

fn pin_cursor(q: &PinQuery) -> ApiResult<Option<Timestamp>> {
    match &q.before {
        None => Ok(None),
        Some(raw) => Timestamp::parse_iso8601(raw).map(Some).ok_or_else(|| {
            ApiError::invalid(
                "before",
                "BASE_TYPE_INVALID",
                "Expected an ISO 8601 timestamp.",
            )
        }),
    }
}

async fn pins(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
    QueryParams(q): QueryParams<PinQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (items, has_more) = s
        .fluxer
        .list_pins(&actor, id, pin_cursor(&q)?, q.limit)
        .await?;
    let items: Vec<_> = items
        .into_iter()
        .map(|(at, m)| json!({ "pinned_at": at, "message": m }))
        .collect();
    Ok(Json(json!({ "items": items, "has_more": has_more })))
}

async fn pins_legacy(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ChannelId>,
) -> ApiResult<Json<Vec<MessageResponse>>> {
    let (items, _) = s.fluxer.list_pins(&actor, id, None, Some(50)).await?;
    Ok(Json(items.into_iter().map(|(_, m)| m).collect()))
}

async fn pin(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_pinned(&actor, c, m, true).await?;
    Ok(no_content())
}

async fn unpin(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_pinned(&actor, c, m, false).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct AckBody {
    mention_count: Option<u32>,
}

async fn ack(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
    JsonBody(req): JsonBody<AckBody>,
) -> ApiResult<Json<serde_json::Value>> {
    s.fluxer
        .ack_message(&actor, c, m, req.mention_count)
        .await?;
    Ok(Json(json!({ "token": null })))
}

fn emoji(raw: &str) -> ApiResult<ReactionEmoji> {
    ReactionEmoji::parse(raw).ok_or(ApiError::from(fluxer_core::Error::field(
        "emoji",
        "NOT_A_VALID_UNICODE_EMOJI",
        "Not a valid emoji.",
    )))
}

async fn react(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, e)): PathParams<(ChannelId, MessageId, String)>,
) -> ApiResult<StatusCode> {
    s.fluxer.add_reaction(&actor, c, m, &emoji(&e)?).await?;
    Ok(no_content())
}

async fn unreact(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, e)): PathParams<(ChannelId, MessageId, String)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .remove_reaction(&actor, c, m, &emoji(&e)?, None)
        .await?;
    Ok(no_content())
}

async fn remove_user_reaction(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, e, u)): PathParams<(ChannelId, MessageId, String, UserId)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .remove_reaction(&actor, c, m, &emoji(&e)?, Some(u))
        .await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct ReactionQuery {
    after: Option<UserId>,
    limit: Option<u32>,
}

async fn reaction_users(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, e)): PathParams<(ChannelId, MessageId, String)>,
    QueryParams(q): QueryParams<ReactionQuery>,
) -> ApiResult<Json<Vec<UserPartial>>> {
    Ok(Json(
        s.fluxer
            .list_reaction_users(&actor, c, m, &emoji(&e)?, q.after, q.limit)
            .await?,
    ))
}

async fn clear_emoji(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, e)): PathParams<(ChannelId, MessageId, String)>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .clear_reactions(&actor, c, m, Some(&emoji(&e)?))
        .await?;
    Ok(no_content())
}

async fn clear_all(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m)): PathParams<(ChannelId, MessageId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.clear_reactions(&actor, c, m, None).await?;
    Ok(no_content())
}

async fn ack_pins(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(c): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.ack_pins(&actor, c).await?;
    Ok(no_content())
}

async fn forget_read_state(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(c): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.forget_read_state(&actor, c).await?;
    Ok(no_content())
}

async fn delete_attachment(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams((c, m, a)): PathParams<(ChannelId, MessageId, AttachmentId)>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_attachment(&actor, c, m, a).await?;
    Ok(no_content())
}
