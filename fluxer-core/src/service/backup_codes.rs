//! Two-factor backup codes, as upstream: ten one-time codes (`xxxx-xxxx`) issued when TOTP is
//! turned on, each of which stands in for a TOTP code once (to log in, or for sudo mode), listed or
//! replaced with `POST /users/@me/mfa/backup-codes` in sudo mode, and gone when TOTP is turned off.

use serde::{Deserialize, Serialize};

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::ports::PrivateDocument;
use crate::secret::{random_base62, secrets_equal};

/// Codes issued at a time.
const CODES: usize = 10;

/// One backup code (`MfaBackupCodeResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCode {
    /// `xxxx-xxxx`, lower-case letters and digits.
    pub code: String,
    /// Used already.
    pub consumed: bool,
}

fn new_code() -> String {
    let raw: String = random_base62(32)
        .to_ascii_lowercase()
        .chars()
        .take(8)
        .collect();
    format!("{}-{}", &raw[..4], &raw[4..])
}

impl Fluxer {
    /// Ten fresh codes for `user`, replacing any earlier ones.
    pub(crate) async fn issue_backup_codes(&self, user: UserId) -> Result<Vec<BackupCode>> {
        let codes: Vec<BackupCode> = (0..CODES)
            .map(|_| BackupCode {
                code: new_code(),
                consumed: false,
            })
            .collect();
        self.put_backup_codes(user, Some(&codes)).await?;
        Ok(codes)
    }

    /// Forgets `user`'s codes (two-factor turned off).
    pub(crate) async fn drop_backup_codes(&self, user: UserId) -> Result<()> {
        self.put_backup_codes(user, None).await
    }

    /// Uses up one of `user`'s codes; whether `code` was one, unused.
    pub(crate) async fn consume_backup_code(&self, user: UserId, code: &str) -> Result<bool> {
        let mut codes = self.stored_backup_codes(user).await?;
        let code = code.trim().to_ascii_lowercase();
        let Some(found) = codes
            .iter_mut()
            .find(|c| !c.consumed && secrets_equal(c.code.as_bytes(), code.as_bytes()))
        else {
            return Ok(false);
        };
        found.consumed = true;
        self.put_backup_codes(user, Some(&codes)).await?;
        Ok(true)
    }

    /// `POST /users/@me/mfa/backup-codes`: the current codes, or new ones with `regenerate`; in
    /// sudo mode. `MFA_NOT_ENABLED` without two-factor authentication.
    pub async fn backup_codes(
        &self,
        actor: &Actor,
        regenerate: bool,
        password: Option<&str>,
        mfa_code: Option<&str>,
    ) -> Result<Vec<BackupCode>> {
        actor.require_person("Bots have no two-factor authentication.")?;
        if !actor.user.totp_enabled() {
            return Err(Error::rejected(
                "MFA_NOT_ENABLED",
                "Two-factor authentication is not enabled.",
            ));
        }
        self.require_sudo(actor, password, mfa_code).await?;
        let codes = self.stored_backup_codes(actor.id()).await?;
        if regenerate || codes.is_empty() {
            return self.issue_backup_codes(actor.id()).await;
        }
        Ok(codes)
    }

    async fn stored_backup_codes(&self, user: UserId) -> Result<Vec<BackupCode>> {
        let doc = self
            .store()
            .get_private_document(user, PrivateDocument::MfaBackupCodes, 0)
            .await?;
        Ok(doc
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default())
    }

    async fn put_backup_codes(&self, user: UserId, codes: Option<&[BackupCode]>) -> Result<()> {
        let data = codes
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(user, PrivateDocument::MfaBackupCodes, 0, data.as_deref())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_look_like_upstreams() {
        let c = new_code();
        assert_eq!(c.len(), 9);
        assert_eq!(&c[4..5], "-");
        assert!(
            c.chars()
                .all(|ch| ch == '-' || ch.is_ascii_lowercase() || ch.is_ascii_digit())
        );
    }
}
