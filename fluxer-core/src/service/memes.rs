//! Favorite memes ("saved media"): images, videos and sounds a user keeps to send again, as
//! upstream. A meme is a copy of the file, taken from a message's attachment or embed
//! (`POST /channels/{c}/messages/{m}/memes`) or from a URL (`POST /users/@me/memes`), kept at
//! `memes/{user}/{id}/{filename}` in the blob store; sending a message with `favorite_meme_id`
//! attaches a copy. Each user keeps at most [`MAX_FAVORITE_MEMES`], without duplicates (by content
//! hash), and hears of every change on all of their sessions (`FAVORITE_MEME_CREATE`, `_UPDATE`,
//! `_DELETE`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::uploads::{ATTACHMENT_IS_ANIMATED, attachment_key, sanitize_filename};
use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{AttachmentId, ChannelId, MessageId, UserId};
use crate::model::Attachment;
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, PrivateDocument, Topic};
use crate::validation::Validator;

/// Memes one user keeps (upstream's limit without premium).
pub const MAX_FAVORITE_MEMES: usize = 50;
/// Tags on one meme.
const MAX_TAGS: usize = 10;

/// `FavoriteMemeResponse`, also the stored form (`url` is filled in for responses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FavoriteMeme {
    /// Its own snowflake.
    pub id: AttachmentId,
    /// Whose it is.
    pub user_id: UserId,
    /// 1 to 100 characters.
    pub name: String,
    /// Up to 500 characters.
    pub alt_text: Option<String>,
    /// Up to 10 tags of 1 to 30 characters.
    pub tags: Vec<String>,
    /// The stored copy's ID (the meme's own, as upstream).
    pub attachment_id: AttachmentId,
    /// The file name.
    pub filename: String,
    /// Sniffed from the bytes.
    pub content_type: String,
    /// SHA-256 of the bytes, hex.
    pub content_hash: Option<String>,
    /// In bytes.
    pub size: u64,
    /// Pixels, for images.
    pub width: Option<u32>,
    /// Pixels, for images.
    pub height: Option<u32>,
    /// Seconds, for videos and sounds (not measured here: always `null`).
    pub duration: Option<f64>,
    /// Where clients load it (signed, through the media proxy); empty as stored.
    #[serde(default)]
    pub url: String,
    /// A GIF shown as a looping video.
    pub is_gifv: bool,
    /// The KLIPY item it came from.
    pub klipy_slug: Option<String>,
    /// The Tenor item it came from (`view/{slug-id}`).
    pub tenor_slug_id: Option<String>,
}

impl FavoriteMeme {
    /// The stored copy's key in the blob store.
    pub fn blob_key(&self) -> String {
        format!("memes/{}/{}/{}", self.user_id, self.id, self.filename)
    }
}

/// `POST /channels/{c}/messages/{m}/memes`.
#[derive(Debug, Clone, Deserialize)]
pub struct MemeFromMessage {
    /// 1 to 100 characters.
    pub name: String,
    /// Up to 500 characters.
    #[serde(default)]
    pub alt_text: Option<String>,
    /// Up to 10 tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Which attachment (else the first one, or the first embed with media).
    #[serde(default)]
    pub attachment_id: Option<AttachmentId>,
    /// Which embed's image, video or thumbnail (wins over `attachment_id`).
    #[serde(default)]
    pub embed_index: Option<usize>,
}

/// `POST /users/@me/memes`.
#[derive(Debug, Clone, Deserialize)]
pub struct MemeFromUrl {
    /// An `http(s)` URL of an image, video or sound.
    pub url: String,
    /// 1 to 100 characters; the file name by default.
    #[serde(default)]
    pub name: Option<String>,
    /// Up to 500 characters.
    #[serde(default)]
    pub alt_text: Option<String>,
    /// Up to 10 tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The KLIPY item, 1 to 100 characters.
    #[serde(default)]
    pub klipy_slug: Option<String>,
    /// The Tenor item, 1 to 300 characters.
    #[serde(default)]
    pub tenor_slug_id: Option<String>,
}

/// `PATCH /users/@me/memes/{id}`: absent fields are left alone; `alt_text: null` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemeUpdate {
    /// 1 to 100 characters.
    pub name: Option<String>,
    /// Up to 500 characters.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub alt_text: Option<Option<String>>,
    /// Up to 10 tags.
    pub tags: Option<Vec<String>>,
}

/// Tags as kept: trimmed, blank ones dropped.
fn clean_tags(tags: Option<Vec<String>>) -> Vec<String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn validate_fields(v: &mut Validator, name: Option<&str>, alt: Option<&str>, tags: &[String]) {
    if let Some(name) = name {
        v.length("name", name.trim(), 1, 100);
    }
    v.opt_length("alt_text", alt, 0, 500);
    v.check(
        tags.len() <= MAX_TAGS,
        "tags",
        "MAX_FAVORITE_MEME_TAGS",
        "At most 10 tags.",
    );
    for (i, t) in tags.iter().enumerate() {
        v.length(&format!("tags.{i}"), t, 1, 30);
    }
}

/// A file about to become a meme.
struct Source {
    bytes: Vec<u8>,
    filename: String,
    alt_text: Option<String>,
    is_gifv: bool,
}

impl Fluxer {
    /// `GET /users/@me/memes`: newest first.
    pub async fn favorite_memes(&self, actor: &Actor) -> Result<Vec<FavoriteMeme>> {
        actor.require_person("Bots have no saved media.")?;
        self.memes_of(actor.id()).await
    }

    /// A user's memes, newest first, with their URLs (also for READY).
    pub async fn memes_of(&self, user: UserId) -> Result<Vec<FavoriteMeme>> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::FavoriteMeme)
            .await?;
        Ok(docs
            .iter()
            .rev()
            .filter_map(|(_, d)| serde_json::from_str(d).ok())
            .map(|m| self.with_url(m))
            .collect())
    }

    /// `GET /users/@me/memes/{id}`.
    pub async fn favorite_meme(&self, actor: &Actor, id: AttachmentId) -> Result<FavoriteMeme> {
        actor.require_person("Bots have no saved media.")?;
        let meme = self.stored_meme(actor.id(), id).await?;
        Ok(self.with_url(meme))
    }

    /// `POST /channels/{c}/messages/{m}/memes`: keeps a copy of an attachment (or embed media) of
    /// a message the caller can read.
    pub async fn save_meme_from_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        req: MemeFromMessage,
    ) -> Result<FavoriteMeme> {
        actor.require_person("Bots have no saved media.")?;
        self.check_meme_room(actor.id()).await?;
        let tags = clean_tags(req.tags);
        let mut v = Validator::new();
        validate_fields(&mut v, Some(&req.name), req.alt_text.as_deref(), &tags);
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY)?;
        let message = self
            .store()
            .get_message(channel_id, message_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Message))?;
        let source = match (req.embed_index, req.attachment_id) {
            (Some(i), _) => self.embed_source(&message.embeds, i).await?,
            (None, Some(id)) => {
                let a = message
                    .attachments
                    .iter()
                    .find(|a| a.id == id)
                    .ok_or_else(|| {
                        Error::field(
                            "preferred_attachment_id",
                            "ATTACHMENT_ID_NOT_FOUND_IN_MESSAGE",
                            "The message has no such attachment.",
                        )
                    })?;
                self.attachment_source(a).await?
            }
            (None, None) => match message.attachments.iter().find(|a| is_media(a)) {
                Some(a) => self.attachment_source(a).await?,
                None => {
                    let i = message
                        .embeds
                        .iter()
                        .position(|e| {
                            e.image.is_some() || e.video.is_some() || e.thumbnail.is_some()
                        })
                        .ok_or_else(no_media)?;
                    self.embed_source(&message.embeds, i).await?
                }
            },
        };
        let alt_text = req
            .alt_text
            .filter(|a| !a.trim().is_empty())
            .or(source.alt_text.clone());
        self.create_meme(
            actor,
            req.name.trim().to_owned(),
            alt_text,
            tags,
            source,
            None,
            None,
        )
        .await
    }

    /// `POST /users/@me/memes`: fetches the file at `url` (public addresses only) and keeps it.
    pub async fn save_meme_from_url(
        &self,
        actor: &Actor,
        req: MemeFromUrl,
    ) -> Result<FavoriteMeme> {
        actor.require_person("Bots have no saved media.")?;
        self.check_meme_room(actor.id()).await?;
        let tags = clean_tags(req.tags);
        let mut v = Validator::new();
        validate_fields(&mut v, req.name.as_deref(), req.alt_text.as_deref(), &tags);
        v.opt_length("klipy_slug", req.klipy_slug.as_deref(), 1, 100);
        v.opt_length("tenor_slug_id", req.tenor_slug_id.as_deref(), 1, 300);
        let url = url::Url::parse(req.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        v.check(url.is_some(), "url", "INVALID_URL", "Give an http(s) URL.");
        v.finish()?;
        let url = url.ok_or_else(no_media)?;
        let source = self.remote_source(url.as_str()).await?;
        let name = req
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| source.filename.chars().take(100).collect());
        let tenor = req.tenor_slug_id.map(|t| {
            if t.starts_with("view/") {
                t
            } else {
                format!("view/{t}")
            }
        });
        self.create_meme(
            actor,
            name,
            req.alt_text,
            tags,
            source,
            req.klipy_slug,
            tenor,
        )
        .await
    }

    /// `PATCH /users/@me/memes/{id}`.
    pub async fn update_favorite_meme(
        &self,
        actor: &Actor,
        id: AttachmentId,
        req: MemeUpdate,
    ) -> Result<FavoriteMeme> {
        actor.require_person("Bots have no saved media.")?;
        let tags = req.tags.clone().map(|t| clean_tags(Some(t)));
        let mut v = Validator::new();
        validate_fields(
            &mut v,
            req.name.as_deref(),
            req.alt_text.clone().flatten().as_deref(),
            tags.as_deref().unwrap_or_default(),
        );
        v.finish()?;
        let mut meme = self.stored_meme(actor.id(), id).await?;
        if let Some(name) = req.name {
            meme.name = name.trim().to_owned();
        }
        if let Some(alt) = req.alt_text {
            meme.alt_text = alt.filter(|a| !a.trim().is_empty());
        }
        if let Some(tags) = tags {
            meme.tags = tags;
        }
        self.put_meme(&meme).await?;
        let meme = self.with_url(meme);
        self.emit(Dispatch::new(
            EventKind::FavoriteMemeUpdate,
            Topic::User(actor.id()),
            &meme,
        ))
        .await;
        Ok(meme)
    }

    /// `DELETE /users/@me/memes/{id}`: deleting one that is not there is not an error (and says
    /// nothing).
    pub async fn delete_favorite_meme(&self, actor: &Actor, id: AttachmentId) -> Result<()> {
        actor.require_person("Bots have no saved media.")?;
        let Ok(meme) = self.stored_meme(actor.id(), id).await else {
            return Ok(());
        };
        self.store()
            .put_private_document(actor.id(), PrivateDocument::FavoriteMeme, id.get(), None)
            .await?;
        self.delete_blobs_later([meme.blob_key()]).await;
        self.emit(Dispatch::new(
            EventKind::FavoriteMemeDelete,
            Topic::User(actor.id()),
            &json!({ "meme_id": id }),
        ))
        .await;
        Ok(())
    }

    /// A copy of the user's meme as an attachment of a new message in `channel` (what
    /// `favorite_meme_id` on a message does); `FAVORITE_MEME_NOT_FOUND` for another's or none.
    pub(crate) async fn attach_meme(
        &self,
        user: UserId,
        channel: ChannelId,
        id: AttachmentId,
    ) -> Result<Attachment> {
        let meme = self.stored_meme(user, id).await.map_err(|_| {
            Error::field(
                "favorite_meme_id",
                "FAVORITE_MEME_NOT_FOUND",
                "No such saved media.",
            )
        })?;
        let (blobs, _) = self.upload_ports()?;
        let (_, bytes) = blobs
            .get(&meme.blob_key())
            .await?
            .ok_or_else(|| Error::Internal(format!("{} is gone", meme.blob_key())))?;
        let attachment: AttachmentId = self.next_id();
        let key = attachment_key(channel, attachment, &meme.filename);
        blobs.put(&key, bytes, Some(&meme.content_type)).await?;
        let animated = meme.is_gifv || meme.content_type == "image/gif";
        Ok(Attachment {
            id: attachment,
            filename: meme.filename,
            size: meme.size,
            url: key.clone(),
            proxy_url: key,
            content_type: Some(meme.content_type),
            width: meme.width,
            height: meme.height,
            description: meme.alt_text,
            flags: if animated { ATTACHMENT_IS_ANIMATED } else { 0 },
        })
    }

    /// Removes every meme of an account being erased (their files go later).
    pub(crate) async fn erase_memes(&self, user: UserId) -> Result<()> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::FavoriteMeme)
            .await?;
        let mut keys = Vec::new();
        for (key, doc) in docs {
            if let Ok(meme) = serde_json::from_str::<FavoriteMeme>(&doc) {
                keys.push(meme.blob_key());
            }
            self.store()
                .put_private_document(user, PrivateDocument::FavoriteMeme, key, None)
                .await?;
        }
        self.delete_blobs_later(keys).await;
        Ok(())
    }

    async fn check_meme_room(&self, user: UserId) -> Result<()> {
        let held = self
            .store()
            .list_private_documents(user, PrivateDocument::FavoriteMeme)
            .await?
            .len();
        if held >= MAX_FAVORITE_MEMES {
            return Err(Error::rejected(
                "MAX_FAVORITE_MEMES",
                format!("You can save at most {MAX_FAVORITE_MEMES} memes."),
            ));
        }
        Ok(())
    }

    async fn stored_meme(&self, user: UserId, id: AttachmentId) -> Result<FavoriteMeme> {
        self.store()
            .get_private_document(user, PrivateDocument::FavoriteMeme, id.get())
            .await?
            .and_then(|d| serde_json::from_str(&d).ok())
            .ok_or(Error::Unknown(Unknown::FavoriteMeme))
    }

    async fn put_meme(&self, meme: &FavoriteMeme) -> Result<()> {
        let stored = FavoriteMeme {
            url: String::new(),
            ..meme.clone()
        };
        let data = serde_json::to_string(&stored).map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(
                meme.user_id,
                PrivateDocument::FavoriteMeme,
                meme.id.get(),
                Some(&data),
            )
            .await?;
        Ok(())
    }

    fn with_url(&self, mut meme: FavoriteMeme) -> FavoriteMeme {
        if let Some(media) = self.ports().media.as_deref() {
            meme.url = media.public_url(&meme.blob_key());
        }
        meme
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_meme(
        &self,
        actor: &Actor,
        name: String,
        alt_text: Option<String>,
        tags: Vec<String>,
        source: Source,
        klipy_slug: Option<String>,
        tenor_slug_id: Option<String>,
    ) -> Result<FavoriteMeme> {
        let (blobs, media) = self.upload_ports()?;
        let hash: String = Sha256::digest(&source.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let duplicate = self
            .memes_of(actor.id())
            .await?
            .iter()
            .any(|m| m.content_hash.as_deref() == Some(hash.as_str()));
        if duplicate {
            return Err(Error::field(
                "media",
                "MEDIA_ALREADY_IN_FAVORITE_MEMES",
                "This is already in your saved media.",
            ));
        }
        let info = media.inspect(&source.bytes);
        let id: AttachmentId = self.next_id();
        let meme = FavoriteMeme {
            id,
            user_id: actor.id(),
            name,
            alt_text,
            tags,
            attachment_id: id,
            filename: source.filename,
            content_type: info.content_type.clone(),
            content_hash: Some(hash),
            size: source.bytes.len() as u64,
            width: info.width,
            height: info.height,
            duration: None,
            url: String::new(),
            is_gifv: source.is_gifv,
            klipy_slug,
            tenor_slug_id,
        };
        blobs
            .put(&meme.blob_key(), source.bytes, Some(&info.content_type))
            .await?;
        self.put_meme(&meme).await?;
        let meme = self.with_url(meme);
        self.emit(Dispatch::new(
            EventKind::FavoriteMemeCreate,
            Topic::User(actor.id()),
            &meme,
        ))
        .await;
        Ok(meme)
    }

    async fn attachment_source(&self, a: &Attachment) -> Result<Source> {
        if !is_media(a) {
            return Err(no_media());
        }
        let (blobs, _) = self.upload_ports()?;
        let (_, bytes) = blobs.get(&a.url).await?.ok_or_else(no_media)?;
        Ok(Source {
            bytes,
            filename: a.filename.clone(),
            alt_text: a.description.clone(),
            is_gifv: a.content_type.as_deref() == Some("image/gif"),
        })
    }

    async fn embed_source(&self, embeds: &[crate::model::Embed], i: usize) -> Result<Source> {
        let embed = embeds.get(i).ok_or_else(|| {
            Error::field(
                "embed_index",
                "EMBED_INDEX_OUT_OF_BOUNDS",
                format!("The message has {} embeds.", embeds.len()),
            )
        })?;
        let media = [&embed.image, &embed.video, &embed.thumbnail]
            .into_iter()
            .flatten()
            .find_map(|m| m.get("url").and_then(|u| u.as_str()))
            .ok_or_else(no_media)?;
        let mut source = self.remote_source(media).await?;
        source.is_gifv = embed.kind.as_deref() == Some("gifv");
        Ok(source)
    }

    /// The file at `url`, fetched under the previewer's rules (public addresses only).
    async fn remote_source(&self, url: &str) -> Result<Source> {
        let fetcher = self
            .ports()
            .unfurler
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "MEDIA_METADATA_ERROR",
                message: "This instance does not fetch remote media.".into(),
            })?;
        let fetched = fetcher
            .fetch_media(url, self.limits().await?.attachment_bytes)
            .await
            .ok_or_else(|| {
                Error::rejected("MEDIA_METADATA_ERROR", "The media could not be fetched.")
            })?;
        if !["image/", "video/", "audio/"]
            .iter()
            .any(|p| fetched.content_type.starts_with(p))
        {
            return Err(no_media());
        }
        let last = url::Url::parse(&fetched.final_url)
            .ok()
            .and_then(|u| u.path_segments()?.next_back().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "media".to_owned());
        let mut filename = sanitize_filename(&last);
        if !filename.contains('.')
            && let Some(ext) = fetched.content_type.split('/').nth(1)
        {
            filename = format!("{filename}.{}", ext.split(['+', ';']).next().unwrap_or(ext));
        }
        Ok(Source {
            bytes: fetched.bytes,
            filename,
            alt_text: None,
            is_gifv: false,
        })
    }
}

fn is_media(a: &Attachment) -> bool {
    a.content_type.as_deref().is_some_and(|t| {
        ["image/", "video/", "audio/"]
            .iter()
            .any(|p| t.starts_with(p))
    })
}

fn no_media() -> Error {
    Error::field(
        "media",
        "NO_VALID_MEDIA_IN_MESSAGE",
        "There is no image, video or sound to save.",
    )
}
