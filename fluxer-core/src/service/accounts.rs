//! Account deletion with a grace period, and idle session expiry.
//!
//! Asking to delete an account (`POST /users/@me/delete` with the password) ends every session and marks
//! the account; logging in again within [`Config::account_deletion_grace_secs`](super::Config) cancels
//! it. After the grace period the `purge_deleted_accounts` job erases the person: memberships,
//! relationships, sessions, avatar and banner go; the user row stays as an anonymous tombstone
//! ("Deleted User") so the messages they wrote still resolve, as on Discord.

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::model::User;
use crate::ports::PrivateDocument;

/// Accounts erased per run of the job (it runs again on the next slot).
const PURGE_BATCH: usize = 100;
/// The user flag of a disabled account (upstream's `1 << 38`).
pub(crate) const DISABLED: u64 = 1 << 38;

impl Fluxer {
    /// Schedules the caller's account for deletion and logs it out everywhere.
    pub async fn request_account_deletion(&self, actor: &Actor, password: &str) -> Result<()> {
        actor.require_person("Delete the application instead.")?;
        self.require_password(actor, Some(password)).await?;
        for guild_id in self.store().list_user_guild_ids(actor.id()).await? {
            if let Some(g) = self.store().get_guild(guild_id).await?
                && g.owner_id == actor.id()
            {
                return Err(Error::rejected(
                    "USER_OWNS_GUILDS",
                    "Transfer or delete the guilds you own first.",
                ));
            }
        }
        let mut user = actor.user.clone();
        user.deletion_requested_at = Some(self.now());
        self.store().update_user(&user).await?;
        self.end_sessions(user.id, None).await?;
        Ok(())
    }

    /// A login within the grace period keeps the account, and a login enables a disabled one.
    pub(crate) async fn cancel_account_deletion(&self, user: &User) -> Result<()> {
        if user.deletion_requested_at.is_some() || user.flags & DISABLED != 0 {
            let mut user = user.clone();
            user.deletion_requested_at = None;
            user.flags &= !DISABLED;
            self.store().update_user(&user).await?;
        }
        Ok(())
    }

    /// `POST /users/@me/disable`: in sudo mode, sets the account aside (the `DISABLED` flag) and
    /// logs it out everywhere; logging in again enables it.
    pub async fn disable_account(&self, actor: &Actor, sudo: &super::SudoProof) -> Result<()> {
        actor.require_person("Bots cannot be disabled this way.")?;
        if actor.user.password_hash.is_none() {
            // Nothing could log it in again.
            return Err(Error::field(
                "password",
                "PASSWORD_NOT_SET",
                "Set a password before disabling the account.",
            ));
        }
        self.require_sudo_proof(actor, sudo).await?;
        let mut user = self
            .store()
            .get_user(actor.id())
            .await?
            .ok_or(Error::Unknown(crate::error::Unknown::User))?;
        user.flags |= DISABLED;
        self.store().update_user(&user).await?;
        self.emit_user_update(&user).await;
        self.end_sessions(user.id, None).await?;
        Ok(())
    }

    /// The job: erases the accounts whose grace period is over.
    pub(crate) async fn purge_deleted_accounts(&self) -> Result<()> {
        let before = self
            .now()
            .plus_secs(-self.config().account_deletion_grace_secs);
        for user in self
            .store()
            .list_users_pending_deletion(before, PURGE_BATCH)
            .await?
        {
            self.erase_account(user).await?;
        }
        Ok(())
    }

    async fn erase_account(&self, mut user: User) -> Result<()> {
        let id = user.id;
        for guild_id in self.store().list_user_guild_ids(id).await? {
            // Idempotent: a membership already gone is fine on a redelivered job.
            let _ = self.remove_member_and_notify(guild_id, id).await;
        }
        for r in self.store().list_relationships(id).await? {
            self.store().delete_relationship(id, r.target_id).await?;
            self.store().delete_relationship(r.target_id, id).await?;
        }
        self.end_sessions(id, None).await?;
        // Every application the person authorized loses its access (as upstream).
        self.store().delete_user_oauth2_tokens(id).await?;
        // An erased account's single sign-on identity may sign up afresh.
        self.store().delete_user_sso_identities(id).await?;
        self.store().delete_user_webauthn_credentials(id).await?;
        self.erase_memes(id).await?;
        self.erase_packs(id).await?;
        // Everything else the account kept for itself: settings, notes, scheduled messages,
        // pending email and password changes, backup codes, installed packs.
        for kind in PrivateDocument::ALL {
            for (key, _) in self.store().list_private_documents(id, *kind).await? {
                self.store()
                    .put_private_document(id, *kind, key, None)
                    .await?;
            }
        }
        let images = [
            user.avatar
                .take()
                .map(|h| super::image_key("avatars", id, &h)),
            user.banner
                .take()
                .map(|h| super::image_key("banners", id, &h)),
        ];
        user.username = format!("deleted_user_{id}");
        user.global_name = Some("Deleted User".to_owned());
        user.bio = None;
        user.pronouns = None;
        user.accent_color = None;
        user.email = None;
        user.email_verified = false;
        user.password_hash = None;
        user.totp_secret = None;
        user.date_of_birth = None;
        user.deletion_requested_at = None;
        user.deleted_at = Some(self.now());
        self.store().update_user(&user).await?;
        self.index_user_later(id).await;
        self.delete_blobs_later(images.into_iter().flatten()).await;
        Ok(())
    }

    /// The job: ends sessions unused for [`Config::session_idle_secs`](super::Config), and
    /// forgets expired OAuth2 codes and tokens.
    pub(crate) async fn expire_idle_sessions(&self) -> Result<()> {
        let now = self.now();
        let before = now.plus_secs(-self.config().session_idle_secs);
        self.store().delete_idle_sessions(before).await?;
        self.store().delete_expired_oauth2_tokens(now).await?;
        Ok(())
    }
}
