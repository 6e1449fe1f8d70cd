//! Entities in their stored form, and the wire shapes (`*Response`) clients see.
//!
//! Stored forms carry everything a backend must keep (password hashes, token hashes, recipient IDs);
//! wire forms carry what upstream Fluxer's API returns, with its field names. The two are kept apart so a
//! secret can never leak into a response by accident.

mod admin;
mod application;
mod audit;
mod channel;
mod discovery;
mod encoded;
mod expression;
mod guild;
mod invite;
mod limit_config;
mod message;
mod oauth2;
mod pack;
mod presence;
mod report;
mod settings;
mod user;
mod voice;
mod webauthn;

pub use admin::{
    AclSet, AdminApiKey, AdminAuditEntry, AdminAuditQuery, InstanceBan, InstanceBanKind,
    InstanceConfig, MAX_ACL_LEN, MAX_ACLS, RegistrationMode, SsoSettings, acl, is_valid_acl,
};
pub use application::{Application, ApplicationResponse, Webhook, WebhookResponse};
pub use audit::{AuditChange, AuditEntry, AuditQuery, action as audit_action};
pub use channel::{Channel, ChannelResponse, ChannelType};
pub use discovery::{DiscoveryApplication, DiscoveryApplicationResponse, DiscoveryStatus};
pub use encoded::Encoded;
pub use expression::{EmojiResponse, Expression, ExpressionKind, StickerItem, StickerResponse};
pub use guild::{
    Ban, BanResponse, Guild, GuildResponse, GuildSnapshot, Member, MemberResponse, Role, UserGuild,
    VanityUrl,
};
pub use invite::{Invite, InviteResponse, InviteView, PartialChannel, PartialGuild};
pub use limit_config::{
    DEFAULT_LIMIT_RULE, LIMIT_CATEGORIES, LIMIT_KEYS, LimitConfig, LimitFilter, LimitKeyInfo,
    LimitRule, limit_key_info,
};
pub use message::{
    AllowedMentions, Attachment, Embed, Emoji, Message, MessageReference, MessageResponse,
    MessageType, ReactionCount, ReactionEmoji,
};
pub use oauth2::{
    BotUser, ConsentRedirect, Introspection, OAuth2Application, OAuth2Authorization, OAuth2Me,
    OAuth2Scope, OAuth2Scopes, OAuth2Token, OAuth2TokenKind, OAuth2User, PublicApplication,
    TokenResponse, UnknownScope,
};
pub use pack::{
    Pack, PackDashboard, PackInfo, PackInstallation, PackInviteResponse, PackSection, PackSummary,
    pack_invite_type,
};
pub use presence::{PresenceResponse, PresenceUser};
pub use report::{LegalHold, Report, ReportKind, ReportResponse, ReportStatus};
pub use settings::{
    ChannelOverride, CustomStatus, GuildFolder, MuteConfig, UNCATEGORISED_FOLDER,
    UserGuildSettings, UserSettings,
};
pub use user::{
    ActionToken, ActionTokenKind, AuthSession, PendingBulkDeletion, ReadState, Relationship,
    RelationshipType, STAFF_FLAG, User, UserPartial, UserPrivate,
};
pub use voice::VoiceState;
pub use webauthn::{WebAuthnCredential, WebAuthnCredentialResponse};
