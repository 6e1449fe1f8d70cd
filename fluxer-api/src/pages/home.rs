//! The instance home page (upstream's `fluxer_marketing`): the instance's name and description, the
//! public directory of discoverable guilds, how to sign in or connect a client, and the terms of
//! service and privacy policy.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxer_core::model::InstanceConfig;
use fluxer_core::service::DiscoveredGuild;
use maud::{Markup, html};
use serde::Deserialize;

use super::{document, respond};
use crate::error::ApiError;
use crate::state::ApiState;

/// Guilds per directory page.
const PAGE_SIZE: usize = 24;
/// The deepest directory page served (discovery's offset limit is 10 000).
const MAX_PAGE: usize = 400;

pub(super) fn routes(at_root: bool) -> Router<ApiState> {
    // Without a web app (the home page is at `/`), there is no sign-in page to link to.
    let has_app = !at_root;
    // `/` and `/marketing` show the same page.
    let home_at = move |root: bool| {
        move |state: State<ApiState>, query: Query<DirectoryQuery>| async move {
            home(state, query, root, has_app).await
        }
    };
    let mut router = Router::new()
        .route("/marketing", get(home_at(false)))
        .route(
            "/marketing/terms",
            get(|state: State<ApiState>| legal(state, Legal::Terms)),
        )
        .route(
            "/marketing/privacy",
            get(|state: State<ApiState>| legal(state, Legal::Privacy)),
        );
    if at_root {
        router = router.route("/", get(home_at(true)));
    }
    router
}

/// The instance's texts, or the answer when the page is hidden (`home_page_enabled` off in the
/// stored instance config: the API's 404) or the config cannot be read.
async fn instance_texts(state: &ApiState) -> Result<InstanceConfig, Response> {
    match state.fluxer.instance_config().await {
        Ok(config) if config.home_page_enabled => Ok(config),
        Ok(_) => Err(ApiError::not_found().into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct DirectoryQuery {
    #[serde(default)]
    q: String,
    /// Lenient: anything but a number is the first page.
    #[serde(default)]
    page: String,
}

async fn home(
    State(state): State<ApiState>,
    Query(query): Query<DirectoryQuery>,
    at_root: bool,
    has_app: bool,
) -> Response {
    let text = match instance_texts(&state).await {
        Ok(text) => text,
        Err(r) => return r,
    };
    let text = &text;
    let instance = &state.config.instance;
    let page = query.page.parse::<usize>().unwrap_or(0).min(MAX_PAGE);
    let search: String = query.q.trim().chars().take(100).collect();
    let directory = match state
        .fluxer
        .discover_guilds(&search, None, page * PAGE_SIZE, PAGE_SIZE)
        .await
    {
        Ok((guilds, total)) => {
            let mut listed = Vec::with_capacity(guilds.len());
            for g in guilds {
                // A guild whose invites cannot be read is still listed, without a code.
                let code = state
                    .fluxer
                    .discovery_invite_code(g.id)
                    .await
                    .ok()
                    .flatten();
                listed.push((g, code));
            }
            Ok((listed, total))
        }
        Err(e) => Err(e),
    };
    let base = if at_root { "/" } else { "/marketing" };
    let description = if text.description.trim().is_empty() {
        "A Fluxer chat community: servers with text channels, voice and direct messages."
    } else {
        text.description.as_str()
    };
    let body = html! {
        h1 { (text.name) }
        p.lead { (description) }
        @if has_app {
            p {
                a href={(instance.webapp) "/register"} { "Create an account" }
                " or "
                a href={(instance.webapp) "/login"} { "sign in" }
                " in the web app."
            }
        }
        section aria-labelledby="directory" {
            h2 id="directory" { "Public communities" }
            form.inline method="get" action=(base) role="search" {
                label { "Search communities" input type="search" name="q" value=(search) maxlength="100"; }
                button type="submit" { "Search" }
            }
            @match &directory {
                Ok((guilds, total)) => {
                    @if guilds.is_empty() {
                        p.muted { "No community is listed here yet." }
                    } @else {
                        p.muted { (total) " listed" }
                        ul.cards { @for (g, code) in guilds { (guild_card(g, code.as_deref(), &instance.webapp, has_app)) } }
                        (pager(base, &search, page, *total))
                    }
                }
                Err(_) => p.muted { "The directory is not available on this instance." }
            }
        }
        section aria-labelledby="connect" {
            h2 id="connect" { "Connect a client" }
            p { "Point a Fluxer client at " code { (instance.webapp) } "; bots and libraries use the API below." }
            dl {
                dt { "API" } dd { code { (instance.api) "/v1" } }
                dt { "Gateway" } dd { code { (instance.gateway) } }
                dt { "Instance discovery" } dd { code { (instance.webapp) "/.well-known/fluxer" } }
            }
            @if !has_app {
                p.muted {
                    "The operator can serve the web app here by setting "
                    code { "web.app_dir" } " to a built bundle of Fluxer's web client."
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        document(&text.name, nav(text, base), body, footer(text)),
    )
}

/// One listed guild: its name, description, size, and how to join it: its invite (the vanity
/// code, else a permanent invite) opened in the web app, or given as a code a client accepts when
/// there is no web app here; a guild without one is joined from the app's discovery.
fn guild_card(g: &DiscoveredGuild, code: Option<&str>, webapp: &str, has_app: bool) -> Markup {
    let members = if g.member_count == 1 {
        "1 member".to_owned()
    } else {
        format!("{} members", g.member_count)
    };
    let code_path = code.map(|c| form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>());
    html! {
        li.card {
            h3 { (g.name) }
            @if let Some(d) = g.description.as_deref().filter(|d| !d.is_empty()) { p { (d) } }
            p.muted { (members) }
            @match (code, code_path, has_app) {
                (Some(_), Some(path), true) => {
                    a.join href={(webapp) "/invite/" (path)} aria-label={"Join " (g.name)} { "Join" }
                }
                (Some(code), _, false) => {
                    p.join { "Invite code " code { (code) } ": accept it in a Fluxer client to join." }
                }
                (_, _, true) => {
                    p.join {
                        a href={(webapp) "/login"} aria-label={"Sign in to join " (g.name)} { "Sign in" }
                        " and join it from the app's guild discovery."
                    }
                }
                _ => {
                    p.join.muted { "Join it from a Fluxer client's discovery." }
                }
            }
        }
    }
}

fn pager(base: &str, search: &str, page: usize, total: u64) -> Markup {
    let q: String = form_urlencoded::byte_serialize(search.as_bytes()).collect();
    let more = ((page + 1) * PAGE_SIZE) < total as usize && page < MAX_PAGE;
    html! {
        nav.pager aria-label="Directory pages" {
            @if page > 0 { a href={(base) "?q=" (q) "&page=" (page - 1)} rel="prev" { "Previous" } }
            @if more { a href={(base) "?q=" (q) "&page=" (page + 1)} rel="next" { "Next" } }
        }
    }
}

fn nav(text: &InstanceConfig, home: &str) -> Markup {
    html! {
        a.brand href=(home) { (text.name) }
        nav aria-label="Site" {
            ul {
                li { a href="/marketing/terms" { "Terms of service" } }
                li { a href="/marketing/privacy" { "Privacy policy" } }
            }
        }
    }
}

fn footer(text: &InstanceConfig) -> Markup {
    html! { p { (text.name) " runs Fluxer, an open chat platform." } }
}

#[derive(Clone, Copy)]
enum Legal {
    Terms,
    Privacy,
}

async fn legal(State(state): State<ApiState>, which: Legal) -> Response {
    let text = match instance_texts(&state).await {
        Ok(text) => text,
        Err(r) => return r,
    };
    let text = &text;
    let (title, body) = match which {
        Legal::Terms => ("Terms of service", &text.terms_of_service),
        Legal::Privacy => ("Privacy policy", &text.privacy_policy),
    };
    let page = html! {
        h1 { (title) }
        @if body.trim().is_empty() {
            p.muted { "This instance has not published a " (title.to_lowercase()) " yet." }
        } @else {
            pre.text { (body) }
        }
        p { a href="/marketing" { "Back to the home page" } }
    };
    respond(
        StatusCode::OK,
        document(
            &format!("{title} · {}", text.name),
            nav(text, "/marketing"),
            page,
            footer(text),
        ),
    )
}
