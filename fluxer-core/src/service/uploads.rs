//! Uploads: message attachments (multipart files), avatars, guild icons and banners (data URIs, as
//! Discord and upstream take them).
//!
//! Every upload is sniffed from its bytes by the [`Media`](crate::ports::Media) port (the client's
//! content type is never trusted), size-limited, stored in the blob store under upstream's key layout,
//! and referenced by key: `attachments/{channel_id}/{attachment_id}/{filename}` for files,
//! `{avatars|icons|banners}/{id}/{hash}` for images (the hash is `a_`-prefixed when animated, and the
//! key drops the prefix). Responses carry URLs built from the key at response time, so they can be
//! signed with an expiry. Removing a message or replacing an image removes its blobs through a job.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Actor, Fluxer, Limits, MessageCreate, jobs::Task};
use crate::error::{Error, Result, Unknown};
use crate::id::{AttachmentId, ChannelId, MessageId};
use crate::model::{Attachment, Embed, Encoded, Message, MessageResponse};
use crate::permission::Permissions;
use crate::ports::{BlobStore, EventKind, Media};
use crate::validation::Validator;

/// A file sent with a message.
#[derive(Debug, Clone)]
pub struct Upload {
    /// As the client named it (sanitized before use).
    pub filename: String,
    /// The file's contents; at most `attachment_bytes` (`FILE_SIZE_TOO_LARGE`). The type is sniffed from
    /// them.
    pub bytes: Vec<u8>,
    /// From the message's `attachments[n].description`.
    pub description: Option<String>,
}

/// Attachment flag: the file is a spoiler (its name starts with `SPOILER_`).
pub(super) const ATTACHMENT_IS_SPOILER: u32 = 1 << 3;
/// Attachment flag: an animated image.
pub(super) const ATTACHMENT_IS_ANIMATED: u32 = 1 << 5;
/// Largest avatar, icon or banner.
pub(super) const MAX_IMAGE_BYTES: usize = 10 << 20;

/// A file name safe in a URL path and on any filesystem: the last path segment, with anything but
/// ASCII letters, digits, `.`, `-` and `_` replaced by `_`, no leading dot, at most 128 characters
/// (keeping the extension).
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while out.starts_with('.') {
        out.remove(0);
    }
    if out.len() > 128 {
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_owned())
            .filter(|e| e.len() <= 16)
            .unwrap_or_default();
        out.truncate(128 - ext.len());
        out.push_str(&ext);
    }
    if out.is_empty() || out.chars().all(|c| c == '_' || c == '.') {
        "file".to_owned()
    } else {
        out
    }
}

pub(super) fn attachment_key(channel: ChannelId, id: AttachmentId, filename: &str) -> String {
    format!("attachments/{channel}/{id}/{filename}")
}

/// Where an image of `kind` (`avatars`, `icons`, `banners`) with `hash` is stored.
pub fn image_key(kind: &str, owner: impl std::fmt::Display, hash: &str) -> String {
    format!("{kind}/{owner}/{}", hash.strip_prefix("a_").unwrap_or(hash))
}

impl Fluxer {
    pub(crate) fn upload_ports(&self) -> Result<(&dyn BlobStore, &dyn Media)> {
        match (self.ports().blobs.as_deref(), self.ports().media.as_deref()) {
            (Some(b), Some(m)) => Ok((b, m)),
            _ => Err(Error::Unavailable {
                code: "UPLOADS_UNAVAILABLE",
                message: "This instance has no file storage configured.".to_owned(),
            }),
        }
    }

    /// Posts a message with files: checks the caller may attach files here, stores each file, then
    /// sends the message. Files stored for a message that is then refused are removed again.
    pub async fn send_message_with_files(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        mut req: MessageCreate,
        files: Vec<Upload>,
    ) -> Result<Encoded<MessageResponse>> {
        if files.is_empty() {
            return self.send_message(actor, channel_id, req).await;
        }
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(
            Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES | Permissions::ATTACH_FILES,
        )?;
        let limits = self.limits_for(&actor.user).await?;
        let stored = self.store_attachments(channel_id, files, &limits).await?;
        let keys: Vec<String> = stored.iter().map(|a| a.url.clone()).collect();
        req.attachments = stored;
        match self.send_message(actor, channel_id, req).await {
            Ok(m) => Ok(m),
            Err(e) => {
                self.delete_blobs_later(keys).await;
                Err(e)
            }
        }
    }

    /// Validates the files of a new message in `channel_id` against `limits` (the sender's, which
    /// trait rules may raise, as the message itself is checked) and stores them; the attachments to
    /// put on it. Nothing stays stored when one fails.
    pub(crate) async fn store_attachments(
        &self,
        channel_id: ChannelId,
        files: Vec<Upload>,
        limits: &Limits,
    ) -> Result<Vec<Attachment>> {
        let mut v = Validator::new();
        v.count("files", files.len(), limits.attachments_per_message);
        for (i, f) in files.iter().enumerate() {
            if f.bytes.len() as u64 > limits.attachment_bytes {
                return Err(Error::rejected(
                    "FILE_SIZE_TOO_LARGE",
                    format!("Files may be at most {} bytes.", limits.attachment_bytes),
                ));
            }
            if let Some(d) = &f.description {
                v.length(&format!("attachments.{i}.description"), d, 0, 1024);
            }
        }
        v.finish()?;
        let (blobs, media) = self.upload_ports()?;
        let mut stored = Vec::with_capacity(files.len());
        for file in files {
            let info = media.inspect(&file.bytes);
            let filename = sanitize_filename(&file.filename);
            let id: AttachmentId = self.next_id();
            let key = attachment_key(channel_id, id, &filename);
            let size = file.bytes.len() as u64;
            let put = blobs.put(&key, file.bytes, Some(&info.content_type)).await;
            if let Err(e) = put {
                self.delete_blobs_later(stored.iter().map(|a: &Attachment| a.url.clone()))
                    .await;
                return Err(e.into());
            }
            let mut flags = 0;
            if filename.starts_with("SPOILER_") {
                flags |= ATTACHMENT_IS_SPOILER;
            }
            if info.animated {
                flags |= ATTACHMENT_IS_ANIMATED;
            }
            stored.push(Attachment {
                id,
                filename,
                size,
                url: key.clone(),
                proxy_url: key,
                content_type: Some(info.content_type),
                width: info.width,
                height: info.height,
                description: file.description,
                flags,
            });
        }
        Ok(stored)
    }

    /// The URLs of a stored attachment for a response: signed media URLs for files stored here;
    /// attachments a host stored elsewhere keep the URLs it gave.
    pub(crate) fn attachment_for_response(&self, a: &Attachment) -> Attachment {
        let mut out = a.clone();
        if let Some(media) = self.ports().media.as_deref()
            && a.url.starts_with("attachments/")
        {
            out.url = media.public_url(&a.url);
            out.proxy_url = out.url.clone();
        }
        out
    }

    /// An embed for a response: its images and video get a `proxy_url` (and its author's and
    /// footer's icons a `proxy_icon_url`) through the media proxy, as upstream serves them; the
    /// stored embed keeps only the original URLs.
    pub(crate) fn embed_for_response(&self, e: &Embed) -> Embed {
        let media = self.ports().media.as_deref();
        let mut out = e.clone();
        // Always ours: a proxy URL a sender wrote would have viewers' clients load it directly.
        let proxied = |value: &mut Option<serde_json::Value>, from: &str, to: &str| {
            if let Some(serde_json::Value::Object(fields)) = value {
                fields.remove(to);
                if let Some(url) = fields.get(from).and_then(|u| u.as_str())
                    && let Some(proxy) = media.and_then(|m| m.external_url(url))
                {
                    fields.insert(to.to_owned(), serde_json::Value::String(proxy));
                }
            }
        };
        for media_object in [&mut out.image, &mut out.thumbnail, &mut out.video] {
            proxied(media_object, "url", "proxy_url");
        }
        proxied(&mut out.author, "icon_url", "proxy_icon_url");
        proxied(&mut out.footer, "icon_url", "proxy_icon_url");
        out
    }

    /// Removes blobs in the background (idempotent: a missing blob is not an error).
    pub(crate) async fn delete_blobs_later(&self, keys: impl IntoIterator<Item = String>) {
        let keys: Vec<String> = keys.into_iter().collect();
        if keys.is_empty() || self.ports().blobs.is_none() {
            return;
        }
        let _ = self.enqueue(Task::DeleteBlobs { keys }).await;
    }

    /// Removes the stored files of messages that were deleted.
    pub(crate) async fn delete_message_files(&self, messages: &[Message]) {
        let keys = messages
            .iter()
            .flat_map(|m| m.attachments.iter())
            .filter(|a| a.url.starts_with("attachments/"))
            .map(|a| a.url.clone());
        self.delete_blobs_later(keys).await;
    }

    /// Stores an avatar, icon or banner given as a data URI (`data:image/png;base64,...`); returns
    /// its hash (`a_`-prefixed when animated).
    pub(crate) async fn store_image(
        &self,
        field: &str,
        kind: &str,
        owner: impl std::fmt::Display,
        data_uri: &str,
    ) -> Result<String> {
        let invalid = |message: &str| Error::field(field, "INVALID_IMAGE", message.to_owned());
        let (blobs, media) = self.upload_ports()?;
        let encoded = data_uri
            .strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
            .map(|(_, data)| data)
            .ok_or_else(|| invalid("Images are data URIs: data:image/png;base64,..."))?;
        if encoded.len() > MAX_IMAGE_BYTES / 3 * 4 + 4 {
            return Err(Error::field(
                field,
                "FILE_TOO_LARGE",
                format!("Images may be at most {MAX_IMAGE_BYTES} bytes."),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid("The image is not valid base64."))?;
        let info = media.inspect(&bytes);
        if !matches!(
            info.content_type.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        ) || info.width.is_none()
        {
            return Err(invalid("Use a PNG, JPEG, GIF or WebP image."));
        }
        let digest = Sha256::digest(&bytes);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let hash = if info.animated {
            format!("a_{hex}")
        } else {
            hex
        };
        blobs
            .put(
                &image_key(kind, owner, &hash),
                bytes,
                Some(&info.content_type),
            )
            .await?;
        Ok(hash)
    }
}

impl Fluxer {
    /// `DELETE /channels/{c}/messages/{m}/attachments/{a}`: the author removes one file from a
    /// message (deleted later from the blob store); removing the last file of a message with
    /// nothing else in it deletes the message. `MESSAGE_UPDATE` (or `MESSAGE_DELETE`) follows.
    pub async fn delete_attachment(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        attachment_id: AttachmentId,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let mut message = self.load_message(channel_id, message_id).await?;
        if message.author_id != actor.id() || message.webhook_id.is_some() {
            return Err(Error::MissingPermissions);
        }
        let Some(position) = message
            .attachments
            .iter()
            .position(|a| a.id == attachment_id)
        else {
            return Err(Error::Unknown(Unknown::Message));
        };
        if message.attachments.len() == 1
            && message.content.trim().is_empty()
            && message.embeds.is_empty()
        {
            return self.delete_message(actor, channel_id, message_id).await;
        }
        let removed = message.attachments.remove(position);
        self.store().update_message(&message).await?;
        self.delete_blobs_later([removed.url]).await;
        self.index_later(&[(channel_id, message_id)]).await;
        let response = self.message_response(actor.id(), message).await?;
        self.emit_channel_event(EventKind::MessageUpdate, &access.channel, &response)
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_made_safe() {
        assert_eq!(sanitize_filename("cat.png"), "cat.png");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_filename("C:\\Users\\me\\photo 1.JPG"),
            "photo_1.JPG"
        );
        assert_eq!(sanitize_filename(".htaccess"), "htaccess");
        assert_eq!(sanitize_filename("<script>.html"), "_script_.html");
        assert_eq!(sanitize_filename("日本.txt"), "__.txt");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("..."), "file");
        let long = format!("{}.png", "a".repeat(300));
        let s = sanitize_filename(&long);
        assert_eq!(s.len(), 128);
        assert!(s.ends_with(".png"));
    }

    #[test]
    fn image_keys_drop_the_animated_prefix() {
        assert_eq!(image_key("avatars", 42, "a_abc"), "avatars/42/abc");
        assert_eq!(image_key("icons", 7, "def"), "icons/7/def");
    }
}
