//! Staff actions on accounts (`/admin/users/*`, upstream's `UserAdminController`): lookup and
//! search, profile fixes (username, email, date of birth, flags), security (verify email,
//! password reset, disable MFA, sessions), bans and deletion, bot/system status and ACLs.

use serde::Deserialize;

use super::standing::PERMANENT_BAN;
use super::{AdminAction, AdminPrincipal, missing_acl};
use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, UserId};
use crate::model::{AclSet, AuthSession, Guild, MAX_ACLS, User, acl, is_valid_acl};
use crate::ports::{PrivateDocument, Scan, SessionsRevoked, conflict, is_conflict};
use crate::service::auth::validate_date_of_birth;
use crate::service::{ContactChangeReason, Fluxer};
use crate::validation::{Validator, is_valid_email, is_valid_username};

/// Most users one lookup or search page returns.
pub const MAX_ADMIN_USER_PAGE: usize = 200;
/// Without a search index, a search walks at most this many accounts.
const MAX_SEARCH_SCAN: usize = 50_000;
/// Longest temp-ban, in hours (a year; 0 means until unbanned).
const MAX_BAN_HOURS: i64 = 8760;

/// `POST /admin/users/lookup`: by IDs, or by one query (an ID, an email, or `name#1234`).
#[derive(Debug, Clone)]
pub enum AdminUserLookup {
    /// Up to 100 IDs.
    Ids(Vec<UserId>),
    /// An ID, an email address or a tag.
    Query(String),
}

/// `POST /admin/users/schedule-deletion`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminScheduleDeletion {
    /// The account.
    pub user_id: UserId,
    /// Upstream's deletion reason code (kept in the audit log).
    pub reason_code: u32,
    /// A reason that may be shown to the person.
    #[serde(default)]
    pub public_reason: Option<String>,
    /// 1-365; the instance's grace period when absent.
    #[serde(default)]
    pub days_until_deletion: Option<i64>,
}

impl Fluxer {
    pub(crate) async fn admin_target(&self, id: UserId) -> Result<User> {
        self.store()
            .get_user(id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))
    }

    /// Stores a changed account, tells its sessions, reindexes it and writes the audit entry.
    pub(super) async fn save_admin_change(
        &self,
        who: &AdminPrincipal,
        user: User,
        action: AdminAction,
    ) -> Result<User> {
        let before = self.store().get_user(user.id).await?;
        match self.store().update_user(&user).await {
            Ok(()) => {}
            Err(e) if is_conflict(&e, conflict::USER_EMAIL) => {
                return Err(Error::field(
                    "email",
                    "EMAIL_ALREADY_REGISTERED",
                    "Email is already registered.",
                ));
            }
            Err(e) if is_conflict(&e, conflict::USER_TAG) => {
                return Err(Error::field(
                    "username",
                    "USERNAME_ALREADY_TAKEN",
                    "This username and discriminator are taken.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(before) = &before {
            self.record_contact_changes(
                before,
                &user,
                ContactChangeReason::AdminAction,
                Some(who.id()),
            )
            .await?;
        }
        self.emit_user_update(&user).await;
        self.index_user_later(user.id).await;
        self.record_admin_action(who, action).await?;
        Ok(user)
    }

    /// Ends every session of `user`, here and on the gateway; how many there were.
    async fn end_all_sessions(&self, user: UserId) -> Result<u64> {
        let n = self.store().delete_user_sessions(user).await?;
        self.revoke_gateway_sessions(user, SessionsRevoked::all_but(None))
            .await;
        Ok(n)
    }

    /// The account staff is acting as (`GET /admin/users/me`).
    pub fn admin_me(&self, who: &AdminPrincipal) -> Result<User> {
        who.require(acl::AUTHENTICATE)?;
        Ok(who.user.clone())
    }

    /// Accounts by IDs or by one query (`user:lookup`); deleted ones are left out.
    pub async fn admin_lookup_users(
        &self,
        who: &AdminPrincipal,
        lookup: AdminUserLookup,
    ) -> Result<Vec<User>> {
        who.require(acl::USER_LOOKUP)?;
        let found = match lookup {
            AdminUserLookup::Ids(ids) => {
                if ids.len() > 100 {
                    return Err(Error::field(
                        "user_ids",
                        "BASE_TYPE_MAX_LENGTH",
                        "At most 100 IDs.",
                    ));
                }
                let mut users = self.store().get_users(&ids).await?;
                users.sort_by_key(|u| u.id);
                users
            }
            AdminUserLookup::Query(q) => {
                let q = q.trim();
                if q.is_empty() || q.len() > 320 {
                    return Err(Error::field(
                        "query",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 320 characters.",
                    ));
                }
                let by_id = match q.parse::<UserId>() {
                    Ok(id) => self.store().get_user(id).await?,
                    Err(_) => None,
                };
                let by_email = if q.contains('@') {
                    self.store().find_user_by_email(&q.to_lowercase()).await?
                } else {
                    None
                };
                let by_tag = match q.rsplit_once('#') {
                    Some((name, d)) => match d.parse::<u16>() {
                        Ok(d) => self.store().find_user_by_tag(name, d).await?,
                        Err(_) => None,
                    },
                    None => None,
                };
                let mut users: Vec<User> =
                    [by_id, by_email, by_tag].into_iter().flatten().collect();
                users.sort_by_key(|u| u.id);
                users.dedup_by_key(|u| u.id);
                users
            }
        };
        Ok(found
            .into_iter()
            .filter(|u| u.deleted_at.is_none())
            .collect())
    }

    /// Accounts whose username, display name or email contains `query` (any case), or whose ID
    /// it is, lowest ID first (`user:lookup`); with how many match. Walks the accounts (at most
    /// 50 000): the search index only knows username prefixes, and staff search by email too.
    pub async fn admin_search_users(
        &self,
        who: &AdminPrincipal,
        query: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<User>, u64)> {
        who.require(acl::USER_LOOKUP)?;
        if !(1..=MAX_ADMIN_USER_PAGE).contains(&limit) {
            return Err(Error::field(
                "limit",
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 1 and 200.",
            ));
        }
        let q = query.trim().to_lowercase();
        if q.len() > 320 {
            return Err(Error::field(
                "query",
                "BASE_TYPE_MAX_LENGTH",
                "At most 320 characters.",
            ));
        }
        let matches = |u: &User| {
            u.deleted_at.is_none()
                && (q.is_empty()
                    || u.id.to_string() == q
                    || u.username.to_lowercase().contains(&q)
                    || u.global_name
                        .as_deref()
                        .is_some_and(|g| g.to_lowercase().contains(&q))
                    || u.email.as_deref().is_some_and(|e| e.contains(&q)))
        };
        let mut found: Vec<User> = Vec::new();
        let mut after = 0u64;
        let mut scanned = 0usize;
        while scanned < MAX_SEARCH_SCAN {
            let ids = self.store().scan_ids(Scan::Users, after, 500).await?;
            let Some(last) = ids.last() else { break };
            after = *last;
            scanned += ids.len();
            let ids: Vec<UserId> = ids.into_iter().map(UserId::new).collect();
            let mut users = self.store().get_users(&ids).await?;
            users.sort_by_key(|u| u.id);
            found.extend(users.into_iter().filter(&matches));
        }
        let total = found.len() as u64;
        Ok((found.into_iter().skip(offset).take(limit).collect(), total))
    }

    /// Changes an account's username, keeping its discriminator when free, or setting the one
    /// given (`user:update:username`).
    pub async fn admin_change_username(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        username: &str,
        discriminator: Option<u16>,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_USERNAME)?;
        let mut v = Validator::new();
        v.check(
            is_valid_username(username),
            "username",
            "USERNAME_INVALID_CHARACTERS",
            "Usernames may use letters, numbers, _ and . (1-32).",
        );
        v.check(
            discriminator.is_none_or(|d| (1..=9999).contains(&d)),
            "discriminator",
            "NUMBER_TYPE_OUT_OF_RANGE",
            "Must be between 1 and 9999.",
        );
        v.finish()?;
        let user = self.admin_target(id).await?;
        let before = user.tag();
        let mut changed = user.clone();
        changed.username = username.to_owned();
        let changed = match discriminator {
            Some(d) => {
                changed.discriminator = d;
                changed
            }
            None => self.retag(changed).await?,
        };
        let action = AdminAction::new("user.change_username", "user", id).change(
            "tag",
            before,
            changed.tag(),
        );
        self.save_admin_change(who, changed, action).await
    }

    /// Changes an account's email; the new one is unverified (`user:update:email`).
    pub async fn admin_change_email(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        email: &str,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_EMAIL)?;
        let email = email.trim().to_lowercase();
        if !is_valid_email(&email) {
            return Err(Error::field(
                "email",
                "EMAIL_TYPE_INVALID_EMAIL",
                "Not a well formed email address.",
            ));
        }
        let mut user = self.admin_target(id).await?;
        let before = user.email.clone().unwrap_or_default();
        user.email = Some(email.clone());
        user.email_verified = false;
        user.email_bounced = false;
        let action =
            AdminAction::new("user.change_email", "user", id).change("email", before, &email);
        self.save_admin_change(who, user, action).await
    }

    /// Changes an account's date of birth (`user:update:dob`).
    pub async fn admin_change_dob(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        date_of_birth: &str,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_DOB)?;
        let mut v = Validator::new();
        let today = time::OffsetDateTime::from_unix_timestamp(self.now().unix_secs())
            .map_or(time::Date::MIN, |t| t.date());
        validate_date_of_birth(&mut v, date_of_birth, today);
        v.finish()?;
        let mut user = self.admin_target(id).await?;
        let before = user.date_of_birth.clone().unwrap_or_default();
        user.date_of_birth = Some(date_of_birth.to_owned());
        let action = AdminAction::new("user.change_dob", "user", id).change(
            "date_of_birth",
            before,
            date_of_birth,
        );
        self.save_admin_change(who, user, action).await
    }

    /// Adds then removes flag bits (`user:update:flags`).
    pub async fn admin_update_flags(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        add: &[u64],
        remove: &[u64],
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_FLAGS)?;
        if add.len() > 64 || remove.len() > 64 {
            return Err(Error::field(
                "add_flags",
                "BASE_TYPE_MAX_LENGTH",
                "At most 64 flags.",
            ));
        }
        self.change_user_flags(who, id, add, remove).await
    }

    /// Adds then removes flag bits, as `who`, whose right to was checked.
    pub(super) async fn change_user_flags(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        add: &[u64],
        remove: &[u64],
    ) -> Result<User> {
        let mut user = self.admin_target(id).await?;
        let before = user.flags;
        for f in add {
            user.flags |= f;
        }
        for f in remove {
            user.flags &= !f;
        }
        let action =
            AdminAction::new("user.update_flags", "user", id).change("flags", before, user.flags);
        self.save_admin_change(who, user, action).await
    }

    /// Marks an account's email verified (`user:update:email`).
    pub async fn admin_verify_email(&self, who: &AdminPrincipal, id: UserId) -> Result<User> {
        who.require(acl::USER_UPDATE_EMAIL)?;
        let mut user = self.admin_target(id).await?;
        let before = user.email_verified;
        user.email_verified = true;
        let action = AdminAction::new("user.verify_email", "user", id).change(
            "email_verified",
            before,
            true,
        );
        self.save_admin_change(who, user, action).await
    }

    /// Emails the account a password-reset link (`user:update:email`).
    pub async fn admin_send_password_reset(&self, who: &AdminPrincipal, id: UserId) -> Result<()> {
        who.require(acl::USER_UPDATE_EMAIL)?;
        let user = self.admin_target(id).await?;
        let Some(email) = user.email.clone() else {
            return Err(Error::rejected(
                "USER_HAS_NO_EMAIL",
                "This account has no email address.",
            ));
        };
        self.send_password_reset(&user, &email).await?;
        self.record_admin_action(
            who,
            AdminAction::new("user.send_password_reset", "user", id),
        )
        .await
    }

    /// Turns off every second factor: TOTP, passkeys and backup codes (`user:update:mfa`).
    pub async fn admin_disable_mfa(&self, who: &AdminPrincipal, id: UserId) -> Result<()> {
        who.require(acl::USER_UPDATE_MFA)?;
        let mut user = self.admin_target(id).await?;
        let had = (user.totp_enabled(), user.webauthn);
        user.totp_secret = None;
        user.webauthn = false;
        let removed = self.store().delete_user_webauthn_credentials(id).await?;
        self.store()
            .put_private_document(id, PrivateDocument::MfaBackupCodes, 0, None)
            .await?;
        let action = AdminAction::new("user.disable_mfa", "user", id)
            .with("had_totp", had.0)
            .with("had_webauthn", had.1)
            .with("webauthn_credentials_removed", removed);
        self.save_admin_change(who, user, action).await?;
        Ok(())
    }

    /// The account's login sessions, oldest first (`user:list:sessions`).
    pub async fn admin_list_sessions(
        &self,
        who: &AdminPrincipal,
        id: UserId,
    ) -> Result<Vec<AuthSession>> {
        who.require(acl::USER_LIST_SESSIONS)?;
        self.admin_target(id).await?;
        let mut sessions = self.store().list_sessions(id).await?;
        sessions.truncate(100);
        Ok(sessions)
    }

    /// Ends every session of the account; how many (`user:update:flags`, as upstream).
    pub async fn admin_terminate_sessions(&self, who: &AdminPrincipal, id: UserId) -> Result<u64> {
        who.require(acl::USER_UPDATE_FLAGS)?;
        self.admin_target(id).await?;
        let n = self.end_all_sessions(id).await?;
        self.record_admin_action(
            who,
            AdminAction::new("user.terminate_sessions", "user", id).with("terminated", n),
        )
        .await?;
        Ok(n)
    }

    /// The guilds the account is in with their member counts, by ascending ID, after `after` and
    /// before `before`, at most `limit` (1-200) (`user:list:guilds`).
    pub async fn admin_list_user_guilds(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        before: Option<GuildId>,
        after: Option<GuildId>,
        limit: usize,
    ) -> Result<Vec<(Guild, u64)>> {
        who.require(acl::USER_LIST_GUILDS)?;
        if !(1..=200).contains(&limit) {
            return Err(Error::field(
                "limit",
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 1 and 200.",
            ));
        }
        self.admin_target(id).await?;
        let ids: Vec<GuildId> = self
            .store()
            .list_user_guild_ids(id)
            .await?
            .into_iter()
            .filter(|g| after.is_none_or(|a| *g > a) && before.is_none_or(|b| *g < b))
            .take(limit)
            .collect();
        let mut guilds = self.store().get_guilds(&ids).await?;
        guilds.sort_by_key(|g| g.id);
        let mut out = Vec::with_capacity(guilds.len());
        for g in guilds {
            let members = self.store().count_members(g.id).await?;
            out.push((g, members));
        }
        Ok(out)
    }

    /// Bans the account for `hours` (0: until unbanned) and ends its sessions (`user:temp_ban`).
    pub async fn admin_temp_ban(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        hours: i64,
        reason: Option<&str>,
    ) -> Result<User> {
        who.require(acl::USER_TEMP_BAN)?;
        if !(0..=MAX_BAN_HOURS).contains(&hours) {
            return Err(Error::field(
                "duration_hours",
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 0 and 8760.",
            ));
        }
        if reason.is_some_and(|r| r.chars().count() > 512) {
            return Err(Error::field(
                "reason",
                "BASE_TYPE_MAX_LENGTH",
                "At most 512 characters.",
            ));
        }
        if id == who.id() {
            return Err(Error::rejected(
                "CANNOT_BAN_SELF",
                "Staff cannot ban their own account.",
            ));
        }
        let mut user = self.admin_target(id).await?;
        let until = if hours == 0 {
            PERMANENT_BAN
        } else {
            self.now().plus_secs(hours * 3600)
        };
        user.temp_banned_until = Some(until);
        let mut action = AdminAction::new("user.temp_ban", "user", id)
            .with("duration_hours", hours)
            .with("until", until.to_iso8601());
        if let Some(r) = reason {
            action = action.with("ban_reason", r);
        }
        let user = self.save_admin_change(who, user, action).await?;
        self.end_all_sessions(id).await?;
        Ok(user)
    }

    /// Lifts a ban, a staff disable and a pending manual review (`user:temp_ban`).
    pub async fn admin_unban(&self, who: &AdminPrincipal, id: UserId) -> Result<User> {
        who.require(acl::USER_TEMP_BAN)?;
        let mut user = self.admin_target(id).await?;
        let before = user
            .temp_banned_until
            .map_or_else(|| "none".to_owned(), |t| t.to_iso8601());
        let was_pending_review = user.pending_review;
        user.temp_banned_until = None;
        user.staff_disabled = false;
        user.pending_review = false;
        let action = AdminAction::new("user.unban", "user", id)
            .change("temp_banned_until", before, "none")
            .with("approved_review", was_pending_review);
        self.save_admin_change(who, user, action).await
    }

    /// Disables the account for suspicious activity: no sign-in until unbanned; sessions end
    /// (`user:disable:suspicious`).
    pub async fn admin_disable_user(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        flags: u64,
    ) -> Result<User> {
        who.require(acl::USER_DISABLE_SUSPICIOUS)?;
        if id == who.id() {
            return Err(Error::rejected(
                "CANNOT_DISABLE_SELF",
                "Staff cannot disable their own account.",
            ));
        }
        let flags = u32::try_from(flags)
            .ok()
            .filter(|f| f & !super::SUSPICIOUS_ACTIVITY_FLAGS == 0)
            .ok_or_else(|| {
                Error::field(
                    "flags",
                    "BITFLAG_TYPE_INVALID",
                    "Unknown suspicious activity flag.",
                )
            })?;
        let mut user = self.admin_target(id).await?;
        user.staff_disabled = true;
        // As upstream, the flags say what the person must prove again; kept on the account.
        let action = AdminAction::new("user.disable_suspicious", "user", id).change(
            "suspicious_activity_flags",
            user.suspicious_activity_flags,
            flags,
        );
        user.suspicious_activity_flags = flags;
        let user = self.save_admin_change(who, user, action).await?;
        self.end_all_sessions(id).await?;
        Ok(user)
    }

    /// Schedules the account's erasure in `days_until_deletion` days (the grace period by
    /// default); meanwhile it cannot sign in (`user:delete`).
    pub async fn admin_schedule_deletion(
        &self,
        who: &AdminPrincipal,
        req: AdminScheduleDeletion,
    ) -> Result<User> {
        who.require(acl::USER_DELETE)?;
        let mut v = Validator::new();
        v.check(
            req.days_until_deletion
                .is_none_or(|d| (1..=365).contains(&d)),
            "days_until_deletion",
            "NUMBER_TYPE_OUT_OF_RANGE",
            "Must be between 1 and 365.",
        );
        v.check(
            req.public_reason
                .as_ref()
                .is_none_or(|r| r.chars().count() <= 512),
            "public_reason",
            "BASE_TYPE_MAX_LENGTH",
            "At most 512 characters.",
        );
        v.finish()?;
        self.schedule_user_deletion(who, &req).await
    }

    /// Schedules the account's erasure (`req` checked), as `who`, whose right to was checked.
    pub(super) async fn schedule_user_deletion(
        &self,
        who: &AdminPrincipal,
        req: &AdminScheduleDeletion,
    ) -> Result<User> {
        if req.user_id == who.id() {
            return Err(Error::rejected(
                "CANNOT_DELETE_SELF",
                "Staff cannot delete their own account here.",
            ));
        }
        let mut user = self.admin_target(req.user_id).await?;
        let grace = self.config().account_deletion_grace_secs;
        let days = req.days_until_deletion.unwrap_or(0);
        let erase_at = if days == 0 {
            self.now().plus_secs(grace)
        } else {
            self.now().plus_secs(days * 24 * 3600)
        };
        // The worker erases accounts whose request is older than the grace period.
        user.deletion_requested_at = Some(erase_at.plus_secs(-grace));
        user.staff_disabled = true;
        let mut action = AdminAction::new("user.schedule_deletion", "user", req.user_id)
            .with("reason_code", req.reason_code)
            .with("erase_at", erase_at.to_iso8601());
        if let Some(r) = &req.public_reason {
            action = action.with("public_reason", r);
        }
        let user = self.save_admin_change(who, user, action).await?;
        self.end_all_sessions(req.user_id).await?;
        Ok(user)
    }

    /// Cancels a scheduled erasure and lifts the disable that came with it (`user:delete`).
    pub async fn admin_cancel_deletion(&self, who: &AdminPrincipal, id: UserId) -> Result<User> {
        who.require(acl::USER_DELETE)?;
        let mut user = self.admin_target(id).await?;
        let was = user.deletion_requested_at.is_some();
        user.deletion_requested_at = None;
        user.staff_disabled = false;
        let action =
            AdminAction::new("user.cancel_deletion", "user", id).with("was_scheduled", was);
        self.save_admin_change(who, user, action).await
    }

    /// Marks the account a bot or not (`user:update:bot_status`).
    pub async fn admin_set_bot(&self, who: &AdminPrincipal, id: UserId, bot: bool) -> Result<User> {
        who.require(acl::USER_UPDATE_BOT_STATUS)?;
        let mut user = self.admin_target(id).await?;
        let action =
            AdminAction::new("user.set_bot_status", "user", id).change("bot", user.bot, bot);
        user.bot = bot;
        self.save_admin_change(who, user, action).await
    }

    /// Marks the account a system account or not (`user:update:bot_status`, as upstream).
    pub async fn admin_set_system(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        system: bool,
    ) -> Result<User> {
        who.require(acl::USER_UPDATE_BOT_STATUS)?;
        let mut user = self.admin_target(id).await?;
        let action = AdminAction::new("user.set_system_status", "user", id).change(
            "system",
            user.system,
            system,
        );
        user.system = system;
        self.save_admin_change(who, user, action).await
    }

    /// Replaces the account's admin ACLs (`acl:set:user`). Staff can only grant what they hold:
    /// an ACL the caller lacks is 403 `MISSING_ACL`.
    pub async fn admin_set_acls(
        &self,
        who: &AdminPrincipal,
        id: UserId,
        acls: Vec<String>,
    ) -> Result<User> {
        who.require(acl::ACL_SET_USER)?;
        let mut v = Validator::new();
        v.check(
            acls.len() <= MAX_ACLS,
            "acls",
            "BASE_TYPE_MAX_LENGTH",
            "At most 100 ACLs.",
        );
        for (i, a) in acls.iter().enumerate().take(MAX_ACLS) {
            v.check(
                is_valid_acl(a),
                &format!("acls.{i}"),
                "BASE_TYPE_INVALID",
                "Not a valid ACL.",
            );
        }
        v.finish()?;
        let mut user = self.admin_target(id).await?;
        let before = AclSet::new(user.acls.iter().cloned());
        let after = AclSet::new(acls);
        // Granting or taking away an ACL both need the caller to hold it.
        for changed in after
            .iter()
            .filter(|a| !before.iter().any(|b| b == *a))
            .chain(before.iter().filter(|b| !after.iter().any(|a| a == *b)))
        {
            if !who.allows(changed) {
                return Err(missing_acl(changed));
            }
        }
        user.acls = after.to_vec();
        let action = AdminAction::new("user.set_acls", "user", id).change(
            "acls",
            before.to_vec().join(","),
            user.acls.join(","),
        );
        self.save_admin_change(who, user, action).await
    }
}
