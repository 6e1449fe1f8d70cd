//! What the instance's staff work with: access control lists (upstream's `AdminACLs`), admin API
//! keys, the admin audit log, instance-wide bans (IP, email, phone) and the instance's own
//! settings.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::id::UserId;
use crate::time::Timestamp;

/// Upstream's admin ACL strings (`packages/constants/src/AdminACLs.tsx`). A staff account holds a
/// set of them ([`User::acls`](crate::model::User::acls)); so does an admin API key.
pub mod acl {
    /// Every ACL.
    pub const WILDCARD: &str = "*";
    /// May use the admin API at all (with a session or through its API keys).
    pub const AUTHENTICATE: &str = "admin:authenticate";
    /// Set another account's ACLs.
    pub const ACL_SET_USER: &str = "acl:set:user";
    /// Create, list and revoke admin API keys.
    pub const ADMIN_API_KEY_MANAGE: &str = "admin_api_key:manage";
    /// Read the admin audit log.
    pub const AUDIT_LOG_VIEW: &str = "audit_log:view";
    /// Ban an email address.
    pub const BAN_EMAIL_ADD: &str = "ban:email:add";
    /// Check whether an email address is banned (and list the bans).
    pub const BAN_EMAIL_CHECK: &str = "ban:email:check";
    /// Lift an email ban.
    pub const BAN_EMAIL_REMOVE: &str = "ban:email:remove";
    /// Ban an IP address or range.
    pub const BAN_IP_ADD: &str = "ban:ip:add";
    /// Check whether an IP is banned (and list the bans).
    pub const BAN_IP_CHECK: &str = "ban:ip:check";
    /// Lift an IP ban.
    pub const BAN_IP_REMOVE: &str = "ban:ip:remove";
    /// Ban a phone number.
    pub const BAN_PHONE_ADD: &str = "ban:phone:add";
    /// Check whether a phone number is banned (and list the bans).
    pub const BAN_PHONE_CHECK: &str = "ban:phone:check";
    /// Lift a phone ban.
    pub const BAN_PHONE_REMOVE: &str = "ban:phone:remove";
    /// Start a guild's archive.
    pub const ARCHIVE_TRIGGER_GUILD: &str = "archive:trigger:guild";
    /// Start a user's archive.
    pub const ARCHIVE_TRIGGER_USER: &str = "archive:trigger:user";
    /// List and download every archive (not only one's own).
    pub const ARCHIVE_VIEW_ALL: &str = "archive:view_all";
    /// Delete emojis and stickers and their files (and list a guild's).
    pub const ASSET_PURGE: &str = "asset:purge";
    /// Add many users to guilds at once.
    pub const BULK_ADD_GUILD_MEMBERS: &str = "bulk:add:guild_members";
    /// Change many guilds' features at once.
    pub const BULK_UPDATE_GUILD_FEATURES: &str = "bulk:update:guild_features";
    /// Change many users' flags at once.
    pub const BULK_UPDATE_USER_FLAGS: &str = "bulk:update:user_flags";
    /// Schedule many accounts' deletion at once.
    pub const BULK_DELETE_USERS: &str = "bulk:delete:users";
    /// Read the gateway's statistics.
    pub const GATEWAY_MEMORY_STATS: &str = "gateway:memory_stats";
    /// Reload every guild the gateway holds (or those named).
    pub const GATEWAY_RELOAD_ALL: &str = "gateway:reload_all";
    /// Review discovery applications: list, approve, reject.
    pub const DISCOVERY_REVIEW: &str = "discovery:review";
    /// Take a listed guild out of discovery.
    pub const DISCOVERY_REMOVE: &str = "discovery:remove";
    /// Ban a member from a guild.
    pub const GUILD_BAN_MEMBER: &str = "guild:ban_member";
    /// Delete a guild.
    pub const GUILD_DELETE: &str = "guild:delete";
    /// Add a user to a guild.
    pub const GUILD_FORCE_ADD_MEMBER: &str = "guild:force_add_member";
    /// Kick a member from a guild.
    pub const GUILD_KICK_MEMBER: &str = "guild:kick_member";
    /// List a guild's members.
    pub const GUILD_LIST_MEMBERS: &str = "guild:list:members";
    /// Look guilds up and search them.
    pub const GUILD_LOOKUP: &str = "guild:lookup";
    /// Reload a guild.
    pub const GUILD_RELOAD: &str = "guild:reload";
    /// Shut a guild down.
    pub const GUILD_SHUTDOWN: &str = "guild:shutdown";
    /// Transfer a guild's ownership.
    pub const GUILD_TRANSFER_OWNERSHIP: &str = "guild:transfer_ownership";
    /// Change a guild's banner.
    pub const GUILD_UPDATE_BANNER: &str = "guild:update:banner";
    /// Change a guild's features.
    pub const GUILD_UPDATE_FEATURES: &str = "guild:update:features";
    /// Change a guild's icon.
    pub const GUILD_UPDATE_ICON: &str = "guild:update:icon";
    /// Change a guild's name.
    pub const GUILD_UPDATE_NAME: &str = "guild:update:name";
    /// Change a guild's settings.
    pub const GUILD_UPDATE_SETTINGS: &str = "guild:update:settings";
    /// Change a guild's splash.
    pub const GUILD_UPDATE_SPLASH: &str = "guild:update:splash";
    /// Change a guild's vanity code.
    pub const GUILD_UPDATE_VANITY: &str = "guild:update:vanity";
    /// Change the instance config.
    pub const INSTANCE_CONFIG_UPDATE: &str = "instance:config:update";
    /// Read the instance config.
    pub const INSTANCE_CONFIG_VIEW: &str = "instance:config:view";
    /// Change the limit config.
    pub const INSTANCE_LIMIT_CONFIG_UPDATE: &str = "instance:limit_config:update";
    /// Read the limit config.
    pub const INSTANCE_LIMIT_CONFIG_VIEW: &str = "instance:limit_config:view";
    /// Reserve snowflakes for email addresses, and lift reservations.
    pub const INSTANCE_SNOWFLAKE_RESERVATION_MANAGE: &str = "instance:snowflake_reservation:manage";
    /// List snowflake reservations.
    pub const INSTANCE_SNOWFLAKE_RESERVATION_VIEW: &str = "instance:snowflake_reservation:view";
    /// Delete all of a user's messages.
    pub const MESSAGE_DELETE_ALL: &str = "message:delete_all";
    /// Delete a message.
    pub const MESSAGE_DELETE: &str = "message:delete";
    /// Look messages up.
    pub const MESSAGE_LOOKUP: &str = "message:lookup";
    /// Shred messages.
    pub const MESSAGE_SHRED: &str = "message:shred";
    /// Read the instance's metrics.
    pub const METRICS_VIEW: &str = "metrics:view";
    /// Resolve reports.
    pub const REPORT_RESOLVE: &str = "report:resolve";
    /// List, search and read reports.
    pub const REPORT_VIEW: &str = "report:view";
    /// Compose system DMs and approve their sending.
    pub const SYSTEM_DM_SEND: &str = "system_dm:send";
    /// Cancel a user's pending deletion of all their messages.
    pub const USER_CANCEL_BULK_MESSAGE_DELETION: &str = "user:cancel:bulk_message_deletion";
    /// Disable, schedule the deletion of, or cancel the deletion of an account.
    pub const USER_DELETE: &str = "user:delete";
    /// Disable an account for suspicious activity.
    pub const USER_DISABLE_SUSPICIOUS: &str = "user:disable:suspicious";
    /// List a user's DM channels.
    pub const USER_LIST_DM_CHANNELS: &str = "user:list:dm_channels";
    /// List a user's guilds.
    pub const USER_LIST_GUILDS: &str = "user:list:guilds";
    /// List a user's sessions.
    pub const USER_LIST_SESSIONS: &str = "user:list:sessions";
    /// Look users up and search them.
    pub const USER_LOOKUP: &str = "user:lookup";
    /// Ban (for a while or for good) and unban an account.
    pub const USER_TEMP_BAN: &str = "user:temp_ban";
    /// End a user's sessions.
    pub const USER_TERMINATE_SESSIONS: &str = "user:terminate_sessions";
    /// Change a user's avatar.
    pub const USER_UPDATE_AVATAR: &str = "user:update:avatar";
    /// Change a user's banner.
    pub const USER_UPDATE_BANNER: &str = "user:update:banner";
    /// Set or clear an account's bot (and system) status.
    pub const USER_UPDATE_BOT_STATUS: &str = "user:update:bot_status";
    /// Change a user's date of birth.
    pub const USER_UPDATE_DOB: &str = "user:update:dob";
    /// Change a user's email (and verify it).
    pub const USER_UPDATE_EMAIL: &str = "user:update:email";
    /// Change a user's flags.
    pub const USER_UPDATE_FLAGS: &str = "user:update:flags";
    /// Disable a user's two-factor authentication.
    pub const USER_UPDATE_MFA: &str = "user:update:mfa";
    /// Change a user's phone number.
    pub const USER_UPDATE_PHONE: &str = "user:update:phone";
    /// Change a user's profile.
    pub const USER_UPDATE_PROFILE: &str = "user:update:profile";
    /// Change a user's suspicious-activity flags.
    pub const USER_UPDATE_SUSPICIOUS_ACTIVITY: &str = "user:update:suspicious_activity";
    /// Change a user's traits.
    pub const USER_UPDATE_TRAITS: &str = "user:update:traits";
    /// Change a user's username.
    pub const USER_UPDATE_USERNAME: &str = "user:update:username";
    /// List voice regions.
    pub const VOICE_REGION_LIST: &str = "voice:region:list";
    /// Create voice regions.
    pub const VOICE_REGION_CREATE: &str = "voice:region:create";
    /// Change voice regions.
    pub const VOICE_REGION_UPDATE: &str = "voice:region:update";
    /// Delete voice regions.
    pub const VOICE_REGION_DELETE: &str = "voice:region:delete";
    /// List voice servers.
    pub const VOICE_SERVER_LIST: &str = "voice:server:list";
    /// Create voice servers.
    pub const VOICE_SERVER_CREATE: &str = "voice:server:create";
    /// Change voice servers.
    pub const VOICE_SERVER_UPDATE: &str = "voice:server:update";
    /// Delete voice servers.
    pub const VOICE_SERVER_DELETE: &str = "voice:server:delete";
}

/// Most ACLs on one account or key (upstream's schema limit).
pub const MAX_ACLS: usize = 100;
/// Longest ACL string accepted.
pub const MAX_ACL_LEN: usize = 64;

/// Whether `s` is shaped like an ACL: `*`, or 1..=64 of lower-case letters, digits, `_` and `:`.
/// Unknown but well-formed ACLs are kept (upstream stores any string): an instance may grant ACLs
/// for areas this build does not have yet.
pub fn is_valid_acl(s: &str) -> bool {
    s == acl::WILDCARD
        || (!s.is_empty()
            && s.len() <= MAX_ACL_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':'))
}

/// A set of ACLs, where [`acl::WILDCARD`] grants every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclSet(BTreeSet<String>);

impl AclSet {
    /// The set of these strings.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(acls: I) -> Self {
        AclSet(acls.into_iter().map(Into::into).collect())
    }

    /// Whether the set grants `acl` (it holds it or the wildcard).
    pub fn allows(&self, acl: &str) -> bool {
        self.0.contains(acl) || self.0.contains(acl::WILDCARD)
    }

    /// The ACLs, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The ACLs, sorted, as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

/// An admin API key (`Authorization: Admin fa_<id>_<secret>`). Only the SHA-256 of the whole key is
/// kept; the key itself is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminApiKey {
    /// The key's snowflake, also written in the key (`fa_<id>_...`) so it is found without a scan.
    pub id: u64,
    /// What the staff member called it (1-100 characters).
    pub name: String,
    /// SHA-256 of the whole key string, hex.
    pub key_hash: String,
    /// Who created it; the key can never do more than its creator may at the time of use.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working; `None` for never.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (recorded at most once a minute, apart from the key: filled in when
    /// keys are listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// What the key may do.
    pub acls: Vec<String>,
}

/// One entry of the admin audit log: who did what to which target, why, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminAuditEntry {
    /// A snowflake; entries sort by it.
    pub id: u64,
    /// The staff account that acted (for an API key, its creator).
    pub actor: UserId,
    /// What was done, e.g. `user.update_flags`, `ban.ip.add`, `api_key.create`.
    pub action: String,
    /// What kind of thing was acted on: `user`, `guild`, `ip`, `email`, `phone`, `api_key`,
    /// `instance_config`, ...
    pub target_type: String,
    /// Which one (an ID, an address, ...).
    pub target_id: String,
    /// The reason given (`X-Audit-Log-Reason`).
    pub reason: Option<String>,
    /// Details, e.g. `before.username`/`after.username`, `via_api_key`.
    pub metadata: BTreeMap<String, String>,
    /// When.
    pub created_at: Timestamp,
}

impl AdminAuditEntry {
    /// The text a search matches against: lower-cased action, target, reason and metadata values.
    pub fn search_text(&self) -> String {
        let mut text = format!(
            "{} {} {} {}",
            self.action,
            self.target_type,
            self.target_id,
            self.reason.as_deref().unwrap_or("")
        );
        for (k, v) in &self.metadata {
            text.push(' ');
            text.push_str(k);
            text.push(' ');
            text.push_str(v);
        }
        text.to_lowercase()
    }
}

/// Which admin audit entries to read. Every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminAuditQuery {
    /// Only this staff account's entries.
    pub actor: Option<UserId>,
    /// Only entries on this kind of target.
    pub target_type: Option<String>,
    /// Only entries on this target.
    pub target_id: Option<String>,
    /// Only entries whose [`search_text`](AdminAuditEntry::search_text) contains this (already
    /// lower-cased) text.
    pub text: Option<String>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// How many matching entries to skip.
    pub offset: u64,
    /// How many to return at most.
    pub limit: u32,
}

/// What an instance-wide ban names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InstanceBanKind {
    /// An IP address or a CIDR range: no request from it is served.
    Ip,
    /// An email address: it cannot register, log in, or be set on an account.
    Email,
    /// A phone number.
    Phone,
}

impl InstanceBanKind {
    /// `ip`, `email`, `phone`: the path segment and the audit target type.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceBanKind::Ip => "ip",
            InstanceBanKind::Email => "email",
            InstanceBanKind::Phone => "phone",
        }
    }
}

/// An instance-wide ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceBan {
    /// What it names.
    pub kind: InstanceBanKind,
    /// The canonical value: an IP or CIDR in canonical form, a lower-cased email, an E.164 phone.
    pub value: String,
    /// Who added it.
    pub created_by: UserId,
    /// When.
    pub created_at: Timestamp,
}

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RegistrationMode {
    /// Anyone.
    #[default]
    Open,
    /// Only people who register with a valid invite code.
    InviteOnly,
    /// No one (staff create accounts with `create-admin`).
    Closed,
}

/// The instance's own settings, changed through `/admin/instance-config/update` and kept in the
/// database, where they override the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceConfig {
    /// Who may register.
    pub registration_mode: RegistrationMode,
    /// New accounts wait for a staff member's approval before they can use the instance.
    pub manual_review_enabled: bool,
    /// Manual review only between two hours of the day (UTC).
    pub manual_review_schedule_enabled: bool,
    /// First hour (UTC, 0-23) of the review window.
    pub manual_review_schedule_start_hour_utc: u8,
    /// Last hour (UTC, 0-23) of the review window.
    pub manual_review_schedule_end_hour_utc: u8,
    /// Where new registrations are announced (a webhook URL).
    pub registration_alerts_webhook_url: Option<String>,
    /// Where system alerts go (a webhook URL).
    pub system_alerts_webhook_url: Option<String>,
    /// The instance's name, shown on its home page.
    pub name: String,
    /// What the instance is about, shown on its home page.
    pub description: String,
    /// Terms of service text.
    pub terms_of_service: String,
    /// Privacy policy text.
    pub privacy_policy: String,
    /// Whether the instance home page (marketing) is served.
    pub home_page_enabled: bool,
    /// Single sign-on as staff set it; once set it replaces the config file's (`auth.sso`).
    /// Holds the client secret: never put this on the wire as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoSettings>,
}

/// Single sign-on settings: whether people sign in through an OpenID provider, which one (its
/// issuer and this instance's client registration there), and who may (upstream keeps them in its
/// instance config; here the config file's `auth.sso` gives them until staff store their own).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SsoSettings {
    /// Whether sign-in through the provider is offered (it also needs the OpenID client port).
    pub enabled: bool,
    /// Whether it is the only way in: password login, registration and password reset answer
    /// `SSO_REQUIRED` (upstream enforces whenever SSO is on; here the operator chooses).
    pub enforced: bool,
    /// The provider's name on the login button (`Continue with ...`).
    pub display_name: Option<String>,
    /// The provider's issuer identifier; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// This instance's client ID at the provider.
    pub client_id: String,
    /// The client secret (a confidential client); `None` for a public one. Never shown or logged.
    pub client_secret: Option<String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Where the provider sends people back; `None`: the web app's `/auth/sso/callback`.
    pub redirect_uri: Option<String>,
    /// Email domains allowed to sign in (lower-case); empty allows every domain.
    pub allowed_domains: Vec<String>,
    /// Whether a first sign-in with no matching account creates one (upstream's default: yes).
    pub auto_provision: bool,
}

impl Default for SsoSettings {
    fn default() -> Self {
        SsoSettings {
            enabled: false,
            enforced: false,
            display_name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            redirect_uri: None,
            allowed_domains: Vec::new(),
            auto_provision: true,
        }
    }
}

// By hand, so that the client secret never reaches a log through `{:?}`.
impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("enabled", &self.enabled)
            .field("enforced", &self.enforced)
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("allowed_domains", &self.allowed_domains)
            .field("auto_provision", &self.auto_provision)
            .finish()
    }
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            registration_mode: RegistrationMode::Open,
            manual_review_enabled: false,
            manual_review_schedule_enabled: false,
            manual_review_schedule_start_hour_utc: 0,
            manual_review_schedule_end_hour_utc: 23,
            registration_alerts_webhook_url: None,
            system_alerts_webhook_url: None,
            name: "Fluxer".to_owned(),
            description: String::new(),
            terms_of_service: String::new(),
            privacy_policy: String::new(),
            home_page_enabled: true,
            sso: None,
        }
    }
}

impl InstanceConfig {
    /// Whether manual review applies to an account registering at `now`.
    pub fn manual_review_active_at(&self, now: Timestamp) -> bool {
        if !self.manual_review_enabled {
            return false;
        }
        if !self.manual_review_schedule_enabled {
            return true;
        }
        let hour = (now.unix_secs().rem_euclid(86_400) / 3600) as u8;
        let (start, end) = (
            self.manual_review_schedule_start_hour_utc,
            self.manual_review_schedule_end_hour_utc,
        );
        if start <= end {
            (start..=end).contains(&hour)
        } else {
            hour >= start || hour <= end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_allows_everything_and_plain_sets_only_their_own() {
        let all = AclSet::new([acl::WILDCARD]);
        assert!(all.allows(acl::USER_LOOKUP));
        let some = AclSet::new([acl::AUTHENTICATE, acl::USER_LOOKUP]);
        assert!(some.allows(acl::USER_LOOKUP));
        assert!(!some.allows(acl::BAN_IP_ADD));
    }

    #[test]
    fn acl_shapes() {
        assert!(is_valid_acl("*"));
        assert!(is_valid_acl("user:update:flags"));
        assert!(!is_valid_acl(""));
        assert!(!is_valid_acl("User:lookup"));
        assert!(!is_valid_acl("a b"));
        assert!(!is_valid_acl(&"a".repeat(65)));
    }

    #[test]
    fn review_window_wraps_midnight() {
        let cfg = InstanceConfig {
            manual_review_enabled: true,
            manual_review_schedule_enabled: true,
            manual_review_schedule_start_hour_utc: 22,
            manual_review_schedule_end_hour_utc: 2,
            ..InstanceConfig::default()
        };
        let at = |h: i64| Timestamp::from_unix_ms(h * 3_600_000);
        assert!(cfg.manual_review_active_at(at(23)));
        assert!(cfg.manual_review_active_at(at(1)));
        assert!(!cfg.manual_review_active_at(at(12)));
    }
}
