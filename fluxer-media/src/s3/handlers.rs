//! Request dispatch: authentication, then the operation named by the method, the path (bucket, key)
//! and the query's sub-resources.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::body::BodyReader;
use super::error::S3Error;
use super::fs::{ObjectMeta, Storage};
use super::sigv4::{self, SignedRequest, Verifier};
use super::{buckets, multipart, objects};

/// The largest `x-amz-meta-*` total, in bytes (as on AWS).
const MAX_USER_METADATA_BYTES: usize = 2048;
/// The default and largest page of a listing.
const MAX_PAGE: usize = 1000;

/// What every request handler shares.
pub struct Shared {
    pub storage: Storage,
    pub verifier: Verifier,
    pub region: String,
    pub max_object_bytes: u64,
}

/// An authenticated request.
pub struct Request {
    pub method: Method,
    pub headers: HeaderMap,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub body: BodyReader,
    /// The path as the client sent it (including any mount prefix).
    pub resource: String,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A page size parameter: 1000 when absent, at most 1000.
    pub fn max_param(&self, name: &str) -> Result<usize, S3Error> {
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

/// The one handler behind every route.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    request: axum::extract::Request,
) -> Response {
    let request_id = request_id();
    let is_head = request.method() == Method::HEAD;
    let resource = original.path().to_owned();
    let mut response = match serve(&shared, &original, request, &resource).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(code = error.code, message = %error.message, %resource, "s3 request refused");
            error.into_s3_response(&resource, &request_id, is_head)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amz-request-id", value);
    }
    response
}

async fn serve(
    shared: &Shared,
    original: &Uri,
    request: axum::extract::Request,
    resource: &str,
) -> Result<Response, S3Error> {
    let (parts, body) = request.into_parts();
    // The path below the mount point names the bucket and key; the full path is what was signed.
    let (bucket, key) = route(parts.uri.path())?;
    let raw_query = original.query().unwrap_or_default();
    let payload = shared.verifier.verify(
        &SignedRequest {
            method: &parts.method,
            raw_path: original.path(),
            raw_query,
            headers: &parts.headers,
        },
        sigv4::unix_secs(std::time::SystemTime::now()),
    )?;
    let request = Request {
        body: BodyReader::new(body, payload, &parts.headers),
        method: parts.method,
        headers: parts.headers,
        query: sigv4::parse_query(raw_query),
        resource: resource.to_owned(),
    };
    match (bucket, key) {
        (None, _) if request.method == Method::GET => buckets::list_buckets(shared).await,
        (None, _) => Err(S3Error::method_not_allowed()),
        (Some(bucket), None) => bucket_operation(shared, &bucket, request).await,
        (Some(bucket), Some(key)) => object_operation(shared, &bucket, &key, request).await,
    }
}

async fn bucket_operation(
    shared: &Shared,
    bucket: &str,
    req: Request,
) -> Result<Response, S3Error> {
    if let Some(name) = unsupported_subresource(&req) {
        return Err(S3Error::not_implemented(&format!(
            "The bucket sub-resource '{name}'"
        )));
    }
    match req.method {
        Method::GET if req.has("location") => buckets::location(shared, bucket).await,
        Method::GET if req.has("versioning") => buckets::versioning(shared, bucket).await,
        Method::GET if req.has("uploads") => multipart::list_uploads(shared, bucket, &req).await,
        Method::GET if req.param("list-type") == Some("2") => {
            buckets::list_objects(shared, bucket, &req, true).await
        }
        Method::GET => buckets::list_objects(shared, bucket, &req, false).await,
        Method::HEAD => buckets::head_bucket(shared, bucket).await,
        Method::PUT => buckets::create_bucket(shared, bucket, req).await,
        Method::DELETE => buckets::delete_bucket(shared, bucket).await,
        Method::POST if req.has("delete") => objects::delete_objects(shared, bucket, req).await,
        Method::POST => Err(S3Error::not_implemented(
            "POST object (browser-based upload)",
        )),
        _ => Err(S3Error::method_not_allowed()),
    }
}

async fn object_operation(
    shared: &Shared,
    bucket: &str,
    key: &str,
    req: Request,
) -> Result<Response, S3Error> {
    if let Some(name) = unsupported_subresource(&req) {
        return Err(S3Error::not_implemented(&format!(
            "The object sub-resource '{name}'"
        )));
    }
    match req.method {
        Method::PUT if req.has("uploadId") => {
            multipart::upload_part(shared, bucket, key, req).await
        }
        Method::PUT if req.headers.contains_key("x-amz-copy-source") => {
            objects::copy_object(shared, bucket, key, req).await
        }
        Method::PUT => objects::put_object(shared, bucket, key, req).await,
        Method::GET if req.has("uploadId") => {
            multipart::list_parts(shared, bucket, key, &req).await
        }
        Method::GET => objects::get_object(shared, bucket, key, &req, false).await,
        Method::HEAD => objects::get_object(shared, bucket, key, &req, true).await,
        Method::DELETE if req.has("uploadId") => multipart::abort(shared, bucket, key, &req).await,
        Method::DELETE => objects::delete_object(shared, bucket, key).await,
        Method::POST if req.has("uploads") => multipart::create(shared, bucket, key, &req).await,
        Method::POST if req.has("uploadId") => multipart::complete(shared, bucket, key, req).await,
        _ => Err(S3Error::method_not_allowed()),
    }
}

/// Sub-resources this server does not implement, so a request for one is not mistaken for a plain
/// get, put or delete of the object or bucket.
fn unsupported_subresource(req: &Request) -> Option<&str> {
    const UNSUPPORTED: &[&str] = &[
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "tagging",
        "torrent",
        "versions",
        "website",
    ];
    req.query
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| UNSUPPORTED.contains(k))
}

/// Splits the path below the mount point into a bucket and a key (percent-decoded).
fn route(path: &str) -> Result<(Option<String>, Option<String>), S3Error> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok((None, None));
    }
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let decode = |text: &str| {
        percent_decode_str(text)
            .decode_utf8()
            .map(|t| t.into_owned())
            .map_err(|_| {
                S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidURI",
                    "Couldn't parse the specified URI.",
                )
            })
    };
    let bucket = decode(bucket)?;
    let key = if key.is_empty() {
        None
    } else {
        Some(decode(key)?)
    };
    Ok((Some(bucket), key))
}

/// The metadata a write sets from its headers: content type, the standard headers S3 keeps and
/// `x-amz-meta-*`.
pub fn object_meta_from_headers(headers: &HeaderMap) -> Result<ObjectMeta, S3Error> {
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
pub fn object_headers(response: &mut Response, meta: &ObjectMeta) {
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

pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

pub fn xml_ok(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

pub fn no_content() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

pub fn http_date(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(time)
}

/// Encodes a key for `encoding-type=url` responses (the `/` kept, as S3 does).
pub fn url_encode_key(text: &str) -> String {
    sigv4::uri_encode(text).replace("%2F", "/")
}

fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let secs = sigv4::unix_secs(std::time::SystemTime::now());
    format!("{secs:X}{count:08X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_bucket_and_key() {
        assert_eq!(route("/").unwrap(), (None, None));
        assert_eq!(route("").unwrap(), (None, None));
        assert_eq!(route("/b").unwrap(), (Some("b".into()), None));
        assert_eq!(route("/b/").unwrap(), (Some("b".into()), None));
        assert_eq!(
            route("/b/a%20b/c%2Fd").unwrap(),
            (Some("b".into()), Some("a b/c/d".into()))
        );
        assert_eq!(route("/b/%FF").unwrap_err().code, "InvalidURI");
    }

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
