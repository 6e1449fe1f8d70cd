//! What can go wrong while serving media, and how each failure looks on the wire.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A media proxy failure. Every variant maps to one HTTP status and one string `code`, answered as
/// `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The URL carries no `ex`/`sig` pair.
    #[error("this URL must be signed")]
    MissingSignature,
    /// The signature does not match the URL.
    #[error("invalid signature")]
    InvalidSignature,
    /// The signed URL's expiry (`ex`) has passed.
    #[error("this signed URL has expired")]
    ExpiredSignature,
    /// The signature of an external URL does not match (401, as upstream).
    #[error("invalid signature for the external URL")]
    InvalidExternalSignature,
    /// No object at this path.
    #[error("not found")]
    NotFound,
    /// A path segment is malformed.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A query parameter is malformed or out of range.
    #[error("invalid query parameter: {0}")]
    InvalidQuery(String),
    /// `format=avif`: the AVIF encoder is not built in.
    #[error("AVIF output is not supported by this server")]
    AvifUnsupported,
    /// The image's header declares more pixels than `max_pixels`; refused before decoding.
    #[error("image is {width}x{height}, more than the {max_pixels} pixels allowed")]
    ImageTooLarge {
        /// The image's width in pixels, as its header declares it.
        width: u32,
        /// The image's height in pixels, as its header declares it.
        height: u32,
        /// The limit it broke: `MediaConfig::max_pixels`.
        max_pixels: u64,
    },
    /// The source object is bigger than the proxy will load to transform (or fetch, for external URLs).
    #[error("source is larger than {limit} bytes")]
    SourceTooLarge {
        /// The limit in bytes: `MediaConfig::max_source_bytes`, or `ExternalConfig::max_bytes`.
        limit: u64,
    },
    /// The bytes are not an image or video this proxy can transform.
    #[error("unsupported media type: {0}")]
    UnsupportedMedia(String),
    /// The bytes claim to be an image but cannot be decoded.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// ffmpeg could not read the video.
    #[error("invalid video: {0}")]
    InvalidVideo(String),
    /// No ffmpeg binary: video thumbnails are unavailable on this server.
    #[error("video thumbnails are unavailable: {0}")]
    FfmpegUnavailable(String),
    /// ffmpeg did not finish within `ffmpeg_timeout`.
    #[error("video thumbnail timed out")]
    FfmpegTimeout,
    /// The `Range` header cannot be satisfied for an object of this size.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The object's size in bytes, sent back as `Content-Range: bytes */{size}`.
        size: u64,
    },
    /// The external proxy is turned off.
    #[error("the external media proxy is disabled")]
    ExternalDisabled,
    /// The external URL is malformed or not http(s).
    #[error("invalid external URL: {0}")]
    InvalidExternalUrl(String),
    /// The external host resolves to an address the proxy must not reach (loopback, private, ...).
    #[error("external address not allowed: {0}")]
    ForbiddenAddress(String),
    /// The origin answered with a content type outside the allow-list.
    #[error("content type not allowed: {0}")]
    ContentTypeNotAllowed(String),
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// The origin could not be reached or answered badly.
    #[error("external fetch failed: {0}")]
    ExternalFetch(String),
    /// The origin answered 404 or 410.
    #[error("the external resource was not found")]
    ExternalNotFound,
    /// The origin did not answer within the timeout.
    #[error("external fetch timed out")]
    ExternalTimeout,
    /// The blob store failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl MediaError {
    /// What the client is told. Errors of the external proxy say only that the fetch was refused or
    /// failed: how a name resolves, or why a connection failed, would map the server's network for
    /// whoever asks. The detail goes to the log (see `into_response`).
    pub fn public_message(&self) -> String {
        match self {
            MediaError::ForbiddenAddress(_) => "The external address is refused.".to_owned(),
            MediaError::ExternalFetch(_) => {
                "The external resource could not be fetched.".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The string code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::MissingSignature => "MISSING_SIGNATURE",
            MediaError::InvalidSignature | MediaError::InvalidExternalSignature => {
                "INVALID_SIGNATURE"
            }
            MediaError::ExpiredSignature => "EXPIRED_SIGNATURE",
            MediaError::NotFound => "NOT_FOUND",
            MediaError::InvalidPath(_) => "INVALID_PATH",
            MediaError::InvalidQuery(_) => "INVALID_QUERY",
            MediaError::AvifUnsupported => "AVIF_NOT_SUPPORTED",
            MediaError::ImageTooLarge { .. } => "IMAGE_TOO_LARGE",
            MediaError::SourceTooLarge { .. } => "SOURCE_TOO_LARGE",
            MediaError::UnsupportedMedia(_) => "UNSUPPORTED_MEDIA_TYPE",
            MediaError::InvalidImage(_) => "INVALID_IMAGE",
            MediaError::InvalidVideo(_) => "INVALID_VIDEO",
            MediaError::FfmpegUnavailable(_) => "VIDEO_THUMBNAILS_UNAVAILABLE",
            MediaError::FfmpegTimeout => "VIDEO_THUMBNAIL_TIMEOUT",
            MediaError::RangeNotSatisfiable { .. } => "RANGE_NOT_SATISFIABLE",
            MediaError::ExternalDisabled => "EXTERNAL_PROXY_DISABLED",
            MediaError::InvalidExternalUrl(_) => "INVALID_EXTERNAL_URL",
            MediaError::ForbiddenAddress(_) => "EXTERNAL_ADDRESS_FORBIDDEN",
            MediaError::ContentTypeNotAllowed(_) => "CONTENT_TYPE_NOT_ALLOWED",
            MediaError::TooManyRedirects => "TOO_MANY_REDIRECTS",
            MediaError::ExternalFetch(_) => "EXTERNAL_FETCH_FAILED",
            MediaError::ExternalNotFound => "EXTERNAL_NOT_FOUND",
            MediaError::ExternalTimeout => "EXTERNAL_TIMEOUT",
            MediaError::Storage(_) => "STORAGE_ERROR",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            MediaError::MissingSignature
            | MediaError::InvalidSignature
            | MediaError::ExpiredSignature
            | MediaError::ForbiddenAddress(_) => StatusCode::FORBIDDEN,
            MediaError::InvalidExternalSignature => StatusCode::UNAUTHORIZED,
            MediaError::NotFound | MediaError::ExternalNotFound | MediaError::ExternalDisabled => {
                StatusCode::NOT_FOUND
            }
            MediaError::InvalidPath(_)
            | MediaError::InvalidQuery(_)
            | MediaError::AvifUnsupported
            | MediaError::InvalidImage(_)
            | MediaError::InvalidExternalUrl(_) => StatusCode::BAD_REQUEST,
            MediaError::ImageTooLarge { .. } | MediaError::SourceTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            MediaError::UnsupportedMedia(_)
            | MediaError::InvalidVideo(_)
            | MediaError::ContentTypeNotAllowed(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // 503 rather than 501: CDNs may cache a 501 heuristically, but installing ffmpeg fixes this.
            MediaError::FfmpegUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            MediaError::FfmpegTimeout | MediaError::ExternalTimeout => StatusCode::GATEWAY_TIMEOUT,
            MediaError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            MediaError::TooManyRedirects | MediaError::ExternalFetch(_) => StatusCode::BAD_GATEWAY,
            MediaError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<fluxer_core::error::StoreError> for MediaError {
    fn from(e: fluxer_core::error::StoreError) -> Self {
        MediaError::Storage(fluxer_core::error::chain(&e))
    }
}

impl IntoResponse for MediaError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "media proxy error");
        } else if let MediaError::ForbiddenAddress(_) = self {
            // The client is told only "refused"; how the name resolved is for the operator.
            tracing::debug!(error = %self, "external media fetch refused");
        }
        let body = serde_json::json!({ "code": self.code(), "message": self.public_message() });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        // Errors must not be pinned in a CDN: a signature can be renewed, ffmpeg installed.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let MediaError::RangeNotSatisfiable { size } = self
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            headers.insert(header::CONTENT_RANGE, v);
        }
        response
    }
}
