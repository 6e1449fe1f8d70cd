//! The user side of `/admin/bulk/*`: many accounts' flags changed, many accounts' deletion
//! scheduled. Each account is done as its single operation does it (with its own audit entry);
//! one failing does not stop the others.

use serde::Deserialize;

use super::{AdminPrincipal, AdminScheduleDeletion};
use crate::error::Result;
use crate::id::UserId;
use crate::model::acl;
use crate::service::{BulkOutcome, Fluxer, MAX_BULK_ITEMS};
use crate::validation::Validator;

/// `POST /admin/bulk/schedule-user-deletion`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkScheduleUserDeletion {
    /// Up to 1000 accounts.
    pub user_ids: Vec<UserId>,
    /// Upstream's deletion reason code (kept in each audit entry).
    pub reason_code: u32,
    /// A reason that may be shown to the people, at most 512 characters.
    #[serde(default)]
    pub public_reason: Option<String>,
    /// 1-365 (upstream's default: 60).
    #[serde(default = "default_days")]
    pub days_until_deletion: i64,
}

fn default_days() -> i64 {
    60
}

impl Fluxer {
    /// Adds then removes flag bits on each account (`bulk:update:user_flags`).
    pub async fn admin_bulk_update_user_flags(
        &self,
        who: &AdminPrincipal,
        user_ids: &[UserId],
        add: &[u64],
        remove: &[u64],
    ) -> Result<BulkOutcome> {
        who.require(acl::BULK_UPDATE_USER_FLAGS)?;
        let mut v = Validator::new();
        v.count("user_ids", user_ids.len(), MAX_BULK_ITEMS);
        v.count("add_flags", add.len(), 64);
        v.count("remove_flags", remove.len(), 64);
        v.finish()?;
        let mut outcome = BulkOutcome::default();
        for &id in user_ids {
            let done = self.change_user_flags(who, id, add, remove).await;
            outcome.record(id, done.map(drop));
        }
        Ok(outcome)
    }

    /// Schedules each account's erasure, disabling it meanwhile (`bulk:delete:users`).
    pub async fn admin_bulk_schedule_user_deletion(
        &self,
        who: &AdminPrincipal,
        req: BulkScheduleUserDeletion,
    ) -> Result<BulkOutcome> {
        who.require(acl::BULK_DELETE_USERS)?;
        let mut v = Validator::new();
        v.count("user_ids", req.user_ids.len(), MAX_BULK_ITEMS);
        v.range("days_until_deletion", req.days_until_deletion, 1, 365);
        v.check(
            req.public_reason
                .as_ref()
                .is_none_or(|r| r.chars().count() <= 512),
            "public_reason",
            "BASE_TYPE_MAX_LENGTH",
            "At most 512 characters.",
        );
        v.finish()?;
        let mut outcome = BulkOutcome::default();
        for &user_id in &req.user_ids {
            let one = AdminScheduleDeletion {
                user_id,
                reason_code: req.reason_code,
                public_reason: req.public_reason.clone(),
                days_until_deletion: Some(req.days_until_deletion),
            };
            let done = self.schedule_user_deletion(who, &one).await;
            outcome.record(user_id, done.map(drop));
        }
        Ok(outcome)
    }
}
