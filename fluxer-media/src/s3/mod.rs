//! The built-in S3-compatible endpoint (`/s3` in the monolith), on the local filesystem.
//!
//! A small-deployment stand-in for an object store: Fluxer's own blob adapter, `aws` CLI, boto3 or any
//! S3 SDK talk to it with path-style addressing (`{endpoint}/{bucket}/{key}`). It speaks the subset of
//! S3 those clients use for objects:
//!
//! - buckets: `ListBuckets`, `CreateBucket`, `DeleteBucket` (empty only), `HeadBucket`,
//!   `GetBucketLocation`;
//! - objects: `PutObject`, `GetObject` (`Range`, `If-Match`, `If-None-Match`, `If-(Un)Modified-Since`,
//!   `response-*` overrides), `HeadObject`, `DeleteObject`, `DeleteObjects`, `CopyObject`, `ListObjectsV2`
//!   and `ListObjects`, with `x-amz-meta-*` metadata and the content type kept;
//! - multipart uploads: create, upload part, complete (ETag: MD5 of the parts' MD5s, `-N`), abort,
//!   `ListParts`, `ListMultipartUploads`.
//!
//! Every request is authenticated with AWS Signature Version 4, in the `Authorization` header or a
//! presigned URL (`X-Amz-Expires` honoured), with a 15-minute clock skew; the payload's SHA-256 is
//! verified when the client signed it, and `aws-chunked` bodies are decoded with each chunk's
//! signature checked. Errors are S3's XML error documents. Versioning, ACLs, policies, tagging, SSE,
//! virtual-hosted-style addressing and Signature Version 2 are not implemented.
//!
//! The layout on disk is described in the `fs` module: `{root}/{bucket}/{key}` with metadata in
//! sidecars. A consequence: a key cannot be both an object and a `/`-prefix of another object
//! (`a` and `a/b`), and keys with empty, `.` or `..` segments are refused.
//!
//! ```
//! use fluxer_media::s3::{S3Config, S3Credentials, S3Service};
//!
//! let root = std::env::temp_dir().join(format!("fluxer-s3-doc-{}", std::process::id()));
//! let s3 = S3Service::new(S3Config {
//!     root: root.clone(),
//!     region: "us-east-1".into(),
//!     credentials: vec![S3Credentials {
//!         access_key_id: "fluxer".into(),
//!         secret_access_key: "a long random secret".into(),
//!     }],
//!     buckets: vec!["attachments".into()],
//!     max_object_bytes: 500 * 1024 * 1024,
//! })
//! .unwrap();
//! // The host mounts it; clients then use `http://host/s3` as their endpoint URL.
//! let app: axum::Router = axum::Router::new().nest("/s3", s3.router());
//! # drop(app);
//! # std::fs::remove_dir_all(root).unwrap();
//! ```

mod body;
mod buckets;
mod error;
mod exchange;
mod fs;
mod handlers;
mod listing;
mod multipart;
mod objects;
mod sigv4;
mod xml;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use serde::Deserialize;

/// The endpoint's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Config {
    /// The directory holding the buckets (created if missing).
    pub root: PathBuf,
    /// The region clients sign for, e.g. `us-east-1`.
    pub region: String,
    /// The accepted key pairs; every request must be signed with one of them.
    pub credentials: Vec<S3Credentials>,
    /// Buckets created at start if missing.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// The largest object, in bytes (a single upload, a copy, or a completed multipart upload).
    pub max_object_bytes: u64,
}

/// An access key and its secret.
#[derive(Clone, Deserialize)]
pub struct S3Credentials {
    /// The public half, sent in every request's credential scope.
    pub access_key_id: String,
    /// The signing secret; never sent.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3ConfigError {
    /// The storage directory (or a bucket's) could not be created.
    #[error("preparing the S3 storage directory {path}: {source}")]
    Storage {
        /// The directory that could not be created.
        path: PathBuf,
        /// The filesystem error.
        source: std::io::Error,
    },
    /// A configured bucket name breaks S3's naming rules.
    #[error("{0:?} is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")]
    InvalidBucketName(String),
    /// No credentials: the endpoint would refuse every request.
    #[error("the S3 endpoint needs at least one access key")]
    NoCredentials,
}

/// The endpoint: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct S3Service {
    shared: Arc<exchange::Shared>,
}

impl S3Service {
    /// Prepares the storage directory and the configured buckets. Runs blocking filesystem calls: call
    /// it at start-up.
    pub fn new(config: S3Config) -> Result<Self, S3ConfigError> {
        if config.credentials.is_empty() {
            return Err(S3ConfigError::NoCredentials);
        }
        let storage_error = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| S3ConfigError::Storage { path, source }
        };
        let storage =
            fs::Storage::prepare(config.root.clone()).map_err(storage_error(&config.root))?;
        for bucket in &config.buckets {
            if !fs::valid_bucket_name(bucket) {
                return Err(S3ConfigError::InvalidBucketName(bucket.clone()));
            }
            let dir = config.root.join(bucket);
            std::fs::create_dir_all(&dir).map_err(storage_error(&dir))?;
        }
        let verifier = sigv4::Verifier::new(
            config.region.clone(),
            config
                .credentials
                .into_iter()
                .map(|c| (c.access_key_id, c.secret_access_key)),
        );
        Ok(Self {
            shared: Arc::new(exchange::Shared {
                storage,
                verifier,
                region: config.region,
                max_object_bytes: config.max_object_bytes,
            }),
        })
    }

    /// The routes, to mount with `Router::nest("/s3", service.router())` (or at the root). Requests
    /// are verified against the path the client sent, mount prefix included.
    ///
    /// `nest` routes `/s3` but not `/s3/`: a client whose endpoint is `http://host/s3` sends
    /// `ListBuckets` to `/s3` (boto3, object_store do); one that adds the slash gets the host's 404 for
    /// that one call. Every bucket and object path (`/s3/{bucket}...`) is routed.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", any(handlers::handle))
            .route("/{*path}", any(handlers::handle))
            .fallback(handlers::handle)
            .with_state(self.shared.clone())
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn service(root: &std::path::Path) -> S3Service {
        S3Service::new(S3Config {
            root: root.to_owned(),
            region: "us-east-1".into(),
            credentials: vec![S3Credentials {
                access_key_id: "key".into(),
                secret_access_key: "secret".into(),
            }],
            buckets: vec!["ready".into()],
            max_object_bytes: 1024,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn every_path_under_the_mount_reaches_the_endpoint() {
        let root = tempfile::tempdir().unwrap();
        let app = axum::Router::new().nest("/s3", service(root.path()).router());
        // (`/s3/` itself is not routed by `nest`: see `S3Service::router`.)
        for path in ["/s3", "/s3/ready", "/s3/ready/", "/s3/ready/a/b.txt"] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(response.headers().contains_key("x-amz-request-id"));
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("<Code>AccessDenied</Code>"), "{path}: {body}");
            assert!(
                body.contains(&format!("<Resource>{path}</Resource>")),
                "{body}"
            );
        }
        assert!(root.path().join("ready").is_dir());
    }

    #[test]
    fn configuration_is_checked() {
        let root = tempfile::tempdir().unwrap();
        let config = |buckets: Vec<String>, credentials: Vec<S3Credentials>| S3Config {
            root: root.path().to_owned(),
            region: "us-east-1".into(),
            credentials,
            buckets,
            max_object_bytes: 1,
        };
        let key = || {
            vec![S3Credentials {
                access_key_id: "k".into(),
                secret_access_key: "s".into(),
            }]
        };
        assert!(matches!(
            S3Service::new(config(vec!["../escape".into()], key())),
            Err(S3ConfigError::InvalidBucketName(_))
        ));
        assert!(matches!(
            S3Service::new(config(Vec::new(), Vec::new())),
            Err(S3ConfigError::NoCredentials)
        ));
        assert!(!format!("{:?}", key()).contains("\"s\""));
    }
}
