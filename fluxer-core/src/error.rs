//! The domain's error type. Each variant maps to exactly one of Fluxer's string error codes
//! ([`Error::code`]) and HTTP statuses ([`Error::status`]), so the API layer translates in one place.

use serde::Serialize;
use serde_json::json;

use crate::model::ExpressionKind;

/// What a lookup did not find. Each kind is a distinct `UNKNOWN_*` code on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unknown {
    /// No such user (`UNKNOWN_USER`, 404).
    User,
    /// No such guild, or the caller is not in it (`UNKNOWN_GUILD`, 404).
    Guild,
    /// No such channel, or the caller is neither in its guild nor one of its recipients
    /// (`UNKNOWN_CHANNEL`, 404).
    Channel,
    /// No such message in the channel (`UNKNOWN_MESSAGE`, 404).
    Message,
    /// No such role in the guild (`UNKNOWN_ROLE`, 404).
    Role,
    /// The user is not a member of the guild (`UNKNOWN_MEMBER`, 404).
    Member,
    /// No such invite, or it expired or is used up (`UNKNOWN_INVITE`, 404).
    Invite,
    /// The user is not banned from the guild (`UNKNOWN_BAN`, 404).
    Ban,
    /// No such webhook (`UNKNOWN_WEBHOOK`, 404).
    Webhook,
    /// No such application (`UNKNOWN_APPLICATION`, 404).
    Application,
    /// No such emoji, or not a valid one (`UNKNOWN_EMOJI`, 404).
    Emoji,
    /// No such sticker in the guild (`UNKNOWN_STICKER`, 404).
    Sticker,
    /// No such saved media of the caller's (`UNKNOWN_FAVORITE_MEME`, 404).
    FavoriteMeme,
    /// No such login session (`UNKNOWN_SESSION`, 404).
    Session,
    /// No relationship with that user (`UNKNOWN_USER`, 404, as upstream answers).
    Relationship,
    /// No such permission overwrite on the channel (`UNKNOWN_PERMISSION_OVERWRITE`, 404).
    Overwrite,
    /// No such data export (`UNKNOWN_HARVEST`, 404).
    Harvest,
    /// No such emoji or sticker pack (`UNKNOWN_PACK`, 404).
    Pack,
    /// No such connection of the caller's (`CONNECTION_NOT_FOUND`, 404, upstream's code).
    Connection,
    /// No such WebAuthn credential of the caller's (`UNKNOWN_WEBAUTHN_CREDENTIAL`, 404).
    WebAuthnCredential,
    /// No such report (`UNKNOWN_REPORT`, 404).
    Report,
    /// No such admin API key of the caller's (`ADMIN_API_KEY_NOT_FOUND`, 404, upstream's code).
    AdminApiKey,
    /// No such voice region (`UNKNOWN_VOICE_REGION`, 404, upstream's code).
    VoiceRegion,
    /// No such voice server in the region (`UNKNOWN_VOICE_SERVER`, 404, upstream's code).
    VoiceServer,
    /// The guild has no discovery application (`DISCOVERY_APPLICATION_NOT_FOUND`, 404, upstream's code).
    DiscoveryApplication,
}

impl Unknown {
    /// The wire code (`UNKNOWN_USER`, ...), served with status 404.
    pub fn code(self) -> &'static str {
        match self {
            Unknown::User => "UNKNOWN_USER",
            Unknown::Guild => "UNKNOWN_GUILD",
            Unknown::Channel => "UNKNOWN_CHANNEL",
            Unknown::Message => "UNKNOWN_MESSAGE",
            Unknown::Role => "UNKNOWN_ROLE",
            Unknown::Member => "UNKNOWN_MEMBER",
            Unknown::Invite => "UNKNOWN_INVITE",
            Unknown::Ban => "UNKNOWN_BAN",
            Unknown::Webhook => "UNKNOWN_WEBHOOK",
            Unknown::Application => "UNKNOWN_APPLICATION",
            Unknown::Emoji => "UNKNOWN_EMOJI",
            Unknown::Sticker => "UNKNOWN_STICKER",
            Unknown::FavoriteMeme => "UNKNOWN_FAVORITE_MEME",
            Unknown::Session => "UNKNOWN_SESSION",
            // Upstream names the user, not the relationship.
            Unknown::Relationship => "UNKNOWN_USER",
            Unknown::Overwrite => "UNKNOWN_PERMISSION_OVERWRITE",
            Unknown::Harvest => "UNKNOWN_HARVEST",
            Unknown::Pack => "UNKNOWN_PACK",
            Unknown::Connection => "CONNECTION_NOT_FOUND",
            Unknown::WebAuthnCredential => "UNKNOWN_WEBAUTHN_CREDENTIAL",
            Unknown::Report => "UNKNOWN_REPORT",
            Unknown::AdminApiKey => "ADMIN_API_KEY_NOT_FOUND",
            Unknown::DiscoveryApplication => "DISCOVERY_APPLICATION_NOT_FOUND",
            Unknown::VoiceRegion => "UNKNOWN_VOICE_REGION",
            Unknown::VoiceServer => "UNKNOWN_VOICE_SERVER",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Unknown::User => "user",
            Unknown::Guild => "guild",
            Unknown::Channel => "channel",
            Unknown::Message => "message",
            Unknown::Role => "role",
            Unknown::Member => "member",
            Unknown::Invite => "invite",
            Unknown::Ban => "ban",
            Unknown::Webhook => "webhook",
            Unknown::Application => "application",
            Unknown::Emoji => "emoji",
            Unknown::Sticker => "sticker",
            Unknown::FavoriteMeme => "favorite meme",
            Unknown::Session => "session",
            Unknown::Relationship => "relationship",
            Unknown::Overwrite => "permission overwrite",
            Unknown::Harvest => "data export",
            Unknown::Pack => "pack",
            Unknown::Connection => "connection",
            Unknown::WebAuthnCredential => "WebAuthn credential",
            Unknown::Report => "report",
            Unknown::AdminApiKey => "admin API key",
            Unknown::DiscoveryApplication => "discovery application",
            Unknown::VoiceRegion => "voice region",
            Unknown::VoiceServer => "voice server",
        }
    }
}

/// A limit the caller ran into (`MAX_*` codes upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Guilds one user may be in (`MAX_GUILDS`).
    Guilds,
    /// Channels in one guild (`MAX_GUILD_CHANNELS`).
    Channels,
    /// Roles in one guild (`MAX_GUILD_ROLES`).
    Roles,
    /// Different emojis on one message (`MAX_REACTIONS`).
    Reactions,
    /// Pinned messages in one channel (`MAX_PINS_PER_CHANNEL`).
    Pins,
    /// Invites in one guild (`MAX_INVITES`).
    Invites,
    /// Webhooks in one channel (`MAX_WEBHOOKS_PER_CHANNEL`).
    Webhooks,
    /// Relationships one user holds: friends, requests and blocks (`MAX_FRIENDS`).
    Friends,
    /// Permission overwrites on one channel (`MAX_PERMISSION_OVERWRITES`).
    Overwrites,
    /// Members of one group DM (`MAX_GROUP_DM_RECIPIENTS`).
    GroupDmRecipients,
    /// Static custom emojis in one guild (`MAX_EMOJIS`).
    Emojis,
    /// Animated custom emojis in one guild (`MAX_ANIMATED_EMOJIS`).
    AnimatedEmojis,
    /// Stickers in one guild (`MAX_STICKERS`).
    Stickers,
    /// Emojis or stickers in one pack (`MAX_PACK_EXPRESSIONS`).
    PackExpressions,
    /// Packs of one kind one user may make (`MAX_PACKS`).
    CreatedPacks(ExpressionKind),
    /// Packs of one kind one user may install (`MAX_PACKS`).
    InstalledPacks(ExpressionKind),
}

impl Limit {
    /// The wire code (`MAX_GUILDS`, ...), served with status 400 through [`Error::LimitReached`].
    pub fn code(self) -> &'static str {
        match self {
            Limit::Guilds => "MAX_GUILDS",
            Limit::Channels => "MAX_GUILD_CHANNELS",
            Limit::Roles => "MAX_GUILD_ROLES",
            Limit::Reactions => "MAX_REACTIONS",
            Limit::Pins => "MAX_PINS_PER_CHANNEL",
            Limit::Invites => "MAX_INVITES",
            Limit::Webhooks => "MAX_WEBHOOKS_PER_CHANNEL",
            Limit::Friends => "MAX_FRIENDS",
            Limit::Overwrites => "MAX_PERMISSION_OVERWRITES",
            Limit::GroupDmRecipients => "MAX_GROUP_DM_RECIPIENTS",
            Limit::Emojis => "MAX_EMOJIS",
            Limit::AnimatedEmojis => "MAX_ANIMATED_EMOJIS",
            Limit::Stickers => "MAX_STICKERS",
            Limit::PackExpressions => "MAX_PACK_EXPRESSIONS",
            Limit::CreatedPacks(_) | Limit::InstalledPacks(_) => "MAX_PACKS",
        }
    }

    /// The fields upstream adds to this limit's error body, if any.
    fn details(self, max: u64) -> Option<serde_json::Value> {
        match self {
            Limit::PackExpressions => Some(json!({ "max_expressions": max })),
            Limit::CreatedPacks(kind) => {
                Some(json!({ "pack_type": kind, "limit": max, "action": "create" }))
            }
            Limit::InstalledPacks(kind) => {
                Some(json!({ "pack_type": kind, "limit": max, "action": "install" }))
            }
            _ => None,
        }
    }
}

/// Everything a use-case can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input broke one or more validation rules (`INVALID_FORM_BODY`, 400).
    #[error("invalid form body: {}", .0.iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidForm(Vec<FieldError>),
    /// A referenced resource does not exist or is not visible to the caller (404).
    #[error("unknown {}", .0.noun())]
    Unknown(Unknown),
    /// The caller may see the resource but lacks a permission for the action (403 `MISSING_PERMISSIONS`).
    #[error("missing permissions")]
    MissingPermissions,
    /// The caller may not see the resource at all (403 `MISSING_ACCESS`).
    #[error("missing access")]
    MissingAccess,
    /// No valid credentials (401 `UNAUTHORIZED`).
    #[error("unauthorized")]
    Unauthorized,
    /// Credentials were checked and are wrong (400 `INVALID_FORM_BODY` on login, as upstream).
    #[error("invalid login credentials")]
    InvalidCredentials,
    /// A second factor is required or was wrong.
    #[error("invalid two-factor code")]
    InvalidMfaCode,
    /// A WebAuthn assertion did not prove the login or action: an unknown or foreign credential, a
    /// used, stale or foreign challenge, a bad signature, a signature counter that went back (401
    /// `PASSKEY_AUTHENTICATION_FAILED`).
    #[error("Passkey authentication failed.")]
    PasskeyAuthenticationFailed,
    /// The action is not allowed in the resource's current state, with Fluxer's code (400).
    #[error("{message}")]
    Rejected {
        /// Fluxer's code for the refusal (`CANNOT_SEND_EMPTY_MESSAGE`, `INVALID_CHANNEL_TYPE`).
        code: &'static str,
        /// What went wrong, for people; sent as the response's `message`.
        message: String,
    },
    /// The action is refused to this caller, with Fluxer's code (403): editing someone else's
    /// message, a bot on a route for people.
    #[error("{message}")]
    Forbidden {
        /// Fluxer's code (`CANNOT_EDIT_OTHER_USER_MESSAGE`, `ACCESS_DENIED`).
        code: &'static str,
        /// What went wrong, for people.
        message: String,
    },
    /// The action was done too recently to be done again yet (429), with Fluxer's code
    /// (`HARVEST_ON_COOLDOWN`).
    #[error("{message}")]
    TooSoon {
        /// Fluxer's code.
        code: &'static str,
        /// What went wrong, for people.
        message: String,
        /// How long until it may be done again, in milliseconds.
        retry_after_ms: u64,
    },
    /// The action would duplicate something that exists (409), with Fluxer's code
    /// (`CONNECTION_ALREADY_EXISTS`).
    #[error("{message}")]
    Conflict {
        /// Fluxer's code.
        code: &'static str,
        /// What went wrong, for people.
        message: String,
    },
    /// A count the caller may not go past was reached, answered as upstream does with 429 and no
    /// retry hint (`CONNECTION_LIMIT_REACHED`): waiting does not help, removing something does.
    #[error("{message}")]
    Throttled {
        /// Fluxer's code.
        code: &'static str,
        /// What went wrong, for people.
        message: String,
    },
    /// A limit was reached (400 `MAX_*`).
    #[error("maximum number of {limit:?} reached ({max})")]
    LimitReached {
        /// Which limit; it gives the `MAX_*` code.
        limit: Limit,
        /// The limit's value on this instance.
        max: u64,
    },
    /// The action needs the caller to confirm who they are again ("sudo mode", 403
    /// `SUDO_MODE_REQUIRED`): with the password, or with a two-factor code when `has_mfa`.
    #[error("sudo mode is required")]
    SudoRequired {
        /// Whether the account has two-factor authentication (then a code is asked for).
        has_mfa: bool,
    },
    /// A login from an address the account has not used waits for approval by email (403
    /// `IP_AUTHORIZATION_REQUIRED`).
    #[error("this address must be authorized from the account's email")]
    IpAuthorizationRequired {
        /// What the client polls with.
        ticket: String,
        /// Where the approval link went.
        email: String,
        /// Seconds until the email can be sent again.
        resend_available_in: u64,
    },
    /// The caller is banned from the guild it tries to join (403 `USER_BANNED_FROM_GUILD`).
    #[error("you are banned from this guild")]
    Banned,
    /// Too many requests; retry after this many milliseconds (429).
    #[error("rate limited, retry after {retry_after_ms} ms")]
    RateLimited {
        /// How long to wait before trying again, in milliseconds.
        retry_after_ms: u64,
        /// Whether the caller's global limit (every route) was hit rather than one route's.
        global: bool,
    },
    /// The channel's slowmode allows one message per interval (400 `SLOWMODE_RATE_LIMITED`, as
    /// upstream; `retry_after` in the body says when).
    #[error("slowmode: wait {retry_after_ms} ms before sending again")]
    SlowmodeRateLimited {
        /// How long until the member may send again, in milliseconds.
        retry_after_ms: u64,
    },
    /// A feature this instance has turned off or cannot reach right now (503), with Fluxer's code.
    #[error("{message}")]
    Unavailable {
        /// Fluxer's code for the missing feature (`SEARCH_UNAVAILABLE`, `UPLOADS_UNAVAILABLE`).
        code: &'static str,
        /// What is unavailable, for people; sent as the response's `message`.
        message: String,
    },
    /// An OAuth2 protocol error, served in RFC 6749's shape (`{"error", "error_description"}`)
    /// rather than Fluxer's: 400, or 401 for a client that authenticated with HTTP Basic and failed.
    #[error("{}: {}", .0.error.as_str(), .0.description)]
    OAuth2(crate::service::OAuth2Failure),
    /// An OAuth2 bearer token lacks the scope the action needs (403 `MISSING_OAUTH_SCOPE`).
    #[error("Missing required OAuth2 scope: {0}")]
    MissingOAuthScope(crate::model::OAuth2Scope),
    /// A backend failed: its adapter and the cause are for logs ([`chain`] prints them all);
    /// clients see a generic 500.
    #[error("storage failure")]
    Storage(#[source] StoreError),
    /// Something else that should not happen; the message is for logs.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Fluxer's string error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidForm(_) | Error::InvalidCredentials | Error::InvalidMfaCode => {
                "INVALID_FORM_BODY"
            }
            Error::Unknown(kind) => kind.code(),
            Error::MissingPermissions => "MISSING_PERMISSIONS",
            Error::MissingAccess => "MISSING_ACCESS",
            Error::Unauthorized => "UNAUTHORIZED",
            Error::PasskeyAuthenticationFailed => "PASSKEY_AUTHENTICATION_FAILED",
            Error::Rejected { code, .. }
            | Error::Forbidden { code, .. }
            | Error::TooSoon { code, .. }
            | Error::Conflict { code, .. }
            | Error::Throttled { code, .. }
            | Error::Unavailable { code, .. } => code,
            Error::LimitReached { limit, .. } => limit.code(),
            Error::Banned => "USER_BANNED_FROM_GUILD",
            Error::SudoRequired { .. } => "SUDO_MODE_REQUIRED",
            Error::IpAuthorizationRequired { .. } => "IP_AUTHORIZATION_REQUIRED",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::SlowmodeRateLimited { .. } => "SLOWMODE_RATE_LIMITED",
            Error::OAuth2(failure) => failure.error.as_str(),
            Error::MissingOAuthScope(_) => "MISSING_OAUTH_SCOPE",
            Error::Storage(_) | Error::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status this error is served with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidForm(_)
            | Error::InvalidCredentials
            | Error::InvalidMfaCode
            | Error::Rejected { .. }
            | Error::LimitReached { .. }
            | Error::SlowmodeRateLimited { .. } => 400,
            Error::Unauthorized | Error::PasskeyAuthenticationFailed => 401,
            Error::OAuth2(failure) => failure.status(),
            Error::MissingPermissions
            | Error::MissingOAuthScope(_)
            | Error::MissingAccess
            | Error::Banned
            | Error::Forbidden { .. }
            | Error::SudoRequired { .. }
            | Error::IpAuthorizationRequired { .. } => 403,
            Error::Unknown(_) => 404,
            Error::Conflict { .. } => 409,
            Error::RateLimited { .. } | Error::TooSoon { .. } | Error::Throttled { .. } => 429,
            Error::Unavailable { .. } => 503,
            Error::Storage(_) | Error::Internal(_) => 500,
        }
    }

    /// A single-field validation error.
    pub fn field(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidForm(vec![FieldError::new(path, code, message)])
    }

    /// An [`Error::Rejected`] (400) with Fluxer's `code` and a message for people.
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        Error::Rejected {
            code,
            message: message.into(),
        }
    }

    /// An [`Error::Forbidden`] (403) with Fluxer's `code` and a message for people.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// Fields upstream adds to this error's body beside `code` and `message` (an object), if any:
    /// `MAX_PACKS` names the kind, the limit and the action; `SUDO_MODE_REQUIRED` says whether a
    /// two-factor code is asked for; `IP_AUTHORIZATION_REQUIRED` gives the ticket to poll with.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            Error::LimitReached { limit, max } => limit.details(*max),
            Error::SudoRequired { has_mfa } => Some(serde_json::json!({ "has_mfa": has_mfa })),
            Error::MissingOAuthScope(scope) => {
                Some(serde_json::json!({ "required_scope": scope.as_str() }))
            }
            Error::IpAuthorizationRequired {
                ticket,
                email,
                resend_available_in,
            } => Some(serde_json::json!({
                "ip_authorization_required": true,
                "ticket": ticket,
                "email": email,
                "resend_available_in": resend_available_in,
            })),
            Error::TooSoon {
                code: "IP_AUTHORIZATION_RESEND_COOLDOWN",
                retry_after_ms,
                ..
            } => Some(serde_json::json!({
                "resend_available_in": retry_after_ms.div_ceil(1000),
            })),
            _ => None,
        }
    }

    /// Whether this error is the caller's fault (4xx) rather than the server's.
    pub fn is_client_error(&self) -> bool {
        self.status() < 500
    }
}

/// Errors a storage adapter reports. Adapters map their driver errors into these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness constraint was violated; the string names it (e.g. `"users.email"`).
    #[error("unique constraint violated: {0}")]
    Conflict(&'static str),
    /// The row to update or delete does not exist.
    #[error("not found")]
    NotFound,
    /// The other side refused the request for good (an SMTP server rejecting a recipient with a
    /// permanent reply): retrying will not help.
    #[error("{adapter} refused: {reason}")]
    Refused {
        /// The adapter's name (`smtp`).
        adapter: &'static str,
        /// What the other side said.
        reason: String,
    },
    /// The backend failed (I/O, connection, corrupt data): which adapter, and the cause, with its
    /// own chain of sources.
    #[error("{adapter} failed")]
    Backend {
        /// The adapter's name (`sqlite`, `postgres`, `redis`, ...).
        adapter: &'static str,
        /// The driver's error (or a message), with its own chain of sources.
        #[source]
        source: BoxError,
    },
}

/// Any error a backend's driver reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// A failure of the adapter named `adapter`, keeping `source` (a driver's error, or a message).
    pub fn backend_of(adapter: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            adapter,
            source: source.into(),
        }
    }

    /// A failure of `adapter` while doing `what` (`publishing an event`), keeping `source`.
    pub fn backend_while(
        adapter: &'static str,
        what: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        StoreError::backend_of(
            adapter,
            Context {
                what: what.into(),
                source: source.into(),
            },
        )
    }

    /// A failure of an adapter that does not name itself (a custom backend); prefer
    /// [`StoreError::backend_of`].
    pub fn backend(source: impl Into<BoxError>) -> Self {
        StoreError::backend_of("backend", source)
    }
}

/// What an adapter was doing when its driver failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct Context {
    what: String,
    #[source]
    source: BoxError,
}

/// An error and every source under it, `outer: inner: innermost`: what a log line should show.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::Internal(format!("unhandled conflict on {what}")),
            StoreError::NotFound => Error::Internal("row vanished during update".into()),
            failure @ (StoreError::Backend { .. } | StoreError::Refused { .. }) => {
                Error::Storage(failure)
            }
        }
    }
}

/// The domain's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One broken rule of an input, pointing at the field with a dotted path (`embeds.0.title`): an
/// entry of `INVALID_FORM_BODY`'s `errors`. [`crate::validation::Validator`] collects them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as a dotted path into the body.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
    /// What is wrong, for programs (`BASE_TYPE_MAX_LENGTH`).
    pub code: &'static str,
}

impl FieldError {
    /// An error on the field at `path`.
    pub fn new(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        assert_eq!(Error::Unknown(Unknown::Channel).code(), "UNKNOWN_CHANNEL");
        assert_eq!(Error::Unknown(Unknown::Channel).status(), 404);
        assert_eq!(Error::MissingPermissions.status(), 403);
        assert_eq!(
            Error::field("content", "BASE_TYPE_MAX_LENGTH", "too long").code(),
            "INVALID_FORM_BODY"
        );
        let disk = || Error::from(StoreError::backend_of("sqlite", "disk I/O error"));
        assert_eq!(disk().status(), 500);
        assert!(!disk().is_client_error());
    }

    #[test]
    fn a_storage_error_keeps_its_adapter_and_cause() {
        let io = std::io::Error::other("disk full");
        let e = Error::from(StoreError::backend_of("sqlite", io));
        assert_eq!(chain(&e), "storage failure: sqlite failed: disk full");
    }
}
