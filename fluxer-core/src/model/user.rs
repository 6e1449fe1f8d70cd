use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, MessageId, UserId};
use crate::time::Timestamp;

/// A person or a bot, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Snowflake ID; a bot's equals its application's ID.
    pub id: UserId,
    /// 1-32 ASCII letters, digits, `_` and `.`; unique together with `discriminator`.
    pub username: String,
    /// 1..=9999; shown as four digits.
    pub discriminator: u16,
    /// Display name, 1-32 characters; `None` shows the username.
    pub global_name: Option<String>,
    /// Avatar image hash (`a_`-prefixed when animated); `None` for the default avatar.
    pub avatar: Option<String>,
    /// Profile banner image hash; `None` without one.
    pub banner: Option<String>,
    /// Profile text, up to 320 characters.
    pub bio: Option<String>,
    /// Up to 40 characters.
    pub pronouns: Option<String>,
    /// Profile color as RGB, 0x000000-0xFFFFFF; served as `avatar_color` in partial users.
    pub accent_color: Option<u32>,
    /// A bot account, belonging to an application.
    pub bot: bool,
    /// An official system account (upstream's `system` users).
    pub system: bool,
    /// Public and internal flags (upstream's bit values).
    pub flags: u64,
    /// Lower-cased; unique.
    pub email: Option<String>,
    /// Whether the email address was confirmed; reset when the email changes.
    pub email_verified: bool,
    /// argon2id PHC string; `None` for bots and unclaimed accounts.
    pub password_hash: Option<String>,
    /// Base32 TOTP secret when MFA is enabled.
    pub totp_secret: Option<String>,
    /// `YYYY-MM-DD` as given at registration (at least 13 years back); `None` if not given.
    pub date_of_birth: Option<String>,
    /// Language tag; `en-US` by default.
    pub locale: String,
    /// When the password was last changed or reset; `None` if never.
    pub password_changed_at: Option<Timestamp>,
    /// Set when the account was deleted; kept as a tombstone so old messages still resolve.
    pub deleted_at: Option<Timestamp>,
    /// Set when the owner asked for deletion; the account is erased after the grace period unless
    /// they log in again first.
    #[serde(default)]
    pub deletion_requested_at: Option<Timestamp>,
    /// Set while a deletion of all the user's messages waits for its time
    /// (`/users/@me/messages/delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_bulk_message_deletion: Option<PendingBulkDeletion>,
    /// Set when the mail server refused the address for good: the owner replaces it through
    /// `/users/@me/email-change/bounced/*` without proving the dead one.
    #[serde(default)]
    pub email_bounced: bool,
    /// Whether the account has WebAuthn credentials (upstream's `WEBAUTHN` authenticator type):
    /// set by the first registration, cleared by the deletion of the last one.
    #[serde(default)]
    pub webauthn: bool,
    /// Admin ACLs (upstream's `acls`, e.g. `user:lookup`, `*`): what the account may do through
    /// the admin API. Empty for everyone but staff; set with `/admin/users/set-acls`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<String>,
    /// Banned from the instance until then (a staff temp-ban); a ban for good is far in the
    /// future. Logins and sessions are refused meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp_banned_until: Option<Timestamp>,
    /// Disabled by staff (upstream's `DISABLED` account state): logins are refused until staff
    /// enable it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staff_disabled: bool,
    /// Registered while the instance's manual review was on: no sign-in until staff approve the
    /// account (`/admin/users/unban` lifts it with the other restrictions).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_review: bool,
    /// Traits staff gave the account (upstream's `traits`, set through
    /// `/admin/users/set-traits`), which limit-config rules can filter on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<String>,
    /// Upstream's `SuspiciousActivityFlags` staff set on the account: each bit asks the user to
    /// prove something again (an email, ...); kept and shown to staff.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suspicious_activity_flags: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A deletion of all of a user's messages, waiting for its time (upstream's
/// `pending_bulk_message_deletion`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBulkDeletion {
    /// When it runs; it takes the messages written until then.
    pub scheduled_at: Timestamp,
    /// Channels holding the user's messages when it was asked for.
    pub channel_count: u64,
    /// The user's messages when it was asked for.
    pub message_count: u64,
}

/// Upstream's public STAFF flag: the instance's operators (`create-admin` accounts).
pub const STAFF_FLAG: u64 = 1;

impl User {
    /// Whether the account has the STAFF flag.
    pub fn is_staff(&self) -> bool {
        self.flags & STAFF_FLAG != 0
    }

    /// A new account with every optional field empty; the discriminator is assigned when stored.
    pub fn new(id: UserId, username: String, email: Option<String>) -> User {
        User {
            id,
            username,
            discriminator: 0,
            global_name: None,
            avatar: None,
            banner: None,
            bio: None,
            pronouns: None,
            accent_color: None,
            bot: false,
            system: false,
            flags: 0,
            email,
            email_verified: false,
            password_hash: None,
            totp_secret: None,
            date_of_birth: None,
            locale: "en-US".to_owned(),
            password_changed_at: None,
            deleted_at: None,
            deletion_requested_at: None,
            pending_bulk_message_deletion: None,
            email_bounced: false,
            webauthn: false,
            acls: Vec::new(),
            temp_banned_until: None,
            staff_disabled: false,
            pending_review: false,
            traits: Vec::new(),
            suspicious_activity_flags: 0,
        }
    }

    /// `username#0042`: the username and the discriminator padded to four digits.
    pub fn tag(&self) -> String {
        format!("{}#{:04}", self.username, self.discriminator)
    }

    /// Whether any second factor is on (TOTP or WebAuthn): logins then ask for one, and sudo
    /// mode takes a second factor instead of the password.
    pub fn mfa_enabled(&self) -> bool {
        self.totp_enabled() || self.webauthn
    }

    /// Whether TOTP two-factor login is on.
    pub fn totp_enabled(&self) -> bool {
        self.totp_secret.is_some()
    }

    /// Upstream's `authenticator_types`: 0 for TOTP, 2 for WebAuthn (1, SMS, is not offered).
    pub fn authenticator_types(&self) -> Vec<u8> {
        let mut types = Vec::new();
        if self.totp_enabled() {
            types.push(0);
        }
        if self.webauthn {
            types.push(2);
        }
        types
    }

    /// The public view of this user.
    pub fn partial(&self) -> UserPartial {
        UserPartial {
            id: self.id,
            username: self.username.clone(),
            discriminator: format!("{:04}", self.discriminator),
            global_name: self.global_name.clone(),
            avatar: self.avatar.clone(),
            avatar_color: self.accent_color,
            bot: self.bot.then_some(true),
            system: self.system.then_some(true),
            flags: self.flags & PUBLIC_FLAGS_MASK,
        }
    }

    /// The view the user has of itself (`GET /users/@me`).
    pub fn private(&self) -> UserPrivate {
        UserPrivate {
            partial: self.partial(),
            email: self.email.clone(),
            verified: self.email_verified,
            email_bounced: self.email_bounced,
            mfa_enabled: self.mfa_enabled(),
            authenticator_types: self.authenticator_types(),
            bio: self.bio.clone(),
            pronouns: self.pronouns.clone(),
            banner: self.banner.clone(),
            accent_color: self.accent_color,
            locale: self.locale.clone(),
            nsfw_allowed: true,
            premium_type: 0,
            pending_bulk_message_deletion: self.pending_bulk_message_deletion.clone(),
        }
    }
}

/// Flags clients may see (STAFF .. FRIENDLY_BOT_MANUAL_APPROVAL).
const PUBLIC_FLAGS_MASK: u64 = 0b11_1111;

/// `UserPartialResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPartial {
    /// Snowflake ID.
    pub id: UserId,
    /// Username; unique together with `discriminator`.
    pub username: String,
    /// Four digits, zero-padded (`"0042"`).
    pub discriminator: String,
    /// Display name; `null` when unset.
    pub global_name: Option<String>,
    /// Avatar image hash; `null` for the default avatar.
    pub avatar: Option<String>,
    /// The user's accent color as RGB; `null` when unset.
    pub avatar_color: Option<u32>,
    /// `true` for bots; omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot: Option<bool>,
    /// `true` for system accounts; omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    /// Public flag bits only (the low six: STAFF .. FRIENDLY_BOT_MANUAL_APPROVAL).
    pub flags: u64,
}

/// `UserPrivateResponse`: the partial fields plus what only the user itself sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPrivate {
    /// The public fields, flattened into the object.
    #[serde(flatten)]
    pub partial: UserPartial,
    /// The account's email address; `null` when it has none (bots).
    pub email: Option<String>,
    /// Whether the email address was confirmed.
    pub verified: bool,
    /// Whether mail to the address was refused for good (the app then offers to replace it).
    #[serde(default)]
    pub email_bounced: bool,
    /// Whether a second factor (TOTP or WebAuthn) is on.
    pub mfa_enabled: bool,
    /// Enabled second factors: 0 for TOTP, 2 for WebAuthn.
    pub authenticator_types: Vec<u8>,
    /// Profile text; `null` when unset.
    pub bio: Option<String>,
    /// Pronouns; `null` when unset.
    pub pronouns: Option<String>,
    /// Profile banner image hash; `null` without one.
    pub banner: Option<String>,
    /// Profile color as RGB; `null` when unset.
    pub accent_color: Option<u32>,
    /// Language tag, e.g. `en-US`.
    pub locale: String,
    /// Whether NSFW channels are open to the user; always true here.
    pub nsfw_allowed: bool,
    /// Upstream's premium tier (0 none, 1 subscription, 2 lifetime); always 0 here.
    pub premium_type: u8,
    /// A deletion of all the user's messages waiting for its time; `null` when none.
    pub pending_bulk_message_deletion: Option<PendingBulkDeletion>,
}

/// A login session. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    /// SHA-256 of the session token; its first 16 bytes in hex are the public `id_hash`.
    pub token_hash: [u8; 32],
    /// The signed-in user.
    pub user_id: UserId,
    /// When the session was opened (at login or registration).
    pub created_at: Timestamp,
    /// Last authenticated use, refreshed at most every 5 minutes.
    pub last_used_at: Timestamp,
    /// The client's operating system when the session was opened, if known.
    pub client_os: Option<String>,
    /// The client's browser when the session was opened, if known.
    pub client_browser: Option<String>,
    /// The IP address the session was opened from, if known.
    pub client_ip: Option<String>,
}

impl AuthSession {
    /// The public handle of a session (`id_hash` in `GET /auth/sessions`): hex of the first 16 bytes.
    pub fn id_hash(&self) -> String {
        self.token_hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What a one-time token authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionTokenKind {
    /// Confirms an email address; valid for 24 hours.
    VerifyEmail,
    /// Sets a new password; valid for 1 hour.
    ResetPassword,
    /// Finishes a login with a TOTP code; valid for 5 minutes.
    MfaTicket,
    /// Puts back the email address an email change replaced ("this wasn't me"); valid 48 hours.
    EmailRevert,
}

/// A one-time token (email verification, password reset, MFA login ticket). Stored hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionToken {
    /// What it authorizes.
    pub kind: ActionTokenKind,
    /// SHA-256 of the token; the token itself only goes to the user (link or ticket).
    pub token_hash: [u8; 32],
    /// The account it acts on.
    pub user_id: UserId,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// Relationship kinds (`1 friend | 2 blocked | 3 incoming request | 4 outgoing request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum RelationshipType {
    /// 1: mutual friends.
    Friend,
    /// 2: `user_id` blocked the target.
    Blocked,
    /// 3: the target sent `user_id` a friend request.
    Incoming,
    /// 4: `user_id` sent the target a friend request.
    Outgoing,
}

impl From<RelationshipType> for u8 {
    fn from(t: RelationshipType) -> u8 {
        match t {
            RelationshipType::Friend => 1,
            RelationshipType::Blocked => 2,
            RelationshipType::Incoming => 3,
            RelationshipType::Outgoing => 4,
        }
    }
}

impl TryFrom<u8> for RelationshipType {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Ok(match v {
            1 => RelationshipType::Friend,
            2 => RelationshipType::Blocked,
            3 => RelationshipType::Incoming,
            4 => RelationshipType::Outgoing,
            other => return Err(format!("unknown relationship type {other}")),
        })
    }
}

/// One side of a relationship: `user_id`'s view of `target_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    /// Whose view this is.
    pub user_id: UserId,
    /// The other user; served as `id`.
    pub target_id: UserId,
    /// The relationship type (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: RelationshipType,
    /// A private nickname `user_id` gave the target (upstream's friend nicknames); `None` if unset.
    pub nickname: Option<String>,
    /// When the relationship took its current type.
    pub since: Timestamp,
}

/// How far a user has read a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadState {
    /// Whose read state this is.
    pub user_id: UserId,
    /// The channel (upstream names it `id`).
    #[serde(rename = "id")]
    pub channel_id: ChannelId,
    /// The last message acknowledged; `None` when nothing was read yet.
    pub last_message_id: Option<MessageId>,
    /// Unread mentions: each new one adds 1; an ack sets it (0 unless the client gives a count).
    pub mention_count: u32,
    /// When the user last saw the channel's pins (`POST /channels/{id}/pins/ack`); `None` if never.
    pub last_pin_timestamp: Option<Timestamp>,
}

impl ReadState {
    /// Nothing read and no pin seen yet.
    pub fn unread(user_id: UserId, channel_id: ChannelId) -> ReadState {
        ReadState {
            user_id,
            channel_id,
            last_message_id: None,
            mention_count: 0,
            last_pin_timestamp: None,
        }
    }
}
