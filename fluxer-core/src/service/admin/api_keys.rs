//! Admin API keys: `fa_<id>_<32 base62>`, shown once; only the SHA-256 is kept (the secret has
//! 190 bits, so a fast hash is enough) and compared in constant time.

use super::{AdminAction, AdminPrincipal, missing_acl};
use crate::error::{Error, Result, Unknown};
use crate::id::{Snowflake, UserId};
use crate::model::{AclSet, AdminApiKey, MAX_ACLS, acl, is_valid_acl};
use crate::ports::PrivateDocument;
use crate::secret::{hash_token, random_base62, secrets_equal, to_hex};
use crate::service::Fluxer;
use crate::time::Timestamp;
use crate::validation::Validator;

const KEY_PREFIX: &str = "fa_";
const SECRET_LEN: usize = 32;
/// Most keys one staff account may hold.
pub const MAX_ADMIN_API_KEYS: usize = 100;
/// `last_used_at` is written at most this often per key.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// `POST /admin/api-keys`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AdminApiKeyCreate {
    /// 1-100 characters.
    pub name: String,
    /// 1-365; `None` for a key that does not expire.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    /// At most 100, each one the creator holds.
    pub acls: Vec<String>,
}

/// A new key: its record and the key itself, which is never shown again.
#[derive(Debug, Clone)]
pub struct AdminApiKeyCreated {
    /// The stored record.
    pub api_key: AdminApiKey,
    /// `fa_<id>_<secret>`, for `Authorization: Admin <key>`.
    pub key: String,
}

/// The key's ID, if it is shaped like one of ours.
fn key_id(raw: &str) -> Option<u64> {
    let rest = raw.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.is_empty()
        || id.len() > 20
        || !id.bytes().all(|b| b.is_ascii_digit())
        || secret.len() != SECRET_LEN
        || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    id.parse().ok()
}

impl Fluxer {
    /// Creates an API key for `who`, with ACLs `who` holds (403 `MISSING_ACL` otherwise).
    pub async fn create_admin_api_key(
        &self,
        who: &AdminPrincipal,
        req: AdminApiKeyCreate,
    ) -> Result<AdminApiKeyCreated> {
        who.require(acl::ADMIN_API_KEY_MANAGE)?;
        let name = req.name.trim().to_owned();
        let mut v = Validator::new();
        v.check(
            (1..=100).contains(&name.chars().count()),
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 characters.",
        );
        if let Some(days) = req.expires_in_days {
            v.check(
                (1..=365).contains(&days),
                "expires_in_days",
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 1 and 365.",
            );
        }
        v.check(
            req.acls.len() <= MAX_ACLS,
            "acls",
            "BASE_TYPE_MAX_LENGTH",
            "At most 100 ACLs.",
        );
        for (i, a) in req.acls.iter().enumerate().take(MAX_ACLS) {
            v.check(
                is_valid_acl(a),
                &format!("acls.{i}"),
                "BASE_TYPE_INVALID",
                "Not a valid ACL.",
            );
        }
        v.finish()?;
        // A key can never grant more than its creator holds (through a key: than the key holds).
        if let Some(missing) = req.acls.iter().find(|a| !who.allows(a)) {
            return Err(missing_acl(missing));
        }
        let existing = self.list_admin_api_keys_of(who.id()).await?;
        if existing.len() >= MAX_ADMIN_API_KEYS {
            return Err(Error::rejected(
                "MAX_ADMIN_API_KEYS",
                "Maximum number of admin API keys reached (100).",
            ));
        }
        let id = self.next_id::<Snowflake>().0;
        let key = format!("{KEY_PREFIX}{id}_{}", random_base62(SECRET_LEN));
        let now = self.now();
        let acls = AclSet::new(req.acls).to_vec();
        let api_key = AdminApiKey {
            id,
            name,
            key_hash: to_hex(&hash_token(&key)),
            created_by: who.id(),
            created_at: now,
            expires_at: req.expires_in_days.map(|d| now.plus_secs(d * 24 * 3600)),
            last_used_at: None,
            acls,
        };
        self.put_instance_doc(PrivateDocument::AdminApiKey, id, Some(&api_key))
            .await?;
        self.record_admin_action(
            who,
            AdminAction::new("api_key.create", "api_key", id)
                .with("name", &api_key.name)
                .with("acls", api_key.acls.join(","))
                .with(
                    "expires_at",
                    api_key
                        .expires_at
                        .map(|t| t.to_iso8601())
                        .unwrap_or_else(|| "never".to_owned()),
                ),
        )
        .await?;
        Ok(AdminApiKeyCreated { api_key, key })
    }

    /// The keys `who` created, oldest first.
    pub async fn list_admin_api_keys(&self, who: &AdminPrincipal) -> Result<Vec<AdminApiKey>> {
        who.require(acl::ADMIN_API_KEY_MANAGE)?;
        self.list_admin_api_keys_of(who.id()).await
    }

    /// `creator`'s keys, with when each was last used.
    async fn list_admin_api_keys_of(&self, creator: UserId) -> Result<Vec<AdminApiKey>> {
        let uses: std::collections::HashMap<u64, Timestamp> = self
            .instance_docs::<Timestamp>(PrivateDocument::AdminApiKeyUse)
            .await?
            .into_iter()
            .collect();
        Ok(self
            .instance_docs::<AdminApiKey>(PrivateDocument::AdminApiKey)
            .await?
            .into_iter()
            .map(|(id, mut k)| {
                k.last_used_at = uses.get(&id).copied();
                k
            })
            .filter(|k| k.created_by == creator)
            .collect())
    }

    /// Revokes one of `who`'s keys; anyone else's, or an unknown ID, is 404
    /// `ADMIN_API_KEY_NOT_FOUND`.
    pub async fn revoke_admin_api_key(&self, who: &AdminPrincipal, key_id: &str) -> Result<()> {
        who.require(acl::ADMIN_API_KEY_MANAGE)?;
        let not_found = || Error::Unknown(Unknown::AdminApiKey);
        let id: u64 = key_id.parse().map_err(|_| not_found())?;
        let key: AdminApiKey = self
            .instance_doc(PrivateDocument::AdminApiKey, id)
            .await?
            .filter(|k: &AdminApiKey| k.created_by == who.id())
            .ok_or_else(not_found)?;
        self.put_instance_doc::<AdminApiKey>(PrivateDocument::AdminApiKey, id, None)
            .await?;
        self.put_instance_doc::<Timestamp>(PrivateDocument::AdminApiKeyUse, id, None)
            .await?;
        self.record_admin_action(
            who,
            AdminAction::new("api_key.revoke", "api_key", id).with("name", &key.name),
        )
        .await
    }

    /// Resolves `Admin <key>`: an existing, unexpired key whose hash matches, created by an
    /// account that still may use the admin API.
    pub(super) async fn authenticate_admin_api_key(&self, raw: &str) -> Result<AdminPrincipal> {
        let id = key_id(raw).ok_or(Error::Unauthorized)?;
        let key: AdminApiKey = self
            .instance_doc(PrivateDocument::AdminApiKey, id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let now = self.now();
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthorized);
        }
        if !secrets_equal(key.key_hash.as_bytes(), to_hex(&hash_token(raw)).as_bytes()) {
            return Err(Error::Unauthorized);
        }
        let user = self
            .store()
            .get_user(key.created_by)
            .await?
            .filter(|u| u.deleted_at.is_none() && !u.staff_disabled)
            .ok_or(Error::Unauthorized)?;
        let user_acls = AclSet::new(user.acls.iter().cloned());
        if !user_acls.allows(acl::AUTHENTICATE) {
            return Err(Error::MissingPermissions);
        }
        let last_used: Option<Timestamp> = self
            .instance_doc(PrivateDocument::AdminApiKeyUse, id)
            .await?;
        if last_used.is_none_or(|at| now.ms_since(at) > TOUCH_INTERVAL_MS) {
            self.put_instance_doc(PrivateDocument::AdminApiKeyUse, id, Some(&now))
                .await?;
        }
        Ok(AdminPrincipal {
            user,
            user_acls,
            api_key: Some((id, AclSet::new(key.acls))),
            reason: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::key_id;

    #[test]
    fn key_ids_are_read_from_well_formed_keys_only() {
        let secret = "a".repeat(32);
        assert_eq!(key_id(&format!("fa_123_{secret}")), Some(123));
        assert_eq!(key_id(&format!("fa__{secret}")), None);
        assert_eq!(key_id(&format!("fa_12x_{secret}")), None);
        assert_eq!(key_id("fa_123_short"), None);
        assert_eq!(key_id(&format!("fb_123_{secret}")), None);
        assert_eq!(key_id(&format!("fa_123_{}!", "a".repeat(31))), None);
    }
}
