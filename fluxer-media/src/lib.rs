//! # fluxer-media
//!
//! Fluxer's media service as a library a host mounts in its own server:
//!
//! - [`proxy`]: the media proxy (`/media` in the monolith): attachments, avatars and icons served from the
//!   blob store with on-the-fly resizing and re-encoding, video thumbnails, signed URLs, and the SSRF-safe
//!   external URL proxy;
//! - [`s3`]: a filesystem-backed S3-compatible endpoint (`/s3` in the monolith);
//! - [`MediaLinks`]: `fluxer-core`'s `Media` port (upload sniffing, signed links into the proxy).

pub mod links;
pub mod proxy;
pub mod s3;

pub use links::MediaLinks;
