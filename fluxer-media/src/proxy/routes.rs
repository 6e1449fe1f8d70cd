//! The HTTP routes and the path from a request to a served rendition.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::cache::{CacheKey, Variant};
use super::error::MediaError;
use super::render::{Rendition, render_image};
use super::serve::{self, Entity, quote};
use super::signing::decode_external_url;
use super::transform::{OutputFormat, Transform};
use super::video::{self, is_video};
use super::{MediaProxy, external};

pub(super) fn router(proxy: MediaProxy) -> Router {
    Router::new()
        .route("/_health", get(|| async { "OK" }))
        .route(
            "/attachments/{channel_id}/{attachment_id}/{filename}",
            signed_file_route("attachments"),
        )
        .route(
            "/memes/{user_id}/{meme_id}/{filename}",
            signed_file_route("memes"),
        )
        // Copies of reported files, kept for staff (only admin views hand out their links).
        .route(
            "/reports/{report_id}/{attachment_id}/{filename}",
            signed_file_route("reports"),
        )
        .route("/avatars/{id}/{filename}", asset_route("avatars"))
        .route("/icons/{id}/{filename}", asset_route("icons"))
        .route("/banners/{id}/{filename}", asset_route("banners"))
        .route("/emojis/{filename}", expression_route("emojis"))
        .route("/stickers/{filename}", expression_route("stickers"))
        .route("/themes/{filename}", get(theme))
        .route("/external/{sig}/v2/{encoded}", get(external))
        .with_state(proxy)
}

/// Files behind signed links: message attachments (`attachments/{channel}/{id}/{name}`), saved
/// media (`memes/{user}/{id}/{name}`) and reported files' copies (`reports/{report}/{id}/{name}`).
fn signed_file_route(kind: &'static str) -> MethodRouter<MediaProxy> {
    get(
        move |State(proxy): State<MediaProxy>,
              Path((owner, id, filename)): Path<(String, String, String)>,
              uri: Uri,
              headers: HeaderMap| async move {
            // Nested under the host's prefix, `uri` is relative to the mount: what the API signed.
            let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            proxy.signer().verify(path_and_query, now_unix_secs())?;
            numeric_id(&owner)?;
            numeric_id(&id)?;
            file_name(&filename)?;
            let transform = Transform::parse(uri.query().unwrap_or_default())?;
            let key = format!("{kind}/{owner}/{id}/{filename}");
            proxy
                .serve_blob(&key, Some(&filename), transform, &headers)
                .await
        },
    )
}

fn asset_route(kind: &'static str) -> MethodRouter<MediaProxy> {
    get(
        move |State(proxy): State<MediaProxy>,
              Path((id, filename)): Path<(String, String)>,
              uri: Uri,
              headers: HeaderMap| async move {
            proxy
                .serve_asset(
                    kind,
                    &id,
                    &filename,
                    uri.query().unwrap_or_default(),
                    &headers,
                )
                .await
        },
    )
}

fn expression_route(kind: &'static str) -> MethodRouter<MediaProxy> {
    get(
        move |State(proxy): State<MediaProxy>,
              Path(filename): Path<String>,
              uri: Uri,
              headers: HeaderMap| async move {
            proxy
                .serve_expression(kind, &filename, uri.query().unwrap_or_default(), &headers)
                .await
        },
    )
}

/// A shared theme's CSS (`themes/{16 hex}.css`), public as upstream serves it.
async fn theme(
    State(proxy): State<MediaProxy>,
    Path(filename): Path<String>,
    headers: HeaderMap,
) -> Result<Response, MediaError> {
    let id = filename
        .strip_suffix(".css")
        .filter(|id| {
            id.len() == 16
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or(MediaError::NotFound)?;
    let blobs = &*proxy.inner.blobs;
    let meta = blobs
        .head(&fluxer_core::service::theme_key(id))
        .await?
        .ok_or(MediaError::NotFound)?;
    serve::respond_stored(&headers, blobs, &meta, None).await
}

async fn external(
    State(proxy): State<MediaProxy>,
    Path((sig, encoded)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, MediaError> {
    let config = &proxy.inner.config;
    if !config.external.enabled {
        return Err(MediaError::ExternalDisabled);
    }
    proxy
        .signer()
        .verify_external(&format!("v2/{encoded}"), &sig)?;
    let url = decode_external_url(&encoded)?;
    let transform = Transform::parse(uri.query().unwrap_or_default())?;
    let source = format!("external:{url}");
    let original_key = CacheKey {
        source: source.clone(),
        etag: String::new(),
        transform: String::new(),
    };
    let original = proxy
        .inner
        .cache
        .get_or_render(original_key, || async {
            let fetched = external::fetch(&config.external, &url).await?;
            Ok(Variant {
                etag: content_etag(&fetched.bytes),
                bytes: fetched.bytes,
                content_type: fetched.content_type,
            })
        })
        .await?;
    if transform.is_identity() {
        return respond_variant(&headers, &original, None);
    }
    if original.bytes.len() as u64 > config.max_source_bytes {
        return Err(MediaError::SourceTooLarge {
            limit: config.max_source_bytes,
        });
    }
    let key = CacheKey {
        source,
        etag: original.etag.clone(),
        transform: transform.key(),
    };
    let variant = proxy
        .inner
        .cache
        .get_or_render(key, || {
            proxy.render_source(
                original.bytes.clone(),
                Some(&original.content_type),
                &transform,
                &original.etag,
            )
        })
        .await?;
    respond_variant(&headers, &variant, None)
}

impl MediaProxy {
    /// Avatars, icons and banners: `{hash}.{ext}`, public.
    async fn serve_asset(
        &self,
        kind: &str,
        id: &str,
        filename: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<Response, MediaError> {
        numeric_id(id)?;
        let bad_name = || MediaError::InvalidPath("file name must be {hash}.{ext}".into());
        let (hash, extension) = filename.split_once('.').ok_or_else(bad_name)?;
        let word =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !word(hash) || !word(extension) || extension.contains('_') {
            return Err(bad_name());
        }
        let animated = hash.starts_with("a_");
        let stored_hash = hash.strip_prefix("a_").unwrap_or(hash);
        if stored_hash.is_empty() {
            return Err(bad_name());
        }
        let mut transform = Transform::parse(query)?;
        if transform.format.is_none() {
            transform.format = OutputFormat::parse(extension)?;
        }
        transform.animated = transform.animated.or(Some(animated));
        let key = format!("{kind}/{id}/{stored_hash}");
        self.serve_blob(&key, None, transform, headers).await
    }

    /// Custom emojis and stickers: `{id}.{ext}`, public. The extension picks the format (as for
    /// avatars); the first frame unless `animated=true` (or a `.gif`).
    async fn serve_expression(
        &self,
        kind: &str,
        filename: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<Response, MediaError> {
        let bad_name = || MediaError::InvalidPath("file name must be {id}.{ext}".into());
        let (id, extension) = filename.split_once('.').ok_or_else(bad_name)?;
        numeric_id(id)?;
        if extension.is_empty() || !extension.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad_name());
        }
        let mut transform = Transform::parse(query)?;
        if transform.format.is_none() {
            transform.format = OutputFormat::parse(extension)?;
        }
        transform.animated = transform.animated.or(Some(extension == "gif"));
        self.serve_blob(&format!("{kind}/{id}"), None, transform, headers)
            .await
    }

    /// A stored object, as it is or rendered.
    async fn serve_blob(
        &self,
        key: &str,
        filename: Option<&str>,
        transform: Transform,
        headers: &HeaderMap,
    ) -> Result<Response, MediaError> {
        let inner = &self.inner;
        let meta = inner.blobs.head(key).await?.ok_or(MediaError::NotFound)?;
        let plain_video = transform.format.is_none() && is_video(meta.content_type.as_deref(), &[]);
        if transform.is_identity() || plain_video {
            return serve::respond_stored(headers, &*inner.blobs, &meta, filename).await;
        }
        if meta.size > inner.config.max_source_bytes {
            return Err(MediaError::SourceTooLarge {
                limit: inner.config.max_source_bytes,
            });
        }
        let cache_key = CacheKey {
            source: key.to_owned(),
            etag: meta.etag.clone(),
            transform: transform.key(),
        };
        let variant = inner
            .cache
            .get_or_render(cache_key, || async {
                let (meta, bytes) = inner.blobs.get(key).await?.ok_or(MediaError::NotFound)?;
                self.render_source(
                    Bytes::from(bytes),
                    meta.content_type.as_deref(),
                    &transform,
                    &meta.etag,
                )
                .await
            })
            .await?;
        respond_variant(headers, &variant, filename)
    }

    /// Renders an image, or a video's first frame when a `format` is asked (a video without one is
    /// returned as it is).
    async fn render_source(
        &self,
        bytes: Bytes,
        content_type: Option<&str>,
        transform: &Transform,
        source_etag: &str,
    ) -> Result<Variant, MediaError> {
        let config = &self.inner.config;
        let etag = variant_etag(source_etag, transform);
        let _permit = self.inner.renders.acquire().await;
        let head = &bytes[..bytes.len().min(16)];
        let source = if is_video(content_type, head) {
            if transform.format.is_none() {
                return Ok(Variant {
                    bytes,
                    content_type: content_type
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                    etag,
                });
            }
            let ffmpeg = config
                .ffmpeg
                .clone()
                .unwrap_or_else(|| PathBuf::from("ffmpeg"));
            Bytes::from(video::first_frame(&ffmpeg, &bytes, config.ffmpeg_timeout).await?)
        } else {
            bytes
        };
        let (input, transform, max_pixels) = (source.clone(), *transform, config.max_pixels);
        let rendition =
            tokio::task::spawn_blocking(move || render_image(&input, &transform, max_pixels))
                .await
                // A panic inside a decoder is the input's doing: answer as for any undecodable image.
                .unwrap_or_else(|_| Err(MediaError::InvalidImage("the decoder failed".into())))?;
        Ok(match rendition {
            Rendition::Original { content_type } => Variant {
                bytes: source,
                content_type: content_type.to_owned(),
                etag,
            },
            Rendition::Rendered(rendered) => Variant {
                bytes: Bytes::from(rendered.bytes),
                content_type: rendered.content_type.to_owned(),
                etag,
            },
        })
    }
}

fn respond_variant(
    headers: &HeaderMap,
    variant: &Variant,
    filename: Option<&str>,
) -> Result<Response, MediaError> {
    let entity = Entity {
        content_type: &variant.content_type,
        etag: &variant.etag,
        size: variant.bytes.len() as u64,
        filename,
    };
    serve::respond_bytes(headers, &entity, variant.bytes.clone())
}

fn numeric_id(id: &str) -> Result<(), MediaError> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MediaError::InvalidPath("ids are numeric".into()));
    }
    Ok(())
}

/// One path segment of a blob key: no separators, traversal or control characters (a filesystem
/// backend maps keys to paths).
fn file_name(name: &str) -> Result<(), MediaError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(MediaError::InvalidPath("invalid file name".into()));
    }
    Ok(())
}

fn hex_digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0]);
    }
    let mut hex = String::with_capacity(32);
    for byte in &hasher.finalize()[..16] {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn variant_etag(source_etag: &str, transform: &Transform) -> String {
    quote(&hex_digest(&[
        source_etag.as_bytes(),
        transform.key().as_bytes(),
    ]))
}

fn content_etag(bytes: &[u8]) -> String {
    quote(&hex_digest(&[bytes]))
}

fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments() {
        assert!(numeric_id("123").is_ok());
        assert!(numeric_id("12a").is_err());
        assert!(numeric_id("").is_err());
        assert!(file_name("cat.png").is_ok());
        assert!(file_name("my cat (1).png").is_ok());
        for bad in ["", "..", ".", "a/b", "a\\b", "a\0b", "a\nb"] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }
}
