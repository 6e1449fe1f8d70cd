//! The rest of staff's account care (upstream's `UserAdminController`): clearing profile fields,
//! traits, suspicious-activity flags, a pending deletion of all the user's messages, the phone,
//! the verification email, passkeys, and what DMs the account is in.

use serde::Deserialize;

use super::{AdminAction, AdminPrincipal};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, UserId};
use crate::model::{Channel, User, WebAuthnCredential, acl};
use crate::service::Fluxer;
use crate::validation::Validator;

/// Most traits one account may hold (upstream: 100, each 1-64 characters).
pub const MAX_USER_TRAITS: usize = 100;
/// Longest trait name.
const MAX_TRAIT_LEN: usize = 64;
/// Most DM channels one `/admin/users/list-dm-channels` page returns.
pub const MAX_ADMIN_DM_PAGE: usize = 200;
/// Every suspicious-activity bit upstream defines (`REQUIRE_VERIFIED_EMAIL` ... `1 << 7`).
pub const SUSPICIOUS_ACTIVITY_FLAGS: u32 = 0xff;

/// A profile field staff can clear (upstream's `UserProfileFieldEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClearableUserField {
    /// The avatar image.
    Avatar,
    /// The banner image.
    Banner,
    /// The bio.
    Bio,
    /// The pronouns.
    Pronouns,
    /// The display name.
    GlobalName,
}

impl ClearableUserField {
    fn as_str(self) -> &'static str {
        match self {
            ClearableUserField::Avatar => "avatar",
            ClearableUserField::Banner => "banner",
            ClearableUserField::Bio => "bio",
            ClearableUserField::Pronouns => "pronouns",
            ClearableUserField::GlobalName => "global_name",
        }
    }

    fn slot(self, user: &mut User) -> &mut Option<String> {
        match self {
            ClearableUserField::Avatar => &mut user.avatar,
            ClearableUserField::Banner => &mut user.banner,
            ClearableUserField::Bio => &mut user.bio,
            ClearableUserField::Pronouns => &mut user.pronouns,
            ClearableUserField::GlobalName => &mut user.global_name,
        }
    }
}

impl Fluxer {
    /// Clears profile fields (`user:update:profile`); each cleared one is logged with its old
    /// value (images by hash).
    pub async fn admin_clear_user_fields(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        fields: &[ClearableUserField],
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_PROFILE)?;
        let mut v = Validator::new();
        v.count("fields", fields.len(), 10);
        v.finish()?;
        let mut user = self.admin_target(id).await?;
        let mut action = AdminAction::new("user.clear_fields", "user", id);
        for field in fields {
            if let Some(old) = field.slot(&mut user).take() {
                action = action.change(field.as_str(), old, "null");
            }
        }
        self.save_admin_change(who, user, action).await
    }

    /// Replaces the account's traits (`user:update:traits`), which limit-config rules can
    /// filter on. Names are trimmed; duplicates kept once.
    pub async fn admin_set_user_traits(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        traits: Vec<String>,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_TRAITS)?;
        let mut v = Validator::new();
        v.count("traits", traits.len(), MAX_USER_TRAITS);
        for (i, t) in traits.iter().take(MAX_USER_TRAITS).enumerate() {
            v.length(&format!("traits.{i}"), t.trim(), 1, MAX_TRAIT_LEN);
        }
        v.finish()?;
        let mut traits: Vec<String> = traits.iter().map(|t| t.trim().to_owned()).collect();
        traits.sort();
        traits.dedup();
        let mut user = self.admin_target(id).await?;
        let action = AdminAction::new("user.set_traits", "user", id).change(
            "traits",
            user.traits.join(","),
            traits.join(","),
        );
        user.traits = traits;
        self.save_admin_change(who, user, action).await
    }

    /// Sets the account's suspicious-activity flags (`user:update:suspicious_activity`). Kept
    /// and shown to staff; this server does not yet make the user re-verify because of them.
    pub async fn admin_set_suspicious_flags(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        flags: u32,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_SUSPICIOUS_ACTIVITY)?;
        if flags & !SUSPICIOUS_ACTIVITY_FLAGS != 0 {
            return Err(Error::field(
                "flags",
                "BITFLAG_TYPE_INVALID",
                "Unknown suspicious activity flag.",
            ));
        }
        let mut user = self.admin_target(id).await?;
        let action = AdminAction::new("user.update_suspicious_activity_flags", "user", id).change(
            "suspicious_activity_flags",
            user.suspicious_activity_flags,
            flags,
        );
        user.suspicious_activity_flags = flags;
        self.save_admin_change(who, user, action).await
    }

    /// Cancels a pending deletion of all the user's messages
    /// (`user:cancel:bulk_message_deletion`); its job then finds nothing to do.
    pub async fn admin_cancel_message_purge(
        &self,
        who: &AdminPrincipal,
        id: UserId,
    ) -> Result<User> {
        who.require(acl::USER_CANCEL_BULK_MESSAGE_DELETION)?;
        let mut user = self.admin_target(id).await?;
        let was = user.pending_bulk_message_deletion.take();
        let action = AdminAction::new("user.cancel_bulk_message_deletion", "user", id).with(
            "was_scheduled_at",
            was.map_or_else(|| "none".to_owned(), |p| p.scheduled_at.to_iso8601()),
        );
        self.save_admin_change(who, user, action).await
    }

    /// Unlinks the account's phone (`user:update:phone`). This server keeps no phone numbers
    /// (no SMS verification), so there is never one to clear: the account is returned as it is
    /// and the request is logged.
    pub async fn admin_unlink_phone(&self, who: &AdminPrincipal, id: UserId) -> Result<User> {
        who.require(acl::USER_UPDATE_PHONE)?;
        let user = self.admin_target(id).await?;
        self.record_admin_action(
            who,
            AdminAction::new("user.unlink_phone", "user", id).with("phone", "none stored"),
        )
        .await?;
        Ok(user)
    }

    /// Sends the account a new verification email (`user:update:email`): 400
    /// `EMAIL_ALREADY_VERIFIED` when it is verified, on `user_id` when it has no email.
    pub async fn admin_resend_verification_email(
        &self,
        who: &AdminPrincipal,
        id: UserId,
    ) -> Result<()> {
        who.require(acl::USER_UPDATE_EMAIL)?;
        let user = self.admin_target(id).await?;
        if user.email.is_none() {
            return Err(Error::field(
                "user_id",
                "EMAIL_NOT_SET",
                "This account has no email address.",
            ));
        }
        if user.email_verified {
            return Err(Error::rejected(
                "EMAIL_ALREADY_VERIFIED",
                "This account's email is already verified.",
            ));
        }
        self.send_verification_email(&user, false).await?;
        self.record_admin_action(
            who,
            AdminAction::new("user.resend_verification_email", "user", id),
        )
        .await
    }

    /// The account's passkeys (`user:update:mfa`, as upstream).
    pub async fn admin_list_webauthn_credentials(
        &self,
        who: &AdminPrincipal,
        id: UserId,
    ) -> Result<Vec<WebAuthnCredential>> {
        who.require(acl::USER_UPDATE_MFA)?;
        self.admin_target(id).await?;
        Ok(self.store().list_webauthn_credentials(id).await?)
    }

    /// Deletes one of the account's passkeys (`user:update:mfa`): 404
    /// `UNKNOWN_WEBAUTHN_CREDENTIAL` when it has no such one. Deleting the last turns WebAuthn off.
    pub async fn admin_delete_webauthn_credential(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        credential: &str,
    ) -> Result<()> {
        who.require(acl::USER_UPDATE_MFA)?;
        self.admin_target(id).await?;
        if !self
            .store()
            .delete_webauthn_credential(id, credential)
            .await?
        {
            return Err(Error::Unknown(Unknown::WebAuthnCredential));
        }
        if self.store().list_webauthn_credentials(id).await?.is_empty() {
            self.set_webauthn_flag(id, false).await?;
        }
        self.record_admin_action(
            who,
            AdminAction::new("user.delete_webauthn_credential", "user", id)
                .with("credential_id", credential),
        )
        .await
    }

    /// The DMs and group DMs the account is in (`user:list:dm_channels`), by ID descending
    /// (newest first), at most `limit` (1-[`MAX_ADMIN_DM_PAGE`]) before or after a channel ID.
    pub async fn admin_list_user_dm_channels(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        before: Option<ChannelId>,
        after: Option<ChannelId>,
        limit: usize,
    ) -> Result<Vec<Channel>> {
        who.require(acl::USER_LIST_DM_CHANNELS)?;
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, MAX_ADMIN_DM_PAGE as i64);
        v.check(
            before.is_none() || after.is_none(),
            "before",
            "BASE_TYPE_INVALID",
            "before and after cannot both be provided",
        );
        v.finish()?;
        self.admin_target(id).await?;
        let mut channels: Vec<Channel> = self
            .store()
            .list_private_channels(id)
            .await?
            .into_iter()
            .filter(|c| before.is_none_or(|b| c.id < b) && after.is_none_or(|a| c.id > a))
            .collect();
        if after.is_some() {
            // The page right after the cursor, shown newest first as the others.
            channels.sort_by_key(|c| c.id);
            channels.truncate(limit);
            channels.reverse();
        } else {
            channels.sort_by_key(|c| std::cmp::Reverse(c.id));
            channels.truncate(limit);
        }
        Ok(channels)
    }
}
