//! What a node that runs the API serves outside it: the web app at `/` and the default avatars
//! under `/static`. Without an app, `/` is the instance home page, which the API's pages serve
//! (`marketing`); with the home page off too, it is the API's JSON 404.
//!
//! The app is a built bundle of Fluxer's web client (`web.app_dir`): every file is served with its
//! MIME type, `/assets/*` (content-hashed names) cacheable forever, and every other GET that names
//! no file answers `index.html`, so the client's own routes (`/channels/@me`, `/invite/CODE`) load
//! the app. `index.html` holds a nonce placeholder, replaced on each response by a fresh nonce that
//! the `Content-Security-Policy` header names. Paths under the API, gateway, media, S3, well-known
//! and admin prefixes never reach the app: what they do not serve is the API's JSON 404.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluxer_api::{ApiError, InstanceInfo};

use crate::node::StartError;

/// The placeholder upstream's build leaves in `index.html` for the per-response nonce.
const NONCE_PLACEHOLDER: &str = "{{CSP_NONCE_PLACEHOLDER}}";

/// Path prefixes that belong to the API and the other services, never to the app.
const RESERVED: &[&str] = &[
    "/api",
    "/v1",
    "/gateway",
    "/media",
    "/s3",
    "/.well-known",
    "/admin",
    "/_health",
    "/_live",
    "/_ready",
];

/// Where the static CDN's files we do not draw ourselves come from.
const UPSTREAM_STATIC: &str = "https://fluxerstatic.com";

/// The web app, the default avatars and the home page: a node's answer to everything its routes do
/// not match: a node's router falls back to [`WebApp::serve`].
#[derive(Clone)]
pub struct WebApp {
    inner: Arc<Inner>,
}

struct Inner {
    /// The bundle (canonical path) and its `index.html`, when an app is configured.
    app: Option<(PathBuf, String)>,
    /// `default_avatar(n)` for each n, drawn on first request (not at start-up).
    avatars: [OnceLock<bytes::Bytes>; fluxer_media::avatars::DEFAULT_AVATARS],
    /// The CSP's list of the instance's other origins (API, gateway, media), space-separated.
    origins: String,
}

impl WebApp {
    /// Serves the bundle in `app_dir` (which must hold `index.html`), or no app when `None`.
    pub fn open(app_dir: Option<&Path>, instance: &InstanceInfo) -> Result<WebApp, StartError> {
        let app = match app_dir {
            None => None,
            Some(dir) => {
                let open_error = |message: String| StartError::Open {
                    what: "web app",
                    location: dir.display().to_string(),
                    message,
                };
                let dir = dir.canonicalize().map_err(|e| open_error(e.to_string()))?;
                let index = std::fs::read_to_string(dir.join("index.html"))
                    .map_err(|e| open_error(format!("index.html: {e}")))?;
                Some((dir, index))
            }
        };
        let mut origins: Vec<String> = Vec::new();
        for url in [&instance.api, &instance.gateway, &instance.media] {
            if let Some(origin) = origin_of(url)
                && !origins.contains(&origin)
            {
                origins.push(origin);
            }
        }
        Ok(WebApp {
            inner: Arc::new(Inner {
                app,
                avatars: Default::default(),
                origins: origins.join(" "),
            }),
        })
    }

    /// Whether a bundle is served (otherwise `/` is the home page, when enabled).
    pub fn has_app(&self) -> bool {
        self.inner.app.is_some()
    }

    /// Answers one request that no route matched.
    pub async fn serve(&self, request: Request<Body>) -> Response {
        let path = request.uri().path();
        let reserved = RESERVED.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        let readable = matches!(*request.method(), Method::GET | Method::HEAD);
        if reserved || !readable {
            return ApiError::not_found().into_response();
        }
        let head = request.method() == Method::HEAD;
        let mut response = if let Some(rest) = path.strip_prefix("/static/") {
            self.serve_static(rest, request.uri().query())
        } else if let Some((dir, index)) = &self.inner.app {
            self.serve_app(dir, index, path).await
        } else {
            ApiError::not_found().into_response()
        };
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if head {
            *response.body_mut() = Body::empty();
        }
        response
    }

    /// `/static/avatars/{n}.png` is ours; the rest of the static CDN is upstream's.
    fn serve_static(&self, rest: &str, query: Option<&str>) -> Response {
        if let Some(n) = rest
            .strip_prefix("avatars/")
            .and_then(|f| f.strip_suffix(".png"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            let png =
                self.inner.avatars.get(n).map(|slot| {
                    slot.get_or_init(|| fluxer_media::avatars::default_avatar(n).into())
                });
            return match png {
                Some(png) => (
                    [
                        (header::CONTENT_TYPE, "image/png"),
                        (header::CACHE_CONTROL, "public, max-age=86400"),
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                    ],
                    png.clone(),
                )
                    .into_response(),
                None => ApiError::not_found().into_response(),
            };
        }
        let target = match query {
            Some(q) => format!("{UPSTREAM_STATIC}/{rest}?{q}"),
            None => format!("{UPSTREAM_STATIC}/{rest}"),
        };
        match HeaderValue::try_from(target) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => ApiError::not_found().into_response(),
        }
    }

    async fn serve_app(&self, dir: &Path, index: &str, path: &str) -> Response {
        if let Some(file) = file_in(dir, path)
            && let Ok(bytes) = tokio::fs::read(&file).await
        {
            if file.file_name().is_some_and(|n| n == "index.html") && file.parent() == Some(dir) {
                return self.index(index);
            }
            let cache = if path.starts_with("/assets/") {
                "public, max-age=31536000, immutable"
            } else if path == "/sw.js" {
                "no-cache"
            } else {
                "public, max-age=300"
            };
            let mut response = (
                [
                    (header::CONTENT_TYPE, content_type(&file)),
                    (header::CACHE_CONTROL, cache),
                ],
                bytes,
            )
                .into_response();
            if path == "/sw.js" {
                response
                    .headers_mut()
                    .insert("service-worker-allowed", HeaderValue::from_static("/"));
            }
            return response;
        }
        // A missing hashed asset or file with an extension is a 404, not the app: a stale
        // chunk must fail loudly rather than load HTML as script.
        let last = path.rsplit('/').next().unwrap_or_default();
        if path.starts_with("/assets/") || last.contains('.') {
            return (
                StatusCode::NOT_FOUND,
                [(header::CACHE_CONTROL, "no-cache")],
                "not found",
            )
                .into_response();
        }
        self.index(index)
    }

    /// `index.html` with a fresh nonce and the policy that names it.
    fn index(&self, index: &str) -> Response {
        let nonce = fluxer_core::secret::random_hex(16);
        let body = index.replace(NONCE_PLACEHOLDER, &nonce);
        let mut response = html(body, "no-cache");
        let headers = response.headers_mut();
        if let Ok(policy) = HeaderValue::try_from(self.policy(&nonce)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        response
    }

    /// The app's Content-Security-Policy: scripts from here (and the nonce) only; images, media and
    /// fonts from anywhere over HTTPS (embeds come through the media proxy, emoji from the CDN);
    /// connections to this instance's own endpoints.
    fn policy(&self, nonce: &str) -> String {
        let o = &self.inner.origins;
        format!(
            "default-src 'self'; \
             script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob: https: {o}; \
             media-src 'self' data: blob: https: {o}; \
             font-src 'self' data: https:; \
             connect-src 'self' data: {o} {UPSTREAM_STATIC}; \
             worker-src 'self' blob:; \
             manifest-src 'self'; \
             frame-src 'self' https:; \
             object-src 'none'; \
             base-uri 'self'; \
             form-action 'self'; \
             frame-ancestors 'none'"
        )
    }
}

fn html(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The file a request path names inside `dir`, if it is one: `..`, absolute or odd segments and
/// links out of the directory name nothing.
fn file_in(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.trim_start_matches('/');
    let mut file = dir.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part)
                if !part.as_encoded_bytes().contains(&b'\\')
                    && !part.as_encoded_bytes().contains(&b'%') =>
            {
                file.push(part);
            }
            _ => return None,
        }
    }
    let file = file.canonicalize().ok()?;
    (file.starts_with(dir) && file.is_file()).then_some(file)
}

/// The MIME type of a bundle file, by extension.
fn content_type(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// `scheme://host[:port]` of a URL, `ws(s)` kept (CSP matches them as written).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_bundle() {
        let dir = std::env::temp_dir().join(format!("fluxer-web-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("assets/a.js"), "x").unwrap();
        let dir = dir.canonicalize().unwrap();
        assert!(file_in(&dir, "/assets/a.js").is_some());
        for bad in [
            "/../etc/passwd",
            "/assets/../../etc/passwd",
            "/assets/%2e%2e/a.js",
            "/assets",
            "/missing.js",
            "/assets\\a.js",
        ] {
            assert!(file_in(&dir, bad).is_none(), "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn origins_keep_scheme_and_port() {
        assert_eq!(
            origin_of("wss://chat.example.com:8443/gateway").as_deref(),
            Some("wss://chat.example.com:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
