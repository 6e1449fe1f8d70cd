//! The media proxy: serves attachments, avatars, icons and banners from the blob store, renders
//! resized and re-encoded variants, thumbnails videos with ffmpeg, and proxies external media behind
//! signed URLs without letting them reach private networks.
//!
//! Routes, relative to where the host mounts [`MediaProxy::router`] (`/media` in the monolith):
//!
//! | route | source | access |
//! |---|---|---|
//! | `GET /attachments/{channel_id}/{attachment_id}/{filename}` | blob `attachments/{channel_id}/{attachment_id}/{filename}` | signed: `ex` + `sig` ([`UrlSigner`]) |
//! | `GET /avatars/{id}/{hash}.{ext}`, `/icons/...`, `/banners/...` | blob `{avatars,icons,banners}/{id}/{hash without a_}` | public |
//! | `GET /external/{sig}/v2/{base64url(url)}` | the URL, fetched ([`external_path`]) | upstream's signature (401 on mismatch) |
//! | `GET /_health` | | public |
//!
//! Attachment signatures cover the path, `ex` and any other parameter, but not the presentation
//! parameters below: a client may ask for a thumbnail of a URL the API signed (as on Discord's CDN).
//! A missing, wrong or expired signature answers 403 (`MISSING_SIGNATURE`, `INVALID_SIGNATURE`,
//! `EXPIRED_SIGNATURE`).
//!
//! Without presentation parameters a stored object is served byte for byte, with `Range` support.
//! `width`/`height` (1-4096), `size` (avatars: upstream's list), `format` (`png`, `jpeg`/`jpg`, `webp`,
//! `gif`), `quality` (`high`, `low`, `lossless`, 1-100) and `animated` ask for a rendition:
//!
//! - the image header is read first and anything over [`MediaConfig::max_pixels`] is refused (413
//!   `IMAGE_TOO_LARGE`) before a pixel is decoded; decoding runs on `spawn_blocking` under
//!   [`image::Limits`], and malformed input answers 400/415, never 500;
//! - resizing uses `fast_image_resize` (Lanczos3, SIMD); both `width` and `height` crop the centre to
//!   fill, one keeps the aspect ratio, `size` fits a square; nothing is enlarged;
//! - WebP output is lossless (the pure-Rust encoder has no lossy mode); `quality` shapes JPEG only;
//!   `format=avif` answers 400 `AVIF_NOT_SUPPORTED` (an AVIF encoder costs a rav1e build);
//! - an animation becomes its first frame, unless `animated=true` and the output format is the
//!   source's, in which case the original bytes are served (animations are not resized);
//! - a video with `format` gets a thumbnail of its first frame from `ffmpeg` (503
//!   `VIDEO_THUMBNAILS_UNAVAILABLE` when there is no ffmpeg); without `format` it is served as stored;
//! - for avatars, icons and banners the extension names the output format (`{hash}.webp` of a stored
//!   PNG is converted), and an `a_` hash keeps its animation unless `animated=false`.
//!
//! Renditions are kept in a bounded in-memory LRU ([`MediaConfig::variant_cache_bytes`]) keyed by
//! source, etag and parameters; identical concurrent renders run once.
//!
//! Non-media types (anything but images other than SVG, video and audio) are served with
//! `Content-Disposition: attachment`, and every response carries `X-Content-Type-Options: nosniff` and
//! a sandboxing `Content-Security-Policy`, so an uploaded HTML file cannot run in our origin.
//!
//! ```
//! use std::sync::Arc;
//! use fluxer_media::proxy::{MediaConfig, MediaProxy};
//!
//! # fn demo(blobs: Arc<dyn fluxer_core::ports::BlobStore>) {
//! let proxy = MediaProxy::new(blobs, MediaConfig::new(b"secret".to_vec()));
//! let signed = proxy.signer().signed_path("/attachments/1/2/cat.png", 4_000_000_000);
//! let app: axum::Router = axum::Router::new().nest("/media", proxy.router());
//! # let _ = (signed, app);
//! # }
//! ```

mod cache;
mod error;
pub(crate) mod external;
mod render;
mod routes;
mod serve;
pub(crate) mod signing;
mod transform;
mod video;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fluxer_core::ports::BlobStore;
use image::RgbaImage;
use tokio::sync::Semaphore;

pub use error::MediaError;
pub use render::{ImageInfo, probe_image};
pub use signing::{UrlSigner, external_path};

use cache::VariantCache;

/// The media proxy's settings.
#[derive(Clone)]
pub struct MediaConfig {
    /// HMAC key for signed URLs (upstream: `services.media_proxy.secret_key` as UTF-8).
    pub secret: Vec<u8>,
    /// Images whose header declares more pixels are refused before decoding. Default 40 000 000.
    pub max_pixels: u64,
    /// Largest stored object loaded into memory to render a variant or thumbnail (serving it as is
    /// has no limit). Default 100 MiB.
    pub max_source_bytes: u64,
    /// The ffmpeg binary; `None` looks up `ffmpeg` on `PATH`.
    pub ffmpeg: Option<PathBuf>,
    /// ffmpeg is killed after this long. Default 15 s.
    pub ffmpeg_timeout: Duration,
    /// The external URL proxy (`/external/...`); see [`ExternalConfig`] for its defaults.
    pub external: ExternalConfig,
    /// Memory budget of the rendered-variant cache. Default 64 MiB; 0 disables it.
    pub variant_cache_bytes: usize,
}

impl MediaConfig {
    /// The defaults, keyed with `secret`.
    pub fn new(secret: Vec<u8>) -> Self {
        MediaConfig {
            secret,
            max_pixels: 40_000_000,
            max_source_bytes: 100 << 20,
            ffmpeg: None,
            ffmpeg_timeout: Duration::from_secs(15),
            external: ExternalConfig::default(),
            variant_cache_bytes: 64 << 20,
        }
    }
}

impl fmt::Debug for MediaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaConfig")
            .field("secret", &"<redacted>")
            .field("max_pixels", &self.max_pixels)
            .field("max_source_bytes", &self.max_source_bytes)
            .field("ffmpeg", &self.ffmpeg)
            .field("ffmpeg_timeout", &self.ffmpeg_timeout)
            .field("external", &self.external)
            .field("variant_cache_bytes", &self.variant_cache_bytes)
            .finish()
    }
}

/// Settings of the external URL proxy (`/external/...`).
///
/// Plain `http` and `https` (rustls with ring and the webpki roots, HTTP/1.1) are supported. Names are
/// resolved by the proxy, every address is checked, and the connection goes to a checked address;
/// each of at most 5 redirects is checked again. Only public unicast addresses are reached; see
/// `allow_addresses`. Fetched originals share the variant cache (bounded, no expiry: like upstream's
/// `immutable` header, an external URL is taken to name fixed content).
#[derive(Debug, Clone)]
pub struct ExternalConfig {
    /// Off: `/external/...` answers 404 `EXTERNAL_PROXY_DISABLED`. Default on.
    pub enabled: bool,
    /// Largest response body fetched. Default 25 MiB.
    pub max_bytes: u64,
    /// For the whole fetch, redirects included. Default 10 s.
    pub timeout: Duration,
    /// `type/subtype` or `type/*` entries. Default `image/*`, `video/*`. A wildcard never matches
    /// `image/svg+xml` (script in our origin); list it explicitly to allow it.
    pub allowed_content_types: Vec<String>,
    /// Addresses reachable even though they are not public (loopback, private...). A test hook: leave
    /// empty in production.
    pub allow_addresses: Vec<IpAddr>,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        ExternalConfig {
            enabled: true,
            max_bytes: 25 << 20,
            timeout: Duration::from_secs(10),
            allowed_content_types: vec!["image/*".into(), "video/*".into()],
            allow_addresses: Vec::new(),
        }
    }
}

/// Estimates how likely an image is to be NSFW (upstream runs an ONNX model at 224x224). No model
/// ships with fluxer-rs: without a classifier, [`MediaProxy::nsfw_probability`] answers `None`.
pub trait NsfwClassifier: Send + Sync {
    /// The probability (0.0-1.0) that `rgba` — the image's first frame, centre-cropped and scaled to
    /// 224x224 — is NSFW, or `None` when it cannot tell.
    fn classify(&self, rgba: &RgbaImage) -> Option<f32>;
}

/// The media proxy. Cheap to clone; clones share the variant cache.
#[derive(Clone)]
pub struct MediaProxy {
    inner: Arc<Inner>,
    nsfw: Option<Arc<dyn NsfwClassifier>>,
}

struct Inner {
    blobs: Arc<dyn BlobStore>,
    config: MediaConfig,
    signer: UrlSigner,
    cache: VariantCache,
    /// Bounds concurrent decodes and ffmpeg runs (CPU and memory).
    renders: Semaphore,
}

impl MediaProxy {
    /// A proxy serving `blobs`.
    pub fn new(blobs: Arc<dyn BlobStore>, config: MediaConfig) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        MediaProxy {
            inner: Arc::new(Inner {
                blobs,
                signer: UrlSigner::new(config.secret.clone()),
                cache: VariantCache::new(config.variant_cache_bytes),
                renders: Semaphore::new(parallelism),
                config,
            }),
            nsfw: None,
        }
    }

    /// Uses `classifier` for [`MediaProxy::nsfw_probability`].
    pub fn with_nsfw_classifier(mut self, classifier: Arc<dyn NsfwClassifier>) -> Self {
        self.nsfw = Some(classifier);
        self
    }

    /// The routes, to be nested by the host (at `/media` in the monolith).
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Signs attachment URLs and external paths with this proxy's secret.
    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    /// The configured NSFW classifier's verdict on an image (the first frame), or `None` without a
    /// classifier. Decodes off the async workers, under the same pixel limit as rendering.
    pub async fn nsfw_probability(&self, image: Bytes) -> Result<Option<f32>, MediaError> {
        let Some(classifier) = self.nsfw.clone() else {
            return Ok(None);
        };
        let max_pixels = self.inner.config.max_pixels;
        let _permit = self.inner.renders.acquire().await;
        tokio::task::spawn_blocking(move || {
            let rgba = render::decode_rgba(&image, max_pixels)?;
            let input = render::resize(rgba, 224, 224)?;
            Ok(classifier.classify(&input))
        })
        .await
        .unwrap_or_else(|_| Err(MediaError::InvalidImage("the decoder failed".into())))
    }
}

impl fmt::Debug for MediaProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaProxy")
            .field("config", &self.inner.config)
            .field("nsfw_classifier", &self.nsfw.is_some())
            .finish_non_exhaustive()
    }
}
