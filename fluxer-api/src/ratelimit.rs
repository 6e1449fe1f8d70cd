//! Rate limits per route bucket and per caller, with Discord/Fluxer headers, counted in the `Cache` port
//! (in memory in the monolith, Redis across nodes).
//!
//! A bucket is a route template with its major parameters filled in (`POST /channels/123/messages`).
//! The caller is the account: the user behind a valid session or bot token, so that five sessions
//! of one user share one allowance. A request without valid credentials (none, or a made-up header)
//! is counted against its IP, so that changing the header per request buys nothing. A global limit
//! per caller applies on top of every bucket, and one per IP on top of everything that IP sends.
//!
//! The IP is the socket's peer, or, when that peer is a trusted proxy, the last `X-Forwarded-For`
//! hop that is not itself a trusted proxy (see [`ClientIp`]).

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::ApiState;

/// A limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: u64,
    pub window: Duration,
}

impl Limit {
    pub const fn new(limit: u64, window_ms: u64) -> Self {
        Limit {
            limit,
            window: Duration::from_millis(window_ms),
        }
    }
}

/// The instance's rate limits: upstream's numbers by default.
#[derive(Debug, Clone)]
pub struct RateLimits {
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
                (Method::POST, "/auth/login", Limit::new(10, 10_000)),
                (Method::POST, "/auth/register", Limit::new(10, 10_000)),
                (Method::POST, "/auth/forgot", Limit::new(5, 60_000)),
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
            ],
        }
    }
}

/// Parameters that split buckets (Discord's "major parameters").
const MAJOR: [&str; 3] = ["{channel_id}", "{guild_id}", "{webhook_id}"];

fn bucket_of(method: &Method, template: &str, path: &str) -> String {
    // Fill the major parameters of the template from the concrete path.
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let offset = p.len().saturating_sub(t.len());
    let filled: Vec<&str> = t
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            if MAJOR.contains(seg) {
                p.get(i + offset).copied().unwrap_or(seg)
            } else {
                seg
            }
        })
        .collect();
    format!("{method} /{}", filled.join("/"))
}

/// Which proxies may say who the client is, in `X-Forwarded-For`.
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    /// Peers whose `X-Forwarded-For` is believed. Empty: the socket's peer is the client.
    pub trusted_proxies: Vec<IpNet>,
}

/// An address range (`10.0.0.0/8`, `::1/128`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a prefix length outside 0..={max}"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.addr), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl ClientIp {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// The client's address for a request whose server inserted `ConnectInfo<SocketAddr>` (the
    /// peer), as [`ClientIp::resolve`] decides it.
    pub fn of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        self.resolve(peer, headers)
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the nearest
    /// `X-Forwarded-For` hop that is not a trusted proxy (hops further left are the client's word).
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return Some(client);
            };
            for hop in value.split(',').rev() {
                let Ok(hop) = hop.trim().parse::<IpAddr>() else {
                    return Some(client);
                };
                client = canonical(hop);
                if !self.trusted(client) {
                    return Some(client);
                }
            }
        }
        Some(client)
    }
}

/// The caller that a request's valid credentials name, remembered for the handler's [`Auth`]
/// extractor so that it does not authenticate the request a second time.
///
/// [`Auth`]: crate::extract::Auth
#[derive(Clone)]
pub(crate) struct Authenticated(pub(crate) fluxer_core::service::Actor);

/// Whom a request counts against: the account behind valid credentials, else the IP.
async fn caller_of(state: &ApiState, req: &mut Request, ip: &str) -> String {
    let Some(header) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return format!("ip:{ip}");
    };
    match state.fluxer.authenticate(header).await {
        Ok(actor) => {
            let caller = format!("u:{}", actor.id());
            req.extensions_mut().insert(Authenticated(actor));
            caller
        }
        // Invalid credentials count against the address that sent them.
        Err(_) => format!("ip:{ip}"),
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// The middleware (mounted with `route_layer`, so the matched route is known).
pub async fn rate_limit(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let limits = &state.config.rate_limits;
    if !limits.enabled {
        return next.run(req).await;
    }
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    // Templates are mounted under several prefixes; match rules on the unprefixed form.
    let unprefixed = ["/api/v1", "/api", "/v1"]
        .iter()
        .find_map(|p| {
            template
                .strip_prefix(p)
                .filter(|rest| rest.starts_with('/'))
        })
        .unwrap_or(&template)
        .to_owned();
    let rule = limits
        .routes
        .iter()
        .find(|(m, t, _)| m == req.method() && *t == unprefixed)
        .map(|r| r.2)
        .unwrap_or(limits.default);
    let ip = state
        .config
        .client_ip
        .of(req.extensions(), req.headers())
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let bucket = bucket_of(req.method(), &unprefixed, req.uri().path());
    let bucket_hash: String = Sha256::digest(bucket.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // The address first: a flood from one IP is refused before it costs an authentication.
    match state
        .cache
        .hit(&format!("rl:ip:{ip}"), limits.per_ip.window)
        .await
    {
        Ok(hit) if hit.count > limits.per_ip.limit => {
            return limited(hit.reset_after_ms, true, limits.per_ip.limit, &bucket_hash);
        }
        Ok(_) => {}
        Err(e) => {
            // Fail open: a cache outage must not take the API down.
            tracing::warn!(error = %fluxer_core::error::chain(&e), "rate limit cache unavailable");
            return next.run(req).await;
        }
    }
    let caller = caller_of(&state, &mut req, &ip).await;
    let global = match state
        .cache
        .hit(&format!("rl:g:{caller}"), limits.global.window)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "rate limit cache unavailable");
            return next.run(req).await;
        }
    };
    if global.count > limits.global.limit {
        return limited(
            global.reset_after_ms,
            true,
            limits.global.limit,
            &bucket_hash,
        );
    }
    let hit = match state
        .cache
        .hit(&format!("rl:b:{caller}:{bucket}"), rule.window)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "rate limit cache unavailable");
            return next.run(req).await;
        }
    };
    if hit.count > rule.limit {
        return limited(hit.reset_after_ms, false, rule.limit, &bucket_hash);
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    set(headers, "x-ratelimit-limit", rule.limit.to_string());
    set(
        headers,
        "x-ratelimit-remaining",
        rule.limit.saturating_sub(hit.count).to_string(),
    );
    set(
        headers,
        "x-ratelimit-reset",
        format!("{:.3}", (now_ms + hit.reset_after_ms) as f64 / 1000.0),
    );
    set(
        headers,
        "x-ratelimit-reset-after",
        format!("{:.3}", hit.reset_after_ms as f64 / 1000.0),
    );
    set(headers, "x-ratelimit-bucket", bucket_hash);
    response
}

fn limited(reset_after_ms: u64, global: bool, limit: u64, bucket: &str) -> Response {
    let mut error = ApiError::from(fluxer_core::Error::RateLimited {
        retry_after_ms: reset_after_ms.max(1),
        global,
    });
    error.message = "You are being rate limited.".to_owned();
    let mut response = error.into_response();
    let headers = response.headers_mut();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    set(headers, "x-ratelimit-limit", limit.to_string());
    set(headers, "x-ratelimit-remaining", "0".to_owned());
    set(
        headers,
        "x-ratelimit-reset",
        format!("{:.3}", (now_ms + reset_after_ms) as f64 / 1000.0),
    );
    set(
        headers,
        "x-ratelimit-reset-after",
        format!("{:.3}", reset_after_ms as f64 / 1000.0),
    );
    set(headers, "x-ratelimit-bucket", bucket.to_owned());
    set(
        headers,
        "x-ratelimit-scope",
        if global { "global" } else { "user" }.to_owned(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn ranges_parse_and_contain() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let none = ClientIp::default();
        // No trusted proxy: the header is the client's word, ignored.
        assert_eq!(
            none.resolve(Some(client), &forwarded("198.51.100.1")),
            Some(client)
        );
        let trusting = ClientIp {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("198.51.100.1")),
            Some("198.51.100.1".parse().unwrap())
        );
        // A client that forges a hop in front of the proxy's own gets its real address counted.
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("1.1.1.1, 203.0.113.9, 10.0.0.7")),
            Some(client)
        );
        // Not from the proxy: the header is ignored.
        assert_eq!(
            trusting.resolve(Some(client), &forwarded("1.1.1.1")),
            Some(client)
        );
        // Garbage in the header stops at the last good hop.
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("junk")),
            Some(proxy)
        );
        assert_eq!(trusting.resolve(None, &HeaderMap::new()), None);
    }

    #[test]
    fn buckets_keep_major_parameters_only() {
        assert_eq!(
            bucket_of(
                &Method::POST,
                "/channels/{channel_id}/messages",
                "/api/v1/channels/42/messages"
            ),
            "POST /channels/42/messages"
        );
        assert_eq!(
            bucket_of(
                &Method::DELETE,
                "/channels/{channel_id}/messages/{message_id}",
                "/channels/42/messages/7"
            ),
            "DELETE /channels/42/messages/{message_id}"
        );
    }
}
