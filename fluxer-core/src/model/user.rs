use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, MessageId, UserId};
use crate::time::Timestamp;

/// A person or a bot, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// 1..=9999; shown as four digits.
    pub discriminator: u16,
    pub global_name: Option<String>,
    pub avatar: Option<String>,
    pub banner: Option<String>,
    pub bio: Option<String>,
    pub pronouns: Option<String>,
    pub accent_color: Option<u32>,
    pub bot: bool,
    pub system: bool,
    /// Public and internal flags (upstream's bit values).
    pub flags: u64,
    /// Lower-cased; unique.
    pub email: Option<String>,
    pub email_verified: bool,
    /// argon2id PHC string; `None` for bots and unclaimed accounts.
    pub password_hash: Option<String>,
    /// Base32 TOTP secret when MFA is enabled.
    pub totp_secret: Option<String>,
    pub date_of_birth: Option<String>,
    pub locale: String,
    pub password_changed_at: Option<Timestamp>,
    /// Set when the account was deleted; kept as a tombstone so old messages still resolve.
    pub deleted_at: Option<Timestamp>,
    /// Set when the owner asked for deletion; the account is erased after the grace period unless
    /// they log in again first.
    #[serde(default)]
    pub deletion_requested_at: Option<Timestamp>,
}

impl User {
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
        }
    }

    pub fn tag(&self) -> String {
        format!("{}#{:04}", self.username, self.discriminator)
    }

    pub fn mfa_enabled(&self) -> bool {
        self.totp_secret.is_some()
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
            mfa_enabled: self.mfa_enabled(),
            authenticator_types: if self.mfa_enabled() { vec![1] } else { vec![] },
            bio: self.bio.clone(),
            pronouns: self.pronouns.clone(),
            banner: self.banner.clone(),
            accent_color: self.accent_color,
            locale: self.locale.clone(),
            nsfw_allowed: true,
            premium_type: 0,
        }
    }
}

/// Flags clients may see (STAFF .. FRIENDLY_BOT_MANUAL_APPROVAL).
const PUBLIC_FLAGS_MASK: u64 = 0b11_1111;

/// `UserPartialResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPartial {
    pub id: UserId,
    pub username: String,
    pub discriminator: String,
    pub global_name: Option<String>,
    pub avatar: Option<String>,
    pub avatar_color: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<bool>,
    pub flags: u64,
}

/// `UserPrivateResponse`: the partial fields plus what only the user itself sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPrivate {
    #[serde(flatten)]
    pub partial: UserPartial,
    pub email: Option<String>,
    pub verified: bool,
    pub mfa_enabled: bool,
    pub authenticator_types: Vec<u8>,
    pub bio: Option<String>,
    pub pronouns: Option<String>,
    pub banner: Option<String>,
    pub accent_color: Option<u32>,
    pub locale: String,
    pub nsfw_allowed: bool,
    pub premium_type: u8,
}

/// A login session. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    pub token_hash: [u8; 32],
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub client_os: Option<String>,
    pub client_browser: Option<String>,
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
    VerifyEmail,
    ResetPassword,
    MfaTicket,
}

/// A one-time token (email verification, password reset, MFA login ticket). Stored hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionToken {
    pub kind: ActionTokenKind,
    pub token_hash: [u8; 32],
    pub user_id: UserId,
    pub expires_at: Timestamp,
}

/// Relationship kinds (`1 friend | 2 blocked | 3 incoming request | 4 outgoing request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum RelationshipType {
    Friend,
    Blocked,
    Incoming,
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
    pub user_id: UserId,
    pub target_id: UserId,
    #[serde(rename = "type")]
    pub kind: RelationshipType,
    pub nickname: Option<String>,
    pub since: Timestamp,
}

/// How far a user has read a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadState {
    pub user_id: UserId,
    /// The channel (upstream names it `id`).
    #[serde(rename = "id")]
    pub channel_id: ChannelId,
    pub last_message_id: Option<MessageId>,
    pub mention_count: u32,
    pub last_pin_timestamp: Option<Timestamp>,
}
