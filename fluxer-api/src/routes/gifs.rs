//! GIF search through Tenor and KLIPY (`/tenor/*`, `/klipy/*`), for the client's GIF picker.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::ports::GifProviderKind;
use fluxer_core::service::{Gif, GifFeatured, GifSearchQuery, GifShare};

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ProxyCountry, QueryParams};
use crate::state::ApiState;

const TENOR: u8 = 0;
const KLIPY: u8 = 1;

const fn kind<const K: u8>() -> GifProviderKind {
    if K == TENOR {
        GifProviderKind::Tenor
    } else {
        GifProviderKind::Klipy
    }
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/tenor/search", get(search::<TENOR>))
        .route("/tenor/suggest", get(suggest::<TENOR>))
        .route("/tenor/featured", get(featured::<TENOR>))
        .route("/tenor/trending-gifs", get(trending::<TENOR>))
        .route("/tenor/register-share", post(register_share::<TENOR>))
        .route("/klipy/search", get(search::<KLIPY>))
        .route("/klipy/suggest", get(suggest::<KLIPY>))
        .route("/klipy/featured", get(featured::<KLIPY>))
        .route("/klipy/trending-gifs", get(trending::<KLIPY>))
        .route("/klipy/register-share", post(register_share::<KLIPY>))
}

/// The provider is configured: upstream checks its API key before the caller's credentials and
/// answers `MISSING_ACCESS` without one.
struct Enabled<const K: u8>;

impl<const K: u8> FromRequestParts<ApiState> for Enabled<K> {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if state.fluxer.gif_provider_enabled(kind::<K>()) {
            Ok(Enabled)
        } else {
            Err(fluxer_core::Error::MissingAccess.into())
        }
    }
}

async fn search<const K: u8>(
    _: Enabled<K>,
    State(s): State<ApiState>,
    Auth(actor): Auth,
    ProxyCountry(country): ProxyCountry,
    QueryParams(query): QueryParams<GifSearchQuery>,
) -> ApiResult<Json<Vec<Gif>>> {
    let gifs = s
        .fluxer
        .search_gifs(&actor, kind::<K>(), query, country.as_deref())
        .await?;
    Ok(Json(gifs))
}

async fn suggest<const K: u8>(
    _: Enabled<K>,
    State(s): State<ApiState>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<GifSearchQuery>,
) -> ApiResult<Json<Vec<String>>> {
    let terms = s
        .fluxer
        .suggest_gif_searches(&actor, kind::<K>(), query)
        .await?;
    Ok(Json(terms))
}

async fn featured<const K: u8>(
    _: Enabled<K>,
    State(s): State<ApiState>,
    Auth(actor): Auth,
    ProxyCountry(country): ProxyCountry,
    QueryParams(query): QueryParams<GifSearchQuery>,
) -> ApiResult<Json<GifFeatured>> {
    let featured = s
        .fluxer
        .featured_gifs(&actor, kind::<K>(), query, country.as_deref())
        .await?;
    Ok(Json(featured))
}

async fn trending<const K: u8>(
    _: Enabled<K>,
    State(s): State<ApiState>,
    Auth(actor): Auth,
    ProxyCountry(country): ProxyCountry,
    QueryParams(query): QueryParams<GifSearchQuery>,
) -> ApiResult<Json<Vec<Gif>>> {
    let gifs = s
        .fluxer
        .trending_gifs(&actor, kind::<K>(), query, country.as_deref())
        .await?;
    Ok(Json(gifs))
}

async fn register_share<const K: u8>(
    _: Enabled<K>,
    State(s): State<ApiState>,
    Auth(actor): Auth,
    ProxyCountry(country): ProxyCountry,
    JsonBody(share): JsonBody<GifShare>,
) -> ApiResult<StatusCode> {
    s.fluxer
        .register_gif_share(&actor, kind::<K>(), share, country.as_deref())
        .await?;
    Ok(no_content())
}
