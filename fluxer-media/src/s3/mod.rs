//! The built-in S3-compatible endpoint.
