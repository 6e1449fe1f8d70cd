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

pub use error::S3Error;

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
    pub access_key_id: String,
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
    #[error("preparing the S3 storage directory {path}: {source}")]
    Storage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0:?} is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")]
    InvalidBucketName(String),
    #[error("the S3 endpoint needs at least one access key")]
    NoCredentials,
}

/// The endpoint: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct S3Service {
    shared: Arc<handlers::Shared>,
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
        let storage = fs::Storage::prepare(config.root.clone()).map_err(storage_error(&config.root))?;
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
            shared: Arc::new(handlers::Shared {
                storage,
                verifier,
                region: config.region,
                max_object_bytes: config.max_object_bytes,
            }),
        })
    }

    /// The routes, to mount with `Router::nest("/s3", service.router())` (or at the root). Requests
    /// are verified against the path the client sent, mount prefix included.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", any(handlers::handle))
            .route("/{*path}", any(handlers::handle))
            .fallback(handlers::handle)
            .with_state(self.shared.clone())
    }
}
