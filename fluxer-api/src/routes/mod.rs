//! The v1 routes, grouped by resource.

mod account;
mod admin;
mod applications;
mod auth;
mod channels;
mod connections;
mod discovery;
mod expressions;
mod gifs;
mod guilds;
mod harvest;
mod health;
mod inbox;
mod instance;
mod invites;
mod memes;
mod messages;
mod oauth2;
mod packs;
mod push;
mod reports;
mod scheduled;
mod search;
mod settings;
mod users;
mod voice;
mod webauthn;
mod webhooks;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fluxer_core::model::Encoded;

use crate::state::ApiState;

pub(crate) use admin::refuse_banned_ips;
pub(crate) use health::{health, standalone as standalone_health};
pub(crate) use instance::routes as instance;

/// Every v1 route, unprefixed.
pub(crate) fn v1(max_upload_bytes: usize) -> Router<ApiState> {
    let upload_limit = axum::extract::DefaultBodyLimit::max(max_upload_bytes);
    Router::new()
        .merge(auth::routes())
        .merge(account::routes())
        .merge(users::routes())
        .merge(settings::routes())
        .merge(inbox::routes())
        .merge(scheduled::routes())
        .merge(memes::routes())
        .merge(connections::routes())
        .merge(push::routes())
        .merge(gifs::routes())
        .merge(guilds::routes())
        .merge(expressions::routes())
        .merge(packs::routes())
        .merge(channels::routes())
        .merge(messages::routes(upload_limit))
        .merge(invites::routes())
        .merge(applications::routes())
        .merge(oauth2::routes())
        .merge(webauthn::routes())
        .merge(webhooks::routes(upload_limit))
        .merge(reports::routes())
        .merge(search::routes())
        .merge(discovery::routes())
        .merge(harvest::routes())
        .merge(admin::routes())
        .merge(voice::routes())
        .merge(health::versioned())
}

/// "Nothing to return".
pub(crate) fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A 200 JSON answer the service has already written ([`Encoded`]): sent as is, not serialized again.
pub(crate) fn encoded_json<T>(value: Encoded<T>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        value.into_json(),
    )
        .into_response()
}
