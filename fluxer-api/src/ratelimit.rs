//! Rate limits per route bucket and per caller, with Discord/Fluxer headers, counted in the `Cache` port
//! (in memory in the monolith, Redis across nodes).
//!
//! A bucket is a route template with its major parameters filled in (`POST /channels/123/messages`);
//! the caller is the hash of its token, or its IP when anonymous. A global limit per caller applies on
//! top of every bucket.

use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
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

fn caller_of(headers: &HeaderMap, ip: &str) -> String {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(token) => {
            let digest = Sha256::digest(token.as_bytes());
            format!(
                "t:{}",
                digest[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
        None => format!("ip:{ip}"),
    }
}

/// The client's IP: the socket peer, or the first `X-Forwarded-For` hop when configured to trust it.
pub fn client_ip(req: &Request, trust_forwarded: bool) -> String {
    if trust_forwarded
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
    {
        return ip.trim().to_owned();
    }
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// The middleware (mounted with `route_layer`, so the matched route is known).
pub async fn rate_limit(State(state): State<ApiState>, req: Request, next: Next) -> Response {
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
    let ip = client_ip(&req, state.config.trust_forwarded_for);
    let caller = caller_of(req.headers(), &ip);
    let bucket = bucket_of(req.method(), &unprefixed, req.uri().path());
    let bucket_hash: String = Sha256::digest(bucket.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let global = match state
        .cache
        .hit(&format!("rl:g:{caller}"), limits.global.window)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            // Fail open: a cache outage must not take the API down.
            tracing::warn!(error = %e, "rate limit cache unavailable");
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
            tracing::warn!(error = %e, "rate limit cache unavailable");
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
