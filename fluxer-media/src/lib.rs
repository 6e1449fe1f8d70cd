//! # fluxer-media
//!
//! Fluxer's media service as a library a host mounts in its own server:
//!
//! - [`proxy`]: the media proxy (`/media` in the monolith): attachments, avatars and icons served from the
//!   blob store with on-the-fly resizing and re-encoding, video thumbnails, signed URLs, and the SSRF-safe
//!   external URL proxy;
//! - [`s3`]: a filesystem-backed S3-compatible endpoint (`/s3` in the monolith);
//! - [`avatars`]: the default avatars (PNG) of users without one;
//! - [`MediaLinks`]: `fluxer-core`'s `Media` port (upload sniffing, signed links into the proxy);
//! - [`GifApi`]: the `GifProvider` port at Tenor or KLIPY, and [`DomainChecks`]: the
//!   `DomainProbe` port (DNS TXT records, well-known files), both over the SSRF-safe fetcher.
//!
//! ```
//! use std::sync::Arc;
//!
//! use fluxer_media::proxy::{MediaConfig, MediaProxy};
//! use fluxer_storage::memory::MemoryBlobStore;
//!
//! let proxy = MediaProxy::new(Arc::new(MemoryBlobStore::new()), MediaConfig::new(b"a secret".to_vec()));
//! // Links into the proxy are signed and expire; a tampered or expired one is refused (403).
//! let link = proxy.signer().signed_path("/attachments/1/2/cat.png?width=256", 4_000_000_000);
//! assert!(proxy.signer().verify(&link, 1_700_000_000).is_ok());
//! assert!(proxy.signer().verify(&link.replace("cat.png", "dog.png"), 1_700_000_000).is_err());
//! assert!(proxy.signer().verify(&link, 4_000_000_001).is_err());
//! // Mount it: `axum::Router::new().nest("/media", proxy.router())`.
//! ```

pub mod avatars;
pub mod bluesky;
pub mod domains;
pub mod gifs;
pub mod links;
pub mod livekit;
pub mod oidc;
pub mod proxy;
pub mod push;
pub mod s3;
pub mod unfurl;

pub use bluesky::AtprotoOAuth;
pub use domains::DomainChecks;
pub use gifs::GifApi;
pub use links::MediaLinks;
pub use livekit::LiveKit;
pub use proxy::external::client_tls_config;
pub use push::WebPush;
pub use unfurl::LinkPreviews;

/// Seconds since the Unix epoch on the system clock (0 before it): the time signed tokens and
/// signed URLs carry.
pub(crate) fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
