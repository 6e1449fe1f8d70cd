//! Turning bytes into responses: cache and safety headers, conditional requests and byte ranges.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use fluxer_core::ports::{BlobMeta, BlobStore};

use super::error::MediaError;
use super::video::essence;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Even a document served from the media origin must not run script or load anything.
const SANDBOX: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// What is served and under which name.
pub(crate) struct Entity<'a> {
    pub content_type: &'a str,
    /// Quoted.
    pub etag: &'a str,
    pub size: u64,
    /// For `Content-Disposition` when the type is not displayable media.
    pub filename: Option<&'a str>,
}

/// The part of an entity a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Selection {
    NotModified,
    Full,
    Partial(Range<u64>),
}

/// Applies `If-None-Match`, `Range` and `If-Range` to an entity.
pub(crate) fn select(request: &HeaderMap, etag: &str, size: u64) -> Result<Selection, MediaError> {
    let if_none_match = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    }) {
        return Ok(Selection::NotModified);
    }
    let Some(range) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(Selection::Full);
    };
    if let Some(if_range) = request.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(Selection::Full);
    }
    Ok(match parse_range(range, size) {
        RangeSpec::Ignore => Selection::Full,
        RangeSpec::Unsatisfiable => return Err(MediaError::RangeNotSatisfiable { size }),
        RangeSpec::Bytes(r) => Selection::Partial(r),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Malformed or multi-range: served whole, as RFC 9110 allows.
    Ignore,
    Unsatisfiable,
    Bytes(Range<u64>),
}

fn parse_range(header: &str, size: u64) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-N: the last N bytes
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Bytes(size - suffix.min(size)..size)
            }
        }
        (false, Some(start), end) if end.is_some() || last.trim().is_empty() => {
            if end.is_some_and(|end| end < start) {
                RangeSpec::Ignore
            } else if start >= size {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Bytes(start..end.map_or(size, |end| end.saturating_add(1).min(size)))
            }
        }
        _ => RangeSpec::Ignore,
    }
}

/// Bytes in memory (a variant or an external original).
pub(crate) fn respond_bytes(
    request: &HeaderMap,
    entity: &Entity<'_>,
    bytes: Bytes,
) -> Result<Response, MediaError> {
    Ok(match select(request, entity.etag, entity.size)? {
        Selection::NotModified => build(StatusCode::NOT_MODIFIED, entity, None, Body::empty()),
        Selection::Full => build(StatusCode::OK, entity, None, Body::from(bytes)),
        Selection::Partial(range) => {
            // `select` keeps the range within `size`, the length of `bytes`.
            let part = bytes.slice(range.start as usize..range.end as usize);
            build(
                StatusCode::PARTIAL_CONTENT,
                entity,
                Some(range),
                Body::from(part),
            )
        }
    })
}

/// A stored object as it is, reading only the requested range from the store.
pub(crate) async fn respond_stored(
    request: &HeaderMap,
    blobs: &dyn BlobStore,
    meta: &BlobMeta,
    filename: Option<&str>,
) -> Result<Response, MediaError> {
    let etag = quote(&meta.etag);
    let entity = Entity {
        content_type: meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
        etag: &etag,
        size: meta.size,
        filename,
    };
    Ok(match select(request, &etag, meta.size)? {
        Selection::NotModified => build(StatusCode::NOT_MODIFIED, &entity, None, Body::empty()),
        Selection::Full => {
            let (_, bytes) = blobs.get(&meta.key).await?.ok_or(MediaError::NotFound)?;
            build(StatusCode::OK, &entity, None, Body::from(bytes))
        }
        Selection::Partial(range) => {
            let (_, bytes) = blobs
                .get_range(&meta.key, range.start, range.end)
                .await?
                .ok_or(MediaError::NotFound)?;
            let range = range.start..range.start + bytes.len() as u64;
            build(
                StatusCode::PARTIAL_CONTENT,
                &entity,
                Some(range),
                Body::from(bytes),
            )
        }
    })
}

/// `"{tag}"`, unless already quoted.
pub(crate) fn quote(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_owned()
    } else {
        format!("\"{tag}\"")
    }
}

/// Whether a browser may display this type inline from our origin without running anything.
pub(crate) fn is_inline_media(content_type: &str) -> bool {
    let ct = essence(content_type);
    (ct.starts_with("image/") && ct != "image/svg+xml")
        || ct.starts_with("video/")
        || ct.starts_with("audio/")
}

fn build(
    status: StatusCode,
    entity: &Entity<'_>,
    range: Option<Range<u64>>,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, entity.etag.to_owned());
    set(header::CACHE_CONTROL, IMMUTABLE.to_owned());
    if status != StatusCode::NOT_MODIFIED {
        set(header::CONTENT_TYPE, entity.content_type.to_owned());
        set(header::ACCEPT_RANGES, "bytes".to_owned());
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
        set(header::CONTENT_SECURITY_POLICY, SANDBOX.to_owned());
        if !is_inline_media(entity.content_type) {
            set(header::CONTENT_DISPOSITION, disposition(entity.filename));
        }
    }
    if let Some(range) = range {
        set(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                range.start,
                range.end.saturating_sub(1),
                entity.size
            ),
        );
    }
    response
}

/// `attachment`, with the file name reduced to characters that need no escaping in a header.
fn disposition(filename: Option<&str>) -> String {
    let safe: String = filename
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(200)
        .collect();
    if safe.trim().is_empty() {
        "attachment".to_owned()
    } else {
        format!("attachment; filename=\"{}\"", safe.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range("bytes=0-9", 100), Bytes(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Bytes(90..100));
        assert_eq!(parse_range("bytes=90-1000", 100), Bytes(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Bytes(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Bytes(0..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=x-1", 100), Ignore);
        assert_eq!(parse_range("bytes=-", 100), Ignore);
    }

    #[test]
    fn conditional_requests() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b\""),
        );
        assert_eq!(select(&h, "\"b\"", 10), Ok(Selection::NotModified));
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert_eq!(select(&h, "\"new\"", 10), Ok(Selection::Full));
    }

    #[test]
    fn dispositions() {
        assert!(is_inline_media("image/png"));
        assert!(is_inline_media("video/mp4; codecs=avc1"));
        assert!(!is_inline_media("image/svg+xml"));
        assert!(!is_inline_media("text/html"));
        assert_eq!(
            disposition(Some("a\"b\r\n.html")),
            "attachment; filename=\"ab.html\""
        );
        assert_eq!(disposition(None), "attachment");
    }
}
