//! Staff acting on many guilds or members at once (`/admin/bulk/add-guild-members`,
//! `/admin/bulk/update-guild-features`, upstream's paths and bodies): each item is done as its
//! single operation would do it, one failing does not stop the others, and each item done leaves its
//! admin audit entry (a bulk addition leaves one for the guild). (The user-side bulk operations belong with the user administration.)

use serde::{Deserialize, Serialize};

use super::admin_guilds::validate_features;
use super::{AdminAction, AdminPrincipal, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, UserId};
use crate::validation::Validator;

/// Most items in one bulk request.
pub const MAX_BULK_ITEMS: usize = 1000;

/// `POST /admin/bulk/add-guild-members`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkAddGuildMembers {
    /// The guild.
    pub guild_id: GuildId,
    /// Up to 1000 users to add.
    pub user_ids: Vec<UserId>,
}

/// `POST /admin/bulk/update-guild-features`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkUpdateGuildFeatures {
    /// Up to 1000 guilds.
    pub guild_ids: Vec<GuildId>,
    /// Features to add to each, at most 100.
    #[serde(default)]
    pub add_features: Vec<String>,
    /// Features to remove from each, at most 100.
    #[serde(default)]
    pub remove_features: Vec<String>,
}

/// One item that failed.
#[derive(Debug, Clone, Serialize)]
pub struct BulkItemFailure {
    /// The item's ID.
    pub id: String,
    /// Why, for people.
    pub error: String,
}

/// What a bulk operation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkOutcome {
    /// The items done.
    pub successful: Vec<String>,
    /// The items not done.
    pub failed: Vec<BulkItemFailure>,
}

impl BulkOutcome {
    pub(crate) fn record(&mut self, id: impl ToString, result: Result<()>) {
        match result {
            Ok(()) => self.successful.push(id.to_string()),
            Err(e) => self.failed.push(BulkItemFailure {
                id: id.to_string(),
                // A server-side failure's cause is for the log, not the answer.
                error: if e.is_client_error() {
                    e.to_string()
                } else {
                    "Internal error.".to_owned()
                },
            }),
        }
    }
}

impl Fluxer {
    /// `POST /admin/bulk/add-guild-members`: each user joins as with `force-add-user`
    /// (`GUILD_MEMBER_ADD`, `GUILD_CREATE`); an unknown guild fails the whole request.
    pub async fn admin_bulk_add_guild_members(
        &self,
        by: &AdminPrincipal,
        req: BulkAddGuildMembers,
    ) -> Result<BulkOutcome> {
        let mut v = Validator::new();
        v.count("user_ids", req.user_ids.len(), MAX_BULK_ITEMS);
        v.finish()?;
        self.store()
            .get_guild(req.guild_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        let mut out = BulkOutcome::default();
        for user in &req.user_ids {
            let result = async {
                self.store()
                    .get_user(*user)
                    .await?
                    .filter(|u| u.deleted_at.is_none())
                    .ok_or(Error::Unknown(Unknown::User))?;
                self.add_to_guild(req.guild_id, *user, false).await?;
                Ok(())
            }
            .await;
            out.record(user, result);
        }
        let entry = AdminAction::new("bulk.add_guild_members", "guild", req.guild_id)
            .with("user_count", req.user_ids.len())
            .with("added", out.successful.len());
        self.record_admin_action(by, entry).await?;
        Ok(out)
    }

    /// `POST /admin/bulk/update-guild-features`: as `update-features` on each guild.
    pub async fn admin_bulk_update_guild_features(
        &self,
        by: &AdminPrincipal,
        req: BulkUpdateGuildFeatures,
    ) -> Result<BulkOutcome> {
        let mut v = Validator::new();
        v.count("guild_ids", req.guild_ids.len(), MAX_BULK_ITEMS);
        validate_features(&mut v, &req.add_features, &req.remove_features);
        v.finish()?;
        let mut out = BulkOutcome::default();
        for guild in &req.guild_ids {
            let result =
                async {
                    let (before, after) = self
                        .change_guild_features(*guild, &req.add_features, &req.remove_features)
                        .await?;
                    let entry = AdminAction::new("bulk.update_guild_features", "guild", guild)
                        .change("features", before, after.features.join(","));
                    self.record_admin_action(by, entry).await
                }
                .await;
            out.record(guild, result);
        }
        Ok(out)
    }
}
