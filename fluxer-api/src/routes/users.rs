//! `/users/*`: profile, guilds, DMs, relationships, read states.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::model::{ChannelResponse, UserGuild, UserPartial, UserPrivate};
use fluxer_core::service::{MAX_THEME_CSS_BYTES, RelationshipRequest, ThemeCreated, UserUpdate};
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams, ScopedAuth};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me", get(me).patch(update_me))
        .route("/users/@me/delete", post(delete_me))
        .route("/users/@me/disable", post(disable_me))
        .route("/users/@me/authorized-ips", delete(forget_authorized_ips))
        .route(
            "/users/@me/themes",
            // Room for the CSS limit with JSON escapes.
            post(create_theme).layer(DefaultBodyLimit::max(2 * MAX_THEME_CSS_BYTES + 1024)),
        )
        .route("/users/@me/guilds", get(my_guilds))
        .route("/users/@me/guilds/{guild_id}", delete(leave_guild))
        .route("/users/@me/channels", get(private_channels).post(create_dm))
        .route(
            "/users/@me/relationships",
            get(relationships).post(friend_by_tag),
        )
        .route(
            "/users/@me/relationships/{user_id}",
            post(send_request)
                .put(put_relationship)
                .patch(rename_friend)
                .delete(delete_relationship),
        )
        .route("/users/@me/read-states", get(read_states))
        .route("/read-states/ack-bulk", post(ack_bulk))
        .route("/users/{user_id}", get(get_user))
}

async fn me(
    State(s): State<ApiState>,
    ScopedAuth(actor): ScopedAuth,
) -> ApiResult<Json<UserPrivate>> {
    Ok(Json(s.fluxer.me(&actor)?))
}

async fn update_me(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<UserUpdate>,
) -> ApiResult<Json<UserPrivate>> {
    Ok(Json(s.fluxer.update_me(&actor, req).await?))
}

async fn get_user(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<UserId>,
) -> ApiResult<Json<UserPartial>> {
    Ok(Json(s.fluxer.get_user(&actor, id).await?))
}

#[derive(Deserialize, Default)]
struct GuildsQuery {
    before: Option<GuildId>,
    after: Option<GuildId>,
    limit: Option<u32>,
    #[serde(default)]
    with_counts: bool,
}

async fn my_guilds(
    State(s): State<ApiState>,
    ScopedAuth(actor): ScopedAuth,
    QueryParams(q): QueryParams<GuildsQuery>,
) -> ApiResult<Json<Vec<UserGuild>>> {
    Ok(Json(
        s.fluxer
            .list_user_guilds(
                &actor,
                q.before,
                q.after,
                q.limit.unwrap_or(200),
                q.with_counts,
            )
            .await?,
    ))
}

async fn leave_guild(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<GuildId>,
) -> ApiResult<StatusCode> {
    s.fluxer.leave_guild(&actor, id).await?;
    Ok(no_content())
}

async fn private_channels(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<ChannelResponse>>> {
    Ok(Json(s.fluxer.list_private_channels(&actor).await?))
}

#[derive(Deserialize, Default)]
struct CreateDm {
    recipient_id: Option<UserId>,
    recipients: Option<Vec<UserId>>,
}

async fn create_dm(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<CreateDm>,
) -> ApiResult<Json<ChannelResponse>> {
    Ok(Json(
        s.fluxer
            .create_private_channel(&actor, req.recipient_id, req.recipients)
            .await?,
    ))
}

async fn relationships(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    Ok(Json(s.fluxer.list_relationships(&actor).await?))
}

async fn friend_by_tag(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<RelationshipRequest>,
) -> ApiResult<StatusCode> {
    s.fluxer.send_friend_request_by_tag(&actor, req).await?;
    Ok(no_content())
}

async fn send_request(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<UserId>,
) -> ApiResult<StatusCode> {
    s.fluxer.put_relationship(&actor, id, None).await?;
    Ok(no_content())
}

async fn put_relationship(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<UserId>,
    JsonBody(req): JsonBody<RelationshipRequest>,
) -> ApiResult<StatusCode> {
    s.fluxer.put_relationship(&actor, id, req.kind).await?;
    Ok(no_content())
}

async fn delete_relationship(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<UserId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_relationship(&actor, id).await?;
    Ok(no_content())
}

async fn read_states(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(s.fluxer.read_states(&actor).await?)))
}

#[derive(Deserialize)]
struct AckEntry {
    channel_id: ChannelId,
    message_id: MessageId,
}

#[derive(Deserialize)]
struct AckBulk {
    read_states: Vec<AckEntry>,
}

async fn ack_bulk(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<AckBulk>,
) -> ApiResult<StatusCode> {
    if req.read_states.is_empty() || req.read_states.len() > 100 {
        return Err(crate::error::ApiError::invalid(
            "read_states",
            "BASE_TYPE_BAD_LENGTH",
            "Provide 1 to 100 read states.",
        ));
    }
    for entry in req.read_states {
        s.fluxer
            .ack_message(&actor, entry.channel_id, entry.message_id, None)
            .await?;
    }
    Ok(no_content())
}

#[derive(Deserialize)]
struct DeleteAccount {
    password: String,
}

/// Upstream's sudo-mode body: the password, or a TOTP code or a passkey assertion.
type SudoBody = fluxer_core::service::SudoProof;

#[derive(Deserialize)]
struct ThemeBody {
    css: String,
}

/// `POST /users/@me/themes`: 201 with the new theme's ID.
async fn create_theme(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<ThemeBody>,
) -> ApiResult<(StatusCode, Json<ThemeCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.fluxer.create_theme(&actor, &req.css).await?),
    ))
}

/// `DELETE /users/@me/authorized-ips` (sudo mode): logins from every address need approval again.
async fn forget_authorized_ips(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<SudoBody>,
) -> ApiResult<StatusCode> {
    s.fluxer.forget_authorized_ips(&actor, &req).await?;
    Ok(no_content())
}

async fn disable_me(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<SudoBody>,
) -> ApiResult<StatusCode> {
    s.fluxer.disable_account(&actor, &req).await?;
    Ok(no_content())
}

async fn delete_me(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<DeleteAccount>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .request_account_deletion(&actor, &req.password)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct FriendNickname {
    nickname: Option<String>,
}

async fn rename_friend(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(target): PathParams<UserId>,
    JsonBody(body): JsonBody<FriendNickname>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        s.fluxer
            .set_friend_nickname(&actor, target, body.nickname)
            .await?,
    ))
}
