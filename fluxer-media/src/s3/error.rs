//! S3 errors: a code, a status and a message, sent as S3's XML error document.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::xml;

/// An error in S3's terms, which clients (boto3, the AWS SDKs, object_store) map to their own types by
/// its `Code`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub(super) struct S3Error {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    /// Extra headers, e.g. `Content-Range` on `InvalidRange`.
    headers: Vec<(header::HeaderName, String)>,
}

impl S3Error {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(super) fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub(super) fn signature_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        )
    }

    pub(super) fn invalid_access_key() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    }

    pub(super) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub(super) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    pub(super) fn malformed_auth(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            message,
        )
    }

    pub(super) fn malformed_presign(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        )
    }

    pub(super) fn malformed_xml() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }

    pub(super) fn no_such_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
    }

    pub(super) fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub(super) fn no_such_upload() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified multipart upload does not exist. The upload ID may be invalid, or the upload \
             may have been aborted or completed.",
        )
    }

    pub(super) fn invalid_bucket_name() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
    }

    pub(super) fn bucket_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
    }

    pub(super) fn bucket_not_empty() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        )
    }

    pub(super) fn invalid_key(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub(super) fn key_too_long() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "KeyTooLongError",
            "Your key is too long",
        )
    }

    /// A key and another object's key would be a file and a directory of the same path on disk.
    pub(super) fn key_conflict() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "KeyConflict",
            "This store keeps objects as files: a key cannot name an object and also be a \
             '/'-separated prefix of another object's key (like 'a' and 'a/b').",
        )
    }

    pub(super) fn entity_too_large(max: u64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size of {max} bytes"),
        )
    }

    pub(super) fn entity_too_small() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
        )
    }

    pub(super) fn invalid_range(size: u64) -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .with_header(header::CONTENT_RANGE, format!("bytes */{size}"))
    }

    pub(super) fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    }

    pub(super) fn bad_digest() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        )
    }

    pub(super) fn sha256_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    }

    pub(super) fn incomplete_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "IncompleteBody", message)
    }

    pub(super) fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by this server"),
        )
    }

    pub(super) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// A failure of this server (disk, I/O); the detail goes to the log, not to the client.
    pub(super) fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "s3 endpoint internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// The response: the XML error document, or only the status and headers for a `HEAD` request.
    pub(super) fn into_s3_response(
        self,
        resource: &str,
        request_id: &str,
        is_head: bool,
    ) -> Response {
        let body = if is_head {
            String::new()
        } else {
            let mut out = String::from(xml::DECLARATION);
            out.push_str("<Error>");
            xml::element(&mut out, "Code", self.code);
            xml::element(&mut out, "Message", &self.message);
            xml::element(&mut out, "Resource", resource);
            xml::element(&mut out, "RequestId", request_id);
            out.push_str("</Error>");
            out
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        if !is_head {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> Self {
        S3Error::internal(e)
    }
}

impl From<xml::MalformedXml> for S3Error {
    fn from(_: xml::MalformedXml) -> Self {
        S3Error::malformed_xml()
    }
}
