//! What users keep for themselves and read of each other: settings, per-guild notification
//! settings, notes, pinned DMs, profiles, tag checks, and DM previews.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::model::{MessageResponse, UserGuildSettings, UserSettings};
use fluxer_core::service::{
    ProfileQuery, UserGuildSettingsUpdate, UserProfile, UserSettingsUpdate,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::no_content;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, PathParams, QueryParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users/@me/settings", get(settings).patch(update_settings))
        .route("/users/@me/guilds/@me/settings", patch(update_dm_settings))
        .route(
            "/users/@me/guilds/{guild_id}/settings",
            patch(update_guild_settings),
        )
        .route("/users/@me/notes", get(notes))
        .route("/users/@me/notes/{user_id}", get(note).put(set_note))
        .route(
            "/users/@me/channels/{channel_id}/pin",
            put(pin_dm).delete(unpin_dm),
        )
        .route("/users/{user_id}/profile", get(profile))
        .route("/users/check-tag", get(check_tag))
        .route("/users/@me/preload-messages", post(preload))
        .route("/users/@me/channels/messages/preload", post(preload))
}

async fn settings(State(s): State<ApiState>, Auth(actor): Auth) -> ApiResult<Json<UserSettings>> {
    Ok(Json(s.fluxer.user_settings(&actor).await?))
}

async fn update_settings(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<UserSettingsUpdate>,
) -> ApiResult<Json<UserSettings>> {
    Ok(Json(s.fluxer.update_user_settings(&actor, req).await?))
}

async fn update_dm_settings(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<UserGuildSettingsUpdate>,
) -> ApiResult<Json<UserGuildSettings>> {
    Ok(Json(
        s.fluxer.update_guild_settings(&actor, None, req).await?,
    ))
}

async fn update_guild_settings(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild): PathParams<GuildId>,
    JsonBody(req): JsonBody<UserGuildSettingsUpdate>,
) -> ApiResult<Json<UserGuildSettings>> {
    Ok(Json(
        s.fluxer
            .update_guild_settings(&actor, Some(guild), req)
            .await?,
    ))
}

async fn notes(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<BTreeMap<UserId, String>>> {
    Ok(Json(s.fluxer.notes_of(actor.id()).await?))
}

async fn note(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(target): PathParams<UserId>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "note": s.fluxer.note(&actor, target).await? }),
    ))
}

#[derive(Deserialize)]
struct NoteBody {
    #[serde(default)]
    note: Option<String>,
}

async fn set_note(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(target): PathParams<UserId>,
    JsonBody(body): JsonBody<NoteBody>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_note(&actor, target, body.note).await?;
    Ok(no_content())
}

async fn pin_dm(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_dm_pinned(&actor, channel, true).await?;
    Ok(no_content())
}

async fn unpin_dm(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel): PathParams<ChannelId>,
) -> ApiResult<StatusCode> {
    s.fluxer.set_dm_pinned(&actor, channel, false).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
struct ProfileParams {
    guild_id: Option<GuildId>,
    #[serde(default)]
    with_mutual_friends: bool,
    #[serde(default)]
    with_mutual_guilds: bool,
}

async fn profile(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(target): PathParams<String>,
    QueryParams(q): QueryParams<ProfileParams>,
) -> ApiResult<Json<UserProfile>> {
    let target = if target == "@me" {
        actor.id()
    } else {
        target.parse::<UserId>().map_err(|_| {
            fluxer_core::Error::field("user_id", "NUMBER_TYPE_COERCE", "Not a snowflake.")
        })?
    };
    let query = ProfileQuery {
        guild_id: q.guild_id,
        with_mutual_friends: q.with_mutual_friends,
        with_mutual_guilds: q.with_mutual_guilds,
    };
    Ok(Json(s.fluxer.user_profile(&actor, target, query).await?))
}

#[derive(Deserialize, Default)]
struct TagParams {
    #[serde(default)]
    username: String,
    #[serde(default)]
    discriminator: String,
}

async fn check_tag(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<TagParams>,
) -> ApiResult<Json<Value>> {
    let discriminator = q.discriminator.parse::<u16>().map_err(|_| {
        fluxer_core::Error::field(
            "discriminator",
            "INVALID_DISCRIMINATOR",
            "A discriminator is four digits.",
        )
    })?;
    let taken = s
        .fluxer
        .tag_taken(&actor, &q.username, discriminator)
        .await?;
    Ok(Json(json!({ "taken": taken })))
}

#[derive(Deserialize)]
struct PreloadBody {
    channels: Vec<ChannelId>,
}

async fn preload(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<PreloadBody>,
) -> ApiResult<Json<BTreeMap<ChannelId, Option<MessageResponse>>>> {
    Ok(Json(
        s.fluxer.preload_messages(&actor, body.channels).await?,
    ))
}
