//! The admin API's use-cases: who the staff caller is and what they may do ([`AdminPrincipal`]),
//! the admin audit log every action writes to ([`AdminAction`]), admin API keys, instance-wide
//! bans and the instance config.
//!
//! Authorization follows upstream's `requireAdminACL`: the account must hold
//! `admin:authenticate` (or `*`) to use the admin API at all (403 `MISSING_PERMISSIONS` otherwise),
//! and each action needs its ACL (403 `MISSING_ACL`). Through an API key, both the key and the
//! account that created it must hold the ACL, so a key never outlives its creator's rights.

mod api_keys;
mod audit_log;
mod bans;
mod instance;
mod limits;
mod snowflake_reservations;
mod standing;
mod user_bulk;
mod user_records;
mod users;

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use api_keys::{AdminApiKeyCreate, AdminApiKeyCreated, MAX_ADMIN_API_KEYS};
pub use audit_log::{AdminAuditPage, MAX_ADMIN_AUDIT_LIMIT};
pub(crate) use bans::BanCache;
pub use bans::{BAN_REFRESH_MS, MAX_BAN_LIST, ip_banned};
pub use instance::{InstanceConfigUpdate, MAX_POLICY_TEXT};
pub(crate) use limits::LimitCache;
pub use limits::{LIMIT_REFRESH_MS, MAX_LIMIT_RULES};
pub use snowflake_reservations::{MAX_SNOWFLAKE_RESERVATIONS, SnowflakeReservation};
pub use standing::PERMANENT_BAN;
pub use user_bulk::BulkScheduleUserDeletion;
pub use user_records::{
    ClearableUserField, MAX_ADMIN_DM_PAGE, MAX_USER_TRAITS, SUSPICIOUS_ACTIVITY_FLAGS,
};
pub use users::{AdminScheduleDeletion, AdminUserLookup, MAX_ADMIN_USER_PAGE};

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::model::{AclSet, AdminAuditEntry, OAuth2Scope, User, acl};
use crate::ports::{INSTANCE_DOCUMENTS, PrivateDocument};

/// A staff caller of the admin API, authenticated, with what it may do.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    /// The staff account (for an API key, the account that created it).
    pub user: User,
    /// The account's ACLs.
    pub user_acls: AclSet,
    /// The API key the call came through, if any: its ID and its ACLs.
    pub api_key: Option<(u64, AclSet)>,
    /// Why the caller acts (`X-Audit-Log-Reason`), written to the audit log.
    pub reason: Option<String>,
}

impl AdminPrincipal {
    /// The staff account's ID.
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// Whether the caller may do what `acl` guards: the account holds it and, through an API key,
    /// so does the key.
    pub fn allows(&self, acl: &str) -> bool {
        self.user_acls.allows(acl) && self.api_key.as_ref().is_none_or(|(_, k)| k.allows(acl))
    }

    /// Fails with 403 `MISSING_ACL` unless the caller [`allows`](Self::allows) `acl`.
    pub fn require(&self, acl: &str) -> Result<()> {
        if self.allows(acl) {
            Ok(())
        } else {
            Err(missing_acl(acl))
        }
    }

    /// The ACLs in effect: the account's, narrowed to the key's through an API key.
    pub fn effective_acls(&self) -> Vec<String> {
        match &self.api_key {
            None => self.user_acls.to_vec(),
            Some((_, key)) => key
                .iter()
                .filter(|a| self.user_acls.allows(a))
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// 403 `MISSING_ACL` naming the ACL.
pub(crate) fn missing_acl(acl: &str) -> Error {
    Error::forbidden("MISSING_ACL", format!("Missing required ACL: {acl}"))
}

/// One admin action for the audit log, built by the route or use-case that did it:
/// `AdminAction::new("user.update_flags", "user", id).change("flags", old, new)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminAction {
    action: String,
    target_type: String,
    target_id: String,
    metadata: BTreeMap<String, String>,
}

/// Longest metadata value kept in an audit entry; longer ones are cut (on a character boundary).
const MAX_METADATA_VALUE: usize = 1024;

impl AdminAction {
    /// `action` done to `target_type` `target_id` (`"user"`, `"guild"`, `"ip"`, ...).
    pub fn new(action: &str, target_type: &str, target_id: impl Display) -> Self {
        AdminAction {
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_string(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &str, value: impl Display) -> Self {
        let mut value = value.to_string();
        if value.len() > MAX_METADATA_VALUE {
            let mut cut = MAX_METADATA_VALUE;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        self.metadata.insert(key.to_owned(), value);
        self
    }

    /// Records a change of `field`: `before.<field>` and `after.<field>`.
    pub fn change(self, field: &str, before: impl Display, after: impl Display) -> Self {
        self.with(&format!("before.{field}"), before)
            .with(&format!("after.{field}"), after)
    }
}

impl Fluxer {
    /// Authenticates a caller of the admin API from its `Authorization` header: a staff session
    /// token, an OAuth2 bearer token with the `admin` scope, or `Admin <key>`. Fails with 401
    /// `UNAUTHORIZED` for missing or bad credentials and bots, 403 `MISSING_OAUTH_ADMIN_SCOPE`
    /// for a bearer token without the scope, and 403 `MISSING_PERMISSIONS` for an account without
    /// `admin:authenticate`.
    pub async fn authenticate_admin(&self, header: &str) -> Result<AdminPrincipal> {
        if let Some(key) = header.strip_prefix("Admin ") {
            return self.authenticate_admin_api_key(key).await;
        }
        let actor = self.authenticate(header).await?;
        self.admin_principal(actor)
    }

    /// The admin principal of an already authenticated caller (see
    /// [`authenticate_admin`](Self::authenticate_admin) for the refusals).
    pub fn admin_principal(&self, actor: Actor) -> Result<AdminPrincipal> {
        if actor.is_bot() {
            return Err(Error::Unauthorized);
        }
        if let Some(bearer) = &actor.oauth2
            && !bearer.scopes.contains(OAuth2Scope::Admin)
        {
            return Err(Error::forbidden(
                "MISSING_OAUTH_ADMIN_SCOPE",
                "This token lacks the admin OAuth2 scope.",
            ));
        }
        let user_acls = AclSet::new(actor.user.acls.iter().cloned());
        if !user_acls.allows(acl::AUTHENTICATE) {
            return Err(Error::MissingPermissions);
        }
        Ok(AdminPrincipal {
            user: actor.user,
            user_acls,
            api_key: None,
            reason: actor.reason,
        })
    }

    /// Writes one entry to the admin audit log: `who` did `action`, for `who.reason`. Through an
    /// API key, the entry says which (`api_key_id`).
    pub async fn record_admin_action(
        &self,
        who: &AdminPrincipal,
        action: AdminAction,
    ) -> Result<()> {
        let mut metadata = action.metadata;
        if let Some((key_id, _)) = &who.api_key {
            metadata.insert("api_key_id".to_owned(), key_id.to_string());
        }
        let entry = AdminAuditEntry {
            id: self.next_id::<crate::id::Snowflake>().0,
            actor: who.id(),
            action: action.action,
            target_type: action.target_type,
            target_id: action.target_id,
            reason: who.reason.clone(),
            metadata,
            created_at: self.now(),
        };
        self.store().add_admin_audit_entry(&entry).await?;
        Ok(())
    }

    /// An instance-wide document (under [`INSTANCE_DOCUMENTS`]), decoded; a corrupt one is an
    /// internal error, not silently absent.
    pub(crate) async fn instance_doc<T: DeserializeOwned>(
        &self,
        kind: PrivateDocument,
        key: u64,
    ) -> Result<Option<T>> {
        match self
            .store()
            .get_private_document(INSTANCE_DOCUMENTS, kind, key)
            .await?
        {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                Error::Internal(format!("corrupt instance document {kind:?}/{key}: {e}"))
            }),
        }
    }

    /// Every instance-wide document of a kind, decoded, by ascending key.
    pub(crate) async fn instance_docs<T: DeserializeOwned>(
        &self,
        kind: PrivateDocument,
    ) -> Result<Vec<(u64, T)>> {
        let docs = self
            .store()
            .list_private_documents(INSTANCE_DOCUMENTS, kind)
            .await?;
        docs.into_iter()
            .map(|(key, text)| {
                serde_json::from_str(&text).map(|v| (key, v)).map_err(|e| {
                    Error::Internal(format!("corrupt instance document {kind:?}/{key}: {e}"))
                })
            })
            .collect()
    }

    /// Stores (or, with `None`, deletes) an instance-wide document.
    pub(crate) async fn put_instance_doc<T: Serialize>(
        &self,
        kind: PrivateDocument,
        key: u64,
        value: Option<&T>,
    ) -> Result<()> {
        let data = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(INSTANCE_DOCUMENTS, kind, key, data.as_deref())
            .await?;
        Ok(())
    }
}
