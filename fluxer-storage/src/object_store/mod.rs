//! Blobs on the object_store crate: the local filesystem and S3-compatible endpoints.
