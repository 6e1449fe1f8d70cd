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

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::ApiState;

pub use crate::client_ip::{ClientIp, IpNet};
pub use crate::state::{Limit, RateLimits};

/// Parameters that split buckets (Discord's "major parameters").
const MAJOR: [&str; 4] = ["{channel_id}", "{guild_id}", "{webhook_id}", "{pack_id}"];

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
