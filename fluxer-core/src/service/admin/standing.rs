//! Whether an account may sign in, given what staff did to it: disabled, banned for a while or
//! for good, or its email banned.

use crate::error::{Error, Result};
use crate::model::User;
use crate::service::Fluxer;
use crate::time::Timestamp;

/// What a ban "until manually unbanned" is stored as: the last millisecond of year 9999.
pub const PERMANENT_BAN: Timestamp = Timestamp::from_unix_ms(253_402_300_799_999);

impl Fluxer {
    /// Refuses a sign-in to an account staff disabled (403 `ACCOUNT_DISABLED`), banned (403
    /// `ACCOUNT_SUSPENDED_TEMPORARILY` or `ACCOUNT_SUSPENDED_PERMANENTLY`), or whose email is
    /// banned (403 `ACCOUNT_DISABLED`).
    pub(crate) async fn check_account_standing(&self, user: &User) -> Result<()> {
        if user.staff_disabled {
            return Err(Error::forbidden(
                "ACCOUNT_DISABLED",
                "This account has been disabled by the instance's staff.",
            ));
        }
        if let Some(until) = user.temp_banned_until
            && until > self.now()
        {
            return Err(if until >= PERMANENT_BAN {
                Error::forbidden(
                    "ACCOUNT_SUSPENDED_PERMANENTLY",
                    "This account has been suspended.",
                )
            } else {
                Error::forbidden(
                    "ACCOUNT_SUSPENDED_TEMPORARILY",
                    format!("This account is suspended until {}.", until.to_iso8601()),
                )
            });
        }
        if let Some(email) = &user.email
            && self.is_email_banned(email).await?
        {
            return Err(Error::forbidden(
                "ACCOUNT_DISABLED",
                "This account's email address is banned on this instance.",
            ));
        }
        Ok(())
    }
}
