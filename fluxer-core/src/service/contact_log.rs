//! The contact change log (upstream's `UserContactChangeLogService`): each change of an
//! account's email address or tag (`name#0001`), by its owner or by staff, kept as a private
//! document of the account ([`PrivateDocument::ContactChange`]) and read by staff through
//! `/admin/users/change-log`. Erased with the account. Phones are never stored here, so none is
//! logged.

use serde::{Deserialize, Serialize};

use super::{AdminPrincipal, Fluxer};
use crate::error::{Error, Result};
use crate::id::{Snowflake, UserId};
use crate::model::{User, acl};
use crate::ports::PrivateDocument;
use crate::time::Timestamp;
use crate::validation::Validator;

/// Most entries kept per account; older ones are dropped.
const MAX_CONTACT_CHANGES: usize = 500;
/// Most entries one page returns.
pub const MAX_CHANGE_LOG_PAGE: usize = 200;

/// Who asked for a contact change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContactChangeReason {
    /// The account's owner.
    UserRequested,
    /// Staff, through the admin API.
    AdminAction,
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactChange {
    /// The entry's own snowflake (its time and order).
    pub event_id: Snowflake,
    /// `email` or `fluxer_tag`.
    pub field: String,
    /// The value before; `None` when there was none.
    pub old_value: Option<String>,
    /// The value after; `None` when removed.
    pub new_value: Option<String>,
    /// Who asked for it.
    pub reason: ContactChangeReason,
    /// The account that made the change.
    pub actor_user_id: Option<UserId>,
    /// When.
    pub event_at: Timestamp,
}

impl Fluxer {
    /// Logs how `new` differs from `old` in email (compared lower-cased) and tag. A failure to
    /// log fails the caller: a change staff cannot trace is not silently accepted.
    pub(crate) async fn record_contact_changes(
        &self,
        old: &User,
        new: &User,
        reason: ContactChangeReason,
        actor: Option<UserId>,
    ) -> Result<()> {
        let email = |u: &User| u.email.as_ref().map(|e| e.to_lowercase());
        let mut changes = Vec::new();
        if email(old) != email(new) {
            changes.push(("email", email(old), email(new)));
        }
        if old.tag() != new.tag() {
            changes.push(("fluxer_tag", Some(old.tag()), Some(new.tag())));
        }
        if changes.is_empty() {
            return Ok(());
        }
        for (field, old_value, new_value) in changes {
            let event_id: Snowflake = self.next_id();
            let entry = ContactChange {
                event_id,
                field: field.to_owned(),
                old_value,
                new_value,
                reason,
                actor_user_id: actor,
                event_at: self.now(),
            };
            let data = serde_json::to_string(&entry).map_err(|e| Error::Internal(e.to_string()))?;
            self.store()
                .put_private_document(
                    new.id,
                    PrivateDocument::ContactChange,
                    event_id.0,
                    Some(&data),
                )
                .await?;
        }
        let kept = self
            .store()
            .list_private_documents(new.id, PrivateDocument::ContactChange)
            .await?;
        for (key, _) in kept
            .iter()
            .take(kept.len().saturating_sub(MAX_CONTACT_CHANGES))
        {
            self.store()
                .put_private_document(new.id, PrivateDocument::ContactChange, *key, None)
                .await?;
        }
        Ok(())
    }

    /// The account's contact changes, newest first (`user:lookup`): at most `limit`
    /// (1-[`MAX_CHANGE_LOG_PAGE`]) older than `page_token` (an entry's `event_id`), and the token
    /// of the next page when there is one.
    pub async fn admin_user_change_log(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        limit: usize,
        page_token: Option<&str>,
    ) -> Result<(Vec<ContactChange>, Option<String>)> {
        who.require(acl::USER_LOOKUP)?;
        let before = page_token.map(str::parse::<u64>);
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, MAX_CHANGE_LOG_PAGE as i64);
        v.check(
            before.as_ref().is_none_or(|b| b.is_ok()),
            "page_token",
            "BASE_TYPE_INVALID",
            "Not a page token from this log.",
        );
        v.finish()?;
        let before = before.and_then(|b| b.ok()).unwrap_or(u64::MAX);
        self.admin_target(id).await?;
        let docs = self
            .store()
            .list_private_documents(id, PrivateDocument::ContactChange)
            .await?;
        let mut older: Vec<ContactChange> = docs
            .into_iter()
            .rev()
            .filter(|(key, _)| *key < before)
            .take(limit + 1)
            .map(|(key, text)| {
                serde_json::from_str(&text)
                    .map_err(|e| Error::Internal(format!("corrupt contact change {id}/{key}: {e}")))
            })
            .collect::<Result<_>>()?;
        let next = if older.len() > limit {
            older.truncate(limit);
            older.last().map(|e| e.event_id.0.to_string())
        } else {
            None
        };
        Ok((older, next))
    }
}
