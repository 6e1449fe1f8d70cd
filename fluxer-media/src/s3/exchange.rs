//! What the operations share: the request as dispatch hands it over, the state every handler
//! sees, and the pieces of an S3 response (object headers, XML bodies, dates, encoded keys).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::BodyReader;
use super::error::S3Error;
use super::fs::{ObjectMeta, Storage};
use super::sigv4::{self, Verifier};

/// The largest `x-amz-meta-*` total, in bytes (as on AWS).
const MAX_USER_METADATA_BYTES: usize = 2048;
/// The default and largest page of a listing.
const MAX_PAGE: usize = 1000;

/// What every request handler shares.
pub(super) struct Shared {
    pub storage: Storage,
    pub verifier: Verifier,
    pub region: String,
    pub max_object_bytes: u64,
}

/// An authenticated request.
pub(super) struct Request {
    pub method: Method,
    pub headers: HeaderMap,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub body: BodyReader,
    /// The path as the client sent it (including any mount prefix).
    pub resource: String,
}

impl Request {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A page size parameter: 1000 when absent, at most 1000.
    pub(super) fn max_param(&self, name: &str) -> Result<usize, S3Error> {
        match self.param(name) {
            None => Ok(MAX_PAGE),
            Some(value) => value
                .parse::<usize>()
                .map(|n| n.min(MAX_PAGE))
                .map_err(|_| {
                    S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
                }),
        }
    }
}

/// The metadata a write sets from its headers: content type, the standard headers S3 keeps and
/// `x-amz-meta-*`.
pub(super) fn object_meta_from_headers(headers: &HeaderMap) -> Result<ObjectMeta, S3Error> {
    let text = |value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    let mut meta = ObjectMeta {
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(text)
            .filter(|t| !t.is_empty()),
        ..ObjectMeta::default()
    };
    for name in [
        header::CACHE_CONTROL,
        header::CONTENT_DISPOSITION,
        header::CONTENT_LANGUAGE,
        header::EXPIRES,
    ] {
        if let Some(value) = headers.get(&name) {
            meta.headers.insert(name.as_str().to_owned(), text(value));
        }
    }
    // `aws-chunked` is the transfer framing, not a property of the object.
    if let Some(value) = headers.get(header::CONTENT_ENCODING) {
        let encodings: Vec<String> = text(value)
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
            .map(str::to_owned)
            .collect();
        if !encodings.is_empty() {
            meta.headers.insert(
                header::CONTENT_ENCODING.as_str().to_owned(),
                encodings.join(","),
            );
        }
    }
    let mut total = 0;
    for (name, value) in headers {
        if let Some(user) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = text(value);
            total += user.len() + value.len();
            meta.user.insert(user.to_owned(), value);
        }
    }
    if total > MAX_USER_METADATA_BYTES {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size.",
        ));
    }
    Ok(meta)
}

/// The headers describing an object on `GetObject` and `HeadObject`.
pub(super) fn object_headers(response: &mut Response, meta: &ObjectMeta) {
    set_header(response, "etag", &format!("\"{}\"", meta.etag));
    set_header(response, "last-modified", &http_date(meta.last_modified_ms));
    set_header(response, "accept-ranges", "bytes");
    // What S3 reports for an object stored without a type.
    let content_type = meta
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    set_header(response, "content-type", content_type);
    for (name, value) in &meta.headers {
        set_header(response, name, value);
    }
    for (name, value) in &meta.user {
        set_header(response, &format!("x-amz-meta-{name}"), value);
    }
}

pub(super) fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

pub(super) fn xml_ok(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

pub(super) fn no_content() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

pub(super) fn http_date(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(time)
}

/// Encodes a key for `encoding-type=url` responses (the `/` kept, as S3 does).
pub(super) fn url_encode_key(text: &str) -> String {
    sigv4::uri_encode(text).replace("%2F", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_headers_become_metadata() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("image/png"));
        headers.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        headers.insert("x-amz-meta-Owner", HeaderValue::from_static("alice"));
        let meta = object_meta_from_headers(&headers).unwrap();
        assert_eq!(meta.content_type.as_deref(), Some("image/png"));
        assert_eq!(
            meta.headers.get("content-encoding").map(String::as_str),
            Some("gzip")
        );
        assert_eq!(meta.user.get("owner").map(String::as_str), Some("alice"));
        headers.insert("content-encoding", HeaderValue::from_static("aws-chunked"));
        assert!(
            object_meta_from_headers(&headers)
                .unwrap()
                .headers
                .is_empty()
        );
    }
}
