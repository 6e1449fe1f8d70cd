//! Staff acting on a guild's live state and its stored images (`/admin/guilds/{reload,shutdown,
//! clear-fields}`, `/admin/guilds/{id}/{emojis,stickers}`, `/admin/gateway/reload-all`,
//! `/admin/assets/purge`; upstream's paths and bodies).
//!
//! Upstream keeps each guild in a gateway process. There, a reload re-reads the guild from the
//! database and sends its sessions `GUILD_UPDATE`; a shutdown stops the process, so each session
//! sends `GUILD_DELETE` with `unavailable: true` and, once its retry starts the guild again,
//! `GUILD_CREATE`. Here the gateway nodes keep shared guild state built from the store, dropped on
//! events that change it: a reload publishes `GUILD_UPDATE` from the store (every node drops and
//! rebuilds its copy; clients see what upstream's see), and a shutdown publishes an unavailable
//! `GUILD_DELETE` on the guild's topic, on which each session drops what it keeps of the guild,
//! forwards the event and sends a fresh `GUILD_CREATE` (see the gateway's session).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AdminAction, AdminPrincipal, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ExpressionId, GuildId};
use crate::model::acl;
use crate::model::{Expression, ExpressionKind};
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

/// Most guilds one `/admin/gateway/reload-all` names (upstream's schema limit).
pub const MAX_RELOAD_GUILDS: usize = 1_000;
/// Most IDs one `/admin/assets/purge` takes (upstream's schema limit).
pub const MAX_ASSET_PURGE: usize = 100;
/// Most fields one `/admin/guilds/clear-fields` names (upstream's schema limit).
const MAX_CLEAR_FIELDS: usize = 10;

/// A guild image staff may clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GuildImageField {
    /// The icon.
    Icon,
    /// The banner.
    Banner,
    /// The invite splash.
    Splash,
    /// Upstream's embedded invite splash: not kept here, so clearing it changes nothing.
    EmbedSplash,
}

impl GuildImageField {
    fn as_str(self) -> &'static str {
        match self {
            GuildImageField::Icon => "icon",
            GuildImageField::Banner => "banner",
            GuildImageField::Splash => "splash",
            GuildImageField::EmbedSplash => "embed_splash",
        }
    }
}

/// `POST /admin/guilds/clear-fields`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminClearGuildFields {
    /// The guild.
    pub guild_id: GuildId,
    /// Up to 10 images to remove.
    pub fields: Vec<GuildImageField>,
}

/// `POST /admin/gateway/reload-all`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminReloadGuilds {
    /// Up to 1000 guilds; none means every guild the local gateway holds.
    pub guild_ids: Vec<GuildId>,
}

/// `POST /admin/assets/purge`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminAssetPurge {
    /// Up to 100 emoji or sticker IDs (as strings, as upstream takes them).
    pub ids: Vec<String>,
}

/// One purged asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgedAsset {
    /// The ID asked for.
    pub id: String,
    /// `emoji`, `sticker`, or `unknown` when no expression has that ID (its files are removed
    /// anyway).
    pub asset_type: &'static str,
    /// Whether an expression had that ID (and was deleted).
    pub found_in_db: bool,
    /// The guild it belonged to.
    pub guild_id: Option<GuildId>,
}

/// An ID that could not be purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetPurgeError {
    /// The ID asked for.
    pub id: String,
    /// Why.
    pub error: String,
}

/// What `/admin/assets/purge` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdminAssetPurgeResult {
    /// The IDs purged.
    pub processed: Vec<PurgedAsset>,
    /// The IDs refused.
    pub errors: Vec<AssetPurgeError>,
}

impl Fluxer {
    /// `GET /admin/guilds/{id}/emojis` and `/stickers`: the guild's expressions of one kind, by
    /// ID (needs `asset:purge`, as upstream: the lists serve the purge tool).
    pub async fn admin_list_guild_expressions(
        &self,
        by: &AdminPrincipal,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> Result<Vec<Expression>> {
        by.require(acl::ASSET_PURGE)?;
        self.store()
            .get_guild(guild)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        self.expressions(guild, kind).await
    }

    /// `POST /admin/guilds/clear-fields`: removes the named images (their files later) and
    /// publishes `GUILD_UPDATE` when one was set.
    pub async fn admin_clear_guild_fields(
        &self,
        by: &AdminPrincipal,
        req: AdminClearGuildFields,
    ) -> Result<()> {
        by.require(acl::GUILD_UPDATE_SETTINGS)?;
        let mut v = Validator::new();
        v.count("fields", req.fields.len(), MAX_CLEAR_FIELDS);
        v.finish()?;
        let mut guild = self
            .store()
            .get_guild(req.guild_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        let mut entry = AdminAction::new("guild.clear_fields", "guild", guild.id);
        let mut replaced = Vec::new();
        for field in &req.fields {
            let (slot, kind) = match field {
                GuildImageField::Icon => (&mut guild.icon, "icons"),
                GuildImageField::Banner => (&mut guild.banner, "banners"),
                GuildImageField::Splash => (&mut guild.splash, "splashes"),
                GuildImageField::EmbedSplash => continue,
            };
            if let Some(old) = slot.take() {
                replaced.push(super::image_key(kind, guild.id, &old));
                entry = entry.change(field.as_str(), &old, "null");
            }
        }
        let fields: Vec<&str> = req.fields.iter().map(|f| f.as_str()).collect();
        entry = entry.with("fields", fields.join(","));
        if !replaced.is_empty() {
            self.store().update_guild(&guild).await?;
            self.delete_blobs_later(replaced).await;
            self.emit_guild_update(&guild).await;
        }
        self.record_admin_action(by, entry).await
    }

    /// `POST /admin/guilds/reload`: members' clients get the guild as stored (`GUILD_UPDATE`),
    /// and every gateway node rebuilds its state of the guild.
    pub async fn admin_reload_guild(&self, by: &AdminPrincipal, id: GuildId) -> Result<()> {
        by.require(acl::GUILD_RELOAD)?;
        self.reload_guild(id).await?;
        self.record_admin_action(by, AdminAction::new("guild.reload", "guild", id))
            .await
    }

    /// `POST /admin/guilds/shutdown`: the guild goes unavailable to its members' sessions (an
    /// unavailable `GUILD_DELETE`), which drop what they keep of it and load it afresh. Nothing
    /// stored changes.
    pub async fn admin_shutdown_guild(&self, by: &AdminPrincipal, id: GuildId) -> Result<()> {
        by.require(acl::GUILD_SHUTDOWN)?;
        self.store()
            .get_guild(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        self.emit(Dispatch::new(
            EventKind::GuildDelete,
            Topic::Guild(id),
            &json!({ "id": id, "unavailable": true }),
        ))
        .await;
        self.record_admin_action(by, AdminAction::new("guild.shutdown", "guild", id))
            .await
    }

    /// `POST /admin/gateway/reload-all`: reloads each named guild that exists (as
    /// [`admin_reload_guild`](Self::admin_reload_guild)), or with none named the `loaded` ones
    /// (those the local gateway holds); returns how many were reloaded.
    pub async fn admin_reload_guilds(
        &self,
        by: &AdminPrincipal,
        req: AdminReloadGuilds,
        loaded: Vec<GuildId>,
    ) -> Result<usize> {
        by.require(acl::GATEWAY_RELOAD_ALL)?;
        let mut v = Validator::new();
        v.count("guild_ids", req.guild_ids.len(), MAX_RELOAD_GUILDS);
        v.finish()?;
        let mut ids = if req.guild_ids.is_empty() {
            loaded
        } else {
            req.guild_ids
        };
        ids.sort_unstable();
        ids.dedup();
        let mut count = 0;
        for id in ids {
            match self.reload_guild(id).await {
                Ok(()) => count += 1,
                Err(Error::Unknown(Unknown::Guild)) => {}
                Err(e) => return Err(e),
            }
        }
        let entry =
            AdminAction::new("gateway.reload_all", "gateway", "guilds").with("count", count);
        self.record_admin_action(by, entry).await?;
        Ok(count)
    }

    /// For `/admin/gateway/memory-stats`: a guild's member count and how many of its members
    /// are online (on every node).
    pub async fn admin_guild_population(
        &self,
        by: &AdminPrincipal,
        id: GuildId,
    ) -> Result<(u64, u64)> {
        by.require(acl::GATEWAY_MEMORY_STATS)?;
        let members = self.store().count_members(id).await?;
        let online = self.guild_online_count(id).await?;
        Ok((members, online))
    }

    async fn reload_guild(&self, id: GuildId) -> Result<()> {
        let guild = self
            .store()
            .get_guild(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        self.emit_guild_update(&guild).await;
        Ok(())
    }

    /// `POST /admin/assets/purge`: each ID that names an emoji or sticker deletes it (its guild's
    /// members get the new list) and its file; an ID that names neither has any file by that ID
    /// removed. Each purge leaves an admin audit entry; IDs that are not numbers are refused one
    /// by one; repeats and blanks are skipped.
    pub async fn admin_purge_assets(
        &self,
        by: &AdminPrincipal,
        req: AdminAssetPurge,
    ) -> Result<AdminAssetPurgeResult> {
        by.require(acl::ASSET_PURGE)?;
        let mut v = Validator::new();
        v.count("ids", req.ids.len(), MAX_ASSET_PURGE);
        v.finish()?;
        let mut out = AdminAssetPurgeResult::default();
        let mut seen = std::collections::HashSet::new();
        for raw in &req.ids {
            let id = raw.trim();
            if id.is_empty() || !seen.insert(id.to_owned()) {
                continue;
            }
            let Some(n) = id
                .parse::<u64>()
                .ok()
                .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
            else {
                out.errors.push(AssetPurgeError {
                    id: id.to_owned(),
                    error: "Invalid numeric ID".to_owned(),
                });
                continue;
            };
            out.processed
                .push(self.purge_asset(by, id, ExpressionId::new(n)).await?);
        }
        Ok(out)
    }

    async fn purge_asset(
        &self,
        by: &AdminPrincipal,
        raw: &str,
        id: ExpressionId,
    ) -> Result<PurgedAsset> {
        if let Some(found) = self.store().get_expression(id).await? {
            self.store().delete_expression(id).await?;
            self.emit_expressions(found.guild_id, found.kind).await?;
            self.delete_blobs_later(vec![found.blob_key()]).await;
            let kind = match found.kind {
                ExpressionKind::Emoji => "emoji",
                ExpressionKind::Sticker => "sticker",
            };
            let entry = AdminAction::new(
                &format!("asset.purge_guild_{kind}"),
                &format!("guild_{kind}"),
                id,
            )
            .with("asset_type", kind)
            .with("guild_id", found.guild_id)
            .with("name", &found.name);
            self.record_admin_action(by, entry).await?;
            return Ok(PurgedAsset {
                id: raw.to_owned(),
                asset_type: kind,
                found_in_db: true,
                guild_id: Some(found.guild_id),
            });
        }
        let keys = [ExpressionKind::Emoji, ExpressionKind::Sticker]
            .map(|k| format!("{}/{id}", k.blob_prefix()));
        self.delete_blobs_later(keys).await;
        let entry = AdminAction::new("asset.purge", "asset", id).with("asset_type", "unknown");
        self.record_admin_action(by, entry).await?;
        Ok(PurgedAsset {
            id: raw.to_owned(),
            asset_type: "unknown",
            found_in_db: false,
            guild_id: None,
        })
    }
}
