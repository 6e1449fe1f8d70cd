//! Data exports ("harvests", upstream's name): a user asks for a copy of their data, a job builds a zip
//! in the blob store, and the user downloads it (authenticated, or through the signed link the ready
//! email carries, valid for [`HARVEST_TTL_SECS`]).
//!
//! The zip holds `account.json` (the account as the user sees it, no secrets), `connections.json`
//! (the user's connections, verified or not), `push_subscriptions.json` (their browsers' Web Push
//! subscriptions: ID, endpoint and user agent, not the keys), `guilds.json` (the guilds
//! they are in), `messages/{channel_id}/channel.json` + `messages.json` for every channel where they
//! wrote (guild channels of their current guilds and their DMs), and `attachments.json` (every file they
//! posted, with its URL). A harvest's state is a small JSON object next to its zip:
//! `harvests/{user_id}/{harvest_id}.json` and `.zip`.

use std::io::Write;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Actor, Fluxer, jobs::Task};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, MessageId, UserId};
use crate::model::Channel;
use crate::ports::{BlobStore, MessagePage};
use crate::time::Timestamp;

/// How long an export can be downloaded.
pub(super) const HARVEST_TTL_SECS: i64 = 7 * 24 * 3600;
/// How often a user may ask for a new export.
pub(super) const HARVEST_COOLDOWN_SECS: i64 = 24 * 3600;

/// Where an export is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarvestStatus {
    /// Asked for; the job has not built the zip yet.
    Pending,
    /// The zip is stored and can be downloaded until `expires_at`.
    Completed,
    /// The export could not be built; a failed export does not count toward the daily cooldown.
    /// Nothing sets it yet: a job that fails leaves the export pending.
    Failed,
}

/// A data export request and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Harvest {
    /// The export's ID (a snowflake, as a string).
    pub harvest_id: String,
    /// The user whose data it holds.
    pub user_id: UserId,
    /// Where the export is in its life.
    pub status: HarvestStatus,
    /// When the user asked for it.
    pub created_at: Timestamp,
    /// When the zip was built; `None` until completed.
    pub completed_at: Option<Timestamp>,
    /// Until when the zip can be downloaded.
    pub expires_at: Option<Timestamp>,
    /// Size of the zip in bytes; `None` until completed.
    pub file_size: Option<u64>,
    /// Messages in the export.
    pub message_count: Option<u64>,
}

fn meta_key(user: UserId, id: &str) -> String {
    format!("harvests/{user}/{id}.json")
}

fn zip_key(user: UserId, id: &str) -> String {
    format!("harvests/{user}/{id}.zip")
}

fn unknown_harvest() -> Error {
    Error::Unknown(crate::error::Unknown::Harvest)
}

impl Fluxer {
    fn blobs(&self) -> Result<&dyn BlobStore> {
        self.ports()
            .blobs
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "HARVEST_UNAVAILABLE",
                message: "Data exports need blob storage, which this instance has not configured."
                    .to_owned(),
            })
    }

    async fn save_harvest(&self, h: &Harvest) -> Result<()> {
        let bytes = serde_json::to_vec(h).map_err(|e| Error::Internal(e.to_string()))?;
        self.blobs()?
            .put(
                &meta_key(h.user_id, &h.harvest_id),
                bytes,
                Some("application/json"),
            )
            .await?;
        Ok(())
    }

    async fn load_harvest(&self, user: UserId, id: &str) -> Result<Option<Harvest>> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let Some((_, bytes)) = self.blobs()?.get(&meta_key(user, id)).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// The user's exports, newest first.
    async fn list_harvests(&self, user: UserId) -> Result<Vec<Harvest>> {
        let mut out = Vec::new();
        for meta in self.blobs()?.list(&format!("harvests/{user}/")).await? {
            if meta.key.ends_with(".json")
                && let Some((_, bytes)) = self.blobs()?.get(&meta.key).await?
                && let Ok(h) = serde_json::from_slice::<Harvest>(&bytes)
            {
                out.push(h);
            }
        }
        out.sort_by_key(|h| std::cmp::Reverse(h.created_at));
        Ok(out)
    }

    /// Asks for a data export (`POST /users/@me/harvest`); one a day (`HARVEST_COOLDOWN_SECS`).
    pub async fn request_harvest(&self, actor: &Actor) -> Result<Harvest> {
        actor.require_person("Bot accounts cannot request a data export.")?;
        let now = self.now();
        if let Some(last) = self.list_harvests(actor.id()).await?.into_iter().next()
            && last.status != HarvestStatus::Failed
            && now.ms_since(last.created_at) < HARVEST_COOLDOWN_SECS * 1000
        {
            return Err(Error::TooSoon {
                code: "HARVEST_ON_COOLDOWN",
                message: "You can request one data export a day.".to_owned(),
                retry_after_ms: u64::try_from(
                    HARVEST_COOLDOWN_SECS * 1000 - now.ms_since(last.created_at),
                )
                .unwrap_or(0),
            });
        }
        let id: MessageId = self.next_id();
        let harvest = Harvest {
            harvest_id: id.to_string(),
            user_id: actor.id(),
            status: HarvestStatus::Pending,
            created_at: now,
            completed_at: None,
            expires_at: None,
            file_size: None,
            message_count: None,
        };
        self.save_harvest(&harvest).await?;
        self.enqueue(Task::HarvestUserData {
            user_id: actor.id(),
            harvest_id: harvest.harvest_id.clone(),
        })
        .await?;
        // Without a queue the job ran inline: answer with its outcome.
        Ok(self
            .load_harvest(actor.id(), &harvest.harvest_id)
            .await?
            .unwrap_or(harvest))
    }

    /// The caller's most recent export, if any.
    pub async fn latest_harvest(&self, actor: &Actor) -> Result<Option<Harvest>> {
        Ok(self.list_harvests(actor.id()).await?.into_iter().next())
    }

    /// One of the caller's exports (`GET /users/@me/harvest/{id}`); `UNKNOWN_HARVEST` when it does
    /// not exist or is someone else's, `HARVEST_UNAVAILABLE` without blob storage.
    pub async fn get_harvest(&self, actor: &Actor, id: &str) -> Result<Harvest> {
        self.load_harvest(actor.id(), id)
            .await?
            .ok_or_else(unknown_harvest)
    }

    /// The zip of one of the caller's completed exports.
    pub async fn harvest_zip(&self, actor: &Actor, id: &str) -> Result<Vec<u8>> {
        self.harvest_bytes(actor.id(), id).await
    }

    /// The zip behind a signed link (no session needed: the signature is the credential).
    pub async fn harvest_zip_signed(
        &self,
        user: UserId,
        id: &str,
        expires: i64,
        signature: &str,
    ) -> Result<Vec<u8>> {
        let expected = self.harvest_signature(user, id, expires);
        let valid: bool = expected.as_bytes().ct_eq(signature.as_bytes()).into();
        if !valid || self.now().unix_secs() > expires {
            return Err(Error::rejected(
                "INVALID_DOWNLOAD_LINK",
                "The download link is invalid or expired.",
            ));
        }
        self.harvest_bytes(user, id).await
    }

    /// A download link for an export, valid until `expires` (unix seconds).
    pub fn harvest_link(&self, user: UserId, id: &str, expires: i64) -> String {
        format!(
            "{}/v1/harvests/{user}/{id}/download?expires={expires}&signature={}",
            self.config().api_url.trim_end_matches('/'),
            self.harvest_signature(user, id, expires)
        )
    }

    fn harvest_signature(&self, user: UserId, id: &str, expires: i64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.config().link_secret)
            .expect("HMAC takes keys of any length");
        mac.update(format!("harvest\n{user}\n{id}\n{expires}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    async fn harvest_bytes(&self, user: UserId, id: &str) -> Result<Vec<u8>> {
        let h = self
            .load_harvest(user, id)
            .await?
            .ok_or_else(unknown_harvest)?;
        if h.status != HarvestStatus::Completed || h.expires_at.is_some_and(|e| e < self.now()) {
            return Err(Error::rejected(
                "HARVEST_NOT_READY",
                "This data export is not ready or has expired.",
            ));
        }
        let (_, bytes) = self
            .blobs()?
            .get(&zip_key(user, id))
            .await?
            .ok_or_else(unknown_harvest)?;
        Ok(bytes)
    }

    /// The job: builds the zip, stores it, marks the harvest completed and emails the link.
    pub(crate) async fn build_harvest(&self, user_id: UserId, id: &str) -> Result<()> {
        let Some(mut harvest) = self.load_harvest(user_id, id).await? else {
            return Ok(()); // expired and removed before the job ran
        };
        if harvest.status == HarvestStatus::Completed {
            return Ok(()); // a redelivery after success
        }
        let user = self
            .store()
            .get_user(user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        let (zip, message_count) = self.harvest_archive(&user).await?;
        let size = zip.len() as u64;
        self.blobs()?
            .put(&zip_key(user_id, id), zip, Some("application/zip"))
            .await?;
        let now = self.now();
        harvest.status = HarvestStatus::Completed;
        harvest.completed_at = Some(now);
        harvest.expires_at = Some(now.plus_secs(HARVEST_TTL_SECS));
        harvest.file_size = Some(size);
        harvest.message_count = Some(message_count);
        self.save_harvest(&harvest).await?;
        if let Some(email) = &user.email {
            let link = self.harvest_link(user_id, id, now.unix_secs() + HARVEST_TTL_SECS);
            self.send_email(super::emails::harvest_ready(email, &user.username, &link))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn harvest_archive(
        &self,
        user: &crate::model::User,
    ) -> Result<(Vec<u8>, u64)> {
        let internal = |e: zip::result::ZipError| Error::Internal(format!("zip: {e}"));
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let put = |zip: &mut zip::ZipWriter<_>, name: &str, value: &serde_json::Value| {
            zip.start_file(name, opts).map_err(internal)?;
            let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
            zip.write_all(&bytes)
                .map_err(|e| Error::Internal(e.to_string()))
        };
        put(&mut zip, "account.json", &json!(user.private()))?;
        put(
            &mut zip,
            "connections.json",
            &json!(self.connections_of(user.id).await?),
        )?;
        put(
            &mut zip,
            "push_subscriptions.json",
            &json!(self.push_subscriptions_for_export(user.id).await?),
        )?;

        let mut channels: Vec<Channel> = Vec::new();
        let mut guilds = Vec::new();
        for guild_id in self.store().list_user_guild_ids(user.id).await? {
            if let Some(g) = self.store().get_guild(guild_id).await? {
                guilds.push(json!({ "id": g.id, "name": g.name, "owner_id": g.owner_id }));
            }
            channels.extend(self.store().list_guild_channels(guild_id).await?);
        }
        channels.extend(self.store().list_private_channels(user.id).await?);
        put(&mut zip, "guilds.json", &json!(guilds))?;

        let mut attachments = Vec::new();
        let mut total = 0u64;
        for channel in channels.iter().filter(|c| c.kind.is_text()) {
            let mine = self.authored_messages(channel.id, user.id, None).await?;
            if mine.is_empty() {
                continue;
            }
            total += mine.len() as u64;
            let mut rows = Vec::with_capacity(mine.len());
            for m in mine {
                for a in &m.attachments {
                    attachments.push(json!({
                        "channel_id": m.channel_id, "message_id": m.id,
                        "filename": a.filename, "size": a.size, "url": a.url,
                    }));
                }
                rows.push(json!({
                    "id": m.id,
                    "timestamp": m.id.timestamp(),
                    "edited_timestamp": m.edited_timestamp,
                    "content": m.content,
                    "attachments": m.attachments.iter().map(|a| &a.url).collect::<Vec<_>>(),
                }));
            }
            let dir = format!("messages/{}", channel.id);
            put(
                &mut zip,
                &format!("{dir}/channel.json"),
                &json!({
                    "id": channel.id, "type": channel.kind, "guild_id": channel.guild_id,
                    "name": channel.name, "recipient_ids": channel.recipient_ids,
                }),
            )?;
            put(&mut zip, &format!("{dir}/messages.json"), &json!(rows))?;
        }
        put(&mut zip, "attachments.json", &json!(attachments))?;
        let bytes = zip.finish().map_err(internal)?.into_inner();
        Ok((bytes, total))
    }

    /// Every message `author` wrote in `channel` (not through a webhook), oldest first; with
    /// `until`, only those written by then.
    pub(crate) async fn authored_messages(
        &self,
        channel: ChannelId,
        author: UserId,
        until: Option<crate::time::Timestamp>,
    ) -> Result<Vec<crate::model::Message>> {
        let mut out = Vec::new();
        let mut cursor = MessageId::new(0);
        loop {
            let mut page = self
                .store()
                .list_messages(channel, MessagePage::After(cursor), 100)
                .await?;
            if page.is_empty() {
                break;
            }
            page.sort_by_key(|m| m.id);
            cursor = page.last().map(|m| m.id).unwrap_or(cursor);
            out.extend(page.into_iter().filter(|m| {
                m.author_id == author
                    && m.webhook_id.is_none()
                    && until.is_none_or(|t| m.id.timestamp() <= t)
            }));
        }
        Ok(out)
    }

    /// The cron job: removes exports whose download window has passed (and failed ones after a day).
    pub(crate) async fn expire_harvests(&self) -> Result<()> {
        let Some(blobs) = self.ports().blobs.as_deref() else {
            return Ok(());
        };
        let now = self.now();
        for meta in blobs.list("harvests/").await? {
            if !meta.key.ends_with(".json") {
                continue;
            }
            let Some((_, bytes)) = blobs.get(&meta.key).await? else {
                continue;
            };
            let Ok(h) = serde_json::from_slice::<Harvest>(&bytes) else {
                continue;
            };
            let expired = match h.status {
                HarvestStatus::Completed => h.expires_at.is_some_and(|e| e < now),
                _ => now.ms_since(h.created_at) > HARVEST_COOLDOWN_SECS * 1000,
            };
            if expired {
                blobs.delete(&zip_key(h.user_id, &h.harvest_id)).await?;
                blobs.delete(&meta.key).await?;
            }
        }
        Ok(())
    }
}
