//! A guild's custom emojis and stickers (`/guilds/{id}/emojis`, `/guilds/{id}/stickers`), as
//! upstream: members with CREATE_EXPRESSIONS upload them (one at a time or up to 50 at once), their
//! uploader or a member with MANAGE_EXPRESSIONS renames or deletes them, and every change sends
//! the guild's whole list again (`GUILD_EMOJIS_UPDATE`, `GUILD_STICKERS_UPDATE`).
//!
//! Images are kept as uploaded (animated GIF, WebP and APNG stay animated) at
//! `{emojis|stickers}/{id}` in the blob store, and the media proxy renders them at the size asked.
//! Deleting keeps the image, so messages that show it still render, unless `?purge` is asked on a
//! guild with the `EXPRESSION_PURGE_ALLOWED` feature. Users' packs (`pack_expressions`) hold
//! expressions checked and stored the same way.

use std::collections::HashSet;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{Audited, change};
use super::{Actor, ChannelAccess, Fluxer, GuildAccess};
use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ExpressionId, GuildId, UserId};
use crate::model::{
    EmojiResponse, Expression, ExpressionKind, ReactionEmoji, StickerItem, StickerResponse,
    audit_action,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, MediaInfo, Topic};
use crate::validation::Validator;

/// Items in one bulk upload.
const MAX_BULK: usize = 50;
/// The guild feature that allows `?purge` (deleting the image with the expression).
const PURGE_FEATURE: &str = "EXPRESSION_PURGE_ALLOWED";

/// `POST /guilds/{id}/emojis`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmojiCreate {
    /// 2-32 of `A-Za-z0-9_`.
    pub name: String,
    /// The image as base64, with or without a `data:...;base64,` prefix: PNG, JPEG, GIF or WebP,
    /// at most `emoji_bytes`.
    pub image: String,
}

/// `PATCH /guilds/{id}/emojis/{id}`: only the name changes.
#[derive(Debug, Clone, Deserialize)]
pub struct EmojiUpdate {
    /// 2-32 of `A-Za-z0-9_`.
    pub name: String,
}

/// `POST /guilds/{id}/stickers`.
#[derive(Debug, Clone, Deserialize)]
pub struct StickerCreate {
    /// 2-30 characters.
    pub name: String,
    /// Up to 500 characters; empty or absent for none.
    #[serde(default)]
    pub description: Option<String>,
    /// Up to 10 tags of 1-30 characters.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The image as base64 (or a data URI): PNG, GIF or WebP, at most `sticker_bytes`.
    pub image: String,
}

/// `PATCH /guilds/{id}/stickers/{id}`: replaces the name, description and tags (absent ones are
/// cleared, as upstream).
#[derive(Debug, Clone, Deserialize)]
pub struct StickerUpdate {
    /// 2-30 characters.
    pub name: String,
    /// Up to 500 characters; absent or empty clears it.
    #[serde(default)]
    pub description: Option<String>,
    /// Up to 10 tags of 1-30 characters; absent clears them.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A bulk upload's outcome: what was created, and why the rest was not.
#[derive(Debug, Clone, Serialize)]
pub struct BulkCreated<T> {
    /// Created, in request order.
    pub success: Vec<T>,
    /// Refused, with the error code (or the limit that was reached).
    pub failed: Vec<BulkFailure>,
}

/// One refused item of a bulk upload.
#[derive(Debug, Clone, Serialize)]
pub struct BulkFailure {
    /// The name it was to have.
    pub name: String,
    /// Why it was refused.
    pub error: String,
}

impl EmojiUpdate {
    /// The new name, trimmed and checked.
    pub(super) fn checked(self) -> Result<String> {
        let name = self.name.trim().to_owned();
        let mut v = Validator::new();
        validate_emoji_name(&mut v, "name", &name);
        v.finish()?;
        Ok(name)
    }
}

impl StickerUpdate {
    /// The new fields, cleaned and checked.
    pub(super) fn checked(self) -> Result<StickerUpdate> {
        let edit = StickerUpdate {
            name: self.name.trim().to_owned(),
            description: description(self.description),
            tags: Some(tags(self.tags)),
        };
        let mut v = Validator::new();
        let tags = edit.tags.as_deref().unwrap_or_default();
        validate_sticker_fields(&mut v, "", &edit.name, edit.description.as_deref(), tags);
        v.finish()?;
        Ok(edit)
    }

    /// `sticker` with these fields (a checked edit's).
    pub(super) fn applied_to(self, sticker: &Expression) -> Expression {
        Expression {
            name: self.name,
            description: self.description,
            tags: self.tags.unwrap_or_default(),
            ..sticker.clone()
        }
    }
}

/// What is being created, whatever its kind and owner (a guild or a pack).
pub(super) struct Draft {
    pub(super) kind: ExpressionKind,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) image: String,
}

impl Draft {
    /// Where the image of the `i`th item of a bulk upload is, for errors (`emojis.3.image`).
    pub(super) fn bulk_image_path(&self, i: usize) -> String {
        format!("{}.{i}.image", self.kind.blob_prefix())
    }

    /// An emoji's draft, its name trimmed.
    pub(super) fn emoji(req: EmojiCreate) -> Draft {
        Draft {
            kind: ExpressionKind::Emoji,
            name: req.name.trim().to_owned(),
            description: None,
            tags: Vec::new(),
            image: req.image,
        }
    }

    /// A sticker's draft, its fields cleaned.
    pub(super) fn sticker(req: StickerCreate) -> Draft {
        Draft {
            kind: ExpressionKind::Sticker,
            name: req.name.trim().to_owned(),
            description: description(req.description),
            tags: tags(req.tags),
            image: req.image,
        }
    }
}

/// Checks the drafts of one emoji create or of a bulk one (paths `emojis.{i}.name`).
pub(super) fn validate_emoji_drafts(drafts: &[Draft], bulk: bool) -> Result<()> {
    let mut v = Validator::new();
    if bulk {
        v.check(
            !drafts.is_empty(),
            "emojis",
            "BASE_TYPE_MIN_LENGTH",
            "Give at least one emoji.",
        );
        v.count("emojis", drafts.len(), MAX_BULK);
    }
    for (i, d) in drafts.iter().enumerate() {
        let path = if bulk {
            format!("emojis.{i}.name")
        } else {
            "name".to_owned()
        };
        validate_emoji_name(&mut v, &path, &d.name);
    }
    v.finish()
}

/// Checks the drafts of one sticker create or of a bulk one (paths `stickers.{i}.*`).
pub(super) fn validate_sticker_drafts(drafts: &[Draft], bulk: bool) -> Result<()> {
    let mut v = Validator::new();
    if bulk {
        v.check(
            !drafts.is_empty(),
            "stickers",
            "BASE_TYPE_MIN_LENGTH",
            "Give at least one sticker.",
        );
        v.count("stickers", drafts.len(), MAX_BULK);
    }
    for (i, d) in drafts.iter().enumerate() {
        let prefix = if bulk {
            format!("stickers.{i}.")
        } else {
            String::new()
        };
        validate_sticker_fields(&mut v, &prefix, &d.name, d.description.as_deref(), &d.tags);
    }
    v.finish()
}

fn validate_emoji_name(v: &mut Validator, path: &str, name: &str) {
    v.length(path, name, 2, 32);
    v.check(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        path,
        "INVALID_FORMAT",
        "Emoji names use letters, digits and underscores.",
    );
}

fn validate_sticker_fields(
    v: &mut Validator,
    prefix: &str,
    name: &str,
    description: Option<&str>,
    tags: &[String],
) {
    v.length(&format!("{prefix}name"), name, 2, 30);
    v.opt_length(&format!("{prefix}description"), description, 1, 500);
    v.count(&format!("{prefix}tags"), tags.len(), 10);
    for (i, tag) in tags.iter().enumerate() {
        v.length(&format!("{prefix}tags.{i}"), tag.trim(), 1, 30);
    }
}

/// An empty or blank description is none.
fn description(d: Option<String>) -> Option<String> {
    d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty())
}

fn tags(t: Option<Vec<String>>) -> Vec<String> {
    t.unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_owned())
        .collect()
}

impl Fluxer {
    /// `GET /guilds/{id}/emojis`: with each uploader; any member may list them.
    pub async fn list_emojis(&self, actor: &Actor, guild: GuildId) -> Result<Vec<EmojiResponse>> {
        self.listed_with_uploaders(actor, guild, ExpressionKind::Emoji, |e, user| {
            EmojiResponse {
                user: Some(user),
                ..e.emoji_response()
            }
        })
        .await
    }

    /// `GET /guilds/{id}/stickers`: with each uploader.
    pub async fn list_stickers(
        &self,
        actor: &Actor,
        guild: GuildId,
    ) -> Result<Vec<StickerResponse>> {
        self.listed_with_uploaders(actor, guild, ExpressionKind::Sticker, |e, user| {
            StickerResponse {
                user: Some(user),
                ..e.sticker_response()
            }
        })
        .await
    }

    /// A guild's expressions of one kind for a member, each with its uploader.
    async fn listed_with_uploaders<T>(
        &self,
        actor: &Actor,
        guild: GuildId,
        kind: ExpressionKind,
        response: impl Fn(&Expression, crate::model::UserPartial) -> T,
    ) -> Result<Vec<T>> {
        self.guild_access(actor.id(), guild).await?;
        let list = self.expressions(guild, kind).await?;
        self.with_uploaders(&list, response).await
    }

    /// Each expression with its uploader (those whose uploader is unknown are left out, as
    /// upstream).
    pub(super) async fn with_uploaders<T>(
        &self,
        list: &[Expression],
        response: impl Fn(&Expression, crate::model::UserPartial) -> T,
    ) -> Result<Vec<T>> {
        let users = self.uploaders(list).await?;
        Ok(list
            .iter()
            .filter_map(|e| {
                let user = users.iter().find(|u| u.id == e.creator_id)?;
                Some(response(e, user.clone()))
            })
            .collect())
    }

    /// `POST /guilds/{id}/emojis`: needs CREATE_EXPRESSIONS; static and animated emojis each have
    /// their own limit (`MAX_EMOJIS`, `MAX_ANIMATED_EMOJIS`).
    pub async fn create_emoji(
        &self,
        actor: &Actor,
        guild: GuildId,
        req: EmojiCreate,
    ) -> Result<EmojiResponse> {
        let draft = Draft::emoji(req);
        validate_emoji_drafts(std::slice::from_ref(&draft), false)?;
        let access = self.expression_creator(actor, guild).await?;
        let made = self
            .create_expression(actor, &access, draft, "image")
            .await?;
        self.emit_expressions(guild, ExpressionKind::Emoji).await?;
        Ok(made.emoji_response())
    }

    /// `POST /guilds/{id}/emojis/bulk`: 1 to 50 at once; each is created or refused on its own,
    /// and the guild's list is sent once.
    pub async fn create_emojis(
        &self,
        actor: &Actor,
        guild: GuildId,
        reqs: Vec<EmojiCreate>,
    ) -> Result<BulkCreated<EmojiResponse>> {
        let drafts: Vec<Draft> = reqs.into_iter().map(Draft::emoji).collect();
        validate_emoji_drafts(&drafts, true)?;
        let access = self.expression_creator(actor, guild).await?;
        let created = self.create_in_guild(actor, &access, drafts).await?;
        Ok(created.map(Expression::emoji_response))
    }

    /// `POST /guilds/{id}/stickers`: needs CREATE_EXPRESSIONS (`MAX_STICKERS`).
    pub async fn create_sticker(
        &self,
        actor: &Actor,
        guild: GuildId,
        req: StickerCreate,
    ) -> Result<StickerResponse> {
        let draft = Draft::sticker(req);
        validate_sticker_drafts(std::slice::from_ref(&draft), false)?;
        let access = self.expression_creator(actor, guild).await?;
        let made = self
            .create_expression(actor, &access, draft, "image")
            .await?;
        self.emit_expressions(guild, ExpressionKind::Sticker)
            .await?;
        Ok(made.sticker_response())
    }

    /// `POST /guilds/{id}/stickers/bulk`: 1 to 50 at once.
    pub async fn create_stickers(
        &self,
        actor: &Actor,
        guild: GuildId,
        reqs: Vec<StickerCreate>,
    ) -> Result<BulkCreated<StickerResponse>> {
        let drafts: Vec<Draft> = reqs.into_iter().map(Draft::sticker).collect();
        validate_sticker_drafts(&drafts, true)?;
        let access = self.expression_creator(actor, guild).await?;
        let created = self.create_in_guild(actor, &access, drafts).await?;
        Ok(created.map(Expression::sticker_response))
    }

    /// `PATCH /guilds/{id}/emojis/{id}`: renames it.
    pub async fn update_emoji(
        &self,
        actor: &Actor,
        guild: GuildId,
        id: ExpressionId,
        req: EmojiUpdate,
    ) -> Result<EmojiResponse> {
        let name = req.checked()?;
        let old = self
            .modifiable(actor, guild, id, ExpressionKind::Emoji)
            .await?;
        let mut new = old.clone();
        new.name = name;
        self.store().put_expression(&new).await?;
        self.emit_expressions(guild, ExpressionKind::Emoji).await?;
        let changes = super::audit::diff(&old.emoji_response(), &new.emoji_response(), &[]);
        let entry = Audited::new(audit_action::EMOJI_UPDATE, id, changes);
        self.audit(actor, guild, entry).await?;
        Ok(new.emoji_response())
    }

    /// `PATCH /guilds/{id}/stickers/{id}`: replaces its name, description and tags.
    pub async fn update_sticker(
        &self,
        actor: &Actor,
        guild: GuildId,
        id: ExpressionId,
        req: StickerUpdate,
    ) -> Result<StickerResponse> {
        let edit = req.checked()?;
        let old = self
            .modifiable(actor, guild, id, ExpressionKind::Sticker)
            .await?;
        let new = edit.applied_to(&old);
        self.store().put_expression(&new).await?;
        self.emit_expressions(guild, ExpressionKind::Sticker)
            .await?;
        let changes = super::audit::diff(&old.sticker_response(), &new.sticker_response(), &[]);
        let entry = Audited::new(audit_action::STICKER_UPDATE, id, changes);
        self.audit(actor, guild, entry).await?;
        Ok(new.sticker_response())
    }

    /// `DELETE /guilds/{id}/emojis/{id}` and `/stickers/{id}`: the image stays for the messages
    /// that show it, unless `purge` (which needs the guild's `EXPRESSION_PURGE_ALLOWED` feature).
    pub async fn delete_expression(
        &self,
        actor: &Actor,
        guild: GuildId,
        id: ExpressionId,
        kind: ExpressionKind,
        purge: bool,
    ) -> Result<()> {
        if purge {
            let access = self.guild_access(actor.id(), guild).await?;
            if !access.guild.features.iter().any(|f| f == PURGE_FEATURE) {
                return Err(Error::MissingAccess);
            }
        }
        let gone = self.modifiable(actor, guild, id, kind).await?;
        self.store().delete_expression(id).await?;
        self.emit_expressions(guild, kind).await?;
        let action = match kind {
            ExpressionKind::Emoji => audit_action::EMOJI_DELETE,
            ExpressionKind::Sticker => audit_action::STICKER_DELETE,
        };
        let entry = Audited::new(
            action,
            id,
            vec![change("name", Some(gone.name.clone()), None)],
        );
        self.audit(actor, guild, entry).await?;
        if purge {
            self.delete_blobs_later(vec![gone.blob_key()]).await;
        }
        Ok(())
    }

    /// A guild's expressions of one kind, by ID.
    pub(crate) async fn expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> Result<Vec<Expression>> {
        Ok(self.store().list_guild_expressions(guild, kind).await?)
    }

    /// The guild's emojis as `GUILD_CREATE` carries them.
    pub(crate) async fn emoji_responses(&self, guild: GuildId) -> Result<Vec<EmojiResponse>> {
        let list = self.expressions(guild, ExpressionKind::Emoji).await?;
        Ok(list.iter().map(Expression::emoji_response).collect())
    }

    /// The guild's stickers as `GUILD_CREATE` carries them.
    pub(crate) async fn sticker_responses(&self, guild: GuildId) -> Result<Vec<StickerResponse>> {
        let list = self.expressions(guild, ExpressionKind::Sticker).await?;
        Ok(list.iter().map(Expression::sticker_response).collect())
    }

    async fn uploaders(&self, list: &[Expression]) -> Result<Vec<crate::model::UserPartial>> {
        let mut ids: Vec<UserId> = list.iter().map(|e| e.creator_id).collect();
        ids.sort();
        ids.dedup();
        let users = self.store().get_users(&ids).await?;
        Ok(users.iter().map(crate::model::User::partial).collect())
    }

    /// The caller's standing, when it may upload (CREATE_EXPRESSIONS).
    async fn expression_creator(&self, actor: &Actor, guild: GuildId) -> Result<GuildAccess> {
        let access = self.guild_access(actor.id(), guild).await?;
        access.require(Permissions::CREATE_EXPRESSIONS)?;
        Ok(access)
    }

    /// The expression, when the caller may change it: its uploader with CREATE_EXPRESSIONS, anyone
    /// with MANAGE_EXPRESSIONS.
    async fn modifiable(
        &self,
        actor: &Actor,
        guild: GuildId,
        id: ExpressionId,
        kind: ExpressionKind,
    ) -> Result<Expression> {
        let access = self.guild_access(actor.id(), guild).await?;
        let unknown = Error::Unknown(match kind {
            ExpressionKind::Emoji => Unknown::Emoji,
            ExpressionKind::Sticker => Unknown::Sticker,
        });
        let found = self
            .store()
            .get_expression(id)
            .await?
            .filter(|e| e.guild_id == guild && e.kind == kind)
            .ok_or(unknown)?;
        access.require(if found.creator_id == actor.id() {
            Permissions::CREATE_EXPRESSIONS
        } else {
            Permissions::MANAGE_EXPRESSIONS
        })?;
        Ok(found)
    }

    /// Creates each draft in the guild (a refused one does not stop the rest), then sends the
    /// guild's list once.
    async fn create_in_guild(
        &self,
        actor: &Actor,
        access: &GuildAccess,
        drafts: Vec<Draft>,
    ) -> Result<BulkCreated<Expression>> {
        let kind = drafts.first().map(|d| d.kind);
        let mut created = BulkCreated::new();
        for (i, draft) in drafts.into_iter().enumerate() {
            let (name, path) = (draft.name.clone(), draft.bulk_image_path(i));
            let outcome = self.create_expression(actor, access, draft, &path).await;
            created.record(name, outcome)?;
        }
        if let (Some(kind), false) = (kind, created.success.is_empty()) {
            self.emit_expressions(access.guild.id, kind).await?;
        }
        Ok(created)
    }

    /// Checks the image and the guild's limit, stores both, and records it in the audit log.
    async fn create_expression(
        &self,
        actor: &Actor,
        access: &GuildAccess,
        draft: Draft,
        image_path: &str,
    ) -> Result<Expression> {
        let guild = access.guild.id;
        let (bytes, info) = self
            .expression_image(draft.kind, &draft.image, image_path)
            .await?;
        let existing = self.expressions(guild, draft.kind).await?;
        let (limit, max) = match (draft.kind, info.animated) {
            (ExpressionKind::Emoji, false) => {
                (Limit::Emojis, self.limits().await?.emojis_per_guild)
            }
            (ExpressionKind::Emoji, true) => (
                Limit::AnimatedEmojis,
                self.limits().await?.animated_emojis_per_guild,
            ),
            (ExpressionKind::Sticker, _) => {
                (Limit::Stickers, self.limits().await?.stickers_per_guild)
            }
        };
        let counted = existing
            .iter()
            .filter(|e| draft.kind == ExpressionKind::Sticker || e.animated == info.animated)
            .count();
        if counted >= max {
            return Err(Error::LimitReached {
                limit,
                max: max as u64,
            });
        }
        let expression = self
            .store_expression(actor.id(), guild, draft, bytes, info)
            .await?;
        let (action, fields) = match expression.kind {
            ExpressionKind::Emoji => (
                audit_action::EMOJI_CREATE,
                json!(expression.emoji_response()),
            ),
            ExpressionKind::Sticker => (
                audit_action::STICKER_CREATE,
                json!(expression.sticker_response()),
            ),
        };
        let changes = super::audit::diff(&json!({}), &fields, &["id"]);
        self.audit(actor, guild, Audited::new(action, expression.id, changes))
            .await?;
        Ok(expression)
    }

    /// An expression's image, decoded and checked: PNG, JPEG, GIF or WebP for an emoji, PNG, GIF
    /// or WebP for a sticker, within the kind's size limit.
    pub(super) async fn expression_image(
        &self,
        kind: ExpressionKind,
        image: &str,
        image_path: &str,
    ) -> Result<(Vec<u8>, MediaInfo)> {
        let (_, media) = self.upload_ports()?;
        let max_bytes = match kind {
            ExpressionKind::Emoji => self.limits().await?.emoji_bytes,
            ExpressionKind::Sticker => self.limits().await?.sticker_bytes,
        };
        let bytes = decode_image(image, max_bytes, image_path)?;
        let info = media.inspect(&bytes);
        let accepted: &[&str] = match kind {
            ExpressionKind::Emoji => &["image/png", "image/jpeg", "image/gif", "image/webp"],
            ExpressionKind::Sticker => &["image/png", "image/gif", "image/webp"],
        };
        if !accepted.contains(&info.content_type.as_str()) || info.width.is_none() {
            return Err(Error::field(
                image_path,
                "INVALID_IMAGE_FORMAT",
                match kind {
                    ExpressionKind::Emoji => "Use a PNG, JPEG, GIF or WebP image.",
                    ExpressionKind::Sticker => "Use a PNG, GIF or WebP image.",
                },
            ));
        }
        Ok((bytes, info))
    }

    /// Stores a checked image and its expression under `owner` (a guild, or a pack's
    /// [`expression_owner`](crate::id::PackId::expression_owner)).
    pub(super) async fn store_expression(
        &self,
        creator: UserId,
        owner: GuildId,
        draft: Draft,
        bytes: Vec<u8>,
        info: MediaInfo,
    ) -> Result<Expression> {
        let (blobs, _) = self.upload_ports()?;
        let expression = Expression {
            id: self.next_id(),
            guild_id: owner,
            kind: draft.kind,
            name: draft.name,
            creator_id: creator,
            animated: info.animated,
            content_type: info.content_type.clone(),
            description: draft.description,
            tags: draft.tags,
        };
        blobs
            .put(&expression.blob_key(), bytes, Some(&info.content_type))
            .await?;
        self.store().put_expression(&expression).await?;
        Ok(expression)
    }

    /// The stickers `user` asks a message to carry, checked: each exists, one from another guild
    /// or a pack (or sent in a DM) needs USE_EXTERNAL_STICKERS where it is sent, and a pack's
    /// only for those who made or installed the pack (as if it did not exist, for others).
    pub(crate) async fn resolve_stickers(
        &self,
        user: UserId,
        access: &ChannelAccess,
        ids: &[ExpressionId],
    ) -> Result<Vec<StickerItem>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.store().get_expressions(ids).await?;
        let foreign = found
            .iter()
            .map(|e| e.guild_id)
            .filter(|g| access.guild_id() != Some(*g));
        let locked = self.locked_packs(user, foreign).await?;
        let not_found = || {
            Error::field(
                "sticker",
                "CUSTOM_STICKER_NOT_FOUND",
                "That sticker does not exist.",
            )
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let sticker = found
                .iter()
                .find(|e| e.id == *id && e.kind == ExpressionKind::Sticker)
                .ok_or_else(not_found)?;
            if access.guild_id() != Some(sticker.guild_id) {
                access.require(Permissions::USE_EXTERNAL_STICKERS)?;
                if locked.contains(&sticker.guild_id) {
                    return Err(not_found());
                }
            }
            out.push(sticker.sticker_item());
        }
        Ok(out)
    }

    /// `content` with each custom emoji (`<:name:id>`, `<a:name:id>`, outside code) that `user`
    /// may not use here written as `:name:`, as upstream does: an unknown emoji, one from another
    /// guild or a pack without USE_EXTERNAL_EMOJIS in this channel, or one from a pack `user`
    /// neither made nor installed.
    pub(crate) async fn sanitize_custom_emojis(
        &self,
        user: UserId,
        access: &ChannelAccess,
        content: &str,
    ) -> Result<String> {
        let external = access
            .permissions
            .contains(Permissions::USE_EXTERNAL_EMOJIS);
        let mut text = content.to_owned();
        let mut known: Vec<crate::model::Expression> = Vec::new();
        let mut locked: HashSet<GuildId> = HashSet::new();
        // A replacement can join the text around it into a new token (`<<:x:1>2>`): until a pass
        // leaves the text as it was. Each pass that changes it shortens it, so this ends.
        loop {
            let tokens = custom_emoji_tokens(&text);
            let unseen: Vec<ExpressionId> = tokens
                .iter()
                .map(|t| t.id)
                .filter(|id| !known.iter().any(|e| e.id == *id))
                .collect();
            if !unseen.is_empty() {
                let found = self.store().get_expressions(&unseen).await?;
                let foreign = found
                    .iter()
                    .map(|e| e.guild_id)
                    .filter(|g| access.guild_id() != Some(*g));
                locked.extend(self.locked_packs(user, foreign).await?);
                known.extend(found);
            }
            let allowed = |id: ExpressionId| {
                known.iter().any(|e| {
                    e.id == id
                        && e.kind == ExpressionKind::Emoji
                        && (access.guild_id() == Some(e.guild_id)
                            || (external && !locked.contains(&e.guild_id)))
                })
            };
            if tokens.iter().all(|t| allowed(t.id)) {
                return Ok(text);
            }
            let mut out = String::with_capacity(text.len());
            let mut at = 0;
            for t in &tokens {
                out.push_str(&text[at..t.start]);
                if allowed(t.id) {
                    out.push_str(&text[t.start..t.end]);
                } else {
                    out.push(':');
                    out.push_str(t.name);
                    out.push(':');
                }
                at = t.end;
            }
            out.push_str(&text[at..]);
            text = out;
        }
    }

    /// A custom emoji `user` starts a reaction with, as stored: `CUSTOM_EMOJI_NOT_FOUND` when there
    /// is none; one from another guild or a pack (or used in a DM) needs USE_EXTERNAL_EMOJIS there,
    /// and a pack's is for those who made or installed the pack
    /// (`EMOJI_REQUIRES_GUILD_OR_PACK_ACCESS`).
    pub(crate) async fn reaction_emoji(
        &self,
        user: UserId,
        access: &ChannelAccess,
        emoji: &ReactionEmoji,
    ) -> Result<ReactionEmoji> {
        let Some(id) = emoji.id else {
            return Ok(emoji.clone());
        };
        let found = self
            .store()
            .get_expression(id.into())
            .await?
            .filter(|e| e.kind == ExpressionKind::Emoji)
            .ok_or_else(|| {
                Error::field(
                    "emoji",
                    "CUSTOM_EMOJI_NOT_FOUND",
                    "That emoji does not exist.",
                )
            })?;
        if access.guild_id() != Some(found.guild_id) {
            access.require(Permissions::USE_EXTERNAL_EMOJIS)?;
            if !self.locked_packs(user, [found.guild_id]).await?.is_empty() {
                return Err(Error::field(
                    "emoji",
                    "EMOJI_REQUIRES_GUILD_OR_PACK_ACCESS",
                    "That emoji belongs to a pack you have not installed.",
                ));
            }
        }
        Ok(ReactionEmoji {
            id: Some(id),
            name: found.name,
            animated: Some(found.animated),
        })
    }

    /// Sends the guild's whole list of one kind to its members.
    pub(super) async fn emit_expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> Result<()> {
        let list = self.expressions(guild, kind).await?;
        let (event, payload) = match kind {
            ExpressionKind::Emoji => (
                EventKind::GuildEmojisUpdate,
                json!({
                    "guild_id": guild,
                    "emojis": list.iter().map(Expression::emoji_response).collect::<Vec<_>>(),
                }),
            ),
            ExpressionKind::Sticker => (
                EventKind::GuildStickersUpdate,
                json!({
                    "guild_id": guild,
                    "stickers": list.iter().map(Expression::sticker_response).collect::<Vec<_>>(),
                }),
            ),
        };
        self.emit(Dispatch::new(event, Topic::Guild(guild), &payload))
            .await;
        Ok(())
    }
}

impl<T> BulkCreated<T> {
    /// The same outcome with each created item turned into its wire form.
    pub(super) fn map<U>(self, f: impl Fn(&T) -> U) -> BulkCreated<U> {
        BulkCreated {
            success: self.success.iter().map(f).collect(),
            failed: self.failed,
        }
    }
}

impl BulkCreated<Expression> {
    /// Nothing yet.
    pub(super) fn new() -> Self {
        BulkCreated {
            success: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Records one item's outcome: created, or refused (the caller's fault: the rest goes on); a
    /// failure of the server stops the batch.
    pub(super) fn record(&mut self, name: String, outcome: Result<Expression>) -> Result<()> {
        match outcome {
            Ok(e) => self.success.push(e),
            Err(e) if e.is_client_error() => self.failed.push(BulkFailure {
                name,
                error: match &e {
                    Error::LimitReached { .. } => e.to_string(),
                    _ => e.code().to_owned(),
                },
            }),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// A custom emoji written in text.
#[derive(Debug, PartialEq)]
struct EmojiToken<'a> {
    start: usize,
    end: usize,
    name: &'a str,
    id: ExpressionId,
}

/// The custom emojis in `content` (`<:name:id>`, `<a:name:id>`), skipping code spans and fenced
/// blocks.
fn custom_emoji_tokens(content: &str) -> Vec<EmojiToken<'_>> {
    let bytes = content.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => {
                // A run of backticks opens a span that the same run closes.
                let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
                let fence = &content[i..i + run];
                i = match content[i + run..].find(fence) {
                    Some(close) => i + run + close + run,
                    None => i + run,
                };
            }
            b'<' => match parse_emoji_token(&content[i..]) {
                Some((len, name, id)) => {
                    out.push(EmojiToken {
                        start: i,
                        end: i + len,
                        name,
                        id,
                    });
                    i += len;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    out
}

/// `<:name:id>` or `<a:name:id>` at the start of `s`: its length, name and ID.
fn parse_emoji_token(s: &str) -> Option<(usize, &str, ExpressionId)> {
    let body = s.strip_prefix("<a:").or_else(|| s.strip_prefix("<:"))?;
    let close = body.find('>')?;
    let (name, id) = body[..close].split_once(':')?;
    if name.is_empty() || name.contains([' ', '<', '\n']) || id.is_empty() {
        return None;
    }
    let id = id.parse::<u64>().ok()?;
    Some((
        s.len() - body.len() + close + 1,
        name,
        ExpressionId::new(id),
    ))
}

/// The image's bytes: base64, after an optional `data:...;base64,` prefix (the declared type is
/// ignored; the bytes are sniffed), at most `max_bytes`.
fn decode_image(image: &str, max_bytes: u64, path: &str) -> Result<Vec<u8>> {
    let encoded = image.split_once(',').map_or(image, |(_, data)| data).trim();
    if encoded.len() as u64 > max_bytes.div_ceil(3) * 4 {
        return Err(Error::field(
            path,
            "IMAGE_SIZE_EXCEEDS_LIMIT",
            format!("Images may be at most {max_bytes} bytes."),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| {
            Error::field(
                path,
                "INVALID_BASE64_FORMAT",
                "The image is not valid base64.",
            )
        })?;
    if bytes.is_empty() {
        return Err(Error::field(
            path,
            "INVALID_IMAGE_FORMAT",
            "The image is empty.",
        ));
    }
    if bytes.len() as u64 > max_bytes {
        return Err(Error::field(
            path,
            "IMAGE_SIZE_EXCEEDS_LIMIT",
            format!("Images may be at most {max_bytes} bytes."),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_emojis_are_found_outside_code_only() {
        let text = "hi <:wave:12> `<:no:1>` ```\n<a:nope:2>\n``` <a:dance:34>< :x:5> <:bad:id>";
        let found: Vec<(&str, u64)> = custom_emoji_tokens(text)
            .iter()
            .map(|t| (t.name, t.id.get()))
            .collect();
        assert_eq!(found, [("wave", 12), ("dance", 34)]);
        let t = &custom_emoji_tokens(text)[0];
        assert_eq!(&text[t.start..t.end], "<:wave:12>");
        // An unclosed backtick hides nothing.
        assert_eq!(custom_emoji_tokens("` <:a:1>").len(), 1);
    }

    #[test]
    fn images_decode_from_base64_or_data_uris_within_the_limit() {
        let png = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3]);
        assert_eq!(decode_image(&png, 10, "image").unwrap(), [1, 2, 3]);
        let uri = format!("data:image/gif;base64,{png}");
        assert_eq!(decode_image(&uri, 10, "image").unwrap(), [1, 2, 3]);
        let code = |r: Result<Vec<u8>>| match r {
            Err(Error::InvalidForm(e)) => e[0].code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(decode_image(&png, 2, "image")),
            "IMAGE_SIZE_EXCEEDS_LIMIT"
        );
        assert_eq!(
            code(decode_image("!!!!", 10, "image")),
            "INVALID_BASE64_FORMAT"
        );
    }
}
