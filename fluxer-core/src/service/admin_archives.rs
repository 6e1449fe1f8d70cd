//! Staff archives of a user's or a guild's data (`/admin/archives/*`, upstream's paths, bodies and
//! ACLs). An archive is built by a queued [`Task::BuildArchive`] job into the blob store, next to a
//! small JSON record of its state: `archives/{user|guild}/{subject_id}/{archive_id}.json` and
//! `.zip`. A user's archive is the user's own data export (see `harvest`); a guild's holds
//! `guild.json`, `roles.json`, `channels.json`, `members.json`, `emojis.json`, `stickers.json` and
//! `messages/{channel_id}/messages.json` for every text channel. The download is a link signed
//! with the instance's link secret, valid for seven days, that needs no session (as upstream's
//! presigned storage URL); archives are kept for a year.

use std::io::Write;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{AdminPrincipal, Fluxer, Task};
use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, MessageId, UserId};
use crate::model::{ExpressionKind, acl};
use crate::ports::{BlobStore, MessagePage};
use crate::time::Timestamp;
use crate::validation::Validator;

/// How long an archive is kept (upstream: 365 days).
const ARCHIVE_RETENTION_SECS: i64 = 365 * 24 * 3600;
/// How long a download link works (upstream: 7 days).
pub const ARCHIVE_LINK_SECS: i64 = 7 * 24 * 3600;
/// Most archives one list returns (upstream's schema limit).
pub const MAX_ARCHIVE_LIST: usize = 200;
/// Members read per store page.
const MEMBER_PAGE: u32 = 1_000;

/// What an archive is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArchiveSubject {
    /// A user's data.
    User,
    /// A guild's data.
    Guild,
}

impl ArchiveSubject {
    /// Upstream's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveSubject::User => "user",
            ArchiveSubject::Guild => "guild",
        }
    }

    /// The ACL that starts (and, without `archive:view_all`, reads) archives of this kind.
    fn trigger_acl(self) -> &'static str {
        match self {
            ArchiveSubject::User => acl::ARCHIVE_TRIGGER_USER,
            ArchiveSubject::Guild => acl::ARCHIVE_TRIGGER_GUILD,
        }
    }
}

/// An archive's state (upstream's `AdminArchiveResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminArchive {
    /// Its snowflake, as a string.
    pub archive_id: String,
    /// User or guild.
    pub subject_type: ArchiveSubject,
    /// The user or guild.
    pub subject_id: String,
    /// The staff member who asked for it.
    pub requested_by: UserId,
    /// When.
    pub requested_at: Timestamp,
    /// When the job started building it.
    pub started_at: Option<Timestamp>,
    /// When it was stored.
    pub completed_at: Option<Timestamp>,
    /// When building it failed.
    pub failed_at: Option<Timestamp>,
    /// The zip's size in bytes, as a string.
    pub file_size: Option<String>,
    /// 0 to 100.
    pub progress_percent: f64,
    /// What the job is doing.
    pub progress_step: Option<String>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Until when the last download link given works.
    pub download_url_expires_at: Option<Timestamp>,
    /// When the archive is removed.
    pub expires_at: Option<Timestamp>,
}

/// `POST /admin/archives/list`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ArchiveListRequest {
    /// `user`, `guild` or `all` (the default, which needs `archive:view_all`).
    pub subject_type: Option<String>,
    /// Only this user's or guild's (needs `subject_type`).
    pub subject_id: Option<crate::id::Snowflake>,
    /// Only those this staff member asked for.
    pub requested_by: Option<UserId>,
    /// 1 to 200 (default 50).
    pub limit: Option<f64>,
    /// Include archives past their retention.
    #[serde(default)]
    pub include_expired: bool,
}

/// A download link (`GET /admin/archives/{type}/{id}/{archive}/download`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveDownload {
    /// The signed link.
    #[serde(rename = "downloadUrl")]
    pub download_url: String,
    /// Until when it works (ISO 8601).
    #[serde(rename = "expiresAt")]
    pub expires_at: String,
}

fn meta_key(kind: ArchiveSubject, subject: u64, id: &str) -> String {
    format!("archives/{}/{subject}/{id}.json", kind.as_str())
}

fn zip_key(kind: ArchiveSubject, subject: u64, id: &str) -> String {
    format!("archives/{}/{subject}/{id}.zip", kind.as_str())
}

/// Whether `acls` may read archives of `kind`: `archive:view_all`, or the kind's trigger ACL.
fn may_view(by: &AdminPrincipal, kind: ArchiveSubject) -> bool {
    by.allows(acl::ARCHIVE_VIEW_ALL) || by.allows(kind.trigger_acl())
}

fn require_view(by: &AdminPrincipal, kind: ArchiveSubject) -> Result<()> {
    if may_view(by, kind) {
        Ok(())
    } else {
        by.require(kind.trigger_acl())
    }
}

/// Whether `by` may read archives at all (any of the three archive ACLs); 403 `MISSING_ACL`
/// naming `archive:view_all` otherwise.
pub fn require_any_archive_acl(by: &AdminPrincipal) -> Result<()> {
    if [ArchiveSubject::User, ArchiveSubject::Guild]
        .iter()
        .any(|k| may_view(by, *k))
    {
        Ok(())
    } else {
        by.require(acl::ARCHIVE_VIEW_ALL)
    }
}

impl Fluxer {
    fn archive_blobs(&self) -> Result<&dyn BlobStore> {
        self.ports()
            .blobs
            .as_deref()
            .ok_or_else(|| Error::Unavailable {
                code: "ARCHIVES_UNAVAILABLE",
                message: "Archives need blob storage, which this instance has not configured."
                    .to_owned(),
            })
    }

    async fn save_archive(&self, a: &AdminArchive) -> Result<()> {
        let subject = a.subject_id.parse::<u64>().unwrap_or(0);
        let bytes = serde_json::to_vec(a).map_err(|e| Error::Internal(e.to_string()))?;
        self.archive_blobs()?
            .put(
                &meta_key(a.subject_type, subject, &a.archive_id),
                bytes,
                Some("application/json"),
            )
            .await?;
        Ok(())
    }

    async fn load_archive(
        &self,
        kind: ArchiveSubject,
        subject: u64,
        id: u64,
    ) -> Result<Option<AdminArchive>> {
        let Some((_, bytes)) = self
            .archive_blobs()?
            .get(&meta_key(kind, subject, &id.to_string()))
            .await?
        else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// `POST /admin/archives/user` and `/guild`: records the archive as queued and queues its
    /// job; `UNKNOWN_USER` / `UNKNOWN_GUILD` for a subject that does not exist.
    pub async fn admin_start_archive(
        &self,
        by: &AdminPrincipal,
        kind: ArchiveSubject,
        subject: u64,
    ) -> Result<AdminArchive> {
        by.require(kind.trigger_acl())?;
        self.archive_blobs()?;
        match kind {
            ArchiveSubject::User => {
                self.store()
                    .get_user(UserId::new(subject))
                    .await?
                    .ok_or(Error::Unknown(Unknown::User))?;
            }
            ArchiveSubject::Guild => {
                self.store()
                    .get_guild(GuildId::new(subject))
                    .await?
                    .ok_or(Error::Unknown(Unknown::Guild))?;
            }
        }
        let now = self.now();
        let archive = AdminArchive {
            archive_id: self.next_id::<crate::id::Snowflake>().0.to_string(),
            subject_type: kind,
            subject_id: subject.to_string(),
            requested_by: by.id(),
            requested_at: now,
            started_at: None,
            completed_at: None,
            failed_at: None,
            file_size: None,
            progress_percent: 0.0,
            progress_step: Some("Queued".to_owned()),
            error_message: None,
            download_url_expires_at: None,
            expires_at: Some(now.plus_secs(ARCHIVE_RETENTION_SECS)),
        };
        self.save_archive(&archive).await?;
        let entry = super::AdminAction::new(
            &format!("archive.trigger_{}", kind.as_str()),
            kind.as_str(),
            subject,
        )
        .with("archive_id", &archive.archive_id);
        self.record_admin_action(by, entry).await?;
        self.enqueue(Task::BuildArchive {
            subject_type: kind,
            subject_id: subject,
            archive_id: archive.archive_id.clone(),
        })
        .await?;
        // Without a queue the job ran inline: answer what it left.
        let id = archive.archive_id.parse::<u64>().unwrap_or(0);
        Ok(self
            .load_archive(kind, subject, id)
            .await?
            .unwrap_or(archive))
    }

    /// `GET /admin/archives/{type}/{subject}/{archive}`: `None` when there is none.
    pub async fn admin_get_archive(
        &self,
        by: &AdminPrincipal,
        kind: ArchiveSubject,
        subject: u64,
        id: u64,
    ) -> Result<Option<AdminArchive>> {
        require_view(by, kind)?;
        self.load_archive(kind, subject, id).await
    }

    /// `POST /admin/archives/list`: newest first; the filters as upstream's (a subject needs its
    /// type; `all` needs `archive:view_all`).
    pub async fn admin_list_archives(
        &self,
        by: &AdminPrincipal,
        req: ArchiveListRequest,
    ) -> Result<Vec<AdminArchive>> {
        let mut v = Validator::new();
        let limit = req.limit.unwrap_or(50.0);
        v.check(
            (1.0..=MAX_ARCHIVE_LIST as f64).contains(&limit),
            "limit",
            "BASE_TYPE_NUMBER_RANGE",
            "Must be between 1 and 200.",
        );
        let kind = match req.subject_type.as_deref().unwrap_or("all") {
            "user" => Some(ArchiveSubject::User),
            "guild" => Some(ArchiveSubject::Guild),
            "all" => None,
            _ => {
                v.error(
                    "subject_type",
                    "BASE_TYPE_CHOICES",
                    "Must be user, guild or all.",
                );
                None
            }
        };
        v.check(
            req.subject_id.is_none() || kind.is_some(),
            "subject_type",
            "BASE_TYPE_REQUIRED",
            "Name the subject's type (user or guild) with subject_id.",
        );
        v.finish()?;
        match kind {
            Some(k) => require_view(by, k)?,
            None => by.require(acl::ARCHIVE_VIEW_ALL)?,
        }
        let prefix = match (kind, req.subject_id) {
            (Some(k), Some(id)) => format!("archives/{}/{}/", k.as_str(), id.0),
            (Some(k), None) => format!("archives/{}/", k.as_str()),
            _ => "archives/".to_owned(),
        };
        let now = self.now();
        let blobs = self.archive_blobs()?;
        let mut out = Vec::new();
        for meta in blobs.list(&prefix).await? {
            if !meta.key.ends_with(".json") {
                continue;
            }
            let Some((_, bytes)) = blobs.get(&meta.key).await? else {
                continue;
            };
            let Ok(a) = serde_json::from_slice::<AdminArchive>(&bytes) else {
                continue;
            };
            if req.requested_by.is_some_and(|r| r != a.requested_by)
                || (!req.include_expired && a.expires_at.is_some_and(|e| e < now))
            {
                continue;
            }
            out.push(a);
        }
        out.sort_by_key(|a| std::cmp::Reverse(a.requested_at));
        out.truncate(limit as usize);
        Ok(out)
    }

    /// `GET /admin/archives/{type}/{subject}/{archive}/download`: a signed link to the zip, valid
    /// for seven days; `ARCHIVE_NOT_READY` until the archive is built.
    pub async fn admin_archive_download(
        &self,
        by: &AdminPrincipal,
        kind: ArchiveSubject,
        subject: u64,
        id: u64,
    ) -> Result<ArchiveDownload> {
        require_view(by, kind)?;
        let mut archive = self
            .load_archive(kind, subject, id)
            .await?
            .ok_or(Error::Unknown(Unknown::Harvest))?;
        if archive.completed_at.is_none() {
            return Err(Error::rejected(
                "ARCHIVE_NOT_READY",
                "This archive is not built yet.",
            ));
        }
        let expires = self.now().plus_secs(ARCHIVE_LINK_SECS);
        let id = id.to_string();
        let url = format!(
            "{}/v1/admin/archives/{}/{subject}/{id}/file?expires={}&signature={}",
            self.config().api_url.trim_end_matches('/'),
            kind.as_str(),
            expires.unix_secs(),
            self.archive_signature(kind, subject, &id, expires.unix_secs())
        );
        archive.download_url_expires_at = Some(expires);
        self.save_archive(&archive).await?;
        let entry = super::AdminAction::new("archive.download", kind.as_str(), subject)
            .with("archive_id", &id);
        self.record_admin_action(by, entry).await?;
        Ok(ArchiveDownload {
            download_url: url,
            expires_at: expires.to_iso8601(),
        })
    }

    /// The zip behind a signed link (no session: the signature is the credential);
    /// `INVALID_DOWNLOAD_LINK` for a wrong or expired one.
    pub async fn admin_archive_zip_signed(
        &self,
        kind: ArchiveSubject,
        subject: u64,
        id: u64,
        expires: i64,
        signature: &str,
    ) -> Result<Vec<u8>> {
        let id = id.to_string();
        let expected = self.archive_signature(kind, subject, &id, expires);
        let valid: bool = expected.as_bytes().ct_eq(signature.as_bytes()).into();
        if !valid || self.now().unix_secs() > expires {
            return Err(Error::rejected(
                "INVALID_DOWNLOAD_LINK",
                "The download link is invalid or expired.",
            ));
        }
        let (_, bytes) = self
            .archive_blobs()?
            .get(&zip_key(kind, subject, &id))
            .await?
            .ok_or(Error::Unknown(Unknown::Harvest))?;
        Ok(bytes)
    }

    fn archive_signature(
        &self,
        kind: ArchiveSubject,
        subject: u64,
        id: &str,
        expires: i64,
    ) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.config().link_secret)
            .expect("HMAC takes keys of any length");
        mac.update(
            format!(
                "admin-archive\n{}\n{subject}\n{id}\n{expires}",
                kind.as_str()
            )
            .as_bytes(),
        );
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The job: builds the zip, stores it and marks the archive completed (or failed, with the
    /// error's text; the job is then not retried).
    pub(crate) async fn build_archive(
        &self,
        kind: ArchiveSubject,
        subject: u64,
        id: &str,
    ) -> Result<()> {
        let Ok(key) = id.parse::<u64>() else {
            return Ok(());
        };
        let Some(mut archive) = self.load_archive(kind, subject, key).await? else {
            return Ok(());
        };
        if archive.completed_at.is_some() || archive.failed_at.is_some() {
            return Ok(());
        }
        archive.started_at = Some(self.now());
        archive.progress_percent = 10.0;
        archive.progress_step = Some("Collecting data".to_owned());
        self.save_archive(&archive).await?;
        let built = match kind {
            ArchiveSubject::User => match self.store().get_user(UserId::new(subject)).await? {
                Some(user) => self.harvest_archive(&user).await.map(|(zip, _)| zip),
                None => Err(Error::Unknown(Unknown::User)),
            },
            ArchiveSubject::Guild => self.guild_archive(GuildId::new(subject)).await,
        };
        match built {
            Ok(zip) => {
                archive.file_size = Some(zip.len().to_string());
                self.archive_blobs()?
                    .put(&zip_key(kind, subject, id), zip, Some("application/zip"))
                    .await?;
                archive.completed_at = Some(self.now());
                archive.progress_percent = 100.0;
                archive.progress_step = Some("Completed".to_owned());
            }
            Err(e) => {
                tracing::warn!(archive = id, error = %crate::error::chain(&e), "admin archive failed");
                archive.failed_at = Some(self.now());
                archive.progress_step = Some("Failed".to_owned());
                archive.error_message = Some(e.to_string());
            }
        }
        self.save_archive(&archive).await
    }

    async fn guild_archive(&self, guild_id: GuildId) -> Result<Vec<u8>> {
        let guild = self
            .store()
            .get_guild(guild_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        let internal = |e: zip::result::ZipError| Error::Internal(format!("zip: {e}"));
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let put = |zip: &mut zip::ZipWriter<_>, name: &str, value: &Value| {
            zip.start_file(name, opts).map_err(internal)?;
            let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
            zip.write_all(&bytes)
                .map_err(|e| Error::Internal(e.to_string()))
        };
        put(&mut zip, "guild.json", &json!(guild))?;
        put(
            &mut zip,
            "roles.json",
            &json!(self.store().list_roles(guild_id).await?),
        )?;
        let channels = self.store().list_guild_channels(guild_id).await?;
        put(&mut zip, "channels.json", &json!(channels))?;
        let mut members = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store()
                .list_members(guild_id, after, MEMBER_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.user_id);
            members.extend(page.into_iter().map(|m| {
                json!({ "user_id": m.user_id, "nick": m.nick, "roles": m.roles, "joined_at": m.joined_at })
            }));
        }
        put(&mut zip, "members.json", &json!(members))?;
        for (name, kind) in [
            ("emojis.json", ExpressionKind::Emoji),
            ("stickers.json", ExpressionKind::Sticker),
        ] {
            let list = self.expressions(guild_id, kind).await?;
            let rows: Vec<Value> = list
                .iter()
                .map(|e| json!({ "id": e.id, "name": e.name, "animated": e.animated, "creator_id": e.creator_id, "file": e.blob_key() }))
                .collect();
            put(&mut zip, name, &json!(rows))?;
        }
        for channel in channels.iter().filter(|c| c.kind.is_text()) {
            let mut rows = Vec::new();
            let mut cursor = MessageId::new(0);
            loop {
                let mut page = self
                    .store()
                    .list_messages(channel.id, MessagePage::After(cursor), 100)
                    .await?;
                if page.is_empty() {
                    break;
                }
                page.sort_by_key(|m| m.id);
                cursor = page.last().map(|m| m.id).unwrap_or(cursor);
                rows.extend(page.iter().map(|m| {
                    json!({
                        "id": m.id,
                        "author_id": m.author_id,
                        "timestamp": m.id.timestamp(),
                        "edited_timestamp": m.edited_timestamp,
                        "content": m.content,
                        "attachments": m.attachments.iter().map(|a| &a.url).collect::<Vec<_>>(),
                    })
                }));
            }
            if !rows.is_empty() {
                put(
                    &mut zip,
                    &format!("messages/{}/messages.json", channel.id),
                    &json!(rows),
                )?;
            }
        }
        Ok(zip.finish().map_err(internal)?.into_inner())
    }
}
