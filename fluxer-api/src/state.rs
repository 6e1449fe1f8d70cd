//! What the handlers share.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;

use fluxer_core::ports::Cache;
use fluxer_core::service::Fluxer;

use crate::client_ip::ClientIp;

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The largest accepted request body.
    pub max_body_bytes: usize,
    /// The largest body of a request that carries files (a message with attachments).
    pub max_upload_bytes: usize,
    /// The gateway URL clients connect to, without query (`ws://127.0.0.1:8080/gateway`).
    pub gateway_url: String,
    /// Request rate limits (per IP, per caller, per route); see [`RateLimits`] for the defaults.
    pub rate_limits: RateLimits,
    /// Who the client is behind a reverse proxy: by default the socket's peer.
    pub client_ip: ClientIp,
    /// What `/.well-known/fluxer` tells clients about this instance.
    pub instance: InstanceInfo,
    /// Upstream's test harness routes (`dev.test_mode_enabled`): off by default, never in
    /// production.
    pub test_mode: bool,
    /// The server-rendered pages: the instance home page and the admin panel.
    pub pages: crate::PagesConfig,
}

/// Where this instance's parts are, as clients reach them (absolute URLs, no trailing `/`), for
/// `/.well-known/fluxer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The REST API's base (`https://chat.example.com/api`); clients append `/v1`.
    pub api: String,
    /// The gateway (`wss://chat.example.com/gateway`).
    pub gateway: String,
    /// The media proxy (`https://chat.example.com/media`).
    pub media: String,
    /// Where the web app is served (`https://chat.example.com`).
    pub webapp: String,
    /// Static assets the app loads (default avatars, emoji sprites): upstream's CDN by default.
    pub static_cdn: String,
    /// The instance home page.
    pub marketing: String,
    /// The admin panel.
    pub admin: String,
    /// Invite links (`{invite}/{code}`).
    pub invite: String,
    /// Gift links.
    pub gift: String,
    /// The GIF picker's provider (`klipy` or `tenor`, as upstream).
    pub gif_provider: String,
}

impl InstanceInfo {
    /// Every endpoint under one origin, laid out as upstream's self-hosted monolith serves them.
    pub fn at(origin: &str) -> InstanceInfo {
        let origin = origin.trim_end_matches('/');
        let gateway = match origin.split_once("://") {
            Some(("https", host)) => format!("wss://{host}/gateway"),
            Some((_, host)) => format!("ws://{host}/gateway"),
            None => format!("ws://{origin}/gateway"),
        };
        InstanceInfo {
            api: format!("{origin}/api"),
            gateway,
            media: format!("{origin}/media"),
            webapp: origin.to_owned(),
            static_cdn: "https://fluxerstatic.com".to_owned(),
            marketing: format!("{origin}/marketing"),
            admin: format!("{origin}/admin"),
            invite: format!("{origin}/invite"),
            gift: format!("{origin}/gift"),
            gif_provider: "klipy".to_owned(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 100 << 20,
            gateway_url: "ws://127.0.0.1:8080/gateway".to_owned(),
            rate_limits: RateLimits::default(),
            client_ip: ClientIp::default(),
            instance: InstanceInfo::at("http://127.0.0.1:8080"),
            test_mode: false,
            pages: crate::PagesConfig::default(),
        }
    }
}

/// The router's state: the use-cases, the cache (rate limits) and the settings. One `Arc`: every
/// request clones it several times (each middleware and extractor holds its own), and one shared
/// count is cheaper to bump from every core than five.
#[derive(Clone)]
pub struct ApiState(Arc<StateParts>);

/// What [`ApiState`] holds; read through it (`state.fluxer`, `state.config`, ...).
#[derive(Clone)]
pub struct StateParts {
    /// The use-cases the handlers call.
    pub fluxer: Fluxer,
    /// The cache holding the rate limit counters.
    pub cache: Arc<dyn Cache>,
    /// The settings, shared by every request.
    pub config: Arc<ApiConfig>,
    /// What `/_ready` checks; with no check, the database alone.
    pub readiness: crate::Readiness,
    /// The gateway running in this process, for `/admin/gateway/stats`.
    pub gateway_stats: Option<Arc<dyn crate::GatewayStats>>,
}

impl std::ops::Deref for ApiState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

impl ApiState {
    /// Wraps the use-cases, the cache and the settings for the router.
    pub fn new(fluxer: Fluxer, cache: Arc<dyn Cache>, config: ApiConfig) -> Self {
        ApiState(Arc::new(StateParts {
            fluxer,
            cache,
            config: Arc::new(config),
            readiness: crate::Readiness::default(),
            gateway_stats: None,
        }))
    }

    /// With `stats` as the gateway `/admin/gateway/stats` reports on.
    pub fn with_gateway_stats(mut self, stats: Arc<dyn crate::GatewayStats>) -> Self {
        Arc::make_mut(&mut self.0).gateway_stats = Some(stats);
        self
    }

    /// With `readiness` as what `/_ready` checks.
    pub fn with_readiness(mut self, readiness: crate::Readiness) -> Self {
        Arc::make_mut(&mut self.0).readiness = readiness;
        self
    }
}

/// A limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window; the next one is answered 429.
    pub limit: u64,
    /// The window's length. Windows are fixed: one starts at the first request after the previous
    /// one ended.
    pub window: Duration,
}

impl Limit {
    /// `limit` requests per `window_ms` milliseconds.
    pub const fn new(limit: u64, window_ms: u64) -> Self {
        Limit {
            limit,
            window: Duration::from_millis(window_ms),
        }
    }
}

/// Upstream's limits on the pack routes (each pack its own bucket).
fn pack_routes() -> Vec<(Method, &'static str, Limit)> {
    let often = Limit::new(20, 10_000);
    let mut routes = vec![
        (Method::GET, "/packs", often),
        (Method::POST, "/packs/{pack_id}", often),
        (Method::PATCH, "/packs/{pack_id}", often),
        (Method::DELETE, "/packs/{pack_id}", Limit::new(10, 60_000)),
        (Method::POST, "/packs/{pack_id}/install", often),
        (Method::DELETE, "/packs/{pack_id}/install", often),
        (Method::GET, "/packs/{pack_id}/invites", often),
        (Method::POST, "/packs/{pack_id}/invites", often),
    ];
    for (list, one) in [
        (
            "/packs/emojis/{pack_id}",
            "/packs/emojis/{pack_id}/{emoji_id}",
        ),
        (
            "/packs/stickers/{pack_id}",
            "/packs/stickers/{pack_id}/{sticker_id}",
        ),
    ] {
        routes.extend([
            (Method::GET, list, Limit::new(60, 10_000)),
            (Method::POST, list, often),
            (Method::PATCH, one, often),
            (Method::DELETE, one, often),
        ]);
    }
    routes.push((
        Method::POST,
        "/packs/emojis/{pack_id}/bulk",
        Limit::new(6, 60_000),
    ));
    routes.push((
        Method::POST,
        "/packs/stickers/{pack_id}/bulk",
        Limit::new(6, 60_000),
    ));
    routes
}

/// The instance's rate limits: upstream's numbers by default.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Off: no request is limited (the `dev.disable_rate_limits` setting). Default on.
    pub enabled: bool,
    /// Per caller across all routes.
    pub global: Limit,
    /// Per client IP across all routes and callers: what one address may send in all.
    pub per_ip: Limit,
    /// Routes without a rule of their own.
    pub default: Limit,
    /// `(method, route template, limit)`; the template is the one in the router (`/channels/{channel_id}/messages`).
    pub routes: Vec<(Method, &'static str, Limit)>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            global: Limit::new(50, 1_000),
            per_ip: Limit::new(500, 1_000),
            default: Limit::new(50, 10_000),
            routes: vec![
                (
                    Method::POST,
                    "/channels/{channel_id}/messages",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::GET,
                    "/channels/{channel_id}/messages",
                    Limit::new(100, 10_000),
                ),
                (
                    Method::POST,
                    "/channels/{channel_id}/messages/schedule",
                    Limit::new(20, 10_000),
                ),
                (Method::POST, "/users/@me/memes", Limit::new(20, 60_000)),
                // Streams (upstream's CHANNEL_STREAM_* configs).
                (
                    Method::GET,
                    "/streams/{stream_key}/preview",
                    Limit::new(60, 10_000),
                ),
                (
                    Method::POST,
                    "/streams/{stream_key}/preview",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::PATCH,
                    "/streams/{stream_key}/stream",
                    Limit::new(20, 10_000),
                ),
                // GIF search (upstream's IntegrationRateLimitConfigs).
                (Method::GET, "/tenor/search", Limit::new(40, 10_000)),
                (Method::GET, "/tenor/suggest", Limit::new(40, 10_000)),
                (Method::GET, "/tenor/featured", Limit::new(40, 10_000)),
                (Method::GET, "/tenor/trending-gifs", Limit::new(40, 10_000)),
                (
                    Method::POST,
                    "/tenor/register-share",
                    Limit::new(60, 10_000),
                ),
                (Method::GET, "/klipy/search", Limit::new(40, 10_000)),
                (Method::GET, "/klipy/suggest", Limit::new(40, 10_000)),
                (Method::GET, "/klipy/featured", Limit::new(40, 10_000)),
                (Method::GET, "/klipy/trending-gifs", Limit::new(40, 10_000)),
                (
                    Method::POST,
                    "/klipy/register-share",
                    Limit::new(60, 10_000),
                ),
                // Connections (upstream's ConnectionRateLimitConfigs).
                (
                    Method::GET,
                    "/users/@me/connections",
                    Limit::new(60, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/connections",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/connections/verify",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::PATCH,
                    "/users/@me/connections/reorder",
                    Limit::new(30, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/connections/bluesky/authorize",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::PATCH,
                    "/users/@me/connections/{type}/{connection_id}",
                    Limit::new(30, 60_000),
                ),
                (
                    Method::DELETE,
                    "/users/@me/connections/{type}/{connection_id}",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/connections/{type}/{connection_id}/verify",
                    Limit::new(5, 60_000),
                ),
                // Web Push (upstream's USER_PUSH_* limits).
                (
                    Method::POST,
                    "/users/@me/push/subscribe",
                    Limit::new(20, 60_000),
                ),
                (
                    Method::GET,
                    "/users/@me/push/subscriptions",
                    Limit::new(40, 10_000),
                ),
                (
                    Method::DELETE,
                    "/users/@me/push/subscriptions/{subscription_id}",
                    Limit::new(40, 60_000),
                ),
                (
                    Method::POST,
                    "/channels/{channel_id}/messages/{message_id}/memes",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/messages/delete",
                    Limit::new(6, 60_000),
                ),
                (
                    Method::DELETE,
                    "/users/@me/messages/delete",
                    Limit::new(6, 60_000),
                ),
                (Method::POST, "/auth/login", Limit::new(10, 10_000)),
                // The admin panel's sign-in forms: the same guard against password guessing.
                (Method::POST, "/admin/login", Limit::new(10, 10_000)),
                (Method::POST, "/admin/login/totp", Limit::new(10, 10_000)),
                // Upstream's WebAuthn buckets.
                (
                    Method::POST,
                    "/auth/webauthn/authentication-options",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::POST,
                    "/auth/webauthn/authenticate",
                    Limit::new(10, 10_000),
                ),
                (
                    Method::POST,
                    "/auth/login/mfa/webauthn/authentication-options",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::POST,
                    "/auth/login/mfa/webauthn",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::GET,
                    "/users/@me/mfa/webauthn/credentials",
                    Limit::new(40, 10_000),
                ),
                (
                    Method::POST,
                    "/users/@me/mfa/webauthn/credentials/registration-options",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::POST,
                    "/users/@me/mfa/webauthn/credentials",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::PATCH,
                    "/users/@me/mfa/webauthn/credentials/{credential_id}",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::DELETE,
                    "/users/@me/mfa/webauthn/credentials/{credential_id}",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/sudo/webauthn/authentication-options",
                    Limit::new(10, 60_000),
                ),
                // Upstream's OAuth2 buckets: an unauthenticated client counts by its address.
                (Method::POST, "/oauth2/token", Limit::new(120, 60_000)),
                (
                    Method::POST,
                    "/oauth2/token/revoke",
                    Limit::new(120, 60_000),
                ),
                (Method::POST, "/oauth2/introspect", Limit::new(120, 60_000)),
                (
                    Method::POST,
                    "/oauth2/authorize/consent",
                    Limit::new(60, 60_000),
                ),
                (
                    Method::POST,
                    "/oauth2/applications/{application_id}/client-secret/reset",
                    Limit::new(10, 3_600_000),
                ),
                (Method::POST, "/auth/register", Limit::new(10, 10_000)),
                // Upstream's SSO buckets (the status shares start's).
                (Method::GET, "/auth/sso/status", Limit::new(10, 10_000)),
                (Method::POST, "/auth/sso/start", Limit::new(10, 10_000)),
                (Method::POST, "/auth/sso/complete", Limit::new(15, 10_000)),
                (
                    Method::POST,
                    "/auth/username-suggestions",
                    Limit::new(10, 10_000),
                ),
                (Method::POST, "/auth/forgot", Limit::new(5, 60_000)),
                (Method::POST, "/auth/authorize-ip", Limit::new(5, 60_000)),
                (
                    Method::GET,
                    "/auth/ip-authorization/poll",
                    Limit::new(60, 60_000),
                ),
                (
                    Method::POST,
                    "/auth/ip-authorization/resend",
                    Limit::new(5, 60_000),
                ),
                (
                    Method::POST,
                    "/auth/handoff/initiate",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/auth/handoff/complete",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::GET,
                    "/auth/handoff/{code}/status",
                    Limit::new(60, 60_000),
                ),
                (
                    Method::DELETE,
                    "/auth/handoff/{code}",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::DELETE,
                    "/users/@me/authorized-ips",
                    Limit::new(10, 60_000),
                ),
                (Method::POST, "/users/@me/themes", Limit::new(20, 60_000)),
                // Upstream's hourly limits on the legal-notice routes, which need no account.
                (
                    Method::POST,
                    "/reports/dsa/email/send",
                    Limit::new(5, 3_600_000),
                ),
                (
                    Method::POST,
                    "/reports/dsa/email/verify",
                    Limit::new(10, 3_600_000),
                ),
                (Method::POST, "/reports/dsa", Limit::new(5, 3_600_000)),
                (Method::POST, "/auth/email-revert", Limit::new(10, 60_000)),
                (
                    Method::POST,
                    "/users/@me/email-change/start",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/email-change/verify-original",
                    Limit::new(20, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/email-change/verify-new",
                    Limit::new(20, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/password-change/verify",
                    Limit::new(20, 60_000),
                ),
                (
                    Method::POST,
                    "/users/@me/password-change/complete",
                    Limit::new(10, 60_000),
                ),
                (
                    Method::POST,
                    "/webhooks/{webhook_id}/{token}",
                    Limit::new(30, 10_000),
                ),
                (
                    Method::PUT,
                    "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                    Limit::new(20, 5_000),
                ),
                (Method::POST, "/guilds", Limit::new(10, 60_000)),
                (
                    Method::POST,
                    "/guilds/{guild_id}/emojis",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::POST,
                    "/guilds/{guild_id}/emojis/bulk",
                    Limit::new(6, 60_000),
                ),
                (
                    Method::POST,
                    "/guilds/{guild_id}/stickers",
                    Limit::new(20, 10_000),
                ),
                (
                    Method::POST,
                    "/guilds/{guild_id}/stickers/bulk",
                    Limit::new(6, 60_000),
                ),
            ]
            .into_iter()
            .chain(pack_routes())
            .collect(),
        }
    }
}
