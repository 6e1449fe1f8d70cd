//! A pack's emojis and stickers (`/packs/emojis/{id}`, `/packs/stickers/{id}`), as upstream: only
//! the pack's creator lists, adds, renames or deletes them, and a pack holds one kind only
//! (`INVALID_PACK_TYPE` for the other). They are stored and served like a guild's (same image
//! rules, `/media/emojis/{id}.{ext}`), at most `expressions_per_pack` in a pack. Deleting keeps the
//! image for the messages that show it, unless `?purge` is asked.

use super::expressions::{
    BulkCreated, Draft, EmojiCreate, EmojiUpdate, StickerCreate, StickerUpdate,
    validate_emoji_drafts, validate_sticker_drafts,
};
use super::packs::require_pack_access;
use super::{Actor, Fluxer};
use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ExpressionId, PackId};
use crate::model::{EmojiResponse, Expression, ExpressionKind, Pack, StickerResponse};

impl Fluxer {
    /// `GET /packs/emojis/{id}`: with each uploader.
    pub async fn list_pack_emojis(&self, actor: &Actor, id: PackId) -> Result<Vec<EmojiResponse>> {
        let pack = self.pack_to_fill(actor, id, ExpressionKind::Emoji).await?;
        let list = self
            .expressions(pack.id.expression_owner(), pack.kind)
            .await?;
        self.with_uploaders(&list, |e, user| EmojiResponse {
            user: Some(user),
            ..e.emoji_response()
        })
        .await
    }

    /// `GET /packs/stickers/{id}`: with each uploader.
    pub async fn list_pack_stickers(
        &self,
        actor: &Actor,
        id: PackId,
    ) -> Result<Vec<StickerResponse>> {
        let pack = self
            .pack_to_fill(actor, id, ExpressionKind::Sticker)
            .await?;
        let list = self
            .expressions(pack.id.expression_owner(), pack.kind)
            .await?;
        self.with_uploaders(&list, |e, user| StickerResponse {
            user: Some(user),
            ..e.sticker_response()
        })
        .await
    }

    /// `POST /packs/emojis/{id}`.
    pub async fn create_pack_emoji(
        &self,
        actor: &Actor,
        id: PackId,
        req: EmojiCreate,
    ) -> Result<EmojiResponse> {
        let draft = Draft::emoji(req);
        validate_emoji_drafts(std::slice::from_ref(&draft), false)?;
        let pack = self.pack_to_fill(actor, id, ExpressionKind::Emoji).await?;
        let made = self
            .add_to_pack(actor, &pack, draft, "image".into())
            .await?;
        Ok(made.emoji_response())
    }

    /// `POST /packs/emojis/{id}/bulk`: 1 to 50 at once, each created or refused on its own.
    pub async fn create_pack_emojis(
        &self,
        actor: &Actor,
        id: PackId,
        reqs: Vec<EmojiCreate>,
    ) -> Result<BulkCreated<EmojiResponse>> {
        let drafts: Vec<Draft> = reqs.into_iter().map(Draft::emoji).collect();
        validate_emoji_drafts(&drafts, true)?;
        let pack = self.pack_to_fill(actor, id, ExpressionKind::Emoji).await?;
        let created = self.fill_pack(actor, &pack, drafts).await?;
        Ok(created.map(Expression::emoji_response))
    }

    /// `POST /packs/stickers/{id}`.
    pub async fn create_pack_sticker(
        &self,
        actor: &Actor,
        id: PackId,
        req: StickerCreate,
    ) -> Result<StickerResponse> {
        let draft = Draft::sticker(req);
        validate_sticker_drafts(std::slice::from_ref(&draft), false)?;
        let pack = self
            .pack_to_fill(actor, id, ExpressionKind::Sticker)
            .await?;
        let made = self
            .add_to_pack(actor, &pack, draft, "image".into())
            .await?;
        Ok(made.sticker_response())
    }

    /// `POST /packs/stickers/{id}/bulk`: 1 to 50 at once.
    pub async fn create_pack_stickers(
        &self,
        actor: &Actor,
        id: PackId,
        reqs: Vec<StickerCreate>,
    ) -> Result<BulkCreated<StickerResponse>> {
        let drafts: Vec<Draft> = reqs.into_iter().map(Draft::sticker).collect();
        validate_sticker_drafts(&drafts, true)?;
        let pack = self
            .pack_to_fill(actor, id, ExpressionKind::Sticker)
            .await?;
        let created = self.fill_pack(actor, &pack, drafts).await?;
        Ok(created.map(Expression::sticker_response))
    }

    /// `PATCH /packs/emojis/{id}/{emoji}`: renames it.
    pub async fn update_pack_emoji(
        &self,
        actor: &Actor,
        id: PackId,
        emoji: ExpressionId,
        req: EmojiUpdate,
    ) -> Result<EmojiResponse> {
        let name = req.checked()?;
        let pack = self.pack_to_fill(actor, id, ExpressionKind::Emoji).await?;
        let mut found = self.pack_expression(&pack, emoji).await?;
        found.name = name;
        self.store().put_expression(&found).await?;
        Ok(found.emoji_response())
    }

    /// `PATCH /packs/stickers/{id}/{sticker}`: replaces its name, description and tags.
    pub async fn update_pack_sticker(
        &self,
        actor: &Actor,
        id: PackId,
        sticker: ExpressionId,
        req: StickerUpdate,
    ) -> Result<StickerResponse> {
        let edit = req.checked()?;
        let pack = self
            .pack_to_fill(actor, id, ExpressionKind::Sticker)
            .await?;
        let found = self.pack_expression(&pack, sticker).await?;
        let updated = edit.applied_to(&found);
        self.store().put_expression(&updated).await?;
        Ok(updated.sticker_response())
    }

    /// `DELETE /packs/emojis/{id}/{emoji}` and `/packs/stickers/{id}/{sticker}`: the image stays
    /// for the messages that show it, unless `purge`.
    pub async fn delete_pack_expression(
        &self,
        actor: &Actor,
        id: PackId,
        expression: ExpressionId,
        kind: ExpressionKind,
        purge: bool,
    ) -> Result<()> {
        let pack = self.pack_to_fill(actor, id, kind).await?;
        let gone = self.pack_expression(&pack, expression).await?;
        self.store().delete_expression(gone.id).await?;
        if purge {
            self.delete_blobs_later(vec![gone.blob_key()]).await;
        }
        Ok(())
    }

    /// The caller's own pack of `kind`: `INVALID_PACK_TYPE` for a pack of the other kind.
    async fn pack_to_fill(&self, actor: &Actor, id: PackId, kind: ExpressionKind) -> Result<Pack> {
        require_pack_access(actor)?;
        let pack = self.own_pack(actor, id).await?;
        if pack.kind != kind {
            return Err(Error::rejected(
                "INVALID_PACK_TYPE",
                match kind {
                    ExpressionKind::Emoji => "This is not an emoji pack.",
                    ExpressionKind::Sticker => "This is not a sticker pack.",
                },
            ));
        }
        Ok(pack)
    }

    /// One of the pack's expressions: `UNKNOWN_EMOJI` or `UNKNOWN_STICKER` when it has none by
    /// that ID.
    async fn pack_expression(&self, pack: &Pack, id: ExpressionId) -> Result<Expression> {
        self.store()
            .get_expression(id)
            .await?
            .filter(|e| e.guild_id == pack.id.expression_owner() && e.kind == pack.kind)
            .ok_or(Error::Unknown(match pack.kind {
                ExpressionKind::Emoji => Unknown::Emoji,
                ExpressionKind::Sticker => Unknown::Sticker,
            }))
    }

    /// Adds each draft to the pack in turn; a refused one does not stop the rest.
    async fn fill_pack(
        &self,
        actor: &Actor,
        pack: &Pack,
        drafts: Vec<Draft>,
    ) -> Result<BulkCreated<Expression>> {
        let mut created = BulkCreated::new();
        for (i, draft) in drafts.into_iter().enumerate() {
            let (name, path) = (draft.name.clone(), draft.bulk_image_path(i));
            let outcome = self.add_to_pack(actor, pack, draft, path).await;
            created.record(name, outcome)?;
        }
        Ok(created)
    }

    /// Adds one expression to the pack: `MAX_PACK_EXPRESSIONS` when it is full, then the image is
    /// checked and stored.
    async fn add_to_pack(
        &self,
        actor: &Actor,
        pack: &Pack,
        draft: Draft,
        image_path: String,
    ) -> Result<Expression> {
        let owner = pack.id.expression_owner();
        let max = self.limits().await?.expressions_per_pack;
        if self.expressions(owner, pack.kind).await?.len() >= max {
            return Err(Error::LimitReached {
                limit: Limit::PackExpressions,
                max: max as u64,
            });
        }
        let (bytes, info) = self
            .expression_image(draft.kind, &draft.image, &image_path)
            .await?;
        self.store_expression(actor.id(), owner, draft, bytes, info)
            .await
    }
}
