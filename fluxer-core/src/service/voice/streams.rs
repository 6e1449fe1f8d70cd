//! Screen-share streams: the preview thumbnails viewers see before they watch
//! (`GET`/`POST /streams/{stream_key}/preview`) and a stream's preferred region
//! (`PATCH /streams/{stream_key}/stream`).
//!
//! A stream key is upstream's `{guild_id}:{channel_id}:{connection_id}` (`dm` in place of the guild
//! for DM calls). Anyone who may connect to the channel may look at a preview, as upstream; only
//! the streamer (the user whose voice connection the key names, in that channel, with `STREAM`)
//! may set one — upstream lets anyone with `CONNECT` overwrite another's preview, which we do not.
//! Previews live in the blob store for a day, like upstream's S3 objects.

use base64::Engine;
use serde::Deserialize;

use super::*;
use crate::ports::BlobStore;
use crate::validation::Validator;

/// Largest decoded preview (upstream's `STREAM_PREVIEW_MAX_BYTES`).
pub const STREAM_PREVIEW_MAX_BYTES: usize = 1_000_000;
/// Longest base64 thumbnail accepted in the body (upstream's schema).
const MAX_THUMBNAIL_CHARS: usize = 2_000_000;
/// Longest stream key (upstream's `StreamKeyParam`).
const MAX_STREAM_KEY_CHARS: usize = 256;
/// How long a preview (and a stream's region) is kept.
const PREVIEW_TTL_MS: i64 = 24 * 3600 * 1000;
/// Where previews live in the blob store.
const PREVIEW_PREFIX: &str = "stream_previews/";

/// The body of `POST /streams/{stream_key}/preview`.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamPreviewUpload {
    /// The channel the stream is in (must be the key's).
    pub channel_id: ChannelId,
    /// The JPEG, base64.
    pub thumbnail: String,
    /// Its MIME type, if the client says.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// The body of `PATCH /streams/{stream_key}/stream`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamUpdate {
    /// The preferred voice region for the stream.
    #[serde(default)]
    pub region: Option<String>,
}

/// A stored preview.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPreview {
    /// The JPEG bytes.
    pub bytes: Vec<u8>,
    /// Always `image/jpeg` (only JPEGs are accepted, and a client-chosen type is never served).
    pub content_type: &'static str,
}

/// A parsed stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamKey {
    guild: Option<GuildId>,
    channel: ChannelId,
    connection_id: String,
}

fn bad_key() -> Error {
    refused("INVALID_STREAM_KEY_FORMAT", "Invalid stream key format")
}

impl StreamKey {
    /// Upstream's format; the connection id is also held to what a connection id can be (our
    /// ids are hex; upstream's any non-empty text), since it becomes part of a blob path.
    fn parse(raw: &str) -> Result<StreamKey> {
        if raw.is_empty() || raw.len() > MAX_STREAM_KEY_CHARS {
            return Err(Error::field(
                "stream_key",
                "BASE_TYPE_STRING_LENGTH",
                format!("Must be between 1 and {MAX_STREAM_KEY_CHARS} characters."),
            ));
        }
        let mut parts = raw.split(':');
        let (Some(scope), Some(channel), Some(connection), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad_key());
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(channel)
            || connection.is_empty()
            || connection.len() > 64
            || !connection
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad_key());
        }
        let guild = match scope {
            "dm" => None,
            s if digits(s) => Some(GuildId::new(s.parse().map_err(|_| bad_key())?)),
            _ => return Err(bad_key()),
        };
        Ok(StreamKey {
            guild,
            channel: ChannelId::new(channel.parse().map_err(|_| bad_key())?),
            connection_id: connection.to_owned(),
        })
    }

    fn blob_key(&self) -> String {
        let scope = self
            .guild
            .map_or_else(|| "dm".to_owned(), |g| g.to_string());
        format!(
            "{PREVIEW_PREFIX}{scope}/{}/{}.jpg",
            self.channel, self.connection_id
        )
    }
}

/// Upstream's test: a JPEG by its declared type, or by its start and end markers.
fn is_jpeg(bytes: &[u8], content_type: Option<&str>) -> bool {
    let declared = content_type
        .map(str::to_ascii_lowercase)
        .is_some_and(|t| t.contains("jpeg") || t.contains("jpg"));
    declared
        || (bytes.len() > 3 && bytes.starts_with(&[0xff, 0xd8]) && bytes.ends_with(&[0xff, 0xd9]))
}

impl Fluxer {
    fn preview_blobs(&self) -> Result<&dyn BlobStore> {
        self.inner
            .ports
            .blobs
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "STREAM_PREVIEWS_UNAVAILABLE",
                message:
                    "Stream previews need blob storage, which this instance has not configured."
                        .to_owned(),
            })
    }

    /// Upstream's checks: the caller sees `channel`, may connect there (guild channels), the
    /// key's scope is the channel's guild (or `dm`) and its channel is `channel`.
    async fn stream_channel_access(
        &self,
        user: UserId,
        channel: ChannelId,
        key: &StreamKey,
    ) -> Result<crate::service::access::ChannelAccess> {
        let access = self.channel_access(user, channel).await?;
        match access.channel.guild_id {
            Some(g) => {
                if key.guild != Some(g) {
                    return Err(refused(
                        "STREAM_KEY_SCOPE_MISMATCH",
                        "Stream key scope does not match the channel",
                    ));
                }
                access.require(Permissions::CONNECT)?;
            }
            None if key.guild.is_some() => {
                return Err(refused(
                    "STREAM_KEY_SCOPE_MISMATCH",
                    "Stream key scope does not match the channel",
                ));
            }
            None => {}
        }
        if key.channel != channel {
            return Err(refused(
                "STREAM_KEY_CHANNEL_MISMATCH",
                "Stream key does not match the channel",
            ));
        }
        Ok(access)
    }

    /// Only the streamer changes its stream: the key's connection is the caller's, in that
    /// channel, and (in a guild) the caller may stream there.
    async fn require_own_stream(
        &self,
        user: UserId,
        key: &StreamKey,
        access: &crate::service::access::ChannelAccess,
    ) -> Result<()> {
        let own = self
            .voice_connection(&key.connection_id)
            .await?
            .is_some_and(|c| {
                c.state.user_id == user
                    && c.state.channel_id == Some(key.channel)
                    && c.state.guild_id == key.guild
            });
        if !own {
            return Err(Error::MissingPermissions);
        }
        if key.guild.is_some() {
            access.require(Permissions::STREAM)?;
        }
        Ok(())
    }

    /// `POST /streams/{stream_key}/preview`: stores the streamer's preview JPEG. Refusals change
    /// nothing.
    pub async fn upload_stream_preview(
        &self,
        user: UserId,
        stream_key: &str,
        upload: StreamPreviewUpload,
    ) -> Result<()> {
        let mut v = Validator::new();
        v.length("thumbnail", &upload.thumbnail, 1, MAX_THUMBNAIL_CHARS);
        if let Some(t) = &upload.content_type {
            v.length("content_type", t, 1, 64);
        }
        v.finish()?;
        let key = StreamKey::parse(stream_key)?;
        let access = self
            .stream_channel_access(user, upload.channel_id, &key)
            .await?;
        self.require_own_stream(user, &key, &access).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(upload.thumbnail.trim())
            .map_err(|_| {
                refused(
                    "INVALID_STREAM_THUMBNAIL_PAYLOAD",
                    "Invalid stream thumbnail payload",
                )
            })?;
        if bytes.is_empty() {
            return Err(refused(
                "STREAM_THUMBNAIL_PAYLOAD_EMPTY",
                "Stream thumbnail payload is empty",
            ));
        }
        if !is_jpeg(&bytes, upload.content_type.as_deref()) {
            return Err(refused("PREVIEW_MUST_BE_JPEG", "Preview must be a JPEG"));
        }
        if bytes.len() > STREAM_PREVIEW_MAX_BYTES {
            return Err(refused("FILE_SIZE_TOO_LARGE", "File size is too large"));
        }
        self.preview_blobs()?
            .put(&key.blob_key(), bytes, Some("image/jpeg"))
            .await?;
        Ok(())
    }

    /// `GET /streams/{stream_key}/preview`: the stream's preview, for anyone who may connect to
    /// its channel; `None` when there is none (or it is older than a day).
    pub async fn stream_preview(
        &self,
        user: UserId,
        stream_key: &str,
    ) -> Result<Option<StreamPreview>> {
        let key = StreamKey::parse(stream_key)?;
        self.stream_channel_access(user, key.channel, &key).await?;
        let blobs = self.preview_blobs()?;
        let Some((meta, bytes)) = blobs.get(&key.blob_key()).await? else {
            return Ok(None);
        };
        if self.now().unix_ms() - meta.last_modified.unix_ms() > PREVIEW_TTL_MS {
            blobs.delete(&meta.key).await?;
            return Ok(None);
        }
        Ok(Some(StreamPreview {
            bytes,
            content_type: "image/jpeg",
        }))
    }

    /// `PATCH /streams/{stream_key}/stream`: the streamer's preferred region for the stream,
    /// kept a day (as upstream, which stores it and reads it nowhere yet).
    pub async fn update_stream(
        &self,
        user: UserId,
        stream_key: &str,
        update: StreamUpdate,
    ) -> Result<()> {
        let mut v = Validator::new();
        if let Some(r) = &update.region {
            v.length("region", r, 1, 64);
        }
        v.finish()?;
        let key = StreamKey::parse(stream_key)?;
        let access = self.stream_channel_access(user, key.channel, &key).await?;
        self.require_own_stream(user, &key, &access).await?;
        let value = json!({ "region": update.region, "updated_at": self.now().unix_ms() });
        self.inner
            .ports
            .cache
            .set(
                &format!("stream_region:{stream_key}"),
                value.to_string().as_bytes(),
                Some(Duration::from_millis(PREVIEW_TTL_MS as u64)),
            )
            .await?;
        Ok(())
    }

    /// Deletes previews older than a day. Run now and then (the voice sweep does); returns how
    /// many went.
    pub async fn sweep_stream_previews(&self) -> Result<usize> {
        let Some(blobs) = self.inner.ports.blobs.as_deref() else {
            return Ok(0);
        };
        let cutoff = self.now().unix_ms() - PREVIEW_TTL_MS;
        let mut gone = 0;
        for meta in blobs.list(PREVIEW_PREFIX).await? {
            if meta.last_modified.unix_ms() < cutoff && blobs.delete(&meta.key).await? {
                gone += 1;
            }
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_parse_as_upstream() {
        let k = StreamKey::parse("12:34:abc123").unwrap();
        assert_eq!(k.guild, Some(GuildId::new(12)));
        assert_eq!(k.channel, ChannelId::new(34));
        assert_eq!(k.connection_id, "abc123");
        assert_eq!(k.blob_key(), "stream_previews/12/34/abc123.jpg");
        let dm = StreamKey::parse("dm:34:abc").unwrap();
        assert_eq!(dm.guild, None);
        assert_eq!(dm.blob_key(), "stream_previews/dm/34/abc.jpg");
        for bad in [
            "12:34",
            "12:34:abc:d",
            "x:34:abc",
            "12:x:abc",
            "12:34:",
            "12::abc",
            "12:34:../../etc",
            "12:99999999999999999999999:abc",
        ] {
            assert!(StreamKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jpegs_are_known_by_type_or_markers() {
        assert!(is_jpeg(b"anything", Some("image/JPEG")));
        assert!(is_jpeg(&[0xff, 0xd8, 0x00, 0xff, 0xd9], None));
        assert!(!is_jpeg(b"\x89PNG....", Some("image/png")));
        assert!(!is_jpeg(&[0xff, 0xd8, 0x00, 0x00], None));
    }
}
