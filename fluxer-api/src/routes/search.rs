//! Message search: upstream's `POST /search/messages`, and the query-string form clients know from
//! Discord at `GET /guilds/{id}/messages/search` and `GET /channels/{id}/messages/search`.

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::ports::Has;
use fluxer_core::service::{SearchRequest, SortOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, PathParams};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/search/messages", post(search_body))
        .route("/guilds/{guild_id}/messages/search", get(search_guild))
        .route(
            "/channels/{channel_id}/messages/search",
            get(search_channel),
        )
}

const DEFAULT_PAGE_SIZE: usize = 25;

/// One value or a list: upstream accepts both for its filters.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(o: Option<Self>) -> Vec<T> {
        match o {
            None => Vec::new(),
            Some(OneOrMany::One(t)) => vec![t],
            Some(OneOrMany::Many(v)) => v,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SearchBody {
    content: Option<String>,
    /// Several phrases; every word of every one is required.
    contents: Option<Vec<String>>,
    context_guild_id: Option<GuildId>,
    context_channel_id: Option<ChannelId>,
    /// `current` (the context guild or channel) or anything wider (every readable channel).
    scope: Option<String>,
    #[serde(alias = "channel_ids")]
    channel_id: Option<OneOrMany<ChannelId>>,
    author_id: Option<OneOrMany<UserId>>,
    mentions: Option<OneOrMany<UserId>>,
    has: Option<OneOrMany<String>>,
    pinned: Option<bool>,
    min_id: Option<MessageId>,
    max_id: Option<MessageId>,
    sort_order: Option<SortOrder>,
    /// 1-based.
    page: Option<usize>,
    hits_per_page: Option<usize>,
}

fn parse_has(values: Vec<String>) -> Result<Vec<Has>, ApiError> {
    values
        .into_iter()
        .map(|v| match v.as_str() {
            "link" => Ok(Has::Link),
            "file" => Ok(Has::File),
            "image" => Ok(Has::Image),
            "video" => Ok(Has::Video),
            "embed" => Ok(Has::Embed),
            other => Err(ApiError::invalid(
                "has",
                "INVALID_SEARCH_FILTER",
                format!("Unsupported has filter {other:?}: use link, file, image, video or embed."),
            )),
        })
        .collect()
}

/// `POST /search/messages`: `{messages, total, hits_per_page, page}`.
async fn search_body(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<SearchBody>,
) -> ApiResult<Json<Value>> {
    let hits_per_page = b.hits_per_page.unwrap_or(DEFAULT_PAGE_SIZE);
    let page = b.page.unwrap_or(1).max(1);
    let mut content: Vec<String> = b.content.into_iter().collect();
    content.extend(b.contents.unwrap_or_default());
    let current = b.scope.as_deref().is_none_or(|s| s == "current");
    let mut channel_ids = OneOrMany::into_vec(b.channel_id);
    if current
        && b.context_guild_id.is_none()
        && let Some(c) = b.context_channel_id
    {
        channel_ids.push(c);
    }
    let req = SearchRequest {
        content: (!content.is_empty()).then(|| content.join(" ")),
        guild_id: if current { b.context_guild_id } else { None },
        channel_ids,
        author_ids: OneOrMany::into_vec(b.author_id),
        mentions: OneOrMany::into_vec(b.mentions),
        has: parse_has(OneOrMany::into_vec(b.has))?,
        pinned: b.pinned,
        min_id: b.min_id,
        max_id: b.max_id,
        sort_order: b.sort_order.unwrap_or_default(),
        offset: (page - 1).saturating_mul(hits_per_page),
        limit: hits_per_page,
    };
    let result = s.fluxer.search_messages(&actor, req).await?;
    Ok(Json(json!({
        "messages": result.messages,
        "total": result.total,
        "hits_per_page": hits_per_page,
        "page": page,
    })))
}

/// Reads Discord's repeated-key query string (`author_id=1&author_id=2`).
fn query_request(raw: Option<String>) -> Result<SearchRequest, ApiError> {
    let mut req = SearchRequest {
        limit: DEFAULT_PAGE_SIZE,
        ..Default::default()
    };
    let mut has = Vec::new();
    fn id(key: &str, v: &str) -> Result<u64, ApiError> {
        v.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                key,
                "NUMBER_TYPE_COERCE",
                format!("{v:?} is not a snowflake."),
            )
        })
    }
    fn number(key: &str, v: &str) -> Result<usize, ApiError> {
        v.parse().map_err(|_| {
            ApiError::invalid(key, "NUMBER_TYPE_COERCE", format!("{v:?} is not a number."))
        })
    }
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "content" => req.content = Some(v.into_owned()),
            "author_id" => req.author_ids.push(UserId::new(id(&k, &v)?)),
            "channel_id" => req.channel_ids.push(ChannelId::new(id(&k, &v)?)),
            "mentions" => req.mentions.push(UserId::new(id(&k, &v)?)),
            "has" => has.push(v.into_owned()),
            "min_id" => req.min_id = Some(MessageId::new(id(&k, &v)?)),
            "max_id" => req.max_id = Some(MessageId::new(id(&k, &v)?)),
            "pinned" => req.pinned = Some(v == "true"),
            "sort_order" => {
                req.sort_order = match v.as_ref() {
                    "asc" => SortOrder::Asc,
                    "desc" => SortOrder::Desc,
                    _ => {
                        return Err(ApiError::invalid(
                            "sort_order",
                            "INVALID_SEARCH_FILTER",
                            "sort_order is asc or desc.",
                        ));
                    }
                }
            }
            "offset" => req.offset = number(&k, &v)?,
            "limit" => req.limit = number(&k, &v)?,
            _ => {} // sort_by, include_nsfw...: accepted and ignored, as unknown body fields are
        }
    }
    req.has = parse_has(has)?;
    Ok(req)
}

/// Discord's shape: `{total_results, messages: [[message], ...]}`.
fn discord_shape(page: fluxer_core::service::SearchPage) -> Value {
    let messages: Vec<Value> = page.messages.into_iter().map(|m| json!([m])).collect();
    json!({ "total_results": page.total, "messages": messages })
}

async fn search_guild(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(guild_id): PathParams<GuildId>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut req = query_request(raw)?;
    req.guild_id = Some(guild_id);
    Ok(Json(discord_shape(
        s.fluxer.search_messages(&actor, req).await?,
    )))
}

async fn search_channel(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(channel_id): PathParams<ChannelId>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut req = query_request(raw)?;
    req.guild_id = None;
    req.channel_ids = vec![channel_id];
    Ok(Json(discord_shape(
        s.fluxer.search_messages(&actor, req).await?,
    )))
}
