//! Request dispatch: authentication, then the operation named by the method, the path (bucket, key)
//! and the query's sub-resources.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::body::BodyReader;
use super::error::S3Error;
use super::exchange::{Request, Shared};
use super::sigv4::{self, SignedRequest};
use super::{buckets, multipart, objects};

/// The one handler behind every route.
pub(super) async fn handle(
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
}
