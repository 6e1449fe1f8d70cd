//! OAuth2 grants: the scopes a user hands an application, and the credentials that carry them
//! (authorization codes, access tokens, refresh tokens), stored only as hashes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{ApplicationId, UserId};
use crate::model::User;
use crate::time::Timestamp;

/// One OAuth2 scope (upstream's set). Each names what a bearer token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuth2Scope {
    /// The user's profile: `GET /users/@me`, `/oauth2/userinfo`, the user in `/oauth2/@me`.
    Identify,
    /// The email address (and whether it is verified) wherever the profile is served.
    Email,
    /// The user's guilds: `GET /users/@me/guilds`.
    Guilds,
    /// The user's external connections.
    Connections,
    /// Adds the application's bot to a guild at consent.
    Bot,
    /// Upstream's admin panel scope; only its own admin application may ask for it.
    Admin,
}

impl OAuth2Scope {
    /// Every scope, in upstream's preferred order (the order scope strings are written in).
    pub const ALL: [OAuth2Scope; 6] = [
        OAuth2Scope::Identify,
        OAuth2Scope::Email,
        OAuth2Scope::Guilds,
        OAuth2Scope::Connections,
        OAuth2Scope::Bot,
        OAuth2Scope::Admin,
    ];

    /// The wire name (`identify`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuth2Scope::Identify => "identify",
            OAuth2Scope::Email => "email",
            OAuth2Scope::Guilds => "guilds",
            OAuth2Scope::Connections => "connections",
            OAuth2Scope::Bot => "bot",
            OAuth2Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl TryFrom<&str> for OAuth2Scope {
    type Error = UnknownScope;

    fn try_from(s: &str) -> Result<Self, UnknownScope> {
        OAuth2Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl fmt::Display for OAuth2Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`OAuth2Scope`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OAuth2 scope `{0}`")]
pub struct UnknownScope(pub String);

/// A set of scopes. Written as upstream writes it: space-separated names in preferred order
/// (`"identify email guilds"`); that is also its serialized form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OAuth2Scopes(u8);

impl OAuth2Scopes {
    /// No scope.
    pub const fn empty() -> Self {
        OAuth2Scopes(0)
    }

    /// Reads a space-separated list (runs of spaces, and `+` as some clients send it, separate);
    /// repeated names count once. Fails on the first unknown name.
    pub fn parse(s: &str) -> Result<Self, UnknownScope> {
        let mut set = OAuth2Scopes::empty();
        for name in s.split([' ', '+']).filter(|n| !n.is_empty()) {
            set.insert(OAuth2Scope::try_from(name)?);
        }
        Ok(set)
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: OAuth2Scope) {
        self.0 |= scope.bit();
    }

    /// Whether the set holds `scope`.
    pub fn contains(self, scope: OAuth2Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether the set holds no scope.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    pub fn union(self, other: OAuth2Scopes) -> OAuth2Scopes {
        OAuth2Scopes(self.0 | other.0)
    }

    /// The set without `scope`.
    pub fn without(self, scope: OAuth2Scope) -> OAuth2Scopes {
        OAuth2Scopes(self.0 & !scope.bit())
    }

    /// The scopes held, in preferred order.
    pub fn iter(self) -> impl Iterator<Item = OAuth2Scope> {
        OAuth2Scope::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }

    /// The names, in preferred order (`/oauth2/@me`'s `scopes`).
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(OAuth2Scope::as_str).collect()
    }
}

impl FromIterator<OAuth2Scope> for OAuth2Scopes {
    fn from_iter<I: IntoIterator<Item = OAuth2Scope>>(iter: I) -> Self {
        let mut set = OAuth2Scopes::empty();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Display for OAuth2Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

impl Serialize for OAuth2Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OAuth2Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OAuth2Scopes::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What an OAuth2 credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OAuth2TokenKind {
    /// A one-time code from consent, exchanged at `POST /oauth2/token` for the two others.
    AuthorizationCode,
    /// Sent as `Authorization: Bearer <token>`.
    AccessToken,
    /// Exchanged once for a new access token and a new refresh token (rotation).
    RefreshToken,
    /// What is left of a code or refresh token once exchanged: presenting it again means it leaked
    /// (RFC 6749 §4.1.2, RFC 9700 §4.14.2), so the grant it came from is revoked.
    Spent,
}

impl OAuth2TokenKind {
    /// The number backends store for this kind.
    pub fn code(self) -> i16 {
        match self {
            OAuth2TokenKind::AuthorizationCode => 1,
            OAuth2TokenKind::AccessToken => 2,
            OAuth2TokenKind::RefreshToken => 3,
            OAuth2TokenKind::Spent => 4,
        }
    }
}

/// One OAuth2 credential of a grant (a user's authorization of an application), as stored: the
/// token itself is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth2Token {
    /// SHA-256 of the token; the key it is found by.
    pub token_hash: [u8; 32],
    /// Code, access token or refresh token.
    pub kind: OAuth2TokenKind,
    /// The application (client) the grant was given to.
    pub application_id: ApplicationId,
    /// The user who gave it.
    pub user_id: UserId,
    /// What it allows.
    pub scopes: OAuth2Scopes,
    /// When it was issued. A refresh token keeps the grant's first date (`authorized_at`).
    pub created_at: Timestamp,
    /// When it stops working (excluded).
    pub expires_at: Timestamp,
    /// For a code: the redirect URI it was issued for, which the exchange must repeat exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// For a code: the PKCE `code_challenge` (S256: base64url of the verifier's SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
}

/// `POST /oauth2/authorize/consent`'s answer: where to send the user's browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentRedirect {
    /// The redirect URI with `code` (and `state`) added.
    pub redirect_to: String,
}

/// `POST /oauth2/token`'s answer (RFC 6749 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Exchanged once, at `grant_type=refresh_token`, for a new pair.
    pub refresh_token: String,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// `POST /oauth2/introspect`'s answer (RFC 7662): `{"active": false}` alone for a token that is
/// not a live access token of the calling client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Introspection {
    /// Whether the token is live.
    pub active: bool,
    /// The granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ApplicationId>,
    /// The user's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The user's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<UserId>,
}

/// The user as an OAuth2 client sees it (`GET /oauth2/userinfo`, the `user` of `/oauth2/@me`):
/// OIDC's `sub` beside Fluxer's fields; `email` and `verified` only with the `email` scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2User {
    /// The user's ID (OIDC subject).
    pub sub: UserId,
    /// The user's ID.
    pub id: UserId,
    /// Username.
    pub username: String,
    /// Four digits.
    pub discriminator: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// The address, with the `email` scope; `null` without.
    pub email: Option<String>,
    /// Whether the address is verified; present with the `email` scope only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Public flags.
    pub flags: u64,
    /// Whether the user is a bot.
    pub bot: bool,
    /// Whether the user is a system user.
    pub system: bool,
}

/// An application as a grant's holder or a consent screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Application {
    /// Its ID (the client ID).
    pub id: ApplicationId,
    /// Its name.
    pub name: String,
    /// Its bot's avatar hash, if any.
    pub icon: Option<String>,
    /// Its description; `null` when empty.
    pub description: Option<String>,
    /// Whether anyone may add its bot.
    pub bot_public: bool,
    /// Upstream's code-grant setting for its bot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_require_code_grant: Option<bool>,
    /// Application flags (none are defined: 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u32>,
}

/// `GET /oauth2/@me`: what the bearer token is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Me {
    /// The application it was granted to.
    pub application: OAuth2Application,
    /// Its scopes.
    pub scopes: Vec<&'static str>,
    /// When it expires (ISO 8601).
    pub expires: String,
    /// The user, with the `identify` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<OAuth2User>,
}

/// One entry of `GET /oauth2/@me/authorizations`: an application the user authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Authorization {
    /// The application.
    pub application: OAuth2Application,
    /// The scopes granted (without `bot`, which leaves nothing to revoke).
    pub scopes: Vec<&'static str>,
    /// When the user first authorized it (ISO 8601).
    pub authorized_at: String,
}

/// The user as OAuth2 clients see it; `email` only when `with_email`.
impl OAuth2User {
    /// How `user` is shown to an application; the email only `with_email`.
    pub fn of(user: &User, with_email: bool) -> OAuth2User {
        let partial = user.partial();
        OAuth2User {
            sub: user.id,
            id: user.id,
            username: user.username.clone(),
            discriminator: partial.discriminator,
            global_name: user.global_name.clone(),
            avatar: user.avatar.clone(),
            email: if with_email { user.email.clone() } else { None },
            verified: with_email.then_some(user.email_verified),
            flags: partial.flags,
            bot: user.bot,
            system: user.system,
        }
    }
}

/// `GET /oauth2/applications/{id}/public`: what a consent screen shows, to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicApplication {
    /// The application.
    #[serde(flatten)]
    pub application: OAuth2Application,
    /// Its registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The scopes it can be granted beyond the user ones: `bot` when it has a bot.
    pub scopes: Vec<&'static str>,
    /// Its bot user's profile, if any.
    pub bot: Option<BotUser>,
}

/// A bot user as its application shows it (`ApplicationBotResponse` without the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotUser {
    /// The bot user's ID (the application's).
    pub id: UserId,
    /// Username.
    pub username: String,
    /// Four digits.
    pub discriminator: String,
    /// Avatar hash.
    pub avatar: Option<String>,
    /// Banner hash.
    pub banner: Option<String>,
    /// Bio.
    pub bio: Option<String>,
    /// Public flags (`FRIENDLY_BOT` 16, `FRIENDLY_BOT_MANUAL_APPROVAL` 32, ...).
    pub flags: u64,
}

impl BotUser {
    /// How `bot` is shown.
    pub fn of(bot: &User) -> BotUser {
        let partial = bot.partial();
        BotUser {
            id: bot.id,
            username: bot.username.clone(),
            discriminator: partial.discriminator,
            avatar: bot.avatar.clone(),
            banner: bot.banner.clone(),
            bio: bot.bio.clone(),
            flags: partial.flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_in_preferred_order() {
        let s = OAuth2Scopes::parse("guilds  identify+email identify").unwrap();
        assert_eq!(s.to_string(), "identify email guilds");
        assert!(s.contains(OAuth2Scope::Email) && !s.contains(OAuth2Scope::Bot));
        assert_eq!(
            OAuth2Scopes::parse("identify nope"),
            Err(UnknownScope("nope".to_owned()))
        );
        assert!(OAuth2Scopes::parse("").unwrap().is_empty());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"identify email guilds\"");
        assert_eq!(serde_json::from_str::<OAuth2Scopes>(&json).unwrap(), s);
        assert_eq!(
            s.without(OAuth2Scope::Email).names(),
            ["identify", "guilds"]
        );
    }
}
