//! Request IDs, structured request logs, request traces and metrics, and turning a panic into a
//! JSON 500.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::ApiError;

/// Logs one line per request (method, path, status, duration, request id) and echoes `X-Request-ID`.
///
/// With a telemetry recorder installed ([`fluxer_core::telemetry`]) it also measures the request
/// under its route template and, for traced paths, runs it in a server span named
/// `{method} {route}`; the span's `trace_id` joins the request's log lines to its trace. Without
/// one, none of that is built.
pub(crate) async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", fastrand_u64()));
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let recorder = fluxer_core::telemetry::recorder();
    // The template the router matched (`/api/v1/channels/{channel_id}`), never the raw path: IDs
    // in a metric's attributes would make a series per channel.
    let route = recorder.map(|_| {
        req.extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned()
    });
    let span = match (recorder, &route) {
        (Some(recorder), Some(route)) if recorder.traces(req.uri().path()) => {
            let span = tracing::info_span!(
                parent: None,
                "request",
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                http.request.method = %method,
                http.route = %route,
                http.response.status_code = tracing::field::Empty,
                user_agent.class = user_agent_class(req.headers()),
                trace_id = tracing::field::Empty,
            );
            if let Some(id) = span.in_scope(|| recorder.trace_id()) {
                span.record("trace_id", id);
            }
            span
        }
        _ => tracing::Span::none(),
    };
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let (Some(recorder), Some(route)) = (recorder, &route) {
        recorder.http_request(route, method.as_str(), status, elapsed);
        // As i64: the OpenTelemetry layer keeps unsigned integers as text.
        span.record("http.response.status_code", i64::from(status));
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
    }
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(request_id, %method, path, status, duration_ms, "request");
        } else {
            tracing::info!(request_id, %method, path, status, duration_ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Who is calling, in three classes (the user agent itself has too many values for an attribute):
/// a bot library (`DiscordBot (...)`, a `Bot` token), a browser, or anything else.
fn user_agent_class(headers: &HeaderMap) -> &'static str {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bot_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bot "));
    if bot_token || agent.starts_with("DiscordBot") || agent.starts_with("FluxerBot") {
        "bot"
    } else if agent.starts_with("Mozilla/") {
        "browser"
    } else {
        "other"
    }
}

/// The path with the secrets some paths carry masked: a webhook's token (`/webhooks/{id}/{token}`)
/// and a desktop handoff code (`/auth/handoff/{code}`), which would let a log reader act as them.
fn loggable_path(path: &str) -> String {
    // Most paths carry neither: copied as they are, without taking them apart.
    if !path.contains("/webhooks/") && !path.contains("/handoff/") {
        return path.to_owned();
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let secret = i >= 2
            && ((segments[i - 2] == "webhooks"
                && segments[i - 1].bytes().all(|b| b.is_ascii_digit()))
                || (segments[i - 2] == "auth"
                    && segments[i - 1] == "handoff"
                    && !matches!(*segment, "initiate" | "complete")));
        out.push(if secret { "<redacted>" } else { segment });
    }
    out.join("/")
}

/// A cheap non-cryptographic ID source for request IDs.
fn fastrand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    // splitmix64 finalizer
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A handler panicked: log it and answer a JSON 500.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::{loggable_path, user_agent_class};

    #[test]
    fn user_agents_fall_in_three_classes() {
        let class = |agent: &str, auth: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert("user-agent", agent.parse().unwrap());
            if !auth.is_empty() {
                headers.insert("authorization", auth.parse().unwrap());
            }
            user_agent_class(&headers)
        };
        assert_eq!(
            class("DiscordBot (https://discord.js.org, 2.4.0)", ""),
            "bot"
        );
        assert_eq!(class("curl/8.0", "Bot abc.def"), "bot");
        assert_eq!(
            class("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "tok"),
            "browser"
        );
        assert_eq!(class("python-requests/2.32", ""), "other");
    }

    #[test]
    fn secrets_in_paths_are_masked_in_logs() {
        assert_eq!(
            loggable_path("/api/v1/webhooks/123/s3cr3t/github"),
            "/api/v1/webhooks/123/<redacted>/github"
        );
        assert_eq!(
            loggable_path("/api/v1/auth/handoff/ABCD-EFGH/status"),
            "/api/v1/auth/handoff/<redacted>/status"
        );
        assert_eq!(
            loggable_path("/api/v1/auth/handoff/initiate"),
            "/api/v1/auth/handoff/initiate"
        );
        assert_eq!(
            loggable_path("/api/v1/webhooks/123"),
            "/api/v1/webhooks/123"
        );
        assert_eq!(
            loggable_path("/api/v1/channels/1/messages"),
            "/api/v1/channels/1/messages"
        );
    }
}
