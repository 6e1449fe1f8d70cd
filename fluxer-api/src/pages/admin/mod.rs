//! The admin panel at `/admin`: server-rendered pages over the same use-cases as the API.
//!
//! Sign-in is a staff account's email and password (and its TOTP code when it has one); the panel
//! keeps the login session's token in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/admin`
//! (`Secure` when the instance is served over HTTPS). Every form carries a CSRF token derived from
//! that session token, checked before anything changes; the sign-in form, before any session,
//! carries a random token that must match a cookie of its own (double submit).

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fluxer_core::service::{Actor, AdminPrincipal, ClientInfo, LoginOutcome, LoginRequest};
use maud::{Markup, html};
use sha2::{Digest, Sha256};

use super::form::FormBody;
use super::{bar_chart, document, respond};
use crate::error::ApiError;
use crate::state::ApiState;

mod api_keys;
mod audit;
mod bans;
mod dashboard;
mod discovery;
mod guilds;
mod instance;
mod messages;
mod reports;
mod users;
mod voice;

/// The session cookie: the login session's token.
const SESSION_COOKIE: &str = "fluxer_admin";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "fluxer_admin_login";
/// How long the panel's cookie lives; the session itself lives as long as any login session.
const SESSION_MAX_AGE_SECS: u64 = 12 * 3600;

pub(super) fn routes(state: &ApiState) -> Router<ApiState> {
    // Sign-in is rate limited as the API's login is (per address and route).
    let sign_in = Router::new()
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/login/totp", post(login_totp))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::rate_limit,
        ));
    Router::new()
        .route("/admin", get(dashboard::dashboard))
        .route("/admin/", get(dashboard::dashboard))
        .route("/admin/logout", post(logout))
        .route("/admin/users", get(users::search))
        .route("/admin/users/{id}", get(users::view))
        .route("/admin/users/{id}/ban", post(users::ban))
        .route("/admin/users/{id}/unban", post(users::unban))
        .route("/admin/users/{id}/sessions/end", post(users::end_sessions))
        .route(
            "/admin/instance",
            get(instance::view).post(instance::update),
        )
        .route("/admin/instance/sso", post(instance::update_sso))
        .route("/admin/audit-log", get(audit::view))
        .route("/admin/reports", get(reports::list))
        .route("/admin/reports/{id}", get(reports::view))
        .route("/admin/reports/{id}/resolve", post(reports::resolve))
        .route("/admin/bans", get(bans::view))
        .route("/admin/bans/add", post(bans::add))
        .route("/admin/bans/remove", post(bans::remove))
        .route(
            "/admin/api-keys",
            get(api_keys::view).post(api_keys::create),
        )
        .route("/admin/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/admin/guilds", get(guilds::search))
        .route("/admin/guilds/{id}", get(guilds::view))
        .route("/admin/guilds/{id}/features", post(guilds::features))
        .route("/admin/guilds/{id}/transfer", post(guilds::transfer))
        .route("/admin/guilds/{id}/delete", post(guilds::delete))
        .route("/admin/messages", get(messages::lookup))
        .route("/admin/messages/delete", post(messages::delete))
        .route("/admin/discovery", get(discovery::list))
        .route("/admin/discovery/{id}/approve", post(discovery::approve))
        .route("/admin/discovery/{id}/reject", post(discovery::reject))
        .route("/admin/discovery/{id}/remove", post(discovery::remove))
        .route("/admin/voice", get(voice::view))
        .route("/admin/voice/regions", post(voice::create_region))
        .route("/admin/voice/regions/{id}", post(voice::update_region))
        .route(
            "/admin/voice/regions/{id}/delete",
            post(voice::delete_region),
        )
        .route(
            "/admin/voice/regions/{id}/servers",
            post(voice::create_server),
        )
        .route(
            "/admin/voice/regions/{id}/servers/{server}",
            post(voice::update_server),
        )
        .route(
            "/admin/voice/regions/{id}/servers/{server}/delete",
            post(voice::delete_server),
        )
        .merge(sign_in)
}

/// A signed-in staff member (an account with `admin:authenticate`), and the CSRF token of their
/// session.
pub(super) struct Staff {
    /// The session's caller, for signing out.
    pub(super) actor: Actor,
    /// What the use-cases check ACLs on; its `reason` is the form's, for the audit log.
    pub(super) principal: AdminPrincipal,
    pub(super) csrf: String,
}

impl Staff {
    /// Refuses a form whose CSRF token is not this session's: nothing may change.
    pub(super) fn check_csrf(&self, form: &FormBody) -> Result<(), Refused> {
        if fluxer_core::secret::secrets_equal(form.get("csrf").as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Refused::new(error_page(
                StatusCode::FORBIDDEN,
                "This form did not come from your admin session (its security token is missing or \
                 wrong). Nothing was changed; reload the page and try again.",
            )))
        }
    }
}

impl FromRequestParts<ApiState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(false));
        };
        if !looks_like_session_token(token) {
            return Err(to_login(true));
        }
        match state.fluxer.authenticate(token).await {
            Ok(actor) => match state.fluxer.admin_principal(actor.clone()) {
                Ok(principal) => Ok(Staff {
                    csrf: csrf_token(token),
                    actor,
                    principal,
                }),
                Err(_) => Err(not_staff()),
            },
            // An ended or expired session: sign in again.
            Err(fluxer_core::Error::Unauthorized) => Err(to_login(true)),
            Err(e) => Err(core_error_page(e)),
        }
    }
}

/// The session's CSRF token: a digest of its token, which only the holder of the cookie knows.
fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"fluxer-admin-csrf\0");
    h.update(session_token.as_bytes());
    fluxer_core::secret::to_hex(&h.finalize())
}

/// Login session tokens only (`flx_` and URL-safe characters): never a bot or bearer token.
fn looks_like_session_token(token: &str) -> bool {
    token.starts_with("flx_")
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The value of one cookie of the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the panel (`max_age` 0 clears it).
fn set_cookie(state: &ApiState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.pages.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::try_from(format!(
        "{name}={value}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 303 to the sign-in page; `clear` drops a stale session cookie on the way.
fn to_login(clear: bool) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/admin/login")]).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if clear {
        r.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "fluxer_admin=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict",
            ),
        );
    }
    r
}

pub(super) fn see_other(to: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, ()).into_response();
    if let Ok(v) = HeaderValue::try_from(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn not_staff() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This account is not a staff account: the admin panel is for the instance's operators.",
    )
}

/// A form refused before anything changed: the page that says why (boxed, as errors stay small).
pub(super) struct Refused(Box<Response>);

impl Refused {
    pub(super) fn new(page: Response) -> Self {
        Refused(Box::new(page))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A page that says what went wrong, with a way back.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { "Something went wrong" }
        p.error role="alert" { (message) }
        p { a href="/admin" { "Back to the dashboard" } }
    };
    respond(
        status,
        document(
            "Error · Fluxer admin",
            html! { a.brand href="/admin" { "Fluxer admin" } },
            body,
            html! {},
        ),
    )
}

/// A use-case's error as a page: its status and message (and broken fields), never internals.
pub(super) fn core_error_page(e: fluxer_core::Error) -> Response {
    let api = ApiError::from(e);
    let mut message = api.message.clone();
    for f in &api.errors {
        message.push_str(&format!(" {}: {}", f.path, f.message));
    }
    error_page(api.status, &message)
}

/// A panel page for a signed-in staff member: the navigation, `body`, and the sign-out form.
pub(super) fn panel(staff: &Staff, title: &str, current: &str, body: Markup) -> Response {
    let links = [
        ("/admin", "Dashboard"),
        ("/admin/users", "Users"),
        ("/admin/guilds", "Guilds"),
        ("/admin/messages", "Messages"),
        ("/admin/reports", "Reports"),
        ("/admin/discovery", "Discovery"),
        ("/admin/bans", "Bans"),
        ("/admin/instance", "Instance"),
        ("/admin/voice", "Voice"),
        ("/admin/api-keys", "API keys"),
        ("/admin/audit-log", "Audit log"),
    ];
    let header = html! {
        a.brand href="/admin" { "Fluxer admin" }
        nav aria-label="Admin" {
            ul {
                @for (href, label) in links {
                    li {
                        @if href == current { a href=(href) aria-current="page" { (label) } }
                        @else { a href=(href) { (label) } }
                    }
                }
            }
        }
        form method="post" action="/admin/logout" {
            input type="hidden" name="csrf" value=(staff.csrf);
            span.muted { (staff.actor.user.username) " " }
            button type="submit" { "Sign out" }
        }
    };
    respond(
        StatusCode::OK,
        document(&format!("{title} · Fluxer admin"), header, body, html! {}),
    )
}

/// Where a sign-in comes from, for the session list.
fn client_info(state: &ApiState, extensions: &Extensions, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: state
            .config
            .client_ip
            .of(extensions, headers)
            .map(|ip| ip.to_string()),
        os: None,
        browser: Some("Fluxer admin panel".to_owned()),
    }
}

async fn login_page(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && looks_like_session_token(token)
        && let Ok(actor) = state.fluxer.authenticate(token).await
        && state.fluxer.admin_principal(actor).is_ok()
    {
        return see_other("/admin");
    }
    sign_in_form(&state, StatusCode::OK, None)
}

/// The email and password form, with a fresh double-submit token.
fn sign_in_form(state: &ApiState, status: StatusCode, error: Option<&str>) -> Response {
    let token = fluxer_core::secret::random_hex(16);
    let body = html! {
        h1 { "Sign in" }
        p.muted { "With a staff account of this instance." }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.stack method="post" action="/admin/login" {
            input type="hidden" name="csrf" value=(token);
            label { "Email" input type="email" name="email" autocomplete="username" required maxlength="254"; }
            label { "Password" input type="password" name="password" autocomplete="current-password" required maxlength="256"; }
            button type="submit" { "Sign in" }
        }
    };
    let mut r = respond(
        status,
        document(
            "Sign in · Fluxer admin",
            html! { a.brand href="/admin" { "Fluxer admin" } },
            body,
            html! {},
        ),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &token, 3600),
    );
    r
}

/// The second step: the TOTP (or backup) code for the ticket the password step returned.
fn totp_form(state: &ApiState, ticket: &str, error: Option<&str>) -> Response {
    let token = fluxer_core::secret::random_hex(16);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let body = html! {
        h1 { "Two-factor code" }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.stack method="post" action="/admin/login/totp" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="ticket" value=(ticket);
            label { "Code from your authenticator app (or a backup code)"
                input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="16"; }
            button type="submit" { "Verify" }
        }
    };
    let mut r = respond(
        status,
        document(
            "Two-factor code · Fluxer admin",
            html! { a.brand href="/admin" { "Fluxer admin" } },
            body,
            html! {},
        ),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &token, 3600),
    );
    r
}

/// The sign-in form's token must be the one its cookie holds.
fn check_login_csrf(headers: &HeaderMap, form: &FormBody) -> Result<(), Refused> {
    let expected = cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    if !expected.is_empty()
        && fluxer_core::secret::secrets_equal(form.get("csrf").as_bytes(), expected.as_bytes())
    {
        Ok(())
    } else {
        Err(Refused::new(error_page(
            StatusCode::FORBIDDEN,
            "This sign-in form did not come from this panel, or it expired. Nothing was changed; \
             reload the sign-in page and try again.",
        )))
    }
}

async fn login(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    if let Err(r) = check_login_csrf(&headers, &form) {
        return r.into_response();
    }
    let outcome = state
        .fluxer
        .login(LoginRequest {
            email: form.get("email").to_owned(),
            password: form.get("password").to_owned(),
            client: client_info(&state, &extensions, &headers),
        })
        .await;
    match outcome {
        Ok(LoginOutcome::Session { token, .. }) => start_session(&state, &token).await,
        Ok(LoginOutcome::Mfa { ticket, totp, .. }) if totp => totp_form(&state, &ticket, None),
        Ok(LoginOutcome::Mfa { .. }) => error_page(
            StatusCode::FORBIDDEN,
            "This account's second factor is a passkey only; the admin panel accepts an \
             authenticator app (TOTP) code. Add one in the app's security settings.",
        ),
        Err(fluxer_core::Error::InvalidCredentials) => sign_in_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong email or password."),
        ),
        Err(e) => core_error_page(e),
    }
}

async fn login_totp(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    form: FormBody,
) -> Response {
    if let Err(r) = check_login_csrf(&headers, &form) {
        return r.into_response();
    }
    let ticket = form.get("ticket");
    let outcome = state
        .fluxer
        .login_totp(
            ticket,
            form.get("code"),
            client_info(&state, &extensions, &headers),
        )
        .await;
    match outcome {
        Ok(LoginOutcome::Session { token, .. }) => start_session(&state, &token).await,
        Ok(LoginOutcome::Mfa { .. }) => core_error_page(fluxer_core::Error::InvalidMfaCode),
        // The ticket is spent either way: a wrong code starts over from the password.
        Err(fluxer_core::Error::InvalidMfaCode) => sign_in_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong two-factor code. Sign in again."),
        ),
        Err(e) => core_error_page(e),
    }
}

/// A login session was opened: staff get the cookie, anyone else's session is ended at once.
async fn start_session(state: &ApiState, token: &str) -> Response {
    let actor = match state.fluxer.authenticate(token).await {
        Ok(actor) => actor,
        Err(e) => return core_error_page(e),
    };
    if state.fluxer.admin_principal(actor.clone()).is_err() {
        let _ = state.fluxer.logout(&actor).await;
        return not_staff();
    }
    let mut r = see_other("/admin");
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, token, SESSION_MAX_AGE_SECS),
    );
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(state, LOGIN_COOKIE, "", 0));
    r
}

async fn logout(State(state): State<ApiState>, staff: Staff, form: FormBody) -> Response {
    if let Err(r) = staff.check_csrf(&form) {
        return r.into_response();
    }
    if let Err(e) = state.fluxer.logout(&staff.actor).await {
        return core_error_page(e);
    }
    let mut r = see_other("/admin/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    r
}

/// The longest reason an action takes (the audit log keeps it).
const MAX_REASON_CHARS: usize = 512;

/// The reason field every destructive form carries.
pub(super) fn reason_field() -> Markup {
    html! {
        label { "Reason (kept in the audit log)"
            textarea name="reason" rows="2" required maxlength=(MAX_REASON_CHARS) {}
        }
    }
}

/// A form for one action: the CSRF token, `fields`, the reason, and the button (red when `danger`).
pub(super) fn reasoned_form(
    staff: &Staff,
    id: &str,
    action: &str,
    label: &str,
    danger: bool,
    fields: Markup,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            input type="hidden" name="csrf" value=(staff.csrf);
            (fields)
            (reason_field())
            @if danger { button.danger type="submit" { (label) } }
            @else { button type="submit" { (label) } }
        }
    }
}

/// Checks the form's CSRF token and takes its reason, then the ACL the action needs (as the
/// admin API's route does before it reads a body): `Err` is the page saying why nothing changed.
pub(super) fn authorize_form(staff: &mut Staff, form: &FormBody, acl: &str) -> Result<(), Refused> {
    staff
        .check_csrf(form)
        .and_then(|()| require_reason(staff, form))?;
    staff
        .principal
        .require(acl)
        .map_err(|e| Refused::new(core_error_page(e)))
}

/// The notice a page shows after an action redirected to it (`?done=...`), from `known`.
pub(super) fn done_notice(done: &str, known: &[(&str, &'static str)]) -> Markup {
    let message = known.iter().find(|(k, _)| *k == done).map(|(_, m)| *m);
    html! { @if let Some(m) = message { p.notice role="status" { (m) } } }
}

/// A path segment that must parse as `T` (an ID): `Err` is the not-found page naming `what`.
pub(super) fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, Refused> {
    raw.parse::<T>().map_err(|_| {
        Refused::new(error_page(
            StatusCode::NOT_FOUND,
            &format!("There is no such {what}."),
        ))
    })
}

/// Takes the form's reason for the audit log: required, at most [`MAX_REASON_CHARS`].
pub(super) fn require_reason(staff: &mut Staff, form: &FormBody) -> Result<(), Refused> {
    let reason = form.get("reason");
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(Refused::new(error_page(
            StatusCode::BAD_REQUEST,
            "Give a reason (up to 512 characters): it goes to the audit log. Nothing was changed.",
        )));
    }
    staff.principal.reason = Some(reason.to_owned());
    Ok(())
}

/// `?q=&page=` of a list page; lenient (a page that is not a number is the first).
#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: String,
    /// What an action that redirected here did.
    #[serde(default)]
    pub(super) done: String,
}

impl ListQuery {
    /// The page number, from 0, at most 1000.
    pub(super) fn page(&self) -> usize {
        self.page.parse::<usize>().unwrap_or(0).min(1000)
    }

    /// The search text, trimmed, at most 320 characters.
    pub(super) fn text(&self) -> String {
        self.q.trim().chars().take(320).collect()
    }
}

/// Previous and next links of a list.
pub(super) fn pager(base: &str, text: &str, page: usize, size: usize, total: u64) -> Markup {
    let q: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    let more = ((page + 1) * size) < total as usize && page < 1000;
    html! {
        nav.pager aria-label="Pages" {
            @if page > 0 { a href={(base) "?q=" (q) "&page=" (page - 1)} rel="prev" { "Previous" } }
            @if more { a href={(base) "?q=" (q) "&page=" (page + 1)} rel="next" { "Next" } }
        }
    }
}

/// A chart with its caption.
pub(super) fn chart(label: &str, values: &[u64]) -> Markup {
    html! {
        figure {
            (bar_chart(label, values))
            figcaption.muted { (label) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("fluxer_admin_login=abc; fluxer_admin=flx_x"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("flx_x"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "other"), None);
    }

    #[test]
    fn only_session_tokens_are_accepted_from_the_cookie() {
        assert!(looks_like_session_token("flx_abc-DEF_123"));
        assert!(!looks_like_session_token("Bot 123.abc"));
        assert!(!looks_like_session_token("flx_a b"));
        assert!(!looks_like_session_token("Bearer flx_a"));
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("flx_a"), csrf_token("flx_b"));
        assert_eq!(csrf_token("flx_a"), csrf_token("flx_a"));
        assert_eq!(csrf_token("flx_a").len(), 64);
    }
}
